package disk_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
)

// PutVerified in a batch stores the same blob, skeleton and row as Put
// does, without hashing, and a blob put twice or already stored once.
func TestBatchPutVerified(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), openDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rdir := t.TempDir()
	ref, err := disk.Open(ctx, filepath.Join(rdir, "store"), openDB(t, rdir))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var datas [][]byte
	for i, size := range []int{1, 20_000, 300_000, chunk.ChunkSize} {
		datas = append(datas, blobtest.Data(uint64(900+i), size))
	}
	if _, err := s.Put(ctx, bytes.NewReader(datas[0]), blob.Meta{}); err != nil {
		t.Fatal(err)
	}
	bt, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append(datas, datas[1]) {
		c := chunk.RawCID(d)
		in, err := blob.PutVerified(ctx, bt, c, d, blob.Meta{})
		if err != nil || in.CID != c || in.Size != int64(len(d)) {
			t.Fatalf("PutVerified: %+v %v", in, err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range datas {
		c := chunk.RawCID(d)
		checkStored(t, s, c, d)
		want, err := ref.Put(ctx, bytes.NewReader(d), blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		sk, err := s.Skeleton(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		rsk, _ := ref.Skeleton(ctx, want.CID)
		a, _ := sk.MarshalBinary()
		b, _ := rsk.MarshalBinary()
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: skeleton differs from Put's", c)
		}
	}
	if _, err := blob.PutVerified(ctx, bt, chunk.RawCID(nil), make([]byte, chunk.ChunkSize+1), blob.Meta{}); err == nil {
		t.Fatal("PutVerified of more than one leaf: no error")
	}
}

// Fetch remembers the rows it read; Remove and a fixity check that drops
// a blob make it forget them, and a file gone behind the store's back is
// missing, not served.
func TestFetchRowsCache(t *testing.T) {
	dir := t.TempDir()
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), openDB(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := blobtest.Data(77, 30_000)
	fetch := func() error {
		rc, err := s.Fetch(ctx, chunk.RawCID(d))
		if err == nil {
			rc.Close()
		}
		return err
	}
	put := func() {
		if _, err := s.Put(ctx, bytes.NewReader(d), blob.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	put()
	if err := fetch(); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, chunk.RawCID(d)); err != nil {
		t.Fatal(err)
	}
	if err := fetch(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch after Remove: %v", err)
	}
	put()
	if err := fetch(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.Path(chunk.RawCID(d))); err != nil {
		t.Fatal(err)
	}
	if err := fetch(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch of a file removed behind the store's back: %v", err)
	}
}
