package main

import (
	"context"
	"flag"
	"fmt"
	"math"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

var editCmd = &command{
	name:    "edit",
	summary: "change an observation: notes, tags, position, category, fields, more files",
	usage: `Usage: fieldsync edit [--data DIR] [--note TEXT] [--tag TAG]... [--no-tags]
                      [--lat LAT --lon LON [--accuracy M] | --no-position]
                      [--category ID | --no-category] [--field KEY=VALUE]...
                      [--add FILE]... [--json] ID

Signs a new version of observation ID (see 'fieldsync ls') with the changes
given; what is not given stays as it is. The new version replaces every
current one, so an edit also settles a fork (two devices that edited the
same observation without seeing each other's edit). Nothing is erased:
'fieldsync show ID' lists every version. Editing a deleted observation
restores it.

Options:
` + dataHelp + `  --note TEXT     the new note ("" to clear it)
  --tag TAG       the new tags, replacing the old ones (repeatable)
  --no-tags       remove every tag
  --lat, --lon    the new position in decimal degrees (WGS 84)
  --accuracy M    its accuracy in metres
  --no-position   remove the position
  --category ID   the new category: its default tags replace the old one's,
                  values of fields it does not have are dropped
  --no-category   remove the category and its field values
  --field KEY=VALUE
                  set a field's value (repeatable); KEY= removes it; read
                  as 'fieldsync add' reads it
  --add FILE      attach a file (repeatable); photos get their variants
  --json          print {"id","record"} as JSON

Examples:
  fieldsync edit --note "two nests, one empty" 3fq2...
  fieldsync edit --tag heron --tag nest --lat -3.4653 --lon -62.2159 3fq2...
  fieldsync edit --add voice-memo.m4a 3fq2...
  fieldsync edit --field depth=0.8 --field who= 3fq2...

Exit codes: 0 edited, 1 failure (e.g. no such observation), 2 bad usage,
7 the disk holding the data directory is full (--add; nothing is changed).
`,
}

func init() {
	editCmd.run = runEdit
	register(editCmd)
}

// posFlags are --lat, --lon and --accuracy.
type posFlags struct{ lat, lon, acc *float64 }

func addPosFlags(fs *flag.FlagSet) posFlags {
	return posFlags{fs.Float64("lat", math.NaN(), ""), fs.Float64("lon", math.NaN(), ""), fs.Float64("accuracy", 0, "")}
}

// position checks the flags: nil when neither --lat nor --lon is given.
func (pf posFlags) position() (*project.Position, error) {
	switch {
	case math.IsNaN(*pf.lat) != math.IsNaN(*pf.lon):
		return nil, usagef("give both --lat and --lon, or neither")
	case math.IsNaN(*pf.lat):
		return nil, nil
	case *pf.lat < -90 || *pf.lat > 90 || *pf.lon < -180 || *pf.lon > 180:
		return nil, usagef("--lat must be in -90..90 and --lon in -180..180")
	case *pf.acc < 0:
		return nil, usagef("--accuracy must not be negative")
	}
	return &project.Position{Lat: *pf.lat, Lon: *pf.lon, Accuracy: *pf.acc}, nil
}

func runEdit(ctx context.Context, e *env, args []string) error {
	fs := newFlags(editCmd, e)
	data := dataFlag(fs)
	note := fs.String("note", "", "")
	var tags, add addrList
	fs.Var(&tags, "tag", "")
	fs.Var(&add, "add", "")
	noTags := fs.Bool("no-tags", false, "")
	noPos := fs.Bool("no-position", false, "")
	category := fs.String("category", "", "")
	noCategory := fs.Bool("no-category", false, "")
	var fieldArgs addrList
	fs.Var(&fieldArgs, "field", "")
	pf := addPosFlags(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(editCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one observation ID (see 'fieldsync ls')")
	}
	pos, err := pf.position()
	if err != nil {
		return err
	}
	var ed node.Edit
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["note"] {
		ed.Notes = note
	}
	switch {
	case *noTags && len(tags) > 0:
		return usagef("--no-tags and --tag together: give one")
	case *noTags:
		ed.Tags = &[]string{}
	case len(tags) > 0:
		t := []string(tags)
		ed.Tags = &t
	}
	if *noPos && pos != nil {
		return usagef("--no-position and --lat/--lon together: give one")
	}
	ed.Position, ed.RemovePosition, ed.Add = pos, *noPos, add
	switch {
	case *noCategory && set["category"]:
		return usagef("--no-category and --category together: give one")
	case *noCategory && len(fieldArgs) > 0:
		return usagef("--no-category removes the field values: give no --field with it")
	case *noCategory:
		none := ""
		ed.Category = &none
	case set["category"]:
		if *category == "" {
			return usagef("--category needs an ID (--no-category removes it)")
		}
		ed.Category = category
	}
	if ed.Fields, err = parseFieldArgs(fieldArgs); err != nil {
		return err
	}
	if ed.Notes == nil && ed.Tags == nil && ed.Position == nil && !ed.RemovePosition && len(ed.Add) == 0 && ed.Category == nil && len(ed.Fields) == 0 {
		return usagef("nothing to change: give --note, --tag, --no-tags, --lat/--lon, --no-position, --category, --no-category, --field or --add")
	}
	n, err := openNode(ctx, *data, len(add) == 0, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	r, err := n.Edit(ctx, rest[0], ed)
	if err != nil {
		return observationErr(rest[0], err)
	}
	if *asJSON {
		return writeJSON(e.stdout, map[string]string{"id": rest[0], "record": r.CID.String()})
	}
	fmt.Fprintf(e.stdout, "edited observation %s (new version %s)\n", rest[0], r.CID)
	return nil
}

var rmCmd = &command{
	name:    "rm",
	summary: "delete an observation (its history is kept)",
	usage: `Usage: fieldsync rm [--data DIR] [--json] ID...

Deletes each observation ID: signs a version of it marked deleted. It leaves
'ls', the map and the gallery, on every device that syncs; nothing is
erased: 'fieldsync show ID' still lists every version, an archive keeps
every file, and 'fieldsync edit ID' restores it.

Examples:
  fieldsync rm 3fq2...

Exit codes: 0 deleted, 1 failure (e.g. no such observation), 2 bad usage.
`,
}

func init() {
	rmCmd.run = runRm
	register(rmCmd)
}

func runRm(ctx context.Context, e *env, args []string) error {
	fs := newFlags(rmCmd, e)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(rmCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("want one or more observation IDs (see 'fieldsync ls')")
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	for _, id := range rest {
		r, err := n.Delete(ctx, id)
		if err != nil {
			return observationErr(id, err)
		}
		if *asJSON {
			_ = writeJSON(e.stdout, map[string]string{"id": id, "record": r.CID.String()})
		} else {
			fmt.Fprintf(e.stdout, "deleted observation %s (its history is kept; 'fieldsync edit %s' restores it)\n", id, id)
		}
	}
	return nil
}
