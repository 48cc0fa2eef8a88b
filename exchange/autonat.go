package exchange

// This file: whether this device can be reached from the internet, as
// the project's always-on peers find by dialling it back (AutoNAT v2).
//
// The always-on devices (Config.Relay, or Config.AnnounceAddrs) run the
// AutoNAT v2 server, for the project's members only; every device runs
// the client, and asks the project's always-on peers only. The answer is
// what it is told and nothing more: an address is reachable once dialled
// back twice more often than it failed, unreachable once it failed twice
// more often than it got through (the library's own rule, from
// p2p/host/basic's reachability tracker), and unknown before.
//
// Why not libp2p.EnableAutoNATv2 (go-libp2p v0.51): it gives the server
// the library's default limits and no way to say who may ask, runs it on
// every device, and builds its dial-back host with the library's own
// QUIC sockets (never a test's simulated network). Why not the host's
// own reachability tracker either: it tests only addresses the host
// already takes as its own, and a device behind a NAT learns its public
// address from identify only once four peers with distinct IPs saw it
// there (observedaddrs.ActivationThresh); a device that talks to one
// server never does, and would stay "unknown" for ever. Here the
// addresses tested are the public ones the host has (a phone with a
// public IP, a server) and those the always-on peers saw this device at
// (identify's observed address: the NAT's outside, for a phone behind
// one). The server dials back from a host of its own, on another port:
// a NAT that lets in only what comes from the very address and port the
// device sent to (a port-restricted cone, a symmetric NAT) keeps it out.
// A NAT that lets in anything from an IP the device sent to (an
// address-restricted cone) lets it in, and the device is told it is
// reachable, which it then is from that server.
//
// The library's client asks one server at most every 2 minutes
// (autonatv2's throttle per server, not settable): with one always-on
// peer the first answer comes within seconds and the second, which
// decides, about 2 minutes later. A device that holds a reservation with
// an always-on peer keeps it whatever it learns here: reachable or not,
// autorelay stays as reach.go sets it.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Reachability states (Reachability.State).
const (
	ReachUnknown   = "unknown"   // not known yet
	ReachPublic    = "reachable" // dialled back from the internet
	ReachBehindNAT = "behind-nat"
)

// Reachability is whether this device can be reached from the internet,
// per address, as the project's always-on peers found by dialling it back.
type Reachability struct {
	// Reachable are addresses an always-on peer dialled back and got
	// through; Unreachable, ones where it did not; Unknown, the public
	// addresses not yet decided.
	Reachable, Unreachable, Unknown []ma.Multiaddr
	// Relays are the always-on peers this device holds a reservation
	// with: the other members reach it through them.
	Relays []peer.ID
	// AlwaysOn: this device is one of the project's always-on devices
	// (it relays for the members and answers their reachability checks).
	AlwaysOn bool
	// Checked is when an always-on peer last answered (zero: never).
	Checked time.Time
}

// State sums the addresses up: reachable when any address is, behind a
// NAT when some are not and none is, unknown otherwise.
func (r Reachability) State() string {
	switch {
	case len(r.Reachable) > 0:
		return ReachPublic
	case len(r.Unreachable) > 0:
		return ReachBehindNAT
	}
	return ReachUnknown
}

type reachabilityJSON struct {
	State       string    `json:"state"`
	Reachable   []string  `json:"reachable,omitempty"`
	Unreachable []string  `json:"unreachable,omitempty"`
	Unknown     []string  `json:"unknown,omitempty"`
	Relays      []peer.ID `json:"relays,omitempty"`
	AlwaysOn    bool      `json:"always_on,omitempty"`
	Checked     time.Time `json:"checked,omitzero"`
}

// MarshalJSON writes the addresses as strings, with State.
func (r Reachability) MarshalJSON() ([]byte, error) {
	strs := func(as []ma.Multiaddr) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.String())
		}
		return out
	}
	return json.Marshal(reachabilityJSON{r.State(), strs(r.Reachable), strs(r.Unreachable), strs(r.Unknown), r.Relays, r.AlwaysOn, r.Checked})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Reachability) UnmarshalJSON(b []byte) error {
	var j reachabilityJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	addrs := func(ss []string) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, s := range ss {
			if a, err := ma.NewMultiaddr(s); err == nil {
				out = append(out, a)
			}
		}
		return out
	}
	*r = Reachability{Reachable: addrs(j.Reachable), Unreachable: addrs(j.Unreachable), Unknown: addrs(j.Unknown),
		Relays: j.Relays, AlwaysOn: j.AlwaysOn, Checked: j.Checked}
	return nil
}

// Limits of the AutoNAT v2 server on an always-on device. Only members
// are served (a stranger's request is reset unread); each member asks at
// most every 2 minutes (the client's own throttle), so these leave room
// for a project of a few hundred devices and stop a member gone wrong.
// The server dials back only the IP it sees the request come from,
// unless the member first sends 30-100 kB (the library's amplification
// guard; dialData bounds those per minute).
const (
	autonatRPM         = 120 // requests a minute, all members together
	autonatPerPeerRPM  = 6   // requests a minute from one member
	autonatDialDataRPM = 12  // requests a minute that dial another IP
	autonatConcurrent  = 1   // requests at once from one member
)

// Confidence, as go-libp2p's reachability tracker counts it: an address
// is decided when its successes and failures (of the last maxOutcomes)
// differ by minConfidence; it is asked again until they differ by
// targetConfidence, and then every recheckEvery.
const (
	minConfidence    = 2
	targetConfidence = 3
	maxOutcomes      = targetConfidence + 2
	recheckEvery     = 30 * time.Minute
	probeEvery       = 5 * time.Second
)

// natState is the AutoNAT client's and server's state.
type natState struct {
	an      *autonatv2.AutoNAT
	dialer  host.Host     // the server's dial-back host (nil on a member)
	recheck event.Emitter // tells AutoNAT to look at a peer again

	mu       sync.Mutex
	observed map[peer.ID]ma.Multiaddr // where each always-on peer saw this device
	addrs    map[string]*addrOutcomes
	checked  time.Time
}

type addrOutcomes struct {
	addr ma.Multiaddr
	ok   []bool
	last time.Time
}

func (o *addrOutcomes) confidence() int {
	c := 0
	for _, ok := range o.ok {
		if ok {
			c++
		} else {
			c--
		}
	}
	return c
}

// alwaysOn reports whether this device is one of the project's always-on
// devices.
func (n *Node) alwaysOn() bool { return n.cfg.Relay || len(n.cfg.AnnounceAddrs) > 0 }

// startAutoNAT makes the AutoNAT v2 client (every device) and server
// (always-on devices), on the node's host.
func (n *Node) startAutoNAT() error {
	var dialer host.Host
	if n.alwaysOn() {
		// The dial-back host: another identity and other ports (the
		// protocol wants it so), the same transports, and the test's
		// network options; it dials members only.
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return err
		}
		opts := []libp2p.Option{
			libp2p.Identity(key),
			libp2p.NoListenAddrs,
			libp2p.Security(noise.ID, noise.New),
			libp2p.Security(libp2ptls.ID, libp2ptls.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
			libp2p.Transport(tcp.NewTCPTransport), libp2p.Transport(quic.NewTransport),
			libp2p.ConnectionGater(dialMembers{n}),
			libp2p.DisableRelay(),
			libp2p.DisableMetrics(),
		}
		opts = append(opts, n.cfg.HostOptions...)
		if dialer, err = libp2p.New(opts...); err != nil {
			return err
		}
	}
	var dh host.Host = keepOpen{n.host}
	if dialer != nil {
		dh = dialer
	}
	an, err := autonatv2.New(dh,
		autonatv2.WithServerRateLimit(autonatRPM, autonatPerPeerRPM, autonatDialDataRPM, autonatConcurrent))
	if err != nil {
		if dialer != nil {
			dialer.Close()
		}
		return err
	}
	if err := an.Start(natHost{n.host, n}); err != nil {
		an.Close()
		return err
	}
	recheck, err := n.host.EventBus().Emitter(new(event.EvtPeerProtocolsUpdated))
	if err != nil {
		an.Close()
		return err
	}
	n.nat = natState{an: an, dialer: dialer, recheck: recheck, observed: map[peer.ID]ma.Multiaddr{}, addrs: map[string]*addrOutcomes{}}
	return nil
}

// keepOpen is the node's host as a member's AutoNAT holds it for its
// (unused) dial-back host: AutoNAT closes that host when it closes, and
// the node closes its own.
type keepOpen struct{ host.Host }

func (keepOpen) Close() error { return nil }

// natHost is the node's host as AutoNAT sees it: the server's handler is
// set on an always-on device only, and serves members only; the client
// counts only the project's always-on peers as servers to ask.
type natHost struct {
	host.Host
	n *Node
}

func (h natHost) SetStreamHandler(pid protocol.ID, handler network.StreamHandler) {
	if pid != autonatv2.DialProtocol {
		h.Host.SetStreamHandler(pid, handler)
		return
	}
	if !h.n.alwaysOn() {
		return // a member serves nobody
	}
	h.Host.SetStreamHandler(pid, func(s network.Stream) {
		if !h.n.cfg.Access.Role(s.Conn().RemotePeer()).IsMember() {
			s.Reset()
			return
		}
		handler(s)
	})
}

func (h natHost) Peerstore() peerstore.Peerstore { return natPeers{h.Host.Peerstore(), h.n} }

// natPeers hides, from the AutoNAT client, that a peer other than the
// project's always-on peers serves AutoNAT: it never asks a stranger.
type natPeers struct {
	peerstore.Peerstore
	n *Node
}

func (ps natPeers) SupportsProtocols(p peer.ID, protos ...protocol.ID) ([]protocol.ID, error) {
	if !ps.n.isArchive(p) {
		return nil, nil
	}
	return ps.Peerstore.SupportsProtocols(p, protos...)
}

// dialMembers is the dial-back host's gater: it dials the project's
// members and nobody else.
type dialMembers struct{ n *Node }

func (g dialMembers) InterceptPeerDial(p peer.ID) bool {
	return g.n.cfg.Access.Role(p).IsMember()
}
func (g dialMembers) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g dialMembers) InterceptAccept(network.ConnMultiaddrs) bool  { return false }
func (g dialMembers) InterceptSecured(d network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return d == network.DirOutbound && g.n.cfg.Access.Role(p).IsMember()
}
func (g dialMembers) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// closeAutoNAT stops the client and the server (and the dial-back host).
func (n *Node) closeAutoNAT() {
	if n.nat.an != nil {
		n.nat.an.Close()
		n.nat.recheck.Close()
	}
}

// natRelaysChanged: the always-on peers changed; AutoNAT looks again at
// the connected ones (it counts only always-on peers as servers, and
// decided about each when it connected).
func (n *Node) natRelaysChanged(rs []peer.AddrInfo) {
	if n.nat.recheck == nil {
		return
	}
	for _, r := range rs {
		if n.host.Network().Connectedness(r.ID) == network.Connected {
			_ = n.nat.recheck.Emit(event.EvtPeerProtocolsUpdated{Peer: r.ID})
		}
	}
}

// natLoop asks the always-on peers, every probeEvery while something is
// undecided, whether this device's public addresses can be reached, and
// keeps the answers. It also keeps where each always-on peer saw this
// device (identify), the address a device behind a NAT has outside it.
func (n *Node) natLoop() {
	defer n.wg.Done()
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return
	}
	defer sub.Close()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e := <-sub.Out():
			if ev, ok := e.(event.EvtPeerIdentificationCompleted); ok && ev.ObservedAddr != nil && n.isArchive(ev.Peer) {
				n.nat.mu.Lock()
				n.nat.observed[ev.Peer] = ev.ObservedAddr
				n.nat.mu.Unlock()
			}
			continue
		case <-t.C:
		}
		n.probe()
	}
}

// candidates are the addresses to ask about: this device's public ones
// and those the always-on peers saw it at, TCP or QUIC, not through a
// relay.
func (n *Node) candidates() []ma.Multiaddr {
	var own []ma.Multiaddr
	if ah, ok := n.host.(interface{ AllAddrs() []ma.Multiaddr }); ok {
		own = ah.AllAddrs()
	} else {
		own = n.host.Addrs()
	}
	own = append(own, n.cfg.AnnounceAddrs...)
	n.nat.mu.Lock()
	for _, a := range n.nat.observed {
		own = append(own, a)
	}
	n.nat.mu.Unlock()
	var out []ma.Multiaddr
	for _, a := range own {
		if isCircuit(a) || !manet.IsPublicAddr(a) || !dialable(a) || containsAddr(out, a) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, ma.Multiaddr.Compare)
	return out
}

// dialable: an address of a transport the server dials (TCP, QUIC v1).
func dialable(a ma.Multiaddr) bool {
	last := a[len(a)-1].Code()
	return len(a) == 2 && last == ma.P_TCP || len(a) == 3 && last == ma.P_QUIC_V1
}

// probe asks one always-on peer about the addresses still undecided.
func (n *Node) probe() {
	cands := n.candidates()
	now := time.Now()
	var reqs []autonatv2.Request
	n.nat.mu.Lock()
	keep := map[string]*addrOutcomes{}
	for _, a := range cands {
		k := string(a.Bytes())
		o := n.nat.addrs[k]
		if o == nil {
			o = &addrOutcomes{addr: a}
		}
		keep[k] = o
		c := o.confidence()
		if c < targetConfidence && c > -targetConfidence || now.Sub(o.last) > recheckEvery {
			reqs = append(reqs, autonatv2.Request{Addr: a, SendDialData: true})
		}
	}
	n.nat.addrs = keep
	n.nat.mu.Unlock()
	if len(reqs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	res, err := n.nat.an.GetReachability(ctx, reqs)
	if err != nil {
		if !errors.Is(err, autonatv2.ErrNoPeers) {
			n.log.Debug("reachability check", "err", err)
		}
		return // no always-on peer to ask now (or asked a moment ago)
	}
	if res.AllAddrsRefused || res.Reachability == network.ReachabilityUnknown {
		return
	}
	n.nat.mu.Lock()
	defer n.nat.mu.Unlock()
	o := n.nat.addrs[string(res.Addr.Bytes())]
	if o == nil {
		return
	}
	o.ok = append(o.ok, res.Reachability == network.ReachabilityPublic)
	if len(o.ok) > maxOutcomes {
		o.ok = o.ok[len(o.ok)-maxOutcomes:]
	}
	o.last = time.Now()
	n.nat.checked = o.last
	n.log.Info("reachability check", "addr", res.Addr, "reachable", res.Reachability == network.ReachabilityPublic, "confidence", o.confidence())
}

// Reachability says whether this device can be reached from the
// internet, per public address, as the project's always-on peers found
// by dialling it back, and which of them relay for it.
func (n *Node) Reachability() Reachability {
	r := Reachability{AlwaysOn: n.alwaysOn()}
	cands := n.candidates()
	n.nat.mu.Lock()
	for _, a := range cands {
		c := 0
		if o := n.nat.addrs[string(a.Bytes())]; o != nil {
			c = o.confidence()
		}
		switch {
		case c >= minConfidence:
			r.Reachable = append(r.Reachable, a)
		case c <= -minConfidence:
			r.Unreachable = append(r.Unreachable, a)
		default:
			r.Unknown = append(r.Unknown, a)
		}
	}
	r.Checked = n.nat.checked
	n.nat.mu.Unlock()
	for _, a := range n.host.Addrs() {
		if ai, ok := RelayOf(a); ok && !slices.Contains(r.Relays, ai.ID) {
			r.Relays = append(r.Relays, ai.ID)
		}
	}
	return r
}
