//go:build linux

// Package fulldisk gives tests a real full disk: a small tmpfs mounted for
// the test (root only; the test is skipped elsewhere), what statfs says is
// free on it, and a filler file that leaves a chosen amount free.
package fulldisk

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes at a new directory, unmounted when
// the test ends; it skips the test where that is not allowed.
func Mount(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs as a full disk (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mounting a tmpfs is not permitted here (a container without CAP_SYS_ADMIN?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Free is what statfs says is free under dir for this user.
func Free(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// FillTo writes a filler file in dir that leaves about free bytes free
// (replacing the one a previous call wrote).
func FillTo(t testing.TB, dir string, free int64) {
	t.Helper()
	filler := filepath.Join(dir, "filler")
	os.Remove(filler)
	if err := os.WriteFile(filler, make([]byte, max(Free(t, dir)-free, 0)), 0o600); err != nil {
		t.Fatal(err)
	}
}
