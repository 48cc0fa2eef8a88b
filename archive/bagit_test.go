package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

func TestExportBag(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dir := filepath.Join(t.TempDir(), "bag")
	now := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	rep, err := ExportBag(ctx, dir, w.proj, w.store, BagOptions{Now: func() time.Time { return now }, Info: [][2]string{{"Source-Organization", "River\ncommunity"}}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Observations != 4 || rep.Located != 3 || rep.Originals != 5 || rep.PayloadFiles != 7 {
		t.Fatalf("%+v", rep)
	}

	// The real sha256sum checks both manifests.
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("sha256sum (coreutils) not installed")
	}
	for _, m := range []string{"manifest-sha256.txt", "tagmanifest-sha256.txt"} {
		cmd := exec.Command("sha256sum", "--strict", "-c", m)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c %s: %v\n%s", m, err, out)
		}
	}

	// Every payload file is in the manifest, and nothing else.
	manifest := readManifest(t, filepath.Join(dir, "manifest-sha256.txt"))
	var payload []string
	filepath.WalkDir(filepath.Join(dir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			payload = append(payload, filepath.ToSlash(rel))
		}
		return err
	})
	if len(payload) != len(manifest) {
		t.Fatalf("payload %v, manifest %v", payload, manifest)
	}
	var octets int64
	for _, p := range payload {
		if _, ok := manifest[p]; !ok {
			t.Fatalf("%s not in manifest", p)
		}
		st, _ := os.Stat(filepath.Join(dir, p))
		octets += st.Size()
	}
	tags := readManifest(t, filepath.Join(dir, "tagmanifest-sha256.txt"))
	for _, f := range []string{"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "cid-manifest.txt"} {
		if _, ok := tags[f]; !ok {
			t.Fatalf("%s not in tag manifest", f)
		}
	}

	// bag-info.txt: Payload-Oxum matches, labels one per line.
	info := readInfo(t, filepath.Join(dir, "bag-info.txt"))
	if info["Payload-Oxum"] != strconv.FormatInt(octets, 10)+"."+strconv.Itoa(len(payload)) {
		t.Fatalf("Payload-Oxum %q, want %d.%d", info["Payload-Oxum"], octets, len(payload))
	}
	if info["Bagging-Date"] != "2026-11-26" || info["Project-ID"] != w.proj.id.String() || info["Project-Name"] != "Riverbank survey" || info["Source-Organization"] != "River community" {
		t.Fatalf("bag-info %v", info)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bagit.txt")); string(b) != "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" {
		t.Fatalf("bagit.txt %q", b)
	}

	// cid-manifest.txt: each original's CID, recomputed independently of
	// the store from the file's bytes.
	cids := readManifest(t, filepath.Join(dir, "cid-manifest.txt"))
	if len(cids) != 5 {
		t.Fatalf("cid manifest %v", cids)
	}
	names := map[string]bool{}
	for p, c := range cids {
		f, err := os.Open(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		sk, err := chunk.Sum(ctx, f)
		f.Close()
		if err != nil || sk.Root.String() != c {
			t.Fatalf("%s: CID %v, manifest says %s (%v)", p, sk.Root, c, err)
		}
		if !strings.HasPrefix(p, "data/originals/") {
			t.Fatalf("original at %s", p)
		}
		names[filepath.Base(p)] = true
	}
	for _, n := range []string{"2026-05-01_obs-river-1_IMG_0001.JPG", "2026-05-02_obs-bird-2_IMG_0001.JPG", "2026-05-03_obs-night-3_attachment-1.jpg", "2026-05-04_obs-song-4_song.m4a", "2026-05-04_obs-song-4_notes.txt"} {
		if !names[n] {
			t.Fatalf("no original named %s in %v", n, names)
		}
	}

	// observations.json lists every observation and its attachment paths.
	var doc bagJSON
	readJSON(t, filepath.Join(dir, "data", "observations.json"), &doc)
	if len(doc.Observations) != 4 || doc.Project.ID != w.proj.id.String() {
		t.Fatalf("json: %+v", doc)
	}
	for _, o := range doc.Observations {
		for _, a := range o.Attachments {
			v := a.Original
			if v.Path == "" || v.State != "present" || cids["data/"+v.Path] != v.CID || manifest["data/"+v.Path] != v.SHA256 {
				t.Fatalf("json attachment %+v", v)
			}
		}
	}
	validGeoJSON(t, filepath.Join(dir, "data", "observations.geojson"), dir)

	// The directory must not exist.
	if _, err := ExportBag(ctx, dir, w.proj, w.store, BagOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("existing dir: %v", err)
	}
}

func TestExportBagMissing(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.store.Remove(ctx, w.big)
	dir := filepath.Join(t.TempDir(), "bag")
	if _, err := ExportBag(ctx, dir, w.proj, w.store, BagOptions{}); !errors.Is(err, ErrMissingOriginal) {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a failed bag was left in place")
	}
	left, _ := os.ReadDir(filepath.Dir(dir))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	rep, err := ExportBag(ctx, dir, w.proj, w.store, BagOptions{AllowMissing: true})
	if err != nil || len(rep.Missing) != 1 || rep.Missing[0] != w.big || rep.Originals != 4 {
		t.Fatalf("%v %+v", err, rep)
	}
	if info := readInfo(t, filepath.Join(dir, "bag-info.txt")); info["Missing-Original-Count"] != "1" {
		t.Fatal(info)
	}
	var doc bagJSON
	readJSON(t, filepath.Join(dir, "data", "observations.json"), &doc)
	if v := doc.Observations[0].Attachments[0].Original; v.Path != "" || v.State != "absent" {
		t.Fatalf("missing original: %+v", v)
	}
	validGeoJSON(t, filepath.Join(dir, "data", "observations.geojson"), dir)
}

// TestExportBagCorrupt: an original whose stored bytes no longer match its
// CID is not exported as if it were fine.
func TestExportBagCorrupt(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	lie := &lyingStore{Fetcher: w.store, c: w.big}
	_, err := ExportBag(ctx, filepath.Join(t.TempDir(), "bag"), w.proj, lie, BagOptions{})
	if !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("%v", err)
	}
}

type lyingStore struct {
	blob.Fetcher
	c cid.Cid
}

func (l *lyingStore) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	rc, err := l.Fetcher.Fetch(ctx, c)
	if err != nil || c != l.c {
		return rc, err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[100] ^= 1
	return io.NopCloser(bytes.NewReader(b)), nil
}

func readManifest(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, p, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		out[p] = sum
	}
	return out
}

func readInfo(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bag-info line %q", l)
		}
		out[k] = v
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// validGeoJSON checks the structure RFC 7946 requires of what we write: a
// FeatureCollection of Features with Point geometries, positions [lon,
// lat] in range, properties objects; and that attachment paths resolve
// relative to the GeoJSON file.
func validGeoJSON(t *testing.T, path, bag string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fc map[string]json.RawMessage
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatal(err)
	}
	var typ string
	json.Unmarshal(fc["type"], &typ)
	if typ != "FeatureCollection" {
		t.Fatalf("type %q", typ)
	}
	if _, bad := fc["crs"]; bad {
		t.Fatal("crs member (removed by RFC 7946)")
	}
	var feats []map[string]json.RawMessage
	if err := json.Unmarshal(fc["features"], &feats); err != nil {
		t.Fatalf("features: %v", err)
	}
	if len(feats) == 0 {
		t.Fatal("no features")
	}
	for i, f := range feats {
		var ft string
		json.Unmarshal(f["type"], &ft)
		if ft != "Feature" {
			t.Fatalf("feature %d type %q", i, ft)
		}
		var id any
		if err := json.Unmarshal(f["id"], &id); err != nil {
			t.Fatal(err)
		}
		if _, ok := id.(string); !ok {
			t.Fatalf("feature %d id %v", i, id)
		}
		var g struct {
			Type        string    `json:"type"`
			Coordinates []float64 `json:"coordinates"`
		}
		if err := json.Unmarshal(f["geometry"], &g); err != nil {
			t.Fatal(err)
		}
		if g.Type != "Point" || len(g.Coordinates) != 2 {
			t.Fatalf("feature %d geometry %+v", i, g)
		}
		lon, lat := g.Coordinates[0], g.Coordinates[1]
		if lon < -180 || lon > 180 || lat < -90 || lat > 90 {
			t.Fatalf("feature %d position %v out of range", i, g.Coordinates)
		}
		var props map[string]any
		if err := json.Unmarshal(f["properties"], &props); err != nil || props == nil {
			t.Fatalf("feature %d properties: %v", i, err)
		}
		paths, _ := props["attachments"].([]any)
		for _, p := range paths {
			if _, err := os.Stat(filepath.Join(filepath.Dir(path), p.(string))); err != nil {
				t.Fatalf("feature %d attachment: %v", i, err)
			}
		}
	}
	// The first observation is at lon -62.21, lat -3.46: [lon, lat] order.
	var first struct {
		Features []struct {
			Geometry struct{ Coordinates [2]float64 }
		}
	}
	json.Unmarshal(b, &first)
	if first.Features[0].Geometry.Coordinates != [2]float64{-62.21, -3.46} {
		t.Fatalf("first position %v, want [-62.21 -3.46]", first.Features[0].Geometry.Coordinates)
	}
}

func TestSanitize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"IMG 0001.JPG", "IMG_0001.JPG"},
		{"../../etc/passwd", "etc_passwd"},
		{"Fotó del río.jpeg", "Fot_del_r_o.jpeg"},
		{"a\nb\r\nc%20.png", "a_b_c_20.png"},
		{"...", ""},
		{"   ", ""},
		{strings.Repeat("x", 200) + ".jpg", strings.Repeat("x", 76) + ".jpg"},
	} {
		if got := sanitize(c.in, 80); got != c.want {
			t.Errorf("sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	bw := &bagWriter{names: map[string]bool{}}
	o := view.Observation{ID: "", Created: time.Date(2026, 1, 2, 23, 0, 0, 0, time.FixedZone("x", -3*3600))}
	var got []string
	for _, n := range []string{"a.jpg", "A.JPG", "", "a.jpg"} {
		got = append(got, bw.originalName(o, len(got), view.Attachment{Name: n, MediaType: "image/jpeg"}))
	}
	want := []string{"data/originals/2026-01-03_obs_a.jpg", "data/originals/2026-01-03_obs_A-2.JPG", "data/originals/2026-01-03_obs_attachment-3.jpg", "data/originals/2026-01-03_obs_a-3.jpg"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q", i, got[i], want[i])
		}
	}
}
