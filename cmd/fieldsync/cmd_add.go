package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

var addCmd = &command{
	name:    "add",
	summary: "add one observation: files, a place, a category and its fields",
	usage: `Usage: fieldsync add [--data DIR] [--lat LAT --lon LON [--accuracy M]] [--tag TAG]...
                     [--note TEXT] [--category ID [--field KEY=VALUE]...] [--json] [FILE...]

Adds one observation to this device's project with every FILE attached (a
photo and a voice note taken at the same spot, say). Photos get a thumbnail
and a preview; the observation's time and place come from the first photo
whose EXIF has them, else the first file's modification time. --lat and
--lon set the place explicitly (they win over EXIF). A GPX file (.gpx) makes
the observation a track: its points travel compactly and are drawn as a
line; its time is the first point's.

--category ID makes it an observation of one of the project's categories
('fieldsync categories'), with that category's default tags; --field
KEY=VALUE gives a field's value: a number with a dot (1.5), a date as
2026-05-17, an option by its value or label, several options separated by
';'. A category that does not exist or is not for this kind of observation,
a key the category does not have, or a value its field does not take is
refused, and nothing is stored. Without FILE, give a place or a category:
the observation is made now.

Options:
` + dataHelp + `  --lat, --lon  position in decimal degrees (WGS 84; south and west negative)
  --accuracy M  position accuracy in metres
  --tag TAG     a tag (repeatable)
  --note TEXT   a note
  --category ID the observation's category
  --field KEY=VALUE
                a field's value (repeatable); see 'fieldsync categories ID'
  --json        print {"id","record"} as JSON, and "warnings" (each "FILE:
                reason") when a file was added with less than usual

Examples:
  fieldsync add --tag heron --note "nest on the north bank" IMG_0042.jpg memo.m4a
  fieldsync add --lat -3.4653 --lon -62.2159 --tag "water sample" sample-17.pdf
  fieldsync add --category river-crossing --field depth=1.2 --field "uses=fishing;school" \
                --lat -0.1257 --lon -67.0891 IMG_0412.JPG
  fieldsync add --category logging-road --field width=4 walk-2026-05-17.gpx

Exit codes: 0 added, 1 failure (nothing is stored if any file, the category
or a field value is refused), 2 bad usage, 7 the disk holding the data
directory is full (nothing is stored; the message says how much more is
needed).
`,
}

func init() {
	addCmd.run = runAdd
	register(addCmd)
}

func runAdd(ctx context.Context, e *env, args []string) error {
	fs := newFlags(addCmd, e)
	data := dataFlag(fs)
	lat := fs.Float64("lat", math.NaN(), "")
	lon := fs.Float64("lon", math.NaN(), "")
	acc := fs.Float64("accuracy", 0, "")
	var tags addrList
	fs.Var(&tags, "tag", "")
	note := fs.String("note", "", "")
	category := fs.String("category", "", "")
	var fieldArgs addrList
	fs.Var(&fieldArgs, "field", "")
	asJSON := fs.Bool("json", false, "")
	files, err := parseFlags(addCmd, e, fs, args)
	if err != nil {
		return err
	}
	fields, err := parseFieldArgs(fieldArgs)
	if err != nil {
		return err
	}
	if len(fields) > 0 && *category == "" {
		return usagef("--field goes with --category (a field belongs to a category)")
	}
	if len(files) == 0 && *category == "" && math.IsNaN(*lat) {
		return usagef("no FILE given (without files, give --lat/--lon or --category)")
	}
	var pos *project.Position
	switch {
	case math.IsNaN(*lat) != math.IsNaN(*lon):
		return usagef("give both --lat and --lon, or neither")
	case !math.IsNaN(*lat):
		if *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180 {
			return usagef("--lat must be in -90..90 and --lon in -180..180")
		}
		if *acc < 0 {
			return usagef("--accuracy must not be negative")
		}
		pos = &project.Position{Lat: *lat, Lon: *lon, Accuracy: *acc}
	}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		if st.IsDir() {
			return usagef("%s is a directory (use 'fieldsync import %s')", f, f)
		}
	}
	n, err := openNode(ctx, *data, len(files) == 0, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	var warnings []node.ImportSkip
	r, err := n.Add(ctx, files, node.ImportOptions{Tags: tags, Notes: *note, Position: pos, Category: *category, Fields: fields,
		Warn: func(s node.ImportSkip) { warnings = append(warnings, s) }})
	var full *node.SpaceError
	if errors.As(err, &full) {
		return &exitError{code: exitNoSpace, err: fmt.Errorf("%s; nothing was stored. Free some space (or use --data on a larger disk), then run the same command again", diskFull(full, "this observation"))}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		out := map[string]any{"id": r.Observation.ID, "record": r.CID.String()}
		if len(warnings) > 0 {
			warn := []string{}
			for _, s := range warnings {
				warn = append(warn, s.Path+": "+trimPkg(s.Reason))
			}
			out["warnings"] = warn
		}
		return writeJSON(e.stdout, out)
	}
	o := r.Observation
	what := "observation"
	if o.IsTrack() {
		what = "track"
	}
	of := ""
	if o.Category != "" {
		name := o.Category
		if c, err := n.Category(ctx, o.Category); err == nil {
			name = c.Name
		}
		of = fmt.Sprintf(" of %s with %s", name, count(len(o.Fields), "field value"))
	}
	fmt.Fprintf(e.stdout, "added %s %s%s, %s\n", what, o.ID, of, count(len(o.Attachments), "attachment"))
	for _, a := range o.Attachments {
		if a.Track != nil {
			fmt.Fprintf(e.stdout, "  %s\n", trackSummary(a.Track))
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintf(e.stdout, "added with less than usual (a photo without variants, a GPX file's waypoints):\n")
		for _, s := range warnings {
			fmt.Fprintf(e.stdout, "  %s: %s\n", s.Path, trimPkg(s.Reason))
		}
	}
	return nil
}

// parseFieldArgs reads --field KEY=VALUE flags.
func parseFieldArgs(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, usagef("--field %q: want KEY=VALUE", a)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("--field %s given twice (several options of one field go in one value, separated by ;)", k)
		}
		out[k] = v
	}
	return out, nil
}
