package ingest

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
)

// photos are the fixtures of package thumbs (testdata/photos at the root).
const photos = "../testdata/photos"

var ctx = context.Background()

// newProject creates a project with a new device as its creator, in a
// database of its own.
func newProject(t testing.TB, name string) *project.Project {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "project.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	id, err := project.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	p, err := project.Create(ctx, d, id, name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFileEXIF(t *testing.T) {
	p := newProject(t, "p")
	store := mem.New()
	r, err := File(ctx, p, filepath.Join(photos, "gps.jpg"), Options{Store: store, Tags: []string{"spring"}})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Observation
	// exiftool wrote DateTimeOriginal 2024:05:17 09:41:23 at -03:00 and
	// GPS 3.4653 S, 62.2159 W (testdata/photos/make.sh).
	if want := time.Date(2024, 5, 17, 12, 41, 23, 0, time.UTC); !o.Created.Equal(want) {
		t.Errorf("created %v, want %v", o.Created, want)
	}
	if o.Position == nil || math.Abs(o.Position.Lat+3.4653) > 1e-4 || math.Abs(o.Position.Lon+62.2159) > 1e-4 {
		t.Errorf("position %+v", o.Position)
	}
	a := o.Attachments[0]
	if a.Kind != project.AttachPhoto || a.MediaType != "image/jpeg" || a.Name != "gps.jpg" || a.Preview == nil || a.Thumbnail == nil {
		t.Fatalf("attachment %+v", a)
	}
	if max(a.Thumbnail.Width, a.Thumbnail.Height) > 400 || a.Original.Width == 0 {
		t.Errorf("sizes %+v %+v", a.Thumbnail, a.Original)
	}
	for _, v := range a.Variants() {
		info, err := store.Stat(ctx, v.CID)
		if err != nil || info.Size != v.Size {
			t.Errorf("%s: %v %v", v.Name, info, err)
		}
	}
	st, err := p.Observation(ctx, o.ID)
	if err != nil || st.Tags[0] != "spring" {
		t.Fatal(st, err)
	}
	ws, _ := p.WantedBlobs(ctx, project.Field)
	if len(ws) != 2 || ws[0].CID != a.Thumbnail.CID || ws[1].CID != a.Preview.CID || !ws[0].ObservedAt.Equal(o.Created) {
		t.Fatalf("wanted %+v", ws)
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	copyFile := func(src, dst string) {
		b, err := os.ReadFile(filepath.Join(photos, src))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dir, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("baseline.jpg", "day1/a.jpg")
	copyFile("orient-6.jpg", "day1/b.jpg")
	copyFile("other.heic", "day2/c.heic")
	copyFile("bad-truncated.jpg", "day2/broken.jpg")
	os.WriteFile(filepath.Join(dir, "day2/interview.m4a"), []byte("\x00\x00\x00\x20ftypM4A fake audio"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("river rose 40 cm overnight\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".DS_Store"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "empty.jpg"), nil, 0o644)
	os.Symlink("notes.txt", filepath.Join(dir, "link.txt"))

	p := newProject(t, "p")
	var calls []Progress
	rep, err := Dir(ctx, p, dir, Options{Store: mem.New(), GroupSize: 2}, func(pr Progress) { calls = append(calls, pr) })
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]project.AttachmentKind{}
	variants := map[string]int{}
	for _, r := range rep.Records {
		a := r.Observation.Attachments[0]
		kinds[a.Name] = a.Kind
		variants[a.Name] = len(a.Variants())
	}
	want := map[string]project.AttachmentKind{"a.jpg": project.AttachPhoto, "b.jpg": project.AttachPhoto, "c.heic": project.AttachPhoto,
		"broken.jpg": project.AttachPhoto, "interview.m4a": project.AttachAudio, "notes.txt": project.AttachFile}
	for n, k := range want {
		if kinds[n] != k {
			t.Errorf("%s: kind %q, want %q", n, kinds[n], k)
		}
	}
	if len(rep.Records) != len(want) {
		t.Errorf("imported %d: %v", len(rep.Records), kinds)
	}
	if variants["a.jpg"] != 3 || variants["c.heic"] != 1 || variants["broken.jpg"] != 1 || variants["notes.txt"] != 1 {
		t.Errorf("variants %v", variants)
	}
	reasons := map[string]error{}
	for _, s := range rep.Skipped {
		reasons[filepath.Base(s.Path)] = s.Reason
	}
	if !errors.Is(reasons[".DS_Store"], ErrHidden) || !errors.Is(reasons["empty.jpg"], ErrEmpty) || !errors.Is(reasons["link.txt"], ErrIrregular) {
		t.Errorf("skipped %v", reasons)
	}
	if len(rep.Warnings) != 1 || filepath.Base(rep.Warnings[0].Path) != "broken.jpg" {
		t.Errorf("warnings %v", rep.Warnings)
	}
	last := calls[len(calls)-1]
	if len(calls) != len(want) || last.Done != last.Total || last.Bytes != last.TotalBytes {
		t.Errorf("progress %+v", calls)
	}
	obs, _ := p.Observations(ctx, project.ObservationQuery{})
	if len(obs) != len(want) {
		t.Errorf("%d observations", len(obs))
	}
}

func TestFiles(t *testing.T) {
	p := newProject(t, "p")
	store := mem.New()
	note := filepath.Join(t.TempDir(), "note.wav")
	os.WriteFile(note, []byte("RIFF....WAVEfmt not really audio"), 0o644)
	files := []string{note, filepath.Join(photos, "gps.jpg"), filepath.Join(photos, "orient-6.jpg")}
	r, err := Files(ctx, p, files, Options{Store: store, Notes: "heron nest"})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Observation
	if len(o.Attachments) != 3 || o.Attachments[0].Kind != project.AttachAudio || o.Attachments[1].Thumbnail == nil || o.Notes != "heron nest" {
		t.Fatalf("observation %+v", o)
	}
	// Time and place come from the first photo that has them.
	if want := time.Date(2024, 5, 17, 12, 41, 23, 0, time.UTC); !o.Created.Equal(want) || o.Position == nil || math.Abs(o.Position.Lat+3.4653) > 1e-4 {
		t.Errorf("created %v position %+v", o.Created, o.Position)
	}
	// A forced position wins over EXIF.
	r, err = Files(ctx, p, files[1:2], Options{Store: store, Position: &project.Position{Lat: 1, Lon: 2}, ForcePosition: true})
	if err != nil || r.Observation.Position.Lat != 1 {
		t.Fatalf("forced position: %v %+v", err, r.Observation.Position)
	}
	// One bad file: nothing is stored.
	before := p.Vector()[p.Self().PeerID()]
	if _, err := Files(ctx, p, []string{files[1], "/nonexistent.jpg"}, Options{Store: store}); err == nil {
		t.Fatal("a missing file was accepted")
	}
	if _, err := Files(ctx, p, []string{files[1], t.TempDir()}, Options{Store: store}); !errors.Is(err, ErrIrregular) {
		t.Fatalf("a directory: %v", err)
	}
	if p.Vector()[p.Self().PeerID()] != before {
		t.Fatal("a record was written for a failed import")
	}
}

// Tags, notes or a position the record would refuse are refused before
// any blob is stored.
func TestRefusesBadTextFirst(t *testing.T) {
	p := newProject(t, "import")
	store := mem.New()
	path := filepath.Join(photos, "gps.jpg")
	for _, opts := range []Options{
		{Tags: []string{strings.Repeat("x", 129)}}, // project's limit: 128 bytes
		{Notes: strings.Repeat("x", 16<<10+1)},     // project's limit: 16 KiB
		{Tags: []string{"ok", ""}},
		{Position: &project.Position{Lat: 91}},
	} {
		opts.Store = store
		if _, err := Files(ctx, p, []string{path}, opts); !errors.Is(err, project.ErrMalformed) {
			t.Errorf("%+v: %v", opts, err)
		}
		if _, err := File(ctx, p, path, opts); !errors.Is(err, project.ErrMalformed) {
			t.Errorf("File %+v: %v", opts, err)
		}
		if _, err := Dir(ctx, p, photos, opts, nil); !errors.Is(err, project.ErrMalformed) {
			t.Errorf("Dir %+v: %v", opts, err)
		}
		n := 0
		store.Enumerate(ctx, func(blob.Info) error { n++; return nil })
		if n != 0 {
			t.Fatalf("%+v: %d blobs stored", opts, n)
		}
	}
}

// A PNG photo's thumbnail and preview are JPEGs: the wants say so, so a
// device that receives them stores the right type.
func TestVariantMediaTypes(t *testing.T) {
	p := newProject(t, "types")
	if _, err := File(ctx, p, filepath.Join(photos, "alpha8.png"), Options{Store: mem.New()}); err != nil {
		t.Fatal(err)
	}
	f, _ := p.FilterOf(ctx, p.Self().PeerID())
	wants, err := p.WantedBlobs(ctx, f)
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
