package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/view"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var (
	categoryFile = filepath.Join("..", "..", "testdata", "categories", "rio-negro.comapeocat")
	roadGPX      = filepath.Join("..", "..", "testdata", "tracks", "logging-road.gpx")
	photo        = filepath.Join(photoDir, "gps.jpg")
)

// geojsonSchema compiles geojson.org's FeatureCollection schema (vendored
// in gis/testdata, from github.com/geojson/schema).
func geojsonSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "gis", "testdata", "FeatureCollection.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	const url = "https://geojson.org/schema/FeatureCollection.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type feature struct {
	ID       string `json:"id"`
	Geometry struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

// exportGeoJSON runs export --geojson on data, checks the file against
// the GeoJSON schema, and returns its bytes and features.
func exportGeoJSON(t *testing.T, data string) ([]byte, []feature) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.geojson")
	r := fsRun(t, "export", "--data", data, "--geojson", path)
	expectCode(t, r, 0, "export --geojson")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := geojsonSchema(t).Validate(inst); err != nil {
		t.Fatalf("the GeoJSON schema refuses the export: %v\n%s", err, b)
	}
	var fc struct {
		Type     string    `json:"type"`
		Features []feature `json:"features"`
	}
	if err := json.Unmarshal(b, &fc); err != nil || fc.Type != "FeatureCollection" {
		t.Fatalf("%v %s", err, b)
	}
	return b, fc.Features
}

// TestFieldDataDoneWhen is issue 19's "done when": a category file
// imported, an observation added with a category and fields, a GPX track
// imported, and export --geojson gives a FeatureCollection with the
// observation (its category and fields as properties) and the track as a
// LineString, checked against geojson.org's schema; on a second device,
// after it joins and syncs, the same.
func TestFieldDataDoneWhen(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "Rio Negro survey", "--name", "base camp"), 0, "init A")

	r := fsRun(t, "categories", "import", "--data", A, categoryFile)
	expectCode(t, r, 0, "categories import")
	if !strings.Contains(r.stdout, `CoMapeo category file "Rio Negro land documentation 1.2"): 4 added`) {
		t.Fatalf("import: %s", r.stdout)
	}
	r = fsRun(t, "categories", "--data", A)
	if !strings.Contains(r.stdout, "river-crossing  River crossing  observations  depth, crossing_type, uses, who, date_seen") {
		t.Fatalf("categories: %s", r.stdout)
	}

	r = fsRun(t, "add", "--data", A, "--json", "--category", "river-crossing", "--field", "depth=1.2", "--field", "crossing_type=Canoe",
		"--field", "uses=fishing;school", "--field", "who=Ana e Zé", "--field", "date_seen=2026-05-17",
		"--lat", "-0.1257", "--lon", "-67.0891", "--note", "water high", photo)
	expectCode(t, r, 0, "add with a category")
	var added map[string]string
	json.Unmarshal([]byte(r.stdout), &added)
	obsID := added["id"]

	tracks := filepath.Join(root, "tracks")
	os.MkdirAll(tracks, 0o755)
	b, _ := os.ReadFile(roadGPX)
	os.WriteFile(filepath.Join(tracks, "logging-road.gpx"), b, 0o644)
	r = fsRun(t, "import", "--data", A, tracks)
	expectCode(t, r, 0, "import a GPX")
	if !strings.Contains(r.stdout, "imported 1 observations") || !strings.Contains(r.stdout, "1 waypoint(s) not taken") {
		t.Fatalf("import: %s", r.stdout)
	}

	// ls and show say it.
	r = fsRun(t, "ls", "--data", A)
	for _, want := range []string{"[River crossing] depth=1.2 crossing_type=canoe uses=fishing;school", `track "Along the logging road", 60 points, 0.`, "logging-road.gpx[LO]"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("ls lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := fsRun(t, "ls", "--data", A, "--category", "river-crossing"); strings.Count(strings.TrimSpace(r.stdout), "\n") != 0 || !strings.Contains(r.stdout, obsID) {
		t.Fatalf("ls --category: %s", r.stdout)
	}
	r = fsRun(t, "show", "--data", A, obsID)
	for _, want := range []string{"category  River crossing (river-crossing)", "Depth (m)", "Crossing type  Canoe (canoe)", "Going to school (school)"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	r = fsRun(t, "ls", "--data", A, "--json", "--category", "river-crossing")
	var v view.Observation
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Category.Name != "River crossing" || v.Fields["depth"] != 1.2 {
		t.Fatalf("ls --json: %v %s", err, r.stdout)
	}

	check := func(device string, features []feature) {
		t.Helper()
		var obs, line *feature
		for i := range features {
			switch f := &features[i]; f.Properties["kind"] {
			case "observation":
				obs = f
			case "track":
				line = f
			}
		}
		if len(features) != 2 || obs == nil || line == nil {
			t.Fatalf("%s: features %+v", device, features)
		}
		p := obs.Properties
		if obs.Geometry.Type != "Point" || obs.ID != obsID || p["category"] != "river-crossing" || p["category_name"] != "River crossing" ||
			p["depth"] != 1.2 || p["crossing_type"] != "canoe" || p["uses"] != "fishing;school" || p["who"] != "Ana e Zé" ||
			p["date_seen"] != "2026-05-17" || p["notes"] != "water high" || p["device"] != "base camp" {
			t.Fatalf("%s: observation %+v", device, obs)
		}
		var coords [][]float64
		json.Unmarshal(line.Geometry.Coordinates, &coords)
		if line.Geometry.Type != "LineString" || len(coords) != 60 || len(coords[0]) != 3 || line.Properties["track_name"] != "Along the logging road" ||
			line.Properties["track_start"] != "2026-05-17T08:00:00Z" {
			t.Fatalf("%s: track %s %+v", device, line.Geometry.Type, line.Properties)
		}
	}
	gjA, fa := exportGeoJSON(t, A)
	check("A", fa)

	// B joins and syncs; its export holds the same features.
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "Maria's phone", s.info["invite"].(string)), 0, "join B")
	expectCode(t, fsRun(t, "sync", "--data", B, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "60s"), 0, "sync B")
	gjB, fb := exportGeoJSON(t, B)
	check("B", fb)
	if !bytes.Equal(gjA, gjB) {
		t.Fatalf("the two devices' exports differ:\n%s\n%s", gjA, gjB)
	}
	if r := fsRun(t, "categories", "--data", B); !strings.Contains(r.stdout, "logging-road    Logging road    tracks        width, in_use") {
		t.Fatalf("categories on B: %s", r.stdout)
	}
	// A member may not import categories.
	r = fsRun(t, "categories", "import", "--data", B, categoryFile)
	if r.code != 1 || !strings.Contains(r.stderr, "this device is a member; only the creator and coordinators change the categories") {
		t.Fatalf("member import: %d %s", r.code, r.stderr)
	}

	// B's CSV reads back with encoding/csv; its GPX passes the GPX 1.1
	// schema (when xmllint is here).
	csvPath, gpxPath := filepath.Join(root, "b.csv"), filepath.Join(root, "b.gpx")
	expectCode(t, fsRun(t, "export", "--data", B, "--csv", csvPath, "--gpx", gpxPath), 0, "export --csv --gpx")
	raw, _ := os.ReadFile(csvPath)
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || !bytes.HasPrefix(raw, []byte("\xef\xbb\xbf")) {
		t.Fatalf("csv: %v %q", err, rows)
	}
	if xmllint, err := exec.LookPath("xmllint"); err == nil {
		out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("..", "..", "gis", "testdata", "gpx-1.1.xsd"), gpxPath).CombinedOutput()
		if err != nil {
			t.Fatalf("xmllint: %v\n%s", err, out)
		}
	}
}

// blobFiles counts the blob files under a data directory.
func blobFiles(t *testing.T, dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasPrefix(d.Name(), "baf") {
			n++
		}
		return nil
	})
	return n
}

// TestFieldDataRefusals: every refusal has words and an exit code, and
// writes nothing.
func TestFieldDataRefusals(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	expectCode(t, fsRun(t, "categories", "import", "--data", A, categoryFile), 0, "categories import")
	notGPX := filepath.Join(root, "route.gpx")
	os.WriteFile(notGPX, []byte("<kml xmlns=\"http://www.opengis.net/kml/2.2\"/>\n"), 0o644)
	waypoints := filepath.Join(root, "waypoints.gpx")
	os.WriteFile(waypoints, []byte(`<gpx version="1.1" creator="x"><wpt lat="1" lon="2"/></gpx>`), 0o644)
	cats := filepath.Join("..", "..", "testdata", "categories")
	before := fsRun(t, "ls", "--data", A, "--json", "--deleted").stdout
	blobs := blobFiles(t, A)
	for _, c := range []struct {
		args  []string
		code  int
		words string
	}{
		{[]string{"add", "--category", "nosuch", photo}, 1, `no such category: "nosuch" (list them with 'fieldsync categories')`},
		{[]string{"add", "--category", "river-crossing", "--field", "colour=red", photo}, 1, `category "river-crossing" has no field "colour"`},
		{[]string{"add", "--category", "river-crossing", "--field", "depth=deep", photo}, 1, `field "depth" (Depth (m)): "deep" is not a number`},
		{[]string{"add", "--category", "river-crossing", "--field", "depth=1,5", photo}, 1, "write decimals with a dot: 1.5"},
		{[]string{"add", "--category", "river-crossing", "--field", "crossing_type=swim", photo}, 1, `"swim" is not one of its options: ford (Ford), bridge (Bridge), canoe (Canoe)`},
		{[]string{"add", "--category", "river-crossing", "--field", "uses=fishing;party", photo}, 1, `"party" is not one of its options`},
		{[]string{"add", "--category", "river-crossing", "--field", "date_seen=17/05/2026", photo}, 1, "is not a date (write it as 2026-05-17)"},
		{[]string{"add", "--category", "logging-road", photo}, 1, "is for tracks only"},
		{[]string{"add", "--category", "river-crossing", roadGPX}, 1, "is for observations only"},
		{[]string{"add", notGPX}, 1, "not a GPX file: its root element is <kml>, not <gpx>: nothing was stored"},
		{[]string{"add", waypoints}, 1, "no track or route points in the GPX file (it has 1 waypoints: fieldsync takes tracks and routes)"},
		{[]string{"categories", "import", filepath.Join(cats, "not-categories.json")}, 1, "not a category file: a GeoJSON file: give a CoMapeo category file (.comapeocat) or a JSON file of Mapeo presets"},
		{[]string{"categories", "import", photo}, 1, "neither a CoMapeo category file (.comapeocat, a zip) nor a JSON file of presets"},
		{[]string{"categories", "import", filepath.Join(cats, "missing-field.comapeocat")}, 1, `uses field "elevation", which fields.json does not define: nothing was imported`},
		{[]string{"categories", "import", filepath.Join(cats, "unsupported-version-2.comapeocat")}, 1, "format version 2.0: fieldsync reads version 1"},
		{[]string{"categories", "nosuch"}, 1, `no such category: "nosuch"`},
		{[]string{"ls", "--category", "nosuch"}, 1, `no such category: "nosuch"`},
		{[]string{"export", "--category", "nosuch", "--csv", filepath.Join(root, "x.csv")}, 1, `no such category: "nosuch"`},
		{[]string{"add", "--field", "depth=1", "--lat", "1", "--lon", "1"}, 2, "--field goes with --category"},
		{[]string{"add", "--category", "river-crossing", "--field", "depth", photo}, 2, `--field "depth": want KEY=VALUE`},
		{[]string{"add", "--category", "river-crossing", "--field", "depth=1", "--field", "depth=2", photo}, 2, "--field depth given twice"},
		{[]string{"add"}, 2, "no FILE given"},
		{[]string{"export", "--csv", "-", "--gpx", "-"}, 2, "only one export can go to standard output"},
		{[]string{"export", "--geojson", filepath.Join(root, "x.geojson"), "--car", filepath.Join(root, "x.car")}, 2, "export one kind at a time"},
		{[]string{"edit", "--no-category", "--field", "depth=1", "someid"}, 2, "--no-category removes the field values"},
	} {
		r := fsRun(t, append(c.args[:1:1], append([]string{"--data", A}, c.args[1:]...)...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.words) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.words)
		}
	}
	if after := fsRun(t, "ls", "--data", A, "--json", "--deleted").stdout; after != before {
		t.Fatalf("refusals wrote observations:\n%s", after)
	}
	if n := blobFiles(t, A); n != blobs {
		t.Fatalf("refusals stored %d blobs", n-blobs)
	}
	if _, err := os.Stat(filepath.Join(root, "x.csv")); err == nil {
		t.Fatal("a refused export wrote its file")
	}
}

// TestFieldDataEditWithoutCategory: fields given to an observation that
// has no category are refused in words that say so (not "no such
// category", which it once said, no category having been named), and
// with a category they are taken.
func TestFieldDataEditWithoutCategory(t *testing.T) {
	A := filepath.Join(t.TempDir(), "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	expectCode(t, fsRun(t, "categories", "import", "--data", A, categoryFile), 0, "categories import")
	r := fsRun(t, "add", "--data", A, "--json", "--lat", "-0.1257", "--lon", "-67.0891")
	expectCode(t, r, 0, "add without a category")
	var added map[string]string
	json.Unmarshal([]byte(r.stdout), &added)
	id := added["id"]
	r = fsRun(t, "edit", "--data", A, "--field", "depth=1.2", id)
	if r.code != 1 || strings.Contains(r.stderr, "no such category") ||
		!strings.Contains(r.stderr, "fieldsync edit: the observation has no category, so no fields: give it a category along with its fields (list them with 'fieldsync categories')") {
		t.Fatalf("edit --field without a category: exit %d, %q", r.code, r.stderr)
	}
	expectCode(t, fsRun(t, "edit", "--data", A, "--category", "river-crossing", "--field", "depth=1.2", id), 0, "edit with a category and a field")
	if r := fsRun(t, "show", "--data", A, id); !strings.Contains(r.stdout, "Depth (m)  1.2") {
		t.Fatalf("show: %s", r.stdout)
	}
}

// TestExportReportJSON: export --json reports in docs/json.md's
// conventions (snake_case keys, lists never null), per export. (It once
// printed Go's field names and "MissingTracks": null.)
func TestExportReportJSON(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	expectCode(t, fsRun(t, "add", "--data", A, "--lat", "-0.1257", "--lon", "-67.0891", "--note", "a"), 0, "add")
	r := fsRun(t, "export", "--data", A, "--json", "--geojson", filepath.Join(root, "x.geojson"), "--csv", filepath.Join(root, "x.csv"))
	expectCode(t, r, 0, "export --json")
	var reps map[string]map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	for _, k := range []string{"geojson", "csv"} {
		rep := reps[k]
		if rep["observations"] != 1.0 || rep["points"] != 1.0 || rep["lines"] != 0.0 || rep["no_position"] != 0.0 {
			t.Errorf("%s report: %s", k, r.stdout)
		}
		if m, ok := rep["missing_tracks"].([]any); !ok || len(m) != 0 {
			t.Errorf("%s: missing_tracks %v, want []", k, rep["missing_tracks"])
		}
	}
	if len(reps) != 2 {
		t.Errorf("reports %s", r.stdout)
	}
}

// TestExportMissingFolder: an export into a folder that does not exist
// says so (it once named its temporary file), and writes nothing.
func TestExportMissingFolder(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	missing := filepath.Join(root, "no-such-folder")
	r := fsRun(t, "export", "--data", A, "--geojson", filepath.Join(missing, "x.geojson"))
	if r.code != 1 || !strings.Contains(r.stderr, "the folder "+missing+" does not exist: create it, or give another path") {
		t.Fatalf("export into a missing folder: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("the folder was made: %v", err)
	}
}

// TestImportHelpGPX: import's help says what a .gpx file becomes (it
// once said only photos and "other files, as attachments").
func TestImportHelpGPX(t *testing.T) {
	code, out, _ := run(t, "", "import", "--help")
	if code != exitOK || !strings.Contains(out, "a GPX file (.gpx) becomes a track") || !strings.Contains(out, "a .gpx file that is not GPX") {
		t.Fatalf("import --help: %d\n%s", code, out)
	}
}
