package catfile

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the category fixtures in testdata/categories")

// fixtureDir holds the category files the tests of several packages use.
const fixtureDir = "../testdata/categories"

// Icons of the fixtures: small SVGs drawn for them.
var fixtureIcons = map[string]string{
	"crossing": `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M2 16c3-2 5-2 8 0s5 2 8 0 3-1 4-1v3c-1 0-2 1-4 1s-5-2-8 0-5 1-8-1z" fill="#1e90ff"/><rect x="5" y="4" width="14" height="3" fill="#5a3"/></svg>`,
	"road":     `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M9 2h2l-1 20H6zM13 2h2l3 20h-4z" fill="#8b4513"/></svg>`,
	"sacred":   `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="9" fill="none" stroke="#9932cc" stroke-width="2"/><circle cx="12" cy="12" r="3" fill="#9932cc"/></svg>`,
}

// comapeoFiles are the entries of testdata/categories/rio-negro.comapeocat:
// a CoMapeo category file (format 1.0) written for these tests.
func comapeoFiles() map[string]any {
	return map[string]any{
		"VERSION": "1.0",
		"metadata.json": map[string]any{"name": "Rio Negro land documentation", "version": "1.2",
			"buildDateValue": 1778400000000, "builderName": "fieldsync test fixture", "builderVersion": "1"},
		"categories.json": map[string]any{
			"river-crossing": map[string]any{"name": "River crossing", "appliesTo": []string{"observation"},
				"tags": map[string]any{"water": "crossing"}, "fields": []string{"depth", "crossing-type", "uses", "who", "date-seen"},
				"icon": "crossing", "color": "#1E90FF", "terms": []string{"ford", "vau"}},
			"sacred-site": map[string]any{"name": "Sacred site", "appliesTo": []string{"observation"},
				"tags": map[string]any{"site": "sacred", "protected": true}, "fields": []string{"site-name", "who"},
				"icon": "sacred", "color": "#9932cc"},
			"logging-road": map[string]any{"name": "Logging road", "appliesTo": []string{"track"},
				"tags": map[string]any{"highway": "track"}, "addTags": map[string]any{"highway": "track", "logging": "yes"},
				"fields": []string{"width", "road-status"}, "icon": "road", "color": "#8b4513"},
			"patrol": map[string]any{"name": "Patrol", "appliesTo": []string{"track", "observation"},
				"tags": map[string]any{"patrol": "yes"}, "fields": []string{"who"}},
		},
		"categorySelection.json": map[string]any{
			"observation": []string{"river-crossing", "sacred-site", "patrol"},
			"track":       []string{"logging-road", "patrol"},
		},
		"fields.json": map[string]any{
			"depth": map[string]any{"type": "number", "tagKey": "depth", "label": "Depth (m)", "placeholder": "1.5"},
			"crossing-type": map[string]any{"type": "selectOne", "tagKey": "crossing_type", "label": "Crossing type",
				"options": []map[string]any{{"label": "Ford", "value": "ford"}, {"label": "Bridge", "value": "bridge"}, {"label": "Canoe", "value": "canoe"}}},
			"uses": map[string]any{"type": "selectMultiple", "tagKey": "uses", "label": "Used for",
				"options": []map[string]any{{"label": "Fishing", "value": "fishing"}, {"label": "Going to school", "value": "school"},
					{"label": "Market", "value": "market"}, {"label": "Hunting", "value": "hunting"}}},
			"who":       map[string]any{"type": "text", "tagKey": "who", "label": "Who was there", "appearance": "singleline"},
			"date-seen": map[string]any{"type": "date", "tagKey": "date_seen", "label": "Date seen"},
			"site-name": map[string]any{"type": "text", "tagKey": "name", "label": "Name of the place", "helperText": "As the elders call it"},
			"width":     map[string]any{"type": "number", "tagKey": "width", "label": "Width (m)"},
			"road-status": map[string]any{"type": "selectOne", "tagKey": "in_use", "label": "In use?",
				"options": []map[string]any{{"label": "In use", "value": true}, {"label": "Abandoned", "value": false}, {"label": "Unknown", "value": nil}}},
		},
		"icons/crossing.svg": fixtureIcons["crossing"],
		"icons/road.svg":     fixtureIcons["road"],
		"icons/sacred.svg":   fixtureIcons["sacred"],
		"translations/pt.json": map[string]any{
			"category": map[string]any{
				"river-crossing": map[string]any{"name": "Travessia de rio"},
				"sacred-site":    map[string]any{"name": "Lugar sagrado"},
				"logging-road":   map[string]any{"name": "Ramal madeireiro"},
			},
			"field": map[string]any{
				"depth":         map[string]any{"label": "Profundidade (m)"},
				"crossing-type": map[string]any{"label": "Tipo de travessia", `options[value="canoe"].label`: "Canoa"},
				"who":           map[string]any{"label": "Quem estava lá"},
			},
		},
	}
}

// presetsFile is testdata/categories/presets/presets.json: the same
// categories in the shape Mapeo's presets use (mapeo-settings-builder's
// presets.json, Mapeo before 2024: "key", "select_one", options as
// strings, "geometry", "defaults"), with a universal field.
func presetsFixture() map[string]any {
	return map[string]any{
		"categories": map[string]any{},
		"presets": map[string]any{
			"river-crossing": map[string]any{"name": "River crossing", "icon": "crossing", "color": "#1E90FF",
				"geometry": []string{"point"}, "tags": map[string]any{"water": "crossing"}, "fields": []string{"depth", "crossing-type", "uses"}},
			"sacred-site": map[string]any{"name": "Sacred site", "icon": "sacred", "geometry": []string{"point", "area"},
				"tags": map[string]any{"site": "sacred"}, "fields": []string{}, "sort": 2},
			"logging-road": map[string]any{"name": "Logging road", "icon": "road", "color": "#8b4513", "geometry": []string{"line"},
				"tags": map[string]any{"highway": "track"}, "fields": []string{"width"}},
			"camp": map[string]any{"name": "Camp", "icon": "camp", "geometry": []string{"point"}, "tags": map[string]any{"tourism": "camp_site"}, "fields": []string{"check"}},
		},
		"fields": map[string]any{
			"depth":         map[string]any{"key": "depth", "type": "number", "label": "Depth (m)"},
			"crossing-type": map[string]any{"key": "crossing_type", "type": "select_one", "label": "Crossing type", "options": []string{"ford", "bridge", "canoe"}},
			"uses":          map[string]any{"key": "uses", "type": "select_multiple", "label": "Used for", "options": []string{"fishing", "school", "market"}},
			"width":         map[string]any{"key": "width", "type": "number", "label": "Width (m)"},
			"name":          map[string]any{"key": "name", "type": "localized", "label": "Name", "universal": true, "placeholder": "Common name of this place"},
			"check":         map[string]any{"key": "checked", "type": "datetime", "label": "Checked"},
		},
		"defaults": map[string]any{"point": []string{"river-crossing", "sacred-site", "camp"}, "line": []string{"logging-road"}, "area": []string{"sacred-site"}},
	}
}

func jsonBytes(t testing.TB, v any) []byte {
	b, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// writeComapeocat writes files as a .comapeocat zip, entries sorted, with
// a fixed time so the bytes do not change between runs.
func writeComapeocat(t testing.TB, files map[string]any) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate, Modified: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatal(err)
		}
		switch v := files[n].(type) {
		case string:
			w.Write([]byte(v))
		case []byte:
			w.Write(v)
		default:
			w.Write(jsonBytes(t, v))
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFixtures: the files in testdata/categories are what these
// functions write; -update rewrites them.
func TestFixtures(t *testing.T) {
	want := map[string][]byte{
		"rio-negro.comapeocat":             writeComapeocat(t, comapeoFiles()),
		"presets/presets.json":             jsonBytes(t, presetsFixture()),
		"presets/metadata.json":            jsonBytes(t, map[string]any{"name": "Rio Negro (Mapeo presets)", "version": "0.9"}),
		"presets/icons/crossing-100px.svg": []byte(fixtureIcons["crossing"]),
		"presets/icons/road-100px.svg":     []byte(fixtureIcons["road"]),
		"presets/icons/sacred-100px.svg":   []byte(fixtureIcons["sacred"]),
		"presets/icons/camp-100px.svg":     bytes.Repeat([]byte("<!-- big -->"), 1000),
		"not-categories.json":              []byte(`{"type": "FeatureCollection", "features": []}` + "\n"),
		"missing-field.comapeocat":         writeComapeocat(t, withBrokenField()),
		"unsupported-version-2.comapeocat": writeComapeocat(t, map[string]any{"VERSION": "2.0"}),
		"presets-no-icons.json":            jsonBytes(t, presetsFixture()),
		"presets-bad-option.json":          jsonBytes(t, presetsWithBadOption()),
		"presets-not-object.json":          []byte(`{"presets": []}` + "\n"),
		"presets-trailing.json":            []byte(`{"presets": {}} x` + "\n"),
		"presets-unknown-ref.json":         jsonBytes(t, map[string]any{"presets": map[string]any{"a": map[string]any{"name": "A", "fields": []string{"nope"}}}}),
	}
	for name, b := range want {
		path := filepath.Join(fixtureDir, filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run 'go test ./catfile -run TestFixtures -update')", err)
		}
		if name != "rio-negro.comapeocat" && name != "missing-field.comapeocat" && name != "unsupported-version-2.comapeocat" && !bytes.Equal(have, b) {
			t.Errorf("%s differs from what TestFixtures writes", name)
		}
	}
}

func withBrokenField() map[string]any {
	f := comapeoFiles()
	cats := f["categories.json"].(map[string]any)
	cats["sacred-site"].(map[string]any)["fields"] = []string{"site-name", "elevation"}
	return f
}

func presetsWithBadOption() map[string]any {
	p := presetsFixture()
	p["fields"].(map[string]any)["crossing-type"].(map[string]any)["options"] = []any{map[string]any{"label": "x", "value": []int{1}}}
	return p
}
