package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

var showCmd = &command{
	name:    "show",
	summary: "show one observation, its history and its variants",
	usage: `Usage: fieldsync show [--data DIR] [--json] ID

Shows observation ID as it stands (the winning version): its time, place,
category and each field with its label, tags, notes, a track's name,
points, length and time span; every version in its history (who signed it, when, which replaced which, fork losers
included) and each attachment's variants with their CIDs, sizes and
whether this device holds them; under a variant whose fixity log holds
more than clean checks, that log (a failed check, a peer that reported
the copy it got from here corrupt, a copy received bad, the blob fetched
again).

Options:
` + dataHelp + `  --json      print {"observation":...,"history":[...]} as JSON

Examples:
  fieldsync show 3f9c2a...

Exit codes: 0 done, 1 failure (e.g. no such observation), 2 bad usage.
`,
}

func init() {
	showCmd.run = runShow
	register(showCmd)
}

func runShow(ctx context.Context, e *env, args []string) error {
	fs := newFlags(showCmd, e)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(showCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one observation ID (see 'fieldsync ls')")
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	o, err := n.Observation(ctx, rest[0])
	if errors.Is(err, node.ErrNotFound) {
		return fmt.Errorf("no observation %q on this device (list them with 'fieldsync ls')", rest[0])
	}
	if err != nil {
		return err
	}
	hist, err := n.History(ctx, rest[0])
	if err != nil {
		return err
	}
	if *asJSON {
		hj := make([]view.Version, 0, len(hist))
		for _, v := range hist {
			hj = append(hj, v.JSON())
		}
		return writeJSON(e.stdout, map[string]any{"observation": n.View(ctx, o, true), "history": hj})
	}
	has := n.Presence(ctx, false)
	w := e.stdout
	fmt.Fprintf(w, "observation %s\n", o.ID)
	guess := ""
	if o.TimeGuessed {
		guess = " (time guessed from the file's date: the photo carried no time)"
	}
	fmt.Fprintf(w, "  created   %s%s\n  updated   %s\n", o.Created.Local().Format("2006-01-02 15:04:05 -0700"), guess, o.Updated.Local().Format("2006-01-02 15:04:05 -0700"))
	if o.Position != nil {
		fmt.Fprintf(w, "  position  %.6f, %.6f", o.Position.Lat, o.Position.Lon)
		if o.Position.Accuracy > 0 {
			fmt.Fprintf(w, " (±%.0f m)", o.Position.Accuracy)
		}
		fmt.Fprintln(w)
	}
	if o.Category != "" {
		printFields(ctx, w, n, &o.Observation)
	}
	if len(o.Tags) > 0 {
		fmt.Fprintf(w, "  tags      %s\n", strings.Join(o.Tags, ", "))
	}
	if o.Notes != "" {
		fmt.Fprintf(w, "  notes     %s\n", o.Notes)
	}
	if o.Deleted {
		fmt.Fprintln(w, "  DELETED")
	}
	if o.Heads > 1 {
		fmt.Fprintf(w, "  fork      %d concurrent versions; the latest update wins, the others stay in the history\n", o.Heads)
	}
	for _, a := range o.Attachments {
		fmt.Fprintf(w, "  attachment %s (%s, %s)\n", a.Name, a.Kind, a.MediaType)
		if a.Track != nil {
			fmt.Fprintf(w, "    %s\n", trackSummary(a.Track))
		}
		for _, nv := range a.Variants() {
			state := "not here"
			if h, known := has(nv.CID); !known {
				state = "unknown (store busy)"
			} else if h {
				state = "present"
			}
			dims := ""
			if nv.Width > 0 {
				dims = fmt.Sprintf(" %dx%d", nv.Width, nv.Height)
			}
			fmt.Fprintf(w, "    %-9s %s %s%s %s\n", nv.Name, nv.CID, humanBytes(nv.Size), dims, state)
			printFixityLog(ctx, w, n, nv.CID)
		}
	}
	fmt.Fprintln(w, "history (oldest first):")
	for _, v := range hist {
		mark := " "
		switch {
		case v.Winner:
			mark = "*"
		case v.Head:
			mark = "+"
		case !v.Counted:
			mark = "x"
		}
		fmt.Fprintf(w, "  %s %s by %s seq %d at %s\n", mark, v.CID, n.PeerName(ctx, v.Author), v.Seq, v.Updated.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintln(w, "  (* current, + concurrent head, x refused author)")
	return nil
}

// printFixityLog prints blob c's fixity log when it holds more than
// clean checks: a failed check, a peer's report, a copy received bad, the
// blob fetched again.
func printFixityLog(ctx context.Context, w io.Writer, n *node.Node, c cid.Cid) {
	h, err := n.FixityHistory(ctx, c)
	if err != nil || !slices.ContainsFunc(h, func(r blob.FixityRecord) bool { return !r.IsCheck() || r.Result != blob.FixityOK }) {
		return
	}
	name := func(s string) string {
		id, err := peer.Decode(s)
		if err != nil {
			return s
		}
		if l := n.PeerName(ctx, id); l != node.ShortID(id) {
			return fmt.Sprintf("%s (%s)", l, node.ShortID(id))
		}
		return s
	}
	for _, r := range h {
		var line string
		switch r.Event {
		case "":
			line = "checked: " + string(r.Result)
			if r.Detail != "" {
				line += " (" + r.Detail + ")"
			}
			if r.Result == blob.FixityCorrupt || r.Result == blob.FixityTruncated {
				line += ", quarantined"
			}
			r.Detail = ""
		case blob.FixityReported:
			line = "reported corrupt by " + name(r.Peer)
		case blob.FixityBadCopy:
			line = "received bad from " + name(r.Peer)
		case blob.FixityRefetched:
			line = "fetched again from " + name(r.Peer)
		default:
			line = string(r.Event)
		}
		if r.Detail != "" {
			line += ": " + r.Detail
		}
		fmt.Fprintf(w, "              %s %s\n", r.CheckedAt.Local().Format("2006-01-02 15:04:05"), line)
	}
}

func shortID(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}
