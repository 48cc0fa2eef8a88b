package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/track"
)

// GPXMediaType is the media type of a GPX file.
const GPXMediaType = "application/gpx+xml"

// isGPX: a file named *.gpx is a track, and must read as one.
func isGPX(name string) bool { return strings.EqualFold(filepath.Ext(name), ".gpx") }

// ingestTrack stores a GPX file and its points, and returns its
// observation: a track attachment (the file as its original, the points
// as its points variant), created at the first point's time (else the
// file's modification time, marked a guess), without a position. A file
// that is not GPX, or holds no track or route, is refused with the words
// of package track's errors; its waypoints are not taken (a warning says
// so; the file itself is kept whole).
func ingestTrack(ctx context.Context, recv blob.Receiver, f source, opts Options) (*project.Observation, error, error) {
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, nil, err
	}
	g, err := track.ReadGPX(fh)
	fh.Close()
	if err != nil {
		return nil, nil, err
	}
	pts, err := track.Encode(&g.Track)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", track.ErrBadValue, err)
	}
	info := project.TrackInfoOf(g.Name, &g.Track)
	pi, err := recv.Put(ctx, bytes.NewReader(pts), blob.Meta{MediaType: track.MediaType})
	if err != nil {
		return nil, nil, fmt.Errorf("store track points: %w", err)
	}
	fh, err = os.Open(f.path)
	if err != nil {
		return nil, nil, err
	}
	oi, err := recv.Put(ctx, fh, blob.Meta{MediaType: GPXMediaType})
	fh.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("store original: %w", err)
	}
	at := project.Attachment{Kind: project.AttachTrack, MediaType: GPXMediaType, Name: f.name,
		Original: &project.Variant{CID: oi.CID, Size: oi.Size}, Points: &project.Variant{CID: pi.CID, Size: pi.Size}, Track: info}
	o := &project.Observation{Created: f.mtime.UTC().Truncate(time.Millisecond), TimeGuessed: true, Tags: opts.Tags, Notes: opts.Notes,
		Attachments: []project.Attachment{at}}
	if !info.Start.IsZero() {
		o.Created, o.TimeGuessed = info.Start, false
	}
	if opts.ForcePosition && opts.Position != nil {
		o.Position = opts.Position
	}
	var warn error
	if g.Waypoints > 0 {
		warn = fmt.Errorf("%d waypoint(s) not taken: fieldsync keeps a GPX file's tracks and routes (the file itself is kept whole)", g.Waypoints)
	}
	return o, warn, nil
}
