package db

import (
	"context"
	"path/filepath"
	"testing"
)

func TestOpenWAL(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "a b.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var mode string
	if err := d.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal_mode %q, want wal", mode)
	}
	if err := Migrate(context.Background(), d, "CREATE TABLE IF NOT EXISTS t (x)"); err != nil {
		t.Fatal(err)
	}
}
