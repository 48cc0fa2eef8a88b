package disk_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
)

// TestFixityEventsOldDatabase: a database made before fixity events
// existed (blob_fixity only) opens, keeps its checks, and takes events; the
// path of a damaged copy (reported, checked corrupt and quarantined,
// fetched again) reads back in order with its details.
func TestFixityEventsOldDatabase(t *testing.T) {
	dir := t.TempDir()
	d := openDB(t, dir)
	data := blobtest.Data(30, chunk.ChunkSize+100)
	c := blobtest.SkeletonOf(t, data).Root
	// The tables as an older fieldsync left them, with one check logged.
	for _, q := range []string{
		`CREATE TABLE blob_fixity (cid BLOB NOT NULL, checked_at INTEGER NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX blob_fixity_cid_time ON blob_fixity (cid, checked_at)`,
	} {
		if _, err := d.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Exec(`INSERT INTO blob_fixity VALUES (?, 1000, 'ok', '')`, c.Bytes()); err != nil {
		t.Fatal(err)
	}
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := put(t, s, data)
	if h, err := s.FixityHistory(ctx, c); err != nil || len(h) != 1 || h[0].Result != blob.FixityOK {
		t.Fatalf("old history: %+v %v", h, err)
	}

	// A peer reports the copy it got from here corrupt; the copy is.
	if err := s.NoteFixity(ctx, blob.FixityRecord{CID: c, Event: blob.FixityReported, Peer: "12D3KooWreceiver", Detail: "leaf 1 failed verification there"}); err != nil {
		t.Fatal(err)
	}
	flipByte(t, s.Path(in.CID), chunk.ChunkSize+5)
	rep, err := s.Verify(ctx, c)
	if err != nil || rep.Result != blob.FixityCorrupt || rep.Quarantine == "" {
		t.Fatalf("Verify: %+v %v", rep, err)
	}
	put(t, s, data)
	if err := s.NoteFixity(ctx, blob.FixityRecord{CID: c, Event: blob.FixityRefetched, Peer: "12D3KooWgood"}); err != nil {
		t.Fatal(err)
	}
	h, err := s.FixityHistory(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 4 || h[1].Event != blob.FixityReported || h[1].Peer != "12D3KooWreceiver" || h[1].Detail == "" ||
		h[2].Result != blob.FixityCorrupt || h[2].Detail == "" || h[3].Event != blob.FixityRefetched || h[3].Peer != "12D3KooWgood" {
		t.Fatalf("history: %+v", h)
	}
	// Reopened, the events are still there.
	s.Close()
	s2, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if h2, err := disk.OpenReader(filepath.Join(dir, "store"), d).FixityHistory(ctx, c); err != nil || len(h2) != 4 {
		t.Fatalf("history read beside the store: %+v %v", h2, err)
	}
}

// flipByte flips every bit of the byte at off of the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
