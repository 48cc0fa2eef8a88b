//go:build unix

package exchange

import "syscall"

// minorFaults is the process's count of minor page faults so far (first
// touches of memory), or -1 where it is not known.
func minorFaults() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return int64(ru.Minflt)
}
