package project

import (
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
	}
	for _, a := range o.Attachments {
		j.Attachments = append(j.Attachments, a.JSON())
	}
	return j
}

// JSON returns the attachment's JSON document.
func (a *Attachment) JSON() view.Attachment {
	return view.Attachment{Kind: string(a.Kind), MediaType: a.MediaType, Name: a.Name,
		Original: a.Original.JSON(), Preview: a.Preview.JSON(), Thumbnail: a.Thumbnail.JSON()}
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
		Counted: v.Counted, Head: v.Head, Winner: v.Winner}
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
