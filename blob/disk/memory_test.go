package disk_test

import (
	"encoding/binary"
	"io"
	"runtime"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
)

// genReader streams n pseudo-random bytes without holding them.
type genReader struct {
	n, off int64
	x      uint64
	buf    [8]byte
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	for i := range p {
		if (g.off+int64(i))%8 == 0 {
			g.x ^= g.x << 13
			g.x ^= g.x >> 7
			g.x ^= g.x << 17
			binary.LittleEndian.PutUint64(g.buf[:], g.x)
		}
		p[i] = g.buf[(g.off+int64(i))%8]
	}
	g.off += int64(len(p))
	return len(p), nil
}

// TestPutMemoryBounded stores a large stream and checks that what the Put
// allocates in all does not grow with the blob: a few chunks of buffers
// plus the skeleton.
func TestPutMemoryBounded(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 96 << 20
	}
	s, _, _ := newStore(t)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	in, err := s.Put(ctx, &genReader{n: size, x: 88172645463325252}, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if in.Size != size {
		t.Fatalf("size %d", in.Size)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	limit := uint64(chunk.Depth()+8) * chunk.ChunkSize
	t.Logf("Put of %d MiB allocated %.1f MiB in all (limit %d MiB)", size>>20, float64(alloc)/(1<<20), limit>>20)
	if alloc > limit {
		t.Fatalf("Put of %d MiB allocated %d MiB, more than %d MiB", size>>20, alloc>>20, limit>>20)
	}
}
