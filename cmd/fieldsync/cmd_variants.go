package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/thumbs"
)

var variantsCmd = &command{
	name:    "variants",
	summary: "write the thumbnail and preview a photo would travel as",
	usage: `Usage: fieldsync variants [--out DIR] [--json] PHOTO...

Makes each photo's two variants exactly as an import does, writes them as
NAME.thumb.jpg and NAME.preview.jpg in DIR (NAME is the photo's file name
without its extension), and prints their CIDs and sizes. Nothing is stored
in the device's data. The variants are JPEGs turned upright by the photo's
EXIF orientation, with no metadata at all (no EXIF, no GPS, no XMP), and
their bytes and CIDs are the same on every device.

The thumbnail fits 400×400 pixels and the preview 1200×1200; photos are
never enlarged. Inputs: JPEG (baseline, progressive, grayscale, CMYK), PNG,
GIF (first frame) and WebP. Other files (HEIC, RAW, video, documents) have
no variants: they are reported, the other photos are still processed, and
'fieldsync import' still takes them as attachments. '-' reads standard input
(its variants are named stdin.*).

Options:
  --out DIR       where to write the variants (default: the current
                  directory; created if missing)
  --json          one JSON object per photo and line:
                  {"path","media_type","width","height",
                   "thumbnail":{"path","cid","size"},"preview":{...}}
                  or {"path","error","unsupported"}
  --thumb N       thumbnail box edge in pixels (default 400)
  --preview N     preview box edge in pixels (default 1200)
  --quality Q     JPEG quality 1-100 (default 75)
                  Devices use the defaults; other values give other CIDs.

Examples:
  fieldsync variants IMG_0042.JPG --out /tmp/v
  fieldsync variants --json ~/DCIM/*.jpg --out /tmp/v | jq .preview.size
  cat scan.png | fieldsync variants - --out .

Exit codes: 0 every photo got its variants, 1 some file had no variants
(unsupported type, corrupt, too large) or could not be read or written,
2 bad usage.
`,
}

func init() {
	variantsCmd.run = runVariants
	register(variantsCmd)
}

// variantFile describes one written variant.
type variantFile struct {
	Path string `json:"path"`
	CID  string `json:"cid"`
	Size int    `json:"size"`
}

func runVariants(ctx context.Context, e *env, args []string) error {
	fs := newFlags(variantsCmd, e)
	out := fs.String("out", ".", "")
	asJSON := fs.Bool("json", false, "")
	opt := thumbs.DefaultOptions()
	fs.IntVar(&opt.ThumbSize, "thumb", opt.ThumbSize, "")
	fs.IntVar(&opt.PreviewSize, "preview", opt.PreviewSize, "")
	fs.IntVar(&opt.Quality, "quality", opt.Quality, "")
	files, err := parseFlags(variantsCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no PHOTO given (use - for standard input)")
	}
	switch {
	case opt.ThumbSize < 1 || opt.PreviewSize < 1:
		return usagef("--thumb and --preview must be at least 1")
	case opt.Quality < 1 || opt.Quality > 100:
		return usagef("--quality must be 1 to 100, not %d", opt.Quality)
	case *out == "":
		return usagef("--out must name a directory")
	}
	// Two photos with one base name would overwrite each other's variants
	// ("-" twice included: both are "stdin").
	names := make([]string, len(files))
	seen := map[string]string{}
	for i, f := range files {
		names[i] = variantBase(f)
		if prev, dup := seen[names[i]]; dup {
			return usagef("%s and %s would both write %s.*: rename one or run them separately", prev, f, names[i])
		}
		seen[names[i]] = f
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("make output directory: %w", err)
	}

	// Results are written and printed in the order of the arguments as soon
	// as all earlier ones are: MakeAll hands them over in about that order,
	// so only a few wait here, whatever the number of photos.
	type made struct {
		res *thumbs.Result
		err error
	}
	pending := map[int]made{}
	next, failed := 0, 0
	emit := func(i int, res *thumbs.Result, err error) {
		name := files[i]
		var thumb, prev variantFile
		if err == nil {
			thumb, err = writeVariant(ctx, filepath.Join(*out, names[i]+".thumb.jpg"), res.Thumbnail)
		}
		if err == nil {
			prev, err = writeVariant(ctx, filepath.Join(*out, names[i]+".preview.jpg"), res.Preview)
		}
		if err != nil {
			failed++
			unsupported := errors.Is(err, thumbs.ErrUnsupported)
			msg := err.Error()
			if unsupported {
				msg += "; 'fieldsync import' takes it as an attachment without variants"
			}
			if *asJSON {
				_ = writeJSON(e.stdout, map[string]any{"path": name, "error": msg, "unsupported": unsupported})
			} else {
				fmt.Fprintf(e.stderr, "fieldsync variants: %s: %s\n", name, msg)
			}
			return
		}
		if *asJSON {
			_ = writeJSON(e.stdout, map[string]any{
				"path": name, "media_type": res.MediaType, "width": res.Width, "height": res.Height,
				"thumbnail": thumb, "preview": prev,
			})
			return
		}
		fmt.Fprintf(e.stdout, "%s  %s %d×%d\n", name, res.MediaType, res.Width, res.Height)
		fmt.Fprintf(e.stdout, "  thumbnail  %s  %9s  %s\n", thumb.CID, humanBytes(int64(thumb.Size)), thumb.Path)
		fmt.Fprintf(e.stdout, "  preview    %s  %9s  %s\n", prev.CID, humanBytes(int64(prev.Size)), prev.Path)
	}
	err = thumbs.MakeAll(ctx, len(files), func(i int) (io.ReadCloser, error) {
		if files[i] == "-" {
			return io.NopCloser(e.stdin), nil
		}
		return openRegular(files[i])
	}, opt, func(i int, res *thumbs.Result, err error) {
		pending[i] = made{res, err}
		for {
			m, ok := pending[next]
			if !ok {
				return
			}
			delete(pending, next)
			emit(next, m.res, m.err)
			next++
		}
	})
	if err != nil {
		return err
	}

	if failed > 0 {
		return &exitError{code: exitFailure, err: fmt.Errorf("%d of %d files got no variants", failed, len(files))}
	}
	return nil
}

// variantBase is the name a photo's variants start with: its file name
// without the extension, "stdin" for "-".
func variantBase(path string) string {
	if path == "-" {
		return "stdin"
	}
	base := filepath.Base(path)
	if b := strings.TrimSuffix(base, filepath.Ext(base)); b != "" {
		return b
	}
	return base
}

// writeVariant writes data to path (temporary file, fsync, rename) and
// returns its CID under the unixfs-v1-2025 profile.
func writeVariant(ctx context.Context, path string, data []byte) (variantFile, error) {
	sk, err := chunk.Sum(ctx, bytes.NewReader(data))
	if err != nil {
		return variantFile{}, fmt.Errorf("hash variant: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o644); err != nil {
		return variantFile{}, fmt.Errorf("write %s: %w", path, err)
	}
	return variantFile{Path: path, CID: sk.Root.String(), Size: len(data)}, nil
}
