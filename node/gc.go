package node

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's target (GOGC) UseGCPercent sets:
// the heap may grow to 1.5× what is live rather than the runtime's
// default 2×. Receiving 30,000 small blobs, that and the exchange's 4 MiB
// bound on small blobs waiting to be stored keep the receiver's peak RSS
// under 100 MiB (122–143 MiB before both) for a few per cent more CPU
// (docs/benchmarks.md, "On a fast link"). A percentage, not a memory
// limit: a project whose live heap is larger than any fixed limit would
// have the collector run all the time.
const GCPercent = 50

// UseGCPercent sets the collector's target to GCPercent unless the
// environment sets GOGC, which then decides. It changes the whole
// program's runtime, so the program calls it, not the node (the fieldsync
// command at start, the mobile binding at Open).
func UseGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
