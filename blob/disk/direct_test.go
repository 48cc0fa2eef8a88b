package disk_test

import (
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
)

func TestWholeLeavesDirect(t *testing.T) {
	// Whole leaves go straight to the disk where the file system takes
	// O_DIRECT and the write is aligned; a leaf from a misaligned buffer
	// and a blob's short last leaf go through the page cache. The blob
	// reads back the same either way, and the same with direct writes
	// off.
	for _, noDirect := range []bool{false, true} {
		s, dir, _ := newStore(t)
		disk.SetNoDirect(s, noDirect)
		data := blobtest.Data(7, 3*chunk.ChunkSize+1000)
		sk := blobtest.SkeletonOf(t, data)
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range sk.Leaves {
			leaf := data[l.Offset:l.End()]
			if i == 1 {
				off := make([]byte, len(leaf)+1)[1:] // not aligned
				copy(off, leaf)
				leaf = off
			}
			if err := p.WriteLeaf(ctx, i, leaf); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		p.Close()
		checkStored(t, s, sk.Root, data)
		want := int64(0)
		if !noDirect && disk.DirectSupported(dir) {
			want = 2 // leaves 0 and 2
		}
		if n := disk.DirectWrites(s); n != want {
			t.Errorf("noDirect %v: %d direct writes, want %d", noDirect, n, want)
		}
	}
}

func TestMediumBlobsDirect(t *testing.T) {
	// In a batch, a one-leaf blob of 256 KiB or more writes its aligned
	// head straight to the disk and the rest through the page cache;
	// smaller ones and misaligned buffers go through the page cache
	// alone. Every blob reads back and verifies.
	s, dir, _ := newStore(t)
	var datas [][]byte
	for i, size := range []int{256<<10 + 5, chunk.ChunkSize, 300_000, 100_000} {
		d := blobtest.Data(uint64(40+i), size)
		if i == 2 {
			m := make([]byte, size+1)[1:] // not aligned
			copy(m, d)
			d = m
		}
		datas = append(datas, d)
	}
	bt, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range datas {
		if _, err := blob.PutVerified(ctx, bt, chunk.RawCID(d), d, blob.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range datas {
		checkStored(t, s, chunk.RawCID(d), d)
	}
	want := int64(0)
	if disk.DirectSupported(dir) {
		want = 2 // the first two
	}
	if n := disk.DirectWrites(s); n != want {
		t.Errorf("%d direct writes, want %d", n, want)
	}
}
