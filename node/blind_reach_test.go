package node

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestBlindArchiveReach is issue 17's part 5 on a simulated internet, in
// virtual time: two members behind NATs of their own and one public blind
// archive. A syncs its photos to the archive (sealed) and keeps serving
// from behind its NAT; C, knowing only the archive's address, syncs: it
// gets the project through the archive (sealed records and blobs, opened
// here) and reaches A through the archive's relay, directly where the NATs
// let a hole be punched, relayed where they do not; C's link is cut for
// 45 s mid-transfer and the sync resumes. Everything arrives
// byte-identical and verified, each blob once (plain from A or sealed
// from the archive, at most 1.1× the blob bytes) and counted once.
func TestBlindArchiveReach(t *testing.T) {
	for _, tc := range []struct {
		name  string
		punch bool
		want  string
	}{
		{"hole punched", true, exchange.PathDirect},
		{"symmetric NATs", false, exchange.PathRelayed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testBlindReach(t, tc.punch, tc.want) })
		})
	}
}

func testBlindReach(t *testing.T, punch bool, wantPath string) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Hour)
	defer cancel()
	sim := newSimInternet(t, ctx, 40*time.Millisecond, 8_000_000)
	sim.r.Punch = punch

	// Setting up, A is reachable (say, on the server's network): the
	// archive and C join it. Then A goes back behind its NAT.
	a := newDevice(t, "Quebrada Sagrada")
	if err := a.Start(ctx, sim.at("5.0.0.1", true)); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Invite(ctx, InviteOptions{Role: project.RoleArchive, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	archive := newDevice(t, "")
	o := sim.at("1.0.0.1", true)
	if _, err := archive.Join(ctx, inv.Code, JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
		t.Fatalf("the archive joins: %v", err)
	}
	if !archive.IsBlind() {
		t.Fatal("an archive invite made no blind archive")
	}
	inv, err = a.Invite(ctx, InviteOptions{Role: project.RoleMember, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := newDevice(t, "")
	o = sim.at("3.0.0.1", false)
	if _, err := c.Join(ctx, inv.Code, JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
		t.Fatalf("C joins: %v", err)
	}
	dir := a.Dir()
	a.Close()
	a, err = Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })

	on := sim.at("1.0.0.1", true)
	on.Public = []ma.Multiaddr{sim.pub}
	if err := archive.Start(ctx, on); err != nil {
		t.Fatal(err)
	}
	archiveAt := []peer.AddrInfo{{ID: archive.ID(), Addrs: []ma.Multiaddr{sim.pub}}}

	// A's photos: three camera-like JPEGs, each over a leaf (several
	// sealed leaves), with their variants.
	photos := t.TempDir()
	var recs []*project.Record
	for i := range 3 {
		path := photos + "/IMG_" + string(rune('1'+i)) + ".jpg"
		jpg := synth.JPEG(1600, 1200, uint64(40+i), 95, synth.Meta{})
		if err := os.WriteFile(path, jpg, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := a.Add(ctx, []string{path}, ImportOptions{Notes: "sealed for the archive"})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	ao := sim.at("2.0.0.1", false)
	ao.Peers = archiveAt
	res, err := a.Sync(ctx, SyncOptions{NetOptions: ao})
	if err != nil || !res.Complete {
		t.Fatalf("A's sync with the archive: %v %+v", err, res)
	}
	// A keeps serving from behind its NAT (its network runs on).

	var total int64
	for _, r := range recs {
		for _, at := range r.Observation.Attachments {
			for _, v := range []*project.Variant{at.Original, at.Thumbnail, at.Preview} {
				if v != nil {
					total += v.Size
				}
			}
		}
	}
	received := func() int64 {
		var n int64
		for _, pp := range c.Progress().Peers {
			n += pp.BytesReceived
		}
		return n
	}
	co := sim.at("3.0.0.1", false)
	co.Peers = archiveAt
	done := make(chan error, 1)
	var cres *SyncResult
	start := time.Now()
	go func() {
		var err error
		cres, err = c.Sync(ctx, SyncOptions{NetOptions: co})
		done <- err
	}()
	for end := time.Now().Add(10 * time.Minute); received() < total/4; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("C received %d of %d bytes in 10 min: %+v", received(), total, c.Progress())
		}
	}
	cIP := net.ParseIP("3.0.0.1")
	sim.r.Cut(cIP)
	time.Sleep(45 * time.Second)
	sim.r.Restore(cIP)
	if err := <-done; err != nil || !cres.Complete {
		t.Fatalf("C's sync through the internet: %v %+v", err, cres)
	}
	t.Logf("%d bytes of blobs in %s of network time (45 s cut), %d received (%.3f×)", total, time.Since(start), received(), float64(received())/float64(total))
	for _, pp := range c.Progress().Peers {
		t.Logf("  from %s: %d bytes", pp.ID.ShortString(), pp.BytesReceived)
	}
	// Each blob came once: from A plain, or from the archive sealed, not
	// both (Want.AltOf); and the progress counted it once.
	if r := float64(received()) / float64(total); r > 1.1 {
		t.Errorf("C received %.3f× the blob bytes, want at most 1.1×", r)
	}
	var wanted, doneBytes int64
	for _, cp := range c.Progress().Classes {
		wanted += cp.BytesWanted
		doneBytes += cp.BytesDone
	}
	if wanted != total || doneBytes != total {
		t.Errorf("C's progress: %d of %d bytes, want %d of %d (each blob counted once)", doneBytes, wanted, total, total)
	}

	// Byte-identical and verified: every observation, every variant.
	for _, r := range recs {
		got, err := c.Observation(ctx, r.Observation.ID)
		if err != nil {
			t.Fatalf("C lacks observation %s: %v", r.Observation.ID, err)
		}
		if got.Observation.Notes != "sealed for the archive" {
			t.Errorf("notes: %q", got.Observation.Notes)
		}
		for _, at := range r.Observation.Attachments {
			for _, v := range []*project.Variant{at.Original, at.Thumbnail, at.Preview} {
				if v == nil {
					continue
				}
				want := readBlob(t, a, v)
				if have := readBlob(t, c, v); !bytes.Equal(have, want) {
					t.Errorf("blob %s differs on C", v.CID)
				}
			}
		}
	}
	// C reached A too, over the path the NATs allow.
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		path := ""
		for _, pp := range c.Progress().Peers {
			if pp.ID == a.ID() {
				path = pp.Path
			}
		}
		if path == wantPath {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("C reaches A by %q, want %q: %+v", path, wantPath, c.Progress().Peers)
		}
	}
	// And the archive read none of it: it holds sealed blobs only.
	for _, r := range recs {
		if _, err := archive.store.Stat(ctx, r.Observation.Attachments[0].Original.CID); err == nil {
			t.Errorf("the archive holds a plain original")
		}
	}
}

func readBlob(t *testing.T, n *Node, v *project.Variant) []byte {
	t.Helper()
	rc, err := n.OpenBlob(t.Context(), v.CID)
	if err != nil {
		t.Fatalf("open %s: %v", v.CID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
