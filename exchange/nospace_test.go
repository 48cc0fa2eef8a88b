package exchange

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
)

// fullStore is a store on a disk that fills up: once budget bytes of
// blob data are written (leaves, small blobs), every further write fails
// with ENOSPC, wrapped as blob/disk wraps it (its TestDiskFull fakes the
// same with its write hook), until space is freed.
type fullStore struct {
	blob.Store
	mu       sync.Mutex
	budget   int64
	written  int64
	failures int // writes refused
}

// take reserves n bytes, or fails as a full disk does.
func (s *fullStore) take(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written+int64(n) > s.budget {
		s.failures++
		return &fs.PathError{Op: "write", Path: "partial/x", Err: syscall.ENOSPC}
	}
	s.written += int64(n)
	return nil
}

func (s *fullStore) free(budget int64) {
	s.mu.Lock()
	s.budget = budget
	s.mu.Unlock()
}

func (s *fullStore) stats() (written int64, failures int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.failures
}

func (s *fullStore) Begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	p, err := s.Store.Begin(ctx, sk, meta)
	if err != nil {
		return nil, err
	}
	return &fullPartial{Partial: p, s: s}, nil
}

func (s *fullStore) Batch(ctx context.Context) (blob.Batch, error) {
	b, err := s.Store.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &fullBatch{Batch: b, s: s}, nil
}

type fullBatch struct {
	blob.Batch
	s *fullStore
}

func (b *fullBatch) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return blob.Info{}, err
	}
	if err := b.s.take(len(data)); err != nil {
		return blob.Info{}, fmt.Errorf("put blob: write temp file: %w", err)
	}
	return b.Batch.Put(ctx, bytes.NewReader(data), meta)
}

type fullPartial struct {
	blob.Partial
	s *fullStore
}

func (p *fullPartial) WriteLeaf(ctx context.Context, i int, data []byte) error {
	if p.Have(i) {
		return nil
	}
	if err := p.s.take(len(data)); err != nil {
		return fmt.Errorf("write leaf %d of %s: %w", i, p.Skeleton().Root, err)
	}
	return p.Partial.WriteLeaf(ctx, i, data)
}

func (p *fullPartial) WriteLeafPart(ctx context.Context, i, off int, data []byte) (bool, error) {
	if p.Have(i) {
		return true, nil
	}
	if err := p.s.take(len(data)); err != nil {
		return false, fmt.Errorf("write part of leaf %d of %s: %w", i, p.Skeleton().Root, err)
	}
	return p.Partial.WriteLeafPart(ctx, i, off, data)
}

// A receiver whose disk fills stops fetching at once: Sync returns the
// store's error promptly instead of fetching the same leaves again and
// again, the peer is not dropped (it sent nothing wrong), what was
// verified stays, and once space is freed the next Sync completes
// without fetching a verified leaf twice.
func TestDiskFullStopsSync(t *testing.T) {
	r := newRoster()
	a := newPeer(t, r, FilterArchive)
	kb, idb := newKey(t)
	r.set(idb, RoleMember)
	store := &fullStore{Store: mem.New(), budget: 3 << 20}
	b := startPeer(t, kb, r, FilterArchive, store)
	photos := addPhotos(t, a.store, a.proj, a.id, 4, smallPhoto, time.Now())
	var total int64
	for _, ph := range photos {
		for _, x := range ph.blobs() {
			total += x.Size
		}
	}
	connect(t, b, a)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	complete, err := b.n.SyncAvailable(ctx)
	took := time.Since(t0)
	if complete || !blob.IsNoSpace(err) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sync onto a full disk: complete %v, err %v after %s (progress %+v)", complete, err, took, b.n.Progress())
	}
	if took > 10*time.Second {
		t.Errorf("sync took %s to report the full disk", took)
	}
	// Stopped, not looping: a little more than the budget (what was in
	// flight when the disk filled) crossed the link, and no more arrives.
	time.Sleep(500 * time.Millisecond)
	s := b.n.Progress()
	written, failures := store.stats()
	if s.BytesReceived > 3*total/2 {
		t.Errorf("%d bytes received for a project of %d: fetching went on", s.BytesReceived, total)
	}
	time.Sleep(time.Second)
	if s2 := b.n.Progress(); s2.BytesReceived > s.BytesReceived+(256<<10) {
		t.Errorf("still fetching after Sync returned: %d then %d bytes received", s.BytesReceived, s2.BytesReceived)
	}
	if _, f := store.stats(); f > failures+2 {
		t.Errorf("still writing after Sync returned: %d then %d refused writes", failures, f)
	}
	for _, pp := range s.Peers {
		if pp.ID == a.id && pp.State != PeerConnected {
			t.Errorf("peer %s is %s (%s): a full disk is not its fault", pp.ID, pp.State, pp.Reason)
		}
	}
	// Thumbnails come first: they are here, and verified leaves are kept.
	for _, ph := range photos {
		checkHas(t, store, ph.thumb)
	}
	if written < 2<<20 || s.LeavesFetched == 0 {
		t.Errorf("kept %d bytes, %d leaves: what fitted should stay", written, s.LeavesFetched)
	}
	t.Logf("stopped in %s: %d bytes received, %d written, %d writes refused, project %d bytes", took, s.BytesReceived, written, failures, total)

	// Space freed: the next Sync resumes and completes.
	store.free(1 << 40)
	syncWithin(t, 30*time.Second, b)
	for _, ph := range photos {
		checkHas(t, store, ph.blobs()...)
	}
	if s := b.n.Progress(); s.Refetched != 0 || s.BytesReceived > total+total/2 {
		t.Errorf("after resuming: %d leaves fetched twice, %d bytes received for %d", s.Refetched, s.BytesReceived, total)
	}
}
