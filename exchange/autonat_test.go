package exchange

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/internal/netsim"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2/pb"
	"github.com/libp2p/go-msgio/pbio"
)

// TestReachability, on the simulated internet in virtual time: the
// project's always-on peer, as AutoNAT v2 server, tells a member with a
// public address that it can be reached there, and a member behind a NAT
// that it cannot (the NAT keeps out the server's dial back, from a port
// the member never sent to); the latter holds a reservation with the
// always-on peer all the same. A device of another project gets no
// answer from the server.
func TestReachability(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &netsim.Router{Latency: 40 * time.Millisecond}
		rs := newRoster()
		archive := simPeer(t, r, rs, "1.0.0.1", true, FilterOf(blob.ClassThumbnail), func(c *Config) { c.Relay = true })
		relays := []peer.AddrInfo{{ID: archive.id, Addrs: archive.n.Host().Addrs()}}
		public := simPeer(t, r, rs, "2.0.0.1", true, FilterArchive, func(c *Config) { c.Relays = relays })
		nat := simPeer(t, r, rs, "3.0.0.1", false, FilterArchive, func(c *Config) { c.Relays = relays })
		for _, p := range []*tpeer{public, nat} {
			if got := p.n.Reachability(); got.State() != ReachUnknown {
				t.Fatalf("before any check: %+v", got)
			}
			if err := p.n.Connect(t.Context(), relays[0]); err != nil {
				t.Fatalf("dial the always-on peer: %v", err)
			}
		}
		start := time.Now()
		waitFor(t, 10*time.Minute, "both members know their reachability", func() bool {
			return public.n.Reachability().State() != ReachUnknown && nat.n.Reachability().State() != ReachUnknown
		})
		t.Logf("decided after %s of network time", time.Since(start).Round(time.Second))
		if got := public.n.Reachability(); got.State() != ReachPublic || len(got.Reachable) != 1 || got.Reachable[0].String() != "/ip4/2.0.0.1/udp/4747/quic-v1" {
			t.Errorf("the public member: %+v", got)
		}
		got := nat.n.Reachability()
		if got.State() != ReachBehindNAT || len(got.Unreachable) != 1 || got.Unreachable[0].String() != "/ip4/3.0.0.1/udp/4747/quic-v1" {
			t.Errorf("the member behind a NAT: %+v", got)
		}
		waitFor(t, time.Minute, "the member behind a NAT holds a reservation", func() bool {
			rr := nat.n.Reachability()
			return len(rr.Relays) == 1 && rr.Relays[0] == archive.id
		})
		if a := archive.n.Reachability(); !a.AlwaysOn {
			t.Errorf("the always-on peer does not say so: %+v", a)
		}

		// A device of another project asks the server: reset unread.
		stranger := simPeer(t, r, newRoster(), "4.0.0.1", true, FilterArchive, nil)
		if err := stranger.n.Host().Connect(t.Context(), relays[0]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		s, err := stranger.n.Host().NewStream(ctx, archive.id, autonatv2.DialProtocol)
		if err == nil {
			w := pbio.NewDelimitedWriter(s)
			_ = w.WriteMsg(&pb.Message{Msg: &pb.Message_DialRequest{DialRequest: &pb.DialRequest{Addrs: [][]byte{stranger.n.Host().Addrs()[0].Bytes()}, Nonce: 1}}})
			var resp pb.Message
			err = pbio.NewDelimitedReader(s, 8192).ReadMsg(&resp)
			if err == nil {
				t.Errorf("the server answered a stranger: %v", &resp)
			}
		}
		t.Logf("stranger: %v", err)
		if stranger.n.Host().Network().Connectedness(archive.id) != network.Connected {
			t.Logf("stranger no longer connected")
		}
	})
}
