package ui

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

type membersJSON struct {
	Members []map[string]any
}

func memberOf(t testing.TB, ms membersJSON, peer string) map[string]any {
	t.Helper()
	for _, m := range ms.Members {
		if m["peer"] == peer {
			return m
		}
	}
	t.Fatalf("%s not in %v", peer, ms.Members)
	return nil
}

// The members view: every device with its role, the invite it used and
// who made it; the creator blocks a member (and unblocks it); every
// refusal says why and writes nothing; a member may not block, and a
// blocked device may change nothing.
func TestMembers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newDevice(t)
	start(t, ctx, a)
	b := joined(t, ctx, a)
	rec := importPhoto(t, a, photo(t, t.TempDir(), "a.jpg", 1, nil))
	a, b = trade(t, a, b)
	_, c := serve(t, Config{Node: a})
	_, cb := serve(t, Config{Node: b})
	A, B := a.ID().String(), b.ID().String()

	var ms membersJSON
	c.getJSON(t, "/api/members", 200, &ms)
	if len(ms.Members) != 2 || ms.Members[0]["peer"] != A || ms.Members[0]["role"] != "creator" || ms.Members[0]["self"] != true {
		t.Fatalf("members: %v", ms.Members)
	}
	mb := memberOf(t, ms, B)
	for _, k := range []string{"peer", "name", "role", "since", "last_seen"} {
		if _, ok := mb[k]; !ok {
			t.Errorf("member lacks %q: %v", k, mb)
		}
	}
	for k := range mb {
		if !slices.Contains([]string{"peer", "name", "role", "since", "last_seen", "invite", "invited_by", "self"}, k) || strings.ToLower(k) != k {
			t.Errorf("member key %q: not one of the documented snake_case keys", k)
		}
	}
	if mb["role"] != "member" || mb["invited_by"] != A || mb["invite"] == "" || mb["self"] == true {
		t.Errorf("the member: %v", mb)
	}
	var sess struct{ Device struct{ CanManage bool } }
	c.getJSON(t, "/api/session", 200, &sess)
	if !sess.Device.CanManage {
		t.Error("the creator's session: canManage false")
	}
	cb.getJSON(t, "/api/session", 200, &sess)
	if sess.Device.CanManage {
		t.Error("a member's session: canManage true")
	}

	stranger, err := project.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	S := stranger.PeerID().String()
	block := func(p string) string { return "/api/members/" + p + "/block" }
	role := func(p string) string { return "/api/members/" + p + "/role" }
	expectRefusals(t, c, a, []refusal{
		{"block without CSRF token", "POST", block(B), nil, map[string]string{"Origin": c.base}, 403, "CSRF"},
		{"block from another origin", "POST", block(B), nil, map[string]string{"X-CSRF-Token": c.csrf, "Origin": "http://evil.example"}, 403, "cross-origin"},
		{"block a non-peer", "POST", block("nope"), nil, nil, 400, "not a peer ID"},
		{"block a stranger", "POST", block(S), nil, nil, 404, "is not a member of this project"},
		{"block itself", "POST", block(A), nil, nil, 409, "cannot block itself"},
		{"role not JSON", "POST", role(B), "member", nil, 400, "want a JSON object"},
		{"role creator", "POST", role(B), map[string]string{"role": "creator"}, nil, 400, `want "member", "coordinator" or "blocked"`},
		{"role unknown", "POST", role(B), map[string]string{"role": "wizard"}, nil, 400, `want "member"`},
		{"role as it is", "POST", role(B), map[string]string{"role": "member"}, nil, 409, "is already a member"},
		{"role of itself", "POST", role(A), map[string]string{"role": "member"}, nil, 409, "cannot change its own role"},
	})
	// A member may not block, not even a stranger.
	expectRefusals(t, cb, b, []refusal{
		{"a member blocks the creator", "POST", block(A), nil, nil, 403, "only the project's creator or a coordinator may block a device; this device is a member"},
		{"a member blocks a stranger", "POST", block(S), nil, nil, 403, "only the project's creator or a coordinator may block"},
		{"a member gives a role", "POST", role(A), map[string]string{"role": "member"}, nil, 403, "only the project's creator or a coordinator may change a device's role"},
	})

	// The creator blocks the member: one record, and the list says so.
	before := records(t, a)
	code, out := c.do(t, "POST", block(B), nil)
	if code != 200 {
		t.Fatalf("block: %d %v", code, out)
	}
	decodeMembers := func(out map[string]any) membersJSON {
		var m membersJSON
		decode(t, out, &m)
		return m
	}
	if got := memberOf(t, decodeMembers(out), B); got["role"] != "blocked" || records(t, a) != before+1 {
		t.Errorf("after block: %v, %d records written", got, records(t, a)-before)
	}
	expectRefusals(t, c, a, []refusal{
		{"block twice", "POST", block(B), nil, nil, 409, "is already blocked"},
	})
	c.getJSON(t, "/api/members", 200, &ms)
	if memberOf(t, ms, B)["role"] != "blocked" {
		t.Errorf("members after block: %v", ms.Members)
	}

	// The blocked device learns of it: it may change nothing.
	a, b = trade(t, a, b)
	_, cb = serve(t, Config{Node: b})
	obs := "/api/observations/" + rec.Observation.ID
	expectRefusals(t, cb, b, []refusal{
		{"a blocked device edits", "PATCH", obs, map[string]string{"notes": "x"}, nil, 403, "its role in the project is blocked"},
		{"a blocked device deletes", "DELETE", obs, nil, nil, 403, "its role in the project is blocked"},
		{"a blocked device keeps", "POST", obs + "/keep", map[string]string{"record": rec.CID.String()}, nil, 403, "its role in the project is blocked"},
		{"a blocked device blocks", "POST", block(A), nil, nil, 403, "this device is blocked"},
	})
	before = records(t, b)
	_, blobsBefore, _ := stored(t, b)
	code, up := cb.upload(t, nil, map[string][]byte{"a.jpg": mustRead(t, photo(t, t.TempDir(), "c.jpg", 3, nil))})
	if msg, _ := up["error"].(string); code != 403 || !strings.Contains(msg, "may not add observations: its role in the project is blocked") {
		t.Errorf("a blocked device uploads: %d %v", code, up)
	}
	if _, blobs, spooled := stored(t, b); records(t, b) != before || blobs != blobsBefore || spooled != 0 {
		t.Errorf("a refused upload stored something: %d records, %d blobs, %d spooled", records(t, b)-before, blobs-blobsBefore, spooled)
	}

	// Unblocking is giving the member role again.
	_, c = serve(t, Config{Node: a})
	code, out = c.do(t, "POST", role(B), map[string]string{"role": "member"})
	if code != 200 || memberOf(t, decodeMembers(out), B)["role"] != "member" {
		t.Errorf("unblock: %d %v", code, out)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSessionBlocked: on a device that learnt it was blocked, the session
// says by whom and when, for the page's banner.
func TestSessionBlocked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t)
	if err := a.SetName(ctx, "base camp"); err != nil {
		t.Fatal(err)
	}
	start(t, ctx, a)
	b := joined(t, ctx, a)
	opts := node.SyncOptions{NetOptions: node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Peers: []peer.AddrInfo{{ID: a.ID(), Addrs: a.Addrs()}}}}
	if _, err := b.Sync(ctx, opts); err != nil { // b learns a's name
		t.Fatal(err)
	}
	if err := a.Block(ctx, b.ID()); err != nil {
		t.Fatal(err)
	}
	_, err := b.Sync(ctx, opts)
	if !errors.Is(err, node.ErrBlocked) {
		t.Fatalf("b's sync: %v", err)
	}
	_, c := serve(t, Config{Node: b})
	var sess struct {
		Device struct {
			Role     string `json:"role"`
			CanWrite bool   `json:"canWrite"`
			Blocked  struct {
				By     string `json:"by"`
				ByName string `json:"by_name"`
			} `json:"blocked"`
		} `json:"device"`
	}
	c.getJSON(t, "/api/session", 200, &sess)
	if sess.Device.Role != "blocked" || sess.Device.CanWrite || sess.Device.Blocked.ByName != "base camp" || sess.Device.Blocked.By != a.ID().String() {
		t.Fatalf("session of a blocked device: %+v", sess)
	}
}
