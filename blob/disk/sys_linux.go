//go:build linux

package disk

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS flushes every dirty page and inode of the file system holding f
// and waits for it: one call instead of one fsync per file of a batch.
func syncFS(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, without waiting, so the fsync that ends a large Put has little left
// to do and the disk works while we hash.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// openDirect opens path for writing with O_DIRECT: whole leaves go from
// their buffer to the disk without a copy into the page cache (whose
// writeback and reclaim cost the receiver of a large blob more CPU than
// the copy itself). Nil where the file system refuses it (tmpfs).
func openDirect(path string) *os.File {
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT, 0)
	if err != nil {
		return nil
	}
	return f
}
