package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

var addCmd = &command{
	name:    "add",
	summary: "add one observation with one or more files",
	usage: `Usage: fieldsync add [--data DIR] [--lat LAT --lon LON [--accuracy M]] [--tag TAG]...
                     [--note TEXT] [--json] FILE...

Adds one observation to this device's project with every FILE attached (a
photo and a voice note taken at the same spot, say). Photos get a thumbnail
and a preview; the observation's time and place come from the first photo
whose EXIF has them, else the first file's modification time. --lat and
--lon set the place explicitly (they win over EXIF).

Options:
` + dataHelp + `  --lat, --lon  position in decimal degrees (WGS 84; south and west negative)
  --accuracy M  position accuracy in metres
  --tag TAG     a tag (repeatable)
  --note TEXT   a note
  --json        print {"id","record"} as JSON

Examples:
  fieldsync add --tag heron --note "nest on the north bank" IMG_0042.jpg memo.m4a
  fieldsync add --lat -3.4653 --lon -62.2159 --tag "water sample" sample-17.pdf

Exit codes: 0 added, 1 failure (nothing is stored if any file fails),
2 bad usage, 7 the disk holding the data directory is full (nothing is
stored; the message says how much more is needed).
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
	asJSON := fs.Bool("json", false, "")
	files, err := parseFlags(addCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no FILE given")
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
	n, err := openNode(ctx, *data, false, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	r, err := n.Add(ctx, files, node.ImportOptions{Tags: tags, Notes: *note, Position: pos})
	var full *node.SpaceError
	if errors.As(err, &full) {
		return &exitError{code: exitNoSpace, err: fmt.Errorf("%s; nothing was stored. Free some space (or use --data on a larger disk), then run the same command again", diskFull(full, "this observation"))}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"id": r.Observation.ID, "record": r.CID.String()})
	}
	fmt.Fprintf(e.stdout, "added observation %s with %d attachment(s)\n", r.Observation.ID, len(r.Observation.Attachments))
	return nil
}
