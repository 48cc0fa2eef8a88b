package exchange

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// Protocol IDs.
const (
	ProtoInvite  protocol.ID = "/fieldsync/invite/1.0.0"
	ProtoRecords protocol.ID = "/fieldsync/records/1.0.0"
	ProtoBlobs   protocol.ID = "/fieldsync/blobs/1.0.0"
)

// Resource-manager service names.
const (
	svcInvite  = "fieldsync.invite"
	svcRecords = "fieldsync.records"
	svcBlobs   = "fieldsync.blobs"
)

// Errors callers branch on.
var (
	// ErrClosed is returned by a Node's methods after Close.
	ErrClosed = errors.New("exchange: node closed")
	// ErrNotMember means a peer is not a member of the project.
	ErrNotMember = errors.New("exchange: not a member")
)

// Node is one device's end of the exchange: a libp2p host serving the three
// protocols and a scheduler fetching what this device wants from every
// connected member. Its methods are safe for concurrent use.
type Node struct {
	cfg   Config
	log   *slog.Logger
	host  host.Host
	mdns  mdns.Service
	lan   invitesLAN
	reach reach
	nat   natState // AutoNAT v2 (autonat.go)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kickCh chan struct{}

	mu        sync.Mutex
	started   bool
	closed    bool
	known     map[peer.ID]*keeper   // peers to keep connected (Connect, mDNS)
	banned    map[peer.ID]string    // dropped for this session, and why
	refusedAt map[peer.ID]time.Time // when a refusal of each peer was last reported
	coolUntil map[peer.ID]time.Time // peers that refused this device: no session with them until then
	sessions  map[peer.ID]*session
	servers   map[*server]struct{}
	pulls     map[peer.ID]*pullState
	partials  map[cid.Cid]*blobState // open partial blobs, served to peers too
	sched     scheduler
	prog      progress
	events    chan Event
	emitted   atomic.Uint64 // events put on events (Emitted)
	changed   chan struct{} // closed and replaced on every progress change
	skCache   map[cid.Cid]*chunk.Skeleton
	reps      reports                      // bad data reported by peers (report.go)
	sentTo    map[peer.ID]map[cid.Cid]bool // blobs sent to each peer this run, for its reports (report.go)
	up        uploads                      // what always-on peers lack (upload.go)
	// noSpace is the store's error while a full disk pauses fetching
	// (nospace.go); noSpaceGen counts the pauses; recommit are the blobs
	// whose commit met the full disk, committed again on resuming.
	noSpace    error
	noSpaceGen uint64
	recommit   []*blobState

	// leafWrites bounds the leaves' last frames being written (verified,
	// fsynced, committed) beside the sessions' read loops.
	leafWrites chan struct{}
	// wholeLeaves counts the leaves received whole from a fast peer
	// (request.whole), for the tests.
	wholeLeaves atomic.Int64
}

// New creates a Node and its libp2p host, listening but not yet serving:
// call Start.
func New(cfg Config) (*Node, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.Access == nil || cfg.Records == nil || cfg.Wants == nil {
		return nil, errors.New("exchange: Config needs Key, Store, Access, Records and Wants")
	}
	if cfg.MDNS && cfg.ProjectID == "" {
		return nil, errors.New("exchange: mDNS needs Config.ProjectID")
	}
	if cfg.Filter == 0 {
		cfg.Filter = FilterArchive
	}
	if cfg.FrameSize <= 0 {
		cfg.FrameSize = 128 << 10
	}
	cfg.FrameSize = min(cfg.FrameSize, 256<<10)
	if len(cfg.ListenAddrs) == 0 {
		cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n := &Node{
		cfg:       cfg,
		log:       log,
		kickCh:    make(chan struct{}, 1),
		known:     map[peer.ID]*keeper{},
		banned:    map[peer.ID]string{},
		refusedAt: map[peer.ID]time.Time{},
		coolUntil: map[peer.ID]time.Time{},
		sessions:  map[peer.ID]*session{},
		servers:   map[*server]struct{}{},
		pulls:     map[peer.ID]*pullState{},
		partials:  map[cid.Cid]*blobState{},
		reach:     reach{relays: slices.Clone(cfg.Relays), wake: make(chan struct{}, 1)},
		events:    make(chan Event, 1024),
		changed:   make(chan struct{}),
		skCache:   map[cid.Cid]*chunk.Skeleton{},
	}
	n.sched.init()
	n.up.init()
	n.leafWrites = make(chan struct{}, maxLeafWrites)
	n.ctx, n.cancel = context.WithCancel(context.Background())

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	svc := rcmgr.BaseLimit{Streams: 256, StreamsInbound: 128, StreamsOutbound: 128, Memory: 256 << 20}
	perPeer := rcmgr.BaseLimit{Streams: 16, StreamsInbound: 8, StreamsOutbound: 8, Memory: 64 << 20}
	for _, s := range []string{svcInvite, svcRecords, svcBlobs} {
		limits.AddServiceLimit(s, svc, rcmgr.BaseLimitIncrease{})
		limits.AddServicePeerLimit(s, perPeer, rcmgr.BaseLimitIncrease{})
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		return nil, fmt.Errorf("new resource manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater((*gater)(n)),
	}
	opts = append(opts, libp2p.Transport(tcp.NewTCPTransport), libp2p.Transport(quic.NewTransport))
	opts = append(opts, n.reachOptions()...)
	opts = append(opts, cfg.HostOptions...)
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("new host: %w", err)
	}
	n.host = h
	if !cfg.InviteOnly {
		if err := n.startAutoNAT(); err != nil {
			h.Close()
			return nil, fmt.Errorf("start autonat: %w", err)
		}
	}
	return n, nil
}

// ID is this device's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the underlying libp2p host (for tests and diagnostics).
func (n *Node) Host() host.Host { return n.host }

// Addrs returns this device's listen addresses, each with /p2p/<id>.
func (n *Node) Addrs() []ma.Multiaddr {
	ai := peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
	out, _ := peer.AddrInfoToP2pAddrs(&ai)
	return out
}

// Start registers the protocol handlers, starts mDNS (if configured) and
// the scheduler. The node runs until Close; ctx only bounds Start itself.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if n.started {
		n.mu.Unlock()
		return nil
	}
	n.started = true
	n.mu.Unlock()

	n.host.SetStreamHandler(ProtoInvite, n.handleInvite)
	if !n.cfg.InviteOnly {
		n.host.SetStreamHandler(ProtoRecords, n.handleRecords)
		n.host.SetStreamHandler(ProtoBlobs, n.handleBlobs)
	}
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) { n.onConnected(c.RemotePeer(), true) },
	})
	if n.cfg.MDNS {
		n.mdns = mdns.NewMdnsService(n.host, MDNSServiceName(n.cfg.ProjectID), mdnsNotifee{n})
		if err := n.mdns.Start(); err != nil {
			return fmt.Errorf("start mdns: %w", err)
		}
	}
	n.wg.Add(3 + smallWorkers)
	if n.nat.an != nil {
		n.wg.Add(1)
		go n.natLoop()
	}
	go n.schedLoop()
	go n.reachLoop()
	go n.upLoop()
	for range smallWorkers {
		go n.smallLoop()
	}
	n.sched.dirty = true
	n.kick()
	for _, c := range n.host.Network().Conns() {
		n.onConnected(c.RemotePeer(), true)
	}
	return nil
}

// MDNSServiceName is the DNS-SD service a project's devices advertise on
// the LAN: derived from the project ID, so devices of other projects never
// see (or dial) each other.
func MDNSServiceName(projectID string) string {
	sum := sha256.Sum256([]byte("fieldsync mdns\x00" + projectID))
	return "_fs-" + hex.EncodeToString(sum[:6]) + "._udp"
}

type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.host.ID() {
		return
	}
	go m.n.Connect(m.n.ctx, ai) //nolint:errcheck // the keeper retries
}

// Connect adds a peer to keep connected to (redialled at once whenever the
// connection drops, with backoff only after repeated failures) and dials it.
// Only the given addresses are ever dialled for this peer. It returns the
// first dial's error; the node keeps trying in the background regardless.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if ai.ID == n.host.ID() {
		return nil
	}
	addrs := make([]ma.Multiaddr, 0, len(ai.Addrs))
	for _, a := range ai.Addrs {
		if t, _ := peer.SplitAddr(a); t != nil {
			addrs = append(addrs, t)
		}
	}
	ai.Addrs = addrs
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	k := n.known[ai.ID]
	if k == nil {
		k = &keeper{n: n, id: ai.ID, wake: make(chan struct{}, 1)}
		n.known[ai.ID] = k
		n.wg.Add(1)
		go k.run()
	}
	k.addrs = append([]ma.Multiaddr(nil), ai.Addrs...)
	n.mu.Unlock()
	n.host.Peerstore().ClearAddrs(ai.ID)
	n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := n.host.Connect(dctx, ai)
	if err != nil {
		return fmt.Errorf("connect %s: %w", ai.ID, err)
	}
	return nil
}

// keeper redials one known peer.
type keeper struct {
	n     *Node
	id    peer.ID
	addrs []ma.Multiaddr // guarded by n.mu
	wake  chan struct{}
}

func (k *keeper) run() {
	defer k.n.wg.Done()
	fails := 0
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-k.n.ctx.Done():
			return
		case <-t.C:
		case <-k.wake:
		}
		if k.n.host.Network().Connectedness(k.id) == network.Connected {
			fails = 0
			continue
		}
		k.n.mu.Lock()
		_, banned := k.n.banned[k.id]
		cooling := time.Now().Before(k.n.coolUntil[k.id])
		addrs := k.addrs
		k.n.mu.Unlock()
		if banned || cooling || k.n.cfg.Access.Role(k.id) == RoleBlocked {
			// Not a peer that refused this device a moment ago either:
			// it would refuse again, and each time cut the connection.
			continue
		}
		ctx, cancel := context.WithTimeout(k.n.ctx, 10*time.Second)
		k.n.host.Peerstore().AddAddrs(k.id, addrs, peerstore.PermanentAddrTTL)
		err := k.n.host.Connect(ctx, peer.AddrInfo{ID: k.id, Addrs: addrs})
		cancel()
		if err == nil {
			fails = 0
			continue
		}
		fails++
		if fails >= 3 {
			// Back off after repeated failures: 250 ms doubling to 10 s.
			d := min(250*time.Millisecond<<min(fails-3, 6), 10*time.Second)
			select {
			case <-k.n.ctx.Done():
				return
			case <-time.After(d):
			}
		}
	}
}

// gater enforces access at the connection level: blocked devices and peers
// dropped for this session never get a connection, and known peers are
// dialled only at their given addresses.
type gater Node

func (g *gater) n() *Node { return (*Node)(g) }

func (g *gater) refused(p peer.ID) bool {
	n := g.n()
	n.mu.Lock()
	_, banned := n.banned[p]
	n.mu.Unlock()
	return banned || n.cfg.Access.Role(p) == RoleBlocked
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.refused(p) }

// A blocked device may connect (InterceptSecured lets it through) so that
// it can be told it is blocked: it gets a refusal with the records that
// block it on the records protocol, and nothing else; this device never
// dials it.

func (g *gater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	n := g.n()
	n.mu.Lock()
	defer n.mu.Unlock()
	k := n.known[p]
	if k == nil || len(k.addrs) == 0 {
		return true
	}
	for _, ka := range k.addrs {
		if ka.Equal(a) || isCircuit(ka) {
			// A peer reached through a relay may be dialled anywhere:
			// hole punching dials the addresses it learns.
			return true
		}
	}
	return false
}

func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *gater) InterceptSecured(dir network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	n := g.n()
	if dir == network.DirInbound && n.cfg.Access.Role(p) == RoleBlocked {
		n.mu.Lock()
		_, banned := n.banned[p]
		n.mu.Unlock()
		return !banned
	}
	return !g.refused(p)
}

func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// onConnected starts the member session with p (records pull and blob
// fetching), or disconnects p if it is blocked. fresh is a new connection:
// its records are pulled even if a session is running, since the peer may
// have restarted with records the session never heard of.
func (n *Node) onConnected(p peer.ID, fresh bool) {
	if fresh {
		n.relayConnected(p)
	}
	switch role := n.cfg.Access.Role(p); {
	case role == RoleBlocked:
		// No session. It is told it is blocked when it asks for records
		// (admit), and then cut; a session it had is cut by Notify.
		n.mu.Lock()
		_, running := n.sessions[p]
		n.mu.Unlock()
		if running {
			go n.host.Network().ClosePeer(p) //nolint:errcheck
		}
		return
	case !role.IsMember():
		// A peer this device dialled on purpose but does not know as a
		// member: ask it for records all the same. Either it is a member
		// this device has not heard of yet (its records say so and are
		// checked like any others), or it refuses, and this device can
		// say why instead of waiting.
		n.mu.Lock()
		_, dialled := n.known[p]
		ok := dialled && fresh && n.started && !n.closed && !n.cfg.InviteOnly && !time.Now().Before(n.coolUntil[p])
		n.mu.Unlock()
		if ok {
			n.pullRecords(p)
		}
		return
	}
	n.mu.Lock()
	if n.closed || !n.started {
		n.mu.Unlock()
		return
	}
	if _, ok := n.banned[p]; ok {
		n.mu.Unlock()
		go n.host.Network().ClosePeer(p) //nolint:errcheck
		return
	}
	if time.Now().Before(n.coolUntil[p]) {
		n.mu.Unlock() // it refused this device a moment ago: not yet
		return
	}
	_, running := n.sessions[p]
	if !running {
		s := newSession(n, p)
		n.sessions[p] = s
		n.prog.peerState(p, PeerConnected, "")
		n.wg.Add(1)
		go s.run()
	}
	n.mu.Unlock()
	if !running {
		n.emit(PeerEvent{Peer: p, State: PeerConnected, Path: n.pathOf(p)})
	}
	if !running || fresh {
		n.pullRecords(p)
	}
}

// Notify tells the node that local records, wants or roles changed (an
// import, an edit, a membership change): it re-reads the wants, tells every
// connected member to pull records, disconnects peers that are now blocked
// and starts sessions with peers that are now members.
func (n *Node) Notify() {
	n.mu.Lock()
	n.sched.dirty, n.sched.full = true, true
	for _, s := range n.sessions {
		s.sendChanged()
	}
	n.mu.Unlock()
	n.kick()
	for _, p := range n.host.Network().Peers() {
		if n.cfg.Access.Role(p) == RoleBlocked {
			n.host.Network().ClosePeer(p) //nolint:errcheck
			continue
		}
		n.onConnected(p, false)
	}
}

// dropPeer ends p's sessions for the rest of this run: its data failed
// verification or it broke the protocol.
func (n *Node) dropPeer(p peer.ID, reason string) {
	n.mu.Lock()
	if _, ok := n.banned[p]; ok {
		n.mu.Unlock()
		return
	}
	n.banned[p] = reason
	n.prog.peerState(p, PeerDropped, reason)
	n.mu.Unlock()
	n.log.Warn("peer dropped", "peer", p, "reason", reason)
	n.emit(PeerEvent{Peer: p, State: PeerDropped, Reason: reason})
	n.host.Network().ClosePeer(p) //nolint:errcheck
	n.kick()
}

// Close stops the node: handlers, sessions, the scheduler and the host.
// Partial blobs are closed with their state kept for the next run.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.closeLAN()
	if n.mdns != nil {
		n.mdns.Close()
	}
	n.closeAutoNAT()
	err := n.host.Close()
	n.wg.Wait()
	n.mu.Lock()
	for c, b := range n.partials {
		b.part.Close()
		delete(n.partials, c)
	}
	n.mu.Unlock()
	return err
}

func (n *Node) kick() {
	select {
	case n.kickCh <- struct{}{}:
	default:
	}
}

// emit sends an event without blocking: a consumer that falls behind loses
// events (Progress is always current).
func (n *Node) emit(e Event) {
	select {
	case n.events <- e:
		n.emitted.Add(1)
	default:
	}
}

// Emitted counts the events put on the channel (Events) so far, those
// dropped not included: a reader that counts what it took knows when it
// has every event emitted before a call returned (SyncAvailable's
// CompleteEvent among them).
func (n *Node) Emitted() uint64 { return n.emitted.Load() }

// Events returns the node's event channel. Events are dropped, never
// queued without bound, when the reader falls behind; Progress is the
// authority.
func (n *Node) Events() <-chan Event { return n.events }

// streamDeadline grows with the bytes to move: 10 s plus 1 s per 32 KiB.
func streamDeadline(bytes int) time.Time {
	return time.Now().Add(10*time.Second + time.Duration(bytes/(32<<10))*time.Second)
}
