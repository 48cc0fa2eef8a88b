package chunk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// skeletonOf returns the skeleton and marshalled bytes of n seeded bytes.
func skeletonOf(t testing.TB, n int64) (*Skeleton, []byte) {
	t.Helper()
	s, err := Sum(context.Background(), newSeedReader("skeleton-test", n))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

func TestLeafOffsets(t *testing.T) {
	for _, n := range []int64{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 7} {
		s, _ := skeletonOf(t, n)
		var off int64
		for i, l := range s.Leaves {
			if l.Offset != off {
				t.Fatalf("n=%d leaf %d offset %d, want %d", n, i, l.Offset, off)
			}
			if i < len(s.Leaves)-1 && l.Size != ChunkSize {
				t.Fatalf("n=%d leaf %d size %d", n, i, l.Size)
			}
			off = l.End()
		}
		if off != n || s.Size != n {
			t.Fatalf("n=%d: leaves end at %d, size %d", n, off, s.Size)
		}
		if n <= ChunkSize && (len(s.Nodes) != 0 || s.Root != s.Leaves[0].CID) {
			t.Fatalf("n=%d: want a single raw block", n)
		}
	}
}

// TestLeavesVerify checks that each leaf's CID is the hash of its bytes.
func TestLeavesVerify(t *testing.T) {
	const n = 2*ChunkSize + 100
	data, _ := io.ReadAll(newSeedReader("v", n))
	s, err := Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range s.Leaves {
		if err := VerifyLeaf(l, data[l.Offset:l.End()]); err != nil {
			t.Fatal(err)
		}
	}
	bad := append([]byte(nil), data[:ChunkSize]...)
	bad[12345] ^= 1
	err = VerifyLeaf(s.Leaves[0], bad)
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, ErrMismatch) || ve.Want != s.Leaves[0].CID {
		t.Fatalf("flipped byte: got %v", err)
	}
	if err := VerifyLeaf(s.Leaves[0], data[:ChunkSize-1]); !errors.Is(err, ErrMismatch) {
		t.Fatalf("short leaf: got %v", err)
	}
}

func TestParseSkeletonRejects(t *testing.T) {
	s, good := skeletonOf(t, 3*ChunkSize+5)
	other, otherBytes := skeletonOf(t, 2*ChunkSize)
	small, _ := skeletonOf(t, 10)

	nodeBytes := s.Nodes[0].Data
	// A node whose blocksizes do not add up: re-encode with a wrong filesize.
	lies := func(mut func(l []link) []link) []byte {
		n, err := decodeNode(nodeBytes)
		if err != nil {
			t.Fatal(err)
		}
		b := encodeNode(mut(n.links))
		out := binary.AppendUvarint(nil, SkeletonVersion)
		out = binary.AppendUvarint(out, uint64(s.Size))
		out = binary.AppendUvarint(out, 1)
		out = binary.AppendUvarint(out, uint64(len(b)))
		return append(out, b...)
	}
	wrap := func(size uint64, nodes ...[]byte) []byte {
		out := binary.AppendUvarint(nil, SkeletonVersion)
		out = binary.AppendUvarint(out, size)
		out = binary.AppendUvarint(out, uint64(len(nodes)))
		for _, n := range nodes {
			out = binary.AppendUvarint(out, uint64(len(n)))
			out = append(out, n...)
		}
		return out
	}
	cases := []struct {
		name string
		root func() []byte
		b    []byte
		rt   *Skeleton
	}{
		{name: "empty", b: nil},
		{name: "bad version", b: append([]byte{9}, good[1:]...)},
		{name: "truncated", b: good[:len(good)-3]},
		{name: "trailing", b: append(append([]byte(nil), good...), 0)},
		{name: "other blob", b: otherBytes},
		{name: "wrong size", b: wrap(uint64(s.Size)+1, nodeBytes)},
		{name: "flipped node byte", b: func() []byte {
			b := append([]byte(nil), good...)
			b[len(b)-2] ^= 0x01
			return b
		}()},
		{name: "swapped leaves", b: lies(func(l []link) []link { l[0], l[1] = l[1], l[0]; return l })},
		{name: "dropped leaf", b: lies(func(l []link) []link { return l[:len(l)-1] })},
		{name: "duplicate node", b: wrap(uint64(s.Size), nodeBytes, nodeBytes)},
		{name: "extra node", b: wrap(uint64(s.Size), nodeBytes, other.Nodes[0].Data)},
		{name: "raw root with nodes", b: wrap(10, nodeBytes), rt: small},
		{name: "raw root too big", b: wrap(ChunkSize + 1), rt: small},
		{name: "huge count", b: []byte{1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := s.Root
			if c.rt != nil {
				root = c.rt.Root
			}
			got, err := ParseSkeleton(root, c.b)
			if err == nil {
				t.Fatalf("accepted: %d leaves", len(got.Leaves))
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrMismatch", err)
			}
		})
	}
	// A CIDv0 or a non-sha256 root is refused up front.
	if _, err := ParseSkeleton(s.Root, nil); err == nil {
		t.Fatal("nil skeleton accepted")
	}
}

func TestSplitReaderError(t *testing.T) {
	r := io.MultiReader(newSeedReader("e", 3*ChunkSize), &errReader{})
	_, err := Sum(context.Background(), r)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("got %v", err)
	}
}

func TestSplitCallbackError(t *testing.T) {
	calls := 0
	_, err := Split(context.Background(), newSeedReader("e", 5*ChunkSize), func(Leaf, []byte) error {
		calls++
		if calls == 2 {
			return errors.New("stop here")
		}
		return nil
	})
	if err == nil || err.Error() != "stop here" || calls != 2 {
		t.Fatalf("got %v after %d calls", err, calls)
	}
}

func TestSplitCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Split(ctx, newSeedReader("c", 50*ChunkSize), func(l Leaf, _ []byte) error {
		if l.Offset == 0 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestSplitOrder checks fn sees the leaves in order with their own bytes.
func TestSplitOrder(t *testing.T) {
	const n = 9*ChunkSize + 3
	data, _ := io.ReadAll(newSeedReader("o", n))
	var got []byte
	_, err := Split(context.Background(), iotestOneByteHalf(bytes.NewReader(data)), func(l Leaf, b []byte) error {
		if l.Offset != int64(len(got)) {
			t.Fatalf("leaf at %d after %d bytes", l.Offset, len(got))
		}
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
}

type errReader struct{}

func (*errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// iotestOneByteHalf returns short reads, as pipes and sockets do.
func iotestOneByteHalf(r io.Reader) io.Reader { return &halfReader{r} }

type halfReader struct{ r io.Reader }

func (h *halfReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:len(p)/2+1]
	}
	return h.r.Read(p)
}

func FuzzParseSkeleton(f *testing.F) {
	for _, n := range []int64{0, 10, 2 * ChunkSize, 3*ChunkSize + 5} {
		s, b := skeletonOf(f, n)
		f.Add(s.Root.Bytes(), b)
	}
	s, b := skeletonOf(f, 3*ChunkSize+5)
	f.Fuzz(func(t *testing.T, root, data []byte) {
		for _, r := range [][]byte{root, s.Root.Bytes()} {
			c, err := castCID(r)
			if err != nil {
				continue
			}
			sk, err := ParseSkeleton(c, data)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
					t.Fatalf("unexpected error type: %v", err)
				}
				continue
			}
			// Anything accepted must round-trip and describe a valid layout.
			out, _ := sk.MarshalBinary()
			if c.Prefix().Codec == 0x70 && !bytes.Equal(out, data) {
				t.Fatalf("accepted a non-canonical skeleton")
			}
			var off int64
			for _, l := range sk.Leaves {
				if l.Offset != off || l.Size > ChunkSize {
					t.Fatalf("bad leaf %+v", l)
				}
				off = l.End()
			}
		}
		_ = b
	})
}

// TestRepeatedSubtrees covers a blob whose 1 GiB runs repeat (a disk image
// of zeros): identical subtrees share nodes, which the skeleton lists once.
func TestRepeatedSubtrees(t *testing.T) {
	zero := RawCID(make([]byte, ChunkSize))
	var leaves []Leaf
	for i := 0; i < 2*MaxLinks+1; i++ {
		leaves = append(leaves, Leaf{CID: zero, Size: ChunkSize})
	}
	leaves[len(leaves)-1] = Leaf{CID: RawCID([]byte("tail")), Size: 4}
	s, err := Build(leaves)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Nodes) != 3 { // root, one shared full node, the tail node
		t.Fatalf("%d nodes, want 3", len(s.Nodes))
	}
	b, _ := s.MarshalBinary()
	p, err := ParseSkeleton(s.Root, b)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(p.Leaves) != len(leaves) || p.Size != s.Size || p.Leaves[MaxLinks+3].Offset != int64(MaxLinks+3)*ChunkSize {
		t.Fatalf("parsed %d leaves, size %d", len(p.Leaves), p.Size)
	}
	// Too big a blob is refused both ways.
	if _, err := Build(make([]Leaf, MaxSize/ChunkSize+1)); err == nil {
		t.Fatal("built a skeleton over MaxSize")
	}
}

// A split stopped by its callback (or its context) while leaves are being
// hashed must not hand their buffers to the next split before the hashing
// is done (go test -race caught this in blob/disk's TestDiskFull).
func TestSplitStoppedKeepsBuffersUntilHashed(t *testing.T) {
	data := make([]byte, 6*ChunkSize+5)
	for i := range data {
		data[i] = byte(i * 7)
	}
	want, err := Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if g%2 == 0 {
					_, err := Split(context.Background(), bytes.NewReader(data), func(l Leaf, _ []byte) error {
						if l.Offset > 0 {
							return stop
						}
						return nil
					})
					if !errors.Is(err, stop) {
						t.Errorf("stopped split: %v", err)
					}
					continue
				}
				got, err := Sum(context.Background(), bytes.NewReader(data))
				if err != nil || got.Root != want.Root {
					t.Errorf("split beside stopped ones: %v, %v", got, err)
				}
			}
		}()
	}
	wg.Wait()
}
