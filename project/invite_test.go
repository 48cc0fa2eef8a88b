package project

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// redeem runs both sides of an invite in process and joins on success.
func redeem(t *testing.T, inviter *Project, joiner *Identity, code *InviteCode) (*Project, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h := inviter.InviteHandler()
	rt := func(ctx context.Context, req []byte) ([]byte, error) { return h.Handle(ctx, joiner.PeerID(), req) }
	w, err := Redeem(ctx, rt, joiner, code)
	if err != nil {
		return nil, err
	}
	return Join(ctx, openDB(t), joiner, w)
}

func testAddrs() []ma.Multiaddr {
	return []ma.Multiaddr{ma.StringCast("/ip4/192.168.43.1/tcp/4001"), ma.StringCast("/ip4/192.168.43.1/udp/4001/quic-v1")}
}

func TestPickAddrs(t *testing.T) {
	in := []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001"), ma.StringCast("/ip4/0.0.0.0/tcp/4001"),
		ma.StringCast("/ip6/fe80::1/tcp/4001"), ma.StringCast("/ip6/2001:db8::1/udp/4001/quic-v1"),
		ma.StringCast("/ip4/8.8.8.8/tcp/4001"), ma.StringCast("/ip4/192.168.1.20/udp/4001/quic-v1"),
		ma.StringCast("/ip4/192.168.1.20/tcp/4001"), ma.StringCast("/ip4/192.168.1.20/tcp/4001")}
	got := pickAddrs(in)
	want := []string{"/ip4/192.168.1.20/udp/4001/quic-v1", "/ip4/192.168.1.20/tcp/4001", "/ip4/8.8.8.8/tcp/4001", "/ip6/2001:db8::1/udp/4001/quic-v1"}
	if len(got) != len(want) {
		t.Fatal(got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("%d: %v", i, got)
		}
	}
	if got := pickAddrs(in[:1]); len(got) != 1 {
		t.Fatal("loopback only: dropped")
	}
	// Addresses through always-on devices' relays come after the direct
	// ones, two at most, and fit in the code.
	relay := "/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp/p2p-circuit"
	circuits := []ma.Multiaddr{ma.StringCast("/ip4/203.0.113.5/udp/4747/quic-v1" + relay),
		ma.StringCast("/ip4/203.0.113.5/tcp/4747" + relay), ma.StringCast("/ip6/2001:db8::5/tcp/4747" + relay)}
	got = pickAddrs(append(circuits, in...))
	if len(got) != maxInviteAddrs+maxInviteCircuits || !got[4].Equal(circuits[0]) || !got[5].Equal(circuits[1]) {
		t.Fatalf("with circuits: %v", got)
	}
	c := &InviteCode{Project: newProject(t, "p").ID(), Inviter: newIdentity(t).PeerID(), Addrs: got, Role: RoleMember, Expires: time.Now()}
	if b, err := c.MarshalBinary(); err != nil {
		t.Fatalf("a code with circuit addresses: %v", err)
	} else {
		var back InviteCode
		if err := back.UnmarshalBinary(b); err != nil || !back.Addrs[5].Equal(circuits[1]) {
			t.Fatalf("round trip: %v %v", err, back.Addrs)
		}
	}
}

func TestInviteCodeText(t *testing.T) {
	a := newProject(t, "p")
	code, err := a.Invite(ctx, InviteOptions{Addrs: testAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	s := code.String()
	t.Logf("invite code (%d chars): %s", len(s), s)
	got, err := ParseInviteCode(strings.ToLower(strings.ReplaceAll(s, "-", " ")))
	if err != nil {
		t.Fatal(err)
	}
	if got.Project != code.Project || got.Inviter != code.Inviter || got.Secret != code.Secret || got.Role != RoleMember ||
		!got.Expires.Equal(code.Expires) || len(got.Addrs) != 2 || !got.Addrs[1].Equal(code.Addrs[1]) {
		t.Fatalf("round trip: %+v", got)
	}
	// O, I and L read as 0, 1 and 1.
	alt := strings.NewReplacer("0", "O", "1", "l").Replace(s)
	if _, err := ParseInviteCode(alt); err != nil {
		t.Fatalf("look-alike letters: %v", err)
	}
	// Any single mistyped character is caught.
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		c := byte('7')
		if s[i] == '7' {
			c = '8'
		}
		typo := s[:i] + string(c) + s[i+1:]
		_, err := ParseInviteCode(typo)
		if !errors.Is(err, ErrInviteChecksum) && !errors.Is(err, ErrInviteMalformed) {
			t.Fatalf("typo at %d: %v", i, err)
		}
	}
	if _, err := ParseInviteCode(s[:len(s)-3]); err == nil {
		t.Fatal("truncated code parsed")
	}
	if _, err := ParseInviteCode(s + "U"); !errors.Is(err, ErrInviteMalformed) {
		t.Fatalf("U: %v", err)
	}
}

func TestInviteRedeem(t *testing.T) {
	a := newProject(t, "p")
	a.AddObservation(ctx, Observation{ID: "o", Created: t0})
	code, err := a.Invite(ctx, InviteOptions{Role: RoleCoordinator, Addrs: testAddrs()})
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := ParseInviteCode(code.String())
	joiner := newIdentity(t)
	b, err := redeem(t, a, joiner, parsed)
	if err != nil {
		t.Fatal(err)
	}
	if a.RoleOf(joiner.PeerID()) != RoleCoordinator || b.RoleOf(joiner.PeerID()) != RoleCoordinator || b.ID() != a.ID() {
		t.Fatal("roles after redeem")
	}
	// The joiner can write at once; sync brings the rest and the
	// pending grant finds its place in the inviter's log.
	if _, err := b.AddObservation(ctx, Observation{Created: t0}); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, a, b))
	mustOK(t, syncOnce(t, b, a))
	if n, _ := b.Observations(ctx, ObservationQuery{}); len(n) != 2 {
		t.Fatal("after sync", len(n))
	}
	// The membership record names the invite.
	ins, _ := a.Invites(ctx)
	if len(ins) != 1 || ins[0].UsedBy != joiner.PeerID() {
		t.Fatalf("invites %+v", ins)
	}

	if a.InviteHandler().Open() {
		t.Fatal("invite still open after use")
	}
	t.Run("reused by another device", func(t *testing.T) {
		_, err := redeem(t, a, newIdentity(t), parsed)
		wantErr(t, err, ErrInviteUsed)
	})
	t.Run("retried by the same device", func(t *testing.T) {
		_, err := redeem(t, a, joiner, parsed)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("one-time across restarts", func(t *testing.T) {
		a2, err := Open(ctx, a.DB(), a.Self())
		if err != nil {
			t.Fatal(err)
		}
		_, err = redeem(t, a2, newIdentity(t), parsed)
		wantErr(t, err, ErrInviteUsed)
	})
	t.Run("expired", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{TTL: time.Hour})
		a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		defer func() { a.now = time.Now }()
		_, err := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrInviteExpired) // by the inviter's clock
	})
	t.Run("revoked", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{})
		if err := a.RevokeInvite(ctx, c.ID()); err != nil {
			t.Fatal(err)
		}
		_, err := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrInviteRevoked)
	})
	t.Run("wrong secret", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{})
		x := *c
		x.Secret[0] ^= 1
		_, err := redeem(t, a, newIdentity(t), &x)
		wantErr(t, err, ErrInviteUnknown)
		// Right invite ID, wrong proof.
		h := a.InviteHandler()
		x2 := newIdentity(t).PeerID()
		resp, err := h.Handle(ctx, x2, encodeMsg(&inviteMsg{T: "hello", Invite: c.ID(), Project: linkOf(a.ID())}))
		if err != nil {
			t.Fatal(err)
		}
		ch, err := decodeMsg(resp, "challenge")
		if err != nil {
			t.Fatal(err)
		}
		proof := &inviteMsg{T: "proof", Invite: c.ID(), Project: linkOf(a.ID()), Nonce: ch.Nonce, MAC: make([]byte, 32)}
		resp, _ = h.Handle(ctx, x2, encodeMsg(proof))
		_, err = decodeMsg(resp, "welcome")
		wantErr(t, err, ErrInviteProof)
		// A nonce is good for one try only.
		proof.MAC = inviteProof(inviteMACKey(c.Secret[:]), ch.Nonce, x2, a.ID())
		resp, _ = h.Handle(ctx, x2, encodeMsg(proof))
		_, err = decodeMsg(resp, "welcome")
		wantErr(t, err, ErrInviteProtocol)
		// The invite is still usable by the right holder.
		if _, err := redeem(t, a, newIdentity(t), c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong project", func(t *testing.T) {
		other := newProject(t, "other")
		c, _ := other.Invite(ctx, InviteOptions{})
		_, err := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrWrongProject)
	})
	t.Run("members cannot invite", func(t *testing.T) {
		m := addDevice(t, a, RoleMember)
		_, err := m.Invite(ctx, InviteOptions{})
		wantErr(t, err, ErrNotAuthorized)
	})
}

func TestCoordinatorInvites(t *testing.T) {
	a := newProject(t, "p")
	co := addDevice(t, a, RoleCoordinator)
	code, err := co.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	joiner := newIdentity(t)
	j, err := redeem(t, co, joiner, code)
	if err != nil {
		t.Fatal(err)
	}
	// The welcome carried the chain: the creator's grant to co, co's
	// grant to the joiner.
	if j.RoleOf(co.Self().PeerID()) != RoleCoordinator || j.RoleOf(joiner.PeerID()) != RoleMember {
		t.Fatal("chain of authority")
	}
	// Everything converges through co, and through a.
	mustOK(t, syncOnce(t, co, j))
	mustOK(t, syncOnce(t, co, a))
	mustOK(t, syncOnce(t, a, j))
	if a.RoleOf(joiner.PeerID()) != RoleMember || !j.Vector().Covers(a.Vector()) {
		t.Fatal("not converged")
	}
}

// TestWelcomeCarriesRoster: a device that joins learns the project's other
// members from its welcome, so it can sync with them before its inviter.
func TestWelcomeCarriesRoster(t *testing.T) {
	a := newProject(t, "p")
	var others []peer.ID
	for i := 0; i < 3; i++ {
		code, err := a.Invite(ctx, InviteOptions{Addrs: testAddrs()})
		if err != nil {
			t.Fatal(err)
		}
		id := newIdentity(t)
		if _, err := redeem(t, a, id, code); err != nil {
			t.Fatal(err)
		}
		others = append(others, id.PeerID())
	}
	blocked := others[1]
	if _, err := a.SetRole(ctx, blocked, RoleBlocked); err != nil {
		t.Fatal(err)
	}
	code, _ := a.Invite(ctx, InviteOptions{Addrs: testAddrs()})
	c, err := redeem(t, a, newIdentity(t), code)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range others {
		want := RoleMember
		if id == blocked {
			want = RoleBlocked
		}
		if got := c.RoleOf(id); got != want {
			t.Errorf("new device sees %s as %q, want %q", id, got, want)
		}
	}
}
