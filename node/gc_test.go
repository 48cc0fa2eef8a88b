package node

import (
	"runtime/debug"
	"testing"
)

// UseGCPercent sets the collector's target unless GOGC is set.
func TestUseGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	UseGCPercent()
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("without GOGC: target %d, want %d", got, GCPercent)
	}
	t.Setenv("GOGC", "100")
	UseGCPercent()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100: target %d, want it left at 100", got)
	}
}
