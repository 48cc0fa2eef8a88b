package blind

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/seal"
	"github.com/libp2p/go-libp2p/core/peer"
)

var ctx = context.Background()

type device struct {
	id *project.Identity
	p  *project.Project
}

func openDB(t *testing.T) *dbh {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return &dbh{d}
}

func newID(t *testing.T) *project.Identity {
	id, err := project.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// redeem runs the invite protocol between the inviter and a new identity.
func redeem(t *testing.T, inviter *project.Project, id *project.Identity, role project.Role) *project.Welcome {
	t.Helper()
	code, err := inviter.Invite(ctx, project.InviteOptions{Role: role})
	if err != nil {
		t.Fatal(err)
	}
	rt := func(ctx context.Context, req []byte) ([]byte, error) {
		return inviter.InviteHandler().Handle(ctx, id.PeerID(), req)
	}
	w, err := project.Redeem(ctx, rt, id, code)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func join(t *testing.T, inviter *project.Project) *device {
	t.Helper()
	id := newID(t)
	p, err := project.Join(ctx, openDB(t).DB, id, redeem(t, inviter, id, project.RoleMember))
	if err != nil {
		t.Fatal(err)
	}
	return &device{id, p}
}

// pull gives to what from holds that to lacks (members, in clear).
func pull(t *testing.T, from, to *project.Project) {
	t.Helper()
	rs, err := from.Missing(ctx, to.Vector(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var bs [][]byte
	for _, r := range rs {
		bs = append(bs, r.Block)
	}
	if _, err := to.Apply(ctx, bs); err != nil {
		t.Fatal(err)
	}
}

// enclose gives the archive what a member holds and it lacks, as that
// member's records adapter does.
func enclose(t *testing.T, from *device, a *Archive) int {
	t.Helper()
	vec, _ := a.Vector(ctx)
	rs, err := from.p.Missing(ctx, vec, 0)
	if err != nil {
		t.Fatal(err)
	}
	kr, _ := from.p.Keyring(ctx)
	e, k, ok := kr.Current()
	if !ok {
		t.Fatal("no key")
	}
	var envs [][]byte
	for _, r := range rs {
		b, err := Enclose(r.Author, r.Seq, r.Block, e, k)
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, b)
	}
	n, err := a.Apply(ctx, from.id.PeerID(), envs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type team struct {
	creator, member, other *device
	arch                   *Archive
	archID                 *project.Identity
}

func newTeam(t *testing.T) *team {
	t.Helper()
	cid := newID(t)
	cp, err := project.Create(ctx, openDB(t).DB, cid, "Secret valley")
	if err != nil {
		t.Fatal(err)
	}
	tm := &team{creator: &device{cid, cp}}
	tm.archID = newID(t)
	w := redeem(t, cp, tm.archID, project.RoleArchive)
	if len(w.Genesis) != 0 || len(w.Keys) != 0 || w.Creator != cid.PeerID() {
		t.Fatalf("an archive's welcome: genesis %d bytes, %d keys, creator %s", len(w.Genesis), len(w.Keys), w.Creator)
	}
	if tm.arch, err = Create(ctx, openDB(t).DB, tm.archID.PeerID(), w); err != nil {
		t.Fatal(err)
	}
	tm.member, tm.other = join(t, cp), join(t, cp)
	for _, d := range []*device{tm.member, tm.other} {
		kr, _ := d.p.Keyring(ctx)
		if kr.Len() != 1 {
			t.Fatalf("a joiner's keyring has %d keys", kr.Len())
		}
	}
	return tm
}

func TestArchiveRefuses(t *testing.T) {
	tm := newTeam(t)
	stranger := newID(t)
	if n := enclose(t, tm.creator, tm.arch); n == 0 {
		t.Fatal("the creator's envelopes were not taken")
	}
	if _, err := tm.creator.p.SetRole(ctx, tm.other.id.PeerID(), project.RoleBlocked); err != nil {
		t.Fatal(err)
	}
	enclose(t, tm.creator, tm.arch)
	for _, c := range []struct {
		p    peer.ID
		want exchange.Role
	}{
		{tm.creator.id.PeerID(), exchange.RoleCreator},
		{tm.member.id.PeerID(), exchange.RoleMember},
		{tm.other.id.PeerID(), exchange.RoleBlocked},
		{stranger.PeerID(), exchange.RoleNone},
		{tm.archID.PeerID(), exchange.RoleArchive},
	} {
		if got := tm.arch.Role(c.p); got != c.want {
			t.Errorf("role of %s: %v, want %v", c.p, got, c.want)
		}
	}
	for _, m := range tm.arch.Members() {
		if m == tm.other.id.PeerID() || m == tm.archID.PeerID() {
			t.Errorf("Members lists %s", m)
		}
	}
	// The blocked device and a stranger give envelopes: none is taken.
	pull(t, tm.creator.p, tm.other.p)
	if _, err := tm.other.p.AddObservation(ctx, project.Observation{Notes: "after my block"}); err == nil {
		t.Log("a blocked device wrote a record (it is refused by every peer)")
	}
	kr, _ := tm.other.p.Keyring(ctx)
	e, k, _ := kr.Current()
	vec, _ := tm.arch.Vector(ctx)
	rs, _ := tm.other.p.Missing(ctx, vec, 0)
	var envs [][]byte
	for _, r := range rs {
		b, _ := Enclose(r.Author, r.Seq, r.Block, e, k)
		envs = append(envs, b)
	}
	for _, from := range []peer.ID{tm.other.id.PeerID(), stranger.PeerID()} {
		if n, err := tm.arch.Apply(ctx, from, envs); n != 0 || err != nil {
			t.Errorf("envelopes from %s: %d taken (%v)", from, n, err)
		}
	}
}

// TestEpochAfterBlock: a blocked device that obtains a copy of the
// archive's disk opens nothing sealed after its block.
func TestEpochAfterBlock(t *testing.T) {
	tm := newTeam(t)
	c := tm.creator
	if _, err := c.p.AddObservation(ctx, project.Observation{Notes: "before the block", Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	enclose(t, c, tm.arch)
	pull(t, c.p, tm.member.p)
	pull(t, c.p, tm.other.p)
	if _, err := c.p.SetRole(ctx, tm.other.id.PeerID(), project.RoleBlocked); err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.p.AddObservation(ctx, project.Observation{Notes: "after the block", Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	enclose(t, c, tm.arch)
	// The member learns the new key from the keys record, by way of the
	// archive (the envelope of a keys record is clear).
	envs, err := tm.arch.Missing(ctx, tm.member.p.Vector(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	mkr, _ := tm.member.p.Keyring(ctx)
	var blocks [][]byte
	for _, b := range envs {
		_, block, err := Disclose(mkr, b)
		if err != nil {
			// Sealed under the new key: opened once the keys record
			// before it is applied.
			break
		}
		blocks = append(blocks, block)
	}
	if _, err := tm.member.p.Apply(ctx, blocks); err != nil {
		t.Fatal(err)
	}
	mkr, _ = tm.member.p.Keyring(ctx)
	if _, ok := mkr.Key(2); !ok {
		t.Fatalf("the member has epochs %v after the keys record", mkr.Epochs())
	}
	// The blocked device, with the archive's whole disk.
	okr, _ := tm.other.p.Keyring(ctx)
	all, _ := tm.arch.Missing(ctx, nil, 1000)
	opened, after := 0, 0
	for _, b := range all {
		e, block, err := Disclose(okr, b)
		if e == nil {
			t.Fatal("envelope does not decode")
		}
		_, mineErr := func() ([]byte, error) { _, bl, err := Disclose(mkr, b); return bl, err }()
		if mineErr != nil {
			t.Fatalf("the member cannot open %s seq %d: %v", e.Author, e.Seq, mineErr)
		}
		if e.Epoch == 2 {
			after++
			if err == nil {
				t.Fatalf("the blocked device opened %s seq %d, sealed after its block", e.Author, e.Seq)
			}
			if !errors.Is(err, seal.ErrTampered) {
				t.Fatalf("unexpected error %v", err)
			}
			continue
		}
		if err == nil && len(block) > 0 {
			opened++
		}
	}
	if after == 0 || opened == 0 {
		t.Fatalf("%d envelopes after the block, %d opened from before", after, opened)
	}
}

type dbh struct{ DB *sql.DB }
