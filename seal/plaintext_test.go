package seal

import (
	"bytes"
	"hash/maphash"
	"os"
	"path/filepath"
	"testing"
)

// runFinder finds 64-byte runs of a plaintext in other bytes. A run of 64
// bytes at any offset covers a whole 32-byte block aligned on 32 in the
// searched bytes, so it is enough to index every 32-byte window of the
// plaintext and look up the aligned blocks, then confirm a hit.
type runFinder struct {
	plain []byte
	seed  maphash.Seed
	at    map[uint64][]int32
}

func newRunFinder(plain []byte) *runFinder {
	f := &runFinder{plain: plain, seed: maphash.MakeSeed(), at: make(map[uint64][]int32)}
	for i := 0; i+32 <= len(plain); i++ {
		h := maphash.Bytes(f.seed, plain[i:i+32])
		f.at[h] = append(f.at[h], int32(i))
	}
	return f
}

// find returns the offset in b of a 64-byte run of the plaintext, or -1.
func (f *runFinder) find(b []byte) int {
	for a := 0; a+32 <= len(b); a += 32 {
		for _, p := range f.at[maphash.Bytes(f.seed, b[a:a+32])] {
			// b[a:a+32] == plain[p:p+32]; extend both ways.
			lo, hi := 0, 32
			for a-lo > 0 && int(p)-lo > 0 && b[a-lo-1] == f.plain[int(p)-lo-1] {
				lo++
			}
			for a+hi < len(b) && int(p)+hi < len(f.plain) && b[a+hi] == f.plain[int(p)+hi] {
				hi++
			}
			if lo+hi >= 64 {
				return a - lo
			}
		}
	}
	return -1
}

// TestNoPlaintextRuns seals real photos (one alone, and all of them end to
// end, several leaves) and checks the sealed bytes hold no 64-byte run of
// them: the check the issue asks of a blind archive's disk.
func TestNoPlaintextRuns(t *testing.T) {
	photos, _ := filepath.Glob("../testdata/photos/*.jpg")
	more, _ := filepath.Glob("../testdata/photos/*.png")
	photos = append(photos, more...)
	var all []byte
	var one []byte
	for _, p := range photos {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) == "gps.jpg" {
			one = b
		}
		all = append(all, b...)
	}
	if len(one) == 0 || len(all) == 0 {
		t.Fatalf("testdata/photos: gps.jpg %d bytes, all %d", len(one), len(all))
	}
	// Repeat the photos to three leaves and some: equal plaintext in
	// different leaves must not give equal ciphertext either.
	// Three leaves and some; two with -short.
	n := 3*LeafPlain + 4321
	if testing.Short() {
		n = LeafPlain + 4321
	}
	for len(all) < n {
		all = append(all, all...)
	}
	all = all[:n]
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	for name, plain := range map[string][]byte{"gps.jpg": one, "all photos, repeated": all} {
		c := plainCID(t, plain)
		sealed := sealAll(t, k, c, plain)
		f := newRunFinder(plain)
		// The finder finds what is there.
		planted := bytes.Clone(sealed)
		copy(planted[1000+7:], plain[500:564])
		if at := f.find(planted); at < 0 || at > 1007 {
			t.Fatalf("%s: the finder missed a planted run (%d)", name, at)
		}
		if at := f.find(sealed); at >= 0 {
			t.Fatalf("%s: the sealed bytes hold a 64-byte run of the photo at %d", name, at)
		}
		// Nor any 64-byte run repeated between leaves (equal plain leaves
		// would show as equal ciphertext).
		ls := sealedLeaves(sealed)
		first := newRunFinder(ls[0])
		for i := 1; i < len(ls); i++ {
			if first.find(ls[i]) >= 0 {
				t.Fatalf("%s: leaf %d repeats bytes of leaf 0", name, i)
			}
		}
		t.Logf("%s: %d plain bytes, %d sealed, no 64-byte run of the plaintext", name, len(plain), len(sealed))
	}
}
