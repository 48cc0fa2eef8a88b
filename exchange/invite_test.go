package exchange

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testInvites admits whoever sends the right code while open, and refuses
// with a reason otherwise.
type testInvites struct {
	open   atomic.Bool
	roster *roster
}

func (i *testInvites) Handle(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
	if !i.open.Load() || string(req) != "secret" {
		return nil, wire.ErrDenied
	}
	i.roster.set(from, RoleMember)
	i.open.Store(false)
	return []byte("welcome"), nil
}

func TestInviteThenSync(t *testing.T) {
	r := newRoster()
	k, id := newKey(t)
	r.set(id, RoleMember)
	inv := &testInvites{roster: r}
	proj := newTestProject(r, FilterArchive)
	n, err := New(Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, ProjectID: "test",
		Store: mem.New(), Access: r, Records: proj, Wants: proj, Invites: inv, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	n.Start(context.Background())
	t.Cleanup(func() { n.Close() })
	inviter := &tpeer{n: n, store: n.cfg.Store, proj: proj, key: k, id: id}
	ps := addPhotos(t, inviter.store, proj, id, 1, smallPhoto, time.Now())

	jr := newRoster()
	jr.set(id, RoleMember)
	jk, _ := newKey(t)
	joiner := startPeer(t, jk, jr, FilterArchive, mem.New())
	ctx := context.Background()

	// No invite open: refused with its reason, not a reset.
	if _, err := joiner.n.Invite(ctx, inviter.info(), []byte("secret")); !errors.Is(err, wire.ErrDenied) {
		t.Fatalf("invite while none is open: got %v, want ErrDenied", err)
	}
	inv.open.Store(true)
	if _, err := joiner.n.Invite(ctx, inviter.info(), []byte("wrong")); !errors.Is(err, wire.ErrDenied) {
		t.Fatalf("wrong code: got %v, want ErrDenied", err)
	}
	resp, err := joiner.n.Invite(ctx, inviter.info(), []byte("secret"))
	if err != nil || string(resp) != "welcome" {
		t.Fatalf("invite: %q, %v", resp, err)
	}
	connect(t, joiner, inviter)
	syncWithin(t, 30*time.Second, joiner)
	checkHas(t, joiner.store, ps[0].blobs()...)
}

func TestQUIC(t *testing.T) {
	r := newRoster()
	mk := func() *tpeer {
		k, id := newKey(t)
		r.set(id, RoleMember)
		proj := newTestProject(r, FilterArchive)
		n, err := New(Config{Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1"}, ProjectID: "test",
			Store: mem.New(), Access: r, Records: proj, Wants: proj})
		if err != nil {
			t.Fatal(err)
		}
		n.Start(context.Background())
		t.Cleanup(func() { n.Close() })
		return &tpeer{n: n, store: n.cfg.Store, proj: proj, key: k, id: id}
	}
	a, b := mk(), mk()
	ps := addPhotos(t, a.store, a.proj, a.id, 1, smallPhoto, time.Now())
	connect(t, b, a)
	syncWithin(t, 30*time.Second, b)
	checkHas(t, b.store, ps[0].blobs()...)
}
