package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	"golang.org/x/sync/errgroup"
)

// writebackEvery is how many bytes a Put writes before asking the kernel to
// start flushing them, so the final fsync of a large blob is short.
const writebackEvery = 8 << 20

// temp is a blob written to a file under tmp/, not yet visible.
type temp struct {
	path string
	sk   *chunk.Skeleton
	meta blob.Meta
}

func (t *temp) remove() {
	if t.path != "" {
		os.Remove(t.path)
		t.path = ""
	}
}

// writeTemp streams r into a new file under tmp/ while it is chunked and
// hashed:
//
//	r ──▶ chunk.Split (leaves hashed in parallel) ──in order──▶ file (writeback started every 8 MiB)
//
// Memory is bounded by chunk.Split's few chunks whatever the size. The file
// is not fsynced: Put does it once it knows the blob is new, a batch does it
// for all its files at once. On any error the file is removed.
func (s *Store) writeTemp(ctx context.Context, r io.Reader, meta blob.Meta) (*temp, error) {
	f, err := os.CreateTemp(filepath.Join(s.root, tmpDir), "put-*")
	if err != nil {
		return nil, fmt.Errorf("create temp file: %w", err)
	}
	t := &temp{path: f.Name(), meta: meta}
	fail := func(err error) (*temp, error) {
		f.Close()
		t.remove()
		return nil, err
	}
	w := &fileWriter{s: s, f: f}

	t.sk, err = chunk.Split(ctx, r, func(_ chunk.Leaf, b []byte) error { return w.write(b) })
	if err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		t.remove()
		return nil, fmt.Errorf("close temp file: %w", err)
	}
	return t, nil
}

// fileWriter writes a temp file sequentially, starting writeback as it goes.
type fileWriter struct {
	s       *Store
	f       *os.File
	off     int64
	flushed int64
}

func (w *fileWriter) write(b []byte) error {
	if w.s.writeHook != nil {
		if err := w.s.writeHook(w.f.Name(), w.off, len(b)); err != nil {
			return fmt.Errorf("write temp file: %w", err)
		}
	}
	n, err := w.f.Write(b)
	w.off += int64(n)
	if err != nil {
		return fmt.Errorf("write temp file: %w", err)
	}
	if w.off-w.flushed >= writebackEvery {
		startWriteback(w.f, w.flushed, w.off-w.flushed)
		w.flushed = w.off
	}
	return nil
}

// Put implements blob.Receiver: the bytes are hashed and written to a temp
// file as they stream, the file is fsynced and renamed into place, its
// directory fsynced, and only then is the metadata committed, which makes
// the blob visible.
func (s *Store) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	t, err := s.writeTemp(ctx, r, meta)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	defer t.remove()
	c := t.sk.Root
	if in, err := s.statRow(ctx, c); err == nil {
		return in, nil // already stored: no fsync, no rename
	}
	if err := syncFile(t.path); err != nil {
		return blob.Info{}, fmt.Errorf("put blob %s: sync: %w", c, err)
	}
	unlock := s.lockBlob(c)
	defer unlock()
	if in, err := s.statRow(ctx, c); err == nil {
		return in, nil // a concurrent Put won
	}
	final := s.Path(c)
	dirs := map[string]bool{}
	if err := s.ensureDir(filepath.Dir(final), dirs); err != nil {
		return blob.Info{}, fmt.Errorf("put blob %s: %w", c, err)
	}
	if err := renameFile(t.path, final); err != nil {
		return blob.Info{}, fmt.Errorf("put blob %s: %w", c, err)
	}
	t.path = ""
	if err := s.syncDirs(dirs); err != nil {
		os.Remove(final)
		return blob.Info{}, fmt.Errorf("put blob %s: %w", c, err)
	}
	in, err := s.insert(ctx, t.sk, meta, s.timestamp())
	if err != nil {
		os.Remove(final)
		return blob.Info{}, fmt.Errorf("put blob %s: %w", c, db.NoSpace(err))
	}
	return in, nil
}

// syncFile fsyncs the file at path. Its data were written moments ago; the
// kernel has been writing them back since (startWriteback).
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// insert commits the metadata of the complete blob sk.
func (s *Store) insert(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta, added time.Time) (blob.Info, error) {
	skb, err := sk.MarshalBinary()
	if err != nil {
		return blob.Info{}, err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO blob_blobs (cid, size, media_type, added, skeleton)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (cid) DO NOTHING`,
		sk.Root.Bytes(), sk.Size, meta.MediaType, added.UnixNano(), skb)
	if err != nil {
		return blob.Info{}, err
	}
	return s.statRow(ctx, sk.Root)
}

// Batch implements blob.Batcher.
//
// Batch.Put writes each blob to a temp file without fsync. Commit then
//
//	syncfs (one flush for every file; per-file fsync where unavailable)
//	──▶ rename each into place ──▶ fsync each directory touched
//	──▶ one transaction inserting every row
//
// so ten thousand thumbnails cost one flush, a few directory fsyncs and
// one commit instead of ten thousand of each. A crash before the commit
// leaves renamed files without metadata: invisible orphans that VerifyAll
// quarantines, and that a Put of the same bytes simply replaces.
func (s *Store) Batch(ctx context.Context) (blob.Batch, error) {
	return &batch{s: s, items: map[cid.Cid]*batchItem{}}, nil
}

type batchItem struct {
	t    *temp
	info blob.Info
}

type batch struct {
	s     *Store
	mu    sync.Mutex
	items map[cid.Cid]*batchItem
	order []*batchItem
	done  bool
}

var errBatchDone = errors.New("batch already committed or discarded")

func (b *batch) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done {
		return blob.Info{}, fmt.Errorf("put blob: %w", errBatchDone)
	}
	t, err := b.s.writeTemp(ctx, r, meta)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	c := t.sk.Root
	if in, err := b.s.statRow(ctx, c); err == nil {
		t.remove()
		return in, nil
	}
	return b.add(t, meta)
}

// PutVerified implements blob.VerifiedPutter: data, already verified by
// the caller against the raw CID c, is written to a temp file as it is,
// not hashed again. Like Put it is stored at Commit; unlike Put it does
// not look whether c is stored already (Commit skips it if so).
func (b *batch) PutVerified(ctx context.Context, c cid.Cid, data []byte, meta blob.Meta) (blob.Info, error) {
	if c.Prefix().Codec != cid.Raw || len(data) > chunk.ChunkSize {
		return blob.Info{}, fmt.Errorf("put verified blob %s: not a one-leaf raw blob", c)
	}
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		return blob.Info{}, fmt.Errorf("put blob: %w", errBatchDone)
	}
	if it, ok := b.items[c]; ok {
		b.mu.Unlock()
		return it.info, nil
	}
	b.mu.Unlock()
	f, err := os.CreateTemp(filepath.Join(b.s.root, tmpDir), "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("put blob %s: create temp file: %w", c, err)
	}
	t := &temp{path: f.Name(), meta: meta, sk: &chunk.Skeleton{Root: c, Size: int64(len(data)), Leaves: []chunk.Leaf{{CID: c, Size: len(data)}}}}
	w := &fileWriter{s: b.s, f: f}
	head := 0
	if len(data) >= 256<<10 {
		// A large one's aligned head goes straight to the disk (see
		// partial.writeWhole), the rest through the page cache.
		if head = b.s.directHead(f.Name(), data); head > 0 {
			_, err = f.Seek(int64(head), io.SeekStart)
			w.off, w.flushed = int64(head), int64(head)
		}
	}
	if err == nil {
		err = w.write(data[head:])
	}
	if err == nil && len(data)-head >= 256<<10 {
		// Start writing it out now, so the batch's syncfs at Commit finds
		// little left to write: the disk works while more blobs arrive.
		// (Not for small ones: a call each costs more than it saves.)
		startWriteback(f, int64(head), int64(len(data)-head))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.remove()
		return blob.Info{}, fmt.Errorf("put blob %s: %w", c, err)
	}
	return b.add(t, meta)
}

// add queues temp file t of a blob for Commit, unless the batch is done or
// already holds that blob (t is then removed).
func (b *batch) add(t *temp, meta blob.Meta) (blob.Info, error) {
	c := t.sk.Root
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		t.remove()
		return blob.Info{}, fmt.Errorf("put blob: %w", errBatchDone)
	}
	if it, ok := b.items[c]; ok {
		t.remove()
		return it.info, nil
	}
	it := &batchItem{t: t, info: blob.Info{CID: c, Size: t.sk.Size, MediaType: meta.MediaType, Added: b.s.timestamp()}}
	b.items[c] = it
	b.order = append(b.order, it)
	return it.info, nil
}

func (b *batch) Discard() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	for _, it := range b.order {
		it.t.remove()
	}
	b.order, b.items = nil, nil
	return nil
}

func (b *batch) Commit(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return fmt.Errorf("commit batch: %w", errBatchDone)
	}
	b.done = true
	items := b.order
	b.order, b.items = nil, nil
	defer func() {
		for _, it := range items {
			it.t.remove()
		}
	}()
	if len(items) == 0 {
		return nil
	}
	s := b.s
	if err := s.syncTemps(ctx, items); err != nil {
		return fmt.Errorf("commit batch: sync: %w", err)
	}

	defer s.lockVisAll()()
	if err := s.publish(ctx, items); err != nil {
		return fmt.Errorf("commit batch: %w", db.NoSpace(err))
	}
	return nil
}

// publish inserts the rows of items in one transaction, renames the files
// of the new ones into place and fsyncs their directories, and only then
// commits: the caller holds s.vis exclusively, so nobody sees the rows
// before the files are there, and a failure undoes the renames.
func (s *Store) publish(ctx context.Context, items []*batchItem) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO blob_blobs (cid, size, media_type, added, skeleton)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (cid) DO NOTHING`)
	if err != nil {
		return err
	}
	defer st.Close()
	var renamed []string
	defer func() {
		if err != nil {
			for _, p := range renamed {
				os.Remove(p)
			}
		}
	}()
	dirs := map[string]bool{}
	for _, it := range items {
		skb, err := it.t.sk.MarshalBinary()
		if err != nil {
			return err
		}
		res, err := st.ExecContext(ctx, it.info.CID.Bytes(), it.info.Size, it.info.MediaType, it.info.Added.UnixNano(), skb)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			continue // stored since Batch.Put looked
		}
		final := s.Path(it.info.CID)
		dir := filepath.Dir(final)
		if err := s.ensureDir(dir, dirs); err != nil {
			return err
		}
		if err := renameFile(it.t.path, final); err != nil {
			return err
		}
		it.t.path = ""
		renamed = append(renamed, final)
	}
	if err := s.syncDirs(dirs); err != nil {
		return err
	}
	return tx.Commit()
}

// syncTemps makes the batch's temp files durable: one syncfs where the OS
// has it, otherwise an fsync per file, a few at a time.
func (s *Store) syncTemps(ctx context.Context, items []*batchItem) error {
	if !s.noSyncFS {
		d, err := os.Open(filepath.Join(s.root, tmpDir))
		if err != nil {
			return err
		}
		err = syncFS(d)
		d.Close()
		if err == nil {
			return nil
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, it := range items {
		p := it.t.path
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return syncFile(p)
		})
	}
	return g.Wait()
}
