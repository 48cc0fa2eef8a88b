package catfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync/project"
)

// A presets file in the shape Mapeo's presets use: mapeo-settings-
// builder's presets.json, itself iD editor's presets.json:
//
//	{"presets": {"tree": {"name": "Tree", "icon": "tree", "color": "#2d9905",
//	                      "fields": ["species"], "geometry": ["point", "area"],
//	                      "tags": {"natural": "tree"}, "sort": 3}, ...},
//	 "fields": {"species": {"key": "species", "type": "select_one", "label": "Species",
//	                        "options": ["oak", "ash"]}, ...},
//	 "defaults": {"point": ["tree", ...], "line": [...], "area": [...]}}
//
// Fields may use CoMapeo's names too (tagKey, selectOne, options as
// {label, value}). A "universal" field is given to every category, after
// its own fields.
type presetsFile struct {
	Presets  map[string]preset   `json:"presets"`
	Fields   map[string]field    `json:"fields"`
	Defaults map[string][]string `json:"defaults"`
}

type preset struct {
	Name      string            `json:"name"`
	Icon      string            `json:"icon"`
	Color     string            `json:"color"`
	Fields    []string          `json:"fields"`
	Geometry  []string          `json:"geometry"`
	AppliesTo []string          `json:"appliesTo"`
	Tags      map[string]scalar `json:"tags"`
	AddTags   map[string]scalar `json:"addTags"`
	Sort      *float64          `json:"sort"`
}

// iconNames are where a preset's icon NAME is looked for, in an icons/
// directory beside the presets file: a Mapeo settings directory keeps
// NAME-100px.svg and NAME-24px.svg.
var iconNames = []string{"%s.svg", "%s-100px.svg", "%s-48px.svg", "%s-24px.svg", "%s.png", "%s-100px.png", "%s-48px.png", "%s-24px.png"}

// ReadPresets reads a presets JSON file. icons, if not nil, is the
// directory the file is in: each preset's icon is looked for in its
// icons/ directory, and a metadata.json there names the set. Categories
// come in the order of "defaults" (point, then line, then area), then by
// "sort", then by name.
func ReadPresets(data []byte, icons fs.FS, opts Options) (*Set, error) {
	s := &Set{Format: FormatPresets}
	w := warner{s}
	var top map[string]json.RawMessage
	if err := decodeJSON("the JSON file", data, &top); err != nil {
		if errors.Is(err, ErrInvalid) && !looksLikeJSON(data) {
			return nil, ErrNotCategoryFile
		}
		return nil, err
	}
	if _, ok := top["presets"]; !ok {
		switch {
		case top["type"] != nil || top["features"] != nil:
			return nil, invalidNot("a GeoJSON file")
		case top["categories"] != nil && top["appliesTo"] == nil:
			return nil, invalidNot("a JSON file without \"presets\" (a CoMapeo source directory's categories are imported as a .comapeocat: build one with comapeocat)")
		}
		return nil, invalidNot("a JSON file without \"presets\"")
	}
	var pf presetsFile
	if err := decodeJSON("the presets file", data, &pf); err != nil {
		return nil, err
	}
	if opts.Lang != "" {
		w.warn("translations of a presets file are not read: its own words are kept")
	}
	if icons != nil {
		if b, err := fs.ReadFile(icons, "metadata.json"); err == nil && len(b) < maxJSON {
			var meta comapeoMetadata
			if json.Unmarshal(b, &meta) == nil {
				s.Name, s.Version = cut(strings.TrimSpace(meta.Name), 200), cut(strings.TrimSpace(meta.Version), 40)
			}
		}
	}

	order := map[string]int{}
	for _, g := range []string{"point", "observation", "line", "track", "area", "vertex"} {
		for _, id := range pf.Defaults[g] {
			if _, ok := pf.Presets[id]; !ok {
				w.warn("defaults name preset %q, which the file does not define: left out", id)
				continue
			}
			if _, ok := order[id]; !ok {
				order[id] = len(order)
			}
		}
	}
	sortOf := func(id string) float64 {
		if p := pf.Presets[id]; p.Sort != nil {
			return *p.Sort
		}
		return math.Inf(1)
	}
	ids := slices.Collect(mapKeys(pf.Presets))
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
		if sa, sb := sortOf(a), sortOf(b); sa != sb {
			if sa < sb {
				return -1
			}
			return 1
		}
		return strings.Compare(pf.Presets[a].Name+"\x00"+a, pf.Presets[b].Name+"\x00"+b)
	})
	var universal []string
	for _, id := range slices.Sorted(mapKeys(pf.Fields)) {
		if pf.Fields[id].Universal {
			universal = append(universal, id)
		}
	}
	missingIcons := 0
	for _, id := range ids {
		p := pf.Presets[id]
		if err := validID(id); err != nil {
			return nil, err
		}
		name := strings.TrimSpace(p.Name)
		if name == "" {
			name = id
		}
		c := project.Category{ID: id, Name: cut(name, 256), Color: color(id, p.Color, w.warn)}
		applies := p.AppliesTo
		if len(applies) == 0 {
			applies = geometryApplies(p.Geometry)
		}
		c.Applies = canonicalApplies(applies)
		tags := p.AddTags
		if len(tags) == 0 {
			tags = p.Tags
		}
		c.Tags = tagsOf(id, tags, w.warn)
		if p.Icon != "" && icons != nil {
			found := false
			for _, pat := range iconNames {
				name := "icons/" + strings.Replace(pat, "%s", p.Icon, 1)
				if !fs.ValidPath(name) {
					break
				}
				b, err := readIcon(icons, name)
				if err != nil {
					continue
				}
				c.Icon, c.IconType = icon(id, name, b, w.warn)
				found = true
				break
			}
			if !found {
				missingIcons++
			}
		}
		add := func(fid string, own bool) error {
			fd, ok := pf.Fields[fid]
			if !ok {
				return invalid("preset %q uses field %q, which the file does not define", id, cut(fid, 80))
			}
			pfd, err := fd.convert(id, fid, w.warn)
			if err != nil {
				return err
			}
			if slices.ContainsFunc(c.Fields, func(g project.CategoryField) bool { return g.Key == pfd.Key }) {
				if own {
					return invalid("preset %q has two fields with key %q", id, pfd.Key)
				}
				return nil // a universal field the preset has already
			}
			if len(c.Fields) == 64 {
				return invalid("preset %q has over 64 fields", id)
			}
			c.Fields = append(c.Fields, pfd)
			return nil
		}
		for _, fid := range p.Fields {
			if err := add(fid, true); err != nil {
				return nil, err
			}
		}
		for _, fid := range universal {
			if err := add(fid, false); err != nil {
				return nil, err
			}
		}
		s.Categories = append(s.Categories, c)
	}
	if missingIcons > 0 {
		w.warn("%d icons not found (looked for in an icons/ directory beside the file, as NAME.svg, NAME-100px.svg, NAME.png ...): those categories have none", missingIcons)
	} else if icons == nil && slices.ContainsFunc(ids, func(id string) bool { return pf.Presets[id].Icon != "" }) {
		w.warn("icons not read (no directory given)")
	}
	return s, s.finish()
}

func invalidNot(what string) error {
	return fmt.Errorf("%w: %s", ErrNotCategoryFile, what)
}
