// Package catfile reads category sets from the files field teams already
// have: a CoMapeo category file (.comapeocat, a zip of categories, fields,
// icons and translations; spec 1.0 at github.com/digidem/comapeocat) and a
// JSON file of presets and fields in the shape Mapeo's presets use (iD
// editor presets: mapeo-settings-builder's presets.json), and turns them
// into the project's categories (project.Category).
//
// Words: a set is the categories of one file; a preset is Mapeo's and
// iD's name for a category; a field's key is CoMapeo's tagKey (Mapeo's
// key), under which an observation stores the field's value. What maps to
// what, and what is left out, is in docs/fielddata.md; everything left out
// or changed on the way is said in Set.Warnings, in words.
//
// Every reader has limits (file and entry sizes, entry counts) and a fuzz
// test; a file that is not a category file gives an error wrapping
// ErrNotCategoryFile, one that is but breaks its format ErrInvalid, each
// with what is wrong.
package catfile

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/project"
)

// Formats a set may come from.
const (
	FormatCoMapeo = "comapeocat"
	FormatPresets = "presets"
)

// Limits.
const (
	// MaxFileSize is the largest category file read (16 MiB).
	MaxFileSize = 16 << 20
	// maxJSON is the largest JSON document read inside a .comapeocat
	// (as CoMapeo's own reader) ...
	maxJSON = 1_000_000
	// ... and maxPresetsJSON a presets JSON file.
	maxPresetsJSON = 4 << 20
	// maxIconFile is the largest icon file looked at (CoMapeo's limit);
	// only icons up to project.MaxIconSize are kept.
	maxIconFile = 2_000_000
	// maxEntries is the most entries a .comapeocat may have (the spec's).
	maxEntries = 10_000
	// maxCategories is the most categories a set may have.
	maxCategories = 1000
)

// Errors, tested with errors.Is.
var (
	// ErrNotCategoryFile: neither a .comapeocat (zip) nor a presets JSON
	// file.
	ErrNotCategoryFile = errors.New("not a category file")
	// ErrInvalid: a category file that breaks its format (a missing
	// required file, a reference to a field or icon it does not have, a
	// value of the wrong type, a newer major version).
	ErrInvalid = errors.New("invalid category file")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Set is the categories of one file.
type Set struct {
	Format  string // FormatCoMapeo or FormatPresets
	Name    string // the set's name (metadata.json's, else the file's name)
	Version string // the set's version, if it says
	// Lang is the translation applied ("" for the file's own words).
	Lang       string
	Categories []project.Category
	// Warnings say what was left out or changed: an icon over the size a
	// category may carry, a field type taken as text, an option without a
	// value, a translation not in the file.
	Warnings []string
}

// Label is the set's name and version, as a category record's Set.
func (s *Set) Label() string {
	return cut(strings.TrimSpace(s.Name+" "+s.Version), 256)
}

// Options shape a read.
type Options struct {
	// Lang picks a translation (a BCP 47 tag: "pt", "es-PE"): a
	// .comapeocat's translations/LANG.json, matched exactly, else by its
	// language ("pt" for "pt-BR" and the other way round). Empty: the
	// file's own words.
	Lang string
}

// ReadFile reads the category file at path, telling a .comapeocat (a zip)
// from a presets JSON file by its first bytes. The icons of a presets
// file are looked for in an icons/ directory beside it.
func ReadFile(path string, opts Options) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%w: %s is a directory (give the .comapeocat file, or the presets JSON file)", ErrNotCategoryFile, path)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("%w: %s is %d MiB, over the %d MiB a category file may be", ErrInvalid, path, st.Size()>>20, MaxFileSize>>20)
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		s, err := ReadComapeocat(f, st.Size(), opts)
		if s != nil && s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		return s, err
	case looksLikeJSON(head):
		b, err := io.ReadAll(io.LimitReader(io.MultiReader(bytes.NewReader(head), f), maxPresetsJSON+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxPresetsJSON {
			return nil, invalid("the JSON file is over %d MiB", maxPresetsJSON>>20)
		}
		s, err := ReadPresets(b, os.DirFS(filepath.Dir(path)), opts)
		if s != nil && s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		return s, err
	}
	return nil, fmt.Errorf("%w: %s is neither a CoMapeo category file (.comapeocat, a zip) nor a JSON file of presets", ErrNotCategoryFile, filepath.Base(path))
}

func looksLikeJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// decodeJSON decodes b into v, with what is wrong in words.
func decodeJSON(name string, b []byte, v any) error {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if err := json.Unmarshal(b, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
			return invalid("%s, line %d: %v", name, line, se)
		case errors.As(err, &te):
			where := te.Field
			if where == "" {
				where = "the top level"
			}
			return invalid("%s: %s is %s, not %s", name, where, te.Value, jsonType(te.Type.Kind().String()))
		}
		return invalid("%s: %v", name, err)
	}
	return nil
}

func jsonType(k string) string {
	switch k {
	case "map", "struct":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	}
	return k
}

// scalar is a JSON tag or option value: string, number, boolean or null.
type scalar struct {
	s    string
	null bool
}

func (v *scalar) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch t := x.(type) {
	case nil:
		v.null = true
	case string:
		v.s = t
	case bool:
		v.s = strconv.FormatBool(t)
	case float64:
		v.s = strconv.FormatFloat(t, 'f', -1, 64)
	default:
		return errors.New("not a string, number, boolean or null")
	}
	return nil
}

// tagsOf turns key → value tags into the "key=value" tags an observation
// carries, sorted by key (a null value: the key alone).
func tagsOf(id string, m map[string]scalar, warn func(string, ...any)) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		t := k + "=" + m[k].s
		if m[k].null {
			t = k
		}
		if k == "" || len(t) > 128 || !utf8.ValidString(t) {
			warn("category %q: tag %q left out (a tag is 1 to 128 bytes)", id, cut(t, 40))
			continue
		}
		if len(out) == 64 {
			warn("category %q: tags after the 64th left out", id)
			break
		}
		out = append(out, t)
	}
	return out
}

// color returns c in the form a category record takes (lower case), or
// "" with a warning.
func color(id, c string, warn func(string, ...any)) string {
	if c == "" {
		return ""
	}
	l := strings.ToLower(strings.TrimSpace(c))
	probe := project.Category{ID: "x", Name: "x", Color: l}
	if probe.Validate() != nil {
		warn("category %q: color %q left out (want #rgb, #rrggbb or #rrggbbaa)", id, cut(c, 20))
		return ""
	}
	return l
}

// icon checks icon bytes and returns them with their media type, or nil
// with a warning saying why they were left out.
func icon(id, name string, b []byte, warn func(string, ...any)) ([]byte, string) {
	if len(b) > project.MaxIconSize {
		warn("category %q: icon %q is %.1f KiB, over the %d KiB a category carries: left out (simplify it, e.g. with svgo, or use a smaller PNG)",
			id, name, float64(len(b))/1024, project.MaxIconSize>>10)
		return nil, ""
	}
	if bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return b, project.IconPNG
	}
	if why := checkSVG(b); why != "" {
		warn("category %q: icon %q left out: %s", id, name, why)
		return nil, ""
	}
	return b, project.IconSVG
}

// checkSVG says why b is not an SVG icon fieldsync keeps ("" if it is):
// it must be XML with an <svg> root, and hold no script, no
// foreignObject, no event attribute and no javascript: link. (Surfaces
// show icons as images anyway, where scripts do not run; this keeps them
// out of the records.)
func checkSVG(b []byte) string {
	d := xml.NewDecoder(bytes.NewReader(b))
	root := true
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if root {
				return "not an SVG image"
			}
			return ""
		}
		if err != nil {
			return "not an SVG image (" + err.Error() + ")"
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if root && se.Name.Local != "svg" {
			return "not an SVG image (its root is <" + se.Name.Local + ">)"
		}
		root = false
		switch strings.ToLower(se.Name.Local) {
		case "script", "foreignobject":
			return "it holds a <" + se.Name.Local + ">"
		}
		for _, a := range se.Attr {
			if strings.HasPrefix(strings.ToLower(a.Name.Local), "on") {
				return "it has an event attribute (" + a.Name.Local + ")"
			}
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Value)), "javascript:") {
				return "it links to javascript:"
			}
		}
	}
}

// fieldType maps CoMapeo's and Mapeo's (and iD's) field types onto the
// project's; ok is false for a type taken as text.
func fieldType(t string) (project.FieldType, bool) {
	switch t {
	case "text", "textarea", "localized":
		return project.FieldText, true
	case "number":
		return project.FieldNumber, true
	case "selectOne", "select_one", "combo", "typeCombo", "radio", "check", "onewayCheck":
		return project.FieldSelectOne, true
	case "selectMultiple", "select_multiple", "multiCombo", "semiCombo":
		return project.FieldSelectMany, true
	case "date":
		return project.FieldDate, true
	}
	return project.FieldText, false
}

// field is a field definition as both formats write it.
type field struct {
	TagKey      string          `json:"tagKey"`
	Key         string          `json:"key"` // Mapeo before 2024
	Type        string          `json:"type"`
	Label       string          `json:"label"`
	Placeholder string          `json:"placeholder"`
	HelperText  string          `json:"helperText"`
	Options     json.RawMessage `json:"options"`
	Strings     struct {
		Options map[string]string `json:"options"`
	} `json:"strings"` // iD: option labels by value
	Universal bool `json:"universal"`
}

// convert makes a project field of f (ID id, in category cat).
func (f *field) convert(cat, id string, warn func(string, ...any)) (project.CategoryField, error) {
	key := f.TagKey
	if key == "" {
		key = f.Key
	}
	if key == "" {
		return project.CategoryField{}, invalid("field %q has no tagKey", id)
	}
	label := strings.TrimSpace(f.Label)
	if label == "" {
		label = key
	}
	t, ok := fieldType(f.Type)
	if !ok {
		warn("field %q: type %q taken as text", id, f.Type)
	}
	out := project.CategoryField{Key: key, Type: t, Label: cut(label, 256), Help: cut(f.HelperText, 1024), Placeholder: cut(f.Placeholder, 256)}
	if t != project.FieldSelectOne && t != project.FieldSelectMany {
		return out, nil
	}
	switch {
	case f.Type == "check" || f.Type == "onewayCheck":
		out.Options = []project.Option{{Value: "yes", Label: "Yes"}, {Value: "no", Label: "No"}}
	case len(f.Options) > 0 && string(f.Options) != "null":
		var opts []json.RawMessage
		if err := json.Unmarshal(f.Options, &opts); err != nil {
			return out, invalid("field %q: options is not an array", id)
		}
		for _, raw := range opts {
			var o struct {
				Label string  `json:"label"`
				Value *scalar `json:"value"`
			}
			var s string
			switch {
			case json.Unmarshal(raw, &s) == nil: // Mapeo before 2024: ["School", "Hospital"]
				o.Label, o.Value = s, &scalar{s: s}
				if l, ok := f.Strings.Options[s]; ok {
					o.Label = l
				}
			case json.Unmarshal(raw, &o) == nil:
			default:
				return out, invalid("field %q: an option is neither a string nor {label, value}", id)
			}
			if o.Value == nil || o.Value.null || o.Value.s == "" {
				warn("field %q: option %q has no value: left out", id, o.Label)
				continue
			}
			if o.Label == "" {
				o.Label = o.Value.s
			}
			if slices.ContainsFunc(out.Options, func(p project.Option) bool { return p.Value == o.Value.s }) {
				warn("field %q: option %q given twice: the second left out", id, o.Value.s)
				continue
			}
			if len(out.Options) == 256 {
				warn("field %q: options after the 256th left out", id)
				break
			}
			out.Options = append(out.Options, project.Option{Value: cut(o.Value.s, 256), Label: cut(o.Label, 256)})
		}
	default:
		for _, v := range slices.Sorted(maps.Keys(f.Strings.Options)) {
			out.Options = append(out.Options, project.Option{Value: v, Label: f.Strings.Options[v]})
		}
	}
	if len(out.Options) == 0 {
		warn("field %q: a select field without options, taken as text", id)
		out.Type = project.FieldText
		out.Options = nil
	}
	return out, nil
}

// cut shortens s to at most n bytes at a character boundary.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// finish checks the categories of s the way a record will, and gives each
// its set label.
func (s *Set) finish() error {
	if len(s.Categories) == 0 {
		return invalid("no categories in it")
	}
	if len(s.Categories) > maxCategories {
		return invalid("%d categories, over %d", len(s.Categories), maxCategories)
	}
	for i := range s.Categories {
		c := &s.Categories[i]
		c.Set = s.Label()
		c.Order = i
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, strings.TrimPrefix(err.Error(), project.ErrMalformed.Error()+": "))
		}
	}
	return nil
}

// validID refuses a category ID a record cannot carry.
func validID(id string) error {
	probe := project.Category{ID: id, Name: "x"}
	if probe.Validate() != nil {
		return invalid("category id %q: an id is 1 to 64 bytes of text", cut(id, 80))
	}
	return nil
}

// warner collects warnings, once each.
type warner struct{ s *Set }

func (w warner) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(w.s.Warnings, msg) {
		w.s.Warnings = append(w.s.Warnings, msg)
	}
}

// readIcon reads an icon file from fsys, up to maxIconFile bytes.
func readIcon(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIconFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxIconFile {
		return nil, fmt.Errorf("over %d bytes", maxIconFile)
	}
	return b, nil
}
