//go:build !linux

// Command fieldbench runs on Linux only: its links are network namespaces
// with kernel shaping, and it reads each process's CPU and memory from
// rusage and /proc.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "fieldbench: runs on Linux only (network namespaces, tbf shaping, rusage); see docs/benchmarks.md")
	os.Exit(1)
}
