package archive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

// BagIt (RFC 8493) export. The layout, in a directory that must not exist
// yet (the bag is written beside it under a temporary name and renamed
// into place when complete, so a half-written bag never looks finished):
//
//	bagit.txt               BagIt-Version 1.0, UTF-8
//	bag-info.txt            Bagging-Date, Payload-Oxum, project, exporter, counts
//	manifest-sha256.txt     "sha256  data/path" for every payload file
//	cid-manifest.txt        "CID  data/path" for every original
//	tagmanifest-sha256.txt  sha256 of the four tag files above
//	data/observations.json     every observation, its attachments and paths
//	data/observations.geojson  a FeatureCollection of the located ones
//	data/originals/DATE_ID_NAME  each original, under a readable name

// ErrMissingOriginal means an original the project refers to is not held
// complete by the store; BagOptions.AllowMissing exports without it.
var ErrMissingOriginal = errors.New("archive: original not held")

// BagOptions tune a BagIt export.
type BagOptions struct {
	// Exporter names the software in bag-info.txt (default Exporter).
	Exporter string
	// Now gives the Bagging-Date (default time.Now).
	Now func() time.Time
	// AllowMissing exports a bag without the originals the store does not
	// hold (they are listed in the report, in bag-info.txt and, with a
	// null path, in observations.json). Without it they are an error.
	AllowMissing bool
	// Info adds lines to bag-info.txt (label, value), e.g.
	// {"Source-Organization", "..."}.
	Info [][2]string
}

// BagReport says what a BagIt export wrote.
type BagReport struct {
	Dir          string
	Observations int
	Located      int // observations with a position (the GeoJSON features)
	Originals    int // originals written under data/originals
	PayloadFiles int
	PayloadBytes int64
	Missing      []cid.Cid // originals not held (AllowMissing)
}

// ExportBag writes the project's observations and originals as a BagIt bag
// in dir. Every original is read from store, re-hashed against its CID and
// sha256-summed while it is copied.
func ExportBag(ctx context.Context, dir string, obs Observations, store blob.Fetcher, opts BagOptions) (*BagReport, error) {
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("export bag: %s: %w", dir, fs.ErrExist)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, ".bagit-*")
	if err != nil {
		return nil, fmt.Errorf("export bag: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	bw := &bagWriter{ctx: ctx, root: tmp, store: store, opts: opts, rep: &BagReport{Dir: dir}, names: map[string]bool{}}
	if err := bw.write(obs); err != nil {
		return bw.rep, err
	}
	if err := syncDir(tmp); err != nil {
		return bw.rep, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return bw.rep, fmt.Errorf("export bag: %w", err)
	}
	syncDir(parent)
	ok = true
	return bw.rep, nil
}

type bagWriter struct {
	ctx      context.Context
	root     string
	store    blob.Fetcher
	opts     BagOptions
	rep      *BagReport
	names    map[string]bool // lower-cased payload paths in use
	manifest []bagEntry      // payload files
	cids     []bagEntry      // originals, with their CIDs
}

type bagEntry struct {
	path string // relative to the bag root, slash-separated
	sum  string // sha256 hex, or the CID for cid-manifest.txt
}

// JSON forms.

type bagJSON struct {
	Project      bagProject         `json:"project"`
	Exported     string             `json:"exported"`
	Exporter     string             `json:"exporter"`
	Observations []view.Observation `json:"observations"`
}

type bagProject struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type geoFC struct {
	Type     string       `json:"type"`
	Features []geoFeature `json:"features"`
}

type geoFeature struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Geometry   geoPoint       `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

type geoPoint struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

func (bw *bagWriter) write(src Observations) error {
	var all []view.Observation
	err := src.Observations(bw.ctx, func(o view.Observation) error {
		all = append(all, o)
		return nil
	})
	if err != nil {
		return fmt.Errorf("export bag: %w", err)
	}
	slices.SortStableFunc(all, func(a, b view.Observation) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	now := time.Now
	if bw.opts.Now != nil {
		now = bw.opts.Now
	}
	exporter := cmp.Or(bw.opts.Exporter, Exporter)
	t := now().UTC()
	doc := bagJSON{Project: bagProject{ID: src.ProjectID().String(), Name: src.ProjectName()}, Exported: t.Format(time.RFC3339), Exporter: exporter, Observations: []view.Observation{}}
	fc := geoFC{Type: "FeatureCollection", Features: []geoFeature{}}
	if err := os.MkdirAll(filepath.Join(bw.root, "data", "originals"), 0o755); err != nil {
		return fmt.Errorf("export bag: %w", err)
	}
	attachments := 0
	for _, o := range all {
		o.Tags = slices.Clone(o.Tags)
		if o.Tags == nil {
			o.Tags = []string{}
		}
		o.Attachments = slices.Clone(o.Attachments)
		var paths []string
		for i := range o.Attachments {
			a := &o.Attachments[i]
			if a.Original == nil {
				continue
			}
			attachments++
			orig := *a.Original
			a.Original = &orig
			c, err := cid.Decode(orig.CID)
			if err != nil {
				return fmt.Errorf("export bag: observation %s: original %q: %w", o.ID, orig.CID, err)
			}
			rel := bw.originalName(o, i, *a)
			sum, err := bw.copyOriginal(c, rel)
			switch {
			case errors.Is(err, ErrMissingOriginal) && bw.opts.AllowMissing:
				bw.rep.Missing = append(bw.rep.Missing, c)
				orig.State = "absent"
			case err != nil:
				return err
			default:
				p := strings.TrimPrefix(rel, "data/")
				orig.Path, orig.SHA256, orig.State = p, sum, "present"
				paths = append(paths, p)
				bw.rep.Originals++
			}
		}
		if pos := o.Position; pos != nil && !validLonLat(pos.Lon, pos.Lat) {
			o.Position = nil
		}
		if pos := o.Position; pos != nil {
			created, updated := o.Created.UTC().Format(time.RFC3339Nano), o.Updated.UTC().Format(time.RFC3339Nano)
			props := map[string]any{
				"id":          o.ID,
				"record":      o.Record,
				"author":      o.Author,
				"created":     created,
				"updated":     updated,
				"tags":        strings.Join(o.Tags, ", "),
				"notes":       o.Notes,
				"attachments": append([]string{}, paths...),
			}
			if pos.AccuracyM > 0 {
				props["accuracy_m"] = pos.AccuracyM
			}
			if len(paths) > 0 {
				props["first_attachment"] = paths[0]
			}
			fc.Features = append(fc.Features, geoFeature{Type: "Feature", ID: o.ID,
				Geometry:   geoPoint{Type: "Point", Coordinates: [2]float64{round6(pos.Lon), round6(pos.Lat)}},
				Properties: props})
			bw.rep.Located++
		}
		doc.Observations = append(doc.Observations, o)
		bw.rep.Observations++
	}
	if err := bw.payloadJSON("data/observations.json", doc); err != nil {
		return err
	}
	if err := bw.payloadJSON("data/observations.geojson", fc); err != nil {
		return err
	}

	// Tag files.
	slices.SortFunc(bw.manifest, func(a, b bagEntry) int { return strings.Compare(a.path, b.path) })
	slices.SortFunc(bw.cids, func(a, b bagEntry) int { return strings.Compare(a.path, b.path) })
	var tags []bagEntry
	tag := func(name string, body []byte) error {
		if err := writeFileSync(filepath.Join(bw.root, name), body); err != nil {
			return fmt.Errorf("export bag: %w", err)
		}
		sum := sha256.Sum256(body)
		tags = append(tags, bagEntry{path: name, sum: hex.EncodeToString(sum[:])})
		return nil
	}
	if err := tag("bagit.txt", []byte("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")); err != nil {
		return err
	}
	var info bytes.Buffer
	field := func(k, v string) { fmt.Fprintf(&info, "%s: %s\n", k, oneLine(v)) }
	field("Bagging-Date", t.Format("2006-01-02"))
	field("Bagging-Timestamp", t.Format(time.RFC3339))
	field("Bag-Software-Agent", exporter)
	field("Payload-Oxum", fmt.Sprintf("%d.%d", bw.rep.PayloadBytes, bw.rep.PayloadFiles))
	field("External-Identifier", src.ProjectID().String())
	field("Project-Name", src.ProjectName())
	field("Project-ID", src.ProjectID().String())
	field("Observation-Count", fmt.Sprint(bw.rep.Observations))
	field("Located-Observation-Count", fmt.Sprint(bw.rep.Located))
	field("Attachment-Count", fmt.Sprint(attachments))
	field("Original-Count", fmt.Sprint(bw.rep.Originals))
	field("Missing-Original-Count", fmt.Sprint(len(bw.rep.Missing)))
	field("CID-Manifest", "cid-manifest.txt (unixfs-v1-2025 CIDv1 of each original)")
	for _, kv := range bw.opts.Info {
		field(kv[0], kv[1])
	}
	if err := tag("bag-info.txt", info.Bytes()); err != nil {
		return err
	}
	if err := tag("manifest-sha256.txt", manifestBytes(bw.manifest)); err != nil {
		return err
	}
	if err := tag("cid-manifest.txt", manifestBytes(bw.cids)); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(bw.root, "tagmanifest-sha256.txt"), manifestBytes(tags)); err != nil {
		return fmt.Errorf("export bag: %w", err)
	}
	// Every directory of the bag, so that each file's name is durable too
	// (the root itself is synced before the rename that publishes it).
	return filepath.WalkDir(bw.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == bw.root {
			return err
		}
		return syncDir(path)
	})
}

func manifestBytes(es []bagEntry) []byte {
	var b bytes.Buffer
	for _, e := range es {
		fmt.Fprintf(&b, "%s  %s\n", e.sum, e.path)
	}
	return b.Bytes()
}

func (bw *bagWriter) payloadJSON(rel string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("export bag: %w", err)
	}
	b = append(b, '\n')
	if err := writeFileSync(filepath.Join(bw.root, filepath.FromSlash(rel)), b); err != nil {
		return fmt.Errorf("export bag: %w", err)
	}
	sum := sha256.Sum256(b)
	bw.manifest = append(bw.manifest, bagEntry{path: rel, sum: hex.EncodeToString(sum[:])})
	bw.rep.PayloadFiles++
	bw.rep.PayloadBytes += int64(len(b))
	return nil
}

// copyOriginal copies blob c to rel, re-hashing it against its CID and
// summing it with sha256 as it goes.
func (bw *bagWriter) copyOriginal(c cid.Cid, rel string) (string, error) {
	rc, err := bw.store.Fetch(bw.ctx, c)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("export bag: %s: %w", c, ErrMissingOriginal)
	}
	if err != nil {
		return "", fmt.Errorf("export bag: %w", err)
	}
	defer rc.Close()
	dst := filepath.Join(bw.root, filepath.FromSlash(rel))
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("export bag: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	sk, err := chunk.Sum(bw.ctx, io.TeeReader(rc, cw))
	if err == nil && sk.Root != c {
		err = fmt.Errorf("%w: %w", blob.ErrCorrupt, &chunk.VerifyError{Want: c, Got: sk.Root})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("export bag: original %s: %w", c, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	bw.manifest = append(bw.manifest, bagEntry{path: rel, sum: sum})
	bw.cids = append(bw.cids, bagEntry{path: rel, sum: c.String()})
	bw.rep.PayloadFiles++
	bw.rep.PayloadBytes += cw.n
	return sum, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// originalName returns a unique, readable payload path for attachment i of
// o: data/originals/DATE_ID_NAME, sanitized to [A-Za-z0-9._-], unique even
// on case-insensitive file systems.
func (bw *bagWriter) originalName(o view.Observation, i int, a view.Attachment) string {
	date := o.Created.UTC().Format("2006-01-02")
	id := sanitize(o.ID, 16)
	if id == "" {
		id = "obs"
	}
	name := sanitize(a.Name, 80)
	ext := path.Ext(name)
	if name == "" || name == ext {
		name = fmt.Sprintf("attachment-%d", i+1)
		ext = ""
	}
	if ext == "" {
		ext = extensions[strings.ToLower(a.MediaType)]
		name += ext
	}
	base := strings.TrimSuffix(name, ext)
	for n := 1; ; n++ {
		file := fmt.Sprintf("%s_%s_%s%s", date, id, base, ext)
		if n > 1 {
			file = fmt.Sprintf("%s_%s_%s-%d%s", date, id, base, n, ext)
		}
		rel := "data/originals/" + file
		if key := strings.ToLower(rel); !bw.names[key] {
			bw.names[key] = true
			return rel
		}
	}
}

// extensions gives a file extension to originals without one. A fixed
// table, not the system's mime.types, so bags are the same everywhere.
var extensions = map[string]string{
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
	"image/tiff": ".tif", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/ogg": ".ogg",
	"audio/wav": ".wav", "audio/x-wav": ".wav", "video/mp4": ".mp4", "video/quicktime": ".mov",
	"application/pdf": ".pdf", "text/plain": ".txt", "text/csv": ".csv",
}

// sanitize keeps letters, digits, '.', '-' and '_' (ASCII), maps anything
// else to '_', collapses runs, trims leading dots and separators, and cuts
// to max bytes keeping the extension.
func sanitize(s string, max int) string {
	var b strings.Builder
	last := rune(0)
	for _, r := range s {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_')
		if !ok {
			r = '_'
		}
		if (r == '_' || r == '.') && last == r {
			continue
		}
		b.WriteRune(r)
		last = r
	}
	out := strings.Trim(b.String(), "._-")
	if len(out) > max {
		ext := path.Ext(out)
		if len(ext) > 10 {
			ext = ""
		}
		out = strings.TrimRight(out[:max-len(ext)], "._-") + ext
	}
	return out
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func validLonLat(lon, lat float64) bool {
	return !math.IsNaN(lon) && !math.IsNaN(lat) && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// round6 keeps 6 decimals (about 10 cm), as RFC 7946 §11.2 suggests.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func writeFileSync(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
