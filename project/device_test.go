package project

import (
	"context"
	"errors"
	"strings"
	"testing"
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
