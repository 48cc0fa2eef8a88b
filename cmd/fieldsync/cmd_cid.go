package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/fieldsync/fieldsync/chunk"
)

var cidCmd = &command{
	name:    "cid",
	summary: "print the CID of files without storing them",
	usage: `Usage: fieldsync cid [--json] FILE...

Prints each file's CID under the unixfs-v1-2025 profile (CIDv1, sha2-256,
1 MiB chunks, raw leaves, balanced DAG), the same CID that
'ipfs add --only-hash' gives under that profile. Nothing is stored. Files are
streamed, so any size works in bounded memory. '-' reads standard input.

Options:
  --json   one JSON object per line: {"path","cid","size"} or {"path","error"}

Examples:
  fieldsync cid photo.jpg
  cat photo.jpg | fieldsync cid -

Exit codes: 0 every file hashed, 1 some file could not be read, 2 bad usage.
`,
}

func init() {
	cidCmd.run = runCid
	register(cidCmd)
}

func runCid(ctx context.Context, e *env, args []string) error {
	fs := newFlags(cidCmd, e)
	asJSON := fs.Bool("json", false, "")
	files, err := parseFlags(cidCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no FILE given (use - for standard input)")
	}
	failed := 0
	enc := json.NewEncoder(e.stdout)
	for _, name := range files {
		sk, err := cidOf(ctx, e, name)
		if err != nil {
			failed++
			if *asJSON {
				_ = enc.Encode(map[string]any{"path": name, "error": err.Error()})
			} else {
				fmt.Fprintf(e.stderr, "fieldsync cid: %v\n", err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if *asJSON {
			_ = enc.Encode(map[string]any{"path": name, "cid": sk.Root.String(), "size": sk.Size})
		} else if len(files) == 1 {
			fmt.Fprintln(e.stdout, sk.Root)
		} else {
			fmt.Fprintf(e.stdout, "%s  %s\n", sk.Root, name)
		}
	}
	if failed > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d files could not be hashed", failed, len(files))}
	}
	return nil
}

// cidOf hashes one named file, or standard input for "-".
func cidOf(ctx context.Context, e *env, name string) (*chunk.Skeleton, error) {
	var r io.Reader
	if name == "-" {
		r = e.stdin
	} else {
		f, err := openRegular(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	sk, err := chunk.Sum(ctx, bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return sk, nil
}

// openRegular opens name for reading and refuses directories and devices
// with a message that says so.
func openRegular(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	switch {
	case st.IsDir():
		f.Close()
		return nil, fmt.Errorf("%s is a directory, not a file", name)
	case !st.Mode().IsRegular() && st.Mode()&os.ModeNamedPipe == 0:
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", name, st.Mode().Type())
	}
	return f, nil
}
