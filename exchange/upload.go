package exchange

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: "safe on the archive". A device that is connected to one of
// the project's always-on peers (Config.Relays: an archive, blind or not)
// asks it which of the blobs this device holds it lacks (HAVE requests on
// the blobs stream, a few KiB each), and Sync does not report complete
// while it lacks any: the question a team asks before wiping a phone.
// What an always-on peer confirmed is kept in the Ledger, so the next
// sync asks only about blobs it has not confirmed yet (a no-op sync asks
// nothing). An always-on peer fetches what it lacks itself, as any member
// does; this device only watches, and counts its upload in Progress.

// Holdings is the optional capability of Wants to list every blob the
// project's records name, whatever this device's own filter (a phone that
// keeps no originals still holds those it took): the blobs an always-on
// peer should have once this device has synced with it. Those the store
// holds complete are the ones asked about.
type Holdings interface {
	Named(ctx context.Context) ([]Want, error)
}

// Ledger keeps, across runs, the blobs each always-on peer confirmed it
// holds. Implementations must be safe for concurrent use.
type Ledger interface {
	// Confirmed returns the blobs p confirmed.
	Confirmed(ctx context.Context, p peer.ID) ([]cid.Cid, error)
	// Confirm records that p holds cs.
	Confirm(ctx context.Context, p peer.ID, cs []cid.Cid) error
}

// ArchiveProgress is what one connected always-on peer still lacks of the
// blobs this device holds, within the classes it wants.
type ArchiveProgress struct {
	Peer peer.ID
	// Checked: asked since the last Sync began (until then Lacking is
	// the last known count, or 0).
	Checked      bool
	Held         int   // blobs this device holds that the peer wants
	Lacking      int   // of those, the ones it does not have yet
	LackingBytes int64 // their size
}

// haveBatch is the most CIDs a HAVE request carries (4 KiB frames).
const haveBatch = 96

// upCheckEvery is how often connected always-on peers are asked again
// while they lack something.
const upCheckEvery = 2 * time.Second

// upRecheck is how often, while an always-on peer lacks blobs, it is
// asked again about all of them (its ANNOUNCEs confirm them in between).
const upRecheck = 30 * time.Second

// upIdleAfter is how long an always-on peer may lack blobs without
// fetching any before SyncAvailable stops waiting for it.
const upIdleAfter = 20 * time.Second

type uploads struct {
	mu      sync.Mutex
	peers   map[peer.ID]*upState
	waiting map[uint64]chan [][]byte // HAVE requests in flight, by ID
	gen     uint64                   // bumped by sync(): checks must be newer
	asked   int                      // blobs asked about, in all
	wake    chan struct{}
}

type upState struct {
	confirmed    map[cid.Cid]bool
	asked        map[cid.Cid]bool // asked about in this run
	fullGen      uint64           // the Sync generation of the last ask about every unconfirmed blob
	lastFull     time.Time
	loaded       bool
	checkedGen   uint64
	held         int
	lacking      int
	lackingBytes int64
	lastMove     time.Time // when lacking last fell (or first became > 0)
}

func (u *uploads) init() {
	u.peers = map[peer.ID]*upState{}
	u.waiting = map[uint64]chan [][]byte{}
	u.wake = make(chan struct{}, 1)
	u.gen = 1 // a peer never asked has checkedGen 0
}

func (u *uploads) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// isArchive reports whether p is one of the project's always-on peers.
func (n *Node) isArchive(p peer.ID) bool {
	return slices.ContainsFunc(n.Relays(), func(r peer.AddrInfo) bool { return r.ID == p })
}

// upLoop asks each connected always-on peer what it lacks, every
// upCheckEvery while it lacks something and at once when Sync begins.
func (n *Node) upLoop() {
	defer n.wg.Done()
	if _, ok := n.cfg.Wants.(Holdings); !ok {
		return
	}
	t := time.NewTicker(upCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.up.wake:
		}
		for _, p := range n.connectedArchives() {
			if err := n.checkArchive(p); err != nil && n.ctx.Err() == nil {
				n.log.Debug("asking an always-on peer what it lacks", "peer", p, "err", err)
			}
		}
	}
}

// connectedArchives are the always-on peers with a blobs stream up.
func (n *Node) connectedArchives() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []peer.ID
	for _, r := range n.Relays() {
		if s := n.sessions[r.ID]; s != nil && s.ready {
			out = append(out, r.ID)
		}
	}
	return out
}

// checkArchive asks p which of the blobs this device holds, in the classes
// p wants and not confirmed yet, it lacks.
func (n *Node) checkArchive(p peer.ID) error {
	ctx := n.ctx
	n.prog.mu.Lock()
	f := n.prog.peer(p).Filter
	n.prog.mu.Unlock()
	if f == 0 {
		return nil // it has not said what it wants yet
	}
	n.up.mu.Lock()
	gen := n.up.gen
	st := n.up.peers[p]
	if st == nil {
		st = &upState{confirmed: map[cid.Cid]bool{}}
		n.up.peers[p] = st
	}
	loaded := st.loaded
	n.up.mu.Unlock()
	if !loaded && n.cfg.Ledger != nil {
		cs, err := n.cfg.Ledger.Confirmed(ctx, p)
		if err != nil {
			return err
		}
		n.up.mu.Lock()
		for _, c := range cs {
			st.confirmed[c] = true
		}
		n.up.mu.Unlock()
	}
	n.up.mu.Lock()
	st.loaded = true
	n.up.mu.Unlock()

	named, err := n.namedFor(ctx, p)
	if err != nil {
		return err
	}
	held := 0
	var ask []Want
	n.up.mu.Lock()
	for _, w := range named {
		if !f.Has(w.Class) {
			continue
		}
		if st.confirmed[w.CID] {
			held++
			continue
		}
		ask = append(ask, w)
	}
	n.up.mu.Unlock()
	var have []Want
	for _, w := range ask {
		if _, err := n.cfg.Store.Stat(ctx, w.CID); err == nil {
			have = append(have, w)
		}
	}
	held += len(have)
	lacking, lackingBytes := 0, int64(0)
	// Ask again about every unconfirmed blob when Sync begins and every
	// upRecheck; between, only about blobs not asked yet: the always-on
	// peer's ANNOUNCEs confirm the rest as they arrive, so watching an
	// upload costs no HAVE traffic.
	n.up.mu.Lock()
	full := st.fullGen != gen || time.Since(st.lastFull) > upRecheck
	if full {
		st.fullGen, st.lastFull = gen, time.Now()
	}
	if st.asked == nil {
		st.asked = map[cid.Cid]bool{}
	}
	var toAsk []Want
	for _, w := range have {
		if full || !st.asked[w.CID] {
			toAsk = append(toAsk, w)
			st.asked[w.CID] = true
		} else {
			lacking++
			lackingBytes += w.Size
		}
	}
	n.up.mu.Unlock()
	have = toAsk
	for len(have) > 0 {
		batch := have[:min(len(have), haveBatch)]
		have = have[len(batch):]
		got, err := n.askHave(ctx, p, batch)
		if err != nil {
			return err
		}
		var confirmed []cid.Cid
		for _, w := range batch {
			if got[w.CID] {
				confirmed = append(confirmed, w.CID)
			} else {
				lacking++
				lackingBytes += w.Size
			}
		}
		n.confirm(p, confirmed)
	}
	n.up.mu.Lock()
	if lacking < st.lacking || (lacking > 0 && st.lacking == 0) || lackingBytes < st.lackingBytes {
		st.lastMove = time.Now()
	}
	changed := st.lacking != lacking || st.held != held || st.checkedGen != gen
	st.held, st.lacking, st.lackingBytes, st.checkedGen = held, lacking, lackingBytes, gen
	n.up.mu.Unlock()
	if changed {
		n.kick() // completeness may have changed
		n.progressChanged()
	}
	return nil
}

// confirm records that p holds cs, here and in the ledger.
func (n *Node) confirm(p peer.ID, cs []cid.Cid) {
	if len(cs) == 0 {
		return
	}
	n.up.mu.Lock()
	st := n.up.peers[p]
	if st == nil {
		st = &upState{confirmed: map[cid.Cid]bool{}}
		n.up.peers[p] = st
	}
	var fresh []cid.Cid
	for _, c := range cs {
		if !st.confirmed[c] {
			fresh = append(fresh, c)
		}
	}
	n.up.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	// The ledger first: a blob counts as safe there (and Sync may complete
	// and the process exit) only once the ledger keeps it, so a status
	// read afterwards, with no network, says the same.
	if n.cfg.Ledger != nil {
		if err := n.cfg.Ledger.Confirm(n.ctx, p, fresh); err != nil {
			n.log.Warn("record what an always-on peer holds", "peer", p, "err", err)
		}
	}
	n.up.mu.Lock()
	for _, c := range fresh {
		st.confirmed[c] = true
	}
	n.up.mu.Unlock()
}

// announced: p says it now holds cs (its ANNOUNCE): confirmed, if p is an
// always-on peer.
func (n *Node) announced(p peer.ID, cs []cid.Cid) {
	if !n.isArchive(p) {
		return
	}
	n.confirm(p, cs)
	n.up.poke()
}

// askHave sends one HAVE request to p and waits for its answer.
func (n *Node) askHave(ctx context.Context, p peer.ID, ws []Want) (map[cid.Cid]bool, error) {
	n.mu.Lock()
	s := n.sessions[p]
	if s == nil || !s.ready {
		n.mu.Unlock()
		return nil, fmt.Errorf("not connected")
	}
	n.sched.nextID++
	id := n.sched.nextID
	out := s.out
	n.mu.Unlock()
	m := wire.BlobRequest{Type: wire.ReqHave, ID: id}
	for _, w := range ws {
		m.CIDs = append(m.CIDs, w.CID.Bytes())
	}
	ch := make(chan [][]byte, 1)
	n.up.mu.Lock()
	n.up.asked += len(ws)
	n.up.waiting[id] = ch
	n.up.mu.Unlock()
	defer func() {
		n.up.mu.Lock()
		delete(n.up.waiting, id)
		n.up.mu.Unlock()
	}()
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	select {
	case out <- m:
	case <-wait.C:
		return nil, fmt.Errorf("blobs stream busy")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case got := <-ch:
		set := make(map[cid.Cid]bool, len(got))
		for _, b := range got {
			if c, err := cid.Cast(b); err == nil {
				set[c] = true
			}
		}
		return set, nil
	case <-wait.C:
		return nil, fmt.Errorf("no answer to a HAVE request in 30 s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// haveAnswered delivers a HAVE answer (CIDs copied: they alias the frame).
func (n *Node) haveAnswered(id uint64, cs [][]byte) {
	n.up.mu.Lock()
	ch := n.up.waiting[id]
	n.up.mu.Unlock()
	if ch == nil {
		return
	}
	cp := make([][]byte, len(cs))
	for i, b := range cs {
		cp[i] = slices.Clone(b)
	}
	select {
	case ch <- cp:
	default:
	}
}

// answerHave is the responder's side: those of m.CIDs held complete here.
func (sv *server) answerHave(m *wire.BlobRequest) (*wire.BlobResponse, error) {
	if len(m.CIDs) > haveBatch*2 {
		return nil, fmt.Errorf("have: %d CIDs: %w", len(m.CIDs), wire.ErrBadRequest)
	}
	r := &wire.BlobResponse{Type: wire.RespHave, ID: m.ID}
	for _, b := range m.CIDs {
		c, err := cid.Cast(b)
		if err != nil {
			return nil, fmt.Errorf("have: %w", wire.ErrBadRequest)
		}
		if _, err := sv.n.cfg.Store.Stat(sv.n.ctx, c); err == nil {
			r.CIDs = append(r.CIDs, slices.Clone(b))
		}
	}
	return r, nil
}

// anyArchiveLocked reports whether cond holds for a connected always-on
// peer's upload state (nil if never asked). Called with n.mu held.
func (n *Node) anyArchiveLocked(cond func(st *upState) bool) bool {
	if _, ok := n.cfg.Wants.(Holdings); !ok {
		return false
	}
	n.up.mu.Lock()
	defer n.up.mu.Unlock()
	for _, r := range n.Relays() {
		if s := n.sessions[r.ID]; s != nil && s.ready && cond(n.up.peers[r.ID]) {
			return true
		}
	}
	return false
}

// uploadsPendingLocked reports whether a connected always-on peer lacks
// something this device holds, or has not been asked since Sync began.
// Called with n.mu held.
func (n *Node) uploadsPendingLocked() bool {
	if _, ok := n.cfg.Wants.(Holdings); ok {
		// A connected always-on peer whose blobs stream is not up yet has
		// not been asked: not complete (its records may be pulled first).
		for _, r := range n.Relays() {
			if s := n.sessions[r.ID]; s != nil && !s.ready {
				return true
			}
		}
	}
	return n.anyArchiveLocked(func(st *upState) bool {
		return st == nil || st.checkedGen < n.up.gen || st.lacking > 0
	})
}

// uploadsMovingLocked reports whether a connected always-on peer has not
// been asked since Sync began, or lacks blobs and fetched some within
// upIdleAfter: SyncAvailable waits for it. One that lacks blobs and
// fetches none (a full disk, a filter without them) is not waited for.
// Called with n.mu held.
func (n *Node) uploadsMovingLocked() bool {
	return n.anyArchiveLocked(func(st *upState) bool {
		return st == nil || st.checkedGen < n.up.gen || (st.lacking > 0 && time.Since(st.lastMove) < upIdleAfter)
	})
}

// archiveProgress is the Snapshot's Archives.
func (n *Node) archiveProgress() []ArchiveProgress {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.up.mu.Lock()
	defer n.up.mu.Unlock()
	var out []ArchiveProgress
	for _, r := range n.Relays() {
		s := n.sessions[r.ID]
		if s == nil {
			continue
		}
		a := ArchiveProgress{Peer: r.ID}
		if st := n.up.peers[r.ID]; st != nil {
			a.Checked = st.checkedGen >= n.up.gen && st.checkedGen > 0
			a.Held, a.Lacking, a.LackingBytes = st.held, st.lacking, st.lackingBytes
		}
		out = append(out, a)
	}
	return out
}

// haveAsked counts the blobs asked about in HAVE requests (tests).
func (n *Node) haveAsked() int {
	n.up.mu.Lock()
	defer n.up.mu.Unlock()
	return n.up.asked
}
