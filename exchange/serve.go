package exchange

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The responder side of /fieldsync/blobs/1.0.0. Each member that fetches
// from this device opens one blobs stream; its wants go into one priority
// queue, served a frame at a time so that a newly arrived thumbnail waits
// for at most one frame of an original:
//
//	reader ──want/cancel──▶ queue (class, newest, id) ──top──▶ writer ──frames──▶ peer
//	                           ▲
//	          announce ────────┘ (ahead of everything)

// maxServeQueue bounds the wants queued from one peer.
const maxServeQueue = 4096

// serveBufs is how many leaf buffers a serving stream keeps for reuse:
// leaves of complete blobs are read into them rather than into a fresh
// 1 MiB allocation each, so serving a big original makes no garbage per
// leaf. Two cover the usual case (one item in flight, one preempted by a
// thumbnail) and match the memory handleBlobs reserves.
const serveBufs = 2

type serveReq struct {
	id       uint64
	root     cid.Cid
	kind     uint32
	leaf     int
	off      int // next byte to send
	class    uint32
	observed int64
	index    int
	data     []byte // loaded item (skeleton bytes or leaf), nil until first served
	pooled   bool   // data is one of the server's leaf buffers
	looked   bool   // its blob was looked up ahead (prefetch)
}

type serveQueue []*serveReq

func (q serveQueue) Len() int { return len(q) }
func (q serveQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if a.class != b.class {
		return a.class < b.class
	}
	if a.observed != b.observed {
		return a.observed > b.observed
	}
	return a.id < b.id
}
func (q serveQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *serveQueue) Push(x any)   { r := x.(*serveReq); r.index = len(*q); *q = append(*q, r) }
func (q *serveQueue) Pop() any {
	old := *q
	r := old[len(old)-1]
	*q = old[:len(old)-1]
	r.index = -1
	return r
}

type server struct {
	n    *Node
	peer peer.ID
	s    network.Stream

	mu       sync.Mutex
	wake     chan struct{}
	q        serveQueue
	byID     map[uint64]*serveReq
	announce [][]byte
	haves    []*wire.BlobResponse // HAVE answers to send (upload.go)
	hello    bool
	done     bool
	reports  int // CORRUPT reports read

	bufs [][]byte  // free leaf buffers; used by the writer goroutine only
	look []cid.Cid // prefetch's list, reused; the writer goroutine's too
}

// leafBuf returns a free leaf buffer (chunk.ChunkSize bytes).
func (sv *server) leafBuf() []byte {
	if k := len(sv.bufs); k > 0 {
		b := sv.bufs[k-1]
		sv.bufs = sv.bufs[:k-1]
		return b
	}
	return make([]byte, chunk.ChunkSize)
}

// release drops r's loaded item, keeping its buffer for reuse if it is a
// leaf buffer. Only once r's last frame has been written: the stream
// copies what it is given before Write returns.
func (sv *server) release(r *serveReq) {
	if r.pooled && len(sv.bufs) < serveBufs {
		sv.bufs = append(sv.bufs, r.data[:chunk.ChunkSize])
	}
	r.data, r.pooled = nil, false
}

func (n *Node) handleBlobs(s network.Stream) {
	if !n.admit(s, svcBlobs) {
		return
	}
	// admit reserved MaxRecordsRequest; hold frame buffers too.
	extra := wire.MaxBlobResponse + 2*chunk.ChunkSize
	if err := s.Scope().ReserveMemory(extra, network.ReservationPriorityHigh); err != nil {
		s.Scope().ReleaseMemory(wire.MaxRecordsRequest)
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(extra + wire.MaxRecordsRequest)
	sv := &server{n: n, peer: s.Conn().RemotePeer(), s: s, wake: make(chan struct{}, 1), byID: map[uint64]*serveReq{}}
	n.mu.Lock()
	n.servers[sv] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.servers, sv)
		n.mu.Unlock()
	}()
	errc := make(chan error, 1)
	go func() { errc <- sv.readLoop() }()
	werr := sv.writeLoop(errc)
	if werr != nil {
		s.Reset()
		return
	}
	s.Close()
}

func (sv *server) signal() {
	select {
	case sv.wake <- struct{}{}:
	default:
	}
}

func (sv *server) readLoop() error {
	r := bufio.NewReader(sv.s)
	var buf []byte
	defer func() {
		sv.mu.Lock()
		sv.done = true
		sv.mu.Unlock()
		sv.signal()
	}()
	for {
		msg, err := wire.ReadFrame(r, wire.MaxBlobRequest, buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		buf = msg[:0]
		var m wire.BlobRequest
		if err := m.Unmarshal(msg); err != nil {
			return err
		}
		switch m.Type {
		case wire.ReqHello:
			sv.n.prog.peerFilter(sv.peer, Filter(m.Filter))
			sv.mu.Lock()
			sv.hello = true
			sv.mu.Unlock()
		case wire.ReqWant:
			c, err := cid.Cast(m.CID)
			if err != nil || chunk.CheckCID(c) != nil || m.Kind > wire.KindLeaf {
				return fmt.Errorf("want: %w", wire.ErrBadRequest)
			}
			sv.mu.Lock()
			if len(sv.q) >= maxServeQueue {
				sv.mu.Unlock()
				return fmt.Errorf("want: queue full: %w", wire.ErrBusy)
			}
			if _, dup := sv.byID[m.ID]; !dup {
				r := &serveReq{id: m.ID, root: c, kind: m.Kind, leaf: int(m.Leaf), off: int(m.Offset), class: m.Class, observed: m.Observed}
				sv.byID[m.ID] = r
				heap.Push(&sv.q, r)
			}
			sv.mu.Unlock()
		case wire.ReqCancel:
			sv.mu.Lock()
			if r := sv.byID[m.ID]; r != nil {
				delete(sv.byID, m.ID)
				if r.index >= 0 {
					heap.Remove(&sv.q, r.index)
				}
			}
			sv.mu.Unlock()
		case wire.ReqChanged:
			sv.n.pullRecords(sv.peer)
		case wire.ReqCorrupt:
			if err := sv.corrupt(&m); err != nil {
				return err
			}
		case wire.ReqHave:
			a, err := sv.answerHave(&m)
			if err != nil {
				return err
			}
			sv.mu.Lock()
			if len(sv.haves) >= 64 {
				sv.mu.Unlock()
				return fmt.Errorf("have: too many unanswered: %w", wire.ErrBusy)
			}
			sv.haves = append(sv.haves, a)
			sv.mu.Unlock()
		}
		sv.signal()
	}
}

// writeLoop serves the queue a frame at a time, re-choosing the top of the
// queue between frames, and flushes whenever the queue runs dry.
func (sv *server) writeLoop(readErr <-chan error) error {
	w := bufio.NewWriterSize(sv.s, 64<<10)
	var head []byte
	send := func(m *wire.BlobResponse) error {
		// The data is written straight from the loaded item, not copied
		// into a message buffer first.
		head = wire.AppendResponseHead(head[:0], m)
		sv.s.SetWriteDeadline(streamDeadline(len(head) + len(m.Data)))
		if _, err := w.Write(head); err != nil {
			return err
		}
		if _, err := w.Write(m.Data); err != nil {
			return err
		}
		sv.n.prog.addSent(sv.peer, len(m.Data))
		return nil
	}
	for {
		sv.mu.Lock()
		var ann [][]byte
		if len(sv.announce) > 0 {
			ann, sv.announce = sv.announce, nil
		}
		haves := sv.haves
		sv.haves = nil
		hello := sv.hello
		sv.hello = false
		var top *serveReq
		if len(sv.q) > 0 {
			top = sv.q[0]
		}
		done := sv.done
		sv.mu.Unlock()

		if hello {
			if err := send(&wire.BlobResponse{Type: wire.RespHello, Filter: uint32(sv.n.cfg.Filter)}); err != nil {
				return err
			}
		}
		for _, h := range haves {
			if err := send(h); err != nil {
				return err
			}
		}
		for len(ann) > 0 {
			k := min(len(ann), 2048)
			if err := send(&wire.BlobResponse{Type: wire.RespAnnounce, CIDs: ann[:k]}); err != nil {
				return err
			}
			ann = ann[k:]
		}
		if top == nil {
			if err := w.Flush(); err != nil {
				return err
			}
			if done {
				return <-readErr
			}
			select {
			case <-sv.wake:
			case <-sv.n.ctx.Done():
				return sv.n.ctx.Err()
			}
			continue
		}
		m, finished, err := sv.nextFrame(top)
		if err != nil {
			return err
		}
		if finished {
			sv.mu.Lock()
			if top.index >= 0 {
				heap.Remove(&sv.q, top.index)
			}
			delete(sv.byID, top.id)
			sv.mu.Unlock()
		}
		if err := send(m); err != nil {
			return err
		}
		if finished {
			sv.release(top)
		}
	}
}

// nextFrame loads r's item if needed and returns its next frame, or a
// don't-have. finished reports that r needs nothing more.
func (sv *server) nextFrame(r *serveReq) (*wire.BlobResponse, bool, error) {
	ctx := sv.n.ctx
	if r.data == nil && !sv.n.mayServe(sv.peer, r.root) {
		return &wire.BlobResponse{Type: wire.RespDontHave, ID: r.id, Code: wire.NotFound}, true, nil
	}
	if r.data == nil {
		sv.prefetch(r)
		buf := sv.leafBuf()
		var err error
		r.data, err = sv.n.load(ctx, r.root, r.kind, r.leaf, buf)
		r.pooled = len(r.data) > 0 && &r.data[0] == &buf[0]
		if !r.pooled && len(sv.bufs) < serveBufs {
			sv.bufs = append(sv.bufs, buf)
		}
		if err != nil {
			return &wire.BlobResponse{Type: wire.RespDontHave, ID: r.id, Code: wire.CodeOf(err)}, true, nil
		}
		sv.served(r.root)
		if r.off > len(r.data) {
			return &wire.BlobResponse{Type: wire.RespDontHave, ID: r.id, Code: wire.BadRequest}, true, nil
		}
	}
	end := min(r.off+sv.n.cfg.FrameSize, len(r.data))
	m := &wire.BlobResponse{Type: wire.RespData, ID: r.id, Offset: uint32(r.off), Data: r.data[r.off:end], Total: uint64(len(r.data))}
	r.off = end
	m.Last = end == len(r.data)
	return m, m.Last, nil
}

// prefetchAhead is how many queued wants prefetch looks up at once.
const prefetchAhead = 64

// prefetch has the store look up, in one go, the blobs of r and of the
// wants queued with it that were not looked up yet, where the store can
// (blob.Prefetcher): serving 30,000 small blobs, a query per blob was a
// third of the sender's CPU. The queue is a heap, so these are not
// exactly the next to be served, but near the top and soon served.
func (sv *server) prefetch(r *serveReq) {
	pf, ok := sv.n.cfg.Store.(blob.Prefetcher)
	if !ok || r.looked {
		return
	}
	sv.look = append(sv.look[:0], r.root)
	r.looked = true
	sv.mu.Lock()
	for _, q := range sv.q {
		if len(sv.look) == prefetchAhead {
			break
		}
		if !q.looked && q.data == nil {
			q.looked = true
			sv.look = append(sv.look, q.root)
		}
	}
	sv.mu.Unlock()
	if len(sv.look) > 1 {
		pf.Prefetch(sv.n.ctx, sv.look)
	}
}

// skeleton returns the skeleton of root (complete or partial), cached.
func (n *Node) skeleton(ctx context.Context, root cid.Cid) (*chunk.Skeleton, error) {
	n.mu.Lock()
	sk := n.skCache[root]
	if b := n.partials[root]; sk == nil && b != nil {
		sk = b.sk
	}
	n.mu.Unlock()
	if sk != nil {
		return sk, nil
	}
	sk, err := n.cfg.Store.Skeleton(ctx, root)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if len(n.skCache) >= 4096 {
		clear(n.skCache)
	}
	n.skCache[root] = sk
	n.mu.Unlock()
	return sk, nil
}

// load reads what a peer asked for: a blob's marshalled skeleton, or one of
// its leaves, from a complete blob or from a partial one being received. A
// leaf of a complete blob is read into buf (chunk.ChunkSize bytes) when the
// store can; anything else is returned in memory of its own.
func (n *Node) load(ctx context.Context, root cid.Cid, kind uint32, leaf int, buf []byte) ([]byte, error) {
	if kind == wire.KindLeaf && root.Prefix().Codec == cid.Raw && leaf == 0 {
		// A one-leaf blob: the leaf is the blob, read into buf (growing a
		// buffer to its size cost more than the rest of serving it).
		if data, err := readInto(ctx, n.cfg.Store, root, buf); err == nil {
			return data, nil
		}
	}
	sk, err := n.skeleton(ctx, root)
	if err != nil {
		return nil, err
	}
	if kind == wire.KindSkeleton {
		return sk.MarshalBinary()
	}
	if leaf < 0 || leaf >= len(sk.Leaves) {
		return nil, wire.ErrBadRequest
	}
	l := sk.Leaves[leaf]
	if l.Size <= len(buf) {
		if err := blob.ReadRangeInto(ctx, n.cfg.Store, root, l.Offset, buf[:l.Size]); err == nil {
			return buf[:l.Size], nil
		}
	} else if data, err := blob.ReadRange(ctx, n.cfg.Store, root, l.Offset, l.Size); err == nil {
		return data, nil
	}
	n.mu.Lock()
	b := n.partials[root]
	n.mu.Unlock()
	if b != nil && b.part != nil {
		b.wmu.Lock()
		defer b.wmu.Unlock()
		if b.part != nil && b.part.Have(leaf) {
			return b.part.ReadLeaf(ctx, leaf)
		}
	}
	return nil, fs.ErrNotExist
}

// readInto reads the whole of blob c into buf (chunk.ChunkSize bytes) if
// it fits, or into memory of its own if not (at most chunk.ChunkSize+1
// bytes are read: a raw blob is one leaf).
func readInto(ctx context.Context, f blob.Fetcher, c cid.Cid, buf []byte) ([]byte, error) {
	rc, err := f.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	k, err := io.ReadFull(rc, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return buf[:k], nil
	case err != nil:
		return nil, err
	}
	// buf is full: anything more is an oversized raw blob, sent as it is
	// (the receiver rejects it).
	var one [1]byte
	if k, _ := io.ReadFull(rc, one[:]); k == 0 {
		return buf, nil
	}
	return append(bytes.Clone(buf), one[0]), nil
}

// announceComplete tells every peer fetching from this device that c is
// now complete here.
func (n *Node) announceComplete(c cid.Cid) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for sv := range n.servers {
		if !n.mayServe(sv.peer, c) {
			continue
		}
		sv.mu.Lock()
		sv.announce = append(sv.announce, c.Bytes())
		sv.mu.Unlock()
		sv.signal()
	}
}
