//go:build !unix

package exchange

import "time"

func usage() (minflt int64, cpu time.Duration) { return -1, 0 }
