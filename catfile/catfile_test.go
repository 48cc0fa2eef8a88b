package catfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/project"
)

func ids(cs []project.Category) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return strings.Join(out, ",")
}

func byID(cs []project.Category, id string) *project.Category {
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i]
		}
	}
	return nil
}

func hasWarning(s *Set, part string) bool {
	return slices.ContainsFunc(s.Warnings, func(w string) bool { return strings.Contains(w, part) })
}

func TestComapeocat(t *testing.T) {
	s, err := ReadFile(filepath.Join(fixtureDir, "rio-negro.comapeocat"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != FormatCoMapeo || s.Label() != "Rio Negro land documentation 1.2" || s.Lang != "" {
		t.Fatalf("set: %+v", s)
	}
	// categorySelection's order: observations, then tracks.
	if got := ids(s.Categories); got != "river-crossing,sacred-site,patrol,logging-road" {
		t.Fatalf("order %s", got)
	}
	rc := byID(s.Categories, "river-crossing")
	if rc.Name != "River crossing" || rc.Color != "#1e90ff" || rc.IconType != project.IconSVG || !bytes.Contains(rc.Icon, []byte("<svg")) ||
		!slices.Equal(rc.Tags, []string{"water=crossing"}) || !slices.Equal(rc.Applies, []string{"observation"}) || rc.Set != s.Label() || rc.Order != 0 {
		t.Fatalf("river-crossing: %+v", rc)
	}
	var keys []string
	for _, f := range rc.Fields {
		keys = append(keys, f.Key+":"+string(f.Type))
	}
	if strings.Join(keys, " ") != "depth:number crossing_type:select_one uses:select_many who:text date_seen:date" {
		t.Fatalf("fields %s", keys)
	}
	if ct, _ := rc.FieldByKey("crossing_type"); ct.Label != "Crossing type" || len(ct.Options) != 3 || ct.Options[2] != (project.Option{Value: "canoe", Label: "Canoe"}) {
		t.Fatalf("crossing type %+v", ct)
	}
	if d, _ := rc.FieldByKey("depth"); d.Placeholder != "1.5" {
		t.Fatalf("depth %+v", d)
	}
	ss := byID(s.Categories, "sacred-site")
	if !slices.Equal(ss.Tags, []string{"protected=true", "site=sacred"}) {
		t.Fatalf("sacred-site tags %q", ss.Tags)
	}
	if n, _ := ss.FieldByKey("name"); n.Help != "As the elders call it" {
		t.Fatalf("site name %+v", n)
	}
	lr := byID(s.Categories, "logging-road")
	if !slices.Equal(lr.Tags, []string{"highway=track", "logging=yes"}) || !slices.Equal(lr.Applies, []string{"track"}) {
		t.Fatalf("logging-road: addTags win over tags, applies to tracks: %+v", lr)
	}
	// Boolean option values become text; a null one is left out, said.
	if st, _ := lr.FieldByKey("in_use"); len(st.Options) != 2 || st.Options[0].Value != "true" || st.Options[1].Value != "false" {
		t.Fatalf("road status %+v", st)
	}
	if !hasWarning(s, `option "Unknown" has no value`) {
		t.Fatalf("warnings %q", s.Warnings)
	}
	if p := byID(s.Categories, "patrol"); p.Applies != nil || p.Icon != nil {
		t.Fatalf("patrol: for both kinds, no icon: %+v", p)
	}

	// A translation: exactly, or by language.
	for _, lang := range []string{"pt", "pt-BR", "PT"} {
		s, err := ReadFile(filepath.Join(fixtureDir, "rio-negro.comapeocat"), Options{Lang: lang})
		if err != nil {
			t.Fatal(err)
		}
		rc := byID(s.Categories, "river-crossing")
		ct, _ := rc.FieldByKey("crossing_type")
		d, _ := rc.FieldByKey("depth")
		if s.Lang != lang || rc.Name != "Travessia de rio" || ct.Label != "Tipo de travessia" || ct.Options[2].Label != "Canoa" || ct.Options[0].Label != "Ford" || d.Label != "Profundidade (m)" {
			t.Fatalf("%s: %+v %+v", lang, rc.Name, ct)
		}
		if byID(s.Categories, "patrol").Name != "Patrol" {
			t.Fatal("an untranslated name changed")
		}
	}
	s, err = ReadFile(filepath.Join(fixtureDir, "rio-negro.comapeocat"), Options{Lang: "fr"})
	if err != nil || s.Lang != "" || !hasWarning(s, "no fr translation (the file has pt)") {
		t.Fatalf("fr: %v %q", err, s.Warnings)
	}
}

func TestPresets(t *testing.T) {
	s, err := ReadFile(filepath.Join(fixtureDir, "presets", "presets.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != FormatPresets || s.Label() != "Rio Negro (Mapeo presets) 0.9" {
		t.Fatalf("set %+v", s)
	}
	if got := ids(s.Categories); got != "river-crossing,sacred-site,camp,logging-road" {
		t.Fatalf("order %s", got)
	}
	rc := byID(s.Categories, "river-crossing")
	var keys []string
	for _, f := range rc.Fields {
		keys = append(keys, f.Key+":"+string(f.Type))
	}
	// Its own fields, then the universal one.
	if strings.Join(keys, " ") != "depth:number crossing_type:select_one uses:select_many name:text" {
		t.Fatalf("fields %s", keys)
	}
	if ct, _ := rc.FieldByKey("crossing_type"); len(ct.Options) != 3 || ct.Options[1] != (project.Option{Value: "bridge", Label: "bridge"}) {
		t.Fatalf("options from strings: %+v", ct)
	}
	if rc.IconType != project.IconSVG || !slices.Equal(rc.Applies, []string{"observation"}) || rc.Color != "#1e90ff" {
		t.Fatalf("river-crossing %+v", rc)
	}
	if ss := byID(s.Categories, "sacred-site"); !slices.Equal(ss.Applies, []string{"observation"}) || len(ss.Fields) != 1 {
		t.Fatalf("sacred-site (point and area): %+v", ss)
	}
	if lr := byID(s.Categories, "logging-road"); !slices.Equal(lr.Applies, []string{"track"}) || lr.Icon == nil {
		t.Fatalf("logging-road %+v", lr)
	}
	camp := byID(s.Categories, "camp")
	if camp.Icon != nil || !hasWarning(s, `icon "icons/camp-100px.svg" is 11.7 KiB, over the 8 KiB a category carries: left out`) {
		t.Fatalf("camp's big icon: %q", s.Warnings)
	}
	if chk, _ := camp.FieldByKey("checked"); chk.Type != project.FieldText || !hasWarning(s, `field "check": type "datetime" taken as text`) {
		t.Fatalf("datetime: %+v %q", chk, s.Warnings)
	}

	// Without its icons directory: no icons, said once.
	s, err = ReadFile(filepath.Join(fixtureDir, "presets-no-icons.json"), Options{})
	if err != nil || byID(s.Categories, "river-crossing").Icon != nil || !hasWarning(s, "4 icons not found") || s.Name != "presets-no-icons" {
		t.Fatalf("no icons: %v %q", err, s.Warnings)
	}
}

func TestRefused(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.comapeocat")
	files := comapeoFiles()
	files["../evil.json"] = "{}"
	os.WriteFile(evil, writeComapeocat(t, files), 0o644)
	plainZip := filepath.Join(dir, "photos.zip")
	os.WriteFile(plainZip, writeComapeocat(t, map[string]any{"a.jpg": "x"}), 0o644)
	truncated := filepath.Join(dir, "cut.comapeocat")
	b, _ := os.ReadFile(filepath.Join(fixtureDir, "rio-negro.comapeocat"))
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	noMeta := filepath.Join(dir, "nometa.comapeocat")
	files = comapeoFiles()
	delete(files, "metadata.json")
	os.WriteFile(noMeta, writeComapeocat(t, files), 0o644)
	badIcon := filepath.Join(dir, "badicon.comapeocat")
	files = comapeoFiles()
	files["icons/crossing.svg"] = `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`
	files["icons/sacred.svg"] = `<svg><script>alert(1)</script></svg>`
	files["icons/road.svg"] = `<html/>`
	os.WriteFile(badIcon, writeComapeocat(t, files), 0o644)

	for _, c := range []struct {
		path  string
		want  error
		words string
	}{
		{filepath.Join(fixtureDir, "not-categories.json"), ErrNotCategoryFile, "GeoJSON"},
		{filepath.Join(fixtureDir, "missing-field.comapeocat"), ErrInvalid, `category "sacred-site" uses field "elevation", which fields.json does not define`},
		{filepath.Join(fixtureDir, "unsupported-version-2.comapeocat"), ErrInvalid, "format version 2.0: fieldsync reads version 1"},
		{filepath.Join(fixtureDir, "presets-bad-option.json"), ErrInvalid, `field "crossing-type"`},
		{filepath.Join(fixtureDir, "presets-not-object.json"), ErrInvalid, "presets is array, not an object"},
		{filepath.Join(fixtureDir, "presets-trailing.json"), ErrInvalid, "line 1"},
		{filepath.Join(fixtureDir, "presets-unknown-ref.json"), ErrInvalid, `preset "a" uses field "nope"`},
		{filepath.Join(fixtureDir, "..", "photos", "gps.jpg"), ErrNotCategoryFile, "neither a CoMapeo category file"},
		{fixtureDir, ErrNotCategoryFile, "is a directory"},
		{evil, ErrInvalid, "not a plain path"},
		{plainZip, ErrNotCategoryFile, "without the VERSION file"},
		{truncated, ErrNotCategoryFile, "not a readable zip"},
		{noMeta, ErrInvalid, "required file is missing (metadata.json)"},
		{filepath.Join(dir, "nosuch.comapeocat"), os.ErrNotExist, ""},
	} {
		_, err := ReadFile(c.path, Options{})
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.words) {
			t.Errorf("%s: %v; want %v with %q", filepath.Base(c.path), err, c.want, c.words)
		}
	}
	s, err := ReadFile(badIcon, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"event attribute (onload)", "holds a <script>", "its root is <html>"} {
		if !hasWarning(s, w) {
			t.Errorf("no warning %q in %q", w, s.Warnings)
		}
	}
	for _, c := range s.Categories {
		if c.Icon != nil && c.ID != "patrol" {
			t.Errorf("%s kept a bad icon", c.ID)
		}
	}
}

// FuzzComapeocat fuzzes the JSON documents of a .comapeocat (categories,
// fields, category selection, a translation), zipped: the zip format
// itself is archive/zip's, fuzzed upstream.
func FuzzComapeocat(f *testing.F) {
	files := comapeoFiles()
	str := func(name string) string { return string(jsonBytes(f, files[name])) }
	f.Add(str("categories.json"), str("fields.json"), str("categorySelection.json"), str("translations/pt.json"), fixtureIcons["crossing"])
	f.Add(`{"a":{"name":"A","fields":["f"],"icon":"crossing","appliesTo":["track"],"tags":{"k":null,"n":1.5}}}`,
		`{"f":{"tagKey":"f","type":"selectMultiple","label":"F","options":[{"label":"x","value":1},{"label":"y","value":null}]}}`,
		`{"observation":["a"],"track":["a"]}`, `{"field":{"f":{"options[value=\"1\"].label":"um"}}}`, `<svg/>`)
	f.Fuzz(func(t *testing.T, categories, fields, selection, translation, svg string) {
		b := writeComapeocatStored(t, map[string]string{"VERSION": "1.0", "metadata.json": `{"name":"fuzz"}`,
			"categories.json": categories, "fields.json": fields, "categorySelection.json": selection,
			"translations/pt.json": translation, "icons/crossing.svg": svg})
		s, err := ReadComapeocat(bytes.NewReader(b), int64(len(b)), Options{Lang: "pt"})
		checkSet(t, s, err)
	})
}

// writeComapeocatStored zips files without compression.
func writeComapeocatStored(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[n]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzPresets(f *testing.F) {
	for _, name := range []string{"presets/presets.json", "presets-bad-option.json", "presets-unknown-ref.json"} {
		if b, err := os.ReadFile(filepath.Join(fixtureDir, name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"presets":{"a":{"name":"A","fields":["f"],"geometry":["line"]}},"fields":{"f":{"key":"f","type":"check"}}}`))
	icons := os.DirFS(filepath.Join(fixtureDir, "presets"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadPresets(data, icons, Options{})
		checkSet(t, s, err)
	})
}

// checkSet: a read either fails with one of the package's errors or gives
// categories every one of which a record takes.
func checkSet(t *testing.T, s *Set, err error) {
	if err != nil {
		if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotCategoryFile) {
			t.Fatalf("error %v is neither ErrInvalid nor ErrNotCategoryFile", err)
		}
		return
	}
	if len(s.Categories) == 0 {
		t.Fatal("a set without categories")
	}
	for _, c := range s.Categories {
		if err := c.Validate(); err != nil {
			t.Fatalf("category a record refuses: %v", err)
		}
	}
}

// TestZipBomb: an entry that inflates past its limit is refused without
// reading it all.
func TestZipBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range []string{"VERSION", "metadata.json"} {
		w, _ := zw.Create(n)
		if n == "VERSION" {
			w.Write([]byte("1.0"))
		} else {
			w.Write([]byte(`{"name":"bomb"}`))
		}
	}
	w, _ := zw.Create("categories.json")
	zeros := make([]byte, 1<<20)
	for range 64 {
		w.Write(zeros)
	}
	zw.Close()
	_, err := ReadComapeocat(bytes.NewReader(buf.Bytes()), int64(buf.Len()), Options{})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "categories.json is over 1000000 bytes") {
		t.Fatalf("%v", err)
	}
}
