package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
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

// A Reader checks fixity beside the process that holds the store, as
// fieldsync verify beside a serve: damaged blobs are quarantined and their
// rows dropped, the holder learns of them from the fixity log
// (FixityProblems, once each); a file the holder is publishing (no row
// yet) is never moved, and a blob the holder removed meanwhile is not
// reported as damaged.
func TestReaderVerifiesBesideTheStore(t *testing.T) {
	ctx := context.Background()
	s, dir, _ := newStore(t)
	r := disk.OpenReader(filepath.Join(dir, "store"), openDB(t, dir)) // a second handle, as another process has
	put := func(data []byte) blob.Info {
		in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	corrupt := put(blobtest.Data(1, chunk.ChunkSize*2+500))
	short := put(blobtest.Data(2, 70000))
	good := put(blobtest.Data(3, 5000))
	removed := put(blobtest.Data(4, 6000))
	mark, err := s.FixityMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, s.Path(corrupt.CID), chunk.ChunkSize+7)
	if err := os.Truncate(s.Path(short.CID), 1000); err != nil {
		t.Fatal(err)
	}
	// A blob whose file the holder has renamed into blobs/ but whose row
	// it has not committed yet.
	pubData := blobtest.Data(5, 9000)
	pub := blobtest.SkeletonOf(t, pubData).Root
	os.MkdirAll(filepath.Dir(s.Path(pub)), 0o755)
	if err := os.WriteFile(s.Path(pub), pubData, 0o644); err != nil {
		t.Fatal(err)
	}

	got := map[cid.Cid]blob.FixityReport{}
	if err := r.VerifyAll(ctx, func(rep blob.FixityReport) error {
		got[rep.CID] = rep
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[corrupt.CID].Result != blob.FixityCorrupt || got[short.CID].Result != blob.FixityTruncated ||
		!got[good.CID].OK() || !got[removed.CID].OK() {
		t.Fatalf("VerifyAll beside the store: %+v", got)
	}
	for _, c := range []cid.Cid{corrupt.CID, short.CID} {
		q := got[c].Quarantine
		if _, err := os.Stat(q); q == "" || err != nil {
			t.Errorf("%s: quarantined at %q: %v", c, q, err)
		}
		if _, err := s.Stat(ctx, c); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still stored for the holder: %v", c, err)
		}
		if _, err := s.Fetch(ctx, c); err == nil {
			t.Errorf("%s still served by the holder", c)
		}
	}
	if _, err := os.Stat(s.Path(pub)); err != nil {
		t.Fatalf("the file being published was moved: %v", err)
	}
	if rep, err := r.Verify(ctx, pub); err != nil || rep.Result != blob.FixityMissing || rep.Detail != blob.DetailNotStored {
		t.Fatalf("Verify of a file being published: %+v, %v", rep, err)
	}

	// The holder learns of both, once.
	probs, next, err := s.FixityProblems(ctx, mark)
	byCID := map[cid.Cid]blob.FixityReport{}
	for _, p := range probs {
		byCID[p.CID] = p
	}
	if err != nil || len(probs) != 2 || byCID[corrupt.CID].Result != blob.FixityCorrupt ||
		byCID[short.CID].Result != blob.FixityTruncated || byCID[short.CID].Detail != "1000 bytes, want 70000" {
		t.Fatalf("FixityProblems: %+v, %v", probs, err)
	}
	if probs, _, err := s.FixityProblems(ctx, next); err != nil || len(probs) != 0 {
		t.Fatalf("FixityProblems again: %+v, %v", probs, err)
	}
	// Once stored again, a blob is no problem any more.
	put(blobtest.Data(2, 70000))
	if probs, _, err := s.FixityProblems(ctx, mark); err != nil || len(probs) != 1 || probs[0].CID != corrupt.CID {
		t.Fatalf("FixityProblems after one came back: %+v, %v", probs, err)
	}

	// Removed by the holder: not damaged, nothing logged as a problem.
	if err := s.Remove(ctx, removed.CID); err != nil {
		t.Fatal(err)
	}
	if rep, err := r.Verify(ctx, removed.CID); err != nil || rep.Result != blob.FixityMissing || rep.Detail != blob.DetailNotStored {
		t.Fatalf("Verify of a blob removed by the holder: %+v, %v", rep, err)
	}
	if probs, _, err := s.FixityProblems(ctx, next); err != nil || len(probs) != 0 {
		t.Fatalf("FixityProblems after a removal: %+v, %v", probs, err)
	}
	// The holder's own check still finds the orphan the Reader left alone.
	orphans := 0
	if err := s.VerifyAll(ctx, func(rep blob.FixityReport) error {
		if rep.Result == blob.FixityOrphan {
			orphans++
		}
		return nil
	}); err != nil || orphans != 1 {
		t.Fatalf("the holder's VerifyAll: %d orphans, %v", orphans, err)
	}
}
