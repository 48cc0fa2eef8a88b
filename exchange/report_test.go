package exchange

import (
	"bufio"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// eventLog collects a node's events from the moment it is made.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func collect(p *tpeer) *eventLog {
	l := &eventLog{}
	go func() {
		for e := range p.n.Events() {
			l.mu.Lock()
			l.evs = append(l.evs, e)
			l.mu.Unlock()
		}
	}()
	return l
}

// corrupt returns the CorruptEvents seen so far.
func (l *eventLog) corrupt() []CorruptEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []CorruptEvent
	for _, e := range l.evs {
		if c, ok := e.(CorruptEvent); ok {
			out = append(out, c)
		}
	}
	return out
}

// waitCorrupt waits for a CorruptEvent with result r and returns it.
func (l *eventLog) waitCorrupt(t *testing.T, d time.Duration, r CorruptResult) CorruptEvent {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, e := range l.corrupt() {
			if e.Result == r {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event within %s; saw %+v", r, d, l.corrupt())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCorruptReportedAndHealed: B holds a photo original with one byte
// flipped in its second leaf; C holds a good copy. A fetches from B,
// finds the bad leaf, tells B and drops it, and completes from C. B hears
// the report, checks the blob, finds it damaged, quarantines it and
// fetches it again from C. Both sides say what happened, and their fixity
// logs keep it.
func TestCorruptReportedAndHealed(t *testing.T) {
	for _, store := range []string{"mem", "disk"} {
		t.Run(store, func(t *testing.T) { testCorruptHealed(t, store) })
	}
}

func testCorruptHealed(t *testing.T, store string) {
	r := newRoster()
	var b *tpeer
	var damage func(c cid.Cid, off int64)
	switch store {
	case "mem":
		b = newPeer(t, r, FilterArchive)
		damage = func(c cid.Cid, off int64) {
			if err := b.store.(*mem.Store).Damage(c, off); err != nil {
				t.Fatal(err)
			}
		}
	case "disk":
		k, id := newKey(t)
		r.set(id, RoleMember)
		b = startPeer(t, k, r, FilterArchive, openDisk(t, t.TempDir()))
		damage = func(c cid.Cid, off int64) {
			f, err := os.OpenFile(b.store.(*disk.Store).Path(c), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			p := []byte{0}
			f.ReadAt(p, off)
			p[0] ^= 0xff
			if _, err := f.WriteAt(p, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, b.store, b.proj, b.id, 2, smallPhoto, time.Now())
	b.n.Notify() // as an import does: B's scheduler counts them done
	connect(t, c, b)
	syncWithin(t, 30*time.Second, c)
	for _, ph := range ps {
		checkHas(t, c.store, ph.blobs()...)
	}

	// Bit rot on B, in leaf 1 of the first photo's original.
	bad, _ := cid.Decode(ps[0].original.CID)
	damage(bad, chunk.ChunkSize+100)

	a := newPeer(t, r, FilterArchive)
	aev, bev := collect(a), collect(b)
	connect(t, a, b)
	det := aev.waitCorrupt(t, 15*time.Second, CorruptDetected)
	if det.Peer != b.id || det.CID != bad || det.Leaf != 1 || det.Inbound || !strings.Contains(det.Detail, "leaf 1 of "+bad.String()+" failed verification") {
		t.Errorf("A's event: %+v", det)
	}
	if !dropped(a, b.id) {
		t.Errorf("B not dropped by A: %+v", a.n.Progress().Peers)
	}
	connect(t, a, c)
	syncWithin(t, 30*time.Second, a)
	for _, ph := range ps {
		checkHas(t, a.store, ph.blobs()...)
	}

	// B was told, checked, quarantined and healed from C.
	rep := bev.waitCorrupt(t, 10*time.Second, CorruptReported)
	if rep.Peer != a.id || rep.CID != bad || rep.Leaf != 1 || !rep.Inbound {
		t.Errorf("B's report event: %+v", rep)
	}
	dmg := bev.waitCorrupt(t, 10*time.Second, CorruptDamaged)
	if dmg.CID != bad || !dmg.Refetch || !strings.HasPrefix(dmg.Detail, "corrupt") {
		t.Errorf("B's check event: %+v", dmg)
	}
	healed := bev.waitCorrupt(t, 30*time.Second, CorruptHealed)
	if healed.CID != bad || healed.From != c.id || healed.Peer != a.id {
		t.Errorf("B's heal event: %+v", healed)
	}
	for _, ph := range ps {
		checkHas(t, b.store, ph.blobs()...)
	}
	if v := b.store.(blob.Verifier); true {
		if rep, err := v.Verify(context.Background(), bad); err != nil || !rep.OK() {
			t.Errorf("B's copy after healing: %+v %v", rep, err)
		}
	}

	// The fixity logs keep the path: on B reported, checked corrupt,
	// fetched again; on A the bad copy it received.
	h, err := b.store.(blob.FixityLog).FixityHistory(context.Background(), bad)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, e := range h {
		if e.IsCheck() {
			path = append(path, string(e.Result))
		} else {
			path = append(path, string(e.Event)+" "+e.Peer)
		}
	}
	want := []string{"reported " + a.id.String(), "corrupt", "refetched " + c.id.String(), "ok"}
	if strings.Join(path, ", ") != strings.Join(want, ", ") {
		t.Errorf("B's fixity log of %s:\n  %s\nwant\n  %s", bad, strings.Join(path, "\n  "), strings.Join(want, "\n  "))
	}
	ha, _ := a.store.(blob.FixityLog).FixityHistory(context.Background(), bad)
	if len(ha) != 1 || ha[0].Event != blob.FixityBadCopy || ha[0].Peer != b.id.String() {
		t.Errorf("A's fixity log of %s: %+v", bad, ha)
	}
	// B's progress counts the blob once, done.
	if cp := b.n.Progress().Classes[blob.ClassOriginal]; cp.FilesWanted != 2 || cp.FilesDone != 2 {
		t.Errorf("B's originals: %+v", cp)
	}
	// Its own check, handed back as if found in the fixity log, is not
	// told again.
	var own blob.FixityReport
	for _, e := range h {
		if e.IsCheck() && e.Result == blob.FixityCorrupt {
			own = blob.FixityReport{CID: bad, Result: e.Result, Detail: e.Detail, CheckedAt: e.CheckedAt}
		}
	}
	n := len(bev.corrupt())
	if b.n.Refetch(own) || len(bev.corrupt()) != n {
		t.Errorf("B's own check told again: %+v", bev.corrupt()[n:])
	}
}

// TestRefetchAfterOutsideCheck: a check the node did not make (fieldsync
// verify in another process, beside a serve) quarantined a photo on B;
// told of it (Refetch), B says so with no peer to blame, fetches the photo
// again from C and says it healed.
func TestRefetchAfterOutsideCheck(t *testing.T) {
	r := newRoster()
	k, id := newKey(t)
	r.set(id, RoleMember)
	b := startPeer(t, k, r, FilterArchive, openDisk(t, t.TempDir()))
	c := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, c.store, c.proj, c.id, 2, smallPhoto, time.Now())
	b.proj.add(c.id, time.Now(), ps[0].blobs()...)
	b.proj.add(c.id, time.Now(), ps[1].blobs()...)
	connect(t, b, c)
	syncWithin(t, 30*time.Second, b)
	bev := collect(b)

	bad, _ := cid.Decode(ps[1].original.CID)
	ds := b.store.(*disk.Store)
	flip, err := os.OpenFile(ds.Path(bad), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	flip.WriteAt([]byte{1, 2, 3}, 10)
	flip.Close()
	rep, err := ds.Verify(context.Background(), bad) // the outside check
	if err != nil || rep.Result != blob.FixityCorrupt {
		t.Fatalf("the outside check: %+v, %v", rep, err)
	}
	checkLacks(t, b.store, ps[1].original)
	if !b.n.Refetch(rep) {
		t.Fatal("Refetch: B does not fetch the photo again")
	}
	dmg := bev.waitCorrupt(t, 5*time.Second, CorruptDamaged)
	if dmg.CID != bad || dmg.Peer != "" || !dmg.Inbound || !dmg.Refetch || !strings.HasPrefix(dmg.Detail, "corrupt: bytes hash to ") {
		t.Errorf("B's damaged event: %+v", dmg)
	}
	healed := bev.waitCorrupt(t, 30*time.Second, CorruptHealed)
	if healed.CID != bad || healed.From != c.id || healed.Peer != "" {
		t.Errorf("B's heal event: %+v", healed)
	}
	checkHas(t, b.store, ps[1].blobs()...)
	if cp := b.n.Progress().Classes[blob.ClassOriginal]; cp.FilesWanted != 2 || cp.FilesDone != 2 {
		t.Errorf("B's originals: %+v", cp)
	}
}

// verifyFlip is a flipStore whose own copy can be checked (and is intact)
// and that keeps a fixity log: a peer whose bytes are damaged on the way
// out.
type verifyFlip struct {
	flipStore
	m *mem.Store
}

func (f verifyFlip) Verify(ctx context.Context, c cid.Cid) (blob.FixityReport, error) {
	return f.m.Verify(ctx, c)
}

func (f verifyFlip) VerifyAll(ctx context.Context, fn func(blob.FixityReport) error) error {
	return f.m.VerifyAll(ctx, fn)
}

func (f verifyFlip) NoteFixity(ctx context.Context, r blob.FixityRecord) error {
	return f.m.NoteFixity(ctx, r)
}

// TestCorruptReportIntact: a peer whose stored copy is intact but whose
// bytes arrive damaged is told, checks its copy and says it is intact; a
// second report of the same blob soon after is not checked again; a report
// of a blob the stream never sent is not heard at all.
func TestCorruptReportIntact(t *testing.T) {
	r := newRoster()
	honest := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, honest.store, honest.proj, honest.id, 1, smallPhoto, time.Now())
	sk, sid := newKey(t)
	r.set(sid, RoleMember)
	ms := mem.New()
	for _, b := range ps[0].blobs() {
		c, _ := cid.Decode(b.CID)
		rc, _ := honest.store.Fetch(context.Background(), c)
		ms.Put(context.Background(), rc, blob.Meta{})
		rc.Close()
	}
	sender := startPeerWith(t, sk, r, FilterArchive, verifyFlip{flipStore{ms}, ms}, honest.proj)
	sev := collect(sender)

	// A member that reports a blob it was never sent is not heard. (It
	// wants no class, so it asks for nothing itself.)
	x := newPeer(t, r, FilterOf(blob.ClassSkeleton))
	connect(t, x, sender)
	st, err := x.n.Host().NewStream(context.Background(), sid, ProtoBlobs)
	if err != nil {
		t.Fatal(err)
	}
	thumb, _ := cid.Decode(ps[0].thumb.CID)
	w := bufio.NewWriter(st)
	for _, m := range []wire.BlobRequest{{Type: wire.ReqHello}, {Type: wire.ReqCorrupt, CID: thumb.Bytes(), Kind: wire.KindLeaf}} {
		w.Write(wire.AppendFrame(nil, m.Marshal(nil)))
	}
	w.Flush()
	st.CloseWrite()

	var recvs []*tpeer
	for range 2 {
		recv := newPeer(t, r, FilterArchive)
		rev := collect(recv)
		connect(t, recv, sender)
		det := rev.waitCorrupt(t, 15*time.Second, CorruptDetected)
		if det.Peer != sid || det.CID != thumb || det.Leaf != 0 {
			t.Errorf("receiver's event: %+v (the thumbnail %s comes first)", det, thumb)
		}
		recvs = append(recvs, recv)
		if len(recvs) == 1 {
			ok := sev.waitCorrupt(t, 10*time.Second, CorruptIntact)
			if ok.CID != thumb || ok.Peer != recv.id {
				t.Errorf("sender's check: %+v", ok)
			}
		}
	}
	again := sev.waitCorrupt(t, 10*time.Second, CorruptUnchecked)
	if again.CID != thumb || again.Peer != recvs[1].id || !strings.Contains(again.Detail, "checked") {
		t.Errorf("second report: %+v", again)
	}
	var reports []peer.ID
	for _, e := range sev.corrupt() {
		if e.Result == CorruptReported {
			reports = append(reports, e.Peer)
		}
	}
	if len(reports) != 2 || reports[0] != recvs[0].id || reports[1] != recvs[1].id {
		t.Errorf("reports heard from %v, want the two receivers only (not %s)", reports, x.id)
	}
	h, _ := ms.FixityHistory(context.Background(), thumb)
	if checks := len(h) - 2; checks != 1 || h[0].Event != blob.FixityReported || !h[1].IsCheck() || h[1].Result != blob.FixityOK {
		t.Errorf("sender's fixity log: %+v, want a report, one check, a report", h)
	}
	// The receivers complete from the honest peer.
	for _, recv := range recvs {
		connect(t, recv, honest)
		syncWithin(t, 30*time.Second, recv)
		checkHas(t, recv.store, ps[0].blobs()...)
	}
}
