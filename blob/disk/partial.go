package disk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
)

// Begin implements blob.PartialReceiver.
//
// A partial blob is the file partial/<cid>, created at its final size
// (sparse), and a row of blob_partials holding its skeleton and have-bitmap,
// plus a row of blob_leaf_parts per unfinished leaf with its durable byte
// count. A leaf's bytes are written in place and fsynced before the row that
// marks them is committed, so after a crash the database never claims bytes
// the file does not hold. A verified leaf is made durable and marked had
// before WriteLeaf or WriteLeafPart returns (leaves verified at about the
// same time by several goroutines share one fsync and one transaction);
// the kept bytes of an unfinished leaf are made durable (one fsync,
// then its row) once they have waited 100 ms (Store.partSyncAfter), and on
// Close: a crash loses at most about the last 100 ms of each unfinished
// leaf's transfer, never a verified leaf, and a link fast enough to bring a
// leaf in under 100 ms pays one fsync and one commit per leaf rather than
// per write (where fsyncs would cost the most). A leaf written with
// WriteLeafSoon (blob.SoonWriter: the exchange's, from a peer that brings
// a leaf in within 100 ms) is had at once and made durable with the
// others within 100 ms, or by Commit or Close: one fsync and one commit
// for many, and a crash may lose the leaves of those last 100 ms.
func (s *Store) Begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	if err := blob.VerifySkeleton(sk); err != nil {
		return nil, fmt.Errorf("begin partial blob: %w", err)
	}
	c := sk.Root
	s.mu.Lock()
	if s.busy[c] {
		s.mu.Unlock()
		return nil, fmt.Errorf("begin partial blob %s: %w", c, blob.ErrBusy)
	}
	s.busy[c] = true
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.busy, c)
		s.mu.Unlock()
	}
	p, err := s.begin(ctx, sk, meta)
	if err != nil {
		release()
		return nil, fmt.Errorf("begin partial blob %s: %w", c, db.NoSpace(err))
	}
	return p, nil
}

func (s *Store) begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	c := sk.Root
	unlock := s.lockBlob(c)
	defer unlock()
	if in, err := s.statRow(ctx, c); err == nil {
		// Complete already: drop any stale partial state.
		if err := s.dropPartial(ctx, c); err != nil {
			return nil, err
		}
		return &completePartial{s: s, sk: sk, info: in}, nil
	}
	path := s.partialPath(c)
	have, mt, found, err := s.loadPartial(ctx, sk)
	if err != nil {
		return nil, err
	}
	if found && meta.MediaType == "" {
		meta.MediaType = mt // resuming: the media type given at the start
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) && found {
		// A crash between a Commit's rename and its database commit
		// leaves the whole file in blobs/: take it back.
		if rerr := os.Rename(s.Path(c), path); rerr == nil {
			f, err = os.OpenFile(path, os.O_RDWR, 0)
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		found = false
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Size() != sk.Size {
		found = false // not the file the bitmap describes
	}
	if !found {
		if err := s.createPartial(ctx, f, sk, meta); err != nil {
			f.Close()
			return nil, err
		}
		have = newBitmap(len(sk.Leaves))
	}
	parts := map[int]int{}
	if found {
		if parts, err = s.loadParts(ctx, sk); err != nil {
			f.Close()
			return nil, err
		}
	}
	kept := make(map[int]int, len(parts))
	for i, n := range parts {
		kept[i] = n
	}
	q := &partial{s: s, sk: sk, meta: meta, f: f, have: have, soon: map[int]bool{}, parts: parts, kept: kept, since: map[int]time.Time{}, writing: map[int]bool{}, hashing: map[int]*chunk.LeafHasher{}}
	q.cond = sync.NewCond(&q.mu)
	s.mu.Lock()
	s.open[q] = struct{}{}
	s.mu.Unlock()
	return q, nil
}

// loadPartial reads the stored state of sk's partial blob, if any and if it
// describes the same blob.
func (s *Store) loadPartial(ctx context.Context, sk *chunk.Skeleton) (bitmap, string, bool, error) {
	var size int64
	var mt string
	var have []byte
	err := s.db.QueryRowContext(ctx, `SELECT size, media_type, have FROM blob_partials WHERE cid = ?`, sk.Root.Bytes()).Scan(&size, &mt, &have)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if size != sk.Size {
		// Only possible for a raw root, whose size no skeleton proves:
		// nothing can have been verified under the other size.
		return nil, "", false, nil
	}
	b, err := decodeBitmap(have, len(sk.Leaves))
	if err != nil {
		return nil, "", false, nil // start over rather than trust it
	}
	return b, mt, true, nil
}

func (s *Store) loadParts(ctx context.Context, sk *chunk.Skeleton) (map[int]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT leaf, durable FROM blob_leaf_parts WHERE cid = ?`, sk.Root.Bytes())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	parts := map[int]int{}
	for rows.Next() {
		var i, n int
		if err := rows.Scan(&i, &n); err != nil {
			return nil, err
		}
		if i >= 0 && i < len(sk.Leaves) && n > 0 && n < sk.Leaves[i].Size {
			parts[i] = n
		}
	}
	return parts, rows.Err()
}

// createPartial sizes f for sk and records an empty have-bitmap, replacing
// any previous state.
func (s *Store) createPartial(ctx context.Context, f *os.File, sk *chunk.Skeleton, meta blob.Meta) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if err := f.Truncate(sk.Size); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(f.Name())); err != nil {
		return err
	}
	skb, err := sk.MarshalBinary()
	if err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Leaf parts are deleted explicitly, not only by the foreign key's
	// cascade: the caller's database may not enforce foreign keys.
	for _, q := range []string{`DELETE FROM blob_leaf_parts WHERE cid = ?`, `DELETE FROM blob_partials WHERE cid = ?`} {
		if _, err := tx.ExecContext(ctx, q, sk.Root.Bytes()); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_partials (cid, size, media_type, started, skeleton, have)
		VALUES (?, ?, ?, ?, ?, ?)`, sk.Root.Bytes(), sk.Size, meta.MediaType, s.timestamp().UnixNano(), skb, []byte(newBitmap(len(sk.Leaves)))); err != nil {
		return err
	}
	return tx.Commit()
}

// dropPartial removes the partial state of c (row, leaf parts, file).
func (s *Store) dropPartial(ctx context.Context, c cid.Cid) error {
	for _, q := range []string{`DELETE FROM blob_leaf_parts WHERE cid = ?`, `DELETE FROM blob_partials WHERE cid = ?`} {
		if _, err := s.db.ExecContext(ctx, q, c.Bytes()); err != nil {
			return err
		}
	}
	if err := os.Remove(s.partialPath(c)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

type partial struct {
	s    *Store
	sk   *chunk.Skeleton
	meta blob.Meta
	f    *os.File

	mu   sync.Mutex
	cond *sync.Cond
	// have is the leaves verified and durable, as the database has them;
	// soon the leaves verified and written but not yet durable: had as
	// well (Have), made durable together within partSyncAfter of the
	// first of them (flushSoon), or by Commit's fsync, or by Close.
	have      bitmap
	soon      map[int]bool
	soonTimer *time.Timer
	parts     map[int]int       // leaf → durable leading bytes, unfinished leaves only
	kept      map[int]int       // leaf → leading bytes written (parts[i] or more)
	since     map[int]time.Time // leaf → when its oldest bytes not yet durable were written
	writing   map[int]bool      // leaves being written now
	// hashing holds, per unfinished leaf written from its first byte in
	// this process, the hash of its kept bytes so far: the leaf is then
	// verified from it when its last byte is written, rather than read
	// back. A leaf without one (resumed, or written out of order) is read
	// back.
	hashing map[int]*chunk.LeafHasher
	// direct is the file opened again with O_DIRECT for whole aligned
	// leaves (writeWhole), at the first one (a blob that only ever gets
	// frames, over a slow link, never holds a second descriptor); nil
	// where unavailable. directRefused is set if a direct write was
	// refused.
	directOnce    sync.Once
	direct        *os.File
	directRefused atomic.Bool
	// flushMu serialises the flushes of verified leaves (markHad);
	// nextHad is the group the next flush takes.
	flushMu sync.Mutex
	nextHad *hadFlush
	closed  bool
	done    *blob.Info
}

func (q *partial) Skeleton() *chunk.Skeleton { return q.sk }

func (q *partial) Missing() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []int
	for i := range q.sk.Leaves {
		if !q.had(i) {
			out = append(out, i)
		}
	}
	return out
}

// had reports whether leaf i is had, durable or soon. Called with q.mu
// held.
func (q *partial) had(i int) bool { return q.have.has(i) || q.soon[i] }

func (q *partial) Have(i int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return i >= 0 && i < len(q.sk.Leaves) && q.had(i)
}

func (q *partial) LeafProgress(i int) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i < 0 || i >= len(q.sk.Leaves) || q.had(i) {
		return 0
	}
	return q.kept[i]
}

// claim waits until no other goroutine writes leaf i, then reserves it. It
// returns false (and reserves nothing) if the leaf is had already.
func (q *partial) claim(verb string, i int) (chunk.Leaf, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if i < 0 || i >= len(q.sk.Leaves) {
		return chunk.Leaf{}, false, fmt.Errorf("%s %d of %s: no such leaf (%d leaves)", verb, i, q.sk.Root, len(q.sk.Leaves))
	}
	for q.writing[i] {
		q.cond.Wait()
	}
	if q.had(i) {
		return chunk.Leaf{}, false, nil // had: a no-op, even once committed
	}
	if q.closed || q.done != nil {
		return chunk.Leaf{}, false, fmt.Errorf("%s %d of %s: partial blob closed", verb, i, q.sk.Root)
	}
	q.writing[i] = true
	return q.sk.Leaves[i], true, nil
}

func (q *partial) unclaim(i int) {
	q.mu.Lock()
	delete(q.writing, i)
	q.cond.Broadcast()
	q.mu.Unlock()
}

// write writes b at off of the partial file, without an fsync.
func (q *partial) write(b []byte, off int64) error {
	if len(b) == 0 {
		return nil
	}
	if h := q.s.writeHook; h != nil {
		if err := h(q.f.Name(), off, len(b)); err != nil {
			return err
		}
	}
	_, err := q.f.WriteAt(b, off)
	return err
}

// directAlign is what O_DIRECT asks of a write's offset, length and
// buffer address: the logical block size of any disk in use (512 or 4096).
const directAlign = 4096

// directOK reports whether b may be written at off through an O_DIRECT
// descriptor: direct writes are on, no test hook wants to see the write,
// and offset, length and buffer address are all aligned (every leaf but a
// blob's last, from a buffer of a megabyte or more, which Go aligns to its
// pages).
func (s *Store) directOK(b []byte, off int64) bool {
	return !s.noDirect && s.writeHook == nil && len(b) > 0 &&
		off%directAlign == 0 && len(b)%directAlign == 0 &&
		uintptr(unsafe.Pointer(unsafe.SliceData(b)))%directAlign == 0
}

// writeWhole writes a whole verified leaf at off: straight to the disk if
// directOK and the file takes a direct descriptor, through the page cache
// otherwise. Either way the group's fsync (markHad) makes it durable
// before it is counted.
func (q *partial) writeWhole(b []byte, off int64) error {
	if q.directRefused.Load() || !q.s.directOK(b, off) {
		return q.write(b, off)
	}
	q.directOnce.Do(func() { q.direct = openDirect(q.f.Name()) })
	if q.direct == nil {
		return q.write(b, off)
	}
	if _, err := q.direct.WriteAt(b, off); err != nil {
		if !errors.Is(err, syscall.EINVAL) {
			return err
		}
		q.directRefused.Store(true) // refused after all: the page cache from now on
		return q.write(b, off)
	}
	q.s.directWrites.Add(1)
	return nil
}

// directHead writes the 4 KiB-aligned head of b at the start of the file
// at path through an O_DIRECT descriptor and returns its length, or 0 if
// it wrote nothing that counts (not directOK, no direct descriptor, any
// error): the caller writes the rest, or all of b, through the page
// cache, which then also carries any error. The caller's fsync or syncfs
// makes both durable.
func (s *Store) directHead(path string, b []byte) int {
	n := len(b) &^ (directAlign - 1)
	if n == 0 || !s.directOK(b[:n], 0) {
		return 0
	}
	d := openDirect(path)
	if d == nil {
		return 0
	}
	defer d.Close()
	if _, err := d.WriteAt(b[:n], 0); err != nil {
		return 0
	}
	s.directWrites.Add(1)
	return n
}

var _ blob.SoonWriter = (*partial)(nil)

func (q *partial) WriteLeaf(ctx context.Context, i int, data []byte) error {
	return q.writeLeaf(ctx, i, data, false)
}

// WriteLeafSoon implements blob.SoonWriter: the leaf is had at once and
// made durable with the others had within partSyncAfter (flushSoon), by
// Commit's fsync if the blob completes first, or by Close.
func (q *partial) WriteLeafSoon(ctx context.Context, i int, data []byte) error {
	return q.writeLeaf(ctx, i, data, true)
}

func (q *partial) writeLeaf(ctx context.Context, i int, data []byte, soon bool) error {
	l, ok, err := q.claim("write leaf", i)
	if err != nil || !ok {
		return err
	}
	defer q.unclaim(i)
	if err := chunk.VerifyLeaf(l, data); err != nil {
		return fmt.Errorf("write leaf %d of %s: %w", i, q.sk.Root, err)
	}
	if err := q.writeWhole(data, l.Offset); err != nil {
		return fmt.Errorf("write leaf %d of %s: %w", i, q.sk.Root, err)
	}
	if soon && q.s.partSyncAfter > 0 {
		q.markSoon(i)
		return nil
	}
	if err := q.markHad(ctx, i); err != nil {
		return fmt.Errorf("write leaf %d of %s: %w", i, q.sk.Root, db.NoSpace(err))
	}
	return nil
}

// markSoon records leaf i (written, verified) as had but not yet durable,
// and sees that a flush (flushSoon) runs within partSyncAfter: the leaves
// of a blob that arrives whole within that time are made durable by
// Commit's one fsync alone, and those of a long one a group at a time,
// rather than an fsync and a transaction for every few leaves (on
// loopback, 2,800 fsyncs for 1.1 GiB, half of them the database's).
// Only WriteLeafSoon's leaves: the exchange's from a fast peer.
func (q *partial) markSoon(i int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.soon[i] = true
	delete(q.parts, i)
	delete(q.kept, i)
	delete(q.since, i)
	if q.soonTimer == nil {
		q.soonTimer = time.AfterFunc(q.s.partSyncAfter, q.flushSoon)
	}
}

// flushSoon makes the leaves had but not yet durable durable: an fsync,
// then their bits in one transaction (flushHad). A failure (a full disk)
// leaves them had in this process only: the next leaf had arms the timer
// again, and Commit (its own fsync) or Close (which returns the error)
// settles them.
func (q *partial) flushSoon() { _ = q.flushSoonErr(false) }

// flushSoonErr is flushSoon, returning its error; final is Close's, the
// only one that runs once the partial is closed.
func (q *partial) flushSoonErr(final bool) error {
	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	q.mu.Lock()
	q.soonTimer = nil
	if q.done != nil || q.closed && !final || len(q.soon) == 0 {
		q.mu.Unlock()
		return nil
	}
	leaves := make([]int, 0, len(q.soon))
	for i := range q.soon {
		leaves = append(leaves, i)
	}
	q.mu.Unlock()
	return q.flushHad(context.Background(), leaves)
}

// markHad makes leaf i (written, verified) durable and commits it as had:
// an fsync of the file, then its bit in one transaction. Leaves verified
// at about the same time by other goroutines share both (group commit):
// one caller runs the flush for every leaf waiting, the others wait for
// it. It returns once leaf i is had, or with the error of the flush that
// carried it.
func (q *partial) markHad(ctx context.Context, i int) error {
	q.mu.Lock()
	fl := q.nextHad
	if fl == nil {
		fl = &hadFlush{}
		q.nextHad = fl
	}
	fl.leaves = append(fl.leaves, i)
	q.mu.Unlock()

	q.flushMu.Lock()
	defer q.flushMu.Unlock()
	if fl.ran {
		return fl.err
	}
	q.mu.Lock()
	q.nextHad = nil
	q.mu.Unlock()
	fl.ran = true
	fl.err = q.flushHad(ctx, fl.leaves)
	return fl.err
}

// hadFlush is one group of leaves made durable and had together.
type hadFlush struct {
	leaves []int
	ran    bool  // set, and err, under the partial's flushMu
	err    error // the flush's outcome, for every leaf of it
}

// flushHad fsyncs the file and commits leaves as had. Called with
// q.flushMu held.
func (q *partial) flushHad(ctx context.Context, leaves []int) error {
	if err := q.f.Sync(); err != nil {
		return err
	}
	q.mu.Lock()
	next := append(bitmap(nil), q.have...)
	q.mu.Unlock()
	for _, i := range leaves {
		next.set(i)
	}
	tx, err := q.s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c := q.sk.Root.Bytes()
	if _, err := tx.ExecContext(ctx, `UPDATE blob_partials SET have = ? WHERE cid = ?`, []byte(next), c); err != nil {
		return err
	}
	for _, i := range leaves {
		if _, err := tx.ExecContext(ctx, `DELETE FROM blob_leaf_parts WHERE cid = ? AND leaf = ?`, c, i); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	q.mu.Lock()
	q.have = next
	for _, i := range leaves {
		delete(q.soon, i)
		delete(q.parts, i)
		delete(q.kept, i)
		delete(q.since, i)
	}
	q.mu.Unlock()
	return nil
}

func (q *partial) setPart(ctx context.Context, i, n int) error {
	c := q.sk.Root.Bytes()
	var err error
	if n == 0 {
		_, err = q.s.db.ExecContext(ctx, `DELETE FROM blob_leaf_parts WHERE cid = ? AND leaf = ?`, c, i)
	} else {
		_, err = q.s.db.ExecContext(ctx, `INSERT INTO blob_leaf_parts (cid, leaf, durable) VALUES (?, ?, ?)
			ON CONFLICT (cid, leaf) DO UPDATE SET durable = excluded.durable`, c, i, n)
	}
	if err != nil {
		return err
	}
	q.mu.Lock()
	if n == 0 {
		delete(q.parts, i)
		delete(q.kept, i)
	} else {
		q.parts[i] = n
	}
	delete(q.since, i)
	q.mu.Unlock()
	return nil
}

// flushParts makes the kept bytes of every unfinished leaf durable: one
// fsync, then their rows in one transaction.
func (q *partial) flushParts(ctx context.Context) error {
	q.mu.Lock()
	todo := map[int]int{}
	for i, n := range q.kept {
		if n > q.parts[i] && !q.had(i) {
			todo[i] = n
		}
	}
	q.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	if err := q.f.Sync(); err != nil {
		return err
	}
	tx, err := q.s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	c := q.sk.Root.Bytes()
	for i, n := range todo {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blob_leaf_parts (cid, leaf, durable) VALUES (?, ?, ?)
			ON CONFLICT (cid, leaf) DO UPDATE SET durable = excluded.durable`, c, i, n); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	q.mu.Lock()
	for i, n := range todo {
		if !q.had(i) && q.kept[i] >= n {
			q.parts[i] = n
			if q.kept[i] == n {
				delete(q.since, i)
			}
		}
	}
	q.mu.Unlock()
	return nil
}

func (q *partial) WriteLeafPart(ctx context.Context, i int, off int, data []byte) (bool, error) {
	l, ok, err := q.claim("write part of leaf", i)
	if err != nil {
		return false, err
	}
	if !ok {
		return true, nil
	}
	defer q.unclaim(i)
	q.mu.Lock()
	have := q.kept[i]
	q.mu.Unlock()
	if off != have {
		return false, fmt.Errorf("write part of leaf %d of %s: offset %d, want %d", i, q.sk.Root, off, have)
	}
	if off+len(data) > l.Size {
		return false, fmt.Errorf("write part of leaf %d of %s: %d bytes at %d overrun the leaf's %d", i, q.sk.Root, len(data), off, l.Size)
	}
	q.mu.Lock()
	lh := q.hashing[i]
	delete(q.hashing, i) // put back below once the write succeeded
	q.mu.Unlock()
	if off == 0 {
		lh = chunk.NewLeafHasher(l)
	} else if lh != nil && lh.Written() != off {
		lh = nil
	}
	if err := q.write(data, l.Offset+int64(off)); err != nil {
		return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.sk.Root, err)
	}
	if lh != nil {
		lh.Write(data)
	}
	end := off + len(data)
	if end < l.Size {
		if end == off {
			return false, nil
		}
		now := time.Now()
		q.mu.Lock()
		q.kept[i] = end
		if lh != nil {
			q.hashing[i] = lh
		}
		first, ok := q.since[i]
		if !ok {
			first = now
			q.since[i] = now
		}
		q.mu.Unlock()
		if now.Sub(first) < q.s.partSyncAfter {
			return false, nil
		}
		// These bytes have waited long enough (a slow link): make them
		// durable, so a crash does not lose them.
		if err := q.f.Sync(); err != nil {
			q.mu.Lock()
			q.kept[i] = q.parts[i] // what the failed fsync covered may be lost
			delete(q.since, i)
			q.mu.Unlock()
			return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.sk.Root, err)
		}
		if err := q.setPart(ctx, i, end); err != nil {
			return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.sk.Root, db.NoSpace(err))
		}
		return false, nil
	}
	// The last byte arrived: verify what the file holds, from the hash of
	// what was written if every byte was written in this process, else by
	// reading it back.
	var verr error
	if lh != nil && lh.Written() == l.Size {
		verr = lh.Verify()
	} else {
		buf := make([]byte, l.Size)
		if _, err := q.f.ReadAt(buf, l.Offset); err != nil {
			return false, fmt.Errorf("write part of leaf %d of %s: read back: %w", i, q.sk.Root, err)
		}
		verr = chunk.VerifyLeaf(l, buf)
	}
	if verr != nil {
		if err := q.setPart(ctx, i, 0); err != nil {
			q.mu.Lock()
			q.kept[i] = q.parts[i]
			q.mu.Unlock()
			return false, fmt.Errorf("write part of leaf %d of %s: %w (and dropping it: %v)", i, q.sk.Root, verr, err)
		}
		return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.sk.Root, verr)
	}
	if err := q.markHad(ctx, i); err != nil {
		return false, fmt.Errorf("write part of leaf %d of %s: %w", i, q.sk.Root, db.NoSpace(err))
	}
	return true, nil
}

func (q *partial) ReadLeaf(ctx context.Context, i int) ([]byte, error) {
	if !q.Have(i) {
		return nil, fmt.Errorf("read leaf %d of %s: %w", i, q.sk.Root, fs.ErrNotExist)
	}
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("read leaf %d of %s: partial blob closed", i, q.sk.Root)
	}
	l := q.sk.Leaves[i]
	buf := make([]byte, l.Size)
	if _, err := q.f.ReadAt(buf, l.Offset); err != nil {
		return nil, fmt.Errorf("read leaf %d of %s: %w", i, q.sk.Root, err)
	}
	return buf, nil
}

// Commit implements blob.Partial: fsync the file, rename it into blobs/,
// fsync both directories, then in one transaction add the blob's row and
// drop the partial's rows.
func (q *partial) Commit(ctx context.Context) (blob.Info, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.done != nil {
		return *q.done, nil
	}
	c := q.sk.Root
	if q.closed {
		return blob.Info{}, fmt.Errorf("commit partial blob %s: closed", c)
	}
	if q.have.count()+len(q.soon) != len(q.sk.Leaves) {
		return blob.Info{}, fmt.Errorf("commit partial blob %s: %w", c, blob.ErrIncomplete)
	}
	for len(q.writing) > 0 {
		q.cond.Wait()
	}
	in, err := q.s.commitPartial(ctx, q)
	if err != nil {
		return blob.Info{}, fmt.Errorf("commit partial blob %s: %w", c, db.NoSpace(err))
	}
	q.done = &in
	return in, nil
}

func (s *Store) commitPartial(ctx context.Context, q *partial) (blob.Info, error) {
	c := q.sk.Root
	unlock := s.lockBlob(c)
	defer unlock()
	if in, err := s.statRow(ctx, c); err == nil {
		return in, s.dropPartial(ctx, c) // a Put stored it meanwhile
	}
	if err := q.f.Sync(); err != nil {
		return blob.Info{}, err
	}
	final := s.Path(c)
	dirs := map[string]bool{filepath.Dir(q.f.Name()): true}
	if err := s.ensureDir(filepath.Dir(final), dirs); err != nil {
		return blob.Info{}, err
	}
	if err := os.Rename(q.f.Name(), final); err != nil {
		return blob.Info{}, err
	}
	undo := func() { os.Rename(final, q.f.Name()) }
	if err := s.syncDirs(dirs); err != nil {
		undo()
		return blob.Info{}, err
	}
	skb, err := q.sk.MarshalBinary()
	if err != nil {
		undo()
		return blob.Info{}, err
	}
	added := s.timestamp()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		undo()
		return blob.Info{}, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO blob_blobs (cid, size, media_type, added, skeleton) VALUES (?, ?, ?, ?, ?)`,
		c.Bytes(), q.sk.Size, q.meta.MediaType, added.UnixNano(), skb); err != nil {
		undo()
		return blob.Info{}, err
	}
	for _, q := range []string{`DELETE FROM blob_leaf_parts WHERE cid = ?`, `DELETE FROM blob_partials WHERE cid = ?`} {
		if _, err := tx.ExecContext(ctx, q, c.Bytes()); err != nil {
			undo()
			return blob.Info{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		undo()
		return blob.Info{}, err
	}
	return blob.Info{CID: c, Size: q.sk.Size, MediaType: q.meta.MediaType, Added: added}, nil
}

// Close makes the kept bytes of unfinished leaves durable, then releases
// the partial blob.
func (q *partial) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	for len(q.writing) > 0 {
		q.cond.Wait()
	}
	done := q.done != nil
	if q.soonTimer != nil {
		q.soonTimer.Stop()
	}
	q.mu.Unlock()
	var err error
	if !done {
		err = db.NoSpace(errors.Join(q.flushSoonErr(true), q.flushParts(context.Background())))
	}
	err = errors.Join(err, q.f.Close())
	if q.direct != nil {
		err = errors.Join(err, q.direct.Close())
	}
	q.s.mu.Lock()
	delete(q.s.busy, q.sk.Root)
	delete(q.s.open, q)
	q.s.mu.Unlock()
	return err
}

// completePartial is what Begin returns for a blob already complete.
type completePartial struct {
	s      *Store
	sk     *chunk.Skeleton
	info   blob.Info
	closed bool
	mu     sync.Mutex
}

func (q *completePartial) Skeleton() *chunk.Skeleton { return q.sk }
func (q *completePartial) Missing() []int            { return nil }
func (q *completePartial) Have(i int) bool           { return i >= 0 && i < len(q.sk.Leaves) }
func (q *completePartial) LeafProgress(int) int      { return 0 }

func (q *completePartial) WriteLeaf(ctx context.Context, i int, data []byte) error {
	if !q.Have(i) {
		return fmt.Errorf("write leaf %d of %s: no such leaf", i, q.sk.Root)
	}
	return nil
}

func (q *completePartial) WriteLeafPart(ctx context.Context, i int, off int, data []byte) (bool, error) {
	if !q.Have(i) {
		return false, fmt.Errorf("write part of leaf %d of %s: no such leaf", i, q.sk.Root)
	}
	return true, nil
}

func (q *completePartial) ReadLeaf(ctx context.Context, i int) ([]byte, error) {
	if !q.Have(i) {
		return nil, fmt.Errorf("read leaf %d of %s: %w", i, q.sk.Root, fs.ErrNotExist)
	}
	l := q.sk.Leaves[i]
	return q.s.ReadRange(ctx, q.sk.Root, l.Offset, l.Size)
}

func (q *completePartial) Commit(ctx context.Context) (blob.Info, error) { return q.info, nil }

func (q *completePartial) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.s.mu.Lock()
		delete(q.s.busy, q.sk.Root)
		q.s.mu.Unlock()
	}
	return nil
}
