package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/fieldsync/fieldsync/node"
	"github.com/ipfs/go-cid"
)

var catCmd = &command{
	name:    "cat",
	summary: "write a blob's bytes (or a record as JSON) to standard output",
	usage: `Usage: fieldsync cat [--data DIR] CID

Writes the blob CID (a photo, a variant, an attachment) to standard output,
byte for byte. For the CID of a record (dag-cbor, bafyrei...), prints the
decoded record as JSON. The blob must be complete on this device.

Options:
` + dataHelp + `
Examples:
  fieldsync cat bafkrei... > thumb.jpg
  fieldsync cat bafyrei...

Exit codes: 0 done, 1 failure (e.g. not on this device), 2 bad usage.
`,
}

func init() {
	catCmd.run = runCat
	register(catCmd)
}

func runCat(ctx context.Context, e *env, args []string) error {
	fset := newFlags(catCmd, e)
	data := dataFlag(fset)
	rest, err := parseFlags(catCmd, e, fset, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one CID")
	}
	c, err := cid.Decode(rest[0])
	if err != nil {
		return usagef("%q is not a CID: %v", rest[0], err)
	}
	n, err := openNode(ctx, *data, true, false, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if c.Prefix().Codec == cid.DagCBOR {
		r, err := n.Record(ctx, c)
		if err != nil {
			return fmt.Errorf("record %s: %w", c, err)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	rc, err := n.OpenBlob(ctx, c)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob %s is not (completely) on this device: run 'fieldsync sync', or check 'fieldsync status'", c)
		}
		return err
	}
	defer rc.Close()
	_, err = io.Copy(e.stdout, rc)
	return err
}
