package exchange

// This file: reach beyond the local network. An always-on device with a
// public address relays for the project's members only (circuit relay
// v2, with an ACL of members); the other devices keep a reservation with
// it (they take themselves as not reachable, as a field device behind a
// NAT nearly always is), reach
// each other through it, and upgrade a relayed connection to a direct one
// by hole punching (DCUtR) where the NATs allow. PeerProgress.Path says how
// each peer is reached; whether this device itself can be reached is
// AutoNAT v2's to find out (autonat.go, Node.Reachability), and changes
// nothing here.

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Paths a peer is reached by.
const (
	PathLAN     = "lan"     // a private or loopback address: the same network
	PathDirect  = "direct"  // a public address, over the internet
	PathRelayed = "relayed" // through an always-on peer's relay
)

// reach is the node's always-on peers, as the project knows them now.
type reach struct {
	mu     sync.Mutex
	relays []peer.AddrInfo
	wake   chan struct{}
	// tried is when each member not connected was first dialled through
	// a relay: for reachGrace after, Sync does not take the connected
	// peers' "nothing more" as the end (the member may be coming).
	tried    map[peer.ID]time.Time
	passes   int       // reachLoop's passes so far
	lastPass time.Time // when the last one ended
	relayUp  time.Time // when an always-on peer last connected
}

// relayConnected: an always-on peer just connected; the members not
// connected are dialled through it at once.
func (n *Node) relayConnected(p peer.ID) {
	if !n.isArchive(p) {
		return
	}
	n.reach.mu.Lock()
	n.reach.relayUp = time.Now()
	n.reach.mu.Unlock()
	select {
	case n.reach.wake <- struct{}{}:
	default:
	}
}

// reachGrace is how long a sync waits for a member dialled through a
// relay before it counts as not there.
const reachGrace = 20 * time.Second

// reachingLocked reports whether a member first dialled through a relay
// less than reachGrace ago is still not connected. Called with n.mu held.
func (n *Node) reachingLocked() bool {
	n.reach.mu.Lock()
	defer n.reach.mu.Unlock()
	if len(n.reach.relays) > 0 && (n.reach.passes == 0 || n.reach.relayUp.After(n.reach.lastPass)) {
		return true // a pass is about to dial through a relay
	}
	for p, t := range n.reach.tried {
		if time.Since(t) < reachGrace {
			if _, ok := n.sessions[p]; !ok {
				return true
			}
		}
	}
	return false
}

// Relays returns the always-on peers the node uses now.
func (n *Node) Relays() []peer.AddrInfo {
	n.reach.mu.Lock()
	defer n.reach.mu.Unlock()
	return slices.Clone(n.reach.relays)
}

// SetRelays replaces the always-on peers (the project learnt of a new one,
// or that one moved): the node dials them, holds a reservation with them
// and reaches the members through them.
func (n *Node) SetRelays(rs []peer.AddrInfo) {
	n.reach.mu.Lock()
	old := n.reach.relays
	n.reach.relays = slices.Clone(rs)
	n.reach.mu.Unlock()
	n.natRelaysChanged(append(old, rs...)) // the old ones too: they are servers no longer
	select {
	case n.reach.wake <- struct{}{}:
	default:
	}
}

// relaySource is autorelay's source of relay candidates: the always-on
// peers, never anyone else.
func (n *Node) relaySource(ctx context.Context, num int) <-chan peer.AddrInfo {
	rs := n.Relays()
	ch := make(chan peer.AddrInfo, len(rs))
	for _, r := range rs[:min(num, len(rs))] {
		ch <- r
	}
	close(ch)
	return ch
}

// reachOptions are the host options for Config's reach settings.
func (n *Node) reachOptions() []libp2p.Option {
	cfg := n.cfg
	opts := []libp2p.Option{libp2p.EnableRelay()} // dial and accept relayed connections
	switch {
	case cfg.Relay:
		opts = append(opts,
			libp2p.EnableRelayService(relayv2.WithACL(memberACL{n}), relayv2.WithResources(relayResources())),
			libp2p.ForceReachabilityPublic(),
		)
		// Not libp2p's AutoNAT (v1) service, which dials back whoever
		// asks: the AutoNAT v2 server of autonat.go serves members only.
	case len(cfg.AnnounceAddrs) > 0:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case !cfg.InviteOnly:
		// Behind a NAT, as a field device nearly always is, until
		// proved otherwise, and even then: it holds a reservation with
		// the project's own always-on peers whatever (none: nothing
		// happens), which costs them little, and hole punching makes the
		// connections direct where the NATs allow. AutoNAT v2
		// (autonat.go) finds whether it can be reached, to tell the
		// user; it does not change this: reachable or not, the
		// reservation stays.
		opts = append(opts,
			libp2p.EnableAutoRelayWithPeerSource(n.relaySource,
				autorelay.WithBootDelay(0), autorelay.WithMinInterval(5*time.Second),
				autorelay.WithMinCandidates(1), autorelay.WithNumRelays(2),
				autorelay.WithBackoff(30*time.Second)),
			libp2p.EnableHolePunching(),
			libp2p.ForceReachabilityPrivate(),
		)
	}
	if len(cfg.AnnounceAddrs) > 0 {
		announce := cfg.AnnounceAddrs
		opts = append(opts, libp2p.AddrsFactory(func(own []ma.Multiaddr) []ma.Multiaddr {
			out := append([]ma.Multiaddr{}, announce...)
			for _, a := range own {
				if !containsAddr(out, a) {
					out = append(out, a)
				}
			}
			return out
		}))
	}
	return opts
}

func containsAddr(as []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, x := range as {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

// relayResources are the relay's limits: fit for photos, not for the
// internet at large. The ACL admits the project's members only, so a
// relayed connection between two members has no limit of duration or
// bytes (the library's defaults, 2 minutes and 128 KiB, would cut an
// original in the middle); reservations last an hour and are renewed.
func relayResources() relayv2.Resources {
	r := relayv2.DefaultResources()
	r.Limit = nil
	r.ReservationTTL = time.Hour
	r.MaxReservations = 256
	r.MaxCircuits = 32
	r.MaxReservationsPerIP = 64 // several phones behind one village hotspot
	r.MaxReservationsPerASN = 256
	r.BufferSize = 64 << 10
	return r
}

// memberACL lets the project's members, and nobody else, reserve a slot
// on this relay. Members connect through it to members; a device that is
// not a member (nor blocked) connects through it to coordinators only, so
// that it can redeem an invite whose code names this relay: a coordinator
// speaks nothing but the invite protocol to a device that is not a
// member.
type memberACL struct{ n *Node }

func (a memberACL) AllowReserve(p peer.ID, _ ma.Multiaddr) bool {
	return a.n.cfg.Access.Role(p).IsMember()
}

func (a memberACL) AllowConnect(src peer.ID, _ ma.Multiaddr, dest peer.ID) bool {
	from, to := a.n.cfg.Access.Role(src), a.n.cfg.Access.Role(dest)
	switch {
	case from.IsMember():
		return to.IsMember()
	case from == RoleNone:
		return to >= RoleCoordinator
	}
	return false
}

// pathOf says how peer p is reached now: the best of its connections
// (a direct one over a relayed one), or "" when not connected.
func (n *Node) pathOf(p peer.ID) string {
	if n.host == nil {
		return "" // a node without a host (the rate tests')
	}
	best := ""
	for _, c := range n.host.Network().ConnsToPeer(p) {
		switch path := connPath(c); {
		case path == PathLAN:
			return PathLAN
		case path == PathDirect:
			best = PathDirect
		case best == "":
			best = path
		}
	}
	return best
}

func connPath(c network.Conn) string {
	a := c.RemoteMultiaddr()
	if isCircuit(a) {
		return PathRelayed
	}
	if manet.IsPrivateAddr(a) || manet.IsIPLoopback(a) {
		return PathLAN
	}
	return PathDirect
}

// MemberLister is implemented by an Access that can list the project's
// members: a device with always-on peers (Config.Relays) dials the members
// it is not connected to through their relays.
type MemberLister interface {
	Members() []peer.ID
}

// reachLoop dials, through each always-on peer's relay, the members this
// device is not connected to: a member anywhere that holds a reservation
// there answers, and the connection is upgraded to a direct one by hole
// punching where the NATs allow. Members already connected (on the LAN,
// directly) are left alone.
func (n *Node) reachLoop() {
	defer n.wg.Done()
	ml, ok := n.cfg.Access.(MemberLister)
	if !ok {
		return
	}
	t := time.NewTimer(time.Second) // a moment for the reservations
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.reach.wake:
		}
		relays := n.Relays()
		isRelay := map[peer.ID]bool{}
		var circuits []ma.Multiaddr
		for _, r := range relays {
			isRelay[r.ID] = true
			n.keepAddrs(r.ID, r.Addrs)
			for _, a := range r.Addrs {
				if c, err := ma.NewMultiaddr(a.String() + "/p2p/" + r.ID.String() + "/p2p-circuit"); err == nil {
					circuits = append(circuits, c)
				}
			}
		}
		if len(circuits) > 0 {
			for _, m := range ml.Members() {
				if m == n.host.ID() || isRelay[m] {
					continue
				}
				if n.host.Network().Connectedness(m) == network.Connected {
					n.reach.mu.Lock()
					delete(n.reach.tried, m) // a new grace when it is next lost
					n.reach.mu.Unlock()
					continue
				}
				n.reach.mu.Lock()
				if n.reach.tried == nil {
					n.reach.tried = map[peer.ID]time.Time{}
				}
				if _, ok := n.reach.tried[m]; !ok {
					n.reach.tried[m] = time.Now()
				}
				n.reach.mu.Unlock()
				n.keepAddrs(m, circuits)
			}
		}
		n.reach.mu.Lock()
		n.reach.passes++
		n.reach.lastPass = time.Now()
		n.reach.mu.Unlock()
		t.Reset(5 * time.Second)
	}
}

// keepAddrs adds addrs to the addresses kept for p, starting a keeper for
// it if there is none (the keeper dials at once).
func (n *Node) keepAddrs(p peer.ID, addrs []ma.Multiaddr) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	k := n.known[p]
	if k == nil {
		k = &keeper{n: n, id: p, wake: make(chan struct{}, 1)}
		n.known[p] = k
		n.wg.Add(1)
		go k.run()
	}
	for _, a := range addrs {
		if !containsAddr(k.addrs, a) {
			k.addrs = append(k.addrs, a)
		}
	}
	n.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// isCircuit reports whether a is an address through a relay.
func isCircuit(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// RelayOf is the relay a circuit address goes through
// (ADDR/p2p/RELAY/p2p-circuit...), with the relay's own address when the
// circuit address gives one; false if a is not a circuit address.
func RelayOf(a ma.Multiaddr) (peer.AddrInfo, bool) {
	relay, rest := ma.SplitFunc(a, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT })
	if len(rest) == 0 {
		return peer.AddrInfo{}, false // no /p2p-circuit
	}
	ai, err := peer.AddrInfoFromP2pAddr(relay)
	if err != nil {
		return peer.AddrInfo{}, false
	}
	return *ai, true
}
