package project

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// fixedIdentity is a deterministic identity for seeds and examples.
func fixedIdentity(seed byte) *Identity {
	k := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32))
	priv, err := crypto.UnmarshalEd25519PrivateKey(k)
	if err != nil {
		panic(err)
	}
	id, err := identityFromKey(priv)
	if err != nil {
		panic(err)
	}
	return id
}

// seedRecords returns one record of each kind, deterministic (Ed25519
// signatures are deterministic).
func seedRecords(t testing.TB) []*Record {
	creator, member := fixedIdentity(1), fixedIdentity(2)
	g, err := newRecord(creator, cid.Undef, 1, cid.Undef, &Genesis{Name: "Rio Negro survey", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newRecord(creator, g.CID, 2, g.CID, &Membership{Subject: member.PeerID(), Role: RoleMember, Time: t0, Invite: bytes.Repeat([]byte{7}, 16)})
	if err != nil {
		t.Fatal(err)
	}
	o, err := newRecord(member, g.CID, 1, cid.Undef, &Observation{ID: "4fzq5dm2c7wjx3kq", Created: t0, Updated: t0,
		Position: &Position{Lat: -0.1257, Lon: -67.0891, Accuracy: 6}, Tags: []string{"erosion"}, Notes: "bank collapse",
		Attachments: []Attachment{photo("IMG_0412.JPG")}})
	if err != nil {
		t.Fatal(err)
	}
	return []*Record{g, m, o}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range seedRecords(f) {
		f.Add(r.Block)
	}
	for _, r := range fieldRecords(f) {
		f.Add(r.Block)
	}
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data, false)
		if err != nil {
			return
		}
		if r.CID != blockCID(data) {
			t.Fatal("CID is not the block's hash")
		}
		// Anything accepted re-encodes to the same body and envelope.
		body, err := encodeBody(r)
		if err != nil {
			t.Fatalf("accepted record does not re-encode: %v", err)
		}
		if !bytes.Contains(data, body) {
			t.Fatal("body re-encodes differently")
		}
		if err := validateRecord(r); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzParseInviteCode(f *testing.F) {
	code := &InviteCode{Project: seedRecords(f)[0].CID, Inviter: fixedIdentity(1).PeerID(), Addrs: testAddrs(),
		Role: RoleMember, Expires: t0}
	f.Add(code.String())
	code.Addrs = nil
	f.Add(code.String())
	f.Add("0-0-0")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseInviteCode(s)
		if err != nil {
			return
		}
		again, err := ParseInviteCode(c.String())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		b1, _ := c.MarshalBinary()
		b2, _ := again.MarshalBinary()
		if !bytes.Equal(b1, b2) {
			t.Fatal("round trip differs")
		}
	})
}

func FuzzVectorUnmarshal(f *testing.F) {
	v := VersionVector{fixedIdentity(1).PeerID(): 12, fixedIdentity(2).PeerID(): 3}
	b, _ := v.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v VersionVector
		if err := v.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := v.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("vector round trip: %v", err)
		}
	})
}

// FuzzInviteHandle feeds arbitrary requests to the inviter's side: it must
// answer (or fail) without panicking and never grant a role.
func FuzzInviteHandle(f *testing.F) {
	p := newProject(f, "p")
	code, err := p.Invite(ctx, InviteOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeMsg(&inviteMsg{T: "hello", Invite: code.ID(), Project: linkOf(p.ID())}))
	f.Add(encodeMsg(&inviteMsg{T: "proof", Invite: code.ID(), Project: linkOf(p.ID()), Nonce: make([]byte, 32), MAC: make([]byte, 32)}))
	joiner := fixedIdentity(9).PeerID()
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, err := p.InviteHandler().Handle(ctx, joiner, req)
		if err == nil && len(resp) == 0 {
			t.Fatal("empty response")
		}
		if p.RoleOf(joiner) != RoleNone {
			t.Fatal("granted a role without the secret")
		}
	})
}

// FuzzParseShortCode: any text either parses to a code whose short form
// reads back the same, or gives an invite error; never a panic.
func FuzzParseShortCode(f *testing.F) {
	for range 4 {
		s, _ := (&InviteCode{Secret: newSecret()}).Short()
		f.Add(s)
	}
	f.Add("K7QM-2XD4-R9TP-*")
	f.Add("oooo-llll-iiii-0")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseShortCode(s)
		if err != nil {
			if !errors.Is(err, ErrInviteMalformed) && !errors.Is(err, ErrInviteChecksum) {
				t.Fatalf("%q: %v", s, err)
			}
			return
		}
		back, ok := (&InviteCode{Secret: c.secret}).Short()
		if !ok {
			t.Fatalf("%q parsed to a secret with no short form", s)
		}
		again, err := ParseShortCode(back)
		if err != nil || again.secret != c.secret {
			t.Fatalf("%q → %q → %v", s, back, err)
		}
	})
}
