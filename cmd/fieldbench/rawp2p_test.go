//go:build linux

package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestKeepVerified: the verified reference keeps exactly what it read,
// whole leaves (straight to the disk where it can) and a short last one,
// and with no file only counts.
func TestKeepVerified(t *testing.T) {
	const leaf = 64 << 10
	for _, size := range []int{0, 1, leaf, 3*leaf + 4096, 5*leaf + 123} {
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(uint64(size), 1))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		path := filepath.Join(t.TempDir(), "out")
		n, err := keepVerified(bytes.NewReader(data), path, leaf)
		if err != nil || n != int64(size) {
			t.Fatalf("size %d: keepVerified = %d, %v", size, n, err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: the file differs from what was read (%d bytes)", size, len(got))
		}
		if n, err := keepVerified(bytes.NewReader(data), "", leaf); err != nil || n != int64(size) {
			t.Fatalf("size %d, no file: keepVerified = %d, %v", size, n, err)
		}
	}
	if _, err := keepVerified(bytes.NewReader(nil), filepath.Join(t.TempDir(), "no", "such", "dir"), leaf); err == nil {
		t.Fatal("a file that cannot be created: no error")
	}
}
