package catfile

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync/project"
)

// What a .comapeocat holds (CoMapeo categories file format 1.0).
type comapeoCategory struct {
	Name      string            `json:"name"`
	AppliesTo []string          `json:"appliesTo"`
	Geometry  []string          `json:"geometry"` // before appliesTo
	Tags      map[string]scalar `json:"tags"`
	AddTags   map[string]scalar `json:"addTags"`
	Fields    []string          `json:"fields"`
	Icon      string            `json:"icon"`
	Color     string            `json:"color"`
}

type comapeoMetadata struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)$`)

// ReadComapeocat reads a CoMapeo category file: VERSION (major version 1),
// metadata.json, categories.json, categorySelection.json, fields.json,
// icons/*.svg and translations/*.json. Categories keep the order of
// categorySelection.json (its observation list, then its track list),
// then the others by name.
func ReadComapeocat(r io.ReaderAt, size int64, opts Options) (*Set, error) {
	if size > MaxFileSize {
		return nil, invalid("over %d MiB", MaxFileSize>>20)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("%w: not a readable zip file (%v)", ErrNotCategoryFile, err)
	}
	if len(zr.File) > maxEntries {
		return nil, invalid("%d entries, over %d", len(zr.File), maxEntries)
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		name := f.Name
		if strings.Contains(name, "\\") || strings.HasPrefix(name, "/") || path.Clean(name) != name || strings.HasPrefix(name, "../") {
			return nil, invalid("entry %q: not a plain path inside the archive", cut(name, 80))
		}
		files[name] = f
	}
	read := func(name string, limit int64) ([]byte, error) {
		f, ok := files[name]
		if !ok {
			return nil, nil
		}
		rc, err := f.Open()
		if err != nil {
			return nil, invalid("%s: %v", name, err)
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, limit+1))
		if err != nil {
			return nil, invalid("%s: %v", name, err)
		}
		if int64(len(b)) > limit {
			return nil, invalid("%s is over %d bytes", name, limit)
		}
		return b, nil
	}
	s := &Set{Format: FormatCoMapeo}
	w := warner{s}

	version, err := read("VERSION", 100)
	if err != nil {
		return nil, err
	}
	if version == nil {
		if _, ok := files["presets.json"]; ok {
			return nil, invalid("a Mapeo settings archive, not a CoMapeo category file: unpack it and import its presets.json")
		}
		return nil, fmt.Errorf("%w: a zip without the VERSION file of a CoMapeo category file", ErrNotCategoryFile)
	}
	m := versionRE.FindStringSubmatch(strings.TrimSpace(string(version)))
	if m == nil {
		return nil, invalid("VERSION %q is not MAJOR.MINOR", cut(string(version), 20))
	}
	if major, _ := strconv.Atoi(m[1]); major != 1 {
		return nil, invalid("format version %s: fieldsync reads version 1 category files", m[0])
	}

	var meta comapeoMetadata
	b, err := read("metadata.json", maxJSON)
	if err := need(b, err); err != nil {
		return nil, fmt.Errorf("%w (metadata.json)", err)
	}
	if err := decodeJSON("metadata.json", b, &meta); err != nil {
		return nil, err
	}
	s.Name, s.Version = cut(strings.TrimSpace(meta.Name), 200), cut(strings.TrimSpace(meta.Version), 40)

	b, err = read("categories.json", maxJSON)
	if err := need(b, err); err != nil {
		return nil, fmt.Errorf("%w (categories.json)", err)
	}
	var cats map[string]comapeoCategory
	if err := decodeJSON("categories.json", b, &cats); err != nil {
		return nil, err
	}
	var selection struct {
		Observation []string `json:"observation"`
		Track       []string `json:"track"`
	}
	b, err = read("categorySelection.json", maxJSON)
	if err != nil {
		return nil, err
	}
	if b != nil {
		if err := decodeJSON("categorySelection.json", b, &selection); err != nil {
			return nil, err
		}
	} else {
		w.warn("no categorySelection.json: categories listed by name")
	}
	fields := map[string]field{}
	if b, err = read("fields.json", maxJSON); err != nil {
		return nil, err
	}
	if b != nil {
		if err := decodeJSON("fields.json", b, &fields); err != nil {
			return nil, err
		}
	}
	tr, err := translation(files, read, opts.Lang, w)
	if err != nil {
		return nil, err
	}
	if tr != nil {
		s.Lang = opts.Lang
	}

	order := map[string]int{}
	for _, id := range append(slices.Clone(selection.Observation), selection.Track...) {
		if _, ok := cats[id]; !ok {
			return nil, invalid("categorySelection.json names category %q, which categories.json does not define", cut(id, 80))
		}
		if _, ok := order[id]; !ok {
			order[id] = len(order)
		}
	}
	ids := slices.Collect(mapKeys(cats))
	slices.SortFunc(ids, func(a, b string) int {
		oa, okA := order[a]
		ob, okB := order[b]
		switch {
		case okA && okB:
			return oa - ob
		case okA:
			return -1
		case okB:
			return 1
		}
		return strings.Compare(cats[a].Name+"\x00"+a, cats[b].Name+"\x00"+b)
	})
	for _, id := range ids {
		cc := cats[id]
		if err := validID(id); err != nil {
			return nil, err
		}
		name := strings.TrimSpace(tr.category(id, "name", cc.Name))
		if name == "" {
			return nil, invalid("category %q has no name", id)
		}
		c := project.Category{ID: id, Name: cut(name, 256), Color: color(id, cc.Color, w.warn)}
		applies := cc.AppliesTo
		if len(applies) == 0 {
			applies = geometryApplies(cc.Geometry)
		}
		c.Applies = canonicalApplies(applies)
		tags := cc.AddTags
		if len(tags) == 0 {
			tags = cc.Tags
		}
		c.Tags = tagsOf(id, tags, w.warn)
		if cc.Icon != "" {
			ib, err := read("icons/"+cc.Icon+".svg", maxIconFile)
			if err != nil {
				return nil, err
			}
			if ib == nil {
				return nil, invalid("category %q uses icon %q, which is not in icons/", id, cut(cc.Icon, 80))
			}
			c.Icon, c.IconType = icon(id, cc.Icon+".svg", ib, w.warn)
		}
		for _, fid := range cc.Fields {
			fd, ok := fields[fid]
			if !ok {
				return nil, invalid("category %q uses field %q, which fields.json does not define", id, cut(fid, 80))
			}
			tr.field(fid, &fd)
			pf, err := fd.convert(id, fid, w.warn)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(c.Fields, func(g project.CategoryField) bool { return g.Key == pf.Key }) {
				return nil, invalid("category %q has two fields with tagKey %q", id, pf.Key)
			}
			if len(c.Fields) == 64 {
				return nil, invalid("category %q has over 64 fields", id)
			}
			c.Fields = append(c.Fields, pf)
		}
		s.Categories = append(s.Categories, c)
	}
	return s, s.finish()
}

// need turns a missing required file (nil bytes) into an error.
func need(b []byte, err error) error {
	if err != nil {
		return err
	}
	if b == nil {
		return invalid("a required file is missing")
	}
	return nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// geometryApplies maps Mapeo's geometry (point, area, line, vertex) onto
// CoMapeo's document types.
func geometryApplies(geom []string) []string {
	var out []string
	for _, g := range geom {
		switch g {
		case "point", "area", "vertex":
			out = append(out, project.AppliesObservation)
		case "line":
			out = append(out, project.AppliesTrack)
		}
	}
	return out
}

// canonicalApplies returns the known document types of in, in the order a
// record takes; nil when both (or none known: a category for both).
func canonicalApplies(in []string) []string {
	obs, trk := slices.Contains(in, project.AppliesObservation), slices.Contains(in, project.AppliesTrack)
	switch {
	case obs && !trk:
		return []string{project.AppliesObservation}
	case trk && !obs:
		return []string{project.AppliesTrack}
	}
	return nil
}

// translations is one translation file: doc type → ID → property → text.
type translations map[string]map[string]map[string]string

func (t translations) category(id, prop, def string) string {
	if v, ok := t["category"][id][prop]; ok && strings.TrimSpace(v) != "" {
		return v
	}
	return def
}

// optionRE matches a translated option's property: options[value="x"].label
var optionRE = regexp.MustCompile(`^options\[value=(".*")\]\.label$`)

// field applies the translation of field id to f.
func (t translations) field(id string, f *field) {
	tf, ok := t["field"][id]
	if !ok {
		return
	}
	for prop, v := range tf {
		if strings.TrimSpace(v) == "" {
			continue
		}
		switch prop {
		case "label":
			f.Label = v
		case "helperText":
			f.HelperText = v
		case "placeholder":
			f.Placeholder = v
		default:
			m := optionRE.FindStringSubmatch(prop)
			if m == nil {
				continue
			}
			var value string
			if json.Unmarshal([]byte(m[1]), &value) != nil {
				continue
			}
			var opts []map[string]any
			if json.Unmarshal(f.Options, &opts) != nil {
				continue
			}
			for _, o := range opts {
				if fmt.Sprint(o["value"]) == value {
					o["label"] = v
				}
			}
			f.Options, _ = json.Marshal(opts)
		}
	}
}

// translation reads translations/LANG.json for lang (exactly, else by its
// language subtag), or nil for none.
func translation(files map[string]*zip.File, read func(string, int64) ([]byte, error), lang string, w warner) (translations, error) {
	if lang == "" {
		return nil, nil
	}
	var avail []string
	for name := range files {
		if l, ok := strings.CutPrefix(name, "translations/"); ok && strings.HasSuffix(l, ".json") {
			avail = append(avail, strings.TrimSuffix(l, ".json"))
		}
	}
	slices.Sort(avail)
	pick := ""
	for _, a := range avail {
		if strings.EqualFold(a, lang) {
			pick = a
		}
	}
	if pick == "" {
		base := strings.ToLower(strings.FieldsFunc(lang, func(r rune) bool { return r == '-' || r == '_' })[0])
		for _, a := range avail {
			if strings.EqualFold(strings.FieldsFunc(a, func(r rune) bool { return r == '-' || r == '_' })[0], base) {
				pick = a
				break
			}
		}
	}
	if pick == "" {
		if len(avail) == 0 {
			w.warn("no %s translation (the file has none): its own words are kept", lang)
		} else {
			w.warn("no %s translation (the file has %s): its own words are kept", lang, strings.Join(avail, ", "))
		}
		return nil, nil
	}
	b, err := read("translations/"+pick+".json", maxJSON)
	if err != nil {
		return nil, err
	}
	var t translations
	if err := json.Unmarshal(b, &t); err != nil {
		// Readers should ignore a translation they cannot read (spec 11.4).
		w.warn("translations/%s.json is not a translation file fieldsync reads (%v): the file's own words are kept", pick, err)
		return nil, nil
	}
	return t, nil
}
