package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Exporter is written into manifests and bag-info.txt unless the options
// name another.
const Exporter = "fieldsync archive/1"

// MinPartSize is the smallest MaxBytes a split export accepts: a header,
// a manifest and one full leaf must fit in every part.
const MinPartSize = 2 << 20

// ErrPartTooSmall means ExportOptions.MaxBytes is below MinPartSize.
var ErrPartTooSmall = errors.New("archive: part size limit too small")

// ClassSet is a set of blob classes (blob.ClassThumbnail, blob.ClassPreview,
// blob.ClassOriginal, ClassAttachment), and whether the blobs of replaced and
// deleted observation versions count too (WithHistory), as a project filter
// says. The zero value means every class, history included.
//
// Class c is bit c+1 (bit 0 and the skeleton's bit 1 are unused): the
// layout bundle state files have always carried (docs/archive.md).
type ClassSet uint8

// Sets of classes.
const (
	// WithHistory adds the blobs of replaced and deleted versions.
	WithHistory ClassSet = 1 << 6
	// AllBlobs is everything: what an archive keeps.
	AllBlobs ClassSet = 2<<blob.ClassThumbnail | 2<<blob.ClassPreview | 2<<blob.ClassOriginal | 2<<blob.ClassAttachment | WithHistory
	// FieldSet is what a field device keeps: the thumbnails and previews
	// of the current observations.
	FieldSet ClassSet = 2<<blob.ClassThumbnail | 2<<blob.ClassPreview
	// NoBlobs is records only.
	NoBlobs   ClassSet = 1 << 7
	classBits          = 2<<blob.ClassThumbnail | 2<<blob.ClassPreview | 2<<blob.ClassOriginal | 2<<blob.ClassAttachment
)

// bit is c's bit in a ClassSet.
func bit(c blob.Class) ClassSet { return 2 << c }

// Has reports whether c is in the set (the zero set holds every class).
func (s ClassSet) Has(c blob.Class) bool {
	if s == 0 {
		s = AllBlobs
	}
	return c >= blob.ClassThumbnail && c < blob.NumClasses && s&bit(c) != 0
}

// History reports whether the set counts the blobs of replaced and deleted
// versions (the zero set does).
func (s ClassSet) History() bool { return s == 0 || s&WithHistory != 0 }

// Classes returns a set holding cs, of the current versions only (add
// WithHistory for the replaced ones too); no class at all is NoBlobs.
func Classes(cs ...blob.Class) ClassSet {
	var s ClassSet
	for _, c := range cs {
		if c >= blob.ClassThumbnail && c < blob.NumClasses {
			s |= bit(c)
		}
	}
	if s == 0 {
		return NoBlobs
	}
	return s
}

// BlobSource is the store side of an export: complete blobs, their
// skeletons and their bytes by range (blob.ReadRange).
type BlobSource interface {
	blob.Fetcher
	blob.Statter
	blob.SkeletonGetter
}

// MemberChecker is the optional capability of a Source to say whether a
// device is a member (Sink has the same method).
type MemberChecker interface {
	CheckMember(ctx context.Context, p peer.ID) error
}

// ExportOptions tune an export. The zero value exports every record and
// every blob, unsigned, in one file.
type ExportOptions struct {
	// Classes selects the blobs exported (zero: all).
	Classes ClassSet
	// Key signs the manifest (the device key, project.Identity.PrivKey()).
	// Bundles must be signed: ExportAll and ExportFor refuse a nil Key.
	Key crypto.PrivKey
	// Exporter names the software in the manifest (default Exporter).
	Exporter string
	// Now gives the manifest's creation time (default time.Now).
	Now func() time.Time
	// MaxBytes, if not zero, bounds the size of each file of a bundle;
	// the bundle is split into several files, each a complete CAR. At
	// least MinPartSize. Export (a single stream) ignores it.
	MaxBytes int64
	// Progress, if set, is called after each block with the bytes written
	// so far (all parts) and the bytes planned in all (records not
	// counted). It runs on the exporting goroutine: keep it short.
	Progress func(written, total int64)
}

// ExportReport says what an export wrote.
type ExportReport struct {
	Roots   []cid.Cid // the roots of the (first) CAR
	Parts   []PartReport
	Records int // records written
	Blobs   int // blobs written whole
	Nodes   int // skeleton nodes written
	Leaves  int // leaves written
	Bytes   int64
	// Unavailable lists blobs the project refers to that this store does
	// not hold complete; they were not exported.
	Unavailable []cid.Cid
}

// PartReport describes one file of an export.
type PartReport struct {
	Part   int
	Blocks int
	Bytes  int64
}

// PartCreator opens the file for part n (1-based) of a bundle. The
// exporter closes it.
type PartCreator func(n int) (io.WriteCloser, error)

// Export writes the project as one CARv1 stream to w: the manifest, the
// records, then every blob of opts.Classes whole (skeleton nodes and
// leaves, each leaf read from the store and verified as it is written).
// Roots: the manifest, then the root of every blob written, so that
// `ipfs dag import` pins each blob.
func Export(ctx context.Context, w io.Writer, src Source, store BlobSource, opts ExportOptions) (*ExportReport, error) {
	p, err := plan(ctx, src, store, nil, opts.Classes)
	if err != nil {
		return nil, err
	}
	mb, err := manifestBlock(KindExport, src.ProjectID(), 1, opts)
	if err != nil {
		return nil, err
	}
	roots := append([]cid.Cid{mb.CID}, p.roots()...)
	cw := newCARWriter(w)
	if err := cw.writeHeader(roots); err != nil {
		return nil, err
	}
	if err := cw.writeBlock(mb.CID, mb.Data); err != nil {
		return nil, err
	}
	rep := &ExportReport{Roots: roots, Unavailable: p.unavailable}
	ew := &exportWriter{single: cw, rep: rep, opts: opts, total: p.size()}
	ew.part = &PartReport{Part: 1, Blocks: 1}
	if err := p.write(ctx, src, store, nil, ew); err != nil {
		return rep, err
	}
	if err := cw.flush(); err != nil {
		return rep, err
	}
	ew.part.Bytes = cw.n
	rep.Parts = []PartReport{*ew.part}
	rep.Bytes = cw.n
	return rep, nil
}

// ExportAll writes a bundle holding every record and every blob of
// opts.Classes held complete, in bundle order.
func ExportAll(ctx context.Context, create PartCreator, src Source, store BlobSource, opts ExportOptions) (*ExportReport, error) {
	return exportBundle(ctx, create, src, store, nil, opts)
}

// ExportFor writes a bundle holding exactly what the device whose state is
// st lacks: the records its vector does not cover and the blobs it does
// not hold, of the classes it wants (and opts.Classes). A state of another
// project gives ErrOtherProject. If src is a MemberChecker (the adapter
// is), the state must be signed by its device (State.Sign) and the device
// must be a member, or ErrNotMember: only members get project data.
func ExportFor(ctx context.Context, create PartCreator, st *State, src Source, store BlobSource, opts ExportOptions) (*ExportReport, error) {
	if st == nil {
		return nil, errors.New("export bundle: no state")
	}
	if st.Project != src.ProjectID() {
		return nil, fmt.Errorf("export bundle: state of %s, this project is %s: %w", st.Project, src.ProjectID(), ErrOtherProject)
	}
	if mc, ok := src.(MemberChecker); ok {
		// Only members get project data (DESIGN.md decision 7).
		if err := st.VerifySig(); err != nil {
			return nil, fmt.Errorf("export bundle: %w", err)
		}
		if err := mc.CheckMember(ctx, st.Device); err != nil {
			return nil, fmt.Errorf("export bundle: state of %s: %w: %w", st.Device, ErrNotMember, err)
		}
	}
	classes := opts.Classes
	if classes == 0 {
		classes = AllBlobs
	}
	want := st.Wants
	if want == 0 {
		want = AllBlobs
	}
	opts.Classes = classes & want
	if opts.Classes&classBits == 0 {
		opts.Classes = NoBlobs
	}
	return exportBundle(ctx, create, src, store, st, opts)
}

func exportBundle(ctx context.Context, create PartCreator, src Source, store BlobSource, st *State, opts ExportOptions) (*ExportReport, error) {
	if opts.Key == nil {
		return nil, fmt.Errorf("export bundle: %w: no device key to sign it", ErrNotMember)
	}
	if opts.MaxBytes != 0 && opts.MaxBytes < MinPartSize {
		return nil, fmt.Errorf("export bundle: %w: %d bytes, want at least %d", ErrPartTooSmall, opts.MaxBytes, MinPartSize)
	}
	p, err := plan(ctx, src, store, st, opts.Classes)
	if err != nil {
		return nil, err
	}
	rep := &ExportReport{Unavailable: p.unavailable}
	ew := &exportWriter{create: create, opts: opts, project: src.ProjectID(), rep: rep, total: p.size()}
	if err := ew.open(); err != nil {
		return rep, err
	}
	var have Vector
	if st != nil {
		have = st.Vector
	}
	err = p.write(ctx, src, store, have, ew)
	if cerr := ew.close(); err == nil {
		err = cerr
	}
	return rep, err
}

func newManifest(kind string, project cid.Cid, part int, opts ExportOptions) *Manifest {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	exp := opts.Exporter
	if exp == "" {
		exp = Exporter
	}
	return &Manifest{Kind: kind, Project: project, Part: part, Created: now().UTC().Truncate(time.Millisecond), Exporter: exp}
}

// manifestBlock returns the block of part's manifest, signed with
// opts.Key.
func manifestBlock(kind string, project cid.Cid, part int, opts ExportOptions) (Block, error) {
	man := newManifest(kind, project, part, opts)
	if err := man.sign(opts.Key); err != nil {
		return Block{}, err
	}
	return man.block()
}

// exportWriter writes blocks to one stream (Export) or to bundle parts,
// starting a new part when the next block would pass MaxBytes.
type exportWriter struct {
	single  *carWriter
	create  PartCreator
	opts    ExportOptions
	project cid.Cid
	rep     *ExportReport

	cur     *carWriter
	closer  io.WriteCloser
	part    *PartReport
	written map[cid.Cid]bool
	// partNodes holds the blobs whose skeleton nodes are in the current
	// part (split bundles only).
	partNodes map[cid.Cid]bool
	done      int64 // bytes in closed parts
	total     int64
}

func (ew *exportWriter) open() error {
	n := len(ew.rep.Parts) + 1
	mb, err := manifestBlock(KindBundle, ew.project, n, ew.opts)
	if err != nil {
		return err
	}
	wc, err := ew.create(n)
	if err != nil {
		return fmt.Errorf("export bundle part %d: %w", n, err)
	}
	ew.closer = wc
	ew.cur = newCARWriter(wc)
	ew.part = &PartReport{Part: n}
	ew.partNodes = map[cid.Cid]bool{}
	if n == 1 {
		ew.rep.Roots = []cid.Cid{mb.CID}
	}
	if err := ew.cur.writeHeader([]cid.Cid{mb.CID}); err != nil {
		return err
	}
	if err := ew.cur.writeBlock(mb.CID, mb.Data); err != nil {
		return err
	}
	ew.part.Blocks = 1
	return nil
}

func (ew *exportWriter) close() error {
	if ew.cur == nil {
		return nil
	}
	err := ew.cur.flush()
	if s, ok := ew.closer.(interface{ Sync() error }); ok && err == nil {
		err = s.Sync()
	}
	if cerr := ew.closer.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write CAR: %w", cerr)
	}
	ew.part.Bytes = ew.cur.n
	ew.rep.Bytes += ew.cur.n
	ew.done += ew.cur.n
	ew.rep.Parts = append(ew.rep.Parts, *ew.part)
	ew.cur = nil
	return err
}

// reserve starts a new part unless n more bytes fit in the current one
// (or the current one holds nothing but its manifest).
func (ew *exportWriter) reserve(n int64) error {
	if ew.single != nil || ew.opts.MaxBytes == 0 || ew.part.Blocks <= 1 || ew.cur.n+n <= ew.opts.MaxBytes {
		return nil
	}
	if err := ew.close(); err != nil {
		return err
	}
	return ew.open()
}

// ensureSkeleton makes the current part hold b's skeleton nodes before
// one of b's leaves (leafBytes of section) is written into it, so that
// every part of a split bundle describes the leaves it carries: a device
// that already holds the blob counts them as known, and parts imported
// alone or out of order still place every leaf.
func (ew *exportWriter) ensureSkeleton(b plannedBlob, leafBytes int64) error {
	if ew.single != nil || len(b.sk.Nodes) == 0 {
		return nil
	}
	// The leaf may not fit: then it starts a new part, which needs the
	// nodes again.
	if err := ew.reserve(leafBytes); err != nil {
		return err
	}
	if ew.partNodes[b.ref.CID] {
		return nil
	}
	need := leafBytes
	for _, n := range b.sk.Nodes {
		need += sectionSize(n.CID, len(n.Data))
	}
	if err := ew.reserve(need); err != nil {
		return err
	}
	for _, n := range b.sk.Nodes {
		if err := ew.cur.writeBlock(n.CID, n.Data); err != nil {
			return err
		}
		ew.part.Blocks++
	}
	ew.partNodes[b.ref.CID] = true
	return nil
}

// put writes one block unless it was already written.
func (ew *exportWriter) put(c cid.Cid, data []byte) (bool, error) {
	if ew.written == nil {
		ew.written = map[cid.Cid]bool{}
	}
	if ew.written[c] {
		return false, nil
	}
	if ew.single != nil {
		if err := ew.single.writeBlock(c, data); err != nil {
			return false, err
		}
	} else {
		if err := ew.reserve(sectionSize(c, len(data))); err != nil {
			return false, err
		}
		if err := ew.cur.writeBlock(c, data); err != nil {
			return false, err
		}
	}
	ew.written[c] = true
	ew.part.Blocks++
	if ew.opts.Progress != nil {
		n := ew.done
		if ew.single != nil {
			n = ew.single.n
		} else {
			n += ew.cur.n
		}
		ew.opts.Progress(n, ew.total)
	}
	return true, nil
}

// exportPlan is the list of blobs to write, in bundle order.
type exportPlan struct {
	blobs       []plannedBlob
	unavailable []cid.Cid
}

type plannedBlob struct {
	ref BlobRef
	sk  *chunk.Skeleton
}

// size is the number of bytes the plan's blobs take (leaves and nodes).
func (p *exportPlan) size() int64 {
	var n int64
	for _, b := range p.blobs {
		n += b.sk.Size
		for _, nd := range b.sk.Nodes {
			n += int64(len(nd.Data))
		}
	}
	return n
}

func (p *exportPlan) roots() []cid.Cid {
	out := make([]cid.Cid, len(p.blobs))
	for i, b := range p.blobs {
		out[i] = b.ref.CID
	}
	return out
}

// plan lists the blobs of classes the state does not hold, sorted by class
// then newest observation first (then CID, for a stable order), each once
// (in its first class).
func plan(ctx context.Context, src Source, store BlobSource, st *State, classes ClassSet) (*exportPlan, error) {
	p := &exportPlan{}
	if classes == NoBlobs {
		return p, nil
	}
	refs, err := src.Blobs(ctx, classes.History())
	if err != nil {
		return nil, fmt.Errorf("export: list blobs: %w", err)
	}
	slices.SortStableFunc(refs, func(a, b BlobRef) int {
		if a.Class != b.Class {
			return int(a.Class) - int(b.Class)
		}
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return bytes.Compare(a.CID.Bytes(), b.CID.Bytes())
	})
	seen := map[cid.Cid]bool{}
	for _, r := range refs {
		if seen[r.CID] || !classes.Has(r.Class) || r.Class < blob.ClassThumbnail || r.Class > blob.ClassAttachment {
			continue
		}
		seen[r.CID] = true
		if st != nil && st.HasBlob(r.CID) {
			continue
		}
		if _, err := store.Stat(ctx, r.CID); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				p.unavailable = append(p.unavailable, r.CID)
				continue
			}
			return nil, fmt.Errorf("export: %w", err)
		}
		sk, err := store.Skeleton(ctx, r.CID)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		p.blobs = append(p.blobs, plannedBlob{ref: r, sk: sk})
	}
	return p, nil
}

// write writes the records have lacks, then every skeleton node, then the
// leaves of each blob in plan order.
func (p *exportPlan) write(ctx context.Context, src Source, store BlobSource, have Vector, ew *exportWriter) error {
	err := src.Records(ctx, have, func(b Block) error {
		if err := verifyBlock(b.CID, b.Data); err != nil {
			return fmt.Errorf("export record: %w", err)
		}
		ok, err := ew.put(b.CID, b.Data)
		if ok {
			ew.rep.Records++
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("export records: %w", err)
	}
	for _, b := range p.blobs {
		// A skeleton is never split across parts: the importer needs all
		// of a blob's nodes in one file to verify them.
		var need int64
		for _, n := range b.sk.Nodes {
			need += sectionSize(n.CID, len(n.Data))
		}
		if err := ew.reserve(need); err != nil {
			return err
		}
		for _, n := range b.sk.Nodes {
			if err := chunk.VerifyBlock(n.CID, n.Data); err != nil {
				return fmt.Errorf("export blob %s: skeleton: %w", b.ref.CID, err)
			}
			ok, err := ew.put(n.CID, n.Data)
			if err != nil {
				return err
			}
			if ok {
				ew.rep.Nodes++
			}
		}
		if ew.partNodes != nil {
			ew.partNodes[b.ref.CID] = true
		}
	}
	for _, b := range p.blobs {
		for i, l := range b.sk.Leaves {
			if err := ctx.Err(); err != nil {
				return err
			}
			data, err := blob.ReadRange(ctx, store, b.ref.CID, l.Offset, l.Size)
			if err != nil {
				return fmt.Errorf("export blob %s leaf %d: %w", b.ref.CID, i, err)
			}
			if err := chunk.VerifyLeaf(l, data); err != nil {
				return fmt.Errorf("export blob %s leaf %d: %w: %w", b.ref.CID, i, blob.ErrCorrupt, err)
			}
			if !ew.written[l.CID] {
				if err := ew.ensureSkeleton(b, sectionSize(l.CID, len(data))); err != nil {
					return err
				}
			}
			ok, err := ew.put(l.CID, data)
			if err != nil {
				return err
			}
			if ok {
				ew.rep.Leaves++
			}
		}
		ew.rep.Blobs++
	}
	return nil
}

// verifyBlock checks that data hashes to c, for the block kinds fieldsync
// writes: CIDv1, sha2-256, codec raw, dag-pb or dag-cbor.
func verifyBlock(c cid.Cid, data []byte) error {
	p := c.Prefix()
	if p.Codec == cid.Raw || p.Codec == cid.DagProtobuf {
		return chunk.VerifyBlock(c, data)
	}
	if p.Version != 1 || p.Codec != codecDagCBOR || p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		return fmt.Errorf("%w: %s: unsupported CID (want CIDv1 sha2-256 raw, dag-pb or dag-cbor)", chunk.ErrMalformed, c)
	}
	if got := cborCID(data); got != c {
		return &chunk.VerifyError{Want: c, Got: got}
	}
	return nil
}

// ExportFile writes Export's CAR to path: to a temporary file beside it,
// synced and renamed into place, so a failed export leaves no file that
// looks complete.
func ExportFile(ctx context.Context, path string, src Source, store BlobSource, opts ExportOptions) (*ExportReport, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer os.Remove(f.Name())
	rep, err := Export(ctx, f, src, store, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return rep, fmt.Errorf("export %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return rep, nil
}

// FileParts returns a PartCreator writing part 1 to path and part n to
// PartPath(path, n). Files are written in place (not renamed at the end),
// so a bundle cut short by a full disk keeps what was written.
func FileParts(path string) PartCreator {
	return func(n int) (io.WriteCloser, error) {
		return os.OpenFile(PartPath(path, n), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	}
}

// RemoveStaleParts removes the parts after part n of a bundle written to
// path that an earlier, longer export left there, so that a later
// `bundle import path*` does not read an old part. It stops at the first
// part that does not exist and returns the paths removed.
func RemoveStaleParts(path string, n int) ([]string, error) {
	var removed []string
	for i := max(n, 1) + 1; ; i++ {
		p := PartPath(path, i)
		err := os.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return removed, nil
		}
		if err != nil {
			return removed, err
		}
		removed = append(removed, p)
	}
}

// PartPath names part n of a bundle written to path: path itself for part
// 1, then "name.2.car", "name.3.car"... beside it.
func PartPath(path string, n int) string {
	if n <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(path, ext), n, ext)
}
