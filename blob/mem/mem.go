// Package mem is a blob.Store held in memory, for tests of packages that
// use a store. It keeps every contract of package blob (it passes
// blob/blobtest) but nothing survives the process. Partial blobs survive
// Close and a new Begin on the same Store, as they would a restart of a disk
// store.
package mem

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

type entry struct {
	data []byte
	sk   *chunk.Skeleton
	info blob.Info
}

type partialState struct {
	sk    *chunk.Skeleton
	meta  blob.Meta
	data  []byte
	have  []bool
	parts map[int]int // leaf → leading bytes kept
	open  bool
}

// Store is an in-memory blob store. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex
	blobs    map[cid.Cid]*entry
	partials map[cid.Cid]*partialState
	checks   map[cid.Cid][]blob.FixityRecord
	now      func() time.Time
}

var (
	_ blob.Store           = (*Store)(nil)
	_ blob.RangeReaderInto = (*Store)(nil)
	_ blob.Verifier        = (*Store)(nil)
	_ blob.FixityLog       = (*Store)(nil)
	_ blob.FixityNoter     = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{
		blobs:    map[cid.Cid]*entry{},
		partials: map[cid.Cid]*partialState{},
		checks:   map[cid.Cid][]blob.FixityRecord{},
		now:      time.Now,
	}
}

func (s *Store) get(c cid.Cid) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[c]
	return e, ok
}

func notExist(verb string, c cid.Cid) error {
	return fmt.Errorf("%s blob %s: %w", verb, c, fs.ErrNotExist)
}

// Fetch implements blob.Fetcher.
func (s *Store) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, ok := s.get(c)
	if !ok {
		return nil, notExist("fetch", c)
	}
	return io.NopCloser(bytes.NewReader(e.data)), nil
}

// ReadRange implements blob.RangeReader.
func (s *Store) ReadRange(ctx context.Context, c cid.Cid, off int64, n int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, ok := s.get(c)
	if !ok {
		return nil, notExist("read range of", c)
	}
	if off < 0 || n < 0 || off+int64(n) > int64(len(e.data)) {
		return nil, fmt.Errorf("read range %s [%d,+%d) of %d bytes: %w", c, off, n, len(e.data), io.ErrUnexpectedEOF)
	}
	return bytes.Clone(e.data[off : off+int64(n)]), nil
}

// ReadRangeInto implements blob.RangeReaderInto.
func (s *Store) ReadRangeInto(ctx context.Context, c cid.Cid, off int64, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e, ok := s.get(c)
	if !ok {
		return notExist("read range of", c)
	}
	if off < 0 || off+int64(len(p)) > int64(len(e.data)) {
		return fmt.Errorf("read range %s [%d,+%d) of %d bytes: %w", c, off, len(p), len(e.data), io.ErrUnexpectedEOF)
	}
	copy(p, e.data[off:])
	return nil
}

// Stat implements blob.Statter.
func (s *Store) Stat(ctx context.Context, c cid.Cid) (blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	e, ok := s.get(c)
	if !ok {
		return blob.Info{}, notExist("stat", c)
	}
	return e.info, nil
}

// Enumerate implements blob.Enumerator.
func (s *Store) Enumerate(ctx context.Context, fn func(blob.Info) error) error {
	s.mu.Lock()
	infos := make([]blob.Info, 0, len(s.blobs))
	for _, e := range s.blobs {
		infos = append(infos, e.info)
	}
	s.mu.Unlock()
	slices.SortFunc(infos, func(a, b blob.Info) int { return bytes.Compare(a.CID.Bytes(), b.CID.Bytes()) })
	for _, in := range infos {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements blob.Remover.
func (s *Store) Remove(ctx context.Context, c cid.Cid) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobs, c)
	return nil
}

// Put implements blob.Receiver.
func (s *Store) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	e, err := s.read(ctx, r, meta)
	if err != nil {
		return blob.Info{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertLocked(e), nil
}

func (s *Store) read(ctx context.Context, r io.Reader, meta blob.Meta) (*entry, error) {
	var buf bytes.Buffer
	sk, err := chunk.Split(ctx, r, func(_ chunk.Leaf, b []byte) error {
		buf.Write(b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put blob: %w", err)
	}
	return &entry{data: buf.Bytes(), sk: sk, info: blob.Info{CID: sk.Root, Size: sk.Size, MediaType: meta.MediaType}}, nil
}

func (s *Store) insertLocked(e *entry) blob.Info {
	if old, ok := s.blobs[e.info.CID]; ok {
		return old.info
	}
	e.info.Added = s.now().UTC()
	s.blobs[e.info.CID] = e
	return e.info
}

// Skeleton implements blob.SkeletonGetter.
func (s *Store) Skeleton(ctx context.Context, c cid.Cid) (*chunk.Skeleton, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.blobs[c]; ok {
		return e.sk, nil
	}
	if p, ok := s.partials[c]; ok {
		return p.sk, nil
	}
	return nil, fmt.Errorf("skeleton of %s: %w", c, fs.ErrNotExist)
}

// Partials implements blob.Store.
func (s *Store) Partials(ctx context.Context) ([]cid.Cid, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []cid.Cid
	for c := range s.partials {
		if _, done := s.blobs[c]; !done {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	return out, nil
}

// Close implements blob.Store. The store stays usable (memory is not
// released), so tests may inspect it after closing.
func (s *Store) Close() error { return nil }

// Begin implements blob.PartialReceiver.
func (s *Store) Begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	if err := blob.VerifySkeleton(sk); err != nil {
		return nil, fmt.Errorf("begin partial blob: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.partials[sk.Root]
	if ok && p.open {
		return nil, fmt.Errorf("begin partial blob %s: %w", sk.Root, blob.ErrBusy)
	}
	if e, done := s.blobs[sk.Root]; done {
		delete(s.partials, sk.Root)
		return &completePartial{s: s, e: e}, nil
	}
	if ok && p.sk.Size != sk.Size {
		// Only possible for a raw root, whose size a skeleton cannot
		// prove: nothing was verified under the old one.
		ok = false
	}
	if !ok {
		p = &partialState{
			sk:    sk,
			meta:  meta,
			data:  make([]byte, sk.Size),
			have:  make([]bool, len(sk.Leaves)),
			parts: map[int]int{},
		}
		s.partials[sk.Root] = p
	}
	if meta.MediaType != "" {
		p.meta = meta
	}
	p.open = true
	return &partial{s: s, p: p}, nil
}

type partial struct {
	s      *Store
	p      *partialState
	closed bool
	done   *blob.Info
}

func (q *partial) Skeleton() *chunk.Skeleton { return q.p.sk }

func (q *partial) Missing() []int {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	var out []int
	for i, h := range q.p.have {
		if !h {
			out = append(out, i)
		}
	}
	return out
}

func (q *partial) Have(i int) bool {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	return i >= 0 && i < len(q.p.have) && q.p.have[i]
}

func (q *partial) LeafProgress(i int) int {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if i < 0 || i >= len(q.p.have) || q.p.have[i] {
		return 0
	}
	return q.p.parts[i]
}

func (q *partial) check(i int) (chunk.Leaf, error) {
	if q.closed {
		return chunk.Leaf{}, fmt.Errorf("write leaf %d of %s: partial blob closed", i, q.p.sk.Root)
	}
	if i < 0 || i >= len(q.p.sk.Leaves) {
		return chunk.Leaf{}, fmt.Errorf("write leaf %d of %s: no such leaf (%d leaves)", i, q.p.sk.Root, len(q.p.sk.Leaves))
	}
	return q.p.sk.Leaves[i], nil
}

func (q *partial) WriteLeaf(ctx context.Context, i int, data []byte) error {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	l, err := q.check(i)
	if err != nil {
		return err
	}
	if q.p.have[i] {
		return nil
	}
	if err := chunk.VerifyLeaf(l, data); err != nil {
		return fmt.Errorf("write leaf %d of %s: %w", i, q.p.sk.Root, err)
	}
	copy(q.p.data[l.Offset:], data)
	q.p.have[i] = true
	delete(q.p.parts, i)
	return nil
}

func (q *partial) WriteLeafPart(ctx context.Context, i int, off int, data []byte) (bool, error) {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	l, err := q.check(i)
	if err != nil {
		return false, err
	}
	if q.p.have[i] {
		return true, nil
	}
	if off != q.p.parts[i] {
		return false, fmt.Errorf("write part of leaf %d of %s: offset %d, want %d", i, q.p.sk.Root, off, q.p.parts[i])
	}
	if off+len(data) > l.Size {
		return false, fmt.Errorf("write part of leaf %d of %s: %d bytes at %d overrun the leaf's %d", i, q.p.sk.Root, len(data), off, l.Size)
	}
	copy(q.p.data[l.Offset+int64(off):], data)
	q.p.parts[i] = off + len(data)
	if q.p.parts[i] < l.Size {
		return false, nil
	}
	delete(q.p.parts, i)
	if err := chunk.VerifyLeaf(l, q.p.data[l.Offset:l.End()]); err != nil {
		return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.p.sk.Root, err)
	}
	q.p.have[i] = true
	return true, nil
}

func (q *partial) ReadLeaf(ctx context.Context, i int) ([]byte, error) {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if i < 0 || i >= len(q.p.have) || !q.p.have[i] {
		return nil, fmt.Errorf("read leaf %d of %s: %w", i, q.p.sk.Root, fs.ErrNotExist)
	}
	l := q.p.sk.Leaves[i]
	return bytes.Clone(q.p.data[l.Offset:l.End()]), nil
}

func (q *partial) Commit(ctx context.Context) (blob.Info, error) {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if q.done != nil {
		return *q.done, nil
	}
	if q.closed {
		return blob.Info{}, fmt.Errorf("commit partial blob %s: closed", q.p.sk.Root)
	}
	for _, h := range q.p.have {
		if !h {
			return blob.Info{}, fmt.Errorf("commit partial blob %s: %w", q.p.sk.Root, blob.ErrIncomplete)
		}
	}
	info := q.s.insertLocked(&entry{
		data: q.p.data,
		sk:   q.p.sk,
		info: blob.Info{CID: q.p.sk.Root, Size: q.p.sk.Size, MediaType: q.p.meta.MediaType},
	})
	delete(q.s.partials, q.p.sk.Root)
	q.done = &info
	return info, nil
}

func (q *partial) Close() error {
	q.s.mu.Lock()
	defer q.s.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.p.open = false
	}
	return nil
}

// completePartial is what Begin returns for a blob already complete.
type completePartial struct {
	s *Store
	e *entry
}

func (q *completePartial) Skeleton() *chunk.Skeleton { return q.e.sk }
func (q *completePartial) Missing() []int            { return nil }
func (q *completePartial) Have(i int) bool           { return i >= 0 && i < len(q.e.sk.Leaves) }
func (q *completePartial) LeafProgress(int) int      { return 0 }
func (q *completePartial) WriteLeaf(context.Context, int, []byte) error {
	return nil
}
func (q *completePartial) WriteLeafPart(context.Context, int, int, []byte) (bool, error) {
	return true, nil
}
func (q *completePartial) ReadLeaf(ctx context.Context, i int) ([]byte, error) {
	if !q.Have(i) {
		return nil, fmt.Errorf("read leaf %d of %s: %w", i, q.e.sk.Root, fs.ErrNotExist)
	}
	l := q.e.sk.Leaves[i]
	return bytes.Clone(q.e.data[l.Offset:l.End()]), nil
}
func (q *completePartial) Commit(context.Context) (blob.Info, error) { return q.e.info, nil }
func (q *completePartial) Close() error                              { return nil }

// Batch implements blob.Batcher.
func (s *Store) Batch(ctx context.Context) (blob.Batch, error) {
	return &batch{s: s}, nil
}

type batch struct {
	s       *Store
	entries []*entry
	done    bool
}

func (b *batch) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	if b.done {
		return blob.Info{}, fmt.Errorf("put blob: batch already committed or discarded")
	}
	e, err := b.s.read(ctx, r, meta)
	if err != nil {
		return blob.Info{}, err
	}
	if old, ok := b.s.get(e.info.CID); ok {
		return old.info, nil
	}
	e.info.Added = b.s.now().UTC()
	b.entries = append(b.entries, e)
	return e.info, nil
}

func (b *batch) Commit(ctx context.Context) error {
	if b.done {
		return fmt.Errorf("commit batch: already committed or discarded")
	}
	b.done = true
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	for _, e := range b.entries {
		if _, ok := b.s.blobs[e.info.CID]; !ok {
			b.s.blobs[e.info.CID] = e
		}
	}
	b.entries = nil
	return nil
}

func (b *batch) Discard() error {
	b.done = true
	b.entries = nil
	return nil
}

// Verify implements blob.Verifier by re-hashing the bytes held.
func (s *Store) Verify(ctx context.Context, c cid.Cid) (blob.FixityReport, error) {
	now := s.now().UTC()
	e, ok := s.get(c)
	rep := blob.FixityReport{CID: c, CheckedAt: now, Result: blob.FixityOK}
	if !ok {
		rep.Result = blob.FixityMissing
		rep.Detail = blob.DetailNotStored
		return rep, nil
	}
	sk, err := chunk.Sum(ctx, bytes.NewReader(e.data))
	if err != nil {
		return rep, fmt.Errorf("verify blob %s: %w", c, err)
	}
	if sk.Root != c {
		rep.Result = blob.FixityCorrupt
		rep.Detail = "bytes hash to " + sk.Root.String()
		s.mu.Lock()
		delete(s.blobs, c)
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.checks[c] = append(s.checks[c], blob.FixityRecord{CID: c, CheckedAt: now, Result: rep.Result, Detail: rep.Detail})
	s.mu.Unlock()
	return rep, nil
}

// Damage flips every bit of the byte at off of the stored blob c, as a
// failing disk would: the blob stays visible and is served as it now is,
// until a fixity check (Verify) finds it corrupt. For tests of fixity and
// of peers that repair it.
func (s *Store) Damage(c cid.Cid, off int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.blobs[c]
	if !ok {
		return notExist("damage", c)
	}
	if off < 0 || off >= int64(len(e.data)) {
		return fmt.Errorf("damage blob %s: offset %d of %d bytes", c, off, len(e.data))
	}
	d := bytes.Clone(e.data)
	d[off] ^= 0xff
	s.blobs[c] = &entry{data: d, sk: e.sk, info: e.info}
	return nil
}

// NoteFixity implements blob.FixityNoter.
func (s *Store) NoteFixity(ctx context.Context, r blob.FixityRecord) error {
	if r.Event == "" {
		return fmt.Errorf("note fixity event of %s: no event", r.CID)
	}
	if r.CheckedAt.IsZero() {
		r.CheckedAt = s.now().UTC()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.checks[r.CID]
	// Keep the log in time order (an event given a past time goes before
	// later entries; at the same time, before checks).
	i := len(h)
	for i > 0 && (h[i-1].CheckedAt.After(r.CheckedAt) || h[i-1].CheckedAt.Equal(r.CheckedAt) && h[i-1].IsCheck()) {
		i--
	}
	s.checks[r.CID] = slices.Insert(h, i, r)
	return nil
}

// VerifyAll implements blob.Verifier.
func (s *Store) VerifyAll(ctx context.Context, fn func(blob.FixityReport) error) error {
	var cids []cid.Cid
	if err := s.Enumerate(ctx, func(in blob.Info) error { cids = append(cids, in.CID); return nil }); err != nil {
		return err
	}
	for _, c := range cids {
		rep, err := s.Verify(ctx, c)
		if err != nil {
			return err
		}
		if err := fn(rep); err != nil {
			return err
		}
	}
	return nil
}

// LastChecks implements blob.FixityLog.
func (s *Store) LastChecks(ctx context.Context, olderThan time.Time, fn func(blob.FixityRecord) error) error {
	s.mu.Lock()
	var recs []blob.FixityRecord
	for c := range s.blobs {
		r := blob.FixityRecord{CID: c}
		if last, ok := blob.LastCheck(s.checks[c]); ok {
			r = blob.FixityRecord{CID: c, CheckedAt: last.CheckedAt, Result: last.Result}
		}
		if olderThan.IsZero() || r.CheckedAt.Before(olderThan) {
			recs = append(recs, r)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(recs, func(a, b blob.FixityRecord) int {
		if c := a.CheckedAt.Compare(b.CheckedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.CID.Bytes(), b.CID.Bytes())
	})
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// FixityHistory implements blob.FixityLog.
func (s *Store) FixityHistory(ctx context.Context, c cid.Cid) ([]blob.FixityRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.checks[c]), nil
}
