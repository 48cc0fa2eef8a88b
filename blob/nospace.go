package blob

import (
	"errors"
	"syscall"
)

// IsNoSpace reports whether err says that the disk a store writes to is
// full: the OS's ENOSPC, which a store's errors wrap (blob/disk also when
// its database cannot grow), or Windows' ERROR_DISK_FULL and
// ERROR_HANDLE_DISK_FULL. A caller that meets it should stop writing, not
// retry at once: nothing will fit until space is freed.
func IsNoSpace(err error) bool {
	return err != nil && (errors.Is(err, syscall.ENOSPC) || isDiskFullOS(err))
}
