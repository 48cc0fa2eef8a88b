package project

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A project's categories (what its observers record: a river crossing, a
// logging road, a sacred site, each with its fields) are category
// records, one per version of one category, signed by the creator or a
// coordinator (a member's category records are kept but do not count).
// A version names the versions of the same category it replaces (links),
// as an observation's versions do; the current version is the head with
// the latest time, then the greatest CID, so every device that holds the
// same records shows the same categories. A removed category is a version
// marked deleted: observations of it keep its name.

// Document kinds a category applies to, as CoMapeo names them.
const (
	AppliesObservation = "observation"
	AppliesTrack       = "track"
)

// MaxIconSize is the largest icon a category record carries (8 KiB). The
// icon travels inside the record, with the records, before any blob: a
// category set of 40 categories with icons is then a few hundred KiB of
// records at most.
const MaxIconSize = 8 << 10

// Icon media types a category may carry.
const (
	IconSVG = "image/svg+xml"
	IconPNG = "image/png"
)

// Category is one version of one category of the project.
type Category struct {
	ID   string // chosen by the category file (CoMapeo's category ID), 1 to 64 bytes
	Name string
	// Set names the category set the version came from (a category file's
	// name and version), for people to see which set is in use.
	Set      string
	Icon     []byte // SVG or PNG, at most MaxIconSize bytes; nil for none
	IconType string // IconSVG or IconPNG when Icon is set
	Color    string // "#rrggbb" (or #rgb, #rrggbbaa), lower case; "" for none
	// Tags are given to an observation of the category when it is made
	// (the category file's tags, as "key=value").
	Tags []string
	// Applies lists the kinds of observation the category is for
	// (AppliesObservation, AppliesTrack, in that order); empty: both.
	Applies []string
	Order   int // place in the list shown to observers, from 0
	Fields  []CategoryField
	Time    time.Time // when this version was made
	Links   []cid.Cid // the versions of this category it replaces
	Deleted bool      // the category was removed from the project's set
}

// AppliesTo reports whether c is for observations of kind doc
// (AppliesObservation or AppliesTrack).
func (c *Category) AppliesTo(doc string) bool {
	return len(c.Applies) == 0 || slices.Contains(c.Applies, doc)
}

type wireCategory struct {
	ID       string      `cbor:"id"`
	Name     string      `cbor:"name"`
	Time     int64       `cbor:"time"`
	Set      string      `cbor:"set,omitempty"`
	Icon     []byte      `cbor:"icon,omitempty"`
	IconType string      `cbor:"itype,omitempty"`
	Color    string      `cbor:"color,omitempty"`
	Tags     []string    `cbor:"tags,omitempty"`
	Applies  []string    `cbor:"applies,omitempty"`
	Order    uint64      `cbor:"order,omitempty"`
	Fields   []wireField `cbor:"fields,omitempty"`
	Links    []link      `cbor:"links,omitempty"`
	Deleted  bool        `cbor:"deleted,omitempty"`
}

type wireField struct {
	Key     string       `cbor:"key"`
	Type    string       `cbor:"type"`
	Label   string       `cbor:"label"`
	Help    string       `cbor:"help,omitempty"`
	Hint    string       `cbor:"hint,omitempty"`
	Options []wireOption `cbor:"options,omitempty"`
}

type wireOption struct {
	Label string `cbor:"label"`
	Value string `cbor:"value"`
}

func toWireCategory(c *Category) *wireCategory {
	w := &wireCategory{ID: c.ID, Name: c.Name, Time: ms(c.Time), Set: c.Set, Icon: c.Icon, IconType: c.IconType,
		Color: c.Color, Tags: c.Tags, Applies: c.Applies, Order: uint64(max(c.Order, 0)), Deleted: c.Deleted}
	for _, f := range c.Fields {
		wf := wireField{Key: f.Key, Type: string(f.Type), Label: f.Label, Help: f.Help, Hint: f.Placeholder}
		for _, o := range f.Options {
			wf.Options = append(wf.Options, wireOption{Label: o.Label, Value: o.Value})
		}
		w.Fields = append(w.Fields, wf)
	}
	for _, l := range c.Links {
		w.Links = append(w.Links, link{l})
	}
	return w
}

func fromWireCategory(w *wireCategory) *Category {
	c := &Category{ID: w.ID, Name: w.Name, Time: fromMS(w.Time), Set: w.Set, Icon: w.Icon, IconType: w.IconType,
		Color: w.Color, Tags: w.Tags, Applies: w.Applies, Order: int(min(w.Order, 1<<31-1)), Deleted: w.Deleted}
	for _, wf := range w.Fields {
		f := CategoryField{Key: wf.Key, Type: FieldType(wf.Type), Label: wf.Label, Help: wf.Help, Placeholder: wf.Hint}
		for _, o := range wf.Options {
			f.Options = append(f.Options, Option{Label: o.Label, Value: o.Value})
		}
		c.Fields = append(c.Fields, f)
	}
	for _, l := range w.Links {
		c.Links = append(c.Links, l.c)
	}
	return c
}

var colorRE = regexp.MustCompile(`^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$`)

// validID: 1 to 64 bytes of text without control characters (an
// observation's category, a category's own ID).
func validID(s string) bool {
	return s != "" && validText(s, maxIDLen) && !strings.ContainsFunc(s, unicode.IsControl)
}

// Validate reports, as an error wrapping ErrMalformed, what in c a
// category record would refuse.
func (c *Category) Validate() error { return validateCategory(c) }

func validateCategory(c *Category) error {
	if c == nil || !validID(c.ID) {
		return malformed("category id")
	}
	if c.Name == "" || !validText(c.Name, maxNameLen) {
		return malformed("category %q: name", c.ID)
	}
	if !validText(c.Set, maxNameLen) {
		return malformed("category %q: set", c.ID)
	}
	if len(c.Icon) > MaxIconSize {
		return malformed("category %q: icon of %d bytes, over %d", c.ID, len(c.Icon), MaxIconSize)
	}
	if (len(c.Icon) > 0) != (c.IconType != "") || c.IconType != "" && c.IconType != IconSVG && c.IconType != IconPNG {
		return malformed("category %q: icon type %q", c.ID, c.IconType)
	}
	if c.Color != "" && !colorRE.MatchString(c.Color) {
		return malformed("category %q: color %q", c.ID, c.Color)
	}
	if len(c.Tags) > maxTags {
		return malformed("category %q: %d tags", c.ID, len(c.Tags))
	}
	for _, t := range c.Tags {
		if t == "" || !validText(t, maxTagLen) {
			return malformed("category %q: tag %q", c.ID, t)
		}
	}
	switch {
	case len(c.Applies) == 0,
		slices.Equal(c.Applies, []string{AppliesObservation}),
		slices.Equal(c.Applies, []string{AppliesTrack}),
		slices.Equal(c.Applies, []string{AppliesObservation, AppliesTrack}):
	default:
		return malformed("category %q: applies to %q", c.ID, c.Applies)
	}
	if c.Order < 0 {
		return malformed("category %q: order", c.ID)
	}
	if len(c.Fields) > maxFields {
		return malformed("category %q: %d fields", c.ID, len(c.Fields))
	}
	for i, f := range c.Fields {
		if err := validateField(&f); err != nil {
			return malformed("category %q: %v", c.ID, err)
		}
		if slices.ContainsFunc(c.Fields[:i], func(g CategoryField) bool { return g.Key == f.Key }) {
			return malformed("category %q: two fields with key %q", c.ID, f.Key)
		}
	}
	if len(c.Links) > maxLinks {
		return malformed("category %q: %d links", c.ID, len(c.Links))
	}
	for _, l := range c.Links {
		if !l.Defined() || l.Type() != codecDagCBOR {
			return malformed("category %q: link %v", c.ID, l)
		}
	}
	return nil
}

func validateField(f *CategoryField) error {
	if !validFieldKey(f.Key) {
		return fmt.Errorf("field key %q", f.Key)
	}
	if f.Label == "" || !validText(f.Label, maxNameLen) || !validText(f.Help, maxHelpText) || !validText(f.Placeholder, maxNameLen) {
		return fmt.Errorf("field %q: label, help or placeholder", f.Key)
	}
	switch f.Type {
	case FieldText, FieldNumber, FieldDate:
		if len(f.Options) > 0 {
			return fmt.Errorf("field %q: options on a %s field", f.Key, f.Type)
		}
		return nil
	case FieldSelectOne, FieldSelectMany:
	default:
		return fmt.Errorf("field %q: type %q", f.Key, f.Type)
	}
	if len(f.Options) == 0 || len(f.Options) > maxOptions {
		return fmt.Errorf("field %q: %d options", f.Key, len(f.Options))
	}
	for i, o := range f.Options {
		if o.Value == "" || o.Label == "" || !validText(o.Value, maxOptionText) || !validText(o.Label, maxOptionText) {
			return fmt.Errorf("field %q: option %q", f.Key, o.Value)
		}
		if slices.ContainsFunc(f.Options[:i], func(p Option) bool { return p.Value == o.Value }) {
			return fmt.Errorf("field %q: two options %q", f.Key, o.Value)
		}
	}
	return nil
}

// CategoryState is a category as it stands: its current version.
type CategoryState struct {
	Category
	Record cid.Cid // the current version
	Author peer.ID // who signed it
	Heads  int     // versions no other replaces; more than 1: concurrent edits by two coordinators
}

// Categories returns the project's categories as they stand, removed ones
// (Deleted) included, in their order, then by name and ID.
func (p *Project) Categories(ctx context.Context) ([]CategoryState, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT author, block FROM project_records WHERE kind = ? AND ok = 1`, string(KindCategory))
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer rows.Close()
	type version struct {
		r      *Record
		author peer.ID
	}
	byID := map[string][]version{}
	for rows.Next() {
		var a, b []byte
		if err := rows.Scan(&a, &b); err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		r, err := decodeRecord(b, false)
		if err != nil {
			return nil, fmt.Errorf("categories: stored record: %w", err)
		}
		byID[r.Category.ID] = append(byID[r.Category.ID], version{r, peer.ID(a)})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	out := make([]CategoryState, 0, len(byID))
	for _, vs := range byID {
		replaced := map[cid.Cid]bool{}
		for _, v := range vs {
			for _, l := range v.r.Category.Links {
				replaced[l] = true
			}
		}
		var best *version
		heads := 0
		for i := range vs {
			v := &vs[i]
			if replaced[v.r.CID] {
				continue
			}
			heads++
			if best == nil || newer(v.r, best.r) {
				best = v
			}
		}
		if best == nil {
			continue // every version replaced by another: a cycle no honest device signs
		}
		out = append(out, CategoryState{Category: *best.r.Category, Record: best.r.CID, Author: best.author, Heads: heads})
	}
	slices.SortFunc(out, func(a, b CategoryState) int {
		return cmp.Or(cmp.Compare(a.Order, b.Order), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// newer reports whether category version a wins over b: the later time,
// then the greater CID.
func newer(a, b *Record) bool {
	if c := a.Category.Time.Compare(b.Category.Time); c != 0 {
		return c > 0
	}
	return bytes.Compare(a.CID.Bytes(), b.CID.Bytes()) > 0
}

// Category returns category id as it stands (a removed one too: check
// Deleted), or an error wrapping ErrUnknownCategory.
func (p *Project) Category(ctx context.Context, id string) (*CategoryState, error) {
	cs, err := p.Categories(ctx)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if cs[i].ID == id {
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownCategory, id)
}

// CategoryChange says what PutCategories did, by category ID.
type CategoryChange struct {
	Added, Changed, Removed, Unchanged []string
	Records                            []*Record // the versions signed, in log order
}

// PutCategories makes cats the project's categories, in one transaction:
// a category not known yet is added, one that differs from its current
// version gets a new version replacing it, one that does not is left as
// it is (so importing the same file twice signs nothing). With replace,
// every current category not in cats is removed (a version marked
// deleted); without, they stay. Only the creator and coordinators may
// (ErrNotAuthorized). Time and Links of cats are set here.
func (p *Project) PutCategories(ctx context.Context, cats []Category, replace bool) (*CategoryChange, error) {
	seen := map[string]bool{}
	for i := range cats {
		if seen[cats[i].ID] {
			return nil, fmt.Errorf("%w: two categories with id %q", ErrMalformed, cats[i].ID)
		}
		seen[cats[i].ID] = true
		if err := validateCategory(&cats[i]); err != nil {
			return nil, err
		}
	}
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, role, err := p.writableHead()
	if err != nil {
		return nil, err
	}
	if !role.CanManage() {
		return nil, fmt.Errorf("%w: only the creator and coordinators change the categories", ErrNotAuthorized)
	}
	current, err := p.Categories(ctx)
	if err != nil {
		return nil, err
	}
	heads, err := p.categoryHeads(ctx)
	if err != nil {
		return nil, err
	}
	now := p.nowMS()
	ch := &CategoryChange{}
	var bodies []*Category
	next := func(c Category) *Category {
		c.Links = nil
		c.Time = now
		for _, hd := range heads[c.ID] {
			c.Links = append(c.Links, hd.cid)
			if !hd.time.Before(c.Time) {
				c.Time = hd.time.Add(time.Millisecond)
			}
		}
		return &c
	}
	for _, c := range cats {
		i := slices.IndexFunc(current, func(s CategoryState) bool { return s.ID == c.ID })
		switch {
		case i < 0:
			ch.Added = append(ch.Added, c.ID)
		case !current[i].Deleted && sameCategory(&current[i].Category, &c) && current[i].Heads == 1:
			ch.Unchanged = append(ch.Unchanged, c.ID)
			continue
		case current[i].Deleted:
			ch.Added = append(ch.Added, c.ID)
		default:
			ch.Changed = append(ch.Changed, c.ID)
		}
		bodies = append(bodies, next(c))
	}
	if replace {
		for _, s := range current {
			if s.Deleted || seen[s.ID] {
				continue
			}
			c := s.Category
			c.Deleted = true
			ch.Removed = append(ch.Removed, c.ID)
			bodies = append(bodies, next(c))
		}
	}
	if len(bodies) == 0 {
		return ch, nil
	}
	recs := make([]*Record, len(bodies))
	for i, c := range bodies {
		r, err := newRecord(p.self, p.id, h.seq+1, h.cid, c)
		if err != nil {
			return nil, fmt.Errorf("category %q: %w", c.ID, err)
		}
		recs[i] = r
		h = logHead{r.Seq, r.CID}
	}
	res := make([]Result, len(recs))
	if err := p.applyLocked(ctx, recs, res, nil); err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
	}
	ch.Records = recs
	return ch, nil
}

// sameCategory reports whether a and b say the same, time and links
// aside.
func sameCategory(a, b *Category) bool {
	x, y := *a, *b
	x.Time, y.Time, x.Links, y.Links = time.Time{}, time.Time{}, nil, nil
	ea, err1 := encMode.Marshal(toWireCategory(&x))
	eb, err2 := encMode.Marshal(toWireCategory(&y))
	return err1 == nil && err2 == nil && bytes.Equal(ea, eb)
}

type catHead struct {
	cid  cid.Cid
	time time.Time
}

// categoryHeads returns, per category ID, the counted versions no
// counted version replaces.
func (p *Project) categoryHeads(ctx context.Context) (map[string][]catHead, error) {
	blocks, err := queryBlocks(ctx, p.db, `SELECT block FROM project_records WHERE kind = ? AND ok = 1`, string(KindCategory))
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	var recs []*Record
	replaced := map[cid.Cid]bool{}
	for _, b := range blocks {
		r, err := decodeRecord(b, false)
		if err != nil {
			return nil, fmt.Errorf("categories: stored record: %w", err)
		}
		recs = append(recs, r)
		for _, l := range r.Category.Links {
			replaced[l] = true
		}
	}
	out := map[string][]catHead{}
	for _, r := range recs {
		if !replaced[r.CID] {
			out[r.Category.ID] = append(out[r.Category.ID], catHead{r.CID, r.Category.Time})
		}
	}
	return out, nil
}

// CheckFields checks o's category and field values against the project's
// categories as they stand, as every write of an observation does: the
// category must exist, not be removed and be for o's kind (a track or
// not); each value must be one its field takes. A category and values
// that an earlier version of the same observation (earlier) already had
// are not checked again, so an observation made under an older category
// set can still be edited. Errors wrap ErrUnknownCategory, ErrCategoryKind,
// ErrUnknownField or ErrFieldValue (the last two as a *FieldError).
func (p *Project) CheckFields(ctx context.Context, o *Observation, earlier []Observation) error {
	if o.Category == "" && len(o.Fields) == 0 {
		return nil
	}
	if err := validateFieldValues(o); err != nil {
		return err
	}
	had := func(key string, v FieldValue) bool {
		return slices.ContainsFunc(earlier, func(e Observation) bool {
			w, ok := e.Fields[key]
			return e.Category == o.Category && ok && w.Equal(v)
		})
	}
	sameCat := slices.ContainsFunc(earlier, func(e Observation) bool { return e.Category == o.Category })
	cs, err := p.Category(ctx, o.Category)
	if err != nil && !errors.Is(err, ErrUnknownCategory) {
		return err
	}
	if cs == nil || cs.Deleted {
		if sameCat && !slices.ContainsFunc(slices.Collect(maps.Keys(o.Fields)), func(k string) bool { return !had(k, o.Fields[k]) }) {
			return nil // nothing new on a category since removed
		}
		if cs != nil {
			return fmt.Errorf("%w: %q was removed from the project's categories", ErrUnknownCategory, o.Category)
		}
		return fmt.Errorf("%w: %q", ErrUnknownCategory, o.Category)
	}
	if !sameCat {
		doc := AppliesObservation
		if o.IsTrack() {
			doc = AppliesTrack
		}
		if !cs.AppliesTo(doc) {
			return fmt.Errorf("%w: %q (%s) is for %ss only", ErrCategoryKind, cs.ID, cs.Name, cs.Applies[0])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Fields)) {
		v := o.Fields[k]
		if had(k, v) {
			continue
		}
		f, ok := cs.FieldByKey(k)
		if !ok {
			return &FieldError{Category: cs.ID, Key: k, Value: v.String(), Err: ErrUnknownField}
		}
		if err := f.CheckValue(v); err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Category = cs.ID
			}
			return err
		}
	}
	return nil
}
