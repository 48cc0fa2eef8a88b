package exchange

import (
	"context"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/internal/netsim"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// simPeer starts a node on the simulated network at ip.
func simPeer(t *testing.T, r *netsim.Router, rs *roster, ip string, public bool, filter Filter, edit func(*Config)) *tpeer {
	t.Helper()
	k, id := newKey(t)
	rs.set(id, RoleMember)
	return startPeerCfg(t, k, rs, filter, mem.New(), newTestProject(rs, filter), func(c *Config) {
		c.ListenAddrs = []string{"/ip4/" + ip + "/udp/4747/quic-v1"}
		c.HostOptions = append(c.HostOptions, r.QUIC(public))
		if edit != nil {
			edit(c)
		}
	})
}

// waitFor polls cond every 100 ms of virtual time until it holds or d
// passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after %s: %s", d, what)
		}
	}
}

// TestReachBeyondLAN: two members behind NATs, each knowing only the
// project's always-on peer, find each other through its relay, sync a
// photo through it where no hole can be punched, and over a direct
// connection where one can; a device of another project gets no
// reservation on the relay and reaches no member through it.
func TestReachBeyondLAN(t *testing.T) {
	for _, tc := range []struct {
		name  string
		punch bool
		want  string // the path the members end on
	}{
		{"hole punched", true, PathDirect},
		{"symmetric NAT", false, PathRelayed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testReach(t, tc.punch, tc.want) })
		})
	}
}

func testReach(t *testing.T, punch bool, want string) {
	r := &netsim.Router{Latency: 40 * time.Millisecond, Punch: punch, Bandwidth: 8_000_000}
	rs := newRoster()
	// The always-on peer keeps thumbnails only here, so that b's
	// originals come from a alone and the bytes b receives say whether
	// the cut restarted them.
	archive := simPeer(t, r, rs, "1.0.0.1", true, FilterOf(blob.ClassThumbnail), func(c *Config) { c.Relay = true })
	relays := []peer.AddrInfo{{ID: archive.id, Addrs: archive.n.Host().Addrs()}}
	behindNAT := func(c *Config) { c.Relays = relays }
	a := simPeer(t, r, rs, "2.0.0.1", false, FilterArchive, behindNAT)
	b := simPeer(t, r, rs, "3.0.0.1", false, FilterArchive, behindNAT)
	photos := addPhotos(t, a.store, a.proj, a.id, 4, smallPhoto, time.Now())

	// A device of another project, behind a NAT too, that knows the
	// relay and every member's ID.
	other := newRoster()
	stranger := simPeer(t, r, other, "4.0.0.1", false, FilterArchive, nil)

	// The members hold a reservation with the always-on peer (their
	// keepers dialled it), and each dials the other through it.
	for _, p := range []*tpeer{a, b} {
		if err := p.n.Connect(t.Context(), relays[0]); err != nil {
			t.Fatalf("dial the always-on peer: %v", err)
		}
	}
	waitFor(t, time.Minute, "a and b connected", func() bool {
		return a.n.Host().Network().Connectedness(b.id) == network.Connected
	})

	// b syncs; a quarter of the way, its link is cut for 45 s (longer
	// than QUIC's idle timeout: every connection dies), then mended; the
	// sync resumes where it was, on the same kind of path.
	var total int64
	for _, ph := range photos {
		for _, bl := range ph.blobs() {
			total += bl.Size
		}
	}
	received := func() int64 {
		var n int64
		for _, pp := range b.n.Progress().Peers {
			n += pp.BytesReceived
		}
		return n
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- b.n.Sync(ctx) }()
	waitFor(t, 10*time.Minute, "a quarter of the photos received", func() bool { return received() > total/4 })
	bIP := net.ParseIP("3.0.0.1")
	r.Cut(bIP)
	time.Sleep(45 * time.Second)
	if a.n.Host().Network().Connectedness(b.id) == network.Connected {
		t.Errorf("a still connected to b 45 s into the cut")
	}
	r.Restore(bIP)
	if err := <-done; err != nil {
		t.Fatalf("sync through the internet: %v\n%+v", err, b.n.Progress())
	}
	t.Logf("%d bytes in %s of network time (45 s cut), %d bytes received", total, time.Since(start), received())
	for _, ph := range photos {
		checkHas(t, b.store, ph.blobs()...)
	}
	if got := received(); got > total+total/8 {
		t.Errorf("received %d bytes for %d: the cut restarted the transfer instead of resuming it", got, total)
	}
	waitFor(t, time.Minute, "b reached a by the "+want+" path", func() bool {
		for _, pp := range b.n.Progress().Peers {
			if pp.ID == a.id {
				return pp.Path == want
			}
		}
		return false
	})
	if !punch {
		// The network does keep them apart: a direct dial fails.
		dctx, dcancel := context.WithTimeout(network.WithForceDirectDial(t.Context(), "test"), 20*time.Second)
		defer dcancel()
		a.n.Host().Network().ClosePeer(b.id) //nolint:errcheck
		if _, err := a.n.Host().Network().DialPeer(dctx, b.id); err == nil || r.Dropped() == 0 {
			t.Errorf("a dialled b directly through two symmetric NATs (err %v, %d packets dropped)", err, r.Dropped())
		}
	}

	// The stranger: the relay refuses it a reservation, and a circuit to a
	// member.
	if err := stranger.n.Host().Connect(t.Context(), relays[0]); err != nil {
		t.Fatalf("stranger dials the relay: %v", err)
	}
	if _, err := client.Reserve(t.Context(), stranger.n.Host(), relays[0]); err == nil {
		t.Errorf("the relay gave a device of another project a reservation")
	}
	circuit := ma.StringCast(relays[0].Addrs[0].String() + "/p2p/" + archive.id.String() + "/p2p-circuit")
	cctx, ccancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer ccancel()
	err := stranger.n.Host().Connect(cctx, peer.AddrInfo{ID: a.id, Addrs: []ma.Multiaddr{circuit}})
	if err == nil {
		t.Fatalf("a device of another project reached a member through the relay")
	}
	t.Logf("stranger refused: %v", err)
}
