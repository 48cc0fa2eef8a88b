package project

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// pipe is an in-memory InviteConn pair.
type pipe struct {
	in, out chan []byte
}

func newPipe() (*pipe, *pipe) {
	a, b := make(chan []byte, 4), make(chan []byte, 4)
	return &pipe{in: a, out: b}, &pipe{in: b, out: a}
}

func (p *pipe) Send(ctx context.Context, m []byte) error {
	select {
	case p.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipe) Recv(ctx context.Context) ([]byte, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// redeem runs both sides of an invite in process and joins on success.
func redeem(t *testing.T, inviter *Project, joiner *Identity, code *InviteCode) (*Project, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, b := newPipe()
	var serr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serr = inviter.ServeInvite(ctx, joiner.PeerID(), a)
	}()
	w, err := Redeem(ctx, b, joiner, code)
	if err != nil {
		cancel()
		wg.Wait()
		return nil, err, serr
	}
	wg.Wait()
	p, err := Join(ctx, openDB(t), joiner, w)
	return p, err, serr
}

func testAddrs() []ma.Multiaddr {
	return []ma.Multiaddr{ma.StringCast("/ip4/192.168.43.1/tcp/4001"), ma.StringCast("/ip4/192.168.43.1/udp/4001/quic-v1")}
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
	qr, err := code.QR(false)
	if err != nil || !strings.Contains(qr, "▀") {
		t.Fatalf("QR: %v", err)
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
	b, err, serr := redeem(t, a, joiner, parsed)
	if err != nil || serr != nil {
		t.Fatal(err, serr)
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

	t.Run("reused by another device", func(t *testing.T) {
		_, err, _ := redeem(t, a, newIdentity(t), parsed)
		wantErr(t, err, ErrInviteUsed)
	})
	t.Run("retried by the same device", func(t *testing.T) {
		_, err, _ := redeem(t, a, joiner, parsed)
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("one-time across restarts", func(t *testing.T) {
		a2, err := Open(ctx, a.DB(), a.Self())
		if err != nil {
			t.Fatal(err)
		}
		_, err, _ = redeem(t, a2, newIdentity(t), parsed)
		wantErr(t, err, ErrInviteUsed)
	})
	t.Run("expired", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{TTL: time.Hour})
		_, err, _ := redeem(t, a, newIdentity(t), func() *InviteCode { x := *c; x.Expires = time.Now().Add(-time.Minute); return &x }())
		wantErr(t, err, ErrInviteExpired) // caught by the joiner
		a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
		defer func() { a.now = time.Now }()
		_, err, serr := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrInviteExpired) // caught by the inviter
		wantErr(t, serr, ErrInviteExpired)
	})
	t.Run("revoked", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{})
		if err := a.RevokeInvite(ctx, c.ID()); err != nil {
			t.Fatal(err)
		}
		_, err, _ := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrInviteRevoked)
	})
	t.Run("wrong secret", func(t *testing.T) {
		c, _ := a.Invite(ctx, InviteOptions{})
		x := *c
		x.Secret[0] ^= 1
		_, err, _ := redeem(t, a, newIdentity(t), &x)
		wantErr(t, err, ErrInviteUnknown)
		// Right invite ID, wrong proof.
		p1, p2 := newPipe()
		go a.ServeInvite(ctx, peer.ID("x"), p1)
		sendMsg(ctx, p2, &inviteMsg{T: "hello", Invite: c.ID(), Project: linkOf(a.ID())})
		if _, err := recvMsg(ctx, p2, "challenge"); err != nil {
			t.Fatal(err)
		}
		sendMsg(ctx, p2, &inviteMsg{T: "proof", MAC: make([]byte, 32)})
		_, err = recvMsg(ctx, p2, "welcome")
		wantErr(t, err, ErrInviteProof)
		// The invite is still usable by the right holder.
		if _, err, _ := redeem(t, a, newIdentity(t), c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong project", func(t *testing.T) {
		other := newProject(t, "other")
		c, _ := other.Invite(ctx, InviteOptions{})
		_, err, _ := redeem(t, a, newIdentity(t), c)
		wantErr(t, err, ErrWrongProject)
	})
	t.Run("members cannot invite", func(t *testing.T) {
		m := addDevice(t, a, RoleMember)
		_, err := m.Invite(ctx, InviteOptions{})
		wantErr(t, err, ErrNotAuthorized)
	})
}
