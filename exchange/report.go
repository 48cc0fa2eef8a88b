package exchange

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: bad data, told to both sides. A requester whose session
// receives bytes that fail verification and all came from one peer
// reports it to that peer (a CORRUPT message on the blobs stream, written
// before the connection is closed) and drops it for the rest of the run.
// The peer that sent them checks its copy of the blob at once: a copy
// found damaged is quarantined by the store and fetched again from the
// other peers, and a "healed" event follows when it is back, complete and
// verified. Every step is an event (CorruptEvent), a log line and, where
// the store keeps one, an entry of the blob's fixity log.
//
//	requester                                  responder
//	leaf fails verification
//	  CANCEL… CORRUPT{cid, kind, leaf} ───────▶ CorruptReported
//	  close write, wait ≤ reportGrace ◀──────── (its stream ends)
//	  drop the peer (CorruptDetected)           Verify(cid), at most once per verifyEvery
//	                                              intact: CorruptIntact
//	                                              damaged: quarantined, CorruptDamaged,
//	                                                wanted again ─▶ fetched from others ─▶ CorruptHealed

const (
	// reportGrace bounds how long a requester waits, after writing a
	// report, for the peer to end the stream before the connection is
	// closed: long enough for the report to be read, short enough that a
	// peer that does not answer is cut soon.
	reportGrace = 2 * time.Second
	// verifyEvery is how often at most one blob is re-hashed because a
	// peer said it was corrupt: a lying member must not make this device
	// hash a big blob in a loop.
	verifyEvery = 5 * time.Minute
	// maxReportsPerStream bounds the reports one blobs stream may make
	// this device act on.
	maxReportsPerStream = 8
	// maxServed bounds the blobs remembered as sent to one peer (a
	// report is only heard for one of them).
	maxServed = 4096
)

// CorruptResult is a step in the story of bad data, told by CorruptEvent.
type CorruptResult int

// The steps. CorruptDetected is this device's own finding (it received
// the bad bytes); the others are the sending side's.
const (
	// CorruptDetected: bytes received from Peer failed verification
	// here. They were dropped, Peer was told and dropped for the rest of
	// the run, and the piece is fetched from other peers.
	CorruptDetected CorruptResult = iota
	// CorruptReported: Peer says bytes this device sent it failed
	// verification there. A check of the copy here follows.
	CorruptReported
	// CorruptIntact: the copy here checked intact: the bytes were
	// damaged on the way, or by Peer.
	CorruptIntact
	// CorruptDamaged: the copy here is damaged (Detail says how). It was
	// quarantined; Refetch tells whether it is fetched again from the
	// other peers (it is when this device wants it).
	CorruptDamaged
	// CorruptHealed: the damaged copy was fetched again, from From, and
	// verified against its CID.
	CorruptHealed
	// CorruptUnchecked: the copy here was not checked; Detail says why
	// (checked a moment ago, not stored whole here, the store cannot
	// check, or the check failed).
	CorruptUnchecked
)

func (r CorruptResult) String() string {
	switch r {
	case CorruptDetected:
		return "detected"
	case CorruptReported:
		return "reported"
	case CorruptIntact:
		return "intact"
	case CorruptDamaged:
		return "damaged"
	case CorruptHealed:
		return "healed"
	case CorruptUnchecked:
		return "unchecked"
	}
	return "corrupt?"
}

// CorruptEvent tells one step of bad data (Result). Without Inbound, this
// device received bytes of blob CID from Peer that failed verification
// (CorruptDetected). With Inbound, Peer reported that bytes of CID this
// device sent it failed verification there; the events that follow say
// what this device's check found and whether its copy healed. With
// Inbound and no Peer, a fixity check made outside the node found the
// copy here damaged (CorruptDamaged, see Node.Refetch), and a
// CorruptHealed may follow.
type CorruptEvent struct {
	Peer    peer.ID
	CID     cid.Cid
	Leaf    int // the leaf that failed (as reported, for the sending side's steps); -1: the blob's skeleton
	Inbound bool
	Result  CorruptResult
	// Detail says what failed (CorruptDetected), what was wrong with the
	// copy here (CorruptDamaged) or why it was not checked.
	Detail string
	// Refetch (CorruptDamaged): the blob is being fetched again.
	Refetch bool
	// From (CorruptHealed): the peer the good copy came from.
	From peer.ID
}

func (CorruptEvent) event() {}

// reports is the node's books of bad data reported by peers.
type reports struct {
	checked  map[cid.Cid]time.Time // when each blob was last checked for a report
	checking map[cid.Cid]bool      // checks running
	healing  map[cid.Cid]reported  // quarantined after a report, being fetched again
}

// init makes the books' maps at their first use. Called with n.mu held.
func (r *reports) init() {
	if r.checked == nil {
		*r = reports{checked: map[cid.Cid]time.Time{}, checking: map[cid.Cid]bool{}, healing: map[cid.Cid]reported{}}
	}
}

// damage is what a check found wrong with a copy, for an event's Detail.
func damage(rep blob.FixityReport) string {
	if rep.Detail == "" {
		return string(rep.Result)
	}
	return string(rep.Result) + ": " + rep.Detail
}

// reported is who reported a blob, and which piece.
type reported struct {
	peer peer.ID
	leaf int
}

// leafOf is the leaf a task's bytes were (-1: the skeleton) and the kind
// of the want that asked for them.
func leafOf(t *task) (leaf int, kind uint32) {
	if t.kind == tkSkeleton {
		return -1, wire.KindSkeleton
	}
	return t.leaf, wire.KindLeaf
}

// badData handles bytes for t that failed verification and all came from
// this session's peer: the peer is dropped for the rest of the run, and
// told why before its connection is closed (stream sends the report when
// the read loop ends, then closes the connection).
func (s *session) badData(t *task, reason string) {
	n := s.n
	c := t.b.want.CID
	leaf, kind := leafOf(t)
	n.mu.Lock()
	s.report = &wire.BlobRequest{Type: wire.ReqCorrupt, CID: c.Bytes(), Kind: kind, Leaf: uint32(max(leaf, 0))}
	s.reportSent = false
	n.mu.Unlock()
	if !n.banPeer(s.peer, reason) {
		return
	}
	n.log.Warn("bad data from peer: telling it, dropping it, fetching the blob from other peers", "peer", s.peer, "blob", c, "leaf", leaf, "reason", reason)
	n.noteFixity(blob.FixityRecord{CID: c, Event: blob.FixityBadCopy, Peer: s.peer.String(),
		Detail: fmt.Sprintf("%s as received failed verification; the peer was told and dropped for this run", pieceName(leaf))})
	n.emit(CorruptEvent{Peer: s.peer, CID: c, Leaf: leaf, Result: CorruptDetected, Detail: reason})
}

// banPeer is dropPeer without closing the connection: p gets no more
// work and no new connection for the rest of the run. It reports whether
// p was not banned already.
func (n *Node) banPeer(p peer.ID, reason string) bool {
	n.mu.Lock()
	if _, ok := n.banned[p]; ok {
		n.mu.Unlock()
		return false
	}
	n.banned[p] = reason
	n.prog.peerState(p, PeerDropped, reason)
	n.mu.Unlock()
	n.log.Warn("peer dropped", "peer", p, "reason", reason)
	n.emit(PeerEvent{Peer: p, State: PeerDropped, Reason: reason})
	n.kick()
	return true
}

// sendReport writes the session's pending report, if any, after a cancel
// of every request in flight (so the peer stops sending and can end the
// stream), and flushes. Called by the stream's writer once the read loop
// has ended.
func (s *session) sendReport(st network.Stream, w *bufio.Writer) error {
	n := s.n
	n.mu.Lock()
	rep := s.report
	var ids []uint64
	if rep != nil {
		for id := range s.inflight {
			ids = append(ids, id)
		}
	}
	n.mu.Unlock()
	if rep == nil {
		return nil
	}
	var b, f []byte
	write := func(m *wire.BlobRequest) error {
		b = m.Marshal(b[:0])
		f = wire.AppendFrame(f[:0], b)
		st.SetWriteDeadline(streamDeadline(len(f)))
		_, err := w.Write(f)
		return err
	}
	for _, id := range ids {
		if err := write(&wire.BlobRequest{Type: wire.ReqCancel, ID: id}); err != nil {
			return err
		}
	}
	if err := write(rep); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	n.mu.Lock()
	s.reportSent = true
	n.mu.Unlock()
	return nil
}

// afterReport, once a stream's read loop and writer have ended, finishes
// a report of bad data: when it was written, the stream is half-closed
// and the peer given up to reportGrace to read it and end the stream
// (what it still sends is discarded); then the peer's connection is
// closed. It does nothing if the session has no report.
func (s *session) afterReport(st network.Stream) {
	n := s.n
	n.mu.Lock()
	rep, sent := s.report, s.reportSent
	s.report, s.reportSent = nil, false
	n.mu.Unlock()
	if rep == nil {
		return
	}
	if sent {
		st.CloseWrite()
		st.SetReadDeadline(time.Now().Add(reportGrace))
		_, err := io.Copy(io.Discard, st)
		n.log.Debug("report of bad data delivered", "peer", s.peer, "acknowledged", err == nil)
	}
	st.Reset()
	n.host.Network().ClosePeer(s.peer) //nolint:errcheck
	n.kick()
}

// pieceName names a piece of a blob for people.
func pieceName(leaf int) string {
	if leaf < 0 {
		return "the skeleton"
	}
	return fmt.Sprintf("leaf %d", leaf)
}

// noteFixity keeps r in the store's fixity log, if it keeps one.
func (n *Node) noteFixity(r blob.FixityRecord) {
	if fn, ok := n.cfg.Store.(blob.FixityNoter); ok {
		if err := fn.NoteFixity(n.ctx, r); err != nil {
			n.log.Warn("fixity log", "blob", r.CID, "err", err)
		}
	}
}

// served records that this device sent bytes of c to the stream's peer
// (a report is heard only for a blob sent to that peer, on this stream or
// an earlier one: a report can come on a stream reopened after a cut).
func (sv *server) served(c cid.Cid) {
	n := sv.n
	n.mu.Lock()
	if n.sentTo == nil {
		n.sentTo = map[peer.ID]map[cid.Cid]bool{}
	}
	m := n.sentTo[sv.peer]
	if m == nil || len(m) >= maxServed {
		m = map[cid.Cid]bool{}
		n.sentTo[sv.peer] = m
	}
	m[c] = true
	n.mu.Unlock()
}

// corrupt handles a CORRUPT report read from this serving stream.
func (sv *server) corrupt(m *wire.BlobRequest) error {
	c, err := cid.Cast(m.CID)
	if err != nil || m.Kind > wire.KindLeaf {
		return fmt.Errorf("corrupt: %w", wire.ErrBadRequest)
	}
	leaf := int(m.Leaf)
	if m.Kind == wire.KindSkeleton {
		leaf = -1
	}
	sv.n.mu.Lock()
	sent := sv.n.sentTo[sv.peer][c]
	sv.n.mu.Unlock()
	sv.mu.Lock()
	sv.reports++
	many := sv.reports > maxReportsPerStream
	sv.mu.Unlock()
	if !sent || many {
		sv.n.log.Info("report of bad data ignored", "peer", sv.peer, "blob", c, "sent", sent, "reports", many)
		return nil
	}
	sv.n.corruptReported(sv.peer, c, leaf)
	return nil
}

// corruptReported acts on from's report that bytes of c this device sent
// failed verification there: it says so, and checks the copy here (in the
// background; at most once per blob every verifyEvery).
func (n *Node) corruptReported(from peer.ID, c cid.Cid, leaf int) {
	n.log.Warn("peer says data this device sent was corrupt: checking the blob", "peer", from, "blob", c, "leaf", leaf)
	n.noteFixity(blob.FixityRecord{CID: c, Event: blob.FixityReported, Peer: from.String(),
		Detail: fmt.Sprintf("%s as sent from here failed verification there", pieceName(leaf))})
	n.emit(CorruptEvent{Peer: from, CID: c, Leaf: leaf, Inbound: true, Result: CorruptReported})
	n.mu.Lock()
	n.reps.init()
	if n.reps.checking[c] || n.closed {
		n.mu.Unlock()
		return // the check running answers this report too
	}
	if at, ok := n.reps.checked[c]; ok && time.Since(at) < verifyEvery {
		n.mu.Unlock()
		ago := time.Since(at).Round(time.Second)
		n.log.Info("blob checked a moment ago: not checking it again yet", "blob", c, "ago", ago)
		n.emit(CorruptEvent{Peer: from, CID: c, Leaf: leaf, Inbound: true, Result: CorruptUnchecked,
			Detail: fmt.Sprintf("checked %s ago (at most once every %s)", ago, verifyEvery)})
		return
	}
	n.reps.checking[c] = true
	n.wg.Add(1)
	n.mu.Unlock()
	go n.checkReported(from, c, leaf)
}

// checkReported checks this device's copy of c after from reported it
// corrupt: intact, or damaged (quarantined by the store, and wanted
// again).
func (n *Node) checkReported(from peer.ID, c cid.Cid, leaf int) {
	defer n.wg.Done()
	ev := CorruptEvent{Peer: from, CID: c, Leaf: leaf, Inbound: true}
	var rep blob.FixityReport
	var err error
	v, ok := n.cfg.Store.(blob.Verifier)
	if ok {
		rep, err = v.Verify(n.ctx, c)
	}
	n.mu.Lock()
	delete(n.reps.checking, c)
	n.reps.checked[c] = time.Now()
	if len(n.reps.checked) > maxServed {
		for k, at := range n.reps.checked {
			if time.Since(at) >= verifyEvery {
				delete(n.reps.checked, k)
			}
		}
	}
	n.mu.Unlock()
	switch {
	case !ok:
		ev.Result, ev.Detail = CorruptUnchecked, "this device's store cannot check blobs"
	case err != nil:
		ev.Result, ev.Detail = CorruptUnchecked, "the check failed: "+err.Error()
	case rep.Result == blob.FixityMissing && rep.Detail == blob.DetailNotStored:
		ev.Result, ev.Detail = CorruptUnchecked, "it is not stored whole here (only part of it, being received)"
	case rep.OK():
		ev.Result = CorruptIntact
		n.log.Info("blob reported corrupt checked intact here", "peer", from, "blob", c)
	default:
		ev.Result, ev.Detail = CorruptDamaged, damage(rep)
		ev.Refetch = n.refetch(c, reported{from, leaf})
		n.log.Warn("blob reported corrupt is damaged here: quarantined", "blob", c, "result", rep.Result, "detail", rep.Detail, "refetch", ev.Refetch)
	}
	if ev.Result == CorruptUnchecked {
		n.log.Info("blob reported corrupt not checked", "blob", c, "why", ev.Detail)
	}
	n.emit(ev)
}

// Refetch tells the node that a fixity check outside it (fieldsync verify
// beside a serve, in another process) found the blob c damaged or missing
// and took it out of the store, as said in rep: the node says so (a
// CorruptDamaged event, inbound, with no peer) and, if this device wants
// c, fetches it again from its peers, then says it healed
// (CorruptHealed). It reports whether c is fetched again.
//
// A check the node made itself (after a peer's report) is not told again:
// it said so and fetches the blob already.
func (n *Node) Refetch(rep blob.FixityReport) bool {
	n.mu.Lock()
	n.reps.init()
	at, checked := n.reps.checked[rep.CID]
	own := n.reps.checking[rep.CID] || checked && !rep.CheckedAt.After(at)
	n.mu.Unlock()
	if own {
		return false
	}
	ok := n.refetch(rep.CID, reported{leaf: -1})
	n.log.Warn("blob found damaged by a fixity check: quarantined", "blob", rep.CID, "result", rep.Result, "detail", rep.Detail, "refetch", ok)
	n.emit(CorruptEvent{CID: rep.CID, Leaf: -1, Inbound: true, Result: CorruptDamaged, Detail: damage(rep), Refetch: ok})
	return ok
}

// refetch makes c, quarantined, wanted again: the scheduler forgets it
// was done and re-reads the wants, which find it missing. It reports
// whether this device wants c (else it is not fetched again).
func (n *Node) refetch(c cid.Cid, by reported) bool {
	ws, err := n.cfg.Wants.Wanted(n.ctx)
	wanted := err != nil // unknown: try; the wants decide
	for _, w := range ws {
		wanted = wanted || w.CID == c
	}
	n.mu.Lock()
	if wanted {
		n.reps.healing[c] = by
	}
	if b := n.sched.blobs[c]; b != nil && b.done {
		delete(n.sched.blobs, c)
		delete(n.sched.have, c)
		n.prog.mu.Lock()
		if !b.sec { // an alternative is counted in its primary
			cp := &n.prog.classes[b.want.Class]
			cp.FilesWanted--
			cp.FilesDone--
			cp.BytesWanted -= b.size
			cp.BytesDone -= b.counted
		}
		if o := b.alt; o != nil && o.alt == b {
			o.alt = nil // the pair is undone: the partner, done or dropped, stays so
		}
		n.prog.mu.Unlock()
	}
	delete(n.skCache, c)
	n.sched.dirty, n.sched.full = true, true
	n.mu.Unlock()
	n.kick()
	n.progressChanged()
	return wanted
}

// healed reports a blob quarantined after a report that is now back,
// fetched from from and verified. Called when a wanted blob is done.
func (n *Node) healed(c cid.Cid, from peer.ID) {
	n.mu.Lock()
	by, ok := n.reps.healing[c]
	delete(n.reps.healing, c)
	n.mu.Unlock()
	if !ok {
		return
	}
	n.log.Info("blob healed: fetched again and verified", "blob", c, "from", from)
	n.noteFixity(blob.FixityRecord{CID: c, Event: blob.FixityRefetched, Peer: from.String(),
		Detail: "verified against its CID"})
	n.emit(CorruptEvent{Peer: by.peer, CID: c, Leaf: by.leaf, Inbound: true, Result: CorruptHealed, From: from})
}
