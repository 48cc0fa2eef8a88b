package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// startProfiles writes pprof profiles of this process when
// $FIELDSYNC_PPROF names a directory (for the bench and for whoever chases
// a cost: 'FIELDSYNC_PPROF=/tmp/p fieldsync sync ...'): a CPU profile for
// the whole run, and at exit the allocations, the heap and where
// goroutines blocked (at least 10 µs), as <command>-<pid>.{cpu,alloc,block}.pprof.
// The returned function writes them; it does nothing when the variable is
// unset. Not part of the command's interface: the names may change.
func startProfiles(args []string) func() {
	dir := os.Getenv("FIELDSYNC_PPROF")
	if dir == "" {
		return func() {}
	}
	name := "fieldsync"
	for _, a := range args {
		if len(a) > 0 && a[0] != '-' {
			name = a
			break
		}
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", name, os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "fieldsync: FIELDSYNC_PPROF: %v\n", err)
		return func() {}
	}
	runtime.SetBlockProfileRate(int((10 * time.Microsecond).Nanoseconds()))
	cpu, err := os.Create(base + ".cpu.pprof")
	if err == nil {
		err = pprof.StartCPUProfile(cpu)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fieldsync: FIELDSYNC_PPROF: %v\n", err)
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		for kind, file := range map[string]string{"allocs": ".alloc.pprof", "block": ".block.pprof"} {
			f, err := os.Create(base + file)
			if err != nil {
				continue
			}
			_ = pprof.Lookup(kind).WriteTo(f, 0)
			f.Close()
		}
	}
}
