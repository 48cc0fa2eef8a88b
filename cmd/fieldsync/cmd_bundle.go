package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/node"
)

var bundleCmd = &command{
	name:    "bundle",
	summary: "sneakernet: carry what another device lacks on a USB stick",
	usage: `Usage: fieldsync bundle state [--data DIR] FILE
       fieldsync bundle export [--data DIR] (--for STATE | --all) [--max-size BYTES] FILE
       fieldsync bundle import [--data DIR] [--json] FILE...

Where there is no network at all, data travels as files:
  1. on the device that lacks data:  fieldsync bundle state /media/usb/phone.state
     (what it holds: its version vector and blobs, signed by its key)
  2. on a device that has data:      fieldsync bundle export --for /media/usb/phone.state /media/usb/to-phone.car
     (a CAR with exactly what the first device lacks: records first, then
     thumbnails, previews, originals, so a bundle cut short by a full stick
     is still useful as far as it goes)
  3. back on the first device:       fieldsync bundle import /media/usb/to-phone.car
     (every block verified, every record checked as in a network sync;
     unfinished blobs kept as partial blobs that a later sync completes)
'--all' exports everything instead. '--max-size' splits the bundle into
several files (FILE, FILE.2.car, ...), each a complete CAR; import them all.
Only members' bundles are accepted, and only for this project.

Options:
` + dataHelp + `  --max-size N  bytes per file, e.g. 4000000000 (default: one file)
  --json        print the import report as JSON

Exit codes: 0 done, 1 failure (e.g. a bundle of another project or from a
non-member), 2 bad usage, 4 imported, but some blocks were refused or the
file was cut short (listed).
`,
}

func init() {
	bundleCmd.run = runBundle
	register(bundleCmd)
}

func runBundle(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		if len(args) == 0 {
			return usagef("want a subcommand: state, export or import")
		}
		fmt.Fprint(e.stdout, bundleCmd.usage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlags(bundleCmd, e)
	data := dataFlag(fs)
	forState := fs.String("for", "", "")
	all := fs.Bool("all", false, "")
	maxSize := fs.Int64("max-size", 0, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(bundleCmd, e, fs, args)
	if err != nil {
		return err
	}
	switch sub {
	case "state", "export":
		if len(rest) != 1 {
			return usagef("bundle %s: want exactly one FILE", sub)
		}
	case "import":
		if len(rest) == 0 {
			return usagef("bundle import: want FILE...")
		}
	default:
		return usagef("unknown bundle subcommand %q: want state, export or import", sub)
	}
	if sub == "export" && (*forState == "") == !*all {
		return usagef("bundle export: give exactly one of --for STATE or --all")
	}
	n, err := openNode(ctx, *data, false, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	switch sub {
	case "state":
		st, err := n.BundleState(ctx)
		if err != nil {
			return err
		}
		b, err := st.MarshalBinary()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(rest[0], b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s: %d authors, %d blobs held; take it to a device that has the data and run 'fieldsync bundle export --for %s BUNDLE'\n",
			rest[0], len(st.Vector), len(st.Blobs()), rest[0])
		return nil
	case "export":
		var st *archive.State
		if !*all {
			b, err := os.ReadFile(*forState)
			if err != nil {
				return err
			}
			if st, err = archive.ParseState(b); err != nil {
				return fmt.Errorf("%s: %w", *forState, err)
			}
		}
		rep, err := n.ExportBundle(ctx, rest[0], st, *maxSize)
		if err != nil {
			return fmt.Errorf("bundle export: %w", err)
		}
		fmt.Fprintf(e.stdout, "wrote %d file(s): %d records, %d blobs, %s\n", len(rep.Parts), rep.Records, rep.Blobs, humanBytes(rep.Bytes))
		for _, pr := range rep.Parts {
			fmt.Fprintf(e.stdout, "  %s  %s\n", archive.PartPath(rest[0], pr.Part), humanBytes(pr.Bytes))
		}
		stale, err := archive.RemoveStaleParts(rest[0], len(rep.Parts))
		for _, p := range stale {
			fmt.Fprintf(e.stdout, "  removed %s, left by an earlier export\n", p)
		}
		return err
	}
	// import
	problems := 0
	for _, path := range rest {
		rep, err := n.ImportBundle(ctx, path)
		if err != nil {
			return fmt.Errorf("bundle import %s: %w", path, err)
		}
		problems += printImportReport(e.stdout, path, rep, *asJSON)
	}
	if problems > 0 {
		return &exitError{code: exitSkipped, err: fmt.Errorf("%d problems (listed above)", problems)}
	}
	return nil
}

// printImportReport prints what a CAR import did and returns the number
// of problems (refused blocks, a cut-short file).
func printImportReport(w io.Writer, path string, rep *archive.Report, asJSON bool) int {
	problems := len(rep.Refused)
	if rep.Truncated || rep.Broken != nil {
		problems++
	}
	if asJSON {
		_ = writeJSON(w, map[string]any{"file": path, "report": rep})
		return problems
	}
	counts := map[archive.BlobStatus]int{}
	for _, b := range rep.Blobs {
		counts[b.Status]++
	}
	fmt.Fprintf(w, "%s: records %d new, %d known; blobs %d new, %d known, %d partial; %d blocks refused\n",
		path, rep.RecordsNew, rep.RecordsKnown, counts[archive.BlobNew], counts[archive.BlobKnown], counts[archive.BlobPartial], len(rep.Refused))
	for _, r := range rep.Refused {
		fmt.Fprintf(w, "  refused %s\n", r)
	}
	if rep.Truncated {
		fmt.Fprintln(w, "  the file was cut short: everything before the cut was imported; partial blobs resume from another bundle or a sync")
	}
	if rep.Broken != nil {
		fmt.Fprintf(w, "  the rest of the file could not be read: %v\n", rep.Broken)
	}
	return problems
}
