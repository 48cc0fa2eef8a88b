//go:build windows

package disk

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// lockDir takes an exclusive lock on the first byte of path (LockFileEx),
// failing at once if another process, or another handle of this one,
// holds it. Windows releases the lock when the handle closes or the
// process ends, so a killed process leaves no stale lock.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, err
	}
	return f, nil
}

// syncDir is a no-op: Windows cannot fsync a directory; its renames are
// journaled by NTFS.
func syncDir(dir string) error { return nil }

// renameFile renames a blob's file into place.
func renameFile(from, to string) error { return os.Rename(from, to) }
