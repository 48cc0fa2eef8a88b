package exchange

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestTwoPeersSyncBothWays(t *testing.T) {
	r := newRoster()
	a, b := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	now := time.Now()
	pa := addPhotos(t, a.store, a.proj, a.id, 3, smallPhoto, now)
	pb := addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, now)
	connect(t, a, b)
	syncWithin(t, 30*time.Second, a, b)
	for _, ph := range append(pa, pb...) {
		checkHas(t, a.store, ph.blobs()...)
		checkHas(t, b.store, ph.blobs()...)
	}
	if a.proj.records() != 5 || b.proj.records() != 5 {
		t.Errorf("records: a %d, b %d, want 5", a.proj.records(), b.proj.records())
	}
	s := a.n.Progress()
	if !s.Complete || s.Classes[blob.ClassOriginal].FilesDone != 5 {
		t.Errorf("progress: %+v", s)
	}
}

func TestThreePeers(t *testing.T) {
	r := newRoster()
	a, b, c := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	now := time.Now()
	var all []photo
	all = append(all, addPhotos(t, a.store, a.proj, a.id, 2, smallPhoto, now)...)
	all = append(all, addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, now.Add(-time.Hour))...)
	all = append(all, addPhotos(t, c.store, c.proj, c.id, 1, smallPhoto, now.Add(-2*time.Hour))...)
	// A line a–b–c plus c–a: every blob has a path, c fetches from two peers.
	connect(t, a, b)
	connect(t, b, c)
	connect(t, c, a)
	syncWithin(t, 60*time.Second, a, b, c)
	for _, p := range []*tpeer{a, b, c} {
		for _, ph := range all {
			checkHas(t, p.store, ph.blobs()...)
		}
		if p.proj.records() != 5 {
			t.Errorf("%s has %d records, want 5", p.id, p.proj.records())
		}
	}
}

func TestFieldDeviceGetsNoOriginals(t *testing.T) {
	r := newRoster()
	a, f := newPeer(t, r, FilterArchive), newPeer(t, r, FilterField)
	ps := addPhotos(t, a.store, a.proj, a.id, 4, smallPhoto, time.Now())
	connect(t, f, a)
	syncWithin(t, 30*time.Second, f)
	for _, ph := range ps {
		checkHas(t, f.store, ph.thumb, ph.preview)
		checkLacks(t, f.store, ph.original)
	}
	s := f.n.Progress()
	if s.Classes[blob.ClassOriginal].FilesWanted != 0 || s.Classes[blob.ClassThumbnail].FilesDone != 4 || s.Classes[blob.ClassPreview].FilesDone != 4 {
		t.Errorf("progress: %+v", s.Classes)
	}
	var declared Filter
	for _, pp := range a.n.Progress().Peers {
		if pp.ID == f.id {
			declared = pp.Filter
		}
	}
	if declared != FilterField {
		t.Errorf("a saw filter %b, want %b", declared, FilterField)
	}
}

func TestNonMemberGetsNothing(t *testing.T) {
	r := newRoster()
	a := newPeer(t, r, FilterArchive)
	addPhotos(t, a.store, a.proj, a.id, 2, smallPhoto, time.Now())
	// x believes a is a member of its project, but a does not know x.
	xr := newRoster()
	xr.set(a.id, RoleMember)
	k, _ := newKey(t)
	x := startPeer(t, k, xr, FilterArchive, mem.New())
	connect(t, x, a)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := x.n.Sync(ctx); err == nil {
		t.Fatal("non-member completed a sync")
	}
	if x.proj.records() != 0 {
		t.Errorf("non-member got %d records", x.proj.records())
	}
	s := x.n.Progress()
	if s.BytesReceived != 0 {
		t.Errorf("non-member received %d blob bytes", s.BytesReceived)
	}
	// It was told why, not reset: its view of a says refused, not a member.
	told := false
	for _, pp := range s.Peers {
		told = told || pp.ID == a.id && pp.State == PeerRefused && errors.Is(pp.Refused, wire.ErrNotMember)
	}
	if !told {
		t.Errorf("non-member not told: %+v", s.Peers)
	}
	for _, pp := range a.n.Progress().Peers {
		if pp.ID == x.id && pp.BytesSent != 0 {
			t.Errorf("sent %d bytes to a non-member", pp.BytesSent)
		}
	}
}

func TestBlockedMemberCutOff(t *testing.T) {
	r := newRoster()
	a := newPeer(t, r, FilterArchive)
	// b's view of the roster is its own: it keeps a as a member.
	br := newRoster()
	br.set(a.id, RoleMember)
	bk, bid := newKey(t)
	r.set(bid, RoleMember)
	b := startPeer(t, bk, br, FilterArchive, mem.New())
	addPhotos(t, a.store, a.proj, a.id, 1, smallPhoto, time.Now())
	connect(t, b, a)
	syncWithin(t, 30*time.Second, b)
	// a blocks b.
	r.set(b.id, RoleBlocked)
	a.n.Notify()
	later := addPhotos(t, a.store, a.proj, a.id, 1, smallPhoto, time.Now())
	a.n.Notify()
	// b redials (its keeper); a lets it in only to tell it it is blocked,
	// then cuts it, and gives it nothing.
	b.n.Connect(context.Background(), a.info())
	told := false
	deadline := time.Now().Add(10 * time.Second)
	for !told && time.Now().Before(deadline) {
		for _, pp := range b.n.Progress().Peers {
			told = told || pp.ID == a.id && pp.State == PeerRefused && errors.Is(pp.Refused, wire.ErrBlocked)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !told {
		t.Fatalf("the blocked member was not told: %+v", b.n.Progress().Peers)
	}
	deadline = time.Now().Add(5 * time.Second)
	for a.n.Host().Network().Connectedness(b.id) == network.Connected {
		if time.Now().After(deadline) {
			t.Fatalf("the blocked member stayed connected: %v", a.n.Host().Network().ConnsToPeer(b.id))
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkLacks(t, b.store, later[0].blobs()...)
	if b.proj.records() != 1 {
		t.Errorf("blocked member has %d records, want 1", b.proj.records())
	}
}

// flipStore serves every blob with one byte flipped.
type flipStore struct{ blob.Store }

func (f flipStore) ReadRange(ctx context.Context, c cid.Cid, off int64, n int) ([]byte, error) {
	b, err := blob.ReadRange(ctx, f.Store, c, off, n)
	if err == nil && len(b) > 0 {
		b[len(b)/2] ^= 0x40
	}
	return b, err
}

func (f flipStore) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	rc, err := f.Store.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if len(b) > 0 {
		b[len(b)/2] ^= 0x40
	}
	return io.NopCloser(bytes.NewReader(b)), err
}

func TestLiarDroppedHonestPeerCompletes(t *testing.T) {
	r := newRoster()
	honest := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, honest.store, honest.proj, honest.id, 2, smallPhoto, time.Now())
	// The liar has the same records and blobs but serves flipped bytes.
	lk, lid := newKey(t)
	r.set(lid, RoleMember)
	ls := mem.New()
	for _, ph := range ps {
		for _, b := range ph.blobs() {
			c, _ := cid.Decode(b.CID)
			rc, _ := honest.store.Fetch(context.Background(), c)
			ls.Put(context.Background(), rc, blob.Meta{})
			rc.Close()
		}
	}
	liar := startPeerWith(t, lk, r, FilterArchive, flipStore{ls}, honest.proj) // same records
	recv := newPeer(t, r, FilterArchive)

	connect(t, recv, liar)
	deadline := time.Now().Add(10 * time.Second)
	for !dropped(recv, lid) {
		if time.Now().After(deadline) {
			t.Fatalf("liar not dropped: %+v", recv.n.Progress())
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect(t, recv, honest)
	syncWithin(t, 30*time.Second, recv)
	for _, ph := range ps {
		checkHas(t, recv.store, ph.blobs()...)
	}
	if recv.n.Host().Network().Connectedness(lid) == network.Connected {
		t.Error("liar still connected")
	}
	n := 0
	recv.store.Enumerate(context.Background(), func(blob.Info) error { n++; return nil })
	if n != 6 {
		t.Errorf("store holds %d blobs, want 6", n)
	}
}

func dropped(p *tpeer, id peer.ID) bool {
	for _, pp := range p.n.Progress().Peers {
		if pp.ID == id && pp.State == PeerDropped {
			return true
		}
	}
	return false
}

// TestSyncAvailable: an archive device syncing with a field device gets
// every thumbnail and preview; the originals are nowhere to be had, so
// SyncAvailable returns incomplete with them counted as unavailable.
func TestSyncAvailable(t *testing.T) {
	r := newRoster()
	field, archive := newPeer(t, r, FilterField), newPeer(t, r, FilterArchive)
	origin := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, origin.store, origin.proj, origin.id, 3, smallPhoto, time.Now())
	connect(t, field, origin)
	syncWithin(t, 30*time.Second, field)
	origin.n.Close()

	connect(t, archive, field)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	complete, err := archive.n.SyncAvailable(ctx)
	if err != nil || complete {
		t.Fatalf("SyncAvailable = %v, %v; want incomplete, nil", complete, err)
	}
	s := archive.n.Progress()
	if !s.Idle || s.Unavailable != 3 {
		t.Errorf("idle %v, unavailable %d; want true, 3", s.Idle, s.Unavailable)
	}
	for _, ph := range ps {
		checkHas(t, archive.store, ph.thumb, ph.preview)
		checkLacks(t, archive.store, ph.original)
	}
}

// TestTwoPeersDiskStores: the same both-ways sync between two blob/disk
// stores on real SQLite files.
func TestTwoPeersDiskStores(t *testing.T) {
	r := newRoster()
	mk := func() *tpeer {
		k, id := newKey(t)
		r.set(id, RoleMember)
		return startPeer(t, k, r, FilterArchive, openDisk(t, t.TempDir()))
	}
	a, b := mk(), mk()
	now := time.Now()
	pa := addPhotos(t, a.store, a.proj, a.id, 2, smallPhoto, now)
	pb := addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, now)
	connect(t, a, b)
	syncWithin(t, 60*time.Second, a, b)
	for _, ph := range append(pa, pb...) {
		checkHas(t, a.store, ph.blobs()...)
		checkHas(t, b.store, ph.blobs()...)
	}
}

// slowWants reads its wants in no less than d, as SQLite does a large
// project's.
type slowWants struct {
	*testProject
	d time.Duration
}

func (w slowWants) Wanted(ctx context.Context) ([]Want, error) {
	time.Sleep(w.d)
	return w.testProject.Wanted(ctx)
}

// A Sync re-reads the wants at once, not after the spacing that keeps
// streamed records from re-reading them after every batch (refreshGap): a
// sync that finds nothing new waited that gap, twice its own length.
func TestSyncRefreshNotSpaced(t *testing.T) {
	const read = 300 * time.Millisecond
	r := newRoster()
	k, id := newKey(t)
	r.set(id, RoleMember)
	proj := newTestProject(r, FilterArchive)
	a := startPeerCfg(t, k, r, FilterArchive, mem.New(), proj, func(c *Config) { c.Wants = slowWants{proj, read} })
	b := newPeer(t, r, FilterArchive)
	addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, time.Now())
	connect(t, a, b)
	syncWithin(t, 30*time.Second, a, b)
	start := time.Now()
	syncWithin(t, 30*time.Second, a)
	// One read and the exchange with b; spaced, it was refreshGap×read more.
	if took := time.Since(start); took > (refreshGap-1)*read {
		t.Errorf("a second Sync took %s, want about %s (one read of the wants)", took.Round(time.Millisecond), read)
	}
}

// sinceWants lists, past a mark, only the wants first listed after it,
// and records the marks it is asked for.
type sinceWants struct {
	*testProject
	mu    sync.Mutex
	calls int64
	first map[cid.Cid]int64 // want → the call that first listed it
	marks []int64
}

func (w *sinceWants) WantedSince(ctx context.Context, mark int64) ([]Want, int64, error) {
	all, err := w.testProject.Wanted(ctx)
	if err != nil {
		return nil, 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	w.marks = append(w.marks, mark)
	var out []Want
	for _, x := range all {
		if _, ok := w.first[x.CID]; !ok {
			w.first[x.CID] = w.calls
		}
		if w.first[x.CID] > mark {
			out = append(out, x)
		}
	}
	return out, w.calls, nil
}

func (w *sinceWants) lastMark() (int64, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.marks[len(w.marks)-1], len(w.marks)
}

// Records that stream in are followed by a read of the wants since the
// last (WantsSince), and what they bring is fetched; Sync and Notify read
// every want.
func TestWantsSince(t *testing.T) {
	r := newRoster()
	k, id := newKey(t)
	r.set(id, RoleMember)
	proj := newTestProject(r, FilterArchive)
	ws := &sinceWants{testProject: proj, first: map[cid.Cid]int64{}}
	a := startPeerCfg(t, k, r, FilterArchive, mem.New(), proj, func(c *Config) { c.Wants = ws })
	b := newPeer(t, r, FilterArchive)
	addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, time.Now())
	connect(t, a, b)
	syncWithin(t, 30*time.Second, a, b)
	ws.mu.Lock()
	if ws.marks[0] != 0 {
		t.Errorf("the first read from mark %d, want 0", ws.marks[0])
	}
	ws.mu.Unlock()

	later := addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, time.Now())
	b.n.Notify() // a pulls the new records, then reads the wants since
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := a.n.Progress(); s.Complete && s.Classes[blob.ClassOriginal].FilesDone == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the streamed records' blobs did not come: %+v", a.n.Progress())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, ph := range later {
		checkHas(t, a.store, ph.blobs()...)
	}
	m, n := ws.lastMark()
	if m == 0 {
		t.Errorf("records applied: the wants were read from mark 0, want the last read's")
	}

	a.n.Notify()
	deadline = time.Now().Add(10 * time.Second)
	for {
		if m, k := ws.lastMark(); k > n {
			if m != 0 {
				t.Errorf("after Notify: from mark %d, want 0", m)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Notify did not re-read the wants")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lookAhead is a disk store that counts the prefetches asked of it.
type lookAhead struct {
	blob.Store
	calls, cids atomic.Int64
}

func (l *lookAhead) Prefetch(ctx context.Context, cs []cid.Cid) {
	l.calls.Add(1)
	l.cids.Add(int64(len(cs)))
	l.Store.(blob.Prefetcher).Prefetch(ctx, cs)
}

// TestServerPrefetches: a peer serving many small blobs has its store
// look them up many at a time (blob.Prefetcher), and every blob arrives.
func TestServerPrefetches(t *testing.T) {
	r := newRoster()
	mk := func(s blob.Store) *tpeer {
		k, id := newKey(t)
		r.set(id, RoleMember)
		return startPeer(t, k, r, FilterArchive, s)
	}
	la := &lookAhead{Store: openDisk(t, t.TempDir())}
	a := mk(la)
	b := mk(openDisk(t, t.TempDir()))
	pa := addPhotos(t, a.store, a.proj, a.id, 60, photoSizes{2 << 10, 8 << 10, 30 << 10}, time.Now())
	connect(t, a, b)
	syncWithin(t, 60*time.Second, b)
	for _, ph := range pa {
		checkHas(t, b.store, ph.blobs()...)
	}
	calls, cids := la.calls.Load(), la.cids.Load()
	t.Logf("%d prefetches of %d blobs in all", calls, cids)
	if calls == 0 || cids < 2*calls {
		t.Fatalf("%d prefetches of %d blobs: the server looked blobs up one by one", calls, cids)
	}
}
