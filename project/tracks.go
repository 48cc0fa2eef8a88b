package project

import (
	"math"
	"time"

	"github.com/fieldsync/fieldsync/track"
)

// A track is an observation with a track attachment: the GPX file as its
// original, its points (package track's compact form) as the points
// variant, and what they hold (TrackInfo) in the record. So a track is
// synced, edited, deleted, forked and filtered as any observation is, and
// its points travel with the thumbnails (blob.ClassThumbnail): a map of
// the project is drawn from records and the thumbnail class alone.

// TrackInfoOf returns the TrackInfo of a track's points, named name.
func TrackInfoOf(name string, t *track.Track) *TrackInfo {
	in := track.Stats(t)
	return &TrackInfo{Name: name, Points: in.Points, Segments: in.Segments,
		Start: in.Start.UTC().Truncate(time.Millisecond), End: in.End.UTC().Truncate(time.Millisecond),
		Bounds: [4]float64{in.Bounds.West, in.Bounds.South, in.Bounds.East, in.Bounds.North}, Length: in.Length}
}

// IsTrack reports whether the observation holds a track.
func (o *Observation) IsTrack() bool {
	for _, a := range o.Attachments {
		if a.Kind == AttachTrack {
			return true
		}
	}
	return false
}

// validateTrack checks that an attachment has a points variant and a
// track info exactly when it is a track.
func validateTrack(a *Attachment) error {
	if a.Kind != AttachTrack {
		if a.Points != nil || a.Track != nil {
			return malformed("points or track info on a %s attachment", a.Kind)
		}
		return nil
	}
	if a.Points == nil || a.Original == nil || a.Track == nil || a.Preview != nil || a.Thumbnail != nil {
		return malformed("a track attachment has an original, points and track info, and nothing else")
	}
	t := a.Track
	b := t.Bounds
	switch {
	case t.Points < 1 || t.Points > track.MaxPoints || t.Segments < 1 || t.Segments > min(t.Points, track.MaxSegments):
		return malformed("track of %d points in %d segments", t.Points, t.Segments)
	case !validText(t.Name, track.MaxNameLen):
		return malformed("track name")
	case !(b[1] >= -90 && b[1] <= b[3] && b[3] <= 90 && b[0] >= -180 && b[0] <= b[2] && b[2] <= 180):
		return malformed("track bounds %v", b)
	case !(t.Length >= 0) || math.IsInf(t.Length, 0):
		return malformed("track length %v", t.Length)
	case !t.End.IsZero() && t.Start.IsZero():
		return malformed("track end without a start")
	}
	return nil
}
