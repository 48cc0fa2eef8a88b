//go:build linux

package main

import (
	"os"
	"testing"
	"time"
)

// TestWaitSettled: this process's CPU time reads, and a process that
// does nothing (sleep) is settled well before the limit.
func TestWaitSettled(t *testing.T) {
	if c := cpuTicks(os.Getpid()); c < 0 {
		t.Fatalf("cpuTicks of this process: %d", c)
	}
	if c := cpuTicks(1 << 30); c != -1 {
		t.Fatalf("cpuTicks of no process: %d, want -1", c)
	}
	start := time.Now()
	waitSettled(os.Getpid(), 3*time.Second)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("an idle process took %s to settle", d)
	}
}
