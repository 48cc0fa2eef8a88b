package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/catfile"
	"github.com/fieldsync/fieldsync/gis"
	"github.com/fieldsync/fieldsync/ingest"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/track"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

// Field data: the project's categories (imported from a CoMapeo category
// file or a Mapeo presets file, signed by a coordinator), the category and
// field values of observations, tracks (GPX files, through Add and
// Import), and the exports a GIS opens (GeoJSON, CSV, GPX). See
// docs/fielddata.md.

// Errors about categories, field values, category files and GPX files,
// shared with the packages that find them (test with errors.Is; a
// *FieldError names the field).
var (
	// ErrUnknownCategory: the project has no (current) category of that ID.
	ErrUnknownCategory = project.ErrUnknownCategory
	// ErrCategoryKind: a track category for an observation that is not a
	// track, or the other way round.
	ErrCategoryKind = project.ErrCategoryKind
	// ErrUnknownField: the category has no field with that key.
	ErrUnknownField = project.ErrUnknownField
	// ErrFieldValue: a value the field does not take.
	ErrFieldValue = project.ErrFieldValue
	// ErrNotCategoryFile: neither a .comapeocat nor a presets JSON file.
	ErrNotCategoryFile = catfile.ErrNotCategoryFile
	// ErrInvalidCategoryFile: a category file that breaks its format.
	ErrInvalidCategoryFile = catfile.ErrInvalid
	// ErrNotGPX, ErrNoTrackPoints, ErrGPXTooLarge and ErrGPXValue: a .gpx
	// file that is not GPX, has no track or route, is over the limits, or
	// holds a value GPX does not allow.
	ErrNotGPX        = track.ErrNotGPX
	ErrNoTrackPoints = track.ErrNoPoints
	ErrGPXTooLarge   = track.ErrTooLarge
	ErrGPXValue      = track.ErrBadValue
)

// FieldError is a refused field value: which field, and why.
type FieldError = project.FieldError

// ExportReport says what an export wrote (package gis's report).
type ExportReport = gis.Report

// Categories returns the project's categories as they stand, in their
// order; removed ones only with all (an observation of a removed category
// keeps its name).
func (n *Node) Categories(ctx context.Context, all bool) ([]project.CategoryState, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	cs, err := p.Categories(ctx)
	if err != nil || all {
		return cs, err
	}
	return slices.DeleteFunc(cs, func(c project.CategoryState) bool { return c.Deleted }), nil
}

// CategoryViews is Categories as JSON documents (package view), icons as
// data: URLs.
func (n *Node) CategoryViews(ctx context.Context, all bool) ([]view.Category, error) {
	cs, err := n.Categories(ctx, all)
	if err != nil {
		return nil, err
	}
	out := make([]view.Category, len(cs))
	for i := range cs {
		out[i] = cs[i].JSON()
	}
	return out, nil
}

// Category returns category id as it stands (removed ones too: check
// Deleted), or an error wrapping ErrUnknownCategory.
func (n *Node) Category(ctx context.Context, id string) (*project.CategoryState, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.Category(ctx, id)
}

// CategoryIcon returns category id's icon and its media type (image/svg+xml
// or image/png), for a surface that serves it (an HTTP handler should send
// it with "Content-Security-Policy: script-src 'none'" and show it as an
// image, never inline). A category without an icon gives ErrNotFound.
func (n *Node) CategoryIcon(ctx context.Context, id string) ([]byte, string, error) {
	c, err := n.Category(ctx, id)
	if err != nil {
		return nil, "", err
	}
	if len(c.Icon) == 0 {
		return nil, "", fmt.Errorf("icon of category %q: %w", id, ErrNotFound)
	}
	return c.Icon, c.IconType, nil
}

// CategoryImportOptions shape ImportCategories.
type CategoryImportOptions struct {
	// Lang picks a translation of a .comapeocat ("pt", "es"); empty: the
	// file's own words.
	Lang string
	// Merge keeps the project's categories that the file does not have;
	// without it the file's set replaces the project's (the others are
	// removed: their observations keep them).
	Merge bool
}

// CategoryImport says what ImportCategories did.
type CategoryImport struct {
	Path     string   `json:"path"`
	Format   string   `json:"format"` // comapeocat or presets
	Set      string   `json:"set"`    // the set's name and version
	Lang     string   `json:"lang,omitempty"`
	Added    []string `json:"added"`
	Changed  []string `json:"changed"`
	Removed  []string `json:"removed"`
	Same     []string `json:"unchanged"`
	Warnings []string `json:"warnings"` // what was left out or changed on the way, in words
	Records  int      `json:"records"`  // category records signed
}

// ImportCategories reads a category file (a CoMapeo .comapeocat, or a JSON
// file of presets and fields in the shape Mapeo's presets use, its icons
// in an icons/ directory beside it) and makes its categories the
// project's, signed by this device, in one transaction. Only the creator
// and coordinators may (ErrNotAuthorized). A file that is not a category
// file gives ErrNotCategoryFile, one that breaks its format
// ErrInvalidCategoryFile, each saying what is wrong; nothing is written
// then. Importing the same file again signs nothing.
func (n *Node) ImportCategories(ctx context.Context, path string, opts CategoryImportOptions) (*CategoryImport, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if r := p.RoleOf(n.ID()); !r.CanManage() {
		return nil, fmt.Errorf("%w: this device is %s; only the creator and coordinators change the categories", ErrNotAuthorized, roleWord(r))
	}
	set, err := catfile.ReadFile(path, catfile.Options{Lang: opts.Lang})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	ch, err := p.PutCategories(ctx, set.Categories, !opts.Merge)
	if errors.Is(err, project.ErrNotAuthorized) {
		return nil, fmt.Errorf("%w: only the creator and coordinators change the categories", ErrNotAuthorized)
	}
	if err != nil {
		return nil, err
	}
	rep := &CategoryImport{Path: path, Format: set.Format, Set: set.Label(), Lang: set.Lang, Added: nonNil(ch.Added), Changed: nonNil(ch.Changed),
		Removed: nonNil(ch.Removed), Same: nonNil(ch.Unchanged), Warnings: nonNil(set.Warnings), Records: len(ch.Records)}
	if len(ch.Records) > 0 {
		n.changed()
	}
	return rep, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// noCategoryError: field values given for an observation without a
// category. It wraps ErrUnknownCategory, but says only what is wrong (not
// "no such category": no category was named).
type noCategoryError string

func (e noCategoryError) Error() string { return string(e) }
func (e noCategoryError) Unwrap() error { return ErrUnknownCategory }

// docKind says whether files make a track (a .gpx among them) or an
// observation, as the category's "applies to" names them.
func docKind(files []string) string {
	for _, f := range files {
		if strings.EqualFold(filepath.Ext(f), ".gpx") {
			return project.AppliesTrack
		}
	}
	return project.AppliesObservation
}

// categoryFor checks category id for a new observation of kind doc and
// reads its field values: before any file is stored, so that a refusal
// stores nothing.
func categoryFor(ctx context.Context, p *project.Project, id string, fields map[string]string, lists map[string][]string, doc string) (*project.CategoryState, map[string]project.FieldValue, error) {
	if id == "" {
		if len(fields) > 0 || len(lists) > 0 {
			return nil, nil, noCategoryError("field values need a category (a field belongs to a category)")
		}
		return nil, nil, nil
	}
	c, err := p.Category(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if c.Deleted {
		return nil, nil, fmt.Errorf("%w: %q was removed from the project's categories", ErrUnknownCategory, id)
	}
	if !c.AppliesTo(doc) {
		return nil, nil, fmt.Errorf("%w: %q (%s) is for %ss only", ErrCategoryKind, c.ID, c.Name, c.Applies[0])
	}
	vals, err := parseFields(&c.Category, fields, lists)
	if err != nil {
		return nil, nil, err
	}
	return c, vals, nil
}

// parseFields reads the values given as text and as lists for the fields
// of c; a key in both is read from lists.
func parseFields(c *project.Category, fields map[string]string, lists map[string][]string) (map[string]project.FieldValue, error) {
	text := make(map[string]string, len(fields))
	for k, v := range fields {
		if _, ok := lists[k]; !ok {
			text[k] = v
		}
	}
	vals, err := c.ParseFields(text)
	if err != nil {
		return nil, err
	}
	lvals, err := c.ParseFieldLists(lists)
	if err != nil {
		return nil, err
	}
	maps.Copy(vals, lvals)
	return vals, nil
}

// withCategory gives o category c, its values and its default tags.
func withCategory(o *project.Observation, c *project.CategoryState, vals map[string]project.FieldValue) {
	if c == nil {
		return
	}
	o.Category = c.ID
	if len(vals) > 0 {
		o.Fields = vals
	}
	for _, t := range c.Tags {
		if !slices.Contains(o.Tags, t) {
			o.Tags = append(o.Tags, t)
		}
	}
}

// addFieldData is Add for an observation with a category, or without
// files: the category and its values are checked before any file is
// stored; files are stored as Add stores them.
func (n *Node) addFieldData(ctx context.Context, p *project.Project, files []string, opts ImportOptions) (*project.Record, error) {
	c, vals, err := categoryFor(ctx, p, opts.Category, opts.Fields, opts.FieldLists, docKind(files))
	if err != nil {
		return nil, err
	}
	o := &project.Observation{Tags: slices.Clone(opts.Tags), Notes: opts.Notes, Position: opts.Position}
	if len(files) > 0 {
		o, err = ingest.Prepare(ctx, files, ingest.Options{Store: n.store, Thumbs: n.opts.Thumbs, Tags: opts.Tags, Notes: opts.Notes,
			Position: opts.Position, ForcePosition: opts.Position != nil, RequireVariants: opts.RequireVariants, Warn: opts.Warn})
		if err != nil {
			return nil, err
		}
		o.Tags = slices.Clone(o.Tags)
	}
	withCategory(o, c, vals)
	recs, err := p.AddObservations(ctx, []project.Observation{*o})
	if err != nil {
		return nil, err
	}
	n.changed(recs[0].Observation.ID)
	return recs[0], nil
}

// editFieldData applies an Edit's category and field values to o, the
// observation's current content: a new category replaces the old one's
// default tags with its own and drops the values of fields it does not
// have; each value given is read as its field's type ("" removes it).
func (n *Node) editFieldData(ctx context.Context, p *project.Project, o *project.Observation, e Edit) error {
	if e.Category != nil && *e.Category != o.Category {
		if o.Category != "" {
			if old, err := p.Category(ctx, o.Category); err == nil {
				o.Tags = slices.DeleteFunc(slices.Clone(o.Tags), func(t string) bool { return slices.Contains(old.Tags, t) })
			}
		}
		if *e.Category == "" {
			o.Category, o.Fields = "", nil
		} else {
			doc := project.AppliesObservation
			if o.IsTrack() {
				doc = project.AppliesTrack
			}
			c, _, err := categoryFor(ctx, p, *e.Category, nil, nil, doc)
			if err != nil {
				return err
			}
			kept := map[string]project.FieldValue{}
			for k, v := range o.Fields {
				if f, ok := c.FieldByKey(k); ok && f.CheckValue(v) == nil {
					kept[k] = v
				}
			}
			o.Fields = kept
			withCategory(o, c, nil)
		}
	}
	if len(e.Fields) == 0 && len(e.FieldLists) == 0 {
		return nil
	}
	if o.Category == "" {
		return noCategoryError("the observation has no category, so no fields: give it a category along with its fields")
	}
	c, err := p.Category(ctx, o.Category)
	if err != nil {
		return err
	}
	vals, err := parseFields(&c.Category, e.Fields, e.FieldLists)
	if err != nil {
		return err
	}
	fields := make(map[string]project.FieldValue, len(o.Fields)+len(vals))
	for k, v := range o.Fields {
		fields[k] = v
	}
	for k := range e.Fields {
		if _, ok := vals[k]; !ok {
			delete(fields, k) // given empty: removed
		}
	}
	for k := range e.FieldLists {
		if _, ok := vals[k]; !ok {
			delete(fields, k)
		}
	}
	maps.Copy(fields, vals)
	o.Fields = fields
	return nil
}

// nameCategories fills in the name and color of each observation's
// category, as this device knows it.
func (n *Node) nameCategories(ctx context.Context, obs []view.Observation) {
	if !slices.ContainsFunc(obs, func(o view.Observation) bool { return o.Category != nil }) {
		return
	}
	cs, err := n.Categories(ctx, true)
	if err != nil {
		return
	}
	for i := range obs {
		ref := obs[i].Category
		if ref == nil {
			continue
		}
		for _, c := range cs {
			if c.ID == ref.ID {
				ref.Name, ref.Color = c.Name, c.Color
			}
		}
	}
}

// maxPointsBlob is the largest points blob read (a MaxPoints track takes
// well under it).
const maxPointsBlob = 64 << 20

// TrackPoints returns the points of a track attachment, from its points
// blob c (Attachment.Points.CID): for a map to draw, and for the exports.
// A blob not here yet gives an error wrapping fs.ErrNotExist.
func (n *Node) TrackPoints(ctx context.Context, c cid.Cid) (*track.Track, error) {
	rc, err := n.OpenBlob(ctx, c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPointsBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPointsBlob {
		return nil, fmt.Errorf("track points %s: over %d MiB", c, maxPointsBlob>>20)
	}
	t, err := track.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("track points %s: %w", c, err)
	}
	return t, nil
}

// ExportOptions shape the exports.
type ExportOptions struct {
	// Category, when set, exports the observations of that category only.
	Category string
	// BOM starts a CSV with a UTF-8 byte order mark, for Excel.
	BOM bool
}

// ExportGeoJSON writes the project's current observations and tracks as a
// GeoJSON FeatureCollection (package gis). Tracks whose points are not
// on this device yet are listed in the report, not written.
func (n *Node) ExportGeoJSON(ctx context.Context, w io.Writer, opts ExportOptions) (*ExportReport, error) {
	d, err := n.exportData(ctx, opts)
	if err != nil {
		return nil, err
	}
	return gis.WriteGeoJSON(w, d)
}

// ExportCSV writes one CSV row per current observation (package gis).
func (n *Node) ExportCSV(ctx context.Context, w io.Writer, opts ExportOptions) (*ExportReport, error) {
	d, err := n.exportData(ctx, opts)
	if err != nil {
		return nil, err
	}
	return gis.WriteCSV(w, d, gis.CSVOptions{BOM: opts.BOM})
}

// ExportGPX writes the current observations as GPX waypoints and the
// tracks as GPX tracks (package gis).
func (n *Node) ExportGPX(ctx context.Context, w io.Writer, opts ExportOptions) (*ExportReport, error) {
	d, err := n.exportData(ctx, opts)
	if err != nil {
		return nil, err
	}
	return gis.WriteGPX(w, d)
}

func (n *Node) exportData(ctx context.Context, opts ExportOptions) (*gis.Data, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if opts.Category != "" {
		if _, err := p.Category(ctx, opts.Category); err != nil {
			return nil, err
		}
	}
	obs, err := p.Observations(ctx, project.ObservationQuery{Category: opts.Category})
	if err != nil {
		return nil, err
	}
	cats, err := n.CategoryViews(ctx, true)
	if err != nil {
		return nil, err
	}
	d := &gis.Data{ProjectID: p.ID().String(), ProjectName: p.Name(), Exported: time.Now().UTC(), Categories: cats,
		Tracks: map[string]*track.Track{}, Devices: map[string]string{}}
	if names, err := p.DeviceNames(ctx); err == nil {
		for id, name := range names {
			d.Devices[id.String()] = name
		}
	}
	for i := range obs {
		j := obs[i].JSON()
		d.Observations = append(d.Observations, j)
		for _, a := range obs[i].Attachments {
			if a.Kind != project.AttachTrack || a.Points == nil {
				continue
			}
			t, err := n.TrackPoints(ctx, a.Points.CID)
			if err != nil {
				continue // not here yet: the report lists it
			}
			d.Tracks[a.Points.CID.String()] = t
		}
	}
	n.nameCategories(ctx, d.Observations)
	return d, nil
}
