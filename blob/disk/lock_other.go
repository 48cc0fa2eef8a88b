//go:build !unix && !windows

package disk

import "os"

// lockDir only creates the lock file where neither flock nor LockFileEx
// is available.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

// syncDir is a no-op where directories cannot be fsynced (Windows).
func syncDir(dir string) error { return nil }

// renameFile renames a blob's file into place.
func renameFile(from, to string) error { return os.Rename(from, to) }
