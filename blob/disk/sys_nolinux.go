//go:build !linux

package disk

import (
	"errors"
	"os"
)

var errNoSyncFS = errors.New("syncfs not available")

func syncFS(f *os.File) error { return errNoSyncFS }

func startWriteback(f *os.File, off, n int64) {}

// openDirect: direct writes are used on Linux only.
func openDirect(path string) *os.File { return nil }
