package exchange

import (
	"sort"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerState is where a peer stands in this run.
type PeerState int

// Peer states.
const (
	PeerDisconnected PeerState = iota
	PeerConnected              // a member session is running
	PeerDropped                // dropped for this run (bad data or protocol)
	PeerRefused                // it refused this device (Refused says why); tried again later
)

func (s PeerState) String() string {
	switch s {
	case PeerConnected:
		return "connected"
	case PeerDropped:
		return "dropped"
	case PeerRefused:
		return "refused"
	}
	return "disconnected"
}

// Event is something that happened, for progress displays and logs. It is
// one of PeerEvent, RecordsEvent, BlobEvent, CompleteEvent, RefusedEvent,
// NoSpaceEvent.
type Event interface{ event() }

// PeerEvent reports a peer's state change; Reason says why it was dropped.
type PeerEvent struct {
	Peer   peer.ID
	State  PeerState
	Reason string
}

// RecordsEvent reports records received and applied.
type RecordsEvent struct {
	From    peer.ID
	Applied int
}

// BlobEvent reports a wanted blob now complete and verified.
type BlobEvent struct {
	CID   cid.Cid
	Class blob.Class
	Size  int64
	From  peer.ID // the peer that sent its last leaf
}

// CompleteEvent reports that everything wanted is present and verified.
type CompleteEvent struct{}

// RefusedEvent reports a refusal: with Inbound, this device refused Peer
// (it is not a member: Err is wire.ErrNotMember); without, Peer refused
// this device (wire.ErrNotMember or wire.ErrBlocked), which then stops
// asking it for this run.
type RefusedEvent struct {
	Peer    peer.ID
	Err     error
	Inbound bool
}

// NoSpaceEvent reports that the store met a full disk: fetching is paused
// (Sync returns Err) until a Sync, or a minute later. Err wraps the
// store's error (blob.IsNoSpace).
type NoSpaceEvent struct{ Err error }

func (PeerEvent) event()     {}
func (NoSpaceEvent) event()  {}
func (RecordsEvent) event()  {}
func (BlobEvent) event()     {}
func (CompleteEvent) event() {}
func (RefusedEvent) event()  {}

// ClassProgress counts one class's wanted blobs (files) and bytes.
type ClassProgress struct {
	FilesDone, FilesWanted int
	BytesDone, BytesWanted int64
}

// PeerProgress is one peer's state and traffic.
type PeerProgress struct {
	ID            peer.ID
	State         PeerState
	Reason        string  // why it was dropped or refused this device
	Refused       error   // PeerRefused: wire.ErrNotMember or wire.ErrBlocked
	Filter        Filter  // what it declared it wants (0 until it says)
	Rate          float64 // bytes/s of blob data received from it, recent
	BytesReceived int64   // blob data and records received from it
	BytesSent     int64   // blob data and records sent to it
	InFlight      int     // requests outstanding
}

// Snapshot is the node's progress at one moment.
type Snapshot struct {
	Classes        [blob.NumClasses]ClassProgress // indexed by Class; blob.ClassSkeleton stays zero
	Peers          []PeerProgress                 // by peer ID
	Rate           float64                        // bytes/s of blob data received, recent
	ETA            time.Duration                  // -1 if unknown
	BytesReceived  int64                          // payload received: blob data frames and record batches
	BytesSent      int64                          // payload sent: blob data frames and record messages
	RecordsApplied int
	LeavesFetched  int // leaves verified and stored in this run
	Refetched      int // leaf requests for leaves already verified (should stay 0)
	Duplicates     int // endgame duplicate requests sent
	// Idle is true when nothing more can be fetched from the connected
	// members right now (or everything is here); Unavailable then counts
	// the wanted blobs that every one of them said it does not have.
	Idle        bool
	Unavailable int
	// Complete is true only when every wanted blob is present and verified
	// and records have been pulled from every connected member since they
	// last announced a change.
	Complete bool
}

// Files returns the totals over all classes.
func (s Snapshot) Files() (done, wanted int) {
	for _, c := range s.Classes {
		done += c.FilesDone
		wanted += c.FilesWanted
	}
	return
}

// progress is the node's counters; all fields are guarded by mu (the
// per-peer maps too), separate from Node.mu so hot paths stay cheap.
type progress struct {
	mu             sync.Mutex
	classes        [blob.NumClasses]ClassProgress
	peers          map[peer.ID]*PeerProgress
	recv, sent     int64
	rate           float64
	lastRecv       int64
	lastTick       time.Time
	recordsApplied int
	leaves         int
	refetched      int
	dups           int
	complete       bool
	idle           bool
	unavailable    int
	peerLast       map[peer.ID]int64
}

func (p *progress) peer(id peer.ID) *PeerProgress {
	if p.peers == nil {
		p.peers = map[peer.ID]*PeerProgress{}
		p.peerLast = map[peer.ID]int64{}
	}
	pp := p.peers[id]
	if pp == nil {
		pp = &PeerProgress{ID: id}
		p.peers[id] = pp
	}
	return pp
}

func (p *progress) peerState(id peer.ID, s PeerState, reason string) {
	p.mu.Lock()
	pp := p.peer(id)
	switch {
	case pp.State == PeerDropped:
	case pp.State == PeerRefused && s == PeerDisconnected: // stays refused until it connects again
	default:
		pp.State, pp.Reason, pp.Refused = s, reason, nil
	}
	p.mu.Unlock()
}

// peerRefused marks that id refused this device.
func (p *progress) peerRefused(id peer.ID, err error, reason string) {
	p.mu.Lock()
	pp := p.peer(id)
	if pp.State != PeerDropped {
		pp.State, pp.Reason, pp.Refused = PeerRefused, reason, err
	}
	p.mu.Unlock()
}

func (p *progress) peerFilter(id peer.ID, f Filter) {
	p.mu.Lock()
	p.peer(id).Filter = f
	p.mu.Unlock()
}

func (p *progress) addRecv(id peer.ID, n int) {
	p.mu.Lock()
	p.recv += int64(n)
	p.peer(id).BytesReceived += int64(n)
	p.mu.Unlock()
}

func (p *progress) addSent(id peer.ID, n int) {
	p.mu.Lock()
	p.sent += int64(n)
	p.peer(id).BytesSent += int64(n)
	p.mu.Unlock()
}

// tick updates the rates (EWMA over ~1 s).
func (p *progress) tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastTick.IsZero() {
		p.lastTick = now
		p.lastRecv = p.recv
		return
	}
	dt := now.Sub(p.lastTick).Seconds()
	if dt < 0.05 {
		return
	}
	const alpha = 0.3
	p.rate = (1-alpha)*p.rate + alpha*float64(p.recv-p.lastRecv)/dt
	p.lastRecv = p.recv
	for id, pp := range p.peers {
		pp.Rate = (1-alpha)*pp.Rate + alpha*float64(pp.BytesReceived-p.peerLast[id])/dt
		p.peerLast[id] = pp.BytesReceived
	}
	p.lastTick = now
}

// Progress returns a snapshot of the node's progress.
func (n *Node) Progress() Snapshot {
	n.mu.Lock()
	inflight := map[peer.ID]int{}
	for id, s := range n.sessions {
		inflight[id] = len(s.inflight)
	}
	n.mu.Unlock()
	p := &n.prog
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Classes:        p.classes,
		Rate:           p.rate,
		ETA:            -1,
		BytesReceived:  p.recv,
		BytesSent:      p.sent,
		RecordsApplied: p.recordsApplied,
		LeavesFetched:  p.leaves,
		Refetched:      p.refetched,
		Duplicates:     p.dups,
		Idle:           p.idle,
		Unavailable:    p.unavailable,
		Complete:       p.complete,
	}
	for _, pp := range p.peers {
		c := *pp
		c.InFlight = inflight[pp.ID]
		s.Peers = append(s.Peers, c)
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].ID < s.Peers[j].ID })
	var left int64
	for _, c := range s.Classes {
		left += c.BytesWanted - c.BytesDone
	}
	switch {
	case left <= 0:
		s.ETA = 0
	case p.rate > 1:
		s.ETA = time.Duration(float64(left) / p.rate * float64(time.Second))
	}
	return s
}

// progressChanged wakes Sync callers.
func (n *Node) progressChanged() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	n.kick()
}
