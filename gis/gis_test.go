package gis

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/track"
	"github.com/fieldsync/fieldsync/view"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

var t0 = time.Date(2026, 5, 17, 8, 0, 0, 0, time.UTC)

// sample is a project of three observations and two tracks: one
// observation with a category and every kind of field value, one with a
// field key that collides with a column of fieldsync's own and a formula
// in its notes, one without a position; a track of one segment with
// elevations, a track of two segments without, on the antimeridian.
func sample() *Data {
	start, end := t0, t0.Add(99*time.Second)
	walk := &track.Track{Segments: [][]track.Point{make([]track.Point, 100)}}
	for i := range walk.Segments[0] {
		walk.Segments[0][i] = track.Point{Lat: -0.12 - float64(i)*1e-5, Lon: -67.08 + float64(i)*1e-5, Ele: 60 + float64(i)/10, HasEle: true,
			Time: t0.Add(time.Duration(i) * time.Second)}
	}
	split := &track.Track{Segments: [][]track.Point{
		{{Lat: 10, Lon: 179.9999}, {Lat: 10.001, Lon: 180}},
		{{Lat: 10.002, Lon: -179.9999}, {Lat: 10.003, Lon: -179.9998}, {Lat: 10.004, Lon: -179.9997}},
		{{Lat: 10.005, Lon: -179.9996}},
	}}
	cats := []view.Category{
		{ID: "river-crossing", Name: "River crossing", Order: 0, Fields: []view.Field{
			{Key: "depth", Label: "Depth (m)", Type: "number"},
			{Key: "uses", Label: "Used for", Type: "select_many"},
			{Key: "who", Label: "Who was there", Type: "text"},
			{Key: "notes", Label: "More notes", Type: "text"},
		}},
		{ID: "logging-road", Name: "Logging road", Order: 1, Fields: []view.Field{{Key: "width", Label: "Width (m)", Type: "number"}}},
	}
	trackAt := func(cid, name string, tr *track.Track) view.Attachment {
		in := track.Stats(tr)
		vt := &view.Track{Name: name, Points: in.Points, Segments: in.Segments, LengthM: in.Length,
			BBox: [4]float64{in.Bounds.West, in.Bounds.South, in.Bounds.East, in.Bounds.North}}
		if !in.Start.IsZero() {
			vt.Start, vt.End = &start, &end
		}
		return view.Attachment{Kind: "track", MediaType: "application/gpx+xml", Name: name + ".gpx",
			Original: &view.Variant{CID: "bafk-" + cid + "-gpx"}, Points: &view.Variant{CID: "bafk-" + cid}, Track: vt}
	}
	return &Data{ProjectID: "bafyproject", ProjectName: "Rio Negro survey", Exported: t0.Add(24 * time.Hour), Categories: cats,
		Devices: map[string]string{"12D3KooWA": "Maria's phone"},
		Observations: []view.Observation{
			{ID: "obs2crossing", Record: "bafyrec2", Author: "12D3KooWA", Created: t0.Add(time.Hour), Updated: t0.Add(time.Hour),
				Position: &view.Position{Lat: -0.1257123456, Lon: -67.0891, AccuracyM: 5}, Tags: []string{"water=crossing", "dry season"},
				Notes: "=HYPERLINK(\"http://x\")", Category: &view.CategoryRef{ID: "river-crossing", Name: "River crossing"},
				Fields:      map[string]any{"depth": 1.25, "uses": []string{"fishing", "school"}, "who": "Ana, Zé", "notes": "-2 m at noon"},
				Attachments: []view.Attachment{{Kind: "photo", Name: "IMG_1.JPG", Original: &view.Variant{CID: "bafkphoto1"}}}},
			{ID: "obs1plain", Record: "bafyrec1", Author: "12D3KooWB", Created: t0, Updated: t0,
				Position: &view.Position{Lat: 1, Lon: 2}, Tags: []string{}, Fields: map[string]any{}},
			{ID: "obs3nowhere", Record: "bafyrec3", Author: "12D3KooWB", Created: t0.Add(2 * time.Hour), Updated: t0.Add(2 * time.Hour),
				Tags: []string{}, Notes: "told by the elders", Fields: map[string]any{}},
			{ID: "trk1walk", Record: "bafyrec4", Author: "12D3KooWA", Created: t0, Updated: t0, Tags: []string{}, TimeGuessed: false,
				Category: &view.CategoryRef{ID: "logging-road"}, Fields: map[string]any{"width": 4.0},
				Attachments: []view.Attachment{trackAt("walk", "Morning walk", walk)}},
			{ID: "trk2split", Record: "bafyrec5", Author: "12D3KooWB", Created: t0.Add(3 * time.Hour), Updated: t0.Add(3 * time.Hour), Tags: []string{}, Fields: map[string]any{},
				Attachments: []view.Attachment{trackAt("split", "", split)}},
			{ID: "trk3missing", Record: "bafyrec6", Author: "12D3KooWB", Created: t0.Add(4 * time.Hour), Updated: t0.Add(4 * time.Hour), Tags: []string{}, Fields: map[string]any{},
				Attachments: []view.Attachment{trackAt("missing", "", split)}},
		},
		Tracks: map[string]*track.Track{"bafk-walk": walk, "bafk-split": split},
	}
}

// schema compiles the GeoJSON FeatureCollection schema of geojson.org
// (testdata/FeatureCollection.json, from github.com/geojson/schema).
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "FeatureCollection.json"))
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

// ValidGeoJSON reports whether b is a FeatureCollection the schema takes.
func validGeoJSON(t *testing.T, b []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return schema(t).Validate(inst)
}

type fc struct {
	Type     string `json:"type"`
	Name     string `json:"name"`
	Features []struct {
		ID       string `json:"id"`
		Geometry struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
		Properties map[string]any `json:"properties"`
	} `json:"features"`
}

func TestGeoJSON(t *testing.T) {
	var b bytes.Buffer
	rep, err := WriteGeoJSON(&b, sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := validGeoJSON(t, b.Bytes()); err != nil {
		t.Fatalf("the GeoJSON schema refuses it: %v\n%s", err, b.String())
	}
	if rep.Observations != 6 || rep.Points != 2 || rep.Lines != 2 || rep.NoPosition != 1 || len(rep.MissingTracks) != 1 || rep.MissingTracks[0] != "trk3missing" {
		t.Fatalf("report %+v", rep)
	}
	var got fc
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "Rio Negro survey" || len(got.Features) != 4 {
		t.Fatalf("%d features", len(got.Features))
	}
	// In order of creation: obs1plain and trk1walk (same time, by ID),
	// obs2crossing, trk2split.
	var ids []string
	for _, f := range got.Features {
		ids = append(ids, f.ID)
	}
	if strings.Join(ids, " ") != "obs1plain trk1walk/track obs2crossing trk2split/track" {
		t.Fatalf("ids %v", ids)
	}
	cross := got.Features[2]
	p := cross.Properties
	if cross.Geometry.Type != "Point" || string(cross.Geometry.Coordinates) != "[-67.0891,-0.1257123]" {
		t.Fatalf("point %s %s", cross.Geometry.Type, cross.Geometry.Coordinates)
	}
	for k, want := range map[string]any{"id": "obs2crossing", "kind": "observation", "category": "river-crossing", "category_name": "River crossing",
		"depth": 1.25, "uses": "fishing;school", "who": "Ana, Zé", "field_notes": "-2 m at noon", "notes": `=HYPERLINK("http://x")`,
		"tags": "water=crossing;dry season", "accuracy_m": 5.0, "attachments": "IMG_1.JPG", "attachment_cids": "bafkphoto1",
		"created": "2026-05-17T09:00:00Z", "device": "Maria's phone", "record": "bafyrec2", "width": nil, "track_points": nil} {
		if v, ok := p[k]; !ok || v != want {
			t.Errorf("property %s = %#v, want %#v", k, v, want)
		}
	}
	// Every feature has the same properties in the same order.
	var raw struct {
		Features []struct {
			Properties json.RawMessage `json:"properties"`
		} `json:"features"`
	}
	json.Unmarshal(b.Bytes(), &raw)
	order := keysOf(t, raw.Features[0].Properties)
	for i, f := range raw.Features {
		if k := keysOf(t, f.Properties); strings.Join(k, ",") != strings.Join(order, ",") {
			t.Fatalf("feature %d has properties %v, the first %v", i, k, order)
		}
	}
	if !strings.HasPrefix(strings.Join(order, ","), "id,kind,created,updated,category,category_name,depth,uses,who,field_notes,width,tags,notes") {
		t.Fatalf("property order %v", order)
	}
	walk := got.Features[1]
	if walk.Geometry.Type != "LineString" || walk.Properties["track_points"] != 100.0 || walk.Properties["width"] != 4.0 ||
		walk.Properties["category_name"] != "Logging road" || walk.Properties["track_start"] != "2026-05-17T08:00:00Z" || walk.Properties["kind"] != "track" {
		t.Fatalf("walk %+v", walk.Properties)
	}
	var line [][]float64
	json.Unmarshal(walk.Geometry.Coordinates, &line)
	if len(line) != 100 || len(line[0]) != 3 || line[0][0] != -67.08 || line[99][2] != 69.9 {
		t.Fatalf("line %v", line[:2])
	}
	split := got.Features[3]
	var multi [][][]float64
	json.Unmarshal(split.Geometry.Coordinates, &multi)
	if split.Geometry.Type != "MultiLineString" || len(multi) != 2 || len(multi[1]) != 3 || len(multi[0][0]) != 2 || split.Properties["track_start"] != nil {
		t.Fatalf("split %s %v", split.Geometry.Type, multi)
	}

	// The schema is a real check: a line of one position is refused.
	bad := bytes.Replace(b.Bytes(), []byte(`[[179.9999,10],[180,10.001]]`), []byte(`[[179.9999,10]]`), 1)
	if bytes.Equal(bad, b.Bytes()) {
		t.Fatal("test did not change the document")
	}
	if err := validGeoJSON(t, bad); err == nil {
		t.Fatal("the schema took a line of one position")
	}
}

func TestGeoJSONEmpty(t *testing.T) {
	var b bytes.Buffer
	if _, err := WriteGeoJSON(&b, &Data{}); err != nil {
		t.Fatal(err)
	}
	if err := validGeoJSON(t, b.Bytes()); err != nil || !strings.Contains(b.String(), `"features":[`) {
		t.Fatalf("%v %s", err, b.String())
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	rep, err := WriteCSV(&b, sample(), CSVOptions{BOM: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Observations != 6 || rep.NoPosition != 1 || rep.Lines != 3 {
		t.Fatalf("report %+v", rep)
	}
	raw := b.Bytes()
	if !bytes.HasPrefix(raw, []byte("\xef\xbb\xbfid,kind,")) || !bytes.Contains(raw, []byte("\r\n")) {
		t.Fatalf("start %q", raw[:20])
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := strings.Join(rows[0], ",")
	if header != "id,kind,created,updated,time_guessed,lat,lon,accuracy_m,category,category_name,depth,uses,who,field_notes,width,"+
		"tags,notes,attachments,attachment_cids,track_name,track_points,track_length_m,track_start,track_end,author,device,record" {
		t.Fatalf("header %s", header)
	}
	if len(rows) != 7 {
		t.Fatalf("%d rows", len(rows))
	}
	row := map[string]map[string]string{}
	for _, rr := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = rr[i]
		}
		row[m["id"]] = m
	}
	c := row["obs2crossing"]
	for k, want := range map[string]string{"lat": "-0.1257123", "lon": "-67.0891", "accuracy_m": "5", "category_name": "River crossing",
		"depth": "1.25", "uses": "fishing;school", "who": "Ana, Zé", "field_notes": "'-2 m at noon", "notes": `'=HYPERLINK("http://x")`,
		"tags": "water=crossing;dry season", "device": "Maria's phone", "kind": "observation", "width": ""} {
		if c[k] != want {
			t.Errorf("%s = %q, want %q", k, c[k], want)
		}
	}
	if w := row["trk1walk"]; w["kind"] != "track" || w["lat"] != "" || w["track_points"] != "100" || w["width"] != "4" || w["track_name"] != "Morning walk" {
		t.Errorf("walk %v", w)
	}
	if n := row["obs3nowhere"]; n["lat"] != "" || n["notes"] != "told by the elders" {
		t.Errorf("nowhere %v", n)
	}
	// Without a BOM.
	b.Reset()
	WriteCSV(&b, sample(), CSVOptions{})
	if !bytes.HasPrefix(b.Bytes(), []byte("id,")) {
		t.Fatalf("no BOM: %q", b.Bytes()[:10])
	}
}

func TestGPX(t *testing.T) {
	var b bytes.Buffer
	rep, err := WriteGPX(&b, sample())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Points != 2 || rep.Lines != 2 || len(rep.MissingTracks) != 1 {
		t.Fatalf("report %+v", rep)
	}
	s := b.String()
	for _, want := range []string{`<name>Rio Negro survey</name>`, `<wpt lat="-0.1257123" lon="-67.0891"><time>2026-05-17T09:00:00Z</time><name>River crossing obs2cr</name><cmt>obs2crossing</cmt>`,
		"<desc>Depth (m): 1.25&#xA;Used for: fishing; school&#xA;Who was there: Ana, Zé&#xA;More notes: -2 m at noon&#xA;Tags: water=crossing, dry season&#xA;=HYPERLINK(&#34;http://x&#34;)</desc><type>River crossing</type>",
		`<trk><name>Morning walk</name><cmt>trk1walk</cmt><desc>Width (m): 4</desc><type>Logging road</type>`,
		`<trkpt lat="-0.12" lon="-67.08"><ele>60</ele><time>2026-05-17T08:00:00Z</time></trkpt>`,
		`<trkpt lat="10.001" lon="-180"></trkpt>`} {
		if !strings.Contains(s, want) {
			t.Errorf("GPX lacks %q", want)
		}
	}
	if strings.Count(s, "<trkseg>") != 4 || strings.Count(s, "<trkpt") != 106 {
		t.Errorf("%d segments, %d points", strings.Count(s, "<trkseg>"), strings.Count(s, "<trkpt"))
	}
	// Our own reader takes it back (not an independent check: that is
	// xmllint's and GDAL's, below).
	g, err := track.ReadGPX(strings.NewReader(s))
	if err != nil || g.Track.Len() != 106 || g.Waypoints != 2 {
		t.Fatalf("read back: %v %+v", err, g)
	}
}

// TestGPXSchema validates the GPX against the GPX 1.1 schema
// (testdata/gpx-1.1.xsd) with xmllint (Debian's libxml2-utils), which CI
// installs; it skips without it.
func TestGPXSchema(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (apt-get install libxml2-utils)")
	}
	dir := t.TempDir()
	for name, d := range map[string]*Data{"sample.gpx": sample(), "empty.gpx": {}} {
		var b bytes.Buffer
		if _, err := WriteGPX(&b, d); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		os.WriteFile(path, b.Bytes(), 0o644)
		out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("testdata", "gpx-1.1.xsd"), path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "validates") {
			t.Fatalf("xmllint: %v\n%s", err, out)
		}
	}
	// The schema is a real check: a waypoint at longitude 180 is refused.
	bad := filepath.Join(dir, "bad.gpx")
	os.WriteFile(bad, []byte(`<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1" creator="x"><wpt lat="1" lon="180"/></gpx>`), 0o644)
	if out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join("testdata", "gpx-1.1.xsd"), bad).CombinedOutput(); err == nil {
		t.Fatalf("xmllint took longitude 180: %s", out)
	}
}

// ogrinfo runs GDAL's ogrinfo on path and returns its output.
func ogrinfo(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Skip("ogrinfo not installed (apt-get install gdal-bin)")
	}
	out, err := exec.Command(bin, append([]string{"-ro", "-al", "-q"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestGDAL reads the three exports with GDAL (ogrinfo), the library most
// GIS tools (QGIS, ArcGIS Pro's interop, R's sf, Python's geopandas) read
// them with; CI installs gdal-bin, and the test skips without it.
func TestGDAL(t *testing.T) {
	dir := t.TempDir()
	d := sample()
	write := func(name string, fn func(*bytes.Buffer) error) string {
		var b bytes.Buffer
		if err := fn(&b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	gj := write("export.geojson", func(b *bytes.Buffer) error { _, err := WriteGeoJSON(b, d); return err })
	out := ogrinfo(t, gj)
	for _, want := range []string{"OGRFeature(Rio Negro survey):", "depth (Real) = 1.25", "uses (String) = fishing;school",
		"category_name (String) = River crossing", "LINESTRING Z (-67.08 -0.12 60", "MULTILINESTRING", "POINT (-67.0891 -0.1257123)",
		"track_points (Integer) = 100"} {
		if !strings.Contains(out, want) {
			t.Errorf("ogrinfo of the GeoJSON lacks %q\n%s", want, head(out))
		}
	}
	if n := strings.Count(out, "OGRFeature("); n != 4 {
		t.Errorf("GDAL read %d features from the GeoJSON", n)
	}

	gp := write("export.gpx", func(b *bytes.Buffer) error { _, err := WriteGPX(b, d); return err })
	out = ogrinfo(t, gp)
	if n := strings.Count(out, "OGRFeature(waypoints):"); n != 2 {
		t.Errorf("GDAL read %d waypoints\n%s", n, head(out))
	}
	if n := strings.Count(out, "OGRFeature(tracks):"); n != 2 {
		t.Errorf("GDAL read %d tracks\n%s", n, head(out))
	}
	if n := strings.Count(out, "OGRFeature(track_points):"); n != 106 {
		t.Errorf("GDAL read %d track points", n)
	}
	for _, want := range []string{"name (String) = River crossing obs2cr", "type (String) = Logging road", "MULTILINESTRING ((-67.08 -0.12,"} {
		if !strings.Contains(out, want) {
			t.Errorf("ogrinfo of the GPX lacks %q", want)
		}
	}

	cp := write("export.csv", func(b *bytes.Buffer) error { _, err := WriteCSV(b, d, CSVOptions{BOM: true}); return err })
	out = ogrinfo(t, "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat", "-oo", "AUTODETECT_TYPE=YES", cp)
	if n := strings.Count(out, "OGRFeature(export):"); n != 6 {
		t.Errorf("GDAL read %d CSV rows\n%s", n, head(out))
	}
	for _, want := range []string{"id (String) = obs2crossing", "POINT (-67.0891 -0.1257123)", "who (String) = Ana, Zé", "depth (Real) = 1.25"} {
		if !strings.Contains(out, want) {
			t.Errorf("ogrinfo of the CSV lacks %q\n%s", want, head(out))
		}
	}
}

// keysOf lists an object's keys in document order.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return keys
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if depth == 1 {
				keys = append(keys, v)
				// Skip the value.
				var skip json.RawMessage
				if err := d.Decode(&skip); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func head(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func TestDecimal(t *testing.T) {
	for v, want := range map[float64]string{1e-7: "0.0000001", -67.08910004: "-67.0891", 180: "180", 0.1 + 0.2: "0.3", 1e21: "1000000000000000000000"} {
		if got := decimal(v, 7); got != want {
			t.Errorf("decimal(%v) = %s, want %s", v, got, want)
		}
	}
	if _, err := strconv.ParseFloat(decimal(math.Pi, 7), 64); err != nil {
		t.Fatal(err)
	}
}
