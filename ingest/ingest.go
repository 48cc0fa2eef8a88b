package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // variant sizes
	"io"
	"io/fs"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/thumbs"
	"github.com/ipfs/go-cid"
)

// Options shape an ingest.
type Options struct {
	// Store receives the blobs. If it is also a blob.Batcher, the blobs of
	// each group of files share one batch (one fsync).
	Store blob.Receiver
	// Thumbs are the variant options (zero: thumbs defaults; every device
	// should use the same, so variant CIDs agree).
	Thumbs thumbs.Options
	// Tags and Notes are given to every observation made.
	Tags  []string
	Notes string
	// Position is used when a file has no GPS position in its EXIF (or
	// always, with ForcePosition).
	Position      *project.Position
	ForcePosition bool
	// GroupSize is the number of files per blob batch and record
	// transaction in Dir (default 32).
	GroupSize int
	// RequireVariants refuses a file that cannot have a thumbnail and a
	// preview (not an image fieldsync decodes, a decompression bomb, a
	// corrupt image: the thumbs error) instead of storing it as an
	// attachment with its original only: for surfaces that take photos
	// only, such as the web app's upload.
	RequireVariants bool
	// SkipKnown leaves out a file whose bytes are already the original of
	// an observation of the project (not deleted), or of a file before it
	// in the same Dir: importing a camera card again imports only what is
	// new. Report.Known lists those left out.
	SkipKnown bool
	// Warn, if not nil, is told of each file File, Files and Prepare
	// ingest with less than usual (a photo without variants, a GPX file's
	// waypoints not taken), once the files' blobs are stored (Files may
	// still fail to sign the observation after); Dir lists them in
	// Report.Warnings instead.
	Warn func(Skip)

	seen map[cid.Cid]string // Dir: originals of this import so far
}

// check refuses, before any blob is stored, the tags, notes and position
// that the observation record would refuse.
func (o Options) check() error {
	probe := project.Observation{ID: "probe", Tags: o.Tags, Notes: o.Notes, Position: o.Position}
	if err := probe.Validate(); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return nil
}

// Progress reports on one file of a Dir.
type Progress struct {
	Path        string
	Done, Total int   // files handled so far (this one included), files in all
	Bytes       int64 // bytes of originals handled so far
	TotalBytes  int64
	Record      *project.Record // the observation made; nil if the file was skipped
	Err         error           // why the file was skipped
}

// Skip is a file an ingest left out, and why.
type Skip struct {
	Path   string
	Reason error
}

// Report sums up a Dir.
type Report struct {
	Records []*project.Record // one observation per file ingested, in path order
	Skipped []Skip            // files not ingested
	// Warnings are files ingested with less than usual (a photo too large
	// or too damaged for variants is ingested with its original only).
	Warnings []Skip
	// Known are the files left out because their bytes are already in an
	// observation (Options.SkipKnown): Reason wraps ErrKnown and names it.
	Known []Skip
	// NotImported are the files a Dir that stopped (ctx ended, or the
	// disk is full) did not ingest, in path order: those of the group it
	// was working on (discarded whole) and every one after.
	NotImported []string

	// size and variants are the bytes of the files a group handled and of
	// the variants made of them, for NoSpaceError.Need.
	size, variants int64
}

// NoSpaceError is an ingest stopped because the disk holding its blob
// store (or the project's database) is full: errors.Is(err,
// syscall.ENOSPC) holds. Nothing of the files not ingested is kept, and no
// file after the one that met the full disk was tried.
type NoSpaceError struct {
	// Need is about how many more bytes the files not ingested take:
	// their originals, the variants made of them, and for the files not
	// reached yet, variants in the proportion of those made so far.
	Need int64
	Err  error

	size, variants int64 // of the group that stopped, as in Report
}

func (e *NoSpaceError) Error() string {
	return fmt.Sprintf("import stopped, the disk is full (about %d more bytes needed): %v", e.Need, e.Err)
}
func (e *NoSpaceError) Unwrap() error { return e.Err }

// isNoSpace reports whether err means the disk is full: a blob store's
// write, or the project database's.
func isNoSpace(err error) bool { return blob.IsNoSpace(err) || db.IsFull(err) }

// Reasons for skipping a file.
var (
	ErrHidden    = errors.New("ingest: hidden file")
	ErrEmpty     = errors.New("ingest: empty file")
	ErrIrregular = errors.New("ingest: not a regular file")
	// ErrKnown: the file's bytes are already an observation's original.
	ErrKnown = errors.New("ingest: already imported")
)

// File ingests one file as a new observation of p: a photo with its
// thumbnail and preview, its time (EXIF DateTimeOriginal, else the file's
// modification time) and position (EXIF GPS, else opts.Position); any
// other file as an attachment with only its original.
func File(ctx context.Context, p *project.Project, path string, opts Options) (*project.Record, error) {
	f, err := stat(path)
	if err != nil {
		return nil, err
	}
	rep, err := ingestGroup(ctx, p, []source{f}, opts, nil)
	if err != nil {
		return nil, err
	}
	if len(rep.Skipped) > 0 {
		return nil, fmt.Errorf("import %s: %w", path, rep.Skipped[0].Reason)
	}
	opts.warn(rep.Warnings)
	return rep.Records[0], nil
}

// Files ingests several files as one observation of p with one attachment
// each (a photo and a voice note taken at the same spot, say): photos get
// their variants; the observation's time and position come from the first
// photo that has them in its EXIF (opts.Position and opts.ForcePosition as
// in File), else the first file's modification time. Every file must
// ingest: on any error nothing is stored.
func Files(ctx context.Context, p *project.Project, paths []string, opts Options) (*project.Record, error) {
	obs, err := Prepare(ctx, paths, opts)
	if err != nil {
		return nil, err
	}
	recs, err := p.AddObservations(ctx, []project.Observation{*obs})
	if err != nil {
		err = fmt.Errorf("import: %w", db.NoSpace(err))
		if isNoSpace(err) {
			// The blobs are stored: a retry finds them. Only the record
			// (a few KiB) lacked room; ask for what the files took.
			var need int64
			for _, a := range obs.Attachments {
				for _, v := range []*project.Variant{a.Original, a.Preview, a.Thumbnail} {
					if v != nil {
						need += v.Size
					}
				}
			}
			return nil, &NoSpaceError{Need: need, Err: err}
		}
		return nil, err
	}
	return recs[0], nil
}

// Prepare stores the blobs of files (originals, and the variants of
// photos) and returns the observation Files would sign, unsigned: its
// attachments, time and position. It is for callers that sign the
// observation themselves, such as an edit that attaches files to an
// existing observation. Every file must ingest: on any error no blob is
// committed.
func Prepare(ctx context.Context, paths []string, opts Options) (*project.Observation, error) {
	if len(paths) == 0 {
		return nil, errors.New("import: no files")
	}
	if opts.Store == nil {
		return nil, errors.New("import: no blob store")
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	files := make([]source, len(paths))
	for i, path := range paths {
		f, err := stat(path)
		if err != nil {
			return nil, err
		}
		files[i] = f
	}
	results, errs, recv, batch, err := prepareGroup(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	if batch != nil {
		defer batch.Discard()
	}
	full := func(err error) error {
		var need int64
		for i, f := range files {
			need += f.size + variantBytes(results[i])
		}
		return &NoSpaceError{Need: need, Err: db.NoSpace(err)}
	}
	var obs *project.Observation
	var warnings []Skip
	timed, placed := false, false
	for i, f := range files {
		o, warn, err := ingestOne(ctx, recv, f, results[i], errs[i], opts)
		if err != nil {
			err = fmt.Errorf("import %s: %w", f.path, err)
			if isNoSpace(err) {
				return nil, full(err)
			}
			return nil, err
		}
		if warn != nil {
			warnings = append(warnings, Skip{f.path, warn})
		}
		hasTime := !o.TimeGuessed // an EXIF time, or a track's first point time
		hasGPS := results[i] != nil && results[i].GPS != nil
		if obs == nil {
			obs = o
			timed, placed = hasTime, hasGPS
			continue
		}
		if !timed && hasTime {
			obs.Created, obs.TimeGuessed, timed = o.Created, false, true
		}
		if !placed && hasGPS {
			obs.Position, placed = o.Position, true
		}
		obs.Attachments = append(obs.Attachments, o.Attachments...)
	}
	if opts.ForcePosition && opts.Position != nil {
		obs.Position = opts.Position
	}
	if batch != nil {
		if err := batch.Commit(ctx); err != nil {
			err = fmt.Errorf("import: commit blobs: %w", err)
			if isNoSpace(err) {
				return nil, full(err)
			}
			return nil, err
		}
	}
	opts.warn(warnings)
	return obs, nil
}

// warn tells opts.Warn of warnings, if it is set.
func (o Options) warn(warnings []Skip) {
	if o.Warn == nil {
		return
	}
	for _, w := range warnings {
		o.Warn(w)
	}
}

// variantBytes is the size of the variants made of a file.
func variantBytes(res *thumbs.Result) int64 {
	if res == nil {
		return 0
	}
	return int64(len(res.Preview) + len(res.Thumbnail))
}

// prepareGroup makes the variants of a group of files (in parallel, one
// result or error per file) and opens a batch on the store if it has one;
// recv is where the group's blobs go (the batch, or the store itself).
func prepareGroup(ctx context.Context, files []source, opts Options) (results []*thumbs.Result, errs []error, recv blob.Receiver, batch blob.Batch, err error) {
	results = make([]*thumbs.Result, len(files))
	errs = make([]error, len(files))
	err = thumbs.MakeAll(ctx, len(files), func(i int) (io.ReadCloser, error) { return os.Open(files[i].path) }, opts.Thumbs,
		func(i int, res *thumbs.Result, err error) { results[i], errs[i] = res, err })
	if err != nil {
		return nil, nil, nil, nil, err
	}
	recv = opts.Store
	if b, ok := opts.Store.(blob.Batcher); ok {
		if batch, err = b.Batch(ctx); err != nil {
			return nil, nil, nil, nil, fmt.Errorf("import: %w", err)
		}
		recv = batch
	}
	return results, errs, recv, batch, nil
}

// source is a file to ingest.
type source struct {
	path, name string
	size       int64
	mtime      time.Time
}

// stat describes the regular file at path for ingest.
func stat(path string) (source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return source{}, fmt.Errorf("import %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return source{}, fmt.Errorf("import %s: %w", path, ErrIrregular)
	}
	if st.Size() == 0 {
		// As Dir skips it: an empty file is no observation.
		return source{}, fmt.Errorf("import %s: %w", path, ErrEmpty)
	}
	return source{path: path, name: filepath.Base(path), size: st.Size(), mtime: st.ModTime()}, nil
}

// Dir ingests every file under dir (recursively, in path order) into p,
// photos and other attachments alike, one observation each. Hidden files
// (a name starting with "."), empty files, non-regular files and files
// that cannot be read are skipped and listed with their reasons. progress,
// if not nil, is called after each file. A cancelled ctx stops the ingest
// after the current group; what was ingested stays. A full disk stops it
// at once with a *NoSpaceError: the groups ingested before stay, the group
// in progress is discarded, no later file is tried (Report.NotImported
// lists them all).
func Dir(ctx context.Context, p *project.Project, dir string, opts Options, progress func(Progress)) (*Report, error) {
	var files []source
	rep := &Report{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			rep.Skipped = append(rep.Skipped, Skip{path, err})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			rep.Skipped = append(rep.Skipped, Skip{path, ErrHidden})
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			rep.Skipped = append(rep.Skipped, Skip{path, ErrIrregular})
			return nil
		}
		info, err := d.Info()
		if err != nil {
			rep.Skipped = append(rep.Skipped, Skip{path, err})
			return nil
		}
		if info.Size() == 0 {
			rep.Skipped = append(rep.Skipped, Skip{path, ErrEmpty})
			return nil
		}
		files = append(files, source{path: path, name: d.Name(), size: info.Size(), mtime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	group := opts.GroupSize
	if group <= 0 {
		group = 32
	}
	if opts.SkipKnown {
		opts.seen = map[cid.Cid]string{}
	}
	done, n := 0, int64(0)
	var seenSize, seenVariants int64 // over the groups ingested, for NoSpaceError.Need
	stop := func(start int, err error) (*Report, error) {
		var later int64
		for _, f := range files[start:] {
			rep.NotImported = append(rep.NotImported, f.path)
			later += f.size
		}
		var ne *NoSpaceError
		if errors.As(err, &ne) {
			// The stopped group's need is exact; the files after it get
			// variants in the proportion seen so far.
			later -= ne.size
			seenSize += ne.size
			seenVariants += ne.variants
			ne.Need += later
			if seenSize > 0 {
				ne.Need += int64(float64(later) * float64(seenVariants) / float64(seenSize))
			}
		}
		return rep, err
	}
	for start := 0; start < len(files); start += group {
		if err := ctx.Err(); err != nil {
			return stop(start, err)
		}
		chunk := files[start:min(start+group, len(files))]
		r, err := ingestGroup(ctx, p, chunk, opts, func(pr Progress) {
			done++
			n += pr.Bytes
			pr.Done, pr.Total, pr.Bytes, pr.TotalBytes = done, len(files), n, total
			if progress != nil {
				progress(pr)
			}
		})
		if err != nil {
			return stop(start, err)
		}
		seenSize += r.size
		seenVariants += r.variants
		rep.Records = append(rep.Records, r.Records...)
		rep.Skipped = append(rep.Skipped, r.Skipped...)
		rep.Warnings = append(rep.Warnings, r.Warnings...)
		rep.Known = append(rep.Known, r.Known...)
	}
	return rep, nil
}

// ingestGroup ingests one group: variants in parallel, blobs in one batch,
// records in one transaction. progress gets Bytes as this file's size.
func ingestGroup(ctx context.Context, p *project.Project, files []source, opts Options, progress func(Progress)) (*Report, error) {
	if opts.Store == nil {
		return nil, errors.New("import: no blob store")
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	results, errs, recv, batch, err := prepareGroup(ctx, files, opts)
	if err != nil {
		return nil, err
	}
	if batch != nil {
		defer batch.Discard()
	}
	rep := &Report{}
	for i, f := range files {
		rep.size += f.size
		rep.variants += variantBytes(results[i])
	}
	// A full disk stops the group: the batch is discarded (deferred
	// above), so none of its blobs is kept, and no later file is tried.
	full := func(err error) (*Report, error) {
		return nil, &NoSpaceError{Need: rep.size + rep.variants, Err: db.NoSpace(err), size: rep.size, variants: rep.variants}
	}
	type made struct {
		i   int
		obs *project.Observation
	}
	var obs []made
	for i, f := range files {
		o, warn, err := ingestOne(ctx, recv, f, results[i], errs[i], opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if isNoSpace(err) {
				return full(fmt.Errorf("import %s: %w", f.path, err))
			}
			rep.Skipped = append(rep.Skipped, Skip{f.path, err})
			if progress != nil {
				progress(Progress{Path: f.path, Bytes: f.size, Err: err})
			}
			continue
		}
		if opts.SkipKnown && len(o.Attachments) > 0 && o.Attachments[0].Original != nil {
			c := o.Attachments[0].Original.CID
			id, err := p.ObservationWithOriginal(ctx, c)
			if err != nil {
				return nil, err
			}
			what := ""
			switch {
			case id != "":
				what = "as observation " + id
			case opts.seen != nil && opts.seen[c] != "":
				what = "the same bytes as " + opts.seen[c] + ", in this import"
			}
			if what != "" {
				err := fmt.Errorf("%w (%s)", ErrKnown, what)
				rep.Known = append(rep.Known, Skip{f.path, err})
				if progress != nil {
					progress(Progress{Path: f.path, Bytes: f.size, Err: err})
				}
				continue
			}
			if opts.seen != nil {
				opts.seen[c] = f.path
			}
		}
		if warn != nil {
			rep.Warnings = append(rep.Warnings, Skip{f.path, warn})
		}
		obs = append(obs, made{i, o})
	}
	if batch != nil {
		if err := batch.Commit(ctx); err != nil {
			if isNoSpace(err) {
				return full(fmt.Errorf("import: commit blobs: %w", err))
			}
			return nil, fmt.Errorf("import: commit blobs: %w", err)
		}
	}
	bodies := make([]project.Observation, len(obs))
	for k, m := range obs {
		bodies[k] = *m.obs
	}
	recs, err := p.AddObservations(ctx, bodies)
	if err != nil {
		if isNoSpace(err) {
			// The group's blobs are stored without records: harmless, and
			// found again (not written twice) when it is imported again.
			return full(fmt.Errorf("import: %w", err))
		}
		return nil, fmt.Errorf("import: %w", err)
	}
	rep.Records = recs
	for k, m := range obs {
		if progress != nil {
			progress(Progress{Path: files[m.i].path, Bytes: files[m.i].size, Record: recs[k]})
		}
	}
	return rep, nil
}

// ingestOne stores one file's blobs and returns its observation.
func ingestOne(ctx context.Context, recv blob.Receiver, f source, res *thumbs.Result, terr error, opts Options) (*project.Observation, error, error) {
	var warn error
	switch {
	case terr == nil:
	case opts.RequireVariants && (errors.Is(terr, thumbs.ErrUnsupported) || errors.Is(terr, thumbs.ErrTooLarge) || errors.Is(terr, thumbs.ErrCorrupt)):
		return nil, nil, terr
	case errors.Is(terr, thumbs.ErrUnsupported):
	case errors.Is(terr, thumbs.ErrTooLarge), errors.Is(terr, thumbs.ErrCorrupt):
		warn = fmt.Errorf("no variants: %w", terr)
	default:
		return nil, nil, terr // unreadable
	}
	if isGPX(f.name) {
		return ingestTrack(ctx, recv, f, opts)
	}
	mediaType, kind := mediaTypeOf(f, res)
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, nil, err
	}
	info, err := recv.Put(ctx, fh, blob.Meta{MediaType: mediaType})
	fh.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("store original: %w", err)
	}
	at := project.Attachment{Kind: kind, MediaType: mediaType, Name: f.name, Original: &project.Variant{CID: info.CID, Size: info.Size}}
	// Without an EXIF time, the file's modification date is the best
	// guess, and the record says it is one.
	o := &project.Observation{Created: f.mtime.UTC().Truncate(time.Millisecond), TimeGuessed: true, Tags: opts.Tags, Notes: opts.Notes, Position: opts.Position}
	if res != nil {
		at.Original.Width, at.Original.Height = res.Width, res.Height
		for _, v := range []struct {
			data []byte
			dst  **project.Variant
		}{{res.Preview, &at.Preview}, {res.Thumbnail, &at.Thumbnail}} {
			vi, err := recv.Put(ctx, bytes.NewReader(v.data), blob.Meta{MediaType: thumbs.VariantMediaType})
			if err != nil {
				return nil, nil, fmt.Errorf("store variant: %w", err)
			}
			cfg, _, err := image.DecodeConfig(bytes.NewReader(v.data))
			if err != nil {
				return nil, nil, fmt.Errorf("variant: %w", err)
			}
			*v.dst = &project.Variant{CID: vi.CID, Size: vi.Size, Width: cfg.Width, Height: cfg.Height}
		}
		if !res.Taken.IsZero() {
			o.Created, o.TimeGuessed = res.Taken.UTC().Truncate(time.Millisecond), false
		}
		if res.GPS != nil && !(opts.ForcePosition && opts.Position != nil) {
			o.Position = &project.Position{Lat: res.GPS.Lat, Lon: res.GPS.Lon}
		}
	}
	o.Attachments = []project.Attachment{at}
	return o, warn, nil
}

// mediaTypeOf names a file's media type (by its first bytes, then its
// extension) and attachment kind.
func mediaTypeOf(f source, res *thumbs.Result) (string, project.AttachmentKind) {
	if res != nil {
		return res.MediaType, project.AttachPhoto
	}
	mt := "application/octet-stream"
	if fh, err := os.Open(f.path); err == nil {
		head := make([]byte, 16)
		n, _ := io.ReadFull(fh, head)
		fh.Close()
		if t, _ := thumbs.Sniff(head[:n]); t != "" {
			mt = t
		}
	}
	// An MP4 container holding only audio sniffs as video/mp4; trust an
	// audio extension then.
	if mt == "application/octet-stream" || mt == "video/mp4" && strings.HasPrefix(extraTypes[strings.ToLower(filepath.Ext(f.name))], "audio/") {
		if t := mime.TypeByExtension(strings.ToLower(filepath.Ext(f.name))); t != "" {
			mt = t
		}
		if t, ok := extraTypes[strings.ToLower(filepath.Ext(f.name))]; ok {
			mt = t
		}
	}
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = strings.TrimSpace(mt[:i])
	}
	switch {
	case strings.HasPrefix(mt, "image/"):
		return mt, project.AttachPhoto
	case strings.HasPrefix(mt, "audio/"):
		return mt, project.AttachAudio
	case strings.HasPrefix(mt, "video/"):
		return mt, project.AttachVideo
	}
	return mt, project.AttachFile
}

// extraTypes are common field formats the system MIME table may lack.
var extraTypes = map[string]string{
	".m4a": "audio/mp4", ".aac": "audio/aac", ".amr": "audio/amr", ".3gp": "video/3gpp", ".mov": "video/quicktime",
	".mp4": "video/mp4", ".ogg": "audio/ogg", ".opus": "audio/opus", ".wav": "audio/wav", ".mp3": "audio/mpeg",
	".heic": "image/heic", ".heif": "image/heif", ".dng": "image/x-adobe-dng", ".gpx": "application/gpx+xml",
	".kml": "application/vnd.google-earth.kml+xml", ".geojson": "application/geo+json", ".csv": "text/csv",
	".pdf": "application/pdf", ".txt": "text/plain",
}
