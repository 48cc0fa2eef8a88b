package exchange

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The requester side. One scheduler per node orders every missing piece
// (a skeleton, the opening of a partial blob, a leaf) by class, then newest
// observation, then blob and leaf; it hands each piece to the least busy
// member session that may have it and has room in its window:
//
//	Wants ─refresh─▶ pending (class, newest, root, leaf) ─fill─▶ session windows ─want─▶ peers
//	                   ▲                                              │
//	                   └──── requeue (cut, don't-have, bad data) ◀────┤ frames
//	      small blobs ◀── verify ◀────────────────────────────────────┤
//	      (batched Put)      partial.WriteLeafPart (kept, resumable)    ◀┘

const (
	smallMax        = 256 << 10 // one-leaf blobs up to this size are received in memory and batched
	minWindow       = 4 << 20   // bytes outstanding per peer, at least (four leaves)
	maxWindow       = 64 << 20
	maxInflightReqs = 1024 // requests outstanding per peer
	maxOpening      = 4    // partial blobs being opened at once
	maxSkeleton     = 8 << 20
	smallWorkers    = 3 // batches being stored at once: one fsyncs while others write
)

type taskKind int

const (
	tkSkeleton taskKind = iota // fetch the blob's skeleton
	tkOpen                     // local: Begin the partial blob
	tkLeaf                     // fetch one leaf (or the rest of it)
)

// blobState is one wanted blob that is not yet complete here.
type blobState struct {
	want      Want
	size      int64
	sk        *chunk.Skeleton
	part      blob.Partial // set once opened
	wmu       sync.Mutex   // serialises calls on part
	small     bool
	left      int   // leaves not yet verified
	bytesDone int64 // verified bytes counted in progress
	done      bool
}

type task struct {
	b        *blobState
	kind     taskKind
	leaf     int
	size     int64
	progress int        // durable bytes of an unfinished leaf (resume offset)
	req      *request   // the request in flight, if any
	dups     []*request // endgame duplicates in flight
	queued   bool
	done     bool
	from     map[peer.ID]bool // peers whose bytes are among the kept ones
	unknown  bool             // kept bytes from a previous run
}

func (t *task) class() blob.Class {
	if t.kind == tkSkeleton {
		return blob.ClassSkeleton
	}
	return t.b.want.Class
}

func taskLess(a, b *task) bool {
	if ca, cb := a.class(), b.class(); ca != cb {
		return ca < cb
	}
	if oa, ob := a.b.want.ObservedAt, b.b.want.ObservedAt; !oa.Equal(ob) {
		return oa.After(ob)
	}
	if a.b != b.b {
		return a.b.want.CID.KeyString() < b.b.want.CID.KeyString()
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.leaf < b.leaf
}

type request struct {
	id     uint64
	t      *task
	s      *session
	off    int
	buf    []byte
	sent   time.Time
	got    bool
	budget int64
	dup    bool // an endgame duplicate: received whole into memory
}

type scheduler struct {
	dirty     bool
	refreshed bool
	blobs     map[cid.Cid]*blobState
	have      map[cid.Cid]bool
	pending   []*task
	opening   int
	finishing int // blobs verified whole and being stored (batch or commit)
	left      int // tracked blobs not done
	nextID    uint64
	smallCh   chan smallItem
}

type smallItem struct {
	b    *blobState
	data []byte
	from peer.ID
}

func (s *scheduler) init() {
	s.blobs = map[cid.Cid]*blobState{}
	s.have = map[cid.Cid]bool{}
	s.smallCh = make(chan smallItem, 4096)
}

func (s *scheduler) push(t *task) {
	if t.queued || t.req != nil || len(t.dups) > 0 || t.done {
		return
	}
	t.queued = true
	i := sort.Search(len(s.pending), func(i int) bool { return taskLess(t, s.pending[i]) })
	s.pending = append(s.pending, nil)
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = t
}

// session is this device fetching from one member peer over one blobs
// stream at a time (reopened while the connection lasts).
type session struct {
	n             *Node
	peer          peer.ID
	out           chan wire.BlobRequest
	ready         bool
	inflight      map[uint64]*request
	inflightBytes int64
	classCount    [blob.NumClasses]int
	window        int64
	lacks         map[cid.Cid]bool
	rtt           time.Duration
	recv, lastRx  int64
	rate          float64
}

func newSession(n *Node, p peer.ID) *session {
	return &session{n: n, peer: p, inflight: map[uint64]*request{}, window: minWindow, lacks: map[cid.Cid]bool{}}
}

// hasRoom reports whether t may be sent now. A task of a better class than
// everything outstanding may overshoot the window (up to twice) so that a
// new thumbnail never waits behind a window full of originals.
func (s *session) hasRoom(t *task) bool {
	if !s.ready || len(s.inflight) >= maxInflightReqs {
		return false
	}
	if s.inflightBytes < s.window {
		return true
	}
	return t.class() < s.worstClass() && s.inflightBytes < 2*s.window
}

// worstClass is the worst class in flight on s (blob.ClassSkeleton if none).
// Called with n.mu held.
func (s *session) worstClass() blob.Class {
	for c := blob.NumClasses - 1; c >= 0; c-- {
		if s.classCount[c] > 0 {
			return c
		}
	}
	return blob.ClassSkeleton
}

func (s *session) sendChanged() {
	if !s.ready {
		return
	}
	select {
	case s.out <- wire.BlobRequest{Type: wire.ReqChanged}:
	default:
	}
}

// run keeps a blobs stream open to the peer while it is connected.
func (s *session) run() {
	n := s.n
	defer n.wg.Done()
	fails := 0
	for n.ctx.Err() == nil && n.host.Network().Connectedness(s.peer) == network.Connected {
		productive, err := s.stream()
		if productive {
			fails = 0
		}
		if err != nil && n.ctx.Err() == nil {
			n.log.Debug("blobs stream ended", "peer", s.peer, "err", err)
			if n.host.Network().Connectedness(s.peer) != network.Connected {
				break // the keeper redials; the next connection starts a session
			}
			fails++
			select {
			case <-n.ctx.Done():
			case <-time.After(min(100*time.Millisecond<<min(fails, 8), 10*time.Second)):
			}
		}
	}
	n.mu.Lock()
	delete(n.sessions, s.peer)
	if ps := n.pulls[s.peer]; ps != nil {
		ps.synced = false
	}
	n.prog.peerState(s.peer, PeerDisconnected, "")
	closed := n.closed
	n.mu.Unlock()
	n.emit(PeerEvent{Peer: s.peer, State: PeerDisconnected})
	if !closed && n.host.Network().Connectedness(s.peer) == network.Connected {
		n.onConnected(s.peer)
	}
	n.progressChanged()
}

// stream runs one blobs stream; productive reports that data arrived on it.
func (s *session) stream() (productive bool, err error) {
	n := s.n
	ctx, cancel := context.WithTimeout(network.WithNoDial(n.ctx, "blobs"), 30*time.Second)
	st, err := n.host.NewStream(ctx, s.peer, ProtoBlobs)
	cancel()
	if err != nil {
		return false, err
	}
	if err := st.Scope().SetService(svcBlobs); err != nil {
		st.Reset()
		return false, err
	}
	if err := st.Scope().ReserveMemory(wire.MaxBlobResponse, network.ReservationPriorityHigh); err != nil {
		st.Reset()
		return false, err
	}
	rx0 := s.recvBytes()
	defer st.Scope().ReleaseMemory(wire.MaxBlobResponse)
	out := make(chan wire.BlobRequest, maxInflightReqs+64)
	out <- wire.BlobRequest{Type: wire.ReqHello, Filter: uint32(n.cfg.Filter)}
	n.mu.Lock()
	s.out = out
	s.ready = true
	n.mu.Unlock()
	n.kick()

	done := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(st, 16<<10)
		var b, f []byte
		for {
			select {
			case m := <-out:
				b = m.Marshal(b[:0])
				f = wire.AppendFrame(f[:0], b)
				st.SetWriteDeadline(streamDeadline(len(f)))
				if _, err := w.Write(f); err != nil {
					st.Reset()
					werr <- err
					return
				}
				if len(out) == 0 {
					if err := w.Flush(); err != nil {
						st.Reset()
						werr <- err
						return
					}
				}
			case <-done:
				werr <- nil
				return
			}
		}
	}()
	err = s.readLoop(st)
	close(done)
	<-werr
	st.Reset()

	n.mu.Lock()
	s.ready = false
	for _, r := range s.inflight {
		s.requeue(r)
	}
	clear(s.lacks) // the peer may have more after a reconnect
	productive = s.recv > rx0
	n.mu.Unlock()
	n.kick()
	return productive, err
}

func (s *session) recvBytes() int64 {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	return s.recv
}

// requeue finishes r and puts its task back in the pending queue (a no-op
// for a task that is done or has another request in flight). Called with
// n.mu held.
func (s *session) requeue(r *request) {
	s.finish(r)
	s.n.sched.push(r.t)
}

// finish removes r from the session's books. Called with n.mu held.
func (s *session) finish(r *request) {
	if s.inflight[r.id] != r {
		return
	}
	delete(s.inflight, r.id)
	s.inflightBytes -= r.budget
	s.classCount[r.t.class()]--
	t := r.t
	if t.req == r {
		t.req = nil
	}
	for i, d := range t.dups {
		if d == r {
			t.dups = append(t.dups[:i], t.dups[i+1:]...)
			break
		}
	}
}

func (s *session) readLoop(st network.Stream) error {
	n := s.n
	// A small buffer: ReadFrame reads the bulk of each data frame straight
	// from the stream into its own buffer; a big one would copy the first
	// 64 KiB of every frame twice.
	r := bufio.NewReaderSize(st, 4<<10)
	var buf []byte
	for {
		msg, err := wire.ReadFrame(r, wire.MaxBlobResponse, buf)
		if err != nil {
			return err
		}
		buf = msg[:0]
		var m wire.BlobResponse
		if err := m.Unmarshal(msg); err != nil {
			n.dropPeer(s.peer, "malformed blobs message: "+err.Error())
			return err
		}
		switch m.Type {
		case wire.RespHello:
			n.prog.peerFilter(s.peer, Filter(m.Filter))
		case wire.RespAnnounce:
			n.mu.Lock()
			for _, b := range m.CIDs {
				if c, err := cid.Cast(b); err == nil {
					delete(s.lacks, c)
				}
			}
			n.mu.Unlock()
			n.kick()
		case wire.RespDontHave:
			n.mu.Lock()
			if req := s.inflight[m.ID]; req != nil {
				s.lacks[req.t.b.want.CID] = true
				s.requeue(req)
			}
			n.mu.Unlock()
			n.kick()
		case wire.RespData:
			if err := s.data(&m); err != nil {
				return err
			}
		}
	}
}

// data handles one data frame.
func (s *session) data(m *wire.BlobResponse) error {
	n := s.n
	n.mu.Lock()
	req := s.inflight[m.ID]
	if req != nil && !req.got {
		req.got = true
		if d := time.Since(req.sent); s.rtt == 0 || d < s.rtt {
			s.rtt = d
		}
	}
	s.recv += int64(len(m.Data))
	n.mu.Unlock()
	n.prog.addRecv(s.peer, len(m.Data))
	if req == nil {
		return nil // cancelled
	}
	t := req.t
	if int(m.Offset) != req.off {
		n.dropPeer(s.peer, fmt.Sprintf("frame at offset %d, want %d", m.Offset, req.off))
		return wire.ErrBadRequest
	}
	if t.kind == tkSkeleton || t.b.small || req.dup {
		return s.whole(req, m)
	}
	return s.leafPart(req, m)
}

// whole handles a frame of an item received whole into memory: a
// skeleton, a small blob, or an endgame duplicate of a leaf.
func (s *session) whole(req *request, m *wire.BlobResponse) error {
	n, t := s.n, req.t
	limit := uint64(maxSkeleton)
	if t.kind == tkLeaf {
		limit = chunk.ChunkSize
	}
	if m.Total > limit || uint64(len(req.buf)+len(m.Data)) > m.Total {
		n.dropPeer(s.peer, "oversized item")
		return wire.ErrBadRequest
	}
	req.buf = append(req.buf, m.Data...)
	req.off += len(m.Data)
	if !m.Last {
		return nil
	}
	var err error
	var sk *chunk.Skeleton
	switch {
	case t.kind == tkSkeleton:
		sk, err = chunk.ParseSkeleton(t.b.want.CID, req.buf)
	case t.b.small:
		err = chunk.VerifyBlock(t.b.want.CID, req.buf)
	default:
		err = chunk.VerifyLeaf(t.b.sk.Leaves[t.leaf], req.buf)
	}
	if err != nil {
		n.mu.Lock()
		s.requeue(req)
		n.mu.Unlock()
		n.dropPeer(s.peer, fmt.Sprintf("%s: %v", t.b.want.CID, err))
		return err
	}
	switch {
	case t.kind == tkSkeleton:
		n.mu.Lock()
		first := n.taskDone(t, req)
		if first {
			t.b.sk = sk
			t.b.size = sk.Size
			n.sched.push(&task{b: t.b, kind: tkOpen})
		}
		n.mu.Unlock()
	case t.b.small:
		n.mu.Lock()
		first := n.taskDone(t, req)
		if first {
			n.sched.finishing++
		}
		n.mu.Unlock()
		if first {
			select {
			case n.sched.smallCh <- smallItem{b: t.b, data: req.buf, from: s.peer}:
			case <-n.ctx.Done():
				return n.ctx.Err()
			}
		}
	default:
		// An endgame duplicate of a leaf, verified: store it unless the
		// other request got there first.
		b := t.b
		n.mu.Lock()
		if t.done {
			s.finish(req)
			n.mu.Unlock()
			return nil
		}
		n.mu.Unlock()
		b.wmu.Lock()
		var err error
		if !b.part.Have(t.leaf) {
			err = b.part.WriteLeaf(n.ctx, t.leaf, req.buf)
		}
		b.wmu.Unlock()
		if err != nil {
			n.log.Warn("write leaf", "blob", b.want.CID, "leaf", t.leaf, "err", err)
			n.mu.Lock()
			s.requeue(req)
			n.mu.Unlock()
			return nil
		}
		s.leafStored(t, req)
	}
	n.kick()
	return nil
}

// taskDone marks t done by req, finishing req and cancelling any other
// request for t. It reports whether req was first. Called with n.mu held.
func (n *Node) taskDone(t *task, req *request) bool {
	req.s.finish(req)
	if t.done {
		return false
	}
	t.done = true
	t.queued = false
	others := append([]*request(nil), t.dups...)
	if t.req != nil {
		others = append(others, t.req)
	}
	for _, r := range others {
		r.s.finish(r)
		r.s.cancel(r)
	}
	return true
}

// leafStored does the books of a leaf now verified and durable.
func (s *session) leafStored(t *task, req *request) {
	n := s.n
	b := t.b
	n.mu.Lock()
	if !n.taskDone(t, req) {
		n.mu.Unlock()
		return
	}
	t.from = nil
	size := int64(b.sk.Leaves[t.leaf].Size)
	b.left--
	b.bytesDone += size
	commit := b.left == 0
	if commit {
		n.sched.finishing++
	}
	n.mu.Unlock()
	n.prog.mu.Lock()
	n.prog.leaves++
	n.prog.classes[b.want.Class].BytesDone += size
	n.prog.mu.Unlock()
	if commit {
		n.wg.Add(1)
		go n.commit(b, s.peer)
	}
	n.kick()
}

// leafPart handles a frame of a leaf of a partial blob: every frame is
// written to the store at once, so a cut loses at most the frame on the
// wire (the store makes kept bytes durable within about 100 ms, so a crash
// loses little more).
func (s *session) leafPart(req *request, m *wire.BlobResponse) error {
	n, t := s.n, req.t
	b := t.b
	leaf := b.sk.Leaves[t.leaf]
	if m.Total != uint64(leaf.Size) {
		if len(b.sk.Nodes) == 0 {
			// A one-leaf blob whose size came from its record, not from a
			// verified skeleton: the record may be what is wrong. Do not
			// blame the peer; this blob cannot complete from it.
			n.log.Warn("blob size differs from its record", "blob", b.want.CID, "record", leaf.Size, "peer", s.peer, "says", m.Total)
			n.mu.Lock()
			s.lacks[b.want.CID] = true
			s.requeue(req)
			n.mu.Unlock()
			s.cancel(req)
			return nil
		}
		n.dropPeer(s.peer, fmt.Sprintf("leaf %d of %s: size %d, want %d", t.leaf, b.want.CID, m.Total, leaf.Size))
		return wire.ErrBadRequest
	}
	n.mu.Lock()
	if t.done {
		s.finish(req)
		n.mu.Unlock()
		return nil
	}
	if t.from == nil {
		t.from = map[peer.ID]bool{}
	}
	t.from[s.peer] = true
	single := len(t.from) == 1 && !t.unknown
	n.mu.Unlock()
	var done bool
	var err error
	b.wmu.Lock()
	switch {
	case b.part.Have(t.leaf):
		done = true // an endgame duplicate stored it
	case m.Offset == 0 && m.Last:
		err = b.part.WriteLeaf(n.ctx, t.leaf, m.Data)
		done = err == nil
	default:
		done, err = b.part.WriteLeafPart(n.ctx, t.leaf, int(m.Offset), m.Data)
	}
	b.wmu.Unlock()
	var verr *chunk.VerifyError
	switch {
	case errors.As(err, &verr):
		// The kept bytes are dropped by the store. If they all came from
		// this peer it lied; otherwise fetch the leaf whole from one peer.
		n.mu.Lock()
		t.progress, t.from, t.unknown = 0, nil, false
		s.requeue(req)
		n.mu.Unlock()
		if single {
			n.dropPeer(s.peer, fmt.Sprintf("leaf %d of %s failed verification", t.leaf, b.want.CID))
			return err
		}
		n.log.Info("leaf from several peers failed verification; refetching whole", "blob", b.want.CID, "leaf", t.leaf)
		s.cancel(req)
		n.kick()
		return nil
	case err != nil:
		n.log.Warn("write leaf", "blob", b.want.CID, "leaf", t.leaf, "err", err)
		b.wmu.Lock()
		p := b.part.LeafProgress(t.leaf)
		b.wmu.Unlock()
		n.mu.Lock()
		t.progress = p
		s.requeue(req)
		n.mu.Unlock()
		s.cancel(req)
		n.kick()
		return nil
	}
	req.off += len(m.Data)
	if !done {
		n.mu.Lock()
		t.progress = req.off
		n.mu.Unlock()
		return nil
	}
	s.leafStored(t, req)
	return nil
}

func (s *session) cancel(r *request) {
	if s.out == nil {
		return
	}
	select {
	case s.out <- wire.BlobRequest{Type: wire.ReqCancel, ID: r.id}:
	default:
	}
}

// commit makes a partial blob whose leaves are all verified visible.
func (n *Node) commit(b *blobState, from peer.ID) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		n.sched.finishing--
		n.mu.Unlock()
		n.kick()
	}()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if _, err := b.part.Commit(n.ctx); err != nil {
		n.log.Error("commit blob", "blob", b.want.CID, "err", err)
		return
	}
	n.mu.Lock()
	delete(n.partials, b.want.CID)
	n.mu.Unlock()
	b.part.Close()
	n.markDone(b, from)
}

// markDone records a wanted blob as complete and verified.
func (n *Node) markDone(b *blobState, from peer.ID) {
	n.mu.Lock()
	if b.done {
		n.mu.Unlock()
		return
	}
	b.done = true
	n.sched.left--
	n.sched.have[b.want.CID] = true
	n.prog.mu.Lock()
	cp := &n.prog.classes[b.want.Class]
	cp.FilesDone++
	cp.BytesDone += b.size - b.bytesDone
	n.prog.mu.Unlock()
	b.bytesDone = b.size
	n.mu.Unlock()
	n.emit(BlobEvent{CID: b.want.CID, Class: b.want.Class, Size: b.size, From: from})
	n.announceComplete(b.want.CID)
	n.progressChanged()
}

// openBlob begins the partial blob of b (resuming a previous run's) and
// queues its missing leaves, each from the byte its kept part ends at.
func (n *Node) openBlob(b *blobState) {
	defer n.wg.Done()
	p, err := n.cfg.Store.Begin(n.ctx, b.sk, blob.Meta{})
	if err != nil {
		n.log.Warn("begin partial blob", "blob", b.want.CID, "err", err)
		n.mu.Lock()
		n.sched.opening--
		n.mu.Unlock()
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(time.Second):
		}
		n.mu.Lock()
		n.sched.push(&task{b: b, kind: tkOpen})
		n.mu.Unlock()
		n.kick()
		return
	}
	missing := p.Missing()
	progress := make([]int, len(missing))
	for i, l := range missing {
		progress[i] = p.LeafProgress(l)
	}
	n.mu.Lock()
	n.sched.opening--
	b.part = p
	n.partials[b.want.CID] = b
	b.left = len(missing)
	var missingBytes int64
	for i, l := range missing {
		sz := int64(b.sk.Leaves[l].Size)
		missingBytes += sz
		n.sched.push(&task{b: b, kind: tkLeaf, leaf: l, size: sz, progress: progress[i], unknown: progress[i] > 0})
	}
	had := b.size - missingBytes - b.bytesDone
	b.bytesDone += had
	n.mu.Unlock()
	n.prog.mu.Lock()
	n.prog.classes[b.want.Class].BytesDone += had
	n.prog.mu.Unlock()
	if len(missing) == 0 {
		n.mu.Lock()
		n.sched.finishing++
		n.mu.Unlock()
		n.wg.Add(1)
		go n.commit(b, "")
	}
	n.kick()
}

// fill hands pending tasks to sessions. Called with n.mu held.
func (n *Node) fill() {
	var ss []*session
	for _, s := range n.sessions {
		if s.ready {
			if _, banned := n.banned[s.peer]; !banned {
				ss = append(ss, s)
			}
		}
	}
	if len(ss) == 0 {
		return
	}
	room := func() bool {
		for _, s := range ss {
			if s.ready && s.inflightBytes < s.window && len(s.inflight) < maxInflightReqs {
				return true
			}
		}
		return false
	}
	pend := n.sched.pending
	kept := pend[:0]
	for i := 0; i < len(pend); i++ {
		t := pend[i]
		if !t.queued || t.req != nil || t.done || t.b.done {
			t.queued = false
			continue
		}
		if t.kind == tkOpen {
			if n.sched.opening >= maxOpening || !room() {
				kept = append(kept, t)
				continue
			}
			t.queued = false
			n.sched.opening++
			n.wg.Add(1)
			go n.openBlob(t.b)
			continue
		}
		var best *session
		var score float64
		for _, s := range ss {
			if s.lacks[t.b.want.CID] || !s.hasRoom(t) {
				continue
			}
			if sc := float64(s.inflightBytes) / float64(s.window); best == nil || sc < score {
				best, score = s, sc
			}
		}
		if best == nil {
			kept = append(kept, t)
			if !room() && t.class() >= bestWorst(ss) {
				// Pending is in priority order: nothing after t can go.
				kept = append(kept, pend[i+1:]...)
				break
			}
			continue
		}
		t.queued = false
		n.send(best, t)
	}
	clear(pend[len(kept):])
	n.sched.pending = kept
	if len(kept) == 0 && len(ss) > 1 {
		n.endgame(ss)
	}
}

// endgame: nothing is left to request, but some sessions have room while
// others still have pieces outstanding. Ask an idle peer for the same
// piece, whole (a duplicate is received into memory and verified on its
// own, never mixed with the other request's kept bytes); the first copy
// wins and the other request is cancelled. Called with n.mu held.
func (n *Node) endgame(ss []*session) {
	for _, s := range ss {
		if len(s.inflight) > 0 || !s.ready {
			continue // only idle sessions duplicate
		}
		for _, o := range ss {
			if o == s {
				continue
			}
			for _, r := range o.inflight {
				t := r.t
				if r.dup || t.done || len(t.dups) > 0 || t.kind == tkOpen || s.lacks[t.b.want.CID] || t.req == nil {
					continue
				}
				if len(s.inflight) >= 8 {
					break
				}
				n.sendDup(s, t)
			}
		}
	}
}

// sendDup issues an endgame duplicate of t to s. Called with n.mu held.
func (n *Node) sendDup(s *session, t *task) {
	r, m := n.newRequest(s, t)
	r.dup, r.budget = true, max(t.size, 1<<10)
	t.dups = append(t.dups, r)
	n.prog.mu.Lock()
	n.prog.dups++
	n.prog.mu.Unlock()
	s.issue(r, m)
}

// bestWorst is the best, over sessions, of the worst class in flight: a
// task of that class or worse cannot overshoot any full window.
func bestWorst(ss []*session) blob.Class {
	best := blob.NumClasses
	for _, s := range ss {
		best = min(best, s.worstClass())
	}
	return best
}

// send issues t to s. Called with n.mu held.
func (n *Node) send(s *session, t *task) {
	r, m := n.newRequest(s, t)
	switch {
	case t.kind == tkSkeleton:
		r.budget = 4 << 10
	default:
		if !t.b.small {
			r.off = t.progress
			m.Offset = uint32(r.off)
			if t.b.part != nil && t.b.part.Have(t.leaf) {
				n.prog.mu.Lock()
				n.prog.refetched++
				n.prog.mu.Unlock()
			}
		}
		r.budget = max(t.size-int64(r.off), 1<<10)
	}
	t.req = r
	s.issue(r, m)
}

// newRequest numbers a request for t on s and builds its want, from the
// start of the item. Called with n.mu held.
func (n *Node) newRequest(s *session, t *task) (*request, wire.BlobRequest) {
	n.sched.nextID++
	r := &request{id: n.sched.nextID, t: t, s: s, sent: time.Now()}
	m := wire.BlobRequest{Type: wire.ReqWant, ID: r.id, CID: t.b.want.CID.Bytes(), Class: uint32(t.class()), Observed: t.b.want.ObservedAt.UnixMilli()}
	if t.kind == tkSkeleton {
		m.Kind = wire.KindSkeleton
	} else {
		m.Kind = wire.KindLeaf
		m.Leaf = uint32(t.leaf)
	}
	return r, m
}

// issue puts r on s's books and sends its want m. Called with n.mu held.
func (s *session) issue(r *request, m wire.BlobRequest) {
	s.inflight[r.id] = r
	s.inflightBytes += r.budget
	s.classCount[r.t.class()]++
	s.out <- m // room is guaranteed: at most maxInflightReqs wants outstanding
}

// smallLoop stores verified one-leaf blobs in batches, so that thousands
// of thumbnails cost a few fsyncs rather than one each.
func (n *Node) smallLoop() {
	defer n.wg.Done()
	for {
		var items []smallItem
		select {
		case <-n.ctx.Done():
			return
		case it := <-n.sched.smallCh:
			items = append(items, it)
		}
	drain:
		for len(items) < 512 {
			select {
			case it := <-n.sched.smallCh:
				items = append(items, it)
			default:
				break drain
			}
		}
		if err := n.putSmall(items); err != nil {
			n.log.Error("store small blobs", "err", err)
			n.mu.Lock()
			for _, it := range items {
				// Fetch again later; the bytes were verified but not kept.
				n.sched.push(&task{b: it.b, kind: tkLeaf, size: it.b.size})
			}
			n.sched.finishing -= len(items)
			n.mu.Unlock()
			n.kick()
			continue
		}
		for _, it := range items {
			n.markDone(it.b, it.from)
		}
		n.mu.Lock()
		n.sched.finishing -= len(items)
		n.mu.Unlock()
		n.kick()
	}
}

func (n *Node) putSmall(items []smallItem) error {
	ctx := n.ctx
	bt, err := n.cfg.Store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	for _, it := range items {
		info, err := bt.Put(ctx, bytes.NewReader(it.data), blob.Meta{})
		if err == nil && info.CID != it.b.want.CID {
			err = fmt.Errorf("stored %s as %s", it.b.want.CID, info.CID)
		}
		if err != nil {
			bt.Discard()
			return fmt.Errorf("put %s: %w", it.b.want.CID, err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	return nil
}

// refresh re-reads the wants and starts tracking new ones.
func (n *Node) refresh() error {
	ctx := n.ctx
	ws, err := n.cfg.Wants.Wanted(ctx)
	if err != nil {
		return fmt.Errorf("read wants: %w", err)
	}
	n.mu.Lock()
	var fresh []Want
	seen := make(map[cid.Cid]bool, len(ws))
	for _, w := range ws {
		if w.Class <= blob.ClassSkeleton || w.Class >= blob.NumClasses {
			w.Class = blob.ClassAttachment
		}
		if seen[w.CID] {
			continue
		}
		seen[w.CID] = true
		if _, ok := n.sched.blobs[w.CID]; !ok {
			fresh = append(fresh, w)
		}
	}
	n.mu.Unlock()

	// Which of the new wants are already here?
	present := map[cid.Cid]int64{}
	if len(fresh) > 256 {
		err := n.cfg.Store.Enumerate(ctx, func(i blob.Info) error {
			present[i.CID] = i.Size
			return nil
		})
		if err != nil {
			return fmt.Errorf("enumerate blobs: %w", err)
		}
	} else {
		for _, w := range fresh {
			if info, err := n.cfg.Store.Stat(ctx, w.CID); err == nil {
				present[w.CID] = info.Size
			}
		}
	}
	type prep struct {
		b    *blobState
		task *task
	}
	var preps []prep
	for _, w := range fresh {
		b := &blobState{want: w, size: w.Size}
		if sz, ok := present[w.CID]; ok {
			b.size, b.done = sz, true
			preps = append(preps, prep{b: b})
			continue
		}
		raw := w.CID.Prefix().Codec == cid.Raw
		if raw && w.Size > 0 && w.Size <= smallMax {
			b.small = true
			preps = append(preps, prep{b, &task{b: b, kind: tkLeaf, size: w.Size}})
			continue
		}
		if sk, err := n.cfg.Store.Skeleton(ctx, w.CID); err == nil {
			b.sk, b.size = sk, sk.Size
		} else if raw && w.Size > 0 && w.Size <= chunk.ChunkSize {
			b.sk = &chunk.Skeleton{Root: w.CID, Size: w.Size, Leaves: []chunk.Leaf{{CID: w.CID, Size: int(w.Size)}}}
		}
		if b.sk != nil {
			preps = append(preps, prep{b, &task{b: b, kind: tkOpen}})
		} else {
			preps = append(preps, prep{b, &task{b: b, kind: tkSkeleton, size: 4 << 10}})
		}
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	n.prog.mu.Lock()
	for _, p := range preps {
		if _, ok := n.sched.blobs[p.b.want.CID]; ok {
			continue
		}
		n.sched.blobs[p.b.want.CID] = p.b
		cp := &n.prog.classes[p.b.want.Class]
		cp.FilesWanted++
		cp.BytesWanted += p.b.size
		if p.b.done {
			n.sched.have[p.b.want.CID] = true
			cp.FilesDone++
			cp.BytesDone += p.b.size
			p.b.bytesDone = p.b.size
			continue
		}
		n.sched.left++
		n.sched.push(p.task)
	}
	n.prog.mu.Unlock()
	n.sched.refreshed = true
	return nil
}

// schedLoop runs the scheduler: re-reads wants when told, fills the
// sessions' windows, updates rates and decides completeness.
func (n *Node) schedLoop() {
	defer n.wg.Done()
	const period = 200 * time.Millisecond
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kickCh:
		case now := <-tick.C:
			n.prog.tick(now)
			n.mu.Lock()
			for _, s := range n.sessions {
				s.rate = 0.7*s.rate + 0.3*float64(s.recv-s.lastRx)/period.Seconds()
				s.lastRx = s.recv
				bdp := int64(2 * s.rate * s.rtt.Seconds())
				s.window = min(max(bdp, minWindow), maxWindow)
			}
			n.mu.Unlock()
		}
		n.mu.Lock()
		dirty := n.sched.dirty
		n.sched.dirty = false
		n.mu.Unlock()
		if dirty {
			t0 := time.Now()
			err := n.refresh()
			n.log.Debug("wants refreshed", "took", time.Since(t0), "err", err)
			if err != nil {
				n.log.Warn("refresh wants", "err", err)
				n.mu.Lock()
				n.sched.dirty = true
				n.mu.Unlock()
			}
		}
		n.mu.Lock()
		n.fill()
		complete := n.completeLocked()
		idle, unavailable := n.idleLocked()
		n.prog.mu.Lock()
		was, wasIdle := n.prog.complete, n.prog.idle
		n.prog.complete = complete
		n.prog.idle = idle || complete
		if idle {
			n.prog.unavailable = unavailable
		} else if complete {
			n.prog.unavailable = 0
		}
		n.prog.mu.Unlock()
		n.mu.Unlock()
		if complete && !was {
			n.emit(CompleteEvent{})
		}
		if (complete && !was) || (idle && !wasIdle) {
			n.progressChanged()
		}
	}
}

// completeLocked reports whether every wanted blob is here and records
// were pulled from every connected member. Called with n.mu held.
func (n *Node) completeLocked() bool {
	if !n.sched.refreshed || n.sched.dirty || n.sched.left > 0 || len(n.sessions) == 0 {
		return false
	}
	for p := range n.sessions {
		ps := n.pulls[p]
		if ps == nil || !ps.synced || ps.running {
			return false
		}
	}
	return true
}

// idleLocked reports whether nothing more can be fetched from the
// connected members right now: records pulled, nothing in flight, and
// every missing piece refused (DONT_HAVE) by every session; unavailable
// counts the blobs so missing. Called with n.mu held.
func (n *Node) idleLocked() (idle bool, unavailable int) {
	if !n.sched.refreshed || n.sched.dirty || len(n.sessions) == 0 || n.sched.opening > 0 || n.sched.finishing > 0 {
		return false, 0
	}
	var ready []*session
	for p, s := range n.sessions {
		if len(s.inflight) > 0 {
			return false, 0
		}
		if ps := n.pulls[p]; ps == nil || !ps.synced || ps.running {
			return false, 0
		}
		if s.ready {
			ready = append(ready, s)
		}
	}
	if len(ready) == 0 {
		return false, 0
	}
	lacking := map[*blobState]bool{}
	for _, t := range n.sched.pending {
		if t.done || t.b.done || lacking[t.b] {
			continue
		}
		for _, s := range ready {
			if !s.lacks[t.b.want.CID] {
				return false, 0
			}
		}
		lacking[t.b] = true
	}
	return true, len(lacking)
}

// SyncAvailable is Sync that also returns when nothing more can be had
// from the connected members (every missing blob refused by all of them,
// Snapshot.Unavailable counts them): complete reports whether everything
// wanted is here. Use it for "sync with whoever is here, then stop".
func (n *Node) SyncAvailable(ctx context.Context) (complete bool, err error) {
	return n.sync(ctx, true)
}

// Sync pulls records from every connected member, re-reads the wants and
// returns once everything this device wants is present and verified
// (Progress().Complete), or when ctx ends. It needs at least one connected
// member; the node keeps serving and fetching after Sync returns.
func (n *Node) Sync(ctx context.Context) error {
	_, err := n.sync(ctx, false)
	return err
}

func (n *Node) sync(ctx context.Context, orIdle bool) (bool, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return false, ErrClosed
	}
	if !n.started {
		n.mu.Unlock()
		return false, errors.New("exchange: Sync before Start")
	}
	n.sched.dirty = true
	var peers []peer.ID
	for p := range n.sessions {
		peers = append(peers, p)
		if ps := n.pulls[p]; ps != nil {
			ps.synced = false
		}
	}
	n.prog.mu.Lock()
	n.prog.complete = false
	n.prog.idle = false
	n.prog.mu.Unlock()
	n.mu.Unlock()
	for _, p := range peers {
		n.pullRecords(p)
	}
	n.kick()
	for {
		n.mu.Lock()
		ch := n.changed
		n.mu.Unlock()
		n.prog.mu.Lock()
		done, idle := n.prog.complete, n.prog.idle
		n.prog.mu.Unlock()
		if done || (orIdle && idle) {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-n.ctx.Done():
			return false, ErrClosed
		case <-ch:
		}
	}
}
