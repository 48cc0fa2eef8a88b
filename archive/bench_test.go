package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// benchWorld is a project with one 64 MiB original.
func benchWorld(b *testing.B) (*world, []byte) {
	w := newWorld(b)
	w.observation(w.member, "obs-bench", time.Now(), mrand.New(mrand.NewPCG(5, 6)), 64<<20, "big.jpg", nil)
	var buf bytes.Buffer
	if _, err := Export(context.Background(), &buf, w.proj, w.store, ExportOptions{}); err != nil {
		b.Fatal(err)
	}
	return w, buf.Bytes()
}

// sha256Rate returns sha256's time for n bytes, the reference the
// benchmarks report against (DESIGN.md, "What fast means here"): x-sha256
// is the time of an export or import over the time of hashing its bytes
// once, measured beside it.
func sha256Rate(n int) time.Duration {
	buf := make([]byte, 1<<20)
	h := sha256.New()
	start := time.Now()
	for done := 0; done < n; done += len(buf) {
		h.Write(buf)
	}
	return time.Since(start)
}

func BenchmarkExport(b *testing.B) {
	w, car := benchWorld(b)
	var ref time.Duration
	b.SetBytes(int64(len(car)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ref += sha256Rate(len(car))
		b.StartTimer()
		if _, err := Export(context.Background(), io.Discard, w.proj, w.store, ExportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(ref), "x-sha256")
}

func BenchmarkImport(b *testing.B) {
	w, car := benchWorld(b)
	var ref time.Duration
	b.SetBytes(int64(len(car)))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ref += sha256Rate(len(car))
		dst, store := w.fresh()
		b.StartTimer()
		if _, err := Import(context.Background(), bytes.NewReader(car), dst, store, ImportOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed())/float64(ref), "x-sha256")
}
