package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/project"
)

// BenchmarkIndex rebuilds the in-memory index of 10,000 observations (what
// a page's first request costs after records arrived), against listing
// them from the project alone.
func BenchmarkIndex(b *testing.B) {
	d := newDevice(b)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Ten transactions of a thousand, with the node closed meanwhile.
	d = offline(b, d, func(pc pieces) {
		for start := 0; start < 10000; start += 1000 {
			var obs []project.Observation
			for i := start; i < start+1000; i++ {
				c := mustSum(b, strings.NewReader(fmt.Sprint(i)))
				obs = append(obs, project.Observation{Created: base.Add(time.Duration(i) * time.Second), Tags: []string{"t"},
					Position: &project.Position{Lat: 1, Lon: 2},
					Attachments: []project.Attachment{{Kind: project.AttachPhoto, MediaType: "image/jpeg", Name: "a.jpg",
						Original: &project.Variant{CID: c, Size: 1}, Thumbnail: &project.Variant{CID: c, Size: 1}}}})
			}
			if _, err := pc.proj.AddObservations(ctx, obs); err != nil {
				b.Fatal(err)
			}
		}
	})
	s, err := New(Config{Node: d})
	if err != nil {
		b.Fatal(err)
	}
	var ref, idx time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := d.Observations(ctx, project.ObservationQuery{}); err != nil {
			b.Fatal(err)
		}
		ref += time.Since(t0)
		s.idx.cur = nil
		t0 = time.Now()
		if _, err := s.index(ctx); err != nil {
			b.Fatal(err)
		}
		idx += time.Since(t0)
	}
	b.ReportMetric(float64(idx.Milliseconds())/float64(b.N), "ms/index")
	b.ReportMetric(float64(idx)/float64(ref), "x-list")
	// Records arriving: ten new observations, the index updated in place.
	var inc time.Duration
	for i := range 5 {
		for j := range 10 {
			c := mustSum(b, strings.NewReader(fmt.Sprint("new", i, j)))
			o := project.Observation{Attachments: []project.Attachment{{Kind: project.AttachPhoto, MediaType: "image/jpeg",
				Name: "b.jpg", Original: &project.Variant{CID: c, Size: 1}}}}
			if _, err := d.AddObservation(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		ix, err := s.index(ctx)
		if err != nil {
			b.Fatal(err)
		}
		inc += time.Since(t0)
		if len(ix.all) != 10000+10*(i+1) {
			b.Fatalf("%d in the index", len(ix.all))
		}
	}
	b.ReportMetric(float64(inc.Microseconds())/5/1000, "ms/update-of-10")
}
