package seal

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/chunk"
)

// BenchmarkSeal reports NewSealer's throughput over 64 MiB in memory as a
// ratio against one crypto/sha256 pass over the same bytes in the same run
// (x_sha256 = 1: sealing is as fast as hashing once; 0.5: half as fast).
// SealedCID adds a chunk.Sum over the sealed bytes; BenchmarkSealedCID
// reports that, and BenchmarkOpen the opener, the same way.
func BenchmarkSeal(b *testing.B) {
	benchRatio(b, func(k Key, data []byte) {
		c := chunk.RawCID(data[:64])
		if _, err := io.Copy(io.Discard, NewSealer(k, c, int64(len(data)), bytes.NewReader(data))); err != nil {
			b.Fatal(err)
		}
	}, nil)
}

func BenchmarkOpen(b *testing.B) {
	var sealed []byte
	c := chunk.RawCID([]byte("bench"))
	benchRatio(b, func(k Key, data []byte) {
		if _, err := io.Copy(io.Discard, NewOpener(k, c, int64(len(sealed)), bytes.NewReader(sealed))); err != nil {
			b.Fatal(err)
		}
	}, func(k Key, data []byte) {
		sealed, _ = io.ReadAll(NewSealer(k, c, int64(len(data)), bytes.NewReader(data)))
	})
}

func BenchmarkSealedCID(b *testing.B) {
	benchRatio(b, func(k Key, data []byte) {
		c := chunk.RawCID(data[:64])
		if _, err := SealedCID(k, c, int64(len(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}, nil)
}

func benchRatio(b *testing.B, run, setup func(Key, []byte)) {
	data := pseudo(42, 64<<20)
	k := testKey(42)
	if setup != nil {
		setup(k, data)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var ref, ours time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		_ = sha256.Sum256(data)
		ref += time.Since(t0)
		t0 = time.Now()
		run(k, data)
		ours += time.Since(t0)
	}
	b.ReportMetric(float64(ref)/float64(ours), "x_sha256")
	b.ReportMetric(float64(len(data))*float64(b.N)/ours.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(len(data))*float64(b.N)/ref.Seconds()/1e6, "sha256_MB/s")
	b.Logf("%s: %.0f MB/s, sha256 %.0f MB/s, ratio %.2f", b.Name(), float64(len(data))*float64(b.N)/ours.Seconds()/1e6,
		float64(len(data))*float64(b.N)/ref.Seconds()/1e6, float64(ref)/float64(ours))
}
