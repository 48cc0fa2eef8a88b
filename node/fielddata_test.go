package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
)

const (
	comapeocat = "../testdata/categories/rio-negro.comapeocat"
	riverWalk  = "../testdata/tracks/river-walk.gpx"
)

func blobCount(t *testing.T, n *Node) int {
	c := 0
	if err := n.blobs().Enumerate(context.Background(), func(blob.Info) error { c++; return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestFieldData: a coordinator imports categories; observations and a
// track are added with a category and field values; every refusal says
// why and writes nothing; a member syncs and exports the same GeoJSON.
func TestFieldData(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	rep, err := a.ImportCategories(ctx, comapeocat, CategoryImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != 4 || rep.Records != 4 || rep.Format != "comapeocat" || rep.Set != "Rio Negro land documentation 1.2" || len(rep.Warnings) != 1 {
		t.Fatalf("import: %+v", rep)
	}
	if rep, err = a.ImportCategories(ctx, comapeocat, CategoryImportOptions{}); err != nil || rep.Records != 0 || len(rep.Same) != 4 {
		t.Fatalf("import again: %+v %v", rep, err)
	}
	if _, err := a.ImportCategories(ctx, "../testdata/categories/not-categories.json", CategoryImportOptions{}); !errors.Is(err, ErrNotCategoryFile) {
		t.Fatalf("not a category file: %v", err)
	}
	if icon, mt, err := a.CategoryIcon(ctx, "river-crossing"); err != nil || mt != project.IconSVG || !bytes.HasPrefix(icon, []byte("<svg")) {
		t.Fatalf("icon: %q %v", mt, err)
	}
	if _, _, err := a.CategoryIcon(ctx, "patrol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patrol has no icon: %v", err)
	}

	pos := &project.Position{Lat: -0.1257, Lon: -67.0891, Accuracy: 4}
	rec, err := a.Add(ctx, nil, ImportOptions{Position: pos, Notes: "water high", Category: "river-crossing",
		Fields: map[string]string{"depth": "1.2", "crossing_type": "Canoe", "uses": "school; fishing", "date_seen": "2026-05-17", "who": "Ana"}})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := a.Observation(ctx, rec.Observation.ID)
	v := a.View(ctx, st, false)
	if v.Category == nil || v.Category.Name != "River crossing" || v.Category.Color != "#1e90ff" || v.Fields["depth"] != 1.2 ||
		v.Fields["crossing_type"] != "canoe" || !slices.Equal(v.Fields["uses"].([]string), []string{"fishing", "school"}) ||
		!slices.Contains(v.Tags, "water=crossing") || v.Position == nil {
		t.Fatalf("view %+v", v)
	}

	records, _ := a.RecordCount(ctx)
	blobs := blobCount(t, a)
	photo := "../testdata/photos/gps.jpg"
	for _, c := range []struct {
		files []string
		opts  ImportOptions
		want  error
		words string
	}{
		{nil, ImportOptions{Category: "nosuch"}, ErrUnknownCategory, `"nosuch"`},
		{[]string{photo}, ImportOptions{Category: "logging-road"}, ErrCategoryKind, `"logging-road" (Logging road) is for tracks only`},
		{[]string{riverWalk}, ImportOptions{Category: "river-crossing"}, ErrCategoryKind, "for observations only"},
		{[]string{photo}, ImportOptions{Category: "river-crossing", Fields: map[string]string{"colour": "red"}}, ErrUnknownField, `category "river-crossing" has no field "colour"`},
		{[]string{photo}, ImportOptions{Category: "river-crossing", Fields: map[string]string{"depth": "deep"}}, ErrFieldValue, `field "depth" (Depth (m)): "deep" is not a number`},
		{[]string{photo}, ImportOptions{Category: "river-crossing", Fields: map[string]string{"crossing_type": "swim"}}, ErrFieldValue, `"swim" is not one of its options: ford (Ford), bridge (Bridge), canoe (Canoe)`},
		{[]string{photo}, ImportOptions{Category: "river-crossing", Fields: map[string]string{"date_seen": "yesterday"}}, ErrFieldValue, "not a date (write it as 2026-05-17)"},
		{nil, ImportOptions{Fields: map[string]string{"depth": "1"}}, ErrUnknownCategory, "field values need a category"},
		{[]string{"../testdata/categories/not-categories.json", photo}, ImportOptions{}, nil, ""},
	} {
		_, err := a.Add(ctx, c.files, c.opts)
		if c.want == nil {
			if err != nil {
				t.Fatalf("%v: %v", c.files, err)
			}
			records, blobs = records+1, blobCount(t, a)
			continue
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%v %+v: %v; want %v with %q", c.files, c.opts, err, c.want, c.words)
		}
		if n, _ := a.RecordCount(ctx); n != records {
			t.Errorf("%+v: a refusal wrote %d records", c.opts, n-records)
		}
		if n := blobCount(t, a); n != blobs {
			t.Errorf("%+v: a refusal stored %d blobs", c.opts, n-blobs)
		}
	}
	// A GPX that is not one.
	if _, err := a.Add(ctx, []string{"../testdata/categories/not-categories.json", filepath.Join(t.TempDir(), "x.gpx")}, ImportOptions{}); err == nil {
		t.Fatal("a missing GPX file was taken")
	}

	// A track of a track category.
	trk, err := a.Add(ctx, []string{riverWalk}, ImportOptions{Category: "logging-road", Fields: map[string]string{"width": "4", "in_use": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	at := trk.Observation.Attachments[0]
	if at.Kind != project.AttachTrack || at.Track.Points != 115 || !slices.Contains(trk.Observation.Tags, "logging=yes") {
		t.Fatalf("track %+v", trk.Observation)
	}
	pts, err := a.TrackPoints(ctx, at.Points.CID)
	if err != nil || pts.Len() != 115 {
		t.Fatalf("points: %v", err)
	}
	// The view says where the points are, as it does for every variant
	// (it once left the points' state out).
	tst, _ := a.Observation(ctx, trk.Observation.ID)
	if tv := a.View(ctx, tst, true); tv.Attachments[0].Points == nil || tv.Attachments[0].Points.State != "present" ||
		tv.Attachments[0].Original.State != "present" {
		t.Fatalf("track view: %+v %+v", tv.Attachments[0].Points, tv.Attachments[0].Original)
	}

	// Edits: a value changed, one removed; then another category.
	if _, err := a.Edit(ctx, rec.Observation.ID, Edit{Fields: map[string]string{"depth": "0.8", "who": ""}}); err != nil {
		t.Fatal(err)
	}
	st, _ = a.Observation(ctx, rec.Observation.ID)
	if st.Fields["depth"].Number != 0.8 || st.Fields["who"].Kind != 0 {
		t.Fatalf("after edit %+v", st.Fields)
	}
	if _, err := a.Edit(ctx, rec.Observation.ID, Edit{Fields: map[string]string{"depth": "x"}}); !errors.Is(err, ErrFieldValue) {
		t.Fatalf("bad edit: %v", err)
	}
	patrol := "patrol"
	if _, err := a.Edit(ctx, rec.Observation.ID, Edit{Category: &patrol}); err != nil {
		t.Fatal(err)
	}
	st, _ = a.Observation(ctx, rec.Observation.ID)
	if st.Category != "patrol" || len(st.Fields) != 0 || slices.Contains(st.Tags, "water=crossing") || !slices.Contains(st.Tags, "patrol=yes") {
		t.Fatalf("after changing the category: %+v", st.Observation)
	}
	back := "river-crossing"
	if _, err := a.Edit(ctx, rec.Observation.ID, Edit{Category: &back, Fields: map[string]string{"depth": "1.5"}}); err != nil {
		t.Fatal(err)
	}

	// Filters.
	if obs, err := a.Observations(ctx, project.ObservationQuery{Category: "logging-road"}); err != nil || len(obs) != 1 || obs[0].ID != trk.Observation.ID {
		t.Fatalf("by category: %v %v", obs, err)
	}

	// A member may not import categories; after a sync its export is the
	// coordinator's, byte for byte.
	b := joined(t, ctx, a, project.RoleMember)
	if _, err := b.ImportCategories(ctx, comapeocat, CategoryImportOptions{}); !errors.Is(err, ErrNotAuthorized) || !strings.Contains(err.Error(), "only the creator and coordinators change the categories") {
		t.Fatalf("member import: %v", err)
	}
	if _, err := b.Sync(ctx, SyncOptions{NetOptions: loopback}); err != nil {
		t.Fatal(err)
	}
	var ga, gb bytes.Buffer
	ra, err := a.ExportGeoJSON(ctx, &ga, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.ExportGeoJSON(ctx, &gb, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Three features: the photo added above, the track, the crossing.
	if !bytes.Equal(ga.Bytes(), gb.Bytes()) || ra.Lines != 1 || ra.Points != 2 || len(rb.MissingTracks) != 0 {
		t.Fatalf("exports differ or are short: %+v %+v\n%s\n%s", ra, rb, ga.String(), gb.String())
	}
	var doc struct {
		Features []struct {
			Geometry   struct{ Type string }
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(gb.Bytes(), &doc); err != nil || len(doc.Features) != 3 || doc.Features[1].Geometry.Type != "MultiLineString" ||
		doc.Features[2].Properties["category_name"] != "River crossing" || doc.Features[2].Properties["depth"] != 1.5 {
		t.Fatalf("%v %s", err, gb.String())
	}
	// CSV and GPX, and an export of one category.
	var c, g bytes.Buffer
	if r, err := b.ExportCSV(ctx, &c, ExportOptions{Category: "river-crossing", BOM: true}); err != nil || r.Observations != 1 {
		t.Fatalf("csv: %+v %v", r, err)
	}
	if r, err := b.ExportGPX(ctx, &g, ExportOptions{}); err != nil || r.Lines != 1 || !strings.Contains(g.String(), "<trkpt") {
		t.Fatalf("gpx: %+v %v", r, err)
	}
	if _, err := b.ExportCSV(ctx, &c, ExportOptions{Category: "nosuch"}); !errors.Is(err, ErrUnknownCategory) {
		t.Fatalf("export of an unknown category: %v", err)
	}
	cats, err := b.CategoryViews(ctx, false)
	if err != nil || len(cats) != 4 || !strings.HasPrefix(cats[0].Icon, "data:image/svg+xml;base64,") || cats[0].Fields[1].Options[2].Label != "Canoe" {
		t.Fatalf("categories on b: %v %+v", err, cats)
	}
}
