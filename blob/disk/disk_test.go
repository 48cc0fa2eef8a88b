package disk_test

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
)

var ctx = context.Background()

// openDB opens a real SQLite file, as the project does.
func openDB(t testing.TB, dir string) *sql.DB {
	t.Helper()
	d, err := db.Open(filepath.Join(dir, "project.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newStore opens a store in a new directory; it returns the store and the
// directory, so a test can reopen it.
func newStore(t testing.TB) (*disk.Store, string, *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	d := openDB(t, dir)
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir, d
}

// checkStored fails t unless blob c of s reads back as data and passes a
// fixity check.
func checkStored(t testing.TB, s *disk.Store, c cid.Cid, data []byte) {
	t.Helper()
	got, err := blob.ReadRange(ctx, s, c, 0, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("%s: read back %d bytes (err %v), differ from what was written", c, len(got), err)
	}
	if rep, err := s.Verify(ctx, c); err != nil || rep.Result != blob.FixityOK {
		t.Fatalf("%s: fixity %+v %v", c, rep, err)
	}
}

func TestConformance(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		s, _, _ := newStore(t)
		return s
	})
}
