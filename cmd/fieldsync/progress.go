package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/node"
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
func (v *progressView) run(ctx context.Context, snap func() node.Progress) {
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

// draw prints s; final forces a full print on non-terminals.
func (v *progressView) draw(s node.Progress, final bool) {
	if v.json {
		_ = writeJSON(v.w, node.ProgressView(s))
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
		if p.State == node.PeerConnected {
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
