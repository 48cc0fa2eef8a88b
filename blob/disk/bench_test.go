package disk_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkImport stores a file that sits in the page cache (256 MiB, or
// $FIELDSYNC_BENCH_MIB) and reports its throughput against crypto/sha256
// reading and hashing the same file in the same run: x-sha256 is import
// speed ÷ sha256 speed (target ≥ 0.8).
//
//	go test -run '^$' -bench Import -benchtime 3x -count 1 ./blob/disk/
func BenchmarkImport(b *testing.B) {
	size := envInt("FIELDSYNC_BENCH_MIB", 256) << 20
	s, dir, _ := newStore(b)
	src := filepath.Join(dir, "source.bin")
	if err := os.WriteFile(src, blobtest.Data(42, size), 0o644); err != nil {
		b.Fatal(err)
	}
	refHash := func() time.Duration {
		t0 := time.Now()
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	// Warm up, untimed: the source into the page cache, and one import, so
	// the temp file's pages are not the first the process touches (on a
	// virtual machine the first touch of guest memory costs a host fault
	// per page: measured 815 ms for a first 256 MiB Put, 140 ms after).
	refHash()
	if in, err := blob.PutFile(ctx, s, src, blob.Meta{}); err != nil {
		b.Fatal(err)
	} else if err := s.Remove(ctx, in.CID); err != nil {
		b.Fatal(err)
	}
	var tRef, tImp time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tRef += refHash()
		t0 := time.Now()
		in, err := blob.PutFile(ctx, s, src, blob.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		tImp += time.Since(t0)
		b.StopTimer()
		if err := s.Remove(ctx, in.CID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/tImp.Seconds(), "import-MiB/s")
	b.ReportMetric(mb/tRef.Seconds(), "sha256-MiB/s")
	b.ReportMetric(tRef.Seconds()/tImp.Seconds(), "x-sha256")
}

// BenchmarkBatch imports 10,000 blobs of 20 KB (or $FIELDSYNC_BENCH_BLOBS)
// through batches of 1,000 into a new store and reports blobs/s (target ≥
// 2,000), and x-unbatched: the batched rate ÷ the rate of plain Puts (one
// fsync and one transaction each) measured on 200 blobs in the same run.
//
//	go test -run '^$' -bench Batch -benchtime 3x -count 1 ./blob/disk/
func BenchmarkBatch(b *testing.B) {
	n := envInt("FIELDSYNC_BENCH_BLOBS", 10000)
	const size, per = 20 << 10, 1000
	base := blobtest.Data(43, size)
	thumb := func(i int) []byte {
		binary.LittleEndian.PutUint64(base, uint64(i))
		return base
	}
	var tBatch time.Duration
	var blobs int
	for it := 0; it < b.N; it++ {
		b.StopTimer()
		s, _, _ := newStore(b)
		b.StartTimer()
		t0 := time.Now()
		for i := 0; i < n; i += per {
			bt, err := s.Batch(ctx)
			if err != nil {
				b.Fatal(err)
			}
			for k := i; k < min(i+per, n); k++ {
				if _, err := bt.Put(ctx, bytes.NewReader(thumb(it<<32|k)), blob.Meta{MediaType: "image/jpeg"}); err != nil {
					b.Fatal(err)
				}
			}
			if err := bt.Commit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		tBatch += time.Since(t0)
		blobs += n
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.StopTimer()
	s, _, _ := newStore(b)
	const m = 200
	t0 := time.Now()
	for k := 0; k < m; k++ {
		if _, err := s.Put(ctx, bytes.NewReader(thumb(1<<40|k)), blob.Meta{}); err != nil {
			b.Fatal(err)
		}
	}
	single := float64(m) / time.Since(t0).Seconds()
	rate := float64(blobs) / tBatch.Seconds()
	b.ReportMetric(rate, "blobs/s")
	b.ReportMetric(single, "unbatched-blobs/s")
	b.ReportMetric(rate/single, "x-unbatched")
}

var _ = disk.ErrLocked

// BenchmarkReceive writes a 64 MiB blob leaf by leaf through a Partial
// (verify, write, fsync, bitmap commit per leaf, as a receiver does) and
// reports its speed against Put of the same bytes in the same run:
// x-put = receive MiB/s ÷ Put MiB/s.
//
//	go test -run '^$' -bench Receive -benchtime 3x -count 1 ./blob/disk/
func BenchmarkReceive(b *testing.B) {
	const size = 64 << 20
	data := blobtest.Data(44, size)
	sk := blobtest.SkeletonOf(b, data)
	s, _, _ := newStore(b)
	var tRecv, tPut time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		for j, l := range sk.Leaves {
			if err := p.WriteLeaf(ctx, j, data[l.Offset:l.End()]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := p.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		p.Close()
		tRecv += time.Since(t0)
		b.StopTimer()
		s.Remove(ctx, sk.Root)
		b.StartTimer()
		t0 = time.Now()
		if _, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{}); err != nil {
			b.Fatal(err)
		}
		tPut += time.Since(t0)
		b.StopTimer()
		s.Remove(ctx, sk.Root)
		b.StartTimer()
	}
	mb := float64(size) * float64(b.N) / (1 << 20)
	b.ReportMetric(mb/tRecv.Seconds(), "receive-MiB/s")
	b.ReportMetric(mb/tPut.Seconds(), "put-MiB/s")
	b.ReportMetric(tPut.Seconds()/tRecv.Seconds(), "x-put")
}
