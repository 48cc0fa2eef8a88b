//go:build windows

package node

import "golang.org/x/sys/windows"

// freeSpace is what the volume holding dir says is free for this user,
// in bytes; -1 if it cannot tell.
func freeSpace(dir string) int64 {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return -1
	}
	var free, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return -1
	}
	return int64(free)
}
