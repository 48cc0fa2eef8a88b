package exchange

import (
	"bufio"
	"context"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: the session, this device fetching from one member peer. It
// keeps a blobs stream open while the peer is connected, writes to it the
// wants that fill and the endgame build (send, newRequest, issue) and
// their cancels, reads the peer's replies (DATA frames go on to
// receive.go) and keeps the session's books: the requests in flight, their
// bytes against the window, the blobs the peer lacks. A request cut by a
// closed stream or refused by the peer goes back to the scheduler's
// pending queue (requeue).

// session is this device fetching from one member peer over one blobs
// stream at a time (reopened while the connection lasts).
type session struct {
	n     *Node
	peer  peer.ID
	out   chan wire.BlobRequest
	ready bool
	// changedPending: local records changed while the stream was not up;
	// the peer is told as soon as it is.
	changedPending bool
	inflight       map[uint64]*request
	inflightBytes  int64
	classCount     [blob.NumClasses]int
	window         int64
	lacks          map[cid.Cid]bool
	rtt            time.Duration
	recv, lastRx   int64
	rate           float64
	// firstData is when the first data frame arrived on the current
	// stream and firstRecv what recv was then: the rate before the
	// scheduler's first measurement (earlyRate).
	firstData time.Time
	firstRecv int64
	// cur is the blobs stream being read; keptFrame, set by data, says
	// the frame just handled keeps its buffer (a leaf's last frame, written
	// beside the read loop). Both are the read loop's own.
	cur       *streamCtl
	keptFrame bool
	// report: bad data from the peer, to tell it before it is dropped
	// (report.go); reportSent once written.
	report     *wire.BlobRequest
	reportSent bool
}

func newSession(n *Node, p peer.ID) *session {
	return &session{n: n, peer: p, inflight: map[uint64]*request{}, window: minWindow, lacks: map[cid.Cid]bool{}}
}

// hasRoom reports whether t may be sent now. A task of a better class than
// everything outstanding may overshoot the window (up to twice) so that a
// new thumbnail never waits behind a window full of originals.
func (s *session) hasRoom(t *task) bool {
	if !s.ready || len(s.inflight) >= maxInflightReqs || !s.outFree() {
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

// outFree reports whether the stream's writer can take one more want
// without blocking (the caller holds n.mu, so blocking would stall the
// node). The queue can hold more than the wants in flight: while the link
// stalls, the writer stops, and requests the endgame moved to another
// peer leave their want and its cancel behind in it. 64 slots stay for
// cancels and changes. Called with n.mu held.
func (s *session) outFree() bool {
	return s.out != nil && len(s.out) < cap(s.out)-64
}

func (s *session) sendChanged() {
	if !s.ready {
		s.changedPending = true // sent once the stream is up
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
	for n.ctx.Err() == nil && n.host.Network().Connectedness(s.peer) == network.Connected && !n.cooling(s.peer) {
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
		n.onConnected(s.peer, false)
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
	s.firstData = time.Time{}
	if s.changedPending {
		s.changedPending = false
		out <- wire.BlobRequest{Type: wire.ReqChanged}
	}
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
				werr <- s.sendReport(st, w)
				return
			}
		}
	}()
	err = s.readLoop(st)
	close(done)
	<-werr
	s.afterReport(st)
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

// speed is the session's measured rate, or before the scheduler has
// measured one, the rate since the stream's first data frame once that
// is long enough to tell (20 ms and 512 KiB); 0 if unknown. Called with
// n.mu held.
func (s *session) speed() float64 {
	if s.rate > 0 || s.firstData.IsZero() {
		return s.rate
	}
	d, k := time.Since(s.firstData), s.recv-s.firstRecv
	if d < 20*time.Millisecond || k < 512<<10 {
		return 0
	}
	return float64(k) / d.Seconds()
}

// streamCtl lets work the read loop handed off end its stream: fail
// records the first error and wakes the read loop, which returns it (so
// a report of bad data is sent, as when the read loop finds it itself).
type streamCtl struct {
	st  network.Stream
	mu  sync.Mutex
	err error
}

func (sc *streamCtl) fail(err error) {
	sc.mu.Lock()
	if sc.err == nil {
		sc.err = err
	}
	sc.mu.Unlock()
	sc.st.SetReadDeadline(time.Now())
}

func (sc *streamCtl) failed() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.err
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
	if r.t.kind != tkSkeleton {
		r.t.b.inflight--
	}
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
	s.cur = &streamCtl{st: st}
	for {
		msg, err := wire.ReadFrame(r, wire.MaxBlobResponse, buf)
		if ferr := s.cur.failed(); ferr != nil {
			return ferr
		}
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
			var cs []cid.Cid
			n.mu.Lock()
			for _, b := range m.CIDs {
				if c, err := cid.Cast(b); err == nil {
					delete(s.lacks, c)
					cs = append(cs, c)
				}
			}
			n.mu.Unlock()
			n.announced(s.peer, cs)
			n.kick()
		case wire.RespHave:
			n.haveAnswered(m.ID, m.CIDs)
		case wire.RespDontHave:
			n.mu.Lock()
			if req := s.inflight[m.ID]; req != nil {
				s.lacks[req.t.b.want.CID] = true
				s.requeue(req)
			}
			n.mu.Unlock()
			n.kick()
		case wire.RespData:
			err := s.data(&m)
			if s.keptFrame {
				s.keptFrame, buf = false, nil // the frame's buffer went with it
			}
			if err != nil {
				return err
			}
		}
	}
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
			r.whole = r.off == 0 && s.speed()*wholeWithin.Seconds() >= float64(t.size)
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
	if r.t.kind != tkSkeleton {
		r.t.b.inflight++
	}
	s.out <- m // room is guaranteed: the callers checked outFree under n.mu
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
