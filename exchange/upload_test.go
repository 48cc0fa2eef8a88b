package exchange

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// holdings is a test project whose Named lists every blob its records name,
// whatever the device's filter.
type holdings struct{ *testProject }

func (h holdings) Named(ctx context.Context) ([]Want, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Want
	for _, l := range h.logs {
		for _, r := range l {
			for _, b := range r.Blobs {
				c, _ := cid.Decode(b.CID)
				out = append(out, Want{CID: c, Class: b.Class, Size: b.Size, ObservedAt: time.UnixMilli(r.At)})
			}
		}
	}
	return out, nil
}

// memLedger is a Ledger in memory that counts what it is told.
type memLedger struct {
	mu   sync.Mutex
	has  map[peer.ID][]cid.Cid
	told int
}

func (l *memLedger) Confirmed(ctx context.Context, p peer.ID) ([]cid.Cid, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]cid.Cid(nil), l.has[p]...), nil
}

func (l *memLedger) Confirm(ctx context.Context, p peer.ID, cs []cid.Cid) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.has == nil {
		l.has = map[peer.ID][]cid.Cid{}
	}
	l.has[p] = append(l.has[p], cs...)
	l.told += len(cs)
	return nil
}

// TestSafeOnArchive: a phone that keeps thumbnails and previews only has
// taken photos; connected to the project's always-on peer, its Sync
// returns only once that peer holds every blob the phone holds, originals
// included, and says so; the next Sync asks nothing (the ledger knows).
func TestSafeOnArchive(t *testing.T) {
	rs := newRoster()
	archive := newPeer(t, rs, FilterArchive)
	pk, pid := newKey(t)
	rs.set(pid, RoleMember)
	proj := newTestProject(rs, FilterField)
	store := mem.New()
	photos := addPhotos(t, store, proj, pid, 3, smallPhoto, time.Now())
	ledger := &memLedger{}
	phone := startPeerCfg(t, pk, rs, FilterField, store, proj, func(c *Config) {
		c.Wants = holdings{proj}
		c.Relays = []peer.AddrInfo{archive.info()}
		c.Ledger = ledger
	})
	connect(t, phone, archive)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := phone.n.Sync(ctx); err != nil {
		t.Fatalf("phone's sync: %v", err)
	}
	// Complete means safe: the archive holds all of it, originals too.
	for _, ph := range photos {
		checkHas(t, archive.store, ph.blobs()...)
	}
	as := phone.n.Progress().Archives
	if len(as) != 1 || as[0].Peer != archive.id || !as[0].Checked || as[0].Held != 9 || as[0].Lacking != 0 {
		t.Fatalf("archives in the phone's progress: %+v", as)
	}
	if ledger.told != 9 {
		t.Fatalf("ledger told of %d blobs, want 9", ledger.told)
	}

	// Nothing new: the next sync asks the archive nothing.
	before := phone.n.haveAsked()
	if err := phone.n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if asked := phone.n.haveAsked() - before; asked != 0 {
		t.Fatalf("a no-op sync asked the archive about %d blobs", asked)
	}

	// A new photo: Sync waits for the archive to have it too.
	more := addPhotos(t, store, proj, pid, 1, smallPhoto, time.Now().Add(time.Hour))
	phone.n.Notify()
	if err := phone.n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	checkHas(t, archive.store, more[0].blobs()...)
	if as := phone.n.Progress().Archives; as[0].Held != 12 || as[0].Lacking != 0 {
		t.Fatalf("after a new photo: %+v", as)
	}
}

// TestSafeOnArchiveWaits: while the always-on peer lacks an original the
// phone holds, the phone's progress says so and Sync is not complete.
func TestSafeOnArchiveWaits(t *testing.T) {
	rs := newRoster()
	// The archive wants the original but cannot keep it: its disk is full.
	ak, aid := newKey(t)
	rs.set(aid, RoleMember)
	archive := startPeer(t, ak, rs, FilterArchive, &fullStore{Store: mem.New(), budget: 1 << 20})
	pk, pid := newKey(t)
	rs.set(pid, RoleMember)
	proj := newTestProject(rs, FilterField)
	store := mem.New()
	photos := addPhotos(t, store, proj, pid, 1, smallPhoto, time.Now())
	phone := startPeerCfg(t, pk, rs, FilterField, store, proj, func(c *Config) {
		c.Wants = holdings{proj}
		c.Relays = []peer.AddrInfo{archive.info()}
	})
	connect(t, phone, archive)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := phone.n.Sync(ctx); err == nil {
		t.Fatal("sync complete while the archive lacks the original")
	}
	as := phone.n.Progress().Archives
	if len(as) != 1 || as[0].Lacking < 1 || as[0].LackingBytes < photos[0].original.Size || phone.n.Progress().Complete {
		t.Fatalf("progress: %+v", as)
	}
}
