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
// CorruptEvent, NoSpaceEvent.
type Event interface{ event() }

// PeerEvent reports a peer's state change; Reason says why it was dropped.
type PeerEvent struct {
	Peer   peer.ID
	State  PeerState
	Reason string
	Path   string // when connected: PathLAN, PathDirect or PathRelayed
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
	Rate          float64 // bytes/s of payload received from it over the last 10 s or so; 0 until known
	BytesReceived int64   // blob data and records received from it
	BytesSent     int64   // blob data and records sent to it
	InFlight      int     // requests outstanding
	// Path is how the peer is reached now: PathLAN, PathDirect (over the
	// internet) or PathRelayed (through an always-on peer); "" when not
	// connected.
	Path string
}

// Snapshot is the node's progress at one moment.
type Snapshot struct {
	Classes       [blob.NumClasses]ClassProgress // indexed by Class; blob.ClassSkeleton stays zero
	Peers         []PeerProgress                 // by peer ID
	Rate          float64                        // bytes/s of payload received over the last 10 s or so (rate.go); 0 until known
	ETA           time.Duration                  // time left to fetch what is missing, smoothed; 0 when nothing is; -1 if unknown (no rate yet, stalled, idle)
	BytesReceived int64                          // payload received: blob data frames and record batches
	BytesSent     int64                          // payload sent: blob data frames and record messages
	// Stalled is how long no payload has arrived, once that is overdue
	// (over 10 s and over three of the recent intervals between arrivals)
	// while wanted blobs are missing and being fetched; 0 otherwise, and
	// before the first bytes.
	Stalled        time.Duration
	RecordsApplied int
	LeavesFetched  int // leaves verified and stored in this run
	Refetched      int // leaf requests for leaves already verified (should stay 0)
	Duplicates     int // endgame duplicate requests sent
	// Idle is true when nothing more can be fetched from the connected
	// members right now (or everything is here); Unavailable then counts
	// the wanted blobs that every one of them said it does not have.
	Idle        bool
	Unavailable int
	// Complete is true only when every wanted blob is present and verified,
	// records have been pulled from every connected member since they
	// last announced a change, and every connected always-on peer holds
	// every blob this device holds that it wants (Archives).
	Complete bool
	// Archives are the connected always-on peers and what they still lack
	// of the blobs this device holds (upload.go).
	Archives []ArchiveProgress
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
	kept           int64 // bytes of leaves received and kept but not yet verified whole
	meter          rateMeter
	eta            etaSmoother
	clock          func() time.Time // time.Now unless a test sets it
	recordsApplied int
	leaves         int
	refetched      int
	dups           int
	complete       bool
	idle           bool
	unavailable    int
	peerMeters     map[peer.ID]*rateMeter
}

func (p *progress) now() time.Time {
	if p.clock != nil {
		return p.clock()
	}
	return time.Now()
}

func (p *progress) peer(id peer.ID) *PeerProgress {
	if p.peers == nil {
		p.peers = map[peer.ID]*PeerProgress{}
		p.peerMeters = map[peer.ID]*rateMeter{}
	}
	pp := p.peers[id]
	if pp == nil {
		pp = &PeerProgress{ID: id}
		p.peers[id] = pp
		p.peerMeters[id] = &rateMeter{}
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

// addRecv counts n bytes of payload (a DATA frame, a records batch)
// received from id.
func (p *progress) addRecv(id peer.ID, n int) {
	p.mu.Lock()
	now := p.now()
	p.recv += int64(n)
	p.peer(id).BytesReceived += int64(n)
	p.meter.add(now, n)
	p.peerMeters[id].add(now, n)
	p.mu.Unlock()
}

func (p *progress) addSent(id peer.ID, n int) {
	p.mu.Lock()
	p.sent += int64(n)
	p.peer(id).BytesSent += int64(n)
	p.mu.Unlock()
}

// left is the bytes still to fetch: wanted, less verified, less kept in
// unfinished leaves. Called with p.mu held.
func (p *progress) left() int64 {
	var left int64
	for _, c := range p.classes {
		left += c.BytesWanted - c.BytesDone
	}
	return max(left-p.kept, 0)
}

// stalled is the meter's stall while wanted blobs are being fetched.
// Called with p.mu held.
func (p *progress) stalled(now time.Time, left int64) time.Duration {
	if left <= 0 || p.idle || p.complete {
		return 0
	}
	return p.meter.stalled(now)
}

// tick updates the ETA (the scheduler calls it every 200 ms).
func (p *progress) tick(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	left := p.left()
	r, ok := p.meter.rate(now)
	ok = ok && p.stalled(now, left) == 0 && !p.idle
	p.eta.update(now, left, r, ok)
}

// snapshot is the progress at now, without the sessions' requests in
// flight.
func (p *progress) snapshot(now time.Time) Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{
		Classes:        p.classes,
		ETA:            p.eta.get(now),
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
	if r, ok := p.meter.rate(now); ok {
		s.Rate = r
	}
	left := p.left()
	s.Stalled = p.stalled(now, left)
	switch {
	case left <= 0:
		s.ETA = 0
	case s.Stalled > 0 || p.idle:
		s.ETA = -1
	}
	for _, pp := range p.peers {
		c := *pp
		c.Rate = 0
		if r, ok := p.peerMeters[pp.ID].rate(now); ok {
			c.Rate = r
		}
		s.Peers = append(s.Peers, c)
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].ID < s.Peers[j].ID })
	return s
}

// Progress returns a snapshot of the node's progress.
func (n *Node) Progress() Snapshot {
	n.mu.Lock()
	inflight := map[peer.ID]int{}
	for id, s := range n.sessions {
		inflight[id] = len(s.inflight)
	}
	n.mu.Unlock()
	s := n.prog.snapshot(n.prog.now())
	for i := range s.Peers {
		s.Peers[i].InFlight = inflight[s.Peers[i].ID]
		s.Peers[i].Path = n.pathOf(s.Peers[i].ID)
	}
	s.Archives = n.archiveProgress()
	return s
}

// setKept sets t's kept bytes (its resume offset) to v, and counts the
// change in the bytes kept in unfinished leaves, which the ETA counts as
// here. Called with n.mu held.
func (n *Node) setKept(t *task, v int) {
	d := v - t.progress
	t.progress = v
	if v > 0 {
		t.b.started = true
	}
	if d != 0 {
		n.prog.mu.Lock()
		n.prog.addKept(t.b, int64(d))
		n.prog.mu.Unlock()
	}
}

// progressChanged wakes Sync callers.
func (n *Node) progressChanged() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	n.kick()
}
