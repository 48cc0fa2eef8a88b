package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/node"
)

var exportCmd = &command{
	name:    "export",
	summary: "export the project: GeoJSON, CSV, GPX for a GIS; a CAR file or a BagIt bag for archives",
	usage: `Usage: fieldsync export [--data DIR] [--geojson FILE] [--csv FILE [--no-bom]] [--gpx FILE] [--category ID]
       fieldsync export [--data DIR] --car FILE [--classes all|field|records]
       fieldsync export [--data DIR] --bagit DIR [--allow-missing]

--geojson, --csv and --gpx (any of them, together) write the current
observations and tracks in the formats a GIS (QGIS, ArcGIS, R, Python) and
a spreadsheet open; docs/fielddata.md lists every property and column:
  --geojson FILE  a GeoJSON FeatureCollection (RFC 7946): a Point for each
                  observation with a position, a LineString for each track
                  (a MultiLineString for a track in several segments); the
                  category, each field (by its key), tags, notes, times and
                  attachment CIDs as properties
  --csv FILE      one row per observation, tracks and observations without
                  a position included; a column per field; UTF-8 with a byte
                  order mark, so Excel reads accents (--no-bom leaves it out)
  --gpx FILE      GPX 1.1: a waypoint per located observation (its category,
                  fields and notes in its description), a track per track,
                  with every point's time and elevation
  --category ID   only the observations of that category
FILE - writes to standard output. A track whose points this device does not
hold yet is left out of the GeoJSON and the GPX, and said.

--car FILE writes the project as a CAR (CARv1) file whose blocks are
exactly the project's blocks: a small manifest, every signed record
(dag-cbor) and every blob (dag-pb nodes and raw leaves), each leaf
re-verified as it is written. A standard IPFS node imports it with
'ipfs dag import FILE' and then returns each original byte for byte by its
CID, and reads each record as dag-cbor. --classes chooses the blobs: all
(default), field (thumbnails and previews), records (no blobs).

--bagit DIR writes an RFC 8493 bag for long-term archives: the originals
under data/ with readable names (date, observation id, name), the
observations as JSON and GeoJSON (a GIS opens it), manifest-sha256.txt,
tagmanifest-sha256.txt and bag-info.txt; the CIDs are listed beside the
sha256 sums. Check it later with 'sha256sum -c manifest-sha256.txt' inside
the bag. Originals this device does not hold are an error unless
--allow-missing.

Options:
` + dataHelp + `  --json        print the report as JSON

Examples:
  fieldsync export --geojson survey.geojson --csv survey.csv --gpx survey.gpx
  fieldsync export --category river-crossing --csv crossings.csv
  fieldsync export --car survey-2026.car
  fieldsync export --bagit /media/archive/survey-2026

Exit codes: 0 done, 1 failure, 2 bad usage.
`,
}

func init() {
	exportCmd.run = runExport
	register(exportCmd)
}

func parseClasses(s string) (archive.ClassSet, error) {
	switch s {
	case "all", "":
		return archive.AllBlobs, nil
	case "field":
		return archive.FieldSet, nil
	case "records":
		return archive.NoBlobs, nil
	}
	return 0, usagef("--classes %q: want all, field or records", s)
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(exportCmd, e)
	data := dataFlag(fs)
	carPath := fs.String("car", "", "")
	bagDir := fs.String("bagit", "", "")
	classes := fs.String("classes", "all", "")
	allowMissing := fs.Bool("allow-missing", false, "")
	asJSON := fs.Bool("json", false, "")
	gj := fs.String("geojson", "", "")
	csvPath := fs.String("csv", "", "")
	gpxPath := fs.String("gpx", "", "")
	category := fs.String("category", "", "")
	noBOM := fs.Bool("no-bom", false, "")
	rest, err := parseFlags(exportCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if gis := *gj != "" || *csvPath != "" || *gpxPath != ""; gis {
		if *carPath != "" || *bagDir != "" {
			return usagef("--geojson, --csv and --gpx go without --car and --bagit: export one kind at a time")
		}
		if *noBOM && *csvPath == "" {
			return usagef("--no-bom goes with --csv")
		}
		return exportGIS(ctx, e, *data, gisExports{geojson: *gj, csv: *csvPath, gpx: *gpxPath}, node.ExportOptions{Category: *category, BOM: !*noBOM}, *asJSON)
	}
	if *category != "" || *noBOM {
		return usagef("--category and --no-bom go with --geojson, --csv or --gpx")
	}
	if (*carPath == "") == (*bagDir == "") {
		return usagef("give --geojson, --csv or --gpx FILE, or exactly one of --car FILE or --bagit DIR")
	}
	cs, err := parseClasses(*classes)
	if err != nil {
		return err
	}
	n, err := openNode(ctx, *data, false, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if *carPath != "" {
		rep, err := n.ExportCAR(ctx, *carPath, cs)
		if err != nil {
			return fmt.Errorf("export %s: %w", *carPath, err)
		}
		if *asJSON {
			return writeJSON(e.stdout, rep)
		}
		fmt.Fprintf(e.stdout, "wrote %s: %d records, %d blobs (%d nodes, %d leaves), %s\n",
			*carPath, rep.Records, rep.Blobs, rep.Nodes, rep.Leaves, humanBytes(rep.Bytes))
		if len(rep.Unavailable) > 0 {
			fmt.Fprintf(e.stdout, "%d blobs are not complete on this device and were left out (run 'fieldsync sync' first)\n", len(rep.Unavailable))
		}
		return nil
	}
	rep, err := n.ExportBag(ctx, *bagDir, archive.BagOptions{AllowMissing: *allowMissing})
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("export %s: it already exists; a bag is written into a new directory, so give a path that does not exist yet", *bagDir)
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", *bagDir, err)
	}
	if *asJSON {
		return writeJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "wrote bag %s: %d observations (%d with a position), %d originals, %d payload files, %s\n",
		rep.Dir, rep.Observations, rep.Located, rep.Originals, rep.PayloadFiles, humanBytes(rep.PayloadBytes))
	if len(rep.Missing) > 0 {
		fmt.Fprintf(e.stdout, "%d originals not on this device are listed as missing in bag-info.txt\n", len(rep.Missing))
	}
	fmt.Fprintf(e.stdout, "check it with: (cd %s && sha256sum -c manifest-sha256.txt && sha256sum -c tagmanifest-sha256.txt)\n", rep.Dir)
	return nil
}

// gisExports are the files of a GIS export ("" for none, "-" for
// standard output).
type gisExports struct{ geojson, csv, gpx string }

func exportGIS(ctx context.Context, e *env, data string, files gisExports, opts node.ExportOptions, asJSON bool) error {
	stdout := 0
	for _, f := range []string{files.geojson, files.csv, files.gpx} {
		if f == "-" {
			stdout++
		}
	}
	if stdout > 1 {
		return usagef("only one export can go to standard output (-)")
	}
	n, err := openNode(ctx, data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if opts.Category != "" {
		if _, err := n.Category(ctx, opts.Category); err != nil {
			return err
		}
	}
	// Reports go to stderr when an export goes to stdout.
	out := e.stdout
	if stdout > 0 {
		out = e.stderr
	}
	reports := map[string]*node.ExportReport{}
	for _, x := range []struct {
		flag, path string
		write      func(io.Writer) (*node.ExportReport, error)
	}{
		{"geojson", files.geojson, func(w io.Writer) (*node.ExportReport, error) { return n.ExportGeoJSON(ctx, w, opts) }},
		{"csv", files.csv, func(w io.Writer) (*node.ExportReport, error) { return n.ExportCSV(ctx, w, opts) }},
		{"gpx", files.gpx, func(w io.Writer) (*node.ExportReport, error) { return n.ExportGPX(ctx, w, opts) }},
	} {
		if x.path == "" {
			continue
		}
		var rep *node.ExportReport
		if x.path == "-" {
			rep, err = x.write(e.stdout)
		} else {
			err = writeAtomic(x.path, 0o644, func(w io.Writer) error {
				var err error
				rep, err = x.write(w)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("export %s: %w", x.path, err)
		}
		reports[x.flag] = rep
		if asJSON {
			continue
		}
		name := x.path
		if name == "-" {
			name = "standard output"
		}
		switch x.flag {
		case "csv":
			bom := "UTF-8 with a byte order mark"
			if !opts.BOM {
				bom = "UTF-8"
			}
			fmt.Fprintf(out, "wrote %s: %s, one per observation (%d with a position, %s), %s\n", name, count(rep.Observations, "row"), rep.Points, count(rep.Lines, "track"), bom)
		default:
			fmt.Fprintf(out, "wrote %s: %s as points, %s as lines\n", name, count(rep.Points, "observation"), count(rep.Lines, "track"))
			if rep.NoPosition > 0 {
				fmt.Fprintf(out, "  %s without a position not in it (the CSV export has them)\n", count(rep.NoPosition, "observation"))
			}
			if len(rep.MissingTracks) > 0 {
				fmt.Fprintf(out, "  %s not drawn: their points are not on this device yet (run 'fieldsync sync'): %s\n",
					count(len(rep.MissingTracks), "track"), strings.Join(rep.MissingTracks, ", "))
			}
		}
	}
	if asJSON {
		return writeJSON(out, reports)
	}
	return nil
}

// count writes n things: "1 track", "3 tracks".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
