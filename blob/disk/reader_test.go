package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
)

// A Reader reads what the locked store wrote, beside it, and sees blobs
// arrive and go.
func TestReaderBesideTheStore(t *testing.T) {
	ctx := context.Background()
	s, dir, d := newStore(t)
	dir = filepath.Join(dir, "store")
	r := disk.OpenReader(dir, d)
	data := bytes.Repeat([]byte("field notes "), 200000)
	in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{MediaType: "text/plain"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.Stat(ctx, in.CID)
	if err != nil || st.Size != int64(len(data)) || st.MediaType != "text/plain" {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
	rc, err := r.Fetch(ctx, in.CID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("Reader read other bytes")
	}
	n := 0
	if err := r.Enumerate(ctx, func(blob.Info) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("Enumerate: %d, %v", n, err)
	}
	if _, err := s.Verify(ctx, in.CID); err != nil {
		t.Fatal(err)
	}
	if h, err := r.FixityHistory(ctx, in.CID); err != nil || len(h) != 1 {
		t.Fatalf("FixityHistory: %v, %v", h, err)
	}
	if err := s.Remove(ctx, in.CID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(ctx, in.CID); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a removed blob: %v", err)
	}
	if _, err := r.Stat(ctx, in.CID); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a removed blob's Stat: %v", err)
	}
	// The Reader took no lock: the store's directory is still its own.
	if _, err := disk.Open(ctx, dir, d); !errors.Is(err, disk.ErrLocked) {
		t.Fatalf("a second Open while the first holds the lock: %v", err)
	}
}
