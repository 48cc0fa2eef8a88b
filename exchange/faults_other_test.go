//go:build !unix

package exchange

func minorFaults() int64 { return -1 }
