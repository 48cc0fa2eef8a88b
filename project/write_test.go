package project

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
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

func TestChangesSince(t *testing.T) {
	p := newProject(t, "changes")
	ctx := context.Background()
	_, all, m1, err := p.ChangesSince(ctx, 0)
	if err != nil || !all || m1 == 0 {
		t.Fatalf("first call: all %v mark %d %v", all, m1, err)
	}
	r, err := p.AddObservation(ctx, Observation{Attachments: []Attachment{photo("a.jpg")}})
	if err != nil {
		t.Fatal(err)
	}
	ids, all, m2, err := p.ChangesSince(ctx, m1)
	if err != nil || all || len(ids) != 1 || ids[0] != r.Observation.ID || m2 <= m1 {
		t.Fatalf("after an observation: %v %v %d %v", ids, all, m2, err)
	}
	if ids, all, m3, _ := p.ChangesSince(ctx, m2); len(ids) != 0 || all || m3 != m2 {
		t.Fatalf("nothing new: %v %v %d", ids, all, m3)
	}
	// A membership record can change any observation's state.
	other := newIdentity(t)
	if _, err := p.SetRole(ctx, other.PeerID(), RoleMember); err != nil {
		t.Fatal(err)
	}
	if ids, all, _, _ := p.ChangesSince(ctx, m2); !all || ids != nil {
		t.Fatalf("after a membership: %v %v", ids, all)
	}
}

func TestRecordCount(t *testing.T) {
	p := newProject(t, "count")
	n0, err := p.RecordCount(context.Background())
	if err != nil || n0 != 1 { // the genesis
		t.Fatalf("RecordCount = %d, %v", n0, err)
	}
	if _, err := p.AddObservation(context.Background(), Observation{Attachments: []Attachment{photo("a.jpg")}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.RecordCount(context.Background()); n != 2 {
		t.Fatalf("RecordCount after one observation = %d", n)
	}
}

// A PNG photo's thumbnail and preview are JPEGs: the wants say so, so a
// device that receives them stores the right type.
func TestVariantMediaTypes(t *testing.T) {
	p := newProject(t, "types")
	a := photo("alpha8.png")
	a.MediaType = "image/png"
	if _, err := p.AddObservation(context.Background(), Observation{Attachments: []Attachment{a}}); err != nil {
		t.Fatal(err)
	}
	f, _ := p.FilterOf(context.Background(), p.Self().PeerID())
	wants, err := p.WantedBlobs(context.Background(), f)
	if err != nil || len(wants) != 3 {
		t.Fatalf("%d wants, %v", len(wants), err)
	}
	for _, w := range wants {
		want := "image/jpeg"
		if w.Class == blob.ClassOriginal {
			want = "image/png"
		}
		if w.MediaType != want {
			t.Errorf("%s: media type %q, want %q", w.Class, w.MediaType, want)
		}
	}
}
