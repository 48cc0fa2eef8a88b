// Package gis writes a project's observations and tracks in the formats
// a GIS analyst opens (and a lawyer's spreadsheet): GeoJSON (RFC 7946),
// CSV (RFC 4180) and GPX 1.1.
//
// Words: an observation is one view.Observation, with its category and
// field values; a track is an observation's track attachment, its points
// given decoded (package track); a point feature (GeoJSON), a row (CSV)
// or a waypoint (GPX) is one observation; a line feature or a GPX track
// is one track. The formats, column by column, and the choices behind
// them (field values as flat properties, select-many values joined with
// ";", a byte order mark on the CSV) are in docs/fielddata.md.
//
// The package reads no store and no database: the caller (package node)
// gives it everything in a Data.
package gis

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/track"
	"github.com/fieldsync/fieldsync/view"
)

// Data is what an export writes.
type Data struct {
	ProjectID   string
	ProjectName string
	Exported    time.Time
	// Categories are the project's categories, removed ones included:
	// their names, their fields' labels and their order.
	Categories []view.Category
	// Observations are written in order of creation (then ID), whatever
	// their order here.
	Observations []view.Observation
	// Tracks are the decoded points of the track attachments, by the
	// points blob's CID (view.Attachment.Points.CID). A track whose points
	// are missing is left out of the GeoJSON and the GPX, and listed in
	// the report.
	Tracks map[string]*track.Track
	// Devices names the authors, by peer ID (optional).
	Devices map[string]string
}

// Report says what an export wrote. Its JSON (fieldsync export --json)
// follows docs/json.md: snake_case keys, a list never null.
type Report struct {
	Observations int `json:"observations"` // observations written (CSV rows)
	Points       int `json:"points"`       // point features, or GPX waypoints
	Lines        int `json:"lines"`        // line features, or GPX tracks
	// NoPosition counts the observations without a position and without
	// a track: not in a GeoJSON or GPX file (a CSV has them).
	NoPosition int `json:"no_position"`
	// MissingTracks are the observations whose track points are not on
	// this device yet (sync first): their lines are not written.
	MissingTracks []string `json:"missing_tracks"`
}

func newReport() *Report { return &Report{MissingTracks: []string{}} }

// Digits of a coordinate written: 7 decimals, about 1 cm.
const coordDigits = 7

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// decimal writes v with at most digits decimals, never with an exponent
// (GPX's xsd:decimal and spreadsheets alike).
func decimal(v float64, digits int) string {
	return strconv.FormatFloat(round(v, digits), 'f', -1, 64)
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// sorted returns the observations in order of creation, then ID.
func (d *Data) sorted() []view.Observation {
	obs := slices.Clone(d.Observations)
	slices.SortStableFunc(obs, func(a, b view.Observation) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return obs
}

func (d *Data) category(id string) *view.Category {
	for i := range d.Categories {
		if d.Categories[i].ID == id {
			return &d.Categories[i]
		}
	}
	return nil
}

// categoryName is the observation's category's name ("" for none).
func (d *Data) categoryName(o *view.Observation) string {
	if o.Category == nil {
		return ""
	}
	if o.Category.Name != "" {
		return o.Category.Name
	}
	if c := d.category(o.Category.ID); c != nil {
		return c.Name
	}
	return ""
}

// reserved are the property and column names fieldsync writes itself; a
// field with one of these keys is written as "field_KEY".
var reserved = map[string]bool{
	"id": true, "record": true, "author": true, "device": true, "created": true, "updated": true, "time_guessed": true,
	"lat": true, "lon": true, "accuracy_m": true, "category": true, "category_name": true, "tags": true, "notes": true,
	"attachments": true, "attachment_cids": true, "kind": true, "track_name": true, "track_points": true,
	"track_length_m": true, "track_start": true, "track_end": true,
}

// column is one field's property or column.
type column struct {
	key, name, label string
}

// fieldColumns lists the fields the observations use, as columns: the
// fields of their categories in the categories' order, then keys no
// category here defines, by key.
func (d *Data) fieldColumns(obs []view.Observation) []column {
	used := map[string]bool{}
	keys := map[string]bool{}
	for _, o := range obs {
		if o.Category != nil {
			used[o.Category.ID] = true
		}
		for k := range o.Fields {
			keys[k] = true
		}
	}
	var cols []column
	have := map[string]bool{}
	add := func(key, label string) {
		if have[key] {
			return
		}
		have[key] = true
		name := key
		if reserved[key] {
			name = "field_" + key
		}
		cols = append(cols, column{key: key, name: name, label: label})
	}
	cats := slices.Clone(d.Categories)
	slices.SortStableFunc(cats, func(a, b view.Category) int { return cmp.Compare(a.Order, b.Order) })
	for _, c := range cats {
		if !used[c.ID] {
			continue
		}
		for _, f := range c.Fields {
			add(f.Key, f.Label)
		}
	}
	var rest []string
	for k := range keys {
		if !have[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		add(k, k)
	}
	return cols
}

// flat writes a field value as one property or cell: a number stays a
// number (GeoJSON) and is written plainly (CSV, GPX); a list is joined
// with ";" (as OpenStreetMap and iD write several values of one tag), so
// that every GIS and spreadsheet reads it as text.
func flat(v any) (text string, number *float64) {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), &x
	case string:
		return x, nil
	case []string:
		return strings.Join(x, ";"), nil
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i], _ = flat(p)
		}
		return strings.Join(parts, ";"), nil
	}
	return "", nil
}

// tracksOf returns the observation's track attachments.
func tracksOf(o *view.Observation) []view.Attachment {
	var out []view.Attachment
	for _, a := range o.Attachments {
		if a.Kind == "track" && a.Points != nil && a.Track != nil {
			out = append(out, a)
		}
	}
	return out
}

// attachmentNames and attachmentCIDs list the originals, ";"-joined.
func attachmentNames(o *view.Observation) string {
	var out []string
	for _, a := range o.Attachments {
		out = append(out, a.Name)
	}
	return strings.Join(out, ";")
}

func attachmentCIDs(o *view.Observation) string {
	var out []string
	for _, a := range o.Attachments {
		if a.Original != nil {
			out = append(out, a.Original.CID)
		}
	}
	return strings.Join(out, ";")
}
