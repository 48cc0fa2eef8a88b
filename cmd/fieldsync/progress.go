package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange"
)

// progressView draws a node's progress: bars per class with files, bytes,
// rate and ETA, redrawn in place on a terminal, or a line every few seconds
// otherwise; with --json, one snapshot object per line.
type progressView struct {
	w        io.Writer
	json     bool
	tty      bool
	lines    int // lines drawn last time (terminal only)
	last     time.Time
	interval time.Duration
}

func newProgressView(w io.Writer, asJSON bool) *progressView {
	v := &progressView{w: w, json: asJSON, tty: isTerminal(w) && !asJSON, interval: 5 * time.Second}
	if v.tty {
		v.interval = 250 * time.Millisecond
	} else if asJSON {
		v.interval = time.Second
	}
	return v
}

// run redraws until ctx ends.
func (v *progressView) run(ctx context.Context, snap func() exchange.Snapshot) {
	t := time.NewTicker(v.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			v.draw(snap(), false)
		}
	}
}

var classNames = [blob.NumClasses]string{"skeletons", "thumbnails", "previews", "originals", "attachments"}

// snapshotJSON is the --json form of a snapshot.
type snapshotJSON struct {
	Time     time.Time           `json:"time"`
	Complete bool                `json:"complete"`
	Rate     float64             `json:"rate_bytes_per_s"`
	ETA      float64             `json:"eta_s"`
	Records  int                 `json:"records_applied"`
	Received int64               `json:"bytes_received"`
	Sent     int64               `json:"bytes_sent"`
	Leaves   int                 `json:"leaves_fetched"`
	Refetch  int                 `json:"leaves_refetched"`
	Classes  map[string]classRow `json:"classes"`
	Peers    []peerRow           `json:"peers"`
}

type classRow struct {
	FilesDone   int   `json:"files_done"`
	FilesWanted int   `json:"files_wanted"`
	BytesDone   int64 `json:"bytes_done"`
	BytesWanted int64 `json:"bytes_wanted"`
}

type peerRow struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	Reason   string  `json:"reason,omitempty"`
	Rate     float64 `json:"rate_bytes_per_s"`
	Received int64   `json:"bytes_received"`
	Sent     int64   `json:"bytes_sent"`
}

func toJSON(s exchange.Snapshot) snapshotJSON {
	out := snapshotJSON{Time: time.Now().UTC(), Complete: s.Complete, Rate: s.Rate, ETA: s.ETA.Seconds(),
		Records: s.RecordsApplied, Received: s.BytesReceived, Sent: s.BytesSent, Classes: map[string]classRow{},
		Leaves: s.LeavesFetched, Refetch: s.Refetched}
	for c := blob.ClassThumbnail; c < blob.NumClasses; c++ {
		p := s.Classes[c]
		out.Classes[classNames[c]] = classRow{p.FilesDone, p.FilesWanted, p.BytesDone, p.BytesWanted}
	}
	for _, p := range s.Peers {
		out.Peers = append(out.Peers, peerRow{p.ID.String(), p.State.String(), p.Reason, p.Rate, p.BytesReceived, p.BytesSent})
	}
	if s.ETA < 0 {
		out.ETA = -1
	}
	return out
}

// draw prints s; final forces a full print on non-terminals.
func (v *progressView) draw(s exchange.Snapshot, final bool) {
	if v.json {
		_ = writeJSON(v.w, toJSON(s))
		return
	}
	if !v.tty && !final && time.Since(v.last) < v.interval {
		return
	}
	v.last = time.Now()
	var b strings.Builder
	for c := blob.ClassThumbnail; c < blob.NumClasses; c++ {
		p := s.Classes[c]
		if p.FilesWanted == 0 {
			continue
		}
		fmt.Fprintf(&b, "%-11s %s %4d/%-4d files %10s/%-10s\n", classNames[c], bar(p.BytesDone, p.BytesWanted, 24),
			p.FilesDone, p.FilesWanted, humanBytes(p.BytesDone), humanBytes(p.BytesWanted))
	}
	connected := 0
	for _, p := range s.Peers {
		if p.State == exchange.PeerConnected {
			connected++
		}
	}
	state := "syncing"
	if s.Complete {
		state = "complete"
	}
	fmt.Fprintf(&b, "%s: %d records, %s received at %s, ETA %s, %d peer(s) connected\n",
		state, s.RecordsApplied, humanBytes(s.BytesReceived), humanRate(s.Rate), humanETA(s.ETA), connected)
	out := b.String()
	if v.tty {
		if v.lines > 0 {
			fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.lines)
		}
		v.lines = strings.Count(out, "\n")
	}
	fmt.Fprint(v.w, out)
}
