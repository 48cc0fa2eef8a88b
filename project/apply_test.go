package project

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
)

func TestSyncTwoDevices(t *testing.T) {
	a := newProject(t, "river survey")
	b := addDevice(t, a, RoleMember)
	if got := b.RoleOf(b.Self().PeerID()); got != RoleMember {
		t.Fatalf("joiner role %q", got)
	}
	if _, err := a.AddObservation(ctx, Observation{Created: t0, Tags: []string{"a"}, Attachments: []Attachment{photo("1.jpg")}}); err != nil {
		t.Fatal(err)
	}
	rb, err := b.AddObservation(ctx, Observation{Created: t0.Add(time.Hour), Notes: "from b"})
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, a, b))
	mustOK(t, syncOnce(t, b, a))
	if !a.Vector().Covers(b.Vector()) || !b.Vector().Covers(a.Vector()) {
		t.Fatalf("vectors differ: %v %v", a.Vector(), b.Vector())
	}
	for _, p := range []*Project{a, b} {
		obs, err := p.Observations(ctx, ObservationQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(obs) != 2 || obs[0].ID != rb.Observation.ID {
			t.Fatalf("observations %+v", obs)
		}
	}
	// Nothing new: no records, and applying the same again is a no-op.
	miss, err := a.Missing(ctx, b.Vector(), 0)
	if err != nil || len(miss) != 0 {
		t.Fatalf("missing %d, %v", len(miss), err)
	}
	all, _ := a.Missing(ctx, VersionVector{}, 0)
	res, err := b.Apply(ctx, blocksOf(all))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil || !r.Dup {
			t.Fatalf("re-apply: %+v", r)
		}
	}
	// Limits page through the records.
	page, _ := a.Missing(ctx, VersionVector{}, 2)
	if len(page) != 2 || page[0].CID != a.Genesis().CID {
		t.Fatalf("page %+v", page)
	}
}

func TestApplyRejectsTampered(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	r1, _ := a.AddObservation(ctx, Observation{ID: "o1", Created: t0})
	r2, _ := a.AddObservation(ctx, Observation{ID: "o2", Created: t0})

	t.Run("bad signature", func(t *testing.T) {
		bad := bytes.Clone(r1.Block)
		i := bytes.Index(bad, []byte("o1"))
		bad[i+1] = '9' // same length, different id
		res, _ := b.Apply(ctx, [][]byte{bad})
		wantErr(t, res[0].Err, ErrBadSignature)
	})
	t.Run("gap", func(t *testing.T) {
		fresh := addDevice(t, a, RoleMember)
		miss, _ := a.Missing(ctx, fresh.Vector(), 0)
		var bs [][]byte
		for _, m := range miss {
			if m.CID != r1.CID {
				bs = append(bs, m.Block)
			}
		}
		res, _ := fresh.Apply(ctx, bs)
		gap := false
		for _, r := range res {
			if r.CID == r2.CID {
				wantErr(t, r.Err, ErrGap)
				gap = true
			}
		}
		if !gap {
			t.Fatal("r2 not applied")
		}
	})
	t.Run("prev mismatch", func(t *testing.T) {
		mustOK(t, syncOnce(t, a, b))
		h := a.Vector()[a.Self().PeerID()]
		r, err := newRecord(a.Self(), a.ID(), h+1, r1.CID, &Observation{ID: "o3", Created: t0, Updated: t0})
		if err != nil {
			t.Fatal(err)
		}
		res, _ := b.Apply(ctx, [][]byte{r.Block})
		wantErr(t, res[0].Err, ErrPrevMismatch)
	})
	t.Run("wrong project", func(t *testing.T) {
		other := newProject(t, "other")
		ro, _ := other.AddObservation(ctx, Observation{Created: t0})
		res, _ := b.Apply(ctx, [][]byte{other.Genesis().Block, ro.Block})
		wantErr(t, res[0].Err, ErrWrongProject)
		wantErr(t, res[1].Err, ErrWrongProject)
	})
	t.Run("non-member", func(t *testing.T) {
		stranger := newIdentity(t)
		r, _ := newRecord(stranger, a.ID(), 1, cid.Undef, &Observation{ID: "x", Created: t0, Updated: t0})
		res, _ := b.Apply(ctx, [][]byte{r.Block})
		wantErr(t, res[0].Err, ErrNotMember)
		if res[0].Stored {
			t.Fatal("stored a stranger's record")
		}
		// A member may not grant roles.
		m, _ := newRecord(b.Self(), a.ID(), b.Vector()[b.Self().PeerID()]+1, b.vec[b.Self().PeerID()].cid,
			&Membership{Subject: stranger.PeerID(), Role: RoleMember, Time: t0})
		res, _ = a.Apply(ctx, [][]byte{m.Block})
		wantErr(t, res[0].Err, ErrNotAuthorized)
		if a.RoleOf(stranger.PeerID()) != RoleNone {
			t.Fatal("member granted a role")
		}
	})
}

func TestBlockedAuthor(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	c := addDevice(t, a, RoleMember)
	mustOK(t, syncOnce(t, a, c))
	before, _ := b.AddObservation(ctx, Observation{ID: "before", Created: t0})
	mustOK(t, syncOnce(t, b, a))
	if _, err := a.SetRole(ctx, b.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	after, _ := b.AddObservation(ctx, Observation{ID: "after", Created: t0})

	// a knows the block: b's later record is refused (kept, not counted).
	res := syncOnce(t, b, a)
	wantErr(t, res[0].Err, ErrBlocked)
	if _, err := a.Observation(ctx, "after"); err == nil {
		t.Fatal("blocked record counted")
	}
	if _, err := a.Observation(ctx, "before"); err != nil {
		t.Fatalf("record signed before the block: %v", err)
	}

	// c gets b's records first, then the block: the later one is
	// refused retroactively; the same state as a, whatever the order.
	mustOK(t, syncOnce(t, b, c))
	if _, err := c.Observation(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	syncOnce(t, a, c)
	if _, err := c.Observation(ctx, "after"); err == nil {
		t.Fatal("block not applied retroactively")
	}
	if c.RoleOf(b.Self().PeerID()) != RoleBlocked {
		t.Fatal("role")
	}
	h, err := c.History(ctx, "after")
	if err != nil || len(h) != 1 || h[0].Counted {
		t.Fatalf("history %+v %v", h, err)
	}
	_ = before
	_ = after
}

func TestRosterOrderIndependent(t *testing.T) {
	// A coordinator blocked by the creator after its seq 1 cannot add
	// members with a record signed later, even one that claims an earlier
	// time (backdating).
	a := newProject(t, "p")
	co := addDevice(t, a, RoleCoordinator)
	mustOK(t, syncOnce(t, a, co))
	if _, err := a.SetRole(ctx, co.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	mallory := newIdentity(t)
	co.now = func() time.Time { return t0.Add(-24 * time.Hour) }
	if _, err := co.SetRole(ctx, mallory.PeerID(), RoleMember); err != nil {
		t.Fatal(err)
	}
	if co.RoleOf(mallory.PeerID()) != RoleMember {
		t.Fatal("co's own view")
	}
	res := syncOnce(t, co, a)
	wantErr(t, res[len(res)-1].Err, ErrBlocked)
	if a.RoleOf(mallory.PeerID()) != RoleNone {
		t.Fatal("blocked coordinator's grant counted")
	}
	mustOK(t, syncOnce(t, a, co))
	if co.RoleOf(mallory.PeerID()) != RoleNone || co.RoleOf(co.Self().PeerID()) != RoleBlocked {
		t.Fatal("co does not converge")
	}
}

func TestEquivocation(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	mustOK(t, syncOnce(t, a, b))
	h := b.vec[b.Self().PeerID()]
	x, _ := newRecord(b.Self(), a.ID(), h.seq+1, h.cid, &Observation{ID: "x", Created: t0, Updated: t0})
	y, _ := newRecord(b.Self(), a.ID(), h.seq+1, h.cid, &Observation{ID: "y", Created: t0, Updated: t0})
	res, _ := a.Apply(ctx, [][]byte{x.Block})
	mustOK(t, res)
	res, _ = a.Apply(ctx, [][]byte{y.Block})
	wantErr(t, res[0].Err, ErrEquivocation)
	ev, err := a.Equivocations(ctx)
	if err != nil || len(ev) != 1 || ev[0].Kept != x.CID || ev[0].Other != y.CID || ev[0].Author != b.Self().PeerID() {
		t.Fatalf("evidence %+v %v", ev, err)
	}
}

func TestForkResolution(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	a.now = func() time.Time { return t0 }
	r0, _ := a.AddObservation(ctx, Observation{ID: "o", Created: t0, Notes: "v0"})
	mustOK(t, syncOnce(t, a, b))
	a.now = func() time.Time { return t0.Add(time.Minute) }
	b.now = func() time.Time { return t0.Add(2 * time.Minute) }
	ra, _ := a.UpdateObservation(ctx, Observation{ID: "o", Created: t0, Notes: "edit on a"})
	rb, _ := b.UpdateObservation(ctx, Observation{ID: "o", Created: t0, Notes: "edit on b"})
	mustOK(t, syncOnce(t, a, b))
	mustOK(t, syncOnce(t, b, a))
	for _, p := range []*Project{a, b} {
		st, err := p.Observation(ctx, "o")
		if err != nil {
			t.Fatal(err)
		}
		if st.Heads != 2 || st.Head != rb.CID || st.Notes != "edit on b" {
			t.Fatalf("state %+v", st)
		}
		h, _ := p.History(ctx, "o")
		if len(h) != 3 || h[0].CID != r0.CID || h[0].Head || !h[1].Head || h[1].CID != ra.CID || !h[2].Winner {
			t.Fatalf("history %+v", h)
		}
	}
	// Same Updated time: the greater CID wins, on both.
	a.now = func() time.Time { return t0.Add(time.Hour) }
	b.now = a.now
	xa, _ := a.UpdateObservation(ctx, Observation{ID: "o", Created: t0, Notes: "x"})
	xb, _ := b.UpdateObservation(ctx, Observation{ID: "o", Created: t0, Notes: "y"})
	mustOK(t, syncOnce(t, a, b))
	mustOK(t, syncOnce(t, b, a))
	want := xa.CID
	if bytes.Compare(xb.CID.Bytes(), xa.CID.Bytes()) > 0 {
		want = xb.CID
	}
	sa, _ := a.Observation(ctx, "o")
	sb, _ := b.Observation(ctx, "o")
	if sa.Head != want || sb.Head != want {
		t.Fatal("tie not resolved by CID")
	}
	// An edit that links both heads resolves the fork; deleting hides it.
	if _, err := a.DeleteObservation(ctx, "o"); err != nil {
		t.Fatal(err)
	}
	st, _ := a.Observation(ctx, "o")
	if st.Heads != 1 || !st.Deleted {
		t.Fatalf("after delete %+v", st)
	}
	if obs, _ := a.Observations(ctx, ObservationQuery{}); len(obs) != 0 {
		t.Fatal("deleted observation listed")
	}
}

func TestWantedBlobs(t *testing.T) {
	a := newProject(t, "p")
	addOldAndNew(t, a)
	field, err := a.WantedBlobs(ctx, Field)
	if err != nil {
		t.Fatal(err)
	}
	want := []cid.Cid{fakeCID("new.jpg/t"), fakeCID("old.jpg/t"), fakeCID("new.jpg/p"), fakeCID("old.jpg/p")}
	if len(field) != len(want) {
		t.Fatalf("field: %+v", field)
	}
	for i, w := range field {
		if w.CID != want[i] {
			t.Fatalf("field[%d] = %v (%v)", i, w.CID, w.Class)
		}
	}
	arch, _ := a.WantedBlobs(ctx, Archive)
	if len(arch) != 7 || arch[6].Class != blob.ClassAttachment || arch[4].Class != blob.ClassOriginal {
		t.Fatalf("archive: %+v", arch)
	}
	custom, _ := a.WantedBlobs(ctx, Filter{Mode: FilterCustom, Kinds: []AttachmentKind{AttachAudio}})
	if len(custom) != 1 || custom[0].ObservationID != "new" {
		t.Fatalf("custom: %+v", custom)
	}
	if err := a.SetFilter(ctx, a.Self().PeerID(), Field); err != nil {
		t.Fatal(err)
	}
	if f, _ := a.FilterOf(ctx, a.Self().PeerID()); f.Mode != FilterField {
		t.Fatal(f)
	}
}

func TestReopen(t *testing.T) {
	d := openDB(t)
	id := newIdentity(t)
	a, err := Create(ctx, d, id, "p")
	if err != nil {
		t.Fatal(err)
	}
	a.AddObservation(ctx, Observation{ID: "o", Created: t0})
	if _, err := Create(ctx, d, id, "again"); err != ErrProjectExists {
		t.Fatal(err)
	}
	b, err := Open(ctx, d, id)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID() != a.ID() || b.Vector()[id.PeerID()] != 2 || b.Name() != "p" {
		t.Fatal("reopen")
	}
	if _, err := b.AddObservation(ctx, Observation{Created: t0}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentReaders(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	for i := range 50 {
		a.AddObservation(ctx, Observation{Created: t0.Add(time.Duration(i) * time.Second)})
	}
	miss, err := a.Missing(ctx, b.Vector(), 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var res []Result
	var applyErr error
	go func() {
		defer close(done)
		res, applyErr = b.Apply(ctx, blocksOf(miss))
	}()
	for {
		select {
		case <-done:
			if applyErr != nil {
				t.Fatal(applyErr)
			}
			mustOK(t, res)
			if !b.Vector().Covers(a.Vector()) {
				t.Fatal("not synced")
			}
			return
		default:
			b.RoleOf(a.Self().PeerID())
			b.Members()
			if _, err := b.Missing(ctx, VersionVector{}, 0); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestApplyAnyOrder(t *testing.T) {
	// A third device gets the member's records before the grant that
	// admits them, in one batch: the batch is applied anyway.
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	c := addDevice(t, a, RoleMember)
	for range 3 {
		b.AddObservation(ctx, Observation{Created: t0})
	}
	mustOK(t, syncOnce(t, b, a))
	all, _ := a.Missing(ctx, c.Vector(), 0)
	blocks := blocksOf(all)
	slices.Reverse(blocks)
	res, err := c.Apply(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, res)
	if !c.Vector().Covers(a.Vector()) {
		t.Fatal("not all applied")
	}
}

func TestApplyManyChunksAnyOrder(t *testing.T) {
	// A batch of several decoding chunks, reversed, with a block that
	// does not decode in the middle: every record is applied (the gaps
	// the order leaves are retried), the bad block is refused, and the
	// device ends as the in-order one.
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	c := addDevice(t, a, RoleMember)
	d := addDevice(t, a, RoleMember)
	for range 3*decodeChunk + 5 {
		b.AddObservation(ctx, Observation{Created: t0})
	}
	mustOK(t, syncOnce(t, b, a))
	all, _ := a.Missing(ctx, c.Vector(), 0)
	blocks := blocksOf(all)
	slices.Reverse(blocks)
	bad := len(blocks) / 2
	blocks = slices.Insert(blocks, bad, []byte("not a record"))
	res, err := c.Apply(ctx, blocks)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, res[bad].Err, ErrMalformed)
	mustOK(t, slices.Delete(res, bad, bad+1))
	if !c.Vector().Covers(a.Vector()) {
		t.Fatal("not all applied")
	}
	mustOK(t, syncOnce(t, a, d))
	if got, want := c.Vector(), d.Vector(); !got.Covers(want) || !want.Covers(got) {
		t.Fatalf("reversed batch gave %v, in order %v", got, want)
	}
}

func TestApplyCancelled(t *testing.T) {
	// An apply that cannot begin returns its error with nothing applied,
	// and its decoding stops before Apply returns (the race detector
	// would see a write to the results after).
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	for range 2 * decodeChunk {
		a.AddObservation(ctx, Observation{Created: t0})
	}
	all, _ := a.Missing(ctx, b.Vector(), 0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	res, err := b.Apply(cctx, blocksOf(all))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for i := range res {
		res[i] = Result{} // written by nobody else now
	}
	if b.Vector().Covers(a.Vector()) {
		t.Fatal("applied although cancelled")
	}
}

func TestUnblock(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	a.SetRole(ctx, b.Self().PeerID(), RoleBlocked)
	mustOK(t, syncOnce(t, a, b))
	before := b.Vector()
	_, err := b.AddObservation(ctx, Observation{ID: "during", Created: t0})
	wantErr(t, err, ErrBlocked)
	if !before.Covers(b.Vector()) {
		t.Fatal("a blocked device signed a record it knows will not count")
	}
	if b.RoleOf(b.Self().PeerID()) != RoleBlocked {
		t.Fatal("b does not know it is blocked")
	}
	a.SetRole(ctx, b.Self().PeerID(), RoleMember)
	mustOK(t, syncOnce(t, a, b))
	if _, err := b.AddObservation(ctx, Observation{ID: "after", Created: t0}); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, b, a))
	if _, err := a.Observation(ctx, "after"); err != nil {
		t.Fatal(err)
	}
}

func TestWantedBlobsShared(t *testing.T) {
	// The same photo in two observations is wanted once, with the newer
	// observation's time.
	a := newProject(t, "p")
	a.AddObservation(ctx, Observation{ID: "x", Created: t0, Attachments: []Attachment{photo("same.jpg")}})
	a.AddObservation(ctx, Observation{ID: "y", Created: t0.Add(time.Hour), Attachments: []Attachment{photo("same.jpg")}})
	ws, _ := a.WantedBlobs(ctx, Archive)
	if len(ws) != 3 || ws[0].ObservationID != "y" || !ws[0].ObservedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("%+v", ws)
	}
}

func TestObservationsPaging(t *testing.T) {
	a := newProject(t, "p")
	for i := range 5 {
		a.AddObservation(ctx, Observation{ID: fmt.Sprint("o", i), Created: t0.Add(time.Duration(i) * time.Hour)})
	}
	page, _ := a.Observations(ctx, ObservationQuery{Limit: 2})
	if len(page) != 2 || page[0].ID != "o4" || page[1].ID != "o3" {
		t.Fatalf("page 1 %+v", page)
	}
	page, _ = a.Observations(ctx, ObservationQuery{Limit: 2, Before: page[1].Created})
	if len(page) != 2 || page[0].ID != "o2" || page[1].ID != "o1" {
		t.Fatalf("page 2 %+v", page)
	}
	if _, err := a.Observation(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := a.History(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

// Refresh re-reads nothing for this process's own writes, and still
// picks up another process's, even when this one applied records after it.
func TestRefreshAfterOwnWrites(t *testing.T) {
	a := newProject(t, "p")
	b, c := addDevice(t, a, RoleMember), addDevice(t, a, RoleMember)
	other, err := Open(ctx, a.db, a.self) // another process on a's database
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []*Project{b, c} {
		mustOK(t, syncOnce(t, a, q))
		if _, err := q.AddObservation(ctx, Observation{ID: "by " + q.Self().PeerID().String(), Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	mustOK(t, syncOnce(t, c, a)) // a's own write: Refresh has nothing to re-read
	if changed, err := a.Refresh(ctx); err != nil || changed {
		t.Fatalf("after records applied here: changed %v, %v", changed, err)
	}
	mustOK(t, syncOnce(t, b, other)) // another process's
	if _, err := c.AddObservation(ctx, Observation{ID: "again", Created: t0}); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, c, a)) // and a's own after it
	if changed, err := a.Refresh(ctx); err != nil || !changed {
		t.Fatalf("after another process's write: changed %v, %v", changed, err)
	}
	if got, want := a.Vector()[b.Self().PeerID()], b.Vector()[b.Self().PeerID()]; got != want {
		t.Errorf("b's log: %d, want %d", got, want)
	}
}

// WantedSince lists what the observations recorded after its mark bring,
// and everything when something else was recorded.
func TestWantedSince(t *testing.T) {
	a := newProject(t, "p")
	a.AddObservation(ctx, Observation{ID: "x", Created: t0, Attachments: []Attachment{photo("x.jpg")}})
	for _, f := range []Filter{Archive, Field} {
		all, mark, err := a.WantedSince(ctx, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if whole, _ := a.WantedBlobs(ctx, f); !reflect.DeepEqual(all, whole) {
			t.Fatalf("%v from 0: %+v, want the whole list %+v", f.Mode, all, whole)
		}
		if ws, next, err := a.WantedSince(ctx, f, mark); err != nil || len(ws) != 0 || next != mark {
			t.Fatalf("%v, nothing new: %+v, %d (mark %d), %v", f.Mode, ws, next, mark, err)
		}
		if _, err := a.AddObservation(ctx, Observation{ID: "y" + string(f.Mode), Created: t0, Attachments: []Attachment{photo("y.jpg" + string(f.Mode))}}); err != nil {
			t.Fatal(err)
		}
		ws, next, err := a.WantedSince(ctx, f, mark)
		if err != nil || next <= mark {
			t.Fatal(next, mark, err)
		}
		want := 3 // thumbnail, preview, original
		if f.Mode == FilterField {
			want = 2
		}
		if len(ws) != want || ws[0].ObservationID != "y"+string(f.Mode) {
			t.Fatalf("%v after one observation: %+v", f.Mode, ws)
		}
		// A membership record can change which versions count: all.
		if _, err := a.SetRole(ctx, newIdentity(t).PeerID(), RoleMember); err != nil {
			t.Fatal(err)
		}
		ws, _, err = a.WantedSince(ctx, f, next)
		if whole, _ := a.WantedBlobs(ctx, f); err != nil || !reflect.DeepEqual(ws, whole) {
			t.Fatalf("%v after a membership record: %+v, want the whole list", f.Mode, ws)
		}
	}
}

// A list cached before a commit is published (the window between an
// Apply's commit and its publish, simulated here) is returned with its
// own mark: the next call lists what it lacks.
func TestWantedSinceCachedList(t *testing.T) {
	a := newProject(t, "p")
	a.AddObservation(ctx, Observation{ID: "x", Created: t0, Attachments: []Attachment{photo("x.jpg")}})
	if _, err := a.WantedBlobs(ctx, Archive); err != nil { // cached
		t.Fatal(err)
	}
	gen := a.gen.Load()
	if _, err := a.AddObservation(ctx, Observation{ID: "y", Created: t0, Attachments: []Attachment{photo("y.jpg")}}); err != nil {
		t.Fatal(err)
	}
	a.gen.Store(gen) // committed, not yet published
	ws, next, err := a.WantedSince(ctx, Archive, 0)
	if err != nil {
		t.Fatal(err)
	}
	a.gen.Add(1)
	more, _, err := a.WantedSince(ctx, Archive, next)
	if err != nil {
		t.Fatal(err)
	}
	got := map[cid.Cid]bool{}
	for _, w := range append(ws, more...) {
		got[w.CID] = true
	}
	for _, v := range []string{"/o", "/p", "/t"} {
		if !got[fakeCID("y.jpg"+v)] {
			t.Errorf("y.jpg%s never listed: %d then %d wants", v, len(ws), len(more))
		}
	}
}

// A change by another process that this process's own write picked up
// first (it refreshes before signing) is still reported by the next
// Refresh: the node's watch acts on it (a block cuts the device off).
func TestRefreshReportsWhatAWriteSawFirst(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	if changed, err := a.Refresh(ctx); err != nil || changed {
		t.Fatalf("nothing new: changed %v, %v", changed, err)
	}
	other, err := Open(ctx, a.db, a.self) // a command beside a's serve
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SetRole(ctx, b.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddObservation(ctx, Observation{ID: "after", Created: t0}); err != nil {
		t.Fatal(err)
	}
	if a.RoleOf(b.Self().PeerID()) != RoleBlocked {
		t.Fatal("the write did not pick up the block")
	}
	if changed, err := a.Refresh(ctx); err != nil || !changed {
		t.Fatalf("after the block, seen first by a write: changed %v, %v", changed, err)
	}
	if changed, err := a.Refresh(ctx); err != nil || changed {
		t.Fatalf("reported twice: changed %v, %v", changed, err)
	}
}
