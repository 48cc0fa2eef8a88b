//go:build linux

package main

// The import scenario's reference: the naive per-photo pipeline that
// thumbs' benchmarks compare with (thumbs/thumbs_test.go's naive: a full
// image/jpeg decode, a Lanczos fit to the preview box, a Lanczos fit of
// that to the thumbnail box, two encodes), plus a sha256 of the original,
// over the same files, in a process of its own ('raw-naive-import DIR'),
// one worker per CPU as fieldsync's import. It stores nothing: it is the
// work of making the variants, which is what an import of photos costs
// most, so 'fieldsync import' ÷ it says what the rest (CIDs, the store,
// fsync, SQLite, signed records) and the variants' own code cost against
// the plain way.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/disintegration/imaging"
	"github.com/fieldsync/fieldsync/thumbs"
)

type naiveResult struct {
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// naiveImportMain is 'raw-naive-import DIR': prints a naiveResult.
func naiveImportMain(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: fieldbench raw-naive-import DIR")
		return 2
	}
	start := time.Now()
	var r naiveResult
	files, _, err := filesUnder(args[0])
	if err == nil {
		var next atomic.Int64
		var nbytes atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range runtime.NumCPU() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= len(files) {
						return
					}
					n, e := naiveOne(files[i])
					nbytes.Add(n)
					if e != nil {
						mu.Lock()
						if err == nil {
							err = fmt.Errorf("%s: %w", files[i], e)
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		r.Files, r.Bytes = len(files), nbytes.Load()
	}
	r.Seconds = time.Since(start).Seconds()
	if err != nil {
		r.Error = err.Error()
	}
	return printResult(r, err)
}

func naiveOne(p string) (int64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	_ = sha256.Sum256(data)
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	pv := imaging.Fit(img, thumbs.DefaultPreviewSize, thumbs.DefaultPreviewSize, imaging.Lanczos)
	th := imaging.Fit(pv, thumbs.DefaultThumbSize, thumbs.DefaultThumbSize, imaging.Lanczos)
	var b1, b2 bytes.Buffer
	if err := jpeg.Encode(&b1, pv, &jpeg.Options{Quality: thumbs.DefaultQuality}); err != nil {
		return 0, err
	}
	if err := jpeg.Encode(&b2, th, &jpeg.Options{Quality: thumbs.DefaultQuality}); err != nil {
		return 0, err
	}
	return int64(len(data)), nil
}

// naiveImport runs the reference over dir in its own process.
func (b *bench) naiveImport(ctx context.Context, dir string) (*Import, error) {
	cmd := command(ctx, "", b.self, "raw-naive-import", dir)
	var o bytes.Buffer
	var e syncBuffer
	cmd.Stdout, cmd.Stderr = &o, &e
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tr := trackRSS(cmd.Process.Pid)
	err := cmd.Wait()
	u := usage("reference: naive variants pipeline", cmd.ProcessState, time.Since(t0), tr)
	var r naiveResult
	if jerr := json.Unmarshal(o.Bytes(), &r); jerr != nil || r.Error != "" || err != nil {
		return nil, fmt.Errorf("raw-naive-import: %v %s %s", err, r.Error, e.String())
	}
	return &Import{Files: r.Files, Seconds: time.Since(t0).Seconds(), Usage: u}, nil
}
