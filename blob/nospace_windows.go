//go:build windows

package blob

import (
	"errors"
	"syscall"
)

// isDiskFullOS matches Windows' own disk-full errors, which syscall.Errno
// does not equate with ENOSPC.
func isDiskFullOS(err error) bool {
	const errorHandleDiskFull, errorDiskFull = 39, 112
	var e syscall.Errno
	return errors.As(err, &e) && (e == errorHandleDiskFull || e == errorDiskFull)
}
