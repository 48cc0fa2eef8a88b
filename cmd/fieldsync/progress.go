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

// progressView draws a node's progress: bars per class with files and
// bytes, and a line saying what is happening (the rate and the time left
// once they are known), redrawn in place on a terminal, or every few
// seconds otherwise; with --json, one snapshot object per line.
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
	for _, a := range s.Archives {
		if a.Held == 0 {
			continue
		}
		safe := a.Held - a.Lacking
		fmt.Fprintf(&b, "%-11s %s %4d/%-4d files safe on always-on %s", "upload", bar(int64(safe), int64(a.Held), 24),
			safe, a.Held, shortID(a.Peer.String()))
		if a.Lacking > 0 {
			fmt.Fprintf(&b, ", %s to go", humanBytes(a.LackingBytes))
		}
		b.WriteString("\n")
	}
	state, doing := syncState(s)
	fmt.Fprintf(&b, "%s: %s, %d peer(s) connected\n", state, doing, connected)
	out := b.String()
	if v.tty {
		if v.lines > 0 {
			fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.lines)
		}
		v.lines = strings.Count(out, "\n")
	}
	fmt.Fprint(v.w, out)
}

// syncState says in words where a sync stands: its state, and what is
// happening with the bytes. It never prints a placeholder: before a rate
// or a time left is known it says why (waiting for the first bytes,
// estimating), and when bytes stop coming, for how long (a stale time
// left would mislead).
func syncState(s node.Progress) (state, doing string) {
	got := fmt.Sprintf("%d records, %s received", s.RecordsApplied, humanBytes(s.BytesReceived))
	switch {
	case s.Complete:
		return "complete", got
	case s.BytesReceived == 0:
		return "syncing", "waiting for the first bytes"
	case s.ETA == 0 && archivesLack(s) > 0:
		return "syncing", fmt.Sprintf("%s, all wanted files here, %d file(s) still going to the always-on device(s)", got, archivesLack(s))
	case s.ETA == 0:
		return "syncing", got + ", all wanted files here, finishing"
	case s.Idle && s.Unavailable > 0:
		return "idle", fmt.Sprintf("%s, the connected peers have none of the %d missing file(s)", got, s.Unavailable)
	case s.Stalled > 0:
		return "syncing", fmt.Sprintf("%s, stalled for %s", got, humanSpan(s.Stalled))
	case s.Rate <= 0:
		return "syncing", got + ", estimating the rate"
	case s.ETA < 0:
		return "syncing", fmt.Sprintf("%s at %s, estimating the time left", got, humanRate(s.Rate))
	}
	return "syncing", fmt.Sprintf("%s at %s, %s", got, humanRate(s.Rate), humanLeft(s.ETA))
}

// archivesLack counts the files the connected always-on devices still
// lack of those this device holds.
func archivesLack(s node.Progress) int {
	n := 0
	for _, a := range s.Archives {
		n += a.Lacking
	}
	return n
}

// humanLeft says how long is left, as roughly as an estimate deserves:
// "a few seconds left", "about 45 s left", "about 3 min left",
// "about 1 h 20 min left".
func humanLeft(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "a few seconds left"
	case d < 90*time.Second:
		return fmt.Sprintf("about %d s left", int(d.Round(5*time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("about %d min left", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("about %d h %02d min left", int(d.Hours()), int(d.Minutes())%60)
}

// humanSpan formats a span of time to the second: "40 s", "2 min 10 s",
// "1 h 05 min".
func humanSpan(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min %02d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}
