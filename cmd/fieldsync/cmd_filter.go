package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/node"
)

var filterCmd = &command{
	name:    "filter",
	summary: "show or set what this device wants (archive, field, custom)",
	usage: `Usage: fieldsync filter [--data DIR] [--json] [archive | field | custom [--variants V,...] [--kinds K,...]]

Without an argument, shows this device's filter. With one, sets it:
  archive   everything: every variant of every attachment (the default)
  field     thumbnails and previews only (and tracks' lines): browsable,
            light on storage
  custom    --variants (thumbnail, preview, original; a track's line comes
            with thumbnail) and --kinds (photo, audio, video, file, track);
            empty lists mean all
Peers learn the filter at the next sync; progress and 'complete' are always
measured against it.

Options:
` + dataHelp + `  --json      print the filter as JSON

Examples:
  fieldsync filter field
  fieldsync filter custom --variants thumbnail,original --kinds photo,audio

Exit codes: 0 done, 1 failure, 2 bad usage.
`,
}

func init() {
	filterCmd.run = runFilter
	register(filterCmd)
}

func runFilter(ctx context.Context, e *env, args []string) error {
	fs := newFlags(filterCmd, e)
	data := dataFlag(fs)
	variants := fs.String("variants", "", "")
	kinds := fs.String("kinds", "", "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(filterCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("want at most one filter")
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if len(rest) == 1 {
		if (*variants != "" || *kinds != "") && rest[0] != "custom" {
			return usagef("--variants and --kinds go with 'custom'")
		}
		f, err := parseFilter(rest[0], splitList(*variants), splitList(*kinds))
		if err != nil {
			return err
		}
		if err := n.SetFilter(ctx, f); err != nil {
			return err
		}
	}
	f, err := n.Filter(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.stdout, f)
	}
	fmt.Fprintf(e.stdout, "filter %s", f.Mode)
	if len(f.Variants) > 0 {
		fmt.Fprintf(e.stdout, " variants=%v", f.Variants)
	}
	if len(f.Kinds) > 0 {
		fmt.Fprintf(e.stdout, " kinds=%v", f.Kinds)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
