package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// NetOptions shape the device's network (Start, Sync, Serve).
type NetOptions struct {
	// Listen are the multiaddrs to listen on (default: TCP and QUIC on
	// every interface, on random ports).
	Listen []string
	// Peers are dialled at once and kept connected (redialled whenever a
	// link drops). Nil: the peers this device met before (the inviter
	// after a join, peers given before), as Status lists them.
	Peers []peer.AddrInfo
	// MDNS discovers the project's other devices on the local network.
	MDNS bool
	// Public are addresses this device is reachable at from anywhere (an
	// always-on device on a rented server: /ip4/203.0.113.5/udp/4747/quic-v1).
	// With them it relays for the project's members (only), and tells the
	// project where to find it (its device record), so that a device that
	// joined on a LAN reaches it later from anywhere.
	Public []ma.Multiaddr
	// HostOptions are extra libp2p options (tests: a simulated network
	// for QUIC).
	HostOptions []libp2p.Option
}

// Progress is the sync's state at one moment: per class, files and bytes
// wanted and here; per peer, state and traffic; rate, ETA, completeness.
type (
	Progress      = exchange.Snapshot
	ClassProgress = exchange.ClassProgress
	PeerProgress  = exchange.PeerProgress
)

// Reachability is whether this device can be reached from the internet,
// per public address, as the project's always-on devices found by
// dialling it back (AutoNAT v2), and which of them relay for it.
// State() sums it up: "reachable", "behind-nat" or "unknown".
type Reachability = exchange.Reachability

// Reachability states.
const (
	ReachUnknown   = exchange.ReachUnknown   // not known yet
	ReachPublic    = exchange.ReachPublic    // dialled back from the internet
	ReachBehindNAT = exchange.ReachBehindNAT // dialled back, and the dial did not get through
)

// Reachability says whether this device can be reached from the
// internet, as the project's always-on devices found by dialling it
// back. Before Start: ErrNotStarted. It is unknown until an always-on
// device answered twice (about 2 minutes with one always-on device).
func (n *Node) Reachability() (Reachability, error) {
	ex, err := n.exchange()
	if err != nil {
		return Reachability{}, err
	}
	return ex.Reachability(), nil
}

// Start starts the device's network: it listens, serves the project to
// its members, answers invites, and dials opts.Peers (else the peers met
// before). It returns once listening; the network runs until Close.
// Starting again is a no-op.
func (n *Node) Start(ctx context.Context, opts NetOptions) error {
	if a := n.archive(); a != nil {
		return n.startBlind(ctx, a, opts)
	}
	p, err := n.project()
	if err != nil {
		return err
	}
	if err := n.needStore(); err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return errors.New("node: closed")
	}
	if n.ex != nil {
		n.mu.Unlock()
		return nil
	}
	n.mu.Unlock()
	f, err := p.FilterOf(ctx, n.ID())
	if err != nil {
		return fmt.Errorf("node: read filter: %w", err)
	}
	if len(opts.Public) > 0 && p.RoleOf(n.ID()).CanWrite() {
		// Where this device is reachable from anywhere: the project
		// learns it (a signed device record, only when it changed).
		if _, err := p.SetDeviceAddrs(ctx, opts.Public); err != nil {
			return fmt.Errorf("node: publish this device's addresses: %w", err)
		}
	}
	n.setStartPeers(opts.Peers)
	// A blind archive signs no device record, so the project's records
	// never carry its address: a device given it (sync --peer) keeps it,
	// to find the archive again by itself and to name its relay in the
	// invite codes it makes.
	rememberArchives(n.dir, p, opts.Peers)
	if _, err := n.SealForArchives(ctx); err != nil {
		n.log.Warn("seal blobs for the project's blind archives", "err", err)
	}
	relays := n.alwaysOn(ctx, p)
	ex, err := exchange.New(exchange.Config{
		Key:           n.self.PrivKey(),
		ListenAddrs:   opts.Listen,
		ProjectID:     p.ID().String(),
		Store:         n.store,
		Access:        memberAccess{access{p}},
		Records:       memberRecords{spaceRecords{project.ExchangeRecords{P: p}}, n},
		Wants:         memberWants{wants{p}, n},
		Invites:       p.InviteHandler(),
		Filter:        exchange.FilterOf(f.Classes()...),
		MDNS:          opts.MDNS,
		Logger:        n.log,
		Relay:         len(opts.Public) > 0,
		Relays:        relays,
		AnnounceAddrs: opts.Public,
		HostOptions:   opts.HostOptions,
		Ledger:        ledger{n},
	})
	if err != nil {
		return fmt.Errorf("node: start network: %w", err)
	}
	n.beginRun(ctx)
	mark := n.fixityMark(ctx)
	done, stop := make(chan struct{}), make(chan struct{})
	n.pumped.Store(0)
	go n.pump(ex.Events(), done, stop)
	if err := ex.Start(ctx); err != nil {
		close(stop)
		ex.Close()
		<-done
		return fmt.Errorf("node: start network: %w", err)
	}
	n.mu.Lock()
	if n.closed || n.ex != nil {
		n.mu.Unlock()
		close(stop)
		ex.Close()
		<-done
		return nil
	}
	n.ex, n.exDone, n.exStop = ex, done, stop
	n.mu.Unlock()
	go n.watch(p, ex, opts.MDNS, stop)
	go n.watchFixity(ex, mark, stop)

	peers := opts.Peers
	if peers == nil {
		peers, _ = knownPeers(n.dir)
	}
	peers = append(peers, relays...)
	seen := map[peer.ID]bool{n.ID(): true}
	for _, ai := range peers {
		if seen[ai.ID] {
			continue
		}
		seen[ai.ID] = true
		go func(ai peer.AddrInfo) {
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = ex.Connect(cctx, ai) // the exchange keeps redialling
		}(ai)
	}
	return nil
}

// watchEvery is how often a running network looks for records that
// another process stored (a block from the command line beside a serve).
const watchEvery = 250 * time.Millisecond

// watch applies what other processes write to the data directory while
// the network runs: a role they change takes effect here within a second
// (a blocked device's sessions are cut), and records they add are offered
// to peers. With mDNS, it also advertises the open invites on the local
// network, for joiners with a short code (an invite made by 'fieldsync
// invite' beside a serve included).
func (n *Node) watch(p *project.Project, ex *exchange.Node, lan bool, stop <-chan struct{}) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	var invites string
	for i := 0; ; i++ {
		if lan && i%4 == 0 {
			if ids, err := p.OpenInvites(context.Background()); err == nil {
				tags := make([]string, len(ids))
				for k, id := range ids {
					tags[k] = project.InviteTag(id)
				}
				if key := strings.Join(tags, ","); key != invites {
					invites = key
					ex.AdvertiseInvites(tags)
				}
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if i%20 == 19 {
			// A record may have told of a new always-on device, or
			// that one moved.
			n.refreshRelays(context.Background(), ex)
			n.blindChores(context.Background())
		}
		changed, err := p.Refresh(context.Background())
		if err != nil {
			n.log.Warn("watch the database", "err", err)
			continue
		}
		if changed {
			n.refreshRelays(context.Background(), ex)
			n.checkRoles()
			n.notify()
			n.hub.publish(ObservationsEvent{})
		}
	}
}

// fixityEvery is how often a running network looks in the fixity log for
// blobs that a check outside it (fieldsync verify beside a serve) took out
// of the store.
const fixityEvery = time.Second

// fixityMark is where the fixity log ends now (0 if it cannot be read:
// then every damaged blob still missing is told once more).
func (n *Node) fixityMark(ctx context.Context) int64 {
	m, err := n.store.FixityMark(ctx)
	if err != nil {
		n.log.Warn("read the fixity log", "err", err)
	}
	return m
}

// watchFixity hands the exchange each blob that a check logged after mark
// found damaged or missing and that is still not stored, so that it says
// so and fetches the blob again (the check of another process quarantines
// beside this one, which would otherwise serve and count it as here).
func (n *Node) watchFixity(ex *exchange.Node, mark int64, stop <-chan struct{}) {
	t := time.NewTicker(fixityEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		reps, next, err := n.store.FixityProblems(context.Background(), mark)
		if err != nil {
			n.log.Warn("watch the fixity log", "err", err)
			continue
		}
		mark = next
		for _, r := range reps {
			ex.Refetch(r)
		}
	}
}

// exchange returns the running exchange node, or ErrNotStarted.
func (n *Node) exchange() (*exchange.Node, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ex == nil {
		return nil, ErrNotStarted
	}
	return n.ex, nil
}

// Running reports whether the network is started.
func (n *Node) Running() bool {
	_, err := n.exchange()
	return err == nil
}

// Addrs are the addresses this device listens on, each ending in
// /p2p/<its peer ID> (none before Start).
func (n *Node) Addrs() []ma.Multiaddr {
	ex, err := n.exchange()
	if err != nil {
		return nil
	}
	return ex.Addrs()
}

// Connect dials a peer and keeps it connected (redialled whenever the link
// drops) until Close. It returns the first dial's error. The peer is
// remembered for later runs.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	ex, err := n.exchange()
	if err != nil {
		return err
	}
	_ = rememberPeers(n.dir, ai)
	return ex.Connect(ctx, ai)
}

// Progress is the sync's state now (zero before Start).
func (n *Node) Progress() Progress {
	ex, err := n.exchange()
	if err != nil {
		return Progress{ETA: -1}
	}
	return ex.Progress()
}

// notify tells the running exchange that local records, wants or roles
// changed.
func (n *Node) notify() {
	if ex, err := n.exchange(); err == nil {
		ex.Notify()
	}
}

// SyncOptions shape Sync.
type SyncOptions struct {
	// NetOptions start the network if it is not started yet.
	NetOptions
	// PeerWait bounds the wait for a first member to connect (default
	// 60 s); past it Sync fails with ErrNoPeer.
	PeerWait time.Duration
}

// SyncResult is how a sync ended.
type SyncResult struct {
	// Complete: everything this device wants is present and verified.
	// When false, the connected peers had nothing more of what is wanted:
	// the rest comes at a later sync with a device that has it.
	Complete bool
	// Met: a member connected (false when Sync ended while waiting for
	// the first one).
	Met      bool
	Progress Progress
}

// Sync starts the network if needed, waits for a member to connect, pulls
// the records of every connected member and fetches what this device
// wants, in priority order, from every peer that has it. It returns when
// everything wanted is here, or when the connected peers have nothing more
// of it (SyncResult.Complete tells which), or when ctx ends (the result
// then says how far it got, with ctx's error). Interrupted, the next Sync
// resumes where this one stopped. When the disk holding the data
// directory fills, it stops fetching at once and returns a *SpaceError
// (ErrNoSpace) whose Need is the wanted bytes not here yet; the leaves
// and blobs verified stay, and the next Sync (once space is freed)
// resumes from them. When it returns, the events of what it did (its
// CompleteEvent included) are in every subscription that has room.
func (n *Node) Sync(ctx context.Context, opts SyncOptions) (*SyncResult, error) {
	if b := n.Blocked(ctx); b != nil {
		return &SyncResult{Progress: n.Progress()}, b
	}
	sub := n.Subscribe()
	defer sub.Close()
	if err := n.Start(ctx, opts.NetOptions); err != nil {
		return nil, err
	}
	ex, err := n.exchange()
	if err != nil {
		return nil, err
	}
	n.refreshRelays(ctx, ex)
	// A peer that refuses this device ends the sync at once when no other
	// member is connected: waiting would not change its mind. So does the
	// last connected peer dropped for sending bad data (after a moment for
	// another to come).
	// A peer's change of state also wakes the wait for the first member at
	// once, rather than at its next poll.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	peerChanged := make(chan struct{}, 1)
	go func() {
		for e := range sub.C {
			switch e := e.(type) {
			case RefusedEvent:
				if !e.Inbound && connected(ex.Progress()) == 0 {
					cancel(nil)
					return
				}
			case PeerEvent:
				select {
				case peerChanged <- struct{}{}:
				default:
				}
				if e.State == PeerDropped {
					time.AfterFunc(2*time.Second, func() {
						if connected(ex.Progress()) == 0 {
							cancel(ErrPeersDropped)
						}
					})
				}
			}
		}
	}()
	result := func(res *SyncResult, err error) (*SyncResult, error) {
		if errors.Is(context.Cause(ctx), ErrPeersDropped) && !res.Complete {
			return res, ErrPeersDropped
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			return res, err
		}
		if r := refusedBy(res.Progress); r != nil && connected(res.Progress) == 0 {
			if b := n.Blocked(ctx); b != nil {
				return res, b
			}
			return res, r
		}
		return res, err
	}
	wait := opts.PeerWait
	if wait <= 0 {
		wait = 60 * time.Second
	}
	tick := time.NewTicker(firstPeerPoll)
	defer tick.Stop()
	deadline := time.Now().Add(wait)
	for connected(ex.Progress()) == 0 {
		if time.Now().After(deadline) {
			return &SyncResult{Progress: ex.Progress()}, fmt.Errorf("%w after %s", ErrNoPeer, wait.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return result(&SyncResult{Progress: ex.Progress()}, ctx.Err())
		case <-peerChanged:
		case <-tick.C:
		}
	}
	complete, err := ex.SyncAvailable(ctx)
	for i := 0; i < 3 && err == nil && n.refreshRelays(ctx, ex); i++ {
		// The records just pulled told of an always-on device (or that
		// one moved): sync again, so that it is asked what it lacks.
		complete, err = ex.SyncAvailable(ctx)
	}
	for i := 0; i < 3 && err == nil && n.blindChores(ctx); i++ {
		// Sealed copies fetched from a blind archive were opened, or
		// blobs sealed for one: sync again, to count the first and
		// upload the second.
		complete, err = ex.SyncAvailable(ctx)
	}
	prog := ex.Progress()
	if err != nil {
		err = n.spaceError(err, wantedLeft(prog))
	}
	n.caughtUp(ex)
	return result(&SyncResult{Complete: complete && err == nil, Met: true, Progress: prog}, err)
}

// caughtUp waits, a second at most, until the pump has passed on every
// event the exchange emitted so far, so that what happened before Sync
// returns (its CompleteEvent above all) is in its caller's subscription
// when it returns: 'fieldsync sync' printed the words "everything wanted
// is present and verified" only if the pump won that race.
func (n *Node) caughtUp(ex *exchange.Node) {
	target := ex.Emitted()
	for deadline := time.Now().Add(time.Second); n.pumped.Load() < target && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// firstPeerPoll is how often Sync looks for its first member besides
// being woken by each peer's change of state: the wake is what ends the
// wait (a sync whose peer connects in 5 ms starts then, not at the next
// poll, which cost every sync 0.1 s); the poll only keeps the deadline.
var firstPeerPoll = 100 * time.Millisecond

// wantedLeft is how many wanted bytes are not here yet.
func wantedLeft(p Progress) int64 {
	var left int64
	for _, c := range p.Classes {
		left += max(c.BytesWanted-c.BytesDone, 0)
	}
	return left
}

// spaceRecords makes the database's "disk full" on applying records the
// store's (blob.IsNoSpace), so that the exchange pauses fetching on it too.
type spaceRecords struct{ project.ExchangeRecords }

func (r spaceRecords) Apply(ctx context.Context, from peer.ID, blocks [][]byte) (int, error) {
	applied, err := r.ExchangeRecords.Apply(ctx, from, blocks)
	return applied, db.NoSpace(err)
}

// refusedBy returns the refusal of a peer that refused this device, or nil.
func refusedBy(p Progress) *RefusedError {
	for _, pp := range p.Peers {
		if pp.State == exchange.PeerRefused {
			return &RefusedError{Peer: pp.ID, Err: refusal(pp.Refused)}
		}
	}
	return nil
}

// connected counts the member sessions running.
func connected(s Progress) int {
	c := 0
	for _, p := range s.Peers {
		if p.State == exchange.PeerConnected {
			c++
		}
	}
	return c
}

// ServeOptions shape Serve.
type ServeOptions struct {
	NetOptions
	// Ready, if set, is called once the device listens, before Serve
	// blocks: the place to print addresses or make an invite.
	Ready func(ServeInfo)
}

// ServeInfo describes a running Serve: the process, its peer ID and the
// addresses it listens on. While it runs, other processes on the same data
// directory read it (Status, Invite).
type ServeInfo struct {
	PID     int       `json:"pid"`
	Peer    string    `json:"peer"`
	Addrs   []string  `json:"addrs"`
	Started time.Time `json:"started"`
	// Peers are the peers connected now (updated every few seconds),
	// with how each is reached.
	Peers []ServePeer `json:"peers,omitempty"`
	// Reach is whether this device can be reached from the internet
	// (Node.Reachability), updated every few seconds.
	Reach *Reachability `json:"reach,omitempty"`
}

// ServePeer is a peer connected to a running serve.
type ServePeer struct {
	Peer peer.ID `json:"peer"`
	Path string  `json:"path"` // lan, direct (over the internet), relayed (through an always-on device)
}

func serveStatePath(dir string) string { return filepath.Join(dir, "serve.json") }

// Serve runs the device as a peer until ctx ends: it starts the network
// (Start), accepts members, syncs with them both ways and answers invites;
// what happens comes as events (Subscribe). It returns nil when ctx ends;
// partial transfers are kept for the next run. A device that is, or
// learns it is, blocked from the project gets a *BlockedError (who, when)
// and stops.
func (n *Node) Serve(ctx context.Context, opts ServeOptions) error {
	if b := n.Blocked(ctx); b != nil {
		return b
	}
	sub := n.Subscribe()
	defer sub.Close()
	if err := n.Start(ctx, opts.NetOptions); err != nil {
		return err
	}
	info := ServeInfo{PID: os.Getpid(), Peer: n.ID().String(), Started: time.Now().UTC()}
	for _, a := range n.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	// The state other processes read (status): rewritten when the
	// connected peers change.
	var wrote string
	writeState := func() {
		info.Peers = info.Peers[:0]
		for _, pp := range n.Progress().Peers {
			if pp.State == exchange.PeerConnected {
				info.Peers = append(info.Peers, ServePeer{Peer: pp.ID, Path: pp.Path})
			}
		}
		if r, err := n.Reachability(); err == nil {
			info.Reach = &r
		}
		b, err := json.Marshal(info)
		if err != nil || string(b) == wrote {
			return
		}
		tmp := serveStatePath(n.dir) + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil && os.Rename(tmp, serveStatePath(n.dir)) == nil {
			wrote = string(b)
		}
	}
	writeState()
	defer os.Remove(serveStatePath(n.dir))
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	n.mu.Lock()
	n.serving = true
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.serving = false
		n.mu.Unlock()
	}()
	if opts.Ready != nil {
		opts.Ready(info)
	}
	// A device that learns it was blocked (a peer tells it, or a record
	// says so) stops: nobody will sync with it any more.
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			writeState()
		case e, ok := <-sub.C:
			if !ok {
				return nil
			}
			if _, isPeer := e.(PeerEvent); isPeer {
				writeState()
			}
			if r, isRole := e.(RoleEvent); isRole && r.Peer == n.ID() && r.To == project.RoleBlocked {
				if b := n.Blocked(ctx); b != nil {
					return b
				}
				return ErrBlocked
			}
		}
	}
}

// RunningServe returns the state of the serve running on this data
// directory (this process or another), or nil if none runs.
func (n *Node) RunningServe() *ServeInfo {
	b, err := os.ReadFile(serveStatePath(n.dir))
	if err != nil {
		return nil
	}
	var st ServeInfo
	if err := json.Unmarshal(b, &st); err != nil || st.PID <= 0 || !processAlive(st.PID) {
		return nil
	}
	return &st
}

// The exchange's view of the project.

// exchangeRole maps a project role to the exchange's.
func exchangeRole(r project.Role) exchange.Role {
	switch r {
	case project.RoleCreator:
		return exchange.RoleCreator
	case project.RoleCoordinator:
		return exchange.RoleCoordinator
	case project.RoleMember:
		return exchange.RoleMember
	case project.RoleBlocked:
		return exchange.RoleBlocked
	case project.RoleArchive:
		return exchange.RoleArchive
	}
	return exchange.RoleNone
}

type access struct{ p *project.Project }

func (a access) Role(id peer.ID) exchange.Role { return exchangeRole(a.p.RoleOf(id)) }

// Members lists the devices that may sync (exchange.MemberLister).
func (a access) Members() []peer.ID {
	var out []peer.ID
	for _, m := range a.p.Members() {
		if m.Role.CanWrite() {
			out = append(out, m.Peer)
		}
	}
	return out
}

func sameAddrInfos(a, b []peer.AddrInfo) bool {
	return slices.EqualFunc(a, b, func(x, y peer.AddrInfo) bool {
		return x.ID == y.ID && slices.EqualFunc(x.Addrs, y.Addrs, ma.Multiaddr.Equal)
	})
}

// refreshRelays gives the exchange the project's always-on devices, if
// they changed (a record told of a new one, or that one moved), and
// reports whether they did.
func (n *Node) refreshRelays(ctx context.Context, ex *exchange.Node) (changed bool) {
	p, err := n.project()
	if err != nil {
		return false
	}
	if on := n.alwaysOn(ctx, p); !sameAddrInfos(on, ex.Relays()) {
		n.log.Info("always-on devices", "peers", on)
		ex.SetRelays(on)
		return true
	}
	return false
}

// alwaysOn returns the project's always-on devices other than self, where
// they said they are: the relays to hold a reservation with, and peers to
// dial.
func alwaysOn(ctx context.Context, p *project.Project, self peer.ID) []peer.AddrInfo {
	on, err := p.AlwaysOn(ctx)
	if err != nil {
		return nil
	}
	var out []peer.AddrInfo
	for id, addrs := range on {
		if id != self {
			out = append(out, peer.AddrInfo{ID: id, Addrs: addrs})
		}
	}
	slices.SortFunc(out, func(a, b peer.AddrInfo) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

type wants struct{ p *project.Project }

func (w wants) Wanted(ctx context.Context) ([]exchange.Want, error) {
	f, err := w.p.FilterOf(ctx, w.p.Self().PeerID())
	if err != nil {
		return nil, err
	}
	return w.under(ctx, f)
}

// WantedSince implements exchange.WantsSince with project.WantedSince.
func (w wants) WantedSince(ctx context.Context, mark int64) ([]exchange.Want, int64, error) {
	f, err := w.p.FilterOf(ctx, w.p.Self().PeerID())
	if err != nil {
		return nil, 0, err
	}
	ws, next, err := w.p.WantedSince(ctx, f, mark)
	if err != nil {
		return nil, 0, err
	}
	return exchangeWants(ws), next, nil
}

// under lists the blobs wanted under f, as the exchange sees them.
func (w wants) under(ctx context.Context, f project.Filter) ([]exchange.Want, error) {
	ws, err := w.p.WantedBlobs(ctx, f)
	if err != nil {
		return nil, err
	}
	return exchangeWants(ws), nil
}

func exchangeWants(ws []project.Want) []exchange.Want {
	out := make([]exchange.Want, len(ws))
	for i, x := range ws {
		out[i] = exchange.Want{CID: x.CID, Class: x.Class, Size: x.Size, ObservedAt: x.ObservedAt}
	}
	return out
}

// stripP2P removes a trailing /p2p/ID from addresses.
func stripP2P(in []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(in))
	for _, a := range in {
		if rest, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P {
			a = rest
		}
		if !slices.ContainsFunc(out, a.Equal) {
			out = append(out, a)
		}
	}
	return out
}
