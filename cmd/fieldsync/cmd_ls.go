package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

var lsCmd = &command{
	name:    "ls",
	summary: "list observations, newest first",
	usage: `Usage: fieldsync ls [--data DIR] [--limit N] [--deleted] [--category ID] [--json]

Lists the project's observations and tracks, newest first: id, time,
position, [category] and its field values, tags, attachments and which of
their variants this device holds (T thumbnail, P preview, O original,
L a track's line; '-' not here yet); a track's name, points, length and
time span. A fork (two concurrent edits not yet merged) is marked with
'*'; a time guessed from the file's date (the photo carried no time of its
own) with '~'.

Options:
` + dataHelp + `  --limit N      at most N observations (default all)
  --deleted      include deleted observations
  --category ID  only the observations of that category ('fieldsync categories')
  --json         one JSON object per observation

Examples:
  fieldsync ls --limit 20
  fieldsync ls --category river-crossing
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
	category := fs.String("category", "", "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(lsCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if *category != "" {
		if _, err := n.Category(ctx, *category); err != nil {
			return err
		}
	}
	obs, err := n.Observations(ctx, project.ObservationQuery{Limit: *limit, IncludeDeleted: *deleted, Category: *category})
	if err != nil {
		return err
	}
	if *asJSON {
		ptrs := make([]*project.ObservationState, len(obs))
		for i := range obs {
			ptrs[i] = &obs[i]
		}
		for _, j := range n.Views(ctx, ptrs, false) {
			_ = writeJSON(e.stdout, j)
		}
		return nil
	}
	has := n.Presence(ctx, true)
	cats, err := n.Categories(ctx, true)
	if err != nil {
		return err
	}
	byID := indexCategories(cats)
	guessed := false
	for _, o := range obs {
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
			s := fmt.Sprintf("%s[%s]", a.Name, variantFlags(&a, has))
			if a.Track != nil {
				s += " " + trackSummary(a.Track)
			}
			atts = append(atts, s)
		}
		cat := ""
		if o.Category != "" {
			cat = "[" + byID.name(o.Category) + "] "
			if f := fieldsSummary(&o.Observation, byID[o.Category], 60); f != "" {
				cat += f + " "
			}
		}
		del := ""
		if o.Deleted {
			del = " (deleted)"
		}
		when := " " + o.Created.Local().Format("2006-01-02 15:04")
		if o.TimeGuessed {
			when, guessed = "~"+when[1:], true
		}
		fmt.Fprintf(e.stdout, "%s%s %s %-21s %s%s %s%s\n", fork, o.ID, when, pos, cat,
			strings.Join(o.Tags, ","), strings.Join(atts, " "), del)
	}
	if guessed {
		fmt.Fprintln(e.stdout, "~ time guessed from the file's date (the photo carried no time)")
	}
	if len(obs) == 0 && *category != "" {
		fmt.Fprintf(e.stderr, "no observations of category %q\n", *category)
	} else if len(obs) == 0 {
		fmt.Fprintln(e.stderr, "no observations yet: 'fieldsync import DIR' or 'fieldsync sync'")
	}
	return nil
}

func variantFlags(a *project.Attachment, has func(cid.Cid) (bool, bool)) string {
	var b strings.Builder
	for _, v := range []struct {
		letter string
		v      *project.Variant
	}{{"T", a.Thumbnail}, {"P", a.Preview}, {"L", a.Points}, {"O", a.Original}} {
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
