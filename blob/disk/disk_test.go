package disk_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/internal/db"
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

func TestConformance(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		s, _, _ := newStore(t)
		return s
	})
}
