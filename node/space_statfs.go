//go:build linux || darwin || freebsd

package node

import "syscall"

// freeSpace is what the file system holding dir says is free for an
// unprivileged user, in bytes; -1 if it cannot tell.
func freeSpace(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
