package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

// The fixtures of the repository: a CoMapeo category file (river crossing
// with every field type, sacred site, patrol, and logging road for
// tracks) and a GPX walk of two segments (testdata/*/README.md).
var (
	categoryFile = filepath.Join("..", "testdata", "categories", "rio-negro.comapeocat")
	walkGPX      = filepath.Join("..", "testdata", "tracks", "river-walk.gpx")
)

// fieldDevice is a device whose project has the fixture's categories and
// one track (of the logging road category, 4 m wide).
func fieldDevice(t *testing.T) (*node.Node, *project.Record) {
	t.Helper()
	ctx := context.Background()
	d := newDevice(t)
	if _, err := d.ImportCategories(ctx, categoryFile, node.CategoryImportOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := d.Add(ctx, []string{walkGPX}, node.ImportOptions{Category: "logging-road", Fields: map[string]string{"width": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	return d, tr
}

// multiUpload is upload with repeated fields (a select many's values).
func (c *client) multiUpload(t testing.TB, fields [][2]string, files map[string][]byte) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, kv := range fields {
		w.WriteField(kv[0], kv[1])
	}
	for name, data := range files {
		fw, _ := w.CreateFormFile("files", name)
		fw.Write(data)
	}
	w.Close()
	req, _ := http.NewRequest("POST", c.base+"/api/observations", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestCategoriesAPI(t *testing.T) {
	d, _ := fieldDevice(t)
	_, c := serve(t, Config{Node: d})
	var got struct {
		Categories []struct {
			ID, Name, Color, Icon string
			AppliesTo             []string `json:"applies_to"`
			Fields                []struct {
				Key, Label, Type, Help string
				Options                []struct{ Value, Label string }
			}
		}
	}
	c.getJSON(t, "/api/categories", 200, &got)
	var ids []string
	for _, cat := range got.Categories {
		ids = append(ids, cat.ID)
	}
	if strings.Join(ids, ",") != "river-crossing,sacred-site,patrol,logging-road" {
		t.Fatalf("categories %v", ids)
	}
	rc := got.Categories[0]
	if rc.Name != "River crossing" || rc.Color != "#1e90ff" || !strings.HasPrefix(rc.Icon, "data:image/svg+xml;base64,") || len(rc.Fields) != 5 {
		t.Errorf("river crossing: %+v", rc)
	}
	var types []string
	for _, f := range rc.Fields {
		types = append(types, f.Type)
	}
	if strings.Join(types, ",") != "number,select_one,select_many,text,date" {
		t.Errorf("field types %v", types)
	}
	if got.Categories[1].Fields[0].Help != "As the elders call it" {
		t.Errorf("help: %+v", got.Categories[1].Fields[0])
	}
}

// An upload with a category and its fields: every type, a select many
// from repeated parts; each refusal (a bad value, an unknown category, a
// track's category, a field the category lacks) is a 400 naming the
// field, and nothing is stored.
func TestUploadWithCategory(t *testing.T) {
	d, _ := fieldDevice(t)
	_, c := serve(t, Config{Node: d})
	jpg := synthJPEG(t, 7)
	before := records(t, d)
	obsBefore, blobsBefore, _ := stored(t, d)
	for _, tc := range []struct {
		name   string
		fields [][2]string
		msg    string
		field  string
	}{
		{"number", [][2]string{{"category", "river-crossing"}, {"field.depth", "deep"}}, `"deep" is not a number`, "depth"},
		{"decimal comma", [][2]string{{"category", "river-crossing"}, {"field.depth", "1,5"}}, "write decimals with a dot: 1.5", "depth"},
		{"option", [][2]string{{"category", "river-crossing"}, {"field.crossing_type", "ferry"}}, `"ferry" is not one of its options`, "crossing_type"},
		{"options", [][2]string{{"category", "river-crossing"}, {"field.uses", "fishing"}, {"field.uses", "flying"}}, `"flying" is not one of its options`, "uses"},
		{"date", [][2]string{{"category", "river-crossing"}, {"field.date_seen", "17/05/2026"}}, "is not a date", "date_seen"},
		{"unknown field", [][2]string{{"category", "river-crossing"}, {"field.colour", "red"}}, `has no field "colour"`, "colour"},
		{"unknown category", [][2]string{{"category", "waterfall"}}, "no such category", ""},
		{"track category", [][2]string{{"category", "logging-road"}}, "is for tracks only", ""},
		{"fields without a category", [][2]string{{"field.depth", "1"}}, "field values need a category", ""},
	} {
		code, out := c.multiUpload(t, tc.fields, map[string][]byte{"a.jpg": jpg})
		msg, _ := out["error"].(string)
		field, _ := out["field"].(string)
		if code != 400 || !strings.Contains(msg, tc.msg) || !strings.Contains(msg, "nothing was stored") || field != tc.field {
			t.Errorf("%s: %d %q (field %q), want 400 with %q (field %q)", tc.name, code, msg, field, tc.msg, tc.field)
		}
		if o, b, s := stored(t, d); o != obsBefore || b != blobsBefore || s != 0 || records(t, d) != before {
			t.Fatalf("%s: stored something: %d observations, %d blobs, %d spooled", tc.name, o, b, s)
		}
	}

	code, out := c.multiUpload(t, [][2]string{{"category", "river-crossing"}, {"notes", "the ford by the school"},
		{"field.depth", " 1.5 "}, {"field.crossing_type", "Ford"}, {"field.uses", "school"}, {"field.uses", "fishing"},
		{"field.who", "Ana, Joaquim"}, {"field.date_seen", "2026-05-17"}, {"field.who_else", ""}, {"lat", "-0.125"}, {"lon", "-67.09"}},
		map[string][]byte{"a.jpg": jpg})
	if code != 201 {
		t.Fatalf("upload: %d %v", code, out)
	}
	o := out["observation"].(map[string]any)
	cat, _ := o["category"].(map[string]any)
	f, _ := o["fields"].(map[string]any)
	if cat["id"] != "river-crossing" || cat["name"] != "River crossing" || cat["color"] != "#1e90ff" ||
		f["depth"] != 1.5 || f["crossing_type"] != "ford" || f["who"] != "Ana, Joaquim" || f["date_seen"] != "2026-05-17" ||
		len(f) != 5 || !slices.Equal(toStrings(f["uses"]), []string{"fishing", "school"}) {
		t.Errorf("observation's category %v and fields %v", cat, f)
	}
	if tags := toStrings(o["tags"]); !slices.Contains(tags, "water=crossing") {
		t.Errorf("the category's default tags: %v", tags)
	}

	// Without photos: records only, as `fieldsync add` without files.
	code, out = c.multiUpload(t, [][2]string{{"category", "sacred-site"}, {"field.name", "Stone of the grandmothers"}}, nil)
	if code != 201 {
		t.Fatalf("upload without files: %d %v", code, out)
	}
	if o := out["observation"].(map[string]any); len(o["attachments"].([]any)) != 0 || o["fields"].(map[string]any)["name"] != "Stone of the grandmothers" {
		t.Errorf("without files: %v", o)
	}
	// With nothing at all, nothing to add.
	n := records(t, d)
	if code, out := c.multiUpload(t, nil, nil); code != 400 || !strings.Contains(out["error"].(string), "nothing to add") {
		t.Errorf("empty form: %d %v", code, out)
	}
	if records(t, d) != n {
		t.Error("an empty form wrote a record")
	}
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

// Editing the category and fields from the page: values set, one
// removed, a refused value (400 naming the field, no record written), a
// new category that drops the fields it does not have, and the category
// removed.
func TestEditCategoryFields(t *testing.T) {
	d, _ := fieldDevice(t)
	ctx := context.Background()
	rec, err := d.Add(ctx, nil, node.ImportOptions{Notes: "a crossing", Category: "river-crossing", Fields: map[string]string{"depth": "2", "who": "Ana"}})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.Observation.ID
	_, c := serve(t, Config{Node: d})
	path := "/api/observations/" + id

	code, out := c.do(t, "PATCH", path, map[string]any{"fields": map[string]any{"depth": 0.8, "uses": []string{"market", "fishing"}, "crossing_type": "canoe", "who": ""}})
	if code != 200 {
		t.Fatalf("edit fields: %d %v", code, out)
	}
	f := out["observation"].(map[string]any)["fields"].(map[string]any)
	if f["depth"] != 0.8 || f["crossing_type"] != "canoe" || !slices.Equal(toStrings(f["uses"]), []string{"fishing", "market"}) || f["who"] != nil {
		t.Errorf("fields after the edit: %v", f)
	}
	hist := out["history"].([]any)
	if len(hist) != 2 || hist[len(hist)-1].(map[string]any)["fields"] == nil {
		t.Errorf("history: %v", hist)
	}

	for _, tc := range []struct {
		name  string
		body  any
		code  int
		msg   string
		field string
	}{
		{"bad number", map[string]any{"fields": map[string]any{"depth": "shallow"}}, 400, `field "depth" (Depth (m)): "shallow" is not a number`, "depth"},
		{"bad option", map[string]any{"notes": "changed", "fields": map[string]any{"crossing_type": "ferry"}}, 400, `"ferry" is not one of its options: ford (Ford), bridge (Bridge), canoe (Canoe)`, "crossing_type"},
		{"unknown field", map[string]any{"fields": map[string]any{"colour": "red"}}, 400, `has no field "colour"`, "colour"},
		{"object value", map[string]any{"fields": map[string]any{"depth": map[string]any{"m": 1}}}, 400, "want a string, a number or a list of strings", ""},
		{"unknown category", map[string]any{"category": "waterfall"}, 400, "no such category", ""},
		{"track category", map[string]any{"category": "logging-road"}, 400, "is for tracks only", ""},
	} {
		n := records(t, d)
		code, out := c.do(t, "PATCH", path, tc.body)
		msg, _ := out["error"].(string)
		field, _ := out["field"].(string)
		if code != tc.code || !strings.Contains(msg, tc.msg) || field != tc.field {
			t.Errorf("%s: %d %q (field %q), want %d with %q (field %q)", tc.name, code, msg, field, tc.code, tc.msg, tc.field)
		}
		if records(t, d) != n {
			t.Errorf("%s: a record was written", tc.name)
		}
	}
	if st, _ := d.Observation(ctx, id); st.Notes != "a crossing" {
		t.Errorf("a refused edit changed the notes: %q", st.Notes)
	}

	// Another category: the values of fields it has stay (who), the others go.
	c.do(t, "PATCH", path, map[string]any{"fields": map[string]any{"who": "Ana"}})
	code, out = c.do(t, "PATCH", path, map[string]any{"category": "sacred-site", "fields": map[string]any{"name": "Old ford"}})
	if code != 200 {
		t.Fatalf("new category: %d %v", code, out)
	}
	o := out["observation"].(map[string]any)
	f = o["fields"].(map[string]any)
	if o["category"].(map[string]any)["id"] != "sacred-site" || len(f) != 2 || f["who"] != "Ana" || f["name"] != "Old ford" {
		t.Errorf("after the new category: %v %v", o["category"], f)
	}
	if tags := toStrings(o["tags"]); slices.Contains(tags, "water=crossing") || !slices.Contains(tags, "site=sacred") {
		t.Errorf("default tags after the new category: %v", tags)
	}
	code, out = c.do(t, "PATCH", path, map[string]any{"category": ""})
	if o := out["observation"].(map[string]any); code != 200 || o["category"] != nil || len(o["fields"].(map[string]any)) != 0 {
		t.Errorf("category removed: %d %v", code, out)
	}
}

// The lists and the map by category (and without one), tracks apart.
func TestCategoryFilter(t *testing.T) {
	d, tr := fieldDevice(t)
	ctx := context.Background()
	add := func(cat string, fields map[string]string, pos *project.Position) string {
		r, err := d.Add(ctx, nil, node.ImportOptions{Notes: "x", Category: cat, Fields: fields, Position: pos})
		if err != nil {
			t.Fatal(err)
		}
		return r.Observation.ID
	}
	here := &project.Position{Lat: -0.125, Lon: -67.09}
	crossing := add("river-crossing", map[string]string{"depth": "1"}, here)
	sacred := add("sacred-site", nil, here)
	plain := add("", nil, nil)
	_, c := serve(t, Config{Node: d})

	ids := func(path string) []string {
		var got struct {
			Items []struct{ ID string }
			Total int
		}
		c.getJSON(t, path, 200, &got)
		var out []string
		for _, it := range got.Items {
			out = append(out, it.ID)
		}
		if got.Total != len(out) {
			t.Errorf("%s: total %d, %d items", path, got.Total, len(out))
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for path, want := range map[string][]string{
		"/api/observations?category=river-crossing":         {crossing},
		"/api/observations?category=sacred-site":            {sacred},
		"/api/observations?category=logging-road":           {tr.Observation.ID},
		"/api/observations?category=-":                      {plain},
		"/api/observations?category=waterfall":              nil,
		"/api/observations?placed=0":                        sorted(plain, tr.Observation.ID),
		"/api/observations?placed=0&track=0":                {plain},
		"/api/observations?track=1":                         {tr.Observation.ID},
		"/api/observations?category=river-crossing&limit=1": {crossing},
	} {
		if got := ids(path); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", path, got, want)
		}
	}
	// Paging through a filtered list.
	var page struct {
		Items []struct{ ID string }
		Next  string
	}
	c.getJSON(t, "/api/observations?category=-&limit=1&cursor=", 200, &page)
	if len(page.Items) != 1 || page.Next != "" {
		t.Errorf("one page of one: %+v", page)
	}
	if code := status(t, c.get(t, "/api/observations?track=2")); code != 400 {
		t.Errorf("track=2: %d", code)
	}

	var m struct {
		Points [][4]any
		Tracks []struct {
			ID, Name, Category string
			Points             int
			LengthM            float64 `json:"length_m"`
			BBox               [4]float64
		}
	}
	c.getJSON(t, "/api/map", 200, &m)
	if len(m.Points) != 2 || len(m.Tracks) != 1 {
		t.Fatalf("map: %+v", m)
	}
	for _, p := range m.Points {
		if want := map[string]string{crossing: "river-crossing", sacred: "sacred-site"}[p[2].(string)]; p[3] != want {
			t.Errorf("point %v: category %v, want %s", p, p[3], want)
		}
	}
	if tk := m.Tracks[0]; tk.ID != tr.Observation.ID || tk.Name != "Morning walk to the river" || tk.Category != "logging-road" ||
		tk.Points != 115 || tk.LengthM < 700 || tk.BBox[0] > tk.BBox[2] || tk.BBox[1] > tk.BBox[3] {
		t.Errorf("track %+v", tk)
	}
	c.getJSON(t, "/api/map?category=sacred-site", 200, &m)
	if len(m.Points) != 1 || m.Points[0][2] != sacred || len(m.Tracks) != 0 {
		t.Errorf("map of sacred sites: %+v", m)
	}
}

// A track's line as GeoJSON: two segments make a MultiLineString of every
// point, [lon, lat]; revalidated by its ETag; an observation without a
// track, or whose points are not here, has none.
func TestTrackLine(t *testing.T) {
	d, tr := fieldDevice(t)
	plain := importPhoto(t, d, photo(t, t.TempDir(), "a.jpg", 1, nil))
	_, c := serve(t, Config{Node: d})
	path := "/api/observations/" + tr.Observation.ID + "/track"
	resp := c.get(t, path)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" {
		t.Fatalf("track: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var f struct {
		Type     string
		Geometry struct {
			Type        string
			Coordinates [][][]float64
		}
		Properties map[string]any
	}
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range f.Geometry.Coordinates {
		n += len(line)
		for _, p := range line {
			if len(p) != 2 || p[0] > -66 || p[0] < -68 || p[1] > 1 || p[1] < -1 {
				t.Fatalf("point %v: want [lon, lat] beside the Rio Negro", p)
			}
		}
	}
	if f.Type != "Feature" || f.Geometry.Type != "MultiLineString" || len(f.Geometry.Coordinates) != 2 || n != 115 ||
		f.Properties["name"] != "Morning walk to the river" || f.Properties["category"] != "logging-road" {
		t.Errorf("track feature: %s %s, %d lines of %d points, %v", f.Type, f.Geometry.Type, len(f.Geometry.Coordinates), n, f.Properties)
	}
	if code := status(t, c.get(t, path, "If-None-Match", resp.Header.Get("ETag"))); code != 304 {
		t.Errorf("revalidation: %d", code)
	}
	var e map[string]any
	c.getJSON(t, "/api/observations/"+plain.Observation.ID+"/track", 404, &e)
	if !strings.Contains(e["error"].(string), "has no track") {
		t.Errorf("no track: %v", e)
	}
	c.getJSON(t, "/api/observations/nosuch/track", 404, nil)

	// The points blob gone from this device: 404 with its state.
	for _, a := range tr.Observation.Attachments {
		if a.Points != nil {
			d = offline(t, d, func(pc pieces) {
				if err := pc.store.Remove(context.Background(), a.Points.CID); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	_, c = serve(t, Config{Node: d})
	c.getJSON(t, path, 404, &e)
	if e["state"] != "absent" || !strings.Contains(e["error"].(string), "not on this device yet") {
		t.Errorf("points absent: %v", e)
	}
}

// The exports: a download (attachment, named after the project) of the
// right media type, each read by a reader that is not ours; ?category=
// narrows it; an unknown category or format is refused in JSON.
func TestExport(t *testing.T) {
	d, tr := fieldDevice(t)
	ctx := context.Background()
	rec, err := d.Add(ctx, nil, node.ImportOptions{Notes: "the ford", Category: "river-crossing",
		Fields: map[string]string{"depth": "1.5", "uses": "fishing; school"}, Position: &project.Position{Lat: -0.125, Lon: -67.09}})
	if err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d})
	get := func(path, wantType, wantExt string) []byte {
		t.Helper()
		resp := c.get(t, path)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType {
			t.Fatalf("%s: %d %q: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
		}
		disp, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || !strings.HasPrefix(params["filename"], "river-survey-") || !strings.HasSuffix(params["filename"], wantExt) {
			t.Errorf("%s: Content-Disposition %q", path, resp.Header.Get("Content-Disposition"))
		}
		return b
	}

	var fc struct {
		Type     string
		Features []struct {
			Type     string
			Geometry struct {
				Type        string
				Coordinates json.RawMessage
			}
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(get("/api/export/geojson", "application/geo+json", ".geojson"), &fc); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, f := range fc.Features {
		kinds[f.Properties["id"].(string)] = f.Geometry.Type
		if f.Properties["id"] == rec.Observation.ID && (f.Properties["category"] != "river-crossing" || f.Properties["depth"] != 1.5 || f.Properties["category_name"] != "River crossing") {
			t.Errorf("the observation's properties: %v", f.Properties)
		}
	}
	if fc.Type != "FeatureCollection" || kinds[rec.Observation.ID] != "Point" || kinds[tr.Observation.ID] != "MultiLineString" {
		t.Errorf("GeoJSON: %s, %v", fc.Type, kinds)
	}

	rows, err := csv.NewReader(bytes.NewReader(get("/api/export/csv", "text/csv; charset=utf-8; header=present", ".csv"))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "id" || !slices.Contains(rows[0], "depth") {
		t.Errorf("CSV: %v %v", err, rows)
	}
	if b := get("/api/export/csv?bom=1", "text/csv; charset=utf-8; header=present", ".csv"); !bytes.HasPrefix(b, []byte("\ufeff")) {
		t.Error("?bom=1: no byte order mark")
	}

	var gpx struct {
		XMLName xml.Name
		Wpt     []struct {
			Lat  float64 `xml:"lat,attr"`
			Name string  `xml:"name"`
		} `xml:"wpt"`
		Trk []struct {
			Seg []struct {
				Pt []struct{} `xml:"trkpt"`
			} `xml:"trkseg"`
		} `xml:"trk"`
	}
	if err := xml.Unmarshal(get("/api/export/gpx", "application/gpx+xml", ".gpx"), &gpx); err != nil {
		t.Fatal(err)
	}
	if gpx.XMLName.Local != "gpx" || len(gpx.Wpt) != 1 || gpx.Wpt[0].Lat != -0.125 || len(gpx.Trk) != 1 || len(gpx.Trk[0].Seg) != 2 {
		t.Errorf("GPX: %+v", gpx)
	}

	// One category: the observation alone; its name in the file's name.
	if err := json.Unmarshal(get("/api/export/geojson?category=river-crossing", "application/geo+json", ".geojson"), &fc); err != nil {
		t.Fatal(err)
	}
	if len(fc.Features) != 1 || fc.Features[0].Properties["id"] != rec.Observation.ID {
		t.Errorf("one category: %d features", len(fc.Features))
	}
	var e map[string]any
	c.getJSON(t, "/api/export/geojson?category=waterfall", 404, &e)
	if !strings.Contains(e["error"].(string), "waterfall") {
		t.Errorf("unknown category: %v", e)
	}
	c.getJSON(t, "/api/export/shp", 404, &e)
	if !strings.Contains(e["error"].(string), "geojson, csv or gpx") {
		t.Errorf("unknown format: %v", e)
	}
}

func TestFileSlug(t *testing.T) {
	for in, want := range map[string]string{
		"River survey 2026": "river-survey-2026",
		"Río Negro / 2026 ": "río-negro-2026",
		"../../etc/passwd":  "etc-passwd",
		"":                  "fieldsync",
		"!!!":               "fieldsync",
		"Terra Indígena Yanomami – levantamento de campo muito longo demais": "terra-indígena-yanomami-levantamento-de-campo-muito-longo-de",
	} {
		if got := fileSlug(in); got != want {
			t.Errorf("fileSlug(%q) = %q, want %q", in, got, want)
		}
	}
}

// synthJPEG is a small camera-like JPEG.
func synthJPEG(t *testing.T, seed uint64) []byte {
	t.Helper()
	b, err := os.ReadFile(photo(t, t.TempDir(), "p.jpg", seed, nil))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postFile sends a category file as the page does (multipart "file",
// with the other fields given).
func (c *client) postFile(t testing.TB, path string, fields map[string]string) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		fw, _ := w.CreateFormFile("file", filepath.Base(path))
		fw.Write(data)
	}
	w.Close()
	req, _ := http.NewRequest("POST", c.base+"/api/categories", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("X-CSRF-Token", c.csrf)
	req.Header.Set("Origin", c.base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// A category file imported from the page, by the creator; the same file
// again signs nothing; files that are not category files or break the
// format are refused with their reason; a member is refused as the command
// refuses it; nothing is written by a refusal.
func TestImportCategoriesAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newDevice(t)
	start(t, ctx, a)
	b := joined(t, ctx, a)
	_, c := serve(t, Config{Node: a})
	_, cb := serve(t, Config{Node: b})
	dir := filepath.Join("..", "testdata", "categories")

	n := records(t, b)
	code, out := cb.postFile(t, categoryFile, nil)
	if msg, _ := out["error"].(string); code != 403 || !strings.Contains(msg, "its role in the project is member (the creator and coordinators may)") {
		t.Errorf("a member imports: %d %v", code, out)
	}
	if records(t, b) != n {
		t.Error("a member's refused import wrote a record")
	}

	n = records(t, a)
	for _, tc := range []struct {
		name, file string
		code       int
		msg        string
	}{
		{"no file", "", 400, "no file"},
		{"GeoJSON", filepath.Join(dir, "not-categories.json"), 415, "not-categories.json"},
		{"version 2", filepath.Join(dir, "unsupported-version-2.comapeocat"), 400, "unsupported-version-2.comapeocat"},
		{"unknown field", filepath.Join(dir, "missing-field.comapeocat"), 400, "missing-field.comapeocat"},
	} {
		code, out := c.postFile(t, tc.file, nil)
		msg, _ := out["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.msg) || tc.file != "" && !strings.Contains(msg, "nothing was imported") {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, msg, tc.code, tc.msg)
		}
		if records(t, a) != n {
			t.Fatalf("%s: a record was written", tc.name)
		}
	}

	code, out = c.postFile(t, categoryFile, map[string]string{"lang": "pt"})
	if code != 200 {
		t.Fatalf("import: %d %v", code, out)
	}
	rep := out["import"].(map[string]any)
	if rep["path"] != "rio-negro.comapeocat" || rep["lang"] != "pt" || len(rep["added"].([]any)) != 4 || len(out["categories"].([]any)) != 4 {
		t.Errorf("import: %v", out)
	}
	if records(t, a) == n {
		t.Error("the import wrote no record")
	}
	n = records(t, a)
	code, out = c.postFile(t, categoryFile, map[string]string{"lang": "pt"})
	if rep := out["import"].(map[string]any); code != 200 || len(rep["unchanged"].([]any)) != 4 || rep["records"] != 0.0 || records(t, a) != n {
		t.Errorf("the same file again: %d %v", code, out)
	}
	// Merged: the presets' camp joins, the others stay.
	code, out = c.postFile(t, filepath.Join(dir, "presets-no-icons.json"), map[string]string{"merge": "1"})
	if code != 200 || len(out["categories"].([]any)) != 5 {
		t.Errorf("merged: %d %v", code, out)
	}
}
