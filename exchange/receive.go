package exchange

import (
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: what a session does with each DATA frame. A skeleton, a
// small blob or an endgame duplicate is received whole into memory and
// verified at its last frame; a leaf of a partial blob is written to the
// store frame by frame (kept, resumable) and verified by the store. Bad
// data requeues the piece and, when the peer is to blame, tells the peer
// and drops it (report.go).

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
	if s.firstData.IsZero() {
		s.firstData, s.firstRecv = time.Now(), s.recv
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
	if t.kind == tkSkeleton || t.b.small || req.dup || req.whole {
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
	if req.buf == nil {
		switch {
		case m.Total > smallMax && t.b.small || req.whole:
			req.buf = getWholeBuf() // a medium blob: back to the pool once stored
		case t.b.small && t.kind == tkLeaf:
			req.buf = getSmallBuf(int(m.Total)) // back to its pool once stored
		default:
			req.buf = make([]byte, 0, m.Total)
		}
	}
	req.buf = append(req.buf, m.Data...)
	req.off += len(m.Data)
	if !m.Last {
		return nil
	}
	if req.whole {
		// The whole leaf, as one last frame from offset 0: verified,
		// written and committed beside the read loop (leafPart). The read
		// loop keeps its own buffer; req.buf goes back to the pool once
		// written.
		req.off = 0
		n.wholeLeaves.Add(1)
		err := s.leafPart(req, &wire.BlobResponse{Type: m.Type, ID: m.ID, Total: m.Total, Last: true, Data: req.buf})
		s.keptFrame = false
		return err
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
		leaf, _ := leafOf(t)
		n.log.Debug("bad data", "peer", s.peer, "blob", t.b.want.CID, "leaf", leaf, "err", err)
		s.badData(t, fmt.Sprintf("%s of %s failed verification", pieceName(leaf), t.b.want.CID))
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
			t.b.started = true // verified, being stored: its partner waits
		}
		n.mu.Unlock()
		if first {
			// Wait (not reading from the peer) while the batches are
			// behind by smallQueueBytes: the memory stays bounded.
			if err := n.sched.smallSem.Acquire(n.ctx, int64(len(req.buf))); err != nil {
				return err
			}
			select {
			case n.sched.smallCh <- smallItem{b: t.b, data: req.buf, from: s.peer}:
			case <-n.ctx.Done():
				n.sched.smallSem.Release(int64(len(req.buf)))
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
			n.mu.Lock()
			s.requeue(req)
			n.mu.Unlock()
			if !n.full(err) {
				n.log.Warn("write leaf", "blob", b.want.CID, "leaf", t.leaf, "err", err)
			}
			return nil
		}
		s.leafStored(t, req)
	}
	n.kick()
	return nil
}

// leafStored does the books of a leaf now verified and had: durable, or
// for a fast peer's leaf within about 100 ms (blob.SoonWriter).
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
	b.started = true
	commit := b.left == 0
	if commit {
		n.sched.finishing++
	}
	kept := t.progress // now counted in BytesDone
	t.progress = 0
	n.prog.mu.Lock()
	n.prog.leaves++
	n.prog.credit(b, size)
	n.prog.addKept(b, -int64(kept))
	n.prog.mu.Unlock()
	n.mu.Unlock()
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
	if m.Last {
		// The leaf's last frame: its verification, fsync and commit run
		// beside the reading of the next frames (and group with those of
		// other leaves finishing meanwhile), so the link does not wait for
		// the disk. The frame's buffer goes with it.
		select {
		case n.leafWrites <- struct{}{}:
		case <-n.ctx.Done():
			return n.ctx.Err()
		}
		// Its bytes are all here: they leave the window now, not once
		// durable, so the peer keeps sending meanwhile.
		// (finishing keeps the node from looking idle meanwhile.)
		n.mu.Lock()
		s.finish(req)
		n.sched.finishing++
		b.started = true // its last bytes are here: its partner waits
		n.mu.Unlock()
		s.keptFrame = true
		sc := s.cur
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer func() {
				<-n.leafWrites
				n.mu.Lock()
				n.sched.finishing--
				n.mu.Unlock()
				n.kick()
			}()
			if err := s.writePart(req, m, single, false); err != nil {
				sc.fail(err) // bad data: end the stream as the read loop would
			}
			if req.whole {
				putWholeBuf(m.Data)
			}
		}()
		return nil
	}
	return s.writePart(req, m, single, true)
}

// writePart writes a frame of a leaf to its partial blob and does the
// books: kept bytes, a verified leaf, or bad data. The leaf's last frame
// is written without b.wmu (the stores' partial blobs take writes of
// different leaves at once; a leaf is written by one caller at a time),
// so that its fsync does not hold up the frames of the next leaf.
func (s *session) writePart(req *request, m *wire.BlobResponse, single, lock bool) error {
	n, t := s.n, req.t
	b := t.b
	var done bool
	var err error
	if lock {
		b.wmu.Lock()
	}
	switch {
	case b.part.Have(t.leaf):
		done = true // an endgame duplicate stored it
	case m.Offset == 0 && m.Last:
		if sw, ok := b.part.(blob.SoonWriter); ok && req.whole {
			// From a peer that brings a leaf in within wholeWithin: a
			// crash loses as much in flight either way, and the store
			// makes many such leaves durable with one fsync.
			err = sw.WriteLeafSoon(n.ctx, t.leaf, m.Data)
		} else {
			err = b.part.WriteLeaf(n.ctx, t.leaf, m.Data)
		}
		done = err == nil
	default:
		done, err = b.part.WriteLeafPart(n.ctx, t.leaf, int(m.Offset), m.Data)
	}
	if lock {
		b.wmu.Unlock()
	}
	var verr *chunk.VerifyError
	switch {
	case errors.As(err, &verr):
		// The kept bytes are dropped by the store. If they all came from
		// this peer it lied; otherwise fetch the leaf whole from one peer.
		n.mu.Lock()
		n.setKept(t, 0)
		t.from, t.unknown = nil, false
		s.requeue(req)
		n.mu.Unlock()
		if single {
			s.badData(t, fmt.Sprintf("leaf %d of %s failed verification", t.leaf, b.want.CID))
			return err
		}
		n.log.Info("leaf from several peers failed verification; refetching whole", "blob", b.want.CID, "leaf", t.leaf)
		s.cancel(req)
		n.kick()
		return nil
	case err != nil:
		// Not the peer's fault: the leaf is fetched again from where the
		// kept bytes end, at once, or once space is freed if the disk is
		// full (n.full pauses fetching).
		b.wmu.Lock()
		p := b.part.LeafProgress(t.leaf)
		b.wmu.Unlock()
		n.mu.Lock()
		if !t.done {
			n.setKept(t, p)
		}
		s.requeue(req)
		n.mu.Unlock()
		s.cancel(req)
		if !n.full(err) {
			n.log.Warn("write leaf", "blob", b.want.CID, "leaf", t.leaf, "err", err)
		}
		n.kick()
		return nil
	}
	req.off += len(m.Data)
	if !done {
		n.mu.Lock()
		if !t.done { // else an endgame duplicate completed it meanwhile
			n.setKept(t, req.off)
		}
		n.mu.Unlock()
		return nil
	}
	s.leafStored(t, req)
	return nil
}
