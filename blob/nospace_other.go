//go:build !windows

package blob

func isDiskFullOS(error) bool { return false }
