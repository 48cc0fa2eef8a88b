//go:build !linux && !darwin && !freebsd && !windows

package node

// freeSpace cannot tell the free space here.
func freeSpace(string) int64 { return -1 }
