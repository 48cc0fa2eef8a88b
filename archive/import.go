package archive

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// BlobSink is the store side of an import: blobs are rebuilt leaf by leaf
// through partial blobs, so a CAR cut short leaves partial blobs that a
// later bundle or sync completes.
type BlobSink interface {
	blob.PartialReceiver
	blob.Statter
	blob.SkeletonGetter
	// Partials lists the roots of partial blobs (blob.Store has it).
	Partials(ctx context.Context) ([]cid.Cid, error)
}

// ImportOptions tune an import.
type ImportOptions struct {
	// Bundle requires what a sneakernet bundle must carry: a manifest as
	// first block, for this project, signed by a member's device.
	Bundle bool
	// TempDir is where leaves that arrive before their skeleton wait
	// (default os.TempDir()). Files fieldsync writes never need it.
	TempDir string
	// Progress, if set, is called after each block with the bytes of the
	// CAR payload read so far. It runs on the importing goroutine: keep it
	// short.
	Progress func(read int64)
}

// Reason says why a block was refused.
type Reason string

// Reasons a block is refused.
const (
	// ReasonMismatch: the bytes do not hash to the CID they came with.
	ReasonMismatch Reason = "hash-mismatch"
	// ReasonBadCID: the CID cannot be parsed, or is not one fieldsync uses
	// (CIDv1, sha2-256; raw, dag-pb or dag-cbor).
	ReasonBadCID Reason = "bad-cid"
	// ReasonRecord: the project refused the record (Err says why: bad
	// signature, not a member, another project, a gap in the log...).
	ReasonRecord Reason = "record-refused"
	// ReasonNotWanted: the blob this block belongs to is not wanted here:
	// no record of the project refers to it, or this device's filter
	// leaves it out (Sink.WantBlob).
	ReasonNotWanted Reason = "not-wanted"
	// ReasonSkeleton: the blob's nodes do not form its unixfs-v1-2025
	// skeleton.
	ReasonSkeleton Reason = "bad-skeleton"
	// ReasonStore: the store could not take the block (Err says why, e.g.
	// blob.ErrBusy while a sync writes the same blob).
	ReasonStore Reason = "store"
)

// Refusal is one block that was not imported.
type Refusal struct {
	CID    cid.Cid // undefined when the CID could not be parsed
	Offset int64   // of the block's section in the CAR payload
	Reason Reason
	Err    error
}

func (r Refusal) String() string {
	return fmt.Sprintf("%s at %d: %s: %v", r.CID, r.Offset, r.Reason, r.Err)
}

// MarshalJSON gives {"cid", "offset", "reason", "error"}, for --json.
func (r Refusal) MarshalJSON() ([]byte, error) {
	v := struct {
		CID    string `json:"cid,omitempty"`
		Offset int64  `json:"offset"`
		Reason Reason `json:"reason"`
		Error  string `json:"error,omitempty"`
	}{Offset: r.Offset, Reason: r.Reason}
	if r.CID.Defined() {
		v.CID = r.CID.String()
	}
	if r.Err != nil {
		v.Error = r.Err.Error()
	}
	return json.Marshal(v)
}

// BlobStatus says where a blob stands after an import.
type BlobStatus string

// Blob statuses.
const (
	BlobNew     BlobStatus = "new"     // completed by this import
	BlobKnown   BlobStatus = "known"   // already complete before
	BlobPartial BlobStatus = "partial" // still missing leaves, kept as a partial blob
)

// BlobResult is what an import did to one blob.
type BlobResult struct {
	CID       cid.Cid
	Status    BlobStatus
	Leaves    int // leaves in the blob
	Have      int // leaves held after the import
	NewLeaves int // leaves this import added
}

// Report says what an import did. A refused block never stops the import:
// it is listed in Refused and the other blocks still import.
type Report struct {
	CARVersion int // 1 or 2
	Roots      []cid.Cid
	Manifest   *Manifest // nil for a CAR without a fieldsync manifest
	Blocks     int       // sections read (the manifest included)

	RecordsNew   int
	RecordsKnown int
	Blobs        []BlobResult // every blob this import touched, in the order first seen
	Refused      []Refusal

	// Truncated is set when the file ends inside a block: it was cut short
	// (a full stick, an interrupted copy). Everything before the cut was
	// imported; unfinished blobs are kept as partial blobs.
	Truncated bool
	// Broken is set when a section length is impossible: the rest of the
	// file could not be read.
	Broken error
}

// MarshalJSON gives the report's fields, Broken as its message, CIDs as
// {"/": "..."} (DAG-JSON links).
func (r *Report) MarshalJSON() ([]byte, error) {
	type plain Report
	v := struct {
		*plain
		Broken string `json:"Broken,omitempty"`
	}{plain: (*plain)(r)}
	if r.Broken != nil {
		v.Broken = r.Broken.Error()
	}
	return json.Marshal(v)
}

// String summarises the report on one line, for people.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records new, %d known; %d blobs new, %d known, %d partial; %d blocks refused",
		r.RecordsNew, r.RecordsKnown, r.Count(BlobNew), r.Count(BlobKnown), r.Count(BlobPartial), len(r.Refused))
	if r.Truncated {
		b.WriteString("; file cut short")
	}
	if r.Broken != nil {
		fmt.Fprintf(&b, "; rest unreadable (%v)", r.Broken)
	}
	return b.String()
}

// Count returns the number of blobs with status s.
func (r *Report) Count(s BlobStatus) int {
	n := 0
	for _, b := range r.Blobs {
		if b.Status == s {
			n++
		}
	}
	return n
}

// Import reads a CARv1 or CARv2 stream and stores what it holds, verifying
// every block against its CID before anything from it is stored:
//
//	section ─▶ verify CID ─▶ manifest? ─▶ check project (and signer)
//	                     ├─▶ dag-cbor ─▶ Sink.Apply (batches, every check)
//	                     ├─▶ dag-pb ──▶ skeleton complete? ─▶ Begin partial
//	                     └─▶ raw ─────▶ leaf of a partial? ─▶ WriteLeaf, Commit
//	                                     (else wait in a temp file until
//	                                      its skeleton or record arrives)
//
// A CAR whose manifest names another project gives ErrOtherProject and
// input that is not a CAR ErrNotCAR: nothing is stored. A manifest with a
// bad signature gives ErrNotMember.
//
// A bundle (opts.Bundle) must start with a manifest (else ErrNoManifest),
// signed (else ErrNotMember) by a member. (An export is taken from anyone:
// its records and blobs carry their own proof.) A signer the device knows
// and that may not send (blocked) is refused at once with ErrNotMember,
// storing nothing. A signer the device does not know yet (a new member:
// Sink.CheckMember wraps ErrUnknownDevice) lets the device apply the
// records first, since each is signed by its own author and passes every
// check on its own, and is checked again before any blob: still not a
// member, ErrNotMember and no blob stored.
//
// Otherwise the error is nil unless the reader, the store or the project
// failed (or ctx ended: what was stored before stays), and the report lists
// what was new, known and refused; a file cut short sets Report.Truncated,
// and one whose framing breaks Report.Broken, not an error. The report is
// never nil.
func Import(ctx context.Context, r io.Reader, sink Sink, store BlobSink, opts ImportOptions) (*Report, error) {
	cr, err := newCARReader(r)
	if err != nil {
		return &Report{}, err
	}
	im := &importer{
		ctx: ctx, sink: sink, store: store, opts: opts,
		rep:     &Report{CARVersion: cr.version, Roots: cr.roots},
		nodes:   map[cid.Cid][]byte{},
		owners:  map[cid.Cid][]leafRef{},
		open:    map[cid.Cid]*openBlob{},
		spill:   map[cid.Cid]spilled{},
		used:    map[cid.Cid]bool{},
		openSet: map[*openBlob]struct{}{},
		nodeOff: map[cid.Cid]int64{},
		pending: map[cid.Cid]*pendingRoot{},
		waiting: map[cid.Cid][]*pendingRoot{},
	}
	defer im.cleanup()
	err = im.run(cr)
	if cerr := im.finish(err == nil); err == nil {
		err = cerr
	}
	// Refusals are found in map order for some blocks; report them in the
	// order of the file.
	slices.SortStableFunc(im.rep.Refused, func(a, b Refusal) int { return cmp.Compare(a.Offset, b.Offset) })
	return im.rep, err
}

// ImportBundle imports a sneakernet bundle: Import with opts.Bundle set.
func ImportBundle(ctx context.Context, r io.Reader, sink Sink, store BlobSink, opts ImportOptions) (*Report, error) {
	opts.Bundle = true
	return Import(ctx, r, sink, store, opts)
}

type leafRef struct {
	b *openBlob
	i int
}

// openBlob is a blob whose skeleton is known during the import.
type openBlob struct {
	sk      *chunk.Skeleton
	p       blob.Partial // open partial blob, or nil (not begun yet, or closed)
	res     *BlobResult  // nil until the blob is touched
	err     error        // Begin failed
	begun   bool
	done    bool // complete (committed now, or before)
	missing int  // leaves still missing, once begun
	used    int64
}

// maxOpen bounds the partial blobs held open at once (a disk store holds a
// file and a lock for each); others are closed, their state kept, and
// begun again when a leaf of theirs arrives.
var maxOpen = 16

type spilled struct {
	off    int64
	n      int
	offset int64 // in the CAR
}

type importer struct {
	ctx   context.Context
	sink  Sink
	store BlobSink
	opts  ImportOptions
	rep   *Report

	manifest cid.Cid
	recs     []Block
	recOff   []int64
	nodes    map[cid.Cid][]byte // verified dag-pb blocks
	nodeOff  map[cid.Cid]int64
	pending  map[cid.Cid]*pendingRoot   // wanted dag-pb roots whose skeleton is not complete yet
	waiting  map[cid.Cid][]*pendingRoot // missing node → skeletons waiting for it
	owners   map[cid.Cid][]leafRef
	open     map[cid.Cid]*openBlob
	used     map[cid.Cid]bool // dag-pb nodes that belong to a wanted skeleton
	spillF   *os.File
	spillN   int64
	spill    map[cid.Cid]spilled
	preload  bool
	signer   peer.ID     // a manifest signer not yet known to be a member
	touched  []*openBlob // blobs in the report, in the order first touched
	openSet  map[*openBlob]struct{}
	clock    int64
	closeErr error
}

func (im *importer) refuse(c cid.Cid, off int64, why Reason, err error) {
	im.rep.Refused = append(im.rep.Refused, Refusal{CID: c, Offset: off, Reason: why, Err: err})
}

func (im *importer) run(cr *carReader) error {
	first := true
	for {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		s, err := cr.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrTruncated) {
			im.rep.Truncated = true
			break
		}
		if errors.Is(err, ErrFraming) {
			im.rep.Broken = err
			break
		}
		if err != nil {
			// The reader failed (not the file's fault): keep the records
			// read so far, as a cut would.
			if ferr := im.flushRecords(); ferr != nil {
				return ferr
			}
			return err
		}
		im.rep.Blocks++
		if im.opts.Progress != nil {
			im.opts.Progress(cr.off)
		}
		if first {
			first = false
			ok, err := im.checkManifest(s)
			if err != nil {
				return err
			}
			if ok {
				continue
			}
		}
		if s.Err != nil {
			im.refuse(cid.Undef, s.Offset, ReasonBadCID, s.Err)
			continue
		}
		if err := verifyBlock(s.CID, s.Data); err != nil {
			why := ReasonMismatch
			if !errors.Is(err, chunk.ErrMismatch) {
				why = ReasonBadCID
			}
			im.refuse(s.CID, s.Offset, why, err)
			continue
		}
		if err := im.block(s); err != nil {
			return err
		}
	}
	if first && im.opts.Bundle {
		return fmt.Errorf("import bundle: %w: empty CAR", ErrNoManifest)
	}
	return nil
}

// checkManifest handles the first section: a fieldsync manifest if it is
// the first root and decodes as one. It reports whether s was the
// manifest; an error refuses the whole CAR.
func (im *importer) checkManifest(s section) (bool, error) {
	var m *Manifest
	if s.Err == nil && len(im.rep.Roots) > 0 && s.CID == im.rep.Roots[0] && s.CID.Prefix().Codec == codecDagCBOR {
		if err := verifyBlock(s.CID, s.Data); err == nil {
			m, _ = decodeManifest(s.Data)
		}
	}
	if m == nil {
		if im.opts.Bundle {
			return false, fmt.Errorf("import bundle: %w (missing or damaged first block)", ErrNoManifest)
		}
		return false, nil
	}
	if m.Project != im.sink.ProjectID() {
		return false, fmt.Errorf("import: CAR of project %s, this is %s: %w", m.Project, im.sink.ProjectID(), ErrOtherProject)
	}
	if im.opts.Bundle || m.From != "" {
		if err := m.verifySig(); err != nil {
			return false, fmt.Errorf("import: %w", err)
		}
	}
	if im.opts.Bundle {
		if err := im.sink.CheckMember(im.ctx, m.From); err != nil {
			if !errors.Is(err, ErrUnknownDevice) {
				return false, fmt.Errorf("import: signed by %s: %w: %w", m.From, ErrNotMember, err)
			}
			// A device that does not know the signer yet (a fresh one)
			// learns the roster from the records, which come first and
			// pass every check on their own; the signer is checked
			// again before any blob is stored.
			im.signer = m.From
		}
	}
	im.rep.Manifest = m
	im.manifest = s.CID
	return true, nil
}

func (im *importer) block(s section) error {
	codec := s.CID.Prefix().Codec
	if codec != codecDagCBOR {
		if err := im.flushRecords(); err != nil {
			return err
		}
		if err := im.checkSigner(); err != nil {
			return err
		}
		if err := im.loadPartials(); err != nil {
			return err
		}
	}
	switch codec {
	case codecDagCBOR:
		im.recs = append(im.recs, Block{CID: s.CID, Data: s.Data})
		im.recOff = append(im.recOff, s.Offset)
		if len(im.recs) >= 256 {
			return im.flushRecords()
		}
		return nil
	case cid.DagProtobuf:
		return im.node(s)
	default:
		return im.raw(s.CID, s.Data, s.Offset, true)
	}
}

func (im *importer) flushRecords() error {
	if len(im.recs) == 0 {
		return nil
	}
	out, err := im.sink.Apply(im.ctx, im.recs)
	if err != nil {
		return fmt.Errorf("import records: %w", err)
	}
	if len(out) != len(im.recs) {
		return fmt.Errorf("import records: %d outcomes for %d records", len(out), len(im.recs))
	}
	for i, o := range out {
		switch {
		case o.Err != nil:
			im.refuse(im.recs[i].CID, im.recOff[i], ReasonRecord, o.Err)
		case o.New:
			im.rep.RecordsNew++
		default:
			im.rep.RecordsKnown++
		}
	}
	im.recs, im.recOff = im.recs[:0], im.recOff[:0]
	return nil
}

// checkSigner checks, once the records are applied, a signer that was not
// known to be a member when the manifest was read.
func (im *importer) checkSigner() error {
	if im.signer == "" {
		return nil
	}
	if err := im.sink.CheckMember(im.ctx, im.signer); err != nil {
		return fmt.Errorf("import: signed by %s: %w: %w", im.signer, ErrNotMember, err)
	}
	im.signer = ""
	return nil
}

// loadPartials registers the leaves of the partial blobs already in the
// store, so a bundle's leaves complete them (a bundle split in parts, or
// one made after an earlier bundle was cut short).
func (im *importer) loadPartials() error {
	if im.preload {
		return nil
	}
	im.preload = true
	roots, err := im.store.Partials(im.ctx)
	if err != nil {
		return fmt.Errorf("import: list partial blobs: %w", err)
	}
	for _, r := range roots {
		sk, err := im.store.Skeleton(im.ctx, r)
		if err != nil {
			continue
		}
		im.register(sk, false)
	}
	return nil
}

// register makes the leaves of sk known; with begin, the partial blob is
// opened at once (so a skeleton that arrived is kept even if no leaf
// follows).
func (im *importer) register(sk *chunk.Skeleton, begin bool) *openBlob {
	if b, ok := im.open[sk.Root]; ok {
		return b
	}
	b := &openBlob{sk: sk}
	im.open[sk.Root] = b
	for _, n := range sk.Nodes {
		im.used[n.CID] = true
	}
	for i, l := range sk.Leaves {
		im.owners[l.CID] = append(im.owners[l.CID], leafRef{b, i})
	}
	if begin {
		im.begin(b)
	}
	return b
}

func (im *importer) result(b *openBlob) *BlobResult {
	if b.res == nil {
		b.res = &BlobResult{CID: b.sk.Root, Leaves: len(b.sk.Leaves)}
		im.touched = append(im.touched, b)
	}
	return b.res
}

func (im *importer) begin(b *openBlob) {
	im.clock++
	b.used = im.clock
	if b.p != nil || b.err != nil || b.done {
		return
	}
	meta, _, err := im.sink.WantBlob(im.ctx, b.sk.Root)
	if err != nil {
		b.err = err
		return
	}
	p, err := im.store.Begin(im.ctx, b.sk, meta)
	if err != nil {
		b.err = err
		return
	}
	b.p = p
	b.missing = len(p.Missing())
	if !b.begun {
		b.begun = true
		res := im.result(b)
		if b.missing == 0 {
			res.Status = BlobKnown
		} else {
			res.Status = BlobPartial
		}
	}
	if b.missing == 0 {
		b.done = true
		im.close(b)
		return
	}
	im.openSet[b] = struct{}{}
	if len(im.openSet) > maxOpen {
		var lru *openBlob
		for o := range im.openSet {
			if o != b && (lru == nil || o.used < lru.used) {
				lru = o
			}
		}
		im.close(lru)
	}
}

// close closes b's partial blob (its state stays in the store).
func (im *importer) close(b *openBlob) {
	if b.p == nil {
		return
	}
	if err := b.p.Close(); err != nil && im.closeErr == nil {
		im.closeErr = fmt.Errorf("import: close partial blob %s: %w", b.sk.Root, err)
	}
	b.p = nil
	delete(im.openSet, b)
}

func (im *importer) node(s section) error {
	im.nodes[s.CID] = s.Data
	im.nodeOff[s.CID] = s.Offset
	if im.used[s.CID] {
		return nil // a node of a skeleton already known
	}
	// Skeletons waiting for this node go on gathering.
	waiting := im.waiting[s.CID]
	delete(im.waiting, s.CID)
	for _, pr := range waiting {
		delete(pr.need, s.CID)
		im.expand(pr, s.CID)
	}
	_, want, err := im.sink.WantBlob(im.ctx, s.CID)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if want {
		im.addPending(s.CID)
	}
	return im.settle()
}

// pendingRoot is a wanted blob root whose skeleton is being gathered from
// nodes that may arrive in any order. Each node is expanded once, so the
// work is linear in the nodes whatever their order.
type pendingRoot struct {
	root cid.Cid
	have map[cid.Cid]bool // nodes arrived and expanded
	need map[cid.Cid]bool // nodes linked to but not arrived yet
	bad  error            // too many nodes
}

// maxSkeletonNodes bounds the nodes gathered for one skeleton: 4096 nodes
// of 1024 links describe a blob of 4 TiB.
const maxSkeletonNodes = 1 << 12

func (im *importer) addPending(root cid.Cid) {
	if _, ok := im.pending[root]; ok {
		return
	}
	pr := &pendingRoot{root: root, have: map[cid.Cid]bool{}, need: map[cid.Cid]bool{}}
	im.pending[root] = pr
	im.expand(pr, root)
}

// expand records that node c (and what it links to, recursively) is under
// pr's root.
func (im *importer) expand(pr *pendingRoot, c cid.Cid) {
	stack := []cid.Cid{c}
	for len(stack) > 0 && pr.bad == nil {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if pr.have[c] {
			continue
		}
		data, ok := im.nodes[c]
		if !ok {
			if !pr.need[c] {
				pr.need[c] = true
				im.waiting[c] = append(im.waiting[c], pr)
			}
			continue
		}
		pr.have[c] = true
		if len(pr.have) > maxSkeletonNodes {
			pr.bad = fmt.Errorf("%w: skeleton of more than %d nodes", chunk.ErrMalformed, maxSkeletonNodes)
			return
		}
		links, _, err := chunk.NodeLinks(data)
		if err != nil {
			continue // ParseSkeleton will say what is wrong
		}
		for _, l := range links {
			if l.Prefix().Codec == cid.DagProtobuf && !pr.have[l] {
				stack = append(stack, l)
			}
		}
	}
}

// settle builds the skeleton of every pending root whose nodes have all
// arrived, and refuses the nodes of those that went wrong.
func (im *importer) settle() error {
	for root, pr := range im.pending {
		if pr.bad != nil {
			delete(im.pending, root)
			im.refuseNodes(pr, pr.bad)
			continue
		}
		if len(pr.need) > 0 {
			continue
		}
		delete(im.pending, root)
		nodes, size := im.preorder(root)
		wire, err := (&chunk.Skeleton{Size: int64(size), Nodes: nodes}).MarshalBinary()
		if err != nil {
			return err
		}
		sk, err := chunk.ParseSkeleton(root, wire)
		if err != nil {
			im.refuseNodes(pr, err)
			continue
		}
		for _, n := range nodes {
			im.used[n.CID] = true
		}
		b := im.register(sk, true)
		if err := im.drain(b); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) refuseNodes(pr *pendingRoot, err error) {
	for c := range pr.have {
		if !im.used[c] {
			im.used[c] = true
			im.refuse(c, im.nodeOff[c], ReasonSkeleton, err)
		}
	}
}

// preorder lists the nodes under root in depth-first pre-order, each once,
// and the file size the root declares. Every node has arrived.
func (im *importer) preorder(root cid.Cid) ([]chunk.Node, uint64) {
	var out []chunk.Node
	seen := map[cid.Cid]bool{}
	_, size, _ := chunk.NodeLinks(im.nodes[root])
	var walk func(c cid.Cid)
	walk = func(c cid.Cid) {
		if seen[c] {
			return
		}
		seen[c] = true
		data := im.nodes[c]
		out = append(out, chunk.Node{CID: c, Data: data})
		links, _, _ := chunk.NodeLinks(data)
		for _, l := range links {
			if l.Prefix().Codec == cid.DagProtobuf {
				walk(l)
			}
		}
	}
	walk(root)
	return out, size
}

// drain writes the leaves of b that arrived before its skeleton.
func (im *importer) drain(b *openBlob) error {
	for _, l := range b.sk.Leaves {
		sp, ok := im.spill[l.CID]
		if !ok {
			continue
		}
		if err := im.unspill(l.CID, sp); err != nil {
			return err
		}
	}
	return nil
}

// unspill reads back leaf c, kept aside by keep, and stores it.
func (im *importer) unspill(c cid.Cid, sp spilled) error {
	delete(im.spill, c)
	data := make([]byte, sp.n)
	if _, err := im.spillF.ReadAt(data, sp.off); err != nil {
		return fmt.Errorf("import: read back waiting leaf: %w", err)
	}
	return im.raw(c, data, sp.offset, false)
}

// raw stores a verified raw block: a leaf of a known skeleton, or a whole
// blob of one leaf that a record refers to. Otherwise, if wait is set, it
// is kept aside until its skeleton or record arrives.
func (im *importer) raw(c cid.Cid, data []byte, off int64, wait bool) error {
	if refs := im.owners[c]; len(refs) > 0 {
		for _, r := range refs {
			im.writeLeaf(r, data, off)
		}
		return nil
	}
	_, want, err := im.sink.WantBlob(im.ctx, c)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if want {
		if len(data) > chunk.ChunkSize {
			im.refuse(c, off, ReasonSkeleton, fmt.Errorf("raw blob of %d bytes, more than one leaf", len(data)))
			return nil
		}
		var leaves []chunk.Leaf
		if len(data) > 0 {
			leaves = []chunk.Leaf{{CID: c, Size: len(data)}}
		}
		sk, err := chunk.Build(leaves)
		if err != nil || sk.Root != c {
			im.refuse(c, off, ReasonSkeleton, fmt.Errorf("raw blob: %v", err))
			return nil
		}
		b := im.register(sk, true)
		im.writeLeaf(leafRef{b, 0}, data, off)
		return nil
	}
	if !wait {
		im.refuse(c, off, ReasonNotWanted, errors.New("no record of the project refers to it, or not wanted by this device"))
		return nil
	}
	return im.keep(c, data, off)
}

func (im *importer) writeLeaf(r leafRef, data []byte, off int64) {
	b := r.b
	im.begin(b)
	if b.err != nil {
		im.refuse(b.sk.Leaves[r.i].CID, off, ReasonStore, b.err)
		return
	}
	if b.done || b.p.Have(r.i) {
		return
	}
	res := im.result(b)
	if err := b.p.WriteLeaf(im.ctx, r.i, data); err != nil {
		why := ReasonStore
		if errors.Is(err, chunk.ErrMismatch) {
			why = ReasonMismatch
		}
		im.refuse(b.sk.Leaves[r.i].CID, off, why, err)
		return
	}
	res.NewLeaves++
	b.missing--
	if b.missing <= 0 {
		if _, err := b.p.Commit(im.ctx); err != nil {
			im.refuse(b.sk.Root, off, ReasonStore, err)
			return
		}
		res.Status = BlobNew
		b.done = true
		im.close(b)
	}
}

// keep puts a raw block aside in a temporary file.
func (im *importer) keep(c cid.Cid, data []byte, off int64) error {
	if _, ok := im.spill[c]; ok {
		return nil
	}
	if im.spillF == nil {
		f, err := os.CreateTemp(im.opts.TempDir, "fieldsync-import-*")
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		im.spillF = f
	}
	if _, err := im.spillF.WriteAt(data, im.spillN); err != nil {
		return fmt.Errorf("import: keep leaf aside: %w", err)
	}
	im.spill[c] = spilled{off: im.spillN, n: len(data), offset: off}
	im.spillN += int64(len(data))
	return nil
}

// finish flushes the last records, settles the blocks still waiting and
// closes every partial blob (kept, if incomplete, for a later import or
// sync).
func (im *importer) finish(ok bool) error {
	var err error
	if ok {
		err = im.flushRecords()
		if err == nil {
			err = im.checkSigner()
		}
		if err == nil {
			err = im.loadPartials()
		}
		if err == nil {
			// Records applied since a node arrived may refer to it now.
			for c := range im.nodes {
				if im.used[c] {
					continue
				}
				if _, ok := im.pending[c]; ok {
					continue
				}
				_, want, werr := im.sink.WantBlob(im.ctx, c)
				if werr != nil {
					err = fmt.Errorf("import: %w", werr)
					break
				}
				if want {
					im.addPending(c)
				}
			}
		}
		if err == nil {
			err = im.settle()
		}
		if err == nil {
			// Skeletons still incomplete: their nodes cannot be verified.
			for _, pr := range im.pending {
				im.refuseNodes(pr, fmt.Errorf("%w: skeleton of %s incomplete in this file", chunk.ErrMalformed, pr.root))
			}
		}
		if err == nil {
			for c, sp := range im.spill {
				if err = im.unspill(c, sp); err != nil {
					break
				}
			}
		}
		for c := range im.nodes {
			if !im.used[c] {
				im.refuse(c, im.nodeOff[c], ReasonNotWanted, errors.New("not part of a blob wanted by this device"))
			}
		}
	}
	for _, b := range im.open {
		im.close(b)
		if !b.begun {
			continue
		}
		res := im.result(b)
		res.Have = len(b.sk.Leaves) - b.missing
		if res.Have < res.Leaves {
			res.Status = BlobPartial
		}
	}
	if err == nil {
		err = im.closeErr
	}
	im.rep.Blobs = make([]BlobResult, len(im.touched))
	for i, b := range im.touched {
		im.rep.Blobs[i] = *b.res
	}
	return err
}

func (im *importer) cleanup() {
	if im.spillF != nil {
		im.spillF.Close()
		os.Remove(im.spillF.Name())
	}
}
