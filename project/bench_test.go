package project

import (
	"fmt"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

const benchRecords = 10000

// benchSetup makes a project, a member that signed benchRecords
// observations (one photo each, three variants), and the welcome with
// which a receiving device (recv) joins.
func benchSetup(b *testing.B) (creator *Project, recv *Identity, w *Welcome, blocks [][]byte) {
	creator = newProject(b, "bench")
	member, recv := newIdentity(b), newIdentity(b)
	for _, id := range []*Identity{member, recv} {
		if _, err := creator.SetRole(ctx, id.PeerID(), RoleMember); err != nil {
			b.Fatal(err)
		}
	}
	w, err := creator.welcome(ctx)
	if err != nil {
		b.Fatal(err)
	}
	prev := cid.Undef
	for i := range benchRecords {
		at := t0.Add(time.Duration(i) * time.Minute)
		r, err := newRecord(member, creator.ID(), uint64(i+1), prev, &Observation{ID: fmt.Sprintf("obs-%05d", i),
			Created: at, Updated: at, Position: &Position{Lat: -3.1 + float64(i)*1e-5, Lon: -60.0, Accuracy: 5},
			Tags: []string{"survey"}, Attachments: []Attachment{photo(fmt.Sprintf("IMG_%05d.JPG", i))}})
		if err != nil {
			b.Fatal(err)
		}
		blocks = append(blocks, r.Block)
		prev = r.CID
	}
	return creator, recv, w, blocks
}

// BenchmarkApply applies 10,000 observations from another device in one
// batch, into a fresh database each time.
func BenchmarkApply(b *testing.B) {
	_, recv, w, blocks := benchSetup(b)
	var applyTime, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p, err := Join(ctx, openDB(b), recv, w)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start, c0 := time.Now(), cpuTime()
		res, err := p.Apply(ctx, blocks)
		applyTime += time.Since(start)
		cpu += cpuTime() - c0
		if err != nil {
			b.Fatal(err)
		}
		mustOK(b, res)
	}
	b.ReportMetric(float64(applyTime.Nanoseconds())/float64(b.N*benchRecords), "ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchRecords), "cpu-ns/record")
}

// BenchmarkMissing computes what a device with an empty vector lacks from
// a device that holds the 10,000 observations.
func BenchmarkMissing(b *testing.B) {
	_, recv, w, blocks := benchSetup(b)
	p, err := Join(ctx, openDB(b), recv, w)
	if err != nil {
		b.Fatal(err)
	}
	mustOK(b, must(p.Apply(ctx, blocks)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := p.Missing(ctx, VersionVector{}, 0)
		if err != nil || len(rs) < benchRecords {
			b.Fatal(len(rs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

// BenchmarkMissingNothingNew is a sync where the peer has everything.
func BenchmarkMissingNothingNew(b *testing.B) {
	_, recv, w, blocks := benchSetup(b)
	p, err := Join(ctx, openDB(b), recv, w)
	if err != nil {
		b.Fatal(err)
	}
	mustOK(b, must(p.Apply(ctx, blocks)))
	theirs := p.Vector()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := p.Missing(ctx, theirs, 0)
		if err != nil || len(rs) != 0 {
			b.Fatal(len(rs), err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// BenchmarkDecodeReference is the floor under Apply: decoding and
// verifying the same 10,000 blocks on one goroutine, no database.
func BenchmarkDecodeReference(b *testing.B) {
	_, _, _, blocks := benchSetup(b)
	b.ResetTimer()
	c0 := cpuTime()
	defer func() {
		b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N*benchRecords), "cpu-ns/record")
	}()
	for i := 0; i < b.N; i++ {
		for _, bl := range blocks {
			if _, err := DecodeRecord(bl); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/record")
}

// BenchmarkWantedBlobs lists the blobs wanted under the field filter in a
// project of 10,000 observations (the exchange re-reads it after every
// applied batch), without the cache (as after a change).
func BenchmarkWantedBlobs(b *testing.B) {
	_, recv, w, blocks := benchSetup(b)
	p, err := Join(ctx, openDB(b), recv, w)
	if err != nil {
		b.Fatal(err)
	}
	mustOK(b, must(p.Apply(ctx, blocks)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.gen.Add(1) // as if something changed
		ws, err := p.WantedBlobs(ctx, Field)
		if err != nil || len(ws) != 2*benchRecords {
			b.Fatal(len(ws), err)
		}
	}
}
