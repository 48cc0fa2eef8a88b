package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

var loopback = NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}

// newDevice initialises a device in a temporary directory, with a project
// when name is not empty.
func newDevice(t *testing.T, name string) *Node {
	t.Helper()
	n, err := Init(context.Background(), filepath.Join(t.TempDir(), "dev"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if name != "" {
		if _, err := n.CreateProject(context.Background(), name); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// joined returns a second device that joined a's project with an invite,
// and a's invite events.
func joined(t *testing.T, ctx context.Context, a *Node, role project.Role) *Node {
	t.Helper()
	if err := a.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Invite(ctx, InviteOptions{Role: role, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b := newDevice(t, "")
	if _, err := b.Join(ctx, inv.Code, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// waitEvent reads s until match returns true or the time runs out.
func waitEvent(t *testing.T, s *Subscription, d time.Duration, match func(Event) bool) Event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				t.Fatal("events closed")
			}
			if match(e) {
				return e
			}
		case <-timer.C:
			t.Fatal("no such event in time")
			return nil
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, err := Open(ctx, filepath.Join(dir, "none"), Options{})
	var de *DirError
	if !errors.Is(err, ErrNoDevice) || !errors.As(err, &de) || de.Dir != filepath.Join(dir, "none") {
		t.Fatalf("missing dir: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := Open(ctx, file, Options{}); !errors.Is(err, ErrNotDir) {
		t.Fatalf("a file: %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		if _, err := Init(ctx, ro, Options{}); !errors.Is(err, ErrNotWritable) {
			t.Fatalf("read-only dir: %v", err)
		}
	}
	n, err := Init(ctx, filepath.Join(dir, "a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.HasProject() {
		t.Fatal("a new device has a project")
	}
	if _, err := n.Project(); !errors.Is(err, ErrNoProject) {
		t.Fatalf("no project: %v", err)
	}
	if _, err := n.Observations(ctx, project.ObservationQuery{}); !errors.Is(err, ErrNoProject) {
		t.Fatalf("observations without a project: %v", err)
	}
	// A second process (here: a second Open) is told the directory is
	// busy; opened shared, it reads but writes no blob.
	if _, err := Open(ctx, filepath.Join(dir, "a"), Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second open: %v", err)
	}
	if _, err := n.CreateProject(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	sh, err := Open(ctx, filepath.Join(dir, "a"), Options{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if !sh.Shared() || !sh.HasProject() {
		t.Fatal("shared open lost the project")
	}
	if _, err := sh.Import(ctx, dir, ImportOptions{}, nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("import beside a holder: %v", err)
	}
	if err := sh.Writable(); !errors.Is(err, ErrBusy) {
		t.Fatalf("writable beside a holder: %v", err)
	}
	if _, err := n.CreateProject(ctx, "again"); !errors.Is(err, ErrHasProject) {
		t.Fatalf("second project: %v", err)
	}
}

// TestEvents: an invite redeemed and one refused reach the inviter as
// InviteEvents; the join is a RoleEvent; a block is a RoleEvent to
// blocked and cuts the blocked device off.
func TestEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	sub := a.Subscribe()
	defer sub.Close()
	b := joined(t, ctx, a, project.RoleMember)
	e := waitEvent(t, sub, 10*time.Second, func(e Event) bool { _, ok := e.(InviteEvent); return ok }).(InviteEvent)
	if e.Peer != b.ID() || e.Err != nil || e.Role != project.RoleMember {
		t.Fatalf("redeemed: %+v", e)
	}
	r := waitEvent(t, sub, 10*time.Second, func(e Event) bool { _, ok := e.(RoleEvent); return ok }).(RoleEvent)
	if r.Peer != b.ID() || r.From != project.RoleNone || r.To != project.RoleMember {
		t.Fatalf("joined: %+v", r)
	}

	// A used code is refused with its reason, even when no other invite
	// is open.
	inv, err := a.Invite(ctx, InviteOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := newDevice(t, "")
	if _, err := c.Join(ctx, inv.Code, JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	d := newDevice(t, "")
	_, err = d.Join(ctx, inv.Code, JoinOptions{})
	var ie *InviteError
	if !errors.Is(err, ErrInviteUsed) || !errors.As(err, &ie) || ie.Inviter != a.ID().String() {
		t.Fatalf("used invite: %v", err)
	}
	refused := waitEvent(t, sub, 10*time.Second, func(e Event) bool {
		ie, ok := e.(InviteEvent)
		return ok && ie.Err != nil
	}).(InviteEvent)
	if refused.Peer != d.ID() || !errors.Is(refused.Err, ErrInviteUsed) {
		t.Fatalf("refused: %+v", refused)
	}

	if err := a.Block(ctx, c.ID()); err != nil {
		t.Fatal(err)
	}
	blk := waitEvent(t, sub, 10*time.Second, func(e Event) bool {
		re, ok := e.(RoleEvent)
		return ok && re.To == project.RoleBlocked
	}).(RoleEvent)
	if blk.Peer != c.ID() || blk.From != project.RoleMember {
		t.Fatalf("block: %+v", blk)
	}
	if a.RoleOf(c.ID()) != project.RoleBlocked {
		t.Fatal("not blocked")
	}
	// The blocked device gets nothing more from a: a's photo, added after
	// the block, never reaches it.
	rec, err := a.Add(ctx, []string{"../testdata/photos/gps.jpg"}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel2 := context.WithTimeout(ctx, 3*time.Second)
	defer cancel2()
	res, _ := c.Sync(sctx, SyncOptions{NetOptions: NetOptions{Listen: loopback.Listen, Peers: []peer.AddrInfo{{ID: a.ID(), Addrs: a.Addrs()}}}, PeerWait: 2 * time.Second})
	if res == nil || res.Complete || res.Progress.RecordsApplied != 0 || res.Progress.BytesReceived != 0 {
		t.Fatalf("blocked device synced: %+v", res)
	}
	if _, err := c.Observation(ctx, rec.Observation.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("blocked device has the new observation: %v", err)
	}
}

// TestEditKeepDelete: edits are new versions; Keep brings an old version
// back; Delete keeps the history.
func TestEditKeepDelete(t *testing.T) {
	ctx := context.Background()
	n := newDevice(t, "p")
	rec, err := n.Add(ctx, []string{"../testdata/photos/gps.jpg"}, ImportOptions{Tags: []string{"a"}, Notes: "first"})
	if err != nil {
		t.Fatal(err)
	}
	id := rec.Observation.ID
	notes := "second"
	if _, err := n.Edit(ctx, id, Edit{Notes: &notes, Tags: &[]string{"b", "c"}, Position: &project.Position{Lat: 1, Lon: 2}}); err != nil {
		t.Fatal(err)
	}
	o, _ := n.Observation(ctx, id)
	if o.Notes != "second" || len(o.Tags) != 2 || o.Position.Lat != 1 || len(o.Attachments) != 1 {
		t.Fatalf("edited: %+v", o)
	}
	if _, err := n.Edit(ctx, id, Edit{Add: []string{"../testdata/photos/orient-6.jpg"}, RemovePosition: true}); err != nil {
		t.Fatal(err)
	}
	o, _ = n.Observation(ctx, id)
	if len(o.Attachments) != 2 || o.Attachments[1].Thumbnail == nil || o.Position != nil {
		t.Fatalf("attachment added: %+v", o)
	}
	hist, _ := n.History(ctx, id)
	if len(hist) != 3 {
		t.Fatalf("%d versions", len(hist))
	}
	if _, err := n.Keep(ctx, id, hist[0].CID); err != nil {
		t.Fatal(err)
	}
	o, _ = n.Observation(ctx, id)
	if o.Notes != "first" {
		t.Fatalf("kept: %+v", o)
	}
	if _, err := n.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	o, _ = n.Observation(ctx, id)
	if !o.Deleted {
		t.Fatal("not deleted")
	}
	if hist, _ = n.History(ctx, id); len(hist) != 5 {
		t.Fatalf("%d versions after delete", len(hist))
	}
	if _, err := n.Edit(ctx, "nope", Edit{Notes: &notes}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edit of nothing: %v", err)
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	n := newDevice(t, "p")
	if _, err := n.Import(ctx, "../testdata/photos", ImportOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Project == nil || st.Project.Name != "p" || st.Project.Role != project.RoleCreator || len(st.Members) != 1 {
		t.Fatalf("%+v", st)
	}
	if len(st.Classes) == 0 || !st.Complete() {
		t.Fatalf("classes %+v", st.Classes)
	}
	for _, c := range st.Classes {
		if c.FilesWanted == 0 || c.FilesPresent != c.FilesWanted || c.Name != c.Class.String() {
			t.Fatalf("class %+v", c)
		}
	}
}

// TestJoinAddStart: a device that joins, adds an observation at once and
// starts its network gets it to the inviter, whose session from the join
// is still running (a new connection pulls records).
func TestJoinAddStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	b := joined(t, ctx, a, project.RoleMember)
	rec, err := b.Add(ctx, []string{"../testdata/photos/gps.jpg"}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := a.Observation(ctx, rec.Observation.ID); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the joiner's observation never reached the inviter")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNotMember: a device the serving device does not know is told at
// once, not after the whole wait, and the serving side reports it.
func TestNotMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	sub := a.Subscribe()
	defer sub.Close()
	if err := a.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	// c is a device of another project, sent to a by mistake.
	c := newDevice(t, "another project")
	start := time.Now()
	res, err := c.Sync(ctx, SyncOptions{NetOptions: NetOptions{Listen: loopback.Listen, Peers: []peer.AddrInfo{{ID: a.ID(), Addrs: a.Addrs()}}}})
	var re *RefusedError
	if !errors.Is(err, ErrNotMember) || !errors.As(err, &re) || re.Peer != a.ID() {
		t.Fatalf("sync of a stranger: %v %+v", err, res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("told after %s", d)
	}
	r := waitEvent(t, sub, 10*time.Second, func(e Event) bool { r, ok := e.(RefusedEvent); return ok && r.Inbound }).(RefusedEvent)
	if r.Peer != c.ID() || !errors.Is(r.Err, ErrNotMember) {
		t.Fatalf("a's refusal: %+v", r)
	}
}

// TestShortCodeJoin: the short form of an invite joins as the full one
// does (here with the inviter's address; on a LAN mDNS finds it, see
// cmd/fieldsync's TestMDNSDiscovery), and uses the same invite up.
func TestShortCodeJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	if err := a.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Invite(ctx, InviteOptions{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Short) != 16 {
		t.Fatalf("short code %q", inv.Short)
	}
	if p, err := ParseInvite(inv.Short); err != nil || p.Short != inv.Short {
		t.Fatalf("parse short: %+v %v", p, err)
	}
	b := newDevice(t, "")
	info, err := b.Join(ctx, strings.ToLower(inv.Short), JoinOptions{Inviter: &peer.AddrInfo{ID: a.ID(), Addrs: a.Addrs()}})
	if err != nil {
		t.Fatal(err)
	}
	pa, _ := a.Project()
	if info.ID != pa.ID || info.Role != project.RoleMember {
		t.Fatalf("joined %+v", info)
	}
	c := newDevice(t, "")
	if _, err := c.Join(ctx, inv.Code, JoinOptions{}); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("the full code after the short one: %v", err)
	}
	// Without an address and with nobody answering on the LAN, the search
	// ends with words.
	d := newDevice(t, "")
	inv2, _ := a.Invite(ctx, InviteOptions{TTL: time.Hour})
	if _, err := d.Join(ctx, inv2.Short, JoinOptions{FindTimeout: 300 * time.Millisecond, Listen: loopback.Listen}); !errors.Is(err, ErrInviterNotFound) {
		t.Fatalf("no inviter: %v", err)
	}
}

// TestBlockedTold: a blocked device learns it at once, from the device
// that refuses it (with the signed record that blocks it): its sync and
// its serve stop with who blocked it and when.
func TestBlockedTold(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "river")
	if err := a.SetName(ctx, "base camp"); err != nil {
		t.Fatal(err)
	}
	b := joined(t, ctx, a, project.RoleMember)
	peers := NetOptions{Listen: loopback.Listen, Peers: []peer.AddrInfo{{ID: a.ID(), Addrs: a.Addrs()}}}
	if _, err := b.Sync(ctx, SyncOptions{NetOptions: peers}); err != nil {
		t.Fatal(err)
	}
	// b serves; a blocks it: b's serve stops with the block.
	served := make(chan error, 1)
	go func() { served <- b.Serve(ctx, ServeOptions{NetOptions: peers}) }()
	time.Sleep(300 * time.Millisecond)
	if err := a.Block(ctx, b.ID()); err != nil {
		t.Fatal(err)
	}
	blocked := time.Now()
	var err error
	select {
	case err = <-served:
	case <-time.After(15 * time.Second):
		t.Fatal("b's serve did not learn it was blocked")
	}
	var be *BlockedError
	if !errors.As(err, &be) || !errors.Is(err, ErrBlocked) || be.By != a.ID() || be.ByName != "base camp" {
		t.Fatalf("b's serve ended with %v", err)
	}
	t.Logf("told %s after the block: %v", time.Since(blocked).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "blocked from the project by base camp on ") {
		t.Fatalf("words: %v", err)
	}
	// And a later sync says so at once, without the network.
	if _, err := b.Sync(ctx, SyncOptions{NetOptions: peers}); !errors.As(err, &be) {
		t.Fatalf("sync of a blocked device: %v", err)
	}
	st, _ := b.Status(ctx)
	if st.Project.Role != project.RoleBlocked {
		t.Fatalf("status of the blocked device: %+v", st.Project)
	}
}
