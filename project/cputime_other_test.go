//go:build !unix

package project

import "time"

func cpuTime() time.Duration { return 0 }
