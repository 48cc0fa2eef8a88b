package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"time"
)

// startProfiles writes pprof profiles of this process when
// $FIELDSYNC_PPROF names a directory (for the bench and for whoever chases
// a cost: 'FIELDSYNC_PPROF=/tmp/p fieldsync sync ...'): a CPU profile for
// the whole run, and at exit the allocations, the heap and where
// goroutines blocked (at least 10 µs), as <command>-<pid>.{cpu,alloc,block}.pprof,
// and the heap as it was when the Go heap was largest (checked every
// 100 ms), as <command>-<pid>.peak.pprof: what the peak RSS holds.
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
	stop := make(chan struct{})
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		peakHeap(base+".peak.pprof", stop)
	}()
	return func() {
		close(stop)
		<-peakDone
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

// peakHeap writes a heap profile to path each time the Go heap (objects
// and unused spans not yet returned) is larger than it has been, until
// stop is closed; then, beside it (.txt), the largest Go heap and the
// largest memory the Go runtime held (heap, stacks, its own metadata; not
// released to the system), to set against the process's peak RSS: the
// rest is the executable's pages and memory outside Go (SQLite's).
func peakHeap(path string, stop <-chan struct{}) {
	sample := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	var peak, peakGo uint64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			txt := strings.TrimSuffix(path, ".pprof") + ".txt"
			_ = os.WriteFile(txt, []byte(fmt.Sprintf("go heap peak %d MiB\ngo runtime peak %d MiB\n", peak>>20, peakGo>>20)), 0o644)
			return
		case <-t.C:
		}
		metrics.Read(sample)
		peakGo = max(peakGo, sample[2].Value.Uint64()-sample[3].Value.Uint64())
		if h := sample[0].Value.Uint64() + sample[1].Value.Uint64(); h > peak+peak/20 {
			peak = h
			if f, err := os.Create(path); err == nil {
				// The live heap as of the last collection.
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
