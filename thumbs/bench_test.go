package thumbs

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks use bigPhoto: a 4000×3000 (12-MP) synthetic photo, JPEG
// quality 90, made at run time (synth_test.go), never committed.
//
//	go test -run '^$' -bench . -benchtime 5x -count 1 ./thumbs/
//
// BenchmarkVsNaive runs the reference pipeline and Make alternately on one
// core and reports the ratio of their times, so machine noise hits both.

// BenchmarkVsNaive reports, per 12-MP photo on one core: naive-ms, make-ms,
// ratio (make/naive wall time, target ≤ 0.4), cpu-ratio (the same with
// process CPU time, steadier on a shared machine), PSNR of each variant
// against the reference output (target ≥ 32 dB), and the variants' sizes.
func BenchmarkVsNaive(b *testing.B) {
	data := bigPhoto(b)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var tNaive, tMake, cNaive, cMake time.Duration
	var refPrev, refThumb []byte
	var res *Result
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c0, t0 := cpuTime(), time.Now()
		refPrev, refThumb = naive(b, data, Options{})
		c1, t1 := cpuTime(), time.Now()
		var err error
		res, err = MakeBytes(data, Options{})
		if err != nil {
			b.Fatal(err)
		}
		tMake += time.Since(t1)
		cMake += cpuTime() - c1
		tNaive += t1.Sub(t0)
		cNaive += c1 - c0
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(tNaive.Milliseconds())/n, "naive-ms")
	b.ReportMetric(float64(tMake.Milliseconds())/n, "make-ms")
	b.ReportMetric(float64(tMake)/float64(tNaive), "ratio")
	if cNaive > 0 {
		b.ReportMetric(float64(cMake)/float64(cNaive), "cpu-ratio")
		b.ReportMetric(float64(cMake.Milliseconds())/n, "make-cpu-ms")
	}
	b.ReportMetric(psnrJPEG(b, refPrev, res.Preview), "preview-dB")
	b.ReportMetric(psnrJPEG(b, refThumb, res.Thumbnail), "thumb-dB")
	b.ReportMetric(float64(len(res.Preview)), "preview-B")
	b.ReportMetric(float64(len(res.Thumbnail)), "thumb-B")
}

// BenchmarkMake is Make alone on the 12-MP photo, at the benchmark's
// GOMAXPROCS (-cpu 1 for one core): for profiling.
func BenchmarkMake(b *testing.B) {
	data := bigPhoto(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := MakeBytes(data, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBatch makes variants of 8 photos with MakeAll on 1 core, then on
// 2, alternately, and reports photos/s on each and the speedup (target ≥
// 1.7 on 2 cores). The wall-time speedup needs 2 idle cores to mean
// anything; cpu-overhead (CPU time on 2 cores / on 1) says what the
// parallel run costs in extra work, whatever the machine's load, and
// machine-speedup is what a pure CPU loop gets from the second core in the
// same run: the ceiling for the batch at that moment.
func BenchmarkBatch(b *testing.B) {
	data := bigPhoto(b)
	const photos = 8
	var c1, c2 time.Duration
	run := func(procs int) time.Duration {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		c0 := cpuTime()
		defer func() {
			if procs == 1 {
				c1 += cpuTime() - c0
			} else {
				c2 += cpuTime() - c0
			}
		}()
		t0 := time.Now()
		err := MakeAll(context.Background(), photos, func(int) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, Options{}, func(_ int, _ *Result, err error) {
			if err != nil {
				b.Error(err)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// The machine's own 2-core speedup right now, on a pure CPU loop with
	// no memory traffic: on a shared machine it is well under 2, and the
	// batch cannot beat it.
	spin := func(procs int) time.Duration {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		t0 := time.Now()
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := uint64(1)
				for i := 0; i < 100_000_000; i++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
				sink.Add(x)
			}()
		}
		wg.Wait()
		return time.Since(t0)
	}
	var t1, t2, s1, s2 time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s1 += spin(1)
		t1 += run(1)
		s2 += spin(2)
		t2 += run(2)
	}
	b.StopTimer()
	b.ReportMetric(float64(s1)/float64(s2), "machine-speedup")
	n := float64(b.N * photos)
	b.ReportMetric(n/t1.Seconds(), "photos/s-1cpu")
	b.ReportMetric(n/t2.Seconds(), "photos/s-2cpu")
	b.ReportMetric(float64(t1)/float64(t2), "speedup")
	if c1 > 0 && c2 > 0 {
		// CPU time per photo on 2 cores over that on 1: 1.0 means the
		// parallel run did no extra work, so on 2 idle cores the speedup
		// is 2 / cpu-overhead. Other people's load does not move it much.
		b.ReportMetric(float64(c2)/float64(c1), "cpu-overhead")
	}
}

var sink atomic.Uint64
