//go:build unix

package exchange

import (
	"syscall"
	"time"
)

// usage is the process's count of minor page faults so far (first touches
// of memory) and its CPU time (user and system), or -1 and 0 where they
// are not known.
func usage() (minflt int64, cpu time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1, 0
	}
	return int64(ru.Minflt), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
