package ingest

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/track"
)

const tracks = "../testdata/tracks"

// TestTrack: a GPX file becomes a track observation: its points blob
// (which decodes to the file's points) and the file itself, at the first
// point's time, with the waypoint left out said.
func TestTrack(t *testing.T) {
	p := newProject(t, "p")
	store := mem.New()
	path := filepath.Join(tracks, "river-walk.gpx")
	r, err := File(ctx, p, path, Options{Store: store, Tags: []string{"patrol"}})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Observation
	a := o.Attachments[0]
	if a.Kind != project.AttachTrack || a.MediaType != GPXMediaType || a.Name != "river-walk.gpx" || a.Points == nil || a.Original == nil {
		t.Fatalf("attachment %+v", a)
	}
	if a.Track.Name != "Morning walk to the river" || a.Track.Points != 115 || a.Track.Segments != 2 || a.Track.Length < 500 {
		t.Fatalf("track %+v", a.Track)
	}
	if want := time.Date(2026, 5, 17, 8, 0, 0, 0, time.UTC); !o.Created.Equal(want) || o.TimeGuessed || o.Position != nil {
		t.Fatalf("observation %+v", o)
	}
	rc, err := store.Fetch(ctx, a.Points.CID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	tr, err := track.Decode(b)
	if err != nil || tr.Len() != 115 {
		t.Fatalf("points blob: %v", err)
	}
	f, _ := os.Open(path)
	g, _ := track.ReadGPX(f)
	f.Close()
	if tr.Segments[1][3] != g.Track.Segments[1][3] {
		t.Fatalf("point differs: %+v %+v", tr.Segments[1][3], g.Track.Segments[1][3])
	}
	if info, err := store.Stat(ctx, a.Original.CID); err != nil || info.Size != a.Original.Size {
		t.Fatalf("original: %v %v", info, err)
	}

	// A directory: a photo, the walk, a KML named .gpx and a GPX of
	// waypoints only. The two bad files are skipped with their reasons.
	dir := t.TempDir()
	copyFile(t, filepath.Join(photos, "gps.jpg"), filepath.Join(dir, "a.jpg"))
	copyFile(t, path, filepath.Join(dir, "b.GPX"))
	os.WriteFile(filepath.Join(dir, "c.gpx"), []byte(`<kml xmlns="http://www.opengis.net/kml/2.2"/>`), 0o644)
	os.WriteFile(filepath.Join(dir, "d.gpx"), []byte(`<gpx version="1.1" creator="x"><wpt lat="1" lon="2"/></gpx>`), 0o644)
	rep, err := Dir(ctx, p, dir, Options{Store: store}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Records) != 2 || len(rep.Skipped) != 2 || len(rep.Warnings) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if !errors.Is(rep.Skipped[0].Reason, track.ErrNotGPX) || !strings.Contains(rep.Skipped[0].Reason.Error(), "root element is <kml>") ||
		!errors.Is(rep.Skipped[1].Reason, track.ErrNoPoints) || !strings.Contains(rep.Warnings[0].Reason.Error(), "1 waypoint(s) not taken") {
		t.Fatalf("reasons %v; warnings %v", rep.Skipped, rep.Warnings)
	}
}

// TestTrackRefusedStoresNothing: Files with a bad GPX among good files
// stores no record and commits no blob.
func TestTrackRefusedStoresNothing(t *testing.T) {
	p := newProject(t, "p")
	store := mem.New()
	bad := filepath.Join(t.TempDir(), "bad.gpx")
	os.WriteFile(bad, []byte("lat,lon\n1,2\n"), 0o644)
	_, err := Files(ctx, p, []string{filepath.Join(photos, "gps.jpg"), bad}, Options{Store: store})
	if !errors.Is(err, track.ErrNotGPX) || !strings.Contains(err.Error(), "bad.gpx") {
		t.Fatalf("%v", err)
	}
	if n, _ := p.RecordCount(ctx); n != 1 {
		t.Fatalf("%d records", n)
	}
	n := 0
	store.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs committed", n)
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
