package project

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/fxamacker/cbor/v2"
)

// FieldType is the type of a category's field: what values it takes.
type FieldType string

// Field types. CoMapeo's and Mapeo's names map onto them as
// docs/fielddata.md says.
const (
	FieldText       FieldType = "text"        // any text
	FieldNumber     FieldType = "number"      // a decimal number
	FieldSelectOne  FieldType = "select_one"  // one of the options
	FieldSelectMany FieldType = "select_many" // one or more of the options
	FieldDate       FieldType = "date"        // a calendar date, 2026-05-17
)

// Limits on fields and their values.
const (
	maxFieldKey    = 64
	maxFieldText   = 4 << 10
	maxListItems   = 64
	maxOptionText  = 256
	maxOptions     = 256
	maxFields      = 64
	maxHelpText    = 1 << 10
	maxFieldValues = 64
)

// DateLayout is how a date field's value is written.
const DateLayout = "2006-01-02"

// CategoryField is one field of a category: a question the observer answers.
type CategoryField struct {
	Key         string // the value's name in an observation (CoMapeo's tagKey); unique in its category
	Type        FieldType
	Label       string // the question as shown
	Help        string // more words under it (CoMapeo's helperText)
	Placeholder string // shown in an empty input
	Options     []Option
}

// Option is one choice of a select field.
type Option struct {
	Value string // what an observation stores
	Label string // what a person reads
}

// ValueKind says what a field value holds.
type ValueKind uint8

// Value kinds. A text, select_one or date field holds ValueText, a number
// field ValueNumber, a select_many field ValueList.
const (
	ValueText ValueKind = iota + 1
	ValueNumber
	ValueList
)

// FieldValue is one field's value in an observation. In the record it is
// a text string, a 64-bit float or an array of text strings, as its Kind
// says.
type FieldValue struct {
	Kind   ValueKind
	Text   string
	Number float64
	List   []string
}

// TextValue, NumberValue and ListValue make field values.
func TextValue(s string) FieldValue       { return FieldValue{Kind: ValueText, Text: s} }
func NumberValue(f float64) FieldValue    { return FieldValue{Kind: ValueNumber, Number: f} }
func ListValue(items []string) FieldValue { return FieldValue{Kind: ValueList, List: items} }

// String returns the value as a person writes it: a number in its
// shortest form, a list joined with "; ".
func (v FieldValue) String() string {
	switch v.Kind {
	case ValueNumber:
		return strconv.FormatFloat(v.Number, 'f', -1, 64)
	case ValueList:
		return strings.Join(v.List, "; ")
	}
	return v.Text
}

// Any returns the value as JSON has it: a string, a float64 or a
// []string.
func (v FieldValue) Any() any {
	switch v.Kind {
	case ValueNumber:
		return v.Number
	case ValueList:
		return slices.Clone(v.List)
	}
	return v.Text
}

// Equal reports whether v and w are the same value.
func (v FieldValue) Equal(w FieldValue) bool {
	return v.Kind == w.Kind && v.Text == w.Text && (v.Number == w.Number) && slices.Equal(v.List, w.List)
}

// MarshalJSON writes the value as JSON has it (Any): a string, a number
// or an array of strings, as a person reads it.
func (v FieldValue) MarshalJSON() ([]byte, error) { return json.Marshal(v.Any()) }

// UnmarshalJSON reads what MarshalJSON writes.
func (v *FieldValue) UnmarshalJSON(data []byte) error {
	var x any
	if err := json.Unmarshal(data, &x); err != nil {
		return err
	}
	switch x := x.(type) {
	case string:
		*v = TextValue(x)
	case float64:
		*v = NumberValue(x)
	case []any:
		list := make([]string, len(x))
		for i, it := range x {
			s, ok := it.(string)
			if !ok {
				return errors.New("a list value holds text only")
			}
			list[i] = s
		}
		*v = ListValue(list)
	default:
		return fmt.Errorf("a field value is a text, a number or a list of texts, not %s", data)
	}
	return nil
}

// MarshalCBOR writes the value's canonical form.
func (v FieldValue) MarshalCBOR() ([]byte, error) {
	switch v.Kind {
	case ValueText:
		return encMode.Marshal(v.Text)
	case ValueNumber:
		return encMode.Marshal(v.Number)
	case ValueList:
		return encMode.Marshal(v.List)
	}
	return nil, errors.New("field value without a kind")
}

// UnmarshalCBOR reads a text string, a float or an array of text strings.
func (v *FieldValue) UnmarshalCBOR(data []byte) error {
	if len(data) == 0 {
		return errors.New("empty field value")
	}
	switch data[0] >> 5 {
	case 3: // text
		*v = FieldValue{Kind: ValueText}
		return decMode.Unmarshal(data, &v.Text)
	case 4: // array
		*v = FieldValue{Kind: ValueList}
		var items []cbor.RawMessage
		if err := decMode.Unmarshal(data, &items); err != nil {
			return err
		}
		v.List = make([]string, len(items))
		for i, it := range items {
			if len(it) == 0 || it[0]>>5 != 3 {
				return errors.New("a list value holds text only")
			}
			if err := decMode.Unmarshal(it, &v.List[i]); err != nil {
				return err
			}
		}
		return nil
	case 7:
		if data[0] != 0xfb {
			return errors.New("a number value is a 64-bit float")
		}
		*v = FieldValue{Kind: ValueNumber}
		return decMode.Unmarshal(data, &v.Number)
	}
	return fmt.Errorf("field value of CBOR major type %d", data[0]>>5)
}

// validFieldKey: 1 to 64 bytes of text without control characters.
func validFieldKey(k string) bool {
	return k != "" && validText(k, maxFieldKey) && !strings.ContainsFunc(k, unicode.IsControl)
}

// validateFieldValues checks the form of an observation's category and
// field values, whatever its category says (that is CheckFields', on
// write only).
func validateFieldValues(o *Observation) error {
	if o.Category != "" && !validID(o.Category) {
		return malformed("category id %q", o.Category)
	}
	if len(o.Fields) > 0 && o.Category == "" {
		return malformed("field values without a category")
	}
	if len(o.Fields) > maxFieldValues {
		return malformed("%d field values", len(o.Fields))
	}
	for k, v := range o.Fields {
		if !validFieldKey(k) {
			return malformed("field key %q", k)
		}
		switch v.Kind {
		case ValueText:
			if v.Text == "" || !validText(v.Text, maxFieldText) {
				return malformed("field %q: text", k)
			}
		case ValueNumber:
			if math.IsNaN(v.Number) || math.IsInf(v.Number, 0) {
				return malformed("field %q: number", k)
			}
		case ValueList:
			if len(v.List) == 0 || len(v.List) > maxListItems {
				return malformed("field %q: %d items", k, len(v.List))
			}
			for i, s := range v.List {
				if s == "" || !validText(s, maxOptionText) || slices.Contains(v.List[:i], s) {
					return malformed("field %q: item %q", k, s)
				}
			}
		default:
			return malformed("field %q: no value", k)
		}
	}
	return nil
}

// Errors about an observation's category and field values, from
// CheckFields and every write that checks them (test with errors.Is; a
// *FieldError names the field).
var (
	// ErrUnknownCategory: no current category of the project has that ID.
	ErrUnknownCategory = errors.New("project: no such category")
	// ErrCategoryKind: the category is not for that kind of observation
	// (a track category for a point, or the other way round).
	ErrCategoryKind = errors.New("project: category is not for this kind of observation")
	// ErrUnknownField: the category has no field with that key.
	ErrUnknownField = errors.New("project: no such field in the category")
	// ErrFieldValue: the value is not one the field takes.
	ErrFieldValue = errors.New("project: bad field value")
)

// FieldError is a refused field value.
type FieldError struct {
	Category string // the category's ID
	Key      string // the field's key
	Label    string // its label, when the category has the field
	Value    string // the value as given
	Err      error  // ErrUnknownField or ErrFieldValue
	Why      string // what is wrong with the value, in words
}

func (e *FieldError) Error() string {
	name := fmt.Sprintf("field %q", e.Key)
	if e.Label != "" && e.Label != e.Key {
		name = fmt.Sprintf("field %q (%s)", e.Key, e.Label)
	}
	if errors.Is(e.Err, ErrUnknownField) {
		return fmt.Sprintf("category %q has no %s", e.Category, name)
	}
	return fmt.Sprintf("%s: %s", name, e.Why)
}

func (e *FieldError) Unwrap() error { return e.Err }

// FieldByKey returns c's field with key k.
func (c *Category) FieldByKey(k string) (*CategoryField, bool) {
	for i := range c.Fields {
		if c.Fields[i].Key == k {
			return &c.Fields[i], true
		}
	}
	return nil, false
}

// ParseValue reads s, as a person types it, as a value of field f: a
// number with a dot for decimals, a date as 2026-05-17, an option by its
// value or its label (case does not matter), several options separated by
// ";" (or "," when no option contains one). Surrounding spaces do not
// count; an empty s is refused (leave the field out instead).
func (f *CategoryField) ParseValue(s string) (FieldValue, error) {
	s = strings.TrimSpace(s)
	bad := func(format string, args ...any) (FieldValue, error) {
		return FieldValue{}, &FieldError{Key: f.Key, Label: f.Label, Value: s, Err: ErrFieldValue, Why: fmt.Sprintf(format, args...)}
	}
	if s == "" {
		return bad("no value given")
	}
	switch f.Type {
	case FieldNumber:
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
				if _, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64); err == nil {
					return bad("%q is not a number (write decimals with a dot: %s)", s, strings.Replace(s, ",", ".", 1))
				}
			}
			return bad("%q is not a number", s)
		}
		return NumberValue(v), nil
	case FieldDate:
		if _, err := time.Parse(DateLayout, s); err != nil {
			return bad("%q is not a date (write it as 2026-05-17)", s)
		}
		return TextValue(s), nil
	case FieldSelectOne:
		if o, ok := f.option(s); ok {
			return TextValue(o.Value), nil
		}
		return bad("%q is not one of its options: %s", s, f.optionList())
	case FieldSelectMany:
		if o, ok := f.option(s); ok {
			return ListValue([]string{o.Value}), nil
		}
		sep := ";"
		if !strings.Contains(s, ";") && !slices.ContainsFunc(f.Options, func(o Option) bool { return strings.Contains(o.Value, ",") }) {
			sep = ","
		}
		var picked []string
		for part := range strings.SplitSeq(s, sep) {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			o, ok := f.option(part)
			if !ok {
				return bad("%q is not one of its options: %s", part, f.optionList())
			}
			if !slices.Contains(picked, o.Value) {
				picked = append(picked, o.Value)
			}
		}
		if len(picked) == 0 {
			return bad("no option given")
		}
		return ListValue(f.inOptionOrder(picked)), nil
	case FieldText:
		if !validText(s, maxFieldText) {
			return bad("text over %d bytes (use the notes for long text)", maxFieldText)
		}
		return TextValue(s), nil
	}
	return bad("field type %q is not known here", f.Type)
}

// ParseList reads items, as a form sends a field's value, as a value of
// field f: for a select many, its options one by one, each by its value
// or its label and whole (a ";" or "," in an option is part of it, not a
// separator), an item that is no option whole being read as ParseValue
// reads it (several separated by ";", as the API has always taken them);
// for a field of another type, one item, read as ParseValue reads it. Surrounding spaces do not count and empty items are left out;
// no item is refused (leave the field out instead).
func (f *CategoryField) ParseList(items []string) (FieldValue, error) {
	var kept []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			kept = append(kept, it)
		}
	}
	if f.Type != FieldSelectMany {
		if len(kept) > 1 {
			return FieldValue{}, &FieldError{Key: f.Key, Label: f.Label, Value: strings.Join(kept, "; "), Err: ErrFieldValue,
				Why: fmt.Sprintf("%d values given: a %s field takes one", len(kept), strings.ReplaceAll(string(f.Type), "_", " "))}
		}
		if len(kept) == 0 {
			return f.ParseValue("")
		}
		return f.ParseValue(kept[0])
	}
	if len(kept) == 0 {
		return FieldValue{}, &FieldError{Key: f.Key, Label: f.Label, Err: ErrFieldValue, Why: "no option given"}
	}
	var picked []string
	for _, it := range kept {
		var vals []string
		if o, ok := f.option(it); ok {
			vals = []string{o.Value}
		} else {
			// Not an option whole: several, separated as a person
			// types them ("fishing; school").
			v, err := f.ParseValue(it)
			if err != nil {
				return FieldValue{}, err
			}
			vals = v.List
		}
		for _, v := range vals {
			if !slices.Contains(picked, v) {
				picked = append(picked, v)
			}
		}
	}
	return ListValue(f.inOptionOrder(picked)), nil
}

// option finds the option whose value or label is s (labels regardless of
// case).
func (f *CategoryField) option(s string) (Option, bool) {
	for _, o := range f.Options {
		if o.Value == s {
			return o, true
		}
	}
	for _, o := range f.Options {
		if strings.EqualFold(o.Label, s) || strings.EqualFold(o.Value, s) {
			return o, true
		}
	}
	return Option{}, false
}

func (f *CategoryField) optionList() string {
	var b strings.Builder
	for i, o := range f.Options {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 12 {
			fmt.Fprintf(&b, "… (%d in all)", len(f.Options))
			break
		}
		b.WriteString(o.Value)
		if o.Label != o.Value {
			fmt.Fprintf(&b, " (%s)", o.Label)
		}
	}
	return b.String()
}

// inOptionOrder sorts values as the field lists its options.
func (f *CategoryField) inOptionOrder(values []string) []string {
	idx := func(v string) int {
		return slices.IndexFunc(f.Options, func(o Option) bool { return o.Value == v })
	}
	slices.SortStableFunc(values, func(a, b string) int { return idx(a) - idx(b) })
	return values
}

// CheckValue reports whether v is a value field f takes (a *FieldError
// wrapping ErrFieldValue if not).
func (f *CategoryField) CheckValue(v FieldValue) error {
	bad := func(format string, args ...any) error {
		return &FieldError{Key: f.Key, Label: f.Label, Value: v.String(), Err: ErrFieldValue, Why: fmt.Sprintf(format, args...)}
	}
	want := map[FieldType]ValueKind{FieldText: ValueText, FieldDate: ValueText, FieldSelectOne: ValueText,
		FieldNumber: ValueNumber, FieldSelectMany: ValueList}[f.Type]
	if v.Kind != want {
		return bad("a %s field does not take %s", strings.ReplaceAll(string(f.Type), "_", " "), kindWords(v.Kind))
	}
	switch f.Type {
	case FieldDate:
		if _, err := time.Parse(DateLayout, v.Text); err != nil {
			return bad("%q is not a date (write it as 2026-05-17)", v.Text)
		}
	case FieldSelectOne:
		if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == v.Text }) {
			return bad("%q is not one of its options: %s", v.Text, f.optionList())
		}
	case FieldSelectMany:
		for _, s := range v.List {
			if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == s }) {
				return bad("%q is not one of its options: %s", s, f.optionList())
			}
		}
	}
	return nil
}

func kindWords(k ValueKind) string {
	switch k {
	case ValueText:
		return "text"
	case ValueNumber:
		return "a number"
	case ValueList:
		return "a list"
	}
	return "an empty value"
}

// ParseFieldLists is ParseFields for values given as lists, as a form
// sends them (CategoryField.ParseList): a key whose items are all empty is
// left out.
func (c *Category) ParseFieldLists(in map[string][]string) (map[string]FieldValue, error) {
	out := make(map[string]FieldValue, len(in))
	for _, k := range slices.Sorted(maps.Keys(in)) {
		f, ok := c.FieldByKey(k)
		if !ok {
			return nil, &FieldError{Category: c.ID, Key: k, Value: strings.Join(in[k], "; "), Err: ErrUnknownField}
		}
		if !slices.ContainsFunc(in[k], func(s string) bool { return strings.TrimSpace(s) != "" }) {
			continue
		}
		v, err := f.ParseList(in[k])
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Category = c.ID
			}
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// ParseFields reads values given as text (key → text, as a person types
// them) for the fields of category c. A key c does not have, or a value
// its field does not take, gives a *FieldError; an empty text removes the
// field and is returned as absent.
func (c *Category) ParseFields(in map[string]string) (map[string]FieldValue, error) {
	lists := make(map[string][]string, len(in))
	for k, v := range in {
		lists[k] = []string{v}
	}
	return c.ParseFieldLists(lists)
}
