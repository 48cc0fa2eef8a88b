package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/node"
)

var importCmd = &command{
	name:    "import",
	summary: "import a directory: one observation per photo or file",
	usage: `Usage: fieldsync import [--data DIR] [--tag TAG]... [--note TEXT] [--json] DIR
       fieldsync import [--data DIR] [--json] --car FILE

Imports every file under DIR (recursively) into this device's project, one
observation per file. A photo (JPEG, PNG, GIF, WebP) gets its time and place
from EXIF (DateTimeOriginal, GPS) when present, and a thumbnail and a
preview made now; a GPX file (.gpx) becomes a track (its tracks and routes
as points that travel compactly, drawn as a line; its time the first
point's; its waypoints are not taken, which is said); other files (audio,
video, documents, HEIC, RAW) become attachments with only their original.
Hidden, empty and unreadable files, and a .gpx file that is not GPX, are
skipped and listed with the reason. Interrupting (Ctrl-C) keeps what
was imported; running it again imports the files again as new
observations, so import each folder once. If the disk holding the data
directory fills up, the import stops at once with one message saying how
much more it needs and which files were not imported (exit 7): the
observations made before are kept.

With --car FILE, imports a CAR file (from 'fieldsync export --car' or any
IPFS tool): every block is verified against its CID before anything from
it is stored, records get every check of a network sync, and the report
says what was new, what was already known and what was refused, block by
block.

Options:
` + dataHelp + `  --car FILE    import a CAR file instead of a directory
  --tag TAG     a tag for every observation (repeatable)
  --note TEXT   a note for every observation
  --json        print a JSON summary {"imported","skipped":[{"path","reason"}],
                "not_imported":[paths],...}

Examples:
  fieldsync import ~/DCIM/2026-11-20
  fieldsync import --tag river --tag "north bank" ./survey

Exit codes: 0 every file imported, 1 failure, 2 bad usage, 4 done but some
files were skipped or some CAR blocks refused (listed), 7 stopped because
the disk holding the data directory is full (what was imported is kept).
`,
}

// exitSkipped is import's exit code when some files were skipped.
const exitSkipped = 4

func init() {
	importCmd.run = runImport
	register(importCmd)
}

func runImport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(importCmd, e)
	data := dataFlag(fs)
	var tags addrList
	fs.Var(&tags, "tag", "")
	note := fs.String("note", "", "")
	asJSON := fs.Bool("json", false, "")
	carPath := fs.String("car", "", "")
	rest, err := parseFlags(importCmd, e, fs, args)
	if err != nil {
		return err
	}
	if *carPath != "" {
		if len(rest) > 0 {
			return usagef("--car FILE takes no DIR")
		}
		return importCAR(ctx, e, *data, *carPath, *asJSON)
	}
	if len(rest) != 1 {
		return usagef("want exactly one DIR (use 'fieldsync add FILE...' for single files)")
	}
	dir := rest[0]
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !st.IsDir() {
		return usagef("%s is not a directory (use 'fieldsync add %s' for a single file)", dir, dir)
	}
	n, err := openNode(ctx, *data, false, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	tty := isTerminal(e.stderr) && !*asJSON
	start := time.Now()
	lastPrint := time.Time{}
	midLine := false // a tty progress line is drawn without its newline
	progress := func(pr node.ImportProgress) {
		if *asJSON {
			return
		}
		if pr.Err != nil && !tty {
			fmt.Fprintf(e.stderr, "skip %s: %v\n", pr.Path, pr.Err)
		}
		if !tty && time.Since(lastPrint) < 2*time.Second && pr.Done != pr.Total {
			return
		}
		lastPrint = time.Now()
		// Import's own pace (bytes of originals since it began): steady
		// enough, as each file's variants cost about the same per byte.
		rate := float64(pr.Bytes) / time.Since(start).Seconds()
		pace := "estimating the time left"
		switch {
		case pr.Done == pr.Total:
			pace = "done"
		case rate > 0 && time.Since(start) > time.Second:
			pace = humanRate(rate) + ", " + humanLeft(time.Duration(float64(pr.TotalBytes-pr.Bytes)/rate*float64(time.Second)))
		}
		line := fmt.Sprintf("import %s %d/%d files %s/%s %s", bar(pr.Bytes, pr.TotalBytes, 24),
			pr.Done, pr.Total, humanBytes(pr.Bytes), humanBytes(pr.TotalBytes), pace)
		if tty {
			fmt.Fprintf(e.stderr, "\r\x1b[K%s", line)
			midLine = pr.Done != pr.Total
			if !midLine {
				fmt.Fprintln(e.stderr)
			}
		} else {
			fmt.Fprintln(e.stderr, line)
		}
	}
	rep, err := n.Import(ctx, dir, node.ImportOptions{Tags: tags, Notes: *note}, progress)
	if midLine {
		fmt.Fprintln(e.stderr)
	}
	if rep == nil {
		return fmt.Errorf("import %s: %w", dir, err)
	}
	var full *node.SpaceError
	errors.As(err, &full)
	if *asJSON {
		skipped := []map[string]string{}
		for _, s := range rep.Skipped {
			skipped = append(skipped, map[string]string{"path": s.Path, "reason": s.Reason.Error()})
		}
		warn := []map[string]string{}
		for _, s := range rep.Warnings {
			warn = append(warn, map[string]string{"path": s.Path, "reason": s.Reason.Error()})
		}
		ids := []string{}
		for _, r := range rep.Records {
			ids = append(ids, r.CID.String())
		}
		out := map[string]any{"imported": len(rep.Records), "records": ids, "skipped": skipped, "warnings": warn,
			"not_imported": append([]string{}, rep.NotImported...), "seconds": time.Since(start).Seconds()}
		if full != nil {
			out["disk_full"] = map[string]any{"dir": full.Dir, "need": full.Need, "free": full.Free}
		}
		_ = writeJSON(e.stdout, out)
	} else {
		fmt.Fprintf(e.stdout, "imported %d observations in %s\n", len(rep.Records), time.Since(start).Round(time.Millisecond))
		if len(rep.Warnings) > 0 {
			fmt.Fprintf(e.stdout, "%d imported with less than usual (a photo without variants, a GPX file's waypoints):\n", len(rep.Warnings))
			for _, s := range rep.Warnings {
				fmt.Fprintf(e.stdout, "  %s: %s\n", s.Path, trimPkg(s.Reason))
			}
		}
		if len(rep.Skipped) > 0 {
			fmt.Fprintf(e.stdout, "%d skipped:\n", len(rep.Skipped))
			for _, s := range rep.Skipped {
				fmt.Fprintf(e.stdout, "  %s: %s\n", s.Path, trimPkg(s.Reason))
			}
		}
	}
	if full != nil {
		return &exitError{code: exitNoSpace, err: errors.New(importFull(full, dir, len(rep.Records), rep.NotImported))}
	}
	if err != nil {
		return fmt.Errorf("import %s stopped: %w (what was imported is kept)", dir, err)
	}
	if len(rep.Skipped) > 0 {
		return &exitError{code: exitSkipped, err: fmt.Errorf("%d files skipped", len(rep.Skipped))}
	}
	return nil
}

// importFull is the one message of an import stopped by a full disk:
// how much more it needs, what was kept, which files were not imported
// and what to do. Running the same import again would import the files
// already imported a second time (import makes new observations), so it
// says so when some were.
func importFull(se *node.SpaceError, dir string, imported int, left []string) string {
	s := diskFull(se, "this import")
	which := ""
	switch len(left) {
	case 0:
	case 1:
		which = fmt.Sprintf(" (%s)", left[0])
	default:
		which = fmt.Sprintf(" (%s to %s, in path order)", left[0], left[len(left)-1])
	}
	if imported == 0 {
		return s + ". Nothing was imported. Free some space (or use --data on a larger disk), then run the same command again"
	}
	return s + fmt.Sprintf(". %d files were imported and are kept; %d were not%s. Free some space (or use --data on a larger disk), then import those %d: running 'fieldsync import %s' again would import the %d already imported a second time",
		imported, len(left), which, len(left), dir, imported)
}

// trimPkg drops a "package: " prefix from an error for display.
func trimPkg(err error) string {
	s := err.Error()
	for _, p := range []string{"ingest: ", "project: ", "thumbs: ", "blob: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

func importCAR(ctx context.Context, e *env, data, path string, asJSON bool) error {
	n, err := openNode(ctx, data, false, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	rep, err := n.ImportCAR(ctx, path)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if k := printImportReport(e.stdout, path, rep, asJSON); k > 0 {
		return &exitError{code: exitSkipped, err: fmt.Errorf("%d problems (listed above)", k)}
	}
	return nil
}
