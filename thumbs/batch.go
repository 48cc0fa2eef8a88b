package thumbs

import (
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// MakeAll makes the variants of n originals, one original per goroutine at
// a time on up to GOMAXPROCS goroutines, so a batch uses every core while
// each result stays exactly what Make gives.
//
// open(i) opens original i; MakeAll closes what it returns. done(i, res,
// err) is called once for every original that was started, from one
// goroutine at a time, in completion order; err is open's error or Make's.
// When ctx is cancelled no new original is started and MakeAll returns
// ctx.Err() after the running ones finish; otherwise it returns nil.
func MakeAll(ctx context.Context, n int, open func(i int) (io.ReadCloser, error), opt Options, done func(i int, res *Result, err error)) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				res, err := makeOne(i, open, opt)
				mu.Lock()
				done(i, res, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

func makeOne(i int, open func(int) (io.ReadCloser, error), opt Options) (*Result, error) {
	rc, err := open(i)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return Make(rc, opt)
}
