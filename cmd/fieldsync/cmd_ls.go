package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/internal/device"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

var lsCmd = &command{
	name:    "ls",
	summary: "list observations, newest first",
	usage: `Usage: fieldsync ls [--data DIR] [--limit N] [--deleted] [--json]

Lists the project's observations, newest first: id, time, position, tags,
attachments and which of their variants this device holds (T thumbnail,
P preview, O original; '-' not here yet). A fork (two concurrent edits not
yet merged) is marked with '*'.

Options:
` + dataHelp + `  --limit N   at most N observations (default all)
  --deleted   include deleted observations
  --json      one JSON object per observation

Examples:
  fieldsync ls --limit 20
  fieldsync ls --json | jq .id

Exit codes: 0 done, 1 failure, 2 bad usage.
`,
}

func init() {
	lsCmd.run = runLs
	register(lsCmd)
}

func runLs(ctx context.Context, e *env, args []string) error {
	fs := newFlags(lsCmd, e)
	data := dataFlag(fs)
	limit := fs.Int("limit", 0, "")
	deleted := fs.Bool("deleted", false, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(lsCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	d, p, err := openProject(ctx, *data, true)
	if err != nil {
		return err
	}
	defer d.Close()
	obs, err := p.Observations(ctx, project.ObservationQuery{Limit: *limit, IncludeDeleted: *deleted})
	if err != nil {
		return err
	}
	has := presence(ctx, d, true)
	for _, o := range obs {
		if *asJSON {
			_ = writeJSON(e.stdout, observationJSON(&o, has))
			continue
		}
		fork := " "
		if o.Heads > 1 {
			fork = "*"
		}
		pos := "-"
		if o.Position != nil {
			pos = fmt.Sprintf("%.5f,%.5f", o.Position.Lat, o.Position.Lon)
		}
		var atts []string
		for _, a := range o.Attachments {
			atts = append(atts, fmt.Sprintf("%s[%s]", a.Name, variantFlags(&a, has)))
		}
		del := ""
		if o.Deleted {
			del = " (deleted)"
		}
		fmt.Fprintf(e.stdout, "%s%s %s %-21s %s %s%s\n", fork, o.ID, o.Created.Local().Format("2006-01-02 15:04"), pos,
			strings.Join(o.Tags, ","), strings.Join(atts, " "), del)
	}
	if !*asJSON && len(obs) == 0 {
		fmt.Fprintln(e.stderr, "no observations yet: 'fieldsync import DIR' or 'fieldsync sync'")
	}
	return nil
}

// presence returns a function telling whether a blob is complete here,
// and whether that is known at all (not while serve holds the store). With
// many lookups to come (ls, status) it lists the store once; for a few
// (show) it asks per blob.
func presence(ctx context.Context, d *device.Device, many bool) func(cid.Cid) (have, known bool) {
	blobs := d.Blobs() // beside a running serve too
	if many {
		set := map[cid.Cid]bool{}
		err := blobs.Enumerate(ctx, func(i blob.Info) error { set[i.CID] = true; return nil })
		return func(c cid.Cid) (bool, bool) { return set[c], err == nil }
	}
	return func(c cid.Cid) (bool, bool) {
		ok, err := blob.Has(ctx, blobs, c)
		return ok && err == nil, err == nil
	}
}

func variantFlags(a *project.Attachment, has func(cid.Cid) (bool, bool)) string {
	var b strings.Builder
	for _, v := range []struct {
		letter string
		v      *project.Variant
	}{{"T", a.Thumbnail}, {"P", a.Preview}, {"O", a.Original}} {
		if v.v == nil {
			continue
		}
		h, known := has(v.v.CID)
		switch {
		case !known:
			b.WriteString("?")
		case h:
			b.WriteString(v.letter)
		default:
			b.WriteString("-")
		}
	}
	return b.String()
}

type variantJSON struct {
	CID     string `json:"cid"`
	Size    int64  `json:"size"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Present *bool  `json:"present,omitempty"`
}

func observationJSON(o *project.ObservationState, has func(cid.Cid) (bool, bool)) map[string]any {
	atts := []map[string]any{}
	for _, a := range o.Attachments {
		m := map[string]any{"kind": a.Kind, "media_type": a.MediaType, "name": a.Name}
		for _, nv := range a.Variants() {
			vj := variantJSON{CID: nv.CID.String(), Size: nv.Size, Width: nv.Width, Height: nv.Height}
			if h, known := has(nv.CID); known {
				vj.Present = &h
			}
			m[string(nv.Name)] = vj
		}
		atts = append(atts, m)
	}
	out := map[string]any{"id": o.ID, "created": o.Created.UTC().Format(time.RFC3339), "updated": o.Updated.UTC().Format(time.RFC3339),
		"tags": o.Tags, "notes": o.Notes, "attachments": atts, "head": o.Head.String(), "author": o.Author.String(),
		"heads": o.Heads, "deleted": o.Deleted}
	if o.Position != nil {
		out["position"] = map[string]float64{"lat": o.Position.Lat, "lon": o.Position.Lon, "accuracy": o.Position.Accuracy}
	}
	return out
}
