package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/ipfs/go-cid"
)

// sizes are the plain sizes every blob test covers: empty, one byte, each
// side of a leaf, and three leaves and some.
var sizes = []int{0, 1, LeafPlain - 1, LeafPlain, LeafPlain + 1, 3*LeafPlain + 12345}

func TestSizes(t *testing.T) {
	for _, n := range []int64{0, 1, 2, LeafPlain - 1, LeafPlain, LeafPlain + 1, 2 * LeafPlain, 5*LeafPlain + 7, MaxPlainSize - 1, MaxPlainSize} {
		s := SealedSize(n)
		if want := n + int64(Leaves(n))*Overhead; s != want {
			t.Errorf("SealedSize(%d) = %d, want %d", n, s, want)
		}
		p, err := PlainSize(s)
		if err != nil || p != n {
			t.Errorf("PlainSize(SealedSize(%d) = %d) = %d, %v", n, s, p, err)
		}
	}
	if got := SealedSize(MaxPlainSize); got != int64(MaxLeaves)*LeafSealed {
		t.Errorf("SealedSize(MaxPlainSize) = %d, want %d (chunk.MaxSize)", got, int64(MaxLeaves)*LeafSealed)
	}
	if SealedSize(0) != Overhead || SealedSize(LeafPlain) != LeafSealed || SealedSize(LeafPlain+1) != LeafSealed+Overhead+1 {
		t.Error("SealedSize at the leaf boundaries")
	}
	// Sizes no plain blob seals to.
	for _, s := range []int64{-1, 0, 1, Overhead - 1, LeafSealed + 1, LeafSealed + Overhead, 2*LeafSealed + Overhead, SealedSize(MaxPlainSize) + 1} {
		if p, err := PlainSize(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("PlainSize(%d) = %d, %v; want ErrMalformed", s, p, err)
		}
	}
	// Every sealed size around the first boundaries either inverts or is refused.
	for s := int64(0); s < 3*LeafSealed; s += 1 + s%7919 {
		if p, err := PlainSize(s); err == nil && SealedSize(p) != s {
			t.Fatalf("PlainSize(%d) = %d but SealedSize(%d) = %d", s, p, p, SealedSize(p))
		}
	}
}

func TestRoundTrip(t *testing.T) {
	k := testKey(1)
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := pseudo(uint64(n), n)
			c := plainCID(t, data)
			sealed := sealAll(t, k, c, data)
			if int64(len(sealed)) != SealedSize(int64(n)) {
				t.Fatalf("sealed %d bytes, SealedSize says %d", len(sealed), SealedSize(int64(n)))
			}
			// The stream is exactly SealLeaf over the leaves.
			var bySeal []byte
			leaves := Leaves(int64(n))
			for i := 0; i < leaves; i++ {
				end := min((i+1)*LeafPlain, n)
				bySeal = SealLeaf(bySeal, data[i*LeafPlain:end], k, c, i, i == leaves-1)
			}
			if !bytes.Equal(bySeal, sealed) {
				t.Fatal("NewSealer and SealLeaf differ")
			}
			// Deterministic, whatever the reads' sizes.
			again, err := io.ReadAll(iotest.HalfReader(NewSealer(k, c, int64(n), iotest.HalfReader(bytes.NewReader(data)))))
			if err != nil || !bytes.Equal(again, sealed) {
				t.Fatalf("sealing again: %v, equal %v", err, bytes.Equal(again, sealed))
			}
			// Streaming open.
			plain, err := openAll(k, c, sealed)
			if err != nil || !bytes.Equal(plain, data) {
				t.Fatalf("open: %v, equal %v", err, bytes.Equal(plain, data))
			}
			// Leaf by leaf, each alone (resumable), in any order.
			ls := sealedLeaves(sealed)
			if len(ls) != leaves {
				t.Fatalf("%d sealed leaves, Leaves says %d", len(ls), leaves)
			}
			got := make([]byte, n)
			for i := len(ls) - 1; i >= 0; i-- {
				p, err := OpenLeaf(nil, ls[i], k, c, i, i == leaves-1)
				if err != nil {
					t.Fatal(err)
				}
				copy(got[i*LeafPlain:], p)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("leaf by leaf: wrong bytes")
			}
			// In place.
			cp := bytes.Clone(ls[0])
			if p, err := OpenLeaf(cp[NonceSize:NonceSize], cp, k, c, 0, leaves == 1); err != nil || !bytes.Equal(p, data[:min(n, LeafPlain)]) {
				t.Fatalf("in place: %v", err)
			}
		})
	}
}

func TestDifferentKeysAndCIDs(t *testing.T) {
	data := pseudo(9, 2*LeafPlain+100)
	c := plainCID(t, data)
	other := plainCID(t, append(bytes.Clone(data), 0))
	a := sealAll(t, testKey(1), c, data)
	for name, b := range map[string][]byte{
		"other key": sealAll(t, testKey(2), c, data),
		"other CID": sealAll(t, testKey(1), other, data),
	} {
		la, lb := sealedLeaves(a), sealedLeaves(b)
		for i := range la {
			if bytes.Equal(la[i][:64], lb[i][:64]) || bytes.Equal(la[i][len(la[i])-16:], lb[i][len(lb[i])-16:]) {
				t.Errorf("%s: leaf %d starts or ends the same", name, i)
			}
		}
		if _, err := openAll(testKey(2), c, a); !isLeaf(err, 0) {
			t.Errorf("opened with another key: %v", err)
		}
		if _, err := openAll(testKey(1), other, a); !isLeaf(err, 0) {
			t.Errorf("opened for another CID: %v", err)
		}
	}
}

// isLeaf reports whether err is a *LeafError for leaf i wrapping ErrTampered.
func isLeaf(err error, i int) bool {
	var le *LeafError
	return errors.As(err, &le) && le.Leaf == i && errors.Is(err, ErrTampered)
}

// TestFlipEveryByte flips each byte of single-leaf sealed blobs, in turn,
// and checks every flip is caught, naming leaf 0.
func TestFlipEveryByte(t *testing.T) {
	k := testKey(3)
	for _, n := range []int{0, 1, 100, 4096} {
		data := pseudo(uint64(n), n)
		c := plainCID(t, data)
		sealed := sealAll(t, k, c, data)
		for j := range sealed {
			bad := bytes.Clone(sealed)
			bad[j] ^= 1 << (j % 8)
			if _, err := OpenLeaf(nil, bad, k, c, 0, true); !isLeaf(err, 0) {
				t.Fatalf("%d bytes: flip at %d: OpenLeaf gave %v", n, j, err)
			}
		}
	}
}

// TestFlipEachLeaf flips bytes in every leaf of a multi-leaf blob (all of
// the nonce and tag, the edges of the ciphertext, and one byte in 65,521
// through it; one in 257 without -short: each flip costs a Poly1305 pass
// over a whole leaf) and checks OpenLeaf names that leaf; at a few of them,
// that the streaming opener names it too and has given out only the leaves
// before it. TestFlipEveryByte flips every byte of single-leaf blobs.
func TestFlipEachLeaf(t *testing.T) {
	k := testKey(4)
	n := 3*LeafPlain + 777
	data := pseudo(4, n)
	c := plainCID(t, data)
	sealed := sealAll(t, k, c, data)
	ls := sealedLeaves(sealed)
	stride := 65521
	if !testing.Short() {
		stride = 257
	}
	for i, l := range ls {
		var at []int
		for j := 0; j < len(l); j++ {
			if j < NonceSize+8 || j >= len(l)-TagSize-8 || j%stride == 0 {
				at = append(at, j)
			}
		}
		start := i * LeafSealed
		for _, j := range at {
			sealed[start+j] ^= 0x80
			if _, err := OpenLeaf(nil, sealed[start:start+len(l)], k, c, i, i == len(ls)-1); !isLeaf(err, i) {
				t.Fatalf("leaf %d, flip at %d: OpenLeaf gave %v", i, j, err)
			}
			if j == 0 || j == NonceSize || j == len(l)/2 || j == len(l)-1 {
				got, err := openAll(k, c, sealed)
				if !isLeaf(err, i) || !bytes.Equal(got, data[:i*LeafPlain]) {
					t.Fatalf("leaf %d, flip at %d: opener gave %d bytes, %v", i, j, len(got), err)
				}
			}
			sealed[start+j] ^= 0x80
		}
	}
	if got, err := openAll(k, c, sealed); err != nil || !bytes.Equal(got, data) {
		t.Fatal("restored blob does not open")
	}
}

func TestReorderTruncateSwap(t *testing.T) {
	k := testKey(5)
	n := 3*LeafPlain + 12345
	data := pseudo(5, n)
	c := plainCID(t, data)
	sealed := sealAll(t, k, c, data)
	ls := sealedLeaves(sealed) // 4 leaves, the last short
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	check := func(name string, b []byte, leaf int) {
		t.Helper()
		got, err := openAll(k, c, b)
		if !isLeaf(err, leaf) {
			t.Errorf("%s: %v, want leaf %d tampered", name, err, leaf)
		}
		if len(got) > leaf*LeafPlain || !bytes.Equal(got, data[:len(got)]) {
			t.Errorf("%s: the opener gave %d bytes", name, len(got))
		}
	}
	check("leaves 0 and 1 swapped", join(ls[1], ls[0], ls[2], ls[3]), 0)
	check("leaves 1 and 2 swapped", join(ls[0], ls[2], ls[1], ls[3]), 1)
	check("rotated", join(ls[1], ls[2], ls[0], ls[3]), 0)
	check("last leaf dropped", join(ls[0], ls[1], ls[2]), 2)
	check("last two dropped", join(ls[0], ls[1]), 1)
	check("leaf 1 dropped", join(ls[0], ls[2], ls[3]), 1)
	check("leaf 0 repeated", join(ls[0], ls[0], ls[1], ls[2], ls[3]), 1)
	check("last leaf cut short", sealed[:len(sealed)-1], 3)
	check("last leaf cut to its nonce", sealed[:3*LeafSealed+NonceSize+TagSize+1], 3)
	check("a leaf appended", join(sealed, ls[3]), 3)
	check("a byte appended", join(sealed, []byte{0}), 3)

	// A leaf moved in from another blob, at the same index, same key.
	other := pseudo(6, n)
	oc := plainCID(t, other)
	ols := sealedLeaves(sealAll(t, k, oc, other))
	check("leaf 2 from another blob", join(ls[0], ls[1], ols[2], ls[3]), 2)
	check("the last leaf from another blob", join(ls[0], ls[1], ls[2], ols[3]), 3)

	// A stream shorter than announced is a cut, not tampering.
	_, err := io.ReadAll(NewOpener(k, c, int64(len(sealed)), bytes.NewReader(sealed[:LeafSealed+10])))
	if !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrTampered) {
		t.Errorf("short stream: %v", err)
	}
	_, err = io.ReadAll(NewSealer(k, c, int64(n), bytes.NewReader(data[:n-1])))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short plain stream: %v", err)
	}
	// A last leaf opened as a middle one, a middle one as the last.
	if _, err := OpenLeaf(nil, ls[3], k, c, 3, false); !isLeaf(err, 3) {
		t.Errorf("last leaf as a middle one: %v", err)
	}
	if _, err := OpenLeaf(nil, ls[2], k, c, 2, true); !isLeaf(err, 2) {
		t.Errorf("middle leaf as the last: %v", err)
	}
	if _, err := OpenLeaf(nil, ls[2], k, c, -1, false); !isLeaf(err, -1) {
		t.Errorf("negative index: %v", err)
	}
	if _, err := io.ReadAll(NewOpener(k, c, LeafSealed+3, bytes.NewReader(sealed))); !errors.Is(err, ErrMalformed) {
		t.Errorf("impossible sealed size: %v", err)
	}
}

func TestSealLeafPanics(t *testing.T) {
	c := plainCID(t, nil)
	for name, f := range map[string]func(){
		"short middle leaf": func() { SealLeaf(nil, make([]byte, 10), testKey(1), c, 0, false) },
		"long last leaf":    func() { SealLeaf(nil, make([]byte, LeafPlain+1), testKey(1), c, 0, true) },
		"empty second leaf": func() { SealLeaf(nil, nil, testKey(1), c, 1, true) },
		"undefined CID":     func() { SealLeaf(nil, nil, testKey(1), cid.Undef, 0, true) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestStreamMemory checks the sealer and the opener hold one leaf buffer
// whatever the size: sealing then opening 24 MiB, streamed through a pipe,
// allocates little more than one leaf each.
func TestStreamMemory(t *testing.T) {
	const n = 24 << 20
	k := testKey(9)
	c := plainCID(t, []byte("any CID"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	src := io.LimitReader(rand.NewChaCha8([32]byte{9}), n)
	opened := NewOpener(k, c, SealedSize(n), NewSealer(k, c, n, src))
	got, err := io.CopyBuffer(io.Discard, opened, make([]byte, 32<<10))
	runtime.ReadMemStats(&after)
	if err != nil || got != n {
		t.Fatalf("%d bytes, %v", got, err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("sealed and opened %d MiB allocating %d KiB", n>>20, alloc>>10)
	if alloc > 2*LeafSealed+256<<10 {
		t.Fatalf("allocated %d bytes for a %d-byte stream: more than two leaf buffers", alloc, n)
	}
}
