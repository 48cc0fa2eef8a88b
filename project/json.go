package project

import (
	"encoding/base64"

	"github.com/fieldsync/fieldsync/view"
)

// JSON returns the observation's JSON document (package view), without
// what only the device knows (variant states, fixity, export paths):
// callers add those.
func (o *ObservationState) JSON() view.Observation {
	j := view.Observation{
		ID: o.ID, Record: o.Head.String(), Author: o.Author.String(),
		Created: o.Created.UTC(), TimeGuessed: o.TimeGuessed, Updated: o.Updated.UTC(), Heads: o.Heads, Deleted: o.Deleted,
		Position: o.Position.JSON(), Tags: nonNil(o.Tags), Notes: o.Notes, Attachments: []view.Attachment{},
		Category: o.categoryJSON(), Fields: o.fieldsJSON(),
	}
	for _, a := range o.Attachments {
		j.Attachments = append(j.Attachments, a.JSON())
	}
	return j
}

// JSON returns the attachment's JSON document.
func (a *Attachment) JSON() view.Attachment {
	return view.Attachment{Kind: string(a.Kind), MediaType: a.MediaType, Name: a.Name,
		Original: a.Original.JSON(), Preview: a.Preview.JSON(), Thumbnail: a.Thumbnail.JSON(),
		Points: a.Points.JSON(), Track: a.Track.JSON()}
}

// JSON returns the variant's JSON document (nil for a nil variant).
func (v *Variant) JSON() *view.Variant {
	if v == nil {
		return nil
	}
	return &view.Variant{CID: v.CID.String(), Size: v.Size, Width: v.Width, Height: v.Height}
}

// JSON returns the position's JSON document (nil when unknown).
func (p *Position) JSON() *view.Position {
	if p == nil {
		return nil
	}
	return &view.Position{Lat: p.Lat, Lon: p.Lon, AccuracyM: p.Accuracy}
}

// JSON returns the version's JSON document.
func (v *Version) JSON() view.Version {
	j := view.Version{Record: v.CID.String(), Author: v.Author.String(), Seq: v.Seq, Updated: v.Updated.UTC(),
		Links: []string{}, Deleted: v.Deleted, Position: v.Position.JSON(), Tags: nonNil(v.Tags), Notes: v.Notes,
		Category: v.categoryJSON(), Fields: v.fieldsJSON(), Counted: v.Counted, Head: v.Head, Winner: v.Winner}
	for _, l := range v.Links {
		j.Links = append(j.Links, l.String())
	}
	return j
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (o *Observation) categoryJSON() *view.CategoryRef {
	if o.Category == "" {
		return nil
	}
	return &view.CategoryRef{ID: o.Category}
}

func (o *Observation) fieldsJSON() map[string]any {
	m := make(map[string]any, len(o.Fields))
	for k, v := range o.Fields {
		m[k] = v.Any()
	}
	return m
}

// JSON returns the track info's JSON document (nil for a nil info).
func (t *TrackInfo) JSON() *view.Track {
	if t == nil {
		return nil
	}
	j := &view.Track{Name: t.Name, Points: t.Points, Segments: t.Segments, BBox: t.Bounds, LengthM: t.Length}
	if !t.Start.IsZero() {
		s, e := t.Start.UTC(), t.End.UTC()
		j.Start, j.End = &s, &e
	}
	return j
}

// JSON returns the category's JSON document, its icon as a data: URL.
func (c *CategoryState) JSON() view.Category {
	j := view.Category{ID: c.ID, Name: c.Name, Set: c.Set, Color: c.Color, Tags: nonNil(c.Tags),
		AppliesTo: c.Applies, Order: c.Order, Fields: []view.Field{}, Removed: c.Deleted,
		Record: c.Record.String(), Author: c.Author.String(), Updated: c.Time.UTC()}
	if len(j.AppliesTo) == 0 {
		j.AppliesTo = []string{AppliesObservation, AppliesTrack}
	}
	if len(c.Icon) > 0 {
		j.Icon = "data:" + c.IconType + ";base64," + base64.StdEncoding.EncodeToString(c.Icon)
	}
	for _, f := range c.Fields {
		vf := view.Field{Key: f.Key, Label: f.Label, Type: string(f.Type), Help: f.Help, Placeholder: f.Placeholder}
		for _, o := range f.Options {
			vf.Options = append(vf.Options, view.Option{Value: o.Value, Label: o.Label})
		}
		j.Fields = append(j.Fields, vf)
	}
	return j
}
