//go:build unix

package thumbs

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user + system) this process has used. On a
// shared machine it moves less with other people's load than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
