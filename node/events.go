package node

import (
	"errors"
	"sync"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Event is something that happened on this device, for logs, progress
// displays and apps. It is one of PeerEvent, RecordsEvent, BlobEvent,
// CompleteEvent, RefusedEvent, InviteEvent, RoleEvent, ObservationsEvent,
// BadDataEvent, SpaceEvent.
type Event interface{ event() }

// PeerState is where a peer stands in this run.
type PeerState = exchange.PeerState

// Peer states.
const (
	PeerDisconnected = exchange.PeerDisconnected
	PeerConnected    = exchange.PeerConnected // a member session is running
	PeerDropped      = exchange.PeerDropped   // dropped for this run (bad data or protocol)
)

// PeerEvent: a peer came (Connected), left (Disconnected) or was dropped,
// and why.
type PeerEvent struct {
	Peer   peer.ID
	State  PeerState
	Reason string
	// Path is how a connected peer is reached: "lan", "direct" (over
	// the internet) or "relayed" (through an always-on device).
	Path string
}

// RecordsEvent: records received from a peer and applied here.
type RecordsEvent struct {
	From    peer.ID
	Applied int
}

// BlobEvent: a wanted blob arrived, complete and verified.
type BlobEvent struct {
	CID   cid.Cid
	Class blob.Class
	Size  int64
	From  peer.ID // the peer that sent its last leaf
}

// CompleteEvent: everything this device wants is present and verified.
// It is not said again until records or blobs have arrived since.
type CompleteEvent struct{}

// RefusedEvent: a refusal. With Inbound, this device refused Peer (Err is
// ErrNotMember: the project does not know it). Without, Peer refused this
// device (ErrNotMember: it does not know this device as a member; or
// ErrBlocked), and this device stops asking it.
type RefusedEvent struct {
	Peer    peer.ID
	Err     error
	Inbound bool
}

// InviteEvent: a device redeemed one of this device's invites (Err nil,
// Role granted) or was refused, and Err says why (ErrInviteUsed,
// ErrInviteExpired, ErrInviteRevoked, ErrInviteUnknown, ErrInviteProof,
// ...).
type InviteEvent struct {
	Peer peer.ID
	Role project.Role
	Err  error
}

// RoleEvent: a device's role in the project changed here, by a record
// this device signed or one that arrived. A block is To == RoleBlocked;
// a new member is From == RoleNone.
type RoleEvent struct {
	Peer     peer.ID
	From, To project.Role
}

// ObservationsEvent: observations were added or changed on this device
// (by an import, an edit or records that arrived).
type ObservationsEvent struct {
	IDs []string // empty when too many changed to list
}

// SpaceEvent: the disk holding the data directory is full, so fetching
// stopped (a running Sync returns Err). It resumes at the next Sync, or
// on its own a minute later; what was verified is kept.
type SpaceEvent struct {
	Err *SpaceError // Need: the wanted bytes not here yet
}

func (PeerEvent) event()         {}
func (SpaceEvent) event()        {}
func (RecordsEvent) event()      {}
func (BlobEvent) event()         {}
func (CompleteEvent) event()     {}
func (RefusedEvent) event()      {}
func (InviteEvent) event()       {}
func (RoleEvent) event()         {}
func (ObservationsEvent) event() {}

// subBuffer is each subscriber's buffer; a subscriber that falls further
// behind misses events (Dropped counts them), the node never waits.
const subBuffer = 1024

// hub fans events out to subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// Subscription is a stream of the node's events.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	h       *hub
	mu      sync.Mutex
	dropped int
}

func (h *hub) init() { h.subs = map[*Subscription]struct{}{} }

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- e:
		default:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		close(s.c)
		delete(h.subs, s)
	}
}

// Subscribe returns a stream of the node's events from now on, until
// Close (of the subscription or the node) closes its channel. A
// subscriber must keep reading: one that falls more than a thousand
// events behind misses some (Dropped tells how many).
func (n *Node) Subscribe() *Subscription {
	c := make(chan Event, subBuffer)
	s := &Subscription{C: c, c: c, h: &n.hub}
	n.hub.mu.Lock()
	defer n.hub.mu.Unlock()
	if n.hub.closed {
		close(c)
		return s
	}
	n.hub.subs[s] = struct{}{}
	return s
}

// Close ends the subscription and closes its channel.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if _, ok := s.h.subs[s]; ok {
		delete(s.h.subs, s)
		close(s.c)
	}
}

// Dropped is the number of events missed because the subscriber was
// behind.
func (s *Subscription) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// pump turns the exchange's events into the node's until the exchange
// closes its channel... or the node closes. A CompleteEvent is passed on
// only when records or blobs arrived since the last one: the exchange
// says "complete" at each of its syncs (Sync runs several in a row), and
// a person would read the same words twice.
func (n *Node) pump(ev <-chan exchange.Event, done chan struct{}, stop <-chan struct{}) {
	defer close(done)
	news := true // records or blobs arrived since the last CompleteEvent
	for {
		var e exchange.Event
		var ok bool
		select {
		case e, ok = <-ev:
		case <-stop:
			return
		}
		if !ok {
			return
		}
		switch e := e.(type) {
		case exchange.PeerEvent:
			n.saw(e.Peer)
			n.hub.publish(PeerEvent{Peer: e.Peer, State: e.State, Reason: e.Reason, Path: e.Path})
		case exchange.RecordsEvent:
			news = news || e.Applied > 0
			n.hub.publish(RecordsEvent{From: e.From, Applied: e.Applied})
			n.checkRoles()
		case exchange.BlobEvent:
			news = true
			n.hub.publish(BlobEvent{CID: e.CID, Class: e.Class, Size: e.Size, From: e.From})
		case exchange.CompleteEvent:
			if news {
				n.hub.publish(CompleteEvent{})
			}
			news = false
		case exchange.RefusedEvent:
			if !e.Inbound {
				n.checkRoles() // a block's evidence may have come with it
			}
			n.hub.publish(RefusedEvent{Peer: e.Peer, Err: refusal(e.Err), Inbound: e.Inbound})
		case exchange.CorruptEvent:
			n.badData(e)
		case exchange.NoSpaceEvent:
			if se, ok := n.spaceError(e.Err, wantedLeft(n.Progress())).(*SpaceError); ok {
				n.hub.publish(SpaceEvent{Err: se})
			}
		}
		n.pumped.Add(1)
	}
}

// rolesOf is every member's role.
func rolesOf(p *project.Project) map[peer.ID]project.Role {
	m := map[peer.ID]project.Role{}
	for _, mb := range p.Members() {
		m[mb.Peer] = mb.Role
	}
	return m
}

// checkRoles publishes a RoleEvent for every role that changed since it
// last looked.
func (n *Node) checkRoles() {
	n.mu.Lock()
	p := n.proj
	if p == nil {
		n.mu.Unlock()
		return
	}
	old := n.roles
	cur := rolesOf(p)
	n.roles = cur
	n.mu.Unlock()
	for id, r := range cur {
		if old[id] != r {
			n.hub.publish(RoleEvent{Peer: id, From: old[id], To: r})
		}
	}
}

// refusal maps a refusal on the wire to the node's error.
func refusal(err error) error {
	if errors.Is(err, wire.ErrBlocked) {
		return ErrBlocked
	}
	return ErrNotMember
}
