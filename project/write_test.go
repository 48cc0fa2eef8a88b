package project

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
)

func TestAddObservations(t *testing.T) {
	p := newProject(t, "many")
	var obs []Observation
	for i := range 100 {
		obs = append(obs, Observation{Notes: strings.Repeat("n", i), Attachments: []Attachment{photo("a.jpg")}})
	}
	recs, err := p.AddObservations(context.Background(), obs)
	if err != nil || len(recs) != 100 {
		t.Fatalf("AddObservations: %d, %v", len(recs), err)
	}
	got, err := p.Observations(context.Background(), ObservationQuery{})
	if err != nil || len(got) != 100 {
		t.Fatalf("%d observations, %v", len(got), err)
	}
	// One bad observation: none is stored.
	bad := []Observation{{Attachments: []Attachment{photo("b.jpg")}}, {Tags: []string{""}, Attachments: []Attachment{photo("c.jpg")}}}
	if _, err := p.AddObservations(context.Background(), bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad batch: %v", err)
	}
	if got, _ := p.Observations(context.Background(), ObservationQuery{}); len(got) != 100 {
		t.Fatalf("%d observations after a refused batch", len(got))
	}
}

// Tags, notes or a position the record would refuse are refused before
// any blob is stored.
func TestImportRefusesBadTextFirst(t *testing.T) {
	p := newProject(t, "import")
	store := mem.New()
	path := filepath.Join("..", "testdata", "photos", "gps.jpg")
	for _, opts := range []ImportOptions{
		{Tags: []string{strings.Repeat("x", maxTagLen+1)}},
		{Notes: strings.Repeat("x", maxNotesLen+1)},
		{Tags: []string{"ok", ""}},
		{Position: &Position{Lat: 91}},
	} {
		opts.Store = store
		if _, err := p.ImportFiles(context.Background(), []string{path}, opts); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v: %v", opts, err)
		}
		if _, err := p.ImportFile(context.Background(), path, opts); !errors.Is(err, ErrMalformed) {
			t.Errorf("ImportFile %+v: %v", opts, err)
		}
		n := 0
		store.Enumerate(context.Background(), func(blob.Info) error { n++; return nil })
		if n != 0 {
			t.Fatalf("%+v: %d blobs stored", opts, n)
		}
	}
}
