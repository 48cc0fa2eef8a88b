package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/node"
)

var exportCmd = &command{
	name:    "export",
	summary: "export the project as a CAR file or a BagIt bag",
	usage: `Usage: fieldsync export [--data DIR] --car FILE [--classes all|field|records]
       fieldsync export [--data DIR] --bagit DIR [--allow-missing]

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
	rest, err := parseFlags(exportCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if (*carPath == "") == (*bagDir == "") {
		return usagef("give exactly one of --car FILE or --bagit DIR")
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
