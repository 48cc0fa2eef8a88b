package project

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestShortCodeFormat: three groups of four symbols and a check; read
// back with any case, separators and O/I/L; every single wrong symbol and
// every swap of two neighbours is caught.
func TestShortCodeFormat(t *testing.T) {
	for range 200 {
		c := &InviteCode{Secret: newSecret()}
		s, ok := c.Short()
		if !ok || len(s) != 16 || strings.Count(s, "-") != 3 {
			t.Fatalf("short code %q", s)
		}
		if !IsShortCode(s) {
			t.Fatalf("%q does not look short", s)
		}
		for _, in := range []string{s, strings.ToLower(s), strings.ReplaceAll(s, "-", " "), strings.ReplaceAll(strings.ReplaceAll(s, "0", "o"), "1", "l")} {
			p, err := ParseShortCode(in)
			if err != nil || string(p.ID()) != string(c.ID()) {
				t.Fatalf("%q read back as %v, %v", in, p, err)
			}
		}
		syms := strings.ReplaceAll(s, "-", "")
		for i := range len(syms) {
			for _, r := range crockford {
				if byte(r) == syms[i] {
					continue
				}
				typo := syms[:i] + string(r) + syms[i+1:]
				if _, err := ParseShortCode(typo); err == nil {
					t.Fatalf("%q taken for %q", typo, syms)
				}
			}
			if i+1 < len(syms) && syms[i] != syms[i+1] {
				swapped := syms[:i] + string(syms[i+1]) + string(syms[i]) + syms[i+2:]
				if _, err := ParseShortCode(swapped); err == nil {
					t.Fatalf("swap %q taken for %q", swapped, syms)
				}
			}
		}
	}
	for _, bad := range []string{"", "K7QM-2XD4-R9TP", "K7QM-2XD4-R9TP-JJ", "K7QM-2XD4-R9T!-J"} {
		if _, err := ParseShortCode(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if IsShortCode(strings.Repeat("A", 40)) {
		t.Error("a full code looks short")
	}
	// A code made before short codes (a 128-bit secret) has no short form.
	old := &InviteCode{}
	old.Secret[15] = 1
	if _, ok := old.Short(); ok {
		t.Error("a 128-bit secret has a short form")
	}
}

// TestRedeemShort: a short code joins the invite's project; the full and
// short forms are one invite; a device that pretends to be the inviter
// gets no proof.
func TestRedeemShort(t *testing.T) {
	a := newProject(t, "p")
	code, err := a.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	short, _ := code.Short()
	sc, err := ParseShortCode(short)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Tag() != InviteTag(code.ID()) || len(sc.Tag()) != 12 {
		t.Fatalf("tag %q", sc.Tag())
	}
	ids, _ := a.OpenInvites(ctx)
	if len(ids) != 1 || string(ids[0]) != string(code.ID()) {
		t.Fatalf("open invites %x", ids)
	}

	// An impostor: another project's device answers the joiner; it does
	// not know the secret, so the joiner stops before proving anything.
	imp := newProject(t, "impostor")
	joiner := newIdentity(t)
	proofs := 0
	rt := func(ctx context.Context, req []byte) ([]byte, error) {
		if strings.Contains(string(req), "proof") {
			proofs++
		}
		return imp.InviteHandler().Handle(ctx, joiner.PeerID(), req)
	}
	if _, err := RedeemShort(ctx, rt, joiner, sc, imp.Self().PeerID()); !errors.Is(err, ErrInviteUnknown) && !errors.Is(err, ErrInviteProof) {
		t.Fatalf("impostor: %v", err)
	}
	if proofs != 0 {
		t.Fatal("the joiner sent a proof to an impostor")
	}

	rt = func(ctx context.Context, req []byte) ([]byte, error) {
		return a.InviteHandler().Handle(ctx, joiner.PeerID(), req)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := RedeemShort(cctx, rt, joiner, sc, a.Self().PeerID())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Join(ctx, openDB(t), joiner, w)
	if err != nil || b.ID() != a.ID() || a.RoleOf(joiner.PeerID()) != RoleMember {
		t.Fatalf("joined %v: %v", b, err)
	}
	// The full code is the same invite: used now.
	parsed, _ := ParseInviteCode(code.String())
	_, err = redeem(t, a, newIdentity(t), parsed)
	wantErr(t, err, ErrInviteUsed)
	if ids, _ := a.OpenInvites(ctx); len(ids) != 0 {
		t.Fatalf("open after use: %x", ids)
	}
}

// TestGuessingBound: past MaxWrongGuesses wrong codes in a minute the
// inviter answers ErrInviteBusy, even to the right code, until the minute
// has passed.
func TestGuessingBound(t *testing.T) {
	a := newProject(t, "p")
	now := t0
	a.now = func() time.Time { return now }
	code, err := a.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxWrongGuesses {
		guess := &InviteCode{Project: code.Project, Inviter: code.Inviter, Secret: newSecret()}
		if _, err := redeem(t, a, newIdentity(t), guess); !errors.Is(err, ErrInviteUnknown) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := redeem(t, a, newIdentity(t), code); !errors.Is(err, ErrInviteBusy) {
		t.Fatalf("after %d wrong guesses: %v", MaxWrongGuesses, err)
	}
	now = now.Add(61 * time.Second)
	if _, err := redeem(t, a, newIdentity(t), code); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}
