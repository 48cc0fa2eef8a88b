package project

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

// TestDeviceNames: a device names itself with a record that syncs like
// any other; the latest counts; names that are not one line of text are
// refused; a blocked device's later name does not count.
func TestDeviceNames(t *testing.T) {
	ctx := context.Background()
	a := newProject(t, "river")
	b := addDevice(t, a, RoleMember)
	if _, err := b.SetDeviceName(ctx, "Maria's phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SetDeviceName(ctx, "Maria’s phone ☂"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "two\nlines", strings.Repeat("x", 65), "\x00"} {
		if _, err := b.SetDeviceName(ctx, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	mustOK(t, syncOnce(t, b, a))
	names, err := a.DeviceNames(ctx)
	if err != nil || names[b.Self().PeerID()] != "Maria’s phone ☂" {
		t.Fatalf("names on a: %v %v", names, err)
	}
	// Decoding and re-encoding a device record is exact.
	recs, _ := b.Missing(ctx, nil, 0)
	for _, raw := range recs {
		r, err := DecodeRecord(raw.Block)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind == KindDevice && (r.Device == nil || r.Device.Name == "") {
			t.Fatalf("device record decoded as %+v", r)
		}
	}
	if _, err := a.SetRole(ctx, b.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, a, b))
	if _, err := b.SetDeviceName(ctx, "stolen"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("a blocked device named itself: %v", err)
	}
}

// TestMemberInvite: a member lists the invite it redeemed and who made it.
func TestMemberInvite(t *testing.T) {
	a := newProject(t, "river")
	code, err := a.Invite(ctx, InviteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := newIdentity(t)
	rt := func(ctx context.Context, req []byte) ([]byte, error) {
		return a.InviteHandler().Handle(ctx, id.PeerID(), req)
	}
	w, err := Redeem(ctx, rt, id, code)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Join(ctx, openDB(t), id, w)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(a.Members(), b.Members()...) {
		switch m.Peer {
		case a.Self().PeerID():
			if m.Invite != nil || m.Role != RoleCreator {
				t.Fatalf("creator %+v", m)
			}
		case b.Self().PeerID():
			if len(m.Invite) == 0 || m.InvitedBy != a.Self().PeerID() || m.Joined.IsZero() {
				t.Fatalf("member %+v", m)
			}
		}
	}
}

// TestDeviceAddrs: an always-on device's addresses travel in its device
// record, with its name kept; the project lists it as always on, and no
// longer once it is blocked; more than four addresses are refused.
func TestDeviceAddrs(t *testing.T) {
	ctx := context.Background()
	a := newProject(t, "river")
	s := addDevice(t, a, RoleMember)
	if _, err := s.SetDeviceName(ctx, "archive"); err != nil {
		t.Fatal(err)
	}
	pub := []ma.Multiaddr{ma.StringCast("/ip4/203.0.113.5/udp/4747/quic-v1"), ma.StringCast("/dns4/archive.example.org/tcp/4747")}
	if r, err := s.SetDeviceAddrs(ctx, pub); err != nil || r == nil {
		t.Fatalf("set addrs: %v %v", r, err)
	}
	if r, err := s.SetDeviceAddrs(ctx, pub); err != nil || r != nil {
		t.Fatalf("the same addrs again signed %v (%v)", r, err)
	}
	five := append(slices.Clone(pub), pub[0], pub[1], pub[0])
	if _, err := s.SetDeviceAddrs(ctx, five); !errors.Is(err, ErrMalformed) {
		t.Fatalf("five addrs: %v", err)
	}
	mustOK(t, syncOnce(t, s, a))
	on, err := a.AlwaysOn(ctx)
	if err != nil || len(on) != 1 || !slices.EqualFunc(on[s.Self().PeerID()], pub, ma.Multiaddr.Equal) {
		t.Fatalf("always on, as a sees it: %v %v", on, err)
	}
	if names, _ := a.DeviceNames(ctx); names[s.Self().PeerID()] != "archive" {
		t.Fatalf("the name was lost: %v", names)
	}
	// Renaming keeps the addresses.
	if _, err := s.SetDeviceName(ctx, "archive 2"); err != nil {
		t.Fatal(err)
	}
	mustOK(t, syncOnce(t, s, a))
	if on, _ := a.AlwaysOn(ctx); len(on[s.Self().PeerID()]) != 2 {
		t.Fatalf("renaming lost the addresses: %v", on)
	}
	if _, err := a.SetRole(ctx, s.Self().PeerID(), RoleBlocked); err != nil {
		t.Fatal(err)
	}
	if on, _ := a.AlwaysOn(ctx); len(on) != 0 {
		t.Fatalf("a blocked device is still always on: %v", on)
	}
}
