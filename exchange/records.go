package exchange

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// recordsBatch is the most records sent in one batch.
const recordsBatch = 1000

// pullState tracks the records pull from one peer.
type pullState struct {
	running bool
	again   bool // another pull was asked for while one ran
	synced  bool // a pull completed since the peer connected
}

// handleRecords serves /fieldsync/records/1.0.0: repeatedly, read the
// requester's vector and answer one batch of the records it lacks, until
// the requester closes its side.
func (n *Node) handleRecords(s network.Stream) {
	p := s.Conn().RemotePeer()
	if !n.admit(s, svcRecords) {
		return
	}
	defer s.Scope().ReleaseMemory(wire.MaxRecordsRequest)
	r := bufio.NewReader(s)
	var buf, out, frame []byte
	for {
		s.SetReadDeadline(time.Now().Add(time.Minute))
		msg, err := wire.ReadFrame(r, wire.MaxRecordsRequest, buf)
		if err == io.EOF {
			s.Close()
			return
		}
		if err != nil {
			s.Reset()
			return
		}
		buf = msg[:0]
		var req wire.RecordsRequest
		if err := req.Unmarshal(msg); err != nil {
			n.log.Debug("records: bad request", "peer", p, "err", err)
			s.Reset()
			return
		}
		theirs := make(map[peer.ID]uint64, len(req.Vector))
		for _, e := range req.Vector {
			id, err := peer.IDFromBytes(e.Author)
			if err != nil {
				s.Reset()
				return
			}
			theirs[id] = e.Seq
		}
		limit := int(req.Limit)
		if limit <= 0 || limit > recordsBatch {
			limit = recordsBatch
		}
		var batch wire.RecordsBatch
		blocks, err := n.missingFor(p, theirs, limit)
		if err != nil {
			batch.Code = wire.CodeOf(err)
		}
		// Keep the batch under its cap; what is left comes next round.
		size := 0
		for i, b := range blocks {
			size += len(b) + 8
			if size > wire.MaxRecordsBatch-64 && i > 0 {
				blocks = blocks[:i]
				batch.More = true
				break
			}
		}
		batch.Blocks = blocks
		batch.More = batch.More || len(blocks) == limit
		out = batch.Marshal(out[:0])
		frame = wire.AppendFrame(frame[:0], out)
		s.SetWriteDeadline(streamDeadline(len(frame)))
		if _, err := s.Write(frame); err != nil {
			s.Reset()
			return
		}
		n.prog.addSent(p, len(frame))
	}
}

// admit checks the remote peer's role for a members-only protocol, sets the
// stream's resource-manager service and reserves memory for one request.
// It resets the stream and returns false if the peer may not use it.
func (n *Node) admit(s network.Stream, svc string) bool {
	p := s.Conn().RemotePeer()
	role := n.cfg.Access.Role(p)
	n.mu.Lock()
	_, banned := n.banned[p]
	n.mu.Unlock()
	if (role == RoleNone || role == RoleBlocked) && !banned && svc == svcRecords {
		// A device this project does not know, or has blocked, is told so
		// on the records protocol (the one a device opens first): it can
		// stop and say why, instead of retrying a reset stream. A blocked
		// one gets the signed records that block it, and is cut.
		if role == RoleBlocked {
			var evidence [][]byte
			if ev, ok := n.cfg.Records.(Evidencer); ok {
				evidence, _ = ev.Evidence(n.ctx, p)
			}
			n.refuse(s, p, wire.Blocked, evidence...)
			time.AfterFunc(2*time.Second, func() { n.host.Network().ClosePeer(p) }) //nolint:errcheck
			return false
		}
		n.refuse(s, p, wire.NotMember)
		return false
	}
	if banned || !role.IsMember() {
		s.Reset()
		switch {
		case banned:
			// Dropped for bad data: the report telling it why may still be
			// on its way on this connection (afterReport closes it once
			// delivered); closing now would cut it.
			time.AfterFunc(reportGrace, func() { n.host.Network().ClosePeer(p) }) //nolint:errcheck
		case role == RoleBlocked:
			n.host.Network().ClosePeer(p) //nolint:errcheck
		}
		return false
	}
	if err := s.Scope().SetService(svc); err != nil {
		s.Reset()
		return false
	}
	if err := s.Scope().ReserveMemory(wire.MaxRecordsRequest, network.ReservationPriorityAlways); err != nil {
		s.Reset()
		return false
	}
	return true
}

// refuse answers a records stream with a refusal code and closes it, and
// reports the refusal (at most once a minute per peer).
func (n *Node) refuse(s network.Stream, p peer.ID, code wire.Code, evidence ...[]byte) {
	frame := wire.AppendFrame(nil, (&wire.RecordsBatch{Code: code, Blocks: evidence}).Marshal(nil))
	s.SetWriteDeadline(streamDeadline(len(frame)))
	if _, err := s.Write(frame); err != nil {
		s.Reset()
	} else {
		s.Close()
	}
	n.mu.Lock()
	last := n.refusedAt[p]
	report := time.Since(last) > time.Minute
	if report {
		n.refusedAt[p] = time.Now()
	}
	n.mu.Unlock()
	if report {
		n.log.Info("refused a device", "peer", p, "why", code.Err())
		n.emit(RefusedEvent{Peer: p, Err: code.Err(), Inbound: true})
	}
}

// refusalCooldown is how long a peer that refused this device is left
// alone before it is tried again (it may learn of this device meanwhile,
// from the device that invited it).
const refusalCooldown = time.Minute

// refusedBy handles a peer's refusal of this device: its session ends,
// no other starts for refusalCooldown, and the refusal is reported.
func (n *Node) refusedBy(p peer.ID, err error) {
	reason := "it refused this device: not a member of its project"
	if errors.Is(err, wire.ErrBlocked) {
		reason = "it refused this device: blocked from its project"
	}
	n.mu.Lock()
	n.coolUntil[p] = time.Now().Add(refusalCooldown)
	n.prog.peerRefused(p, err, reason)
	n.mu.Unlock()
	n.log.Info("refused by peer", "peer", p, "reason", reason) // the event says it in words
	n.emit(PeerEvent{Peer: p, State: PeerRefused, Reason: reason})
	n.kick() // its session ends (session.run); the connection stays for other protocols (invites)
	n.emit(RefusedEvent{Peer: p, Err: err})
}

// pullRecords pulls the records p has that this device lacks, unless a
// pull from p is already running (then it runs once more afterwards).
func (n *Node) pullRecords(p peer.ID) {
	n.mu.Lock()
	ps := n.pulls[p]
	if ps == nil {
		ps = &pullState{}
		n.pulls[p] = ps
	}
	if ps.running {
		ps.again = true
		n.mu.Unlock()
		return
	}
	ps.running = true
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		for {
			t0 := time.Now()
			err := n.pullOnce(p)
			n.log.Debug("records pulled", "peer", p, "took", time.Since(t0), "err", err)
			n.mu.Lock()
			if err != nil {
				n.log.Debug("records pull failed", "peer", p, "err", err)
			} else {
				ps.synced = true
			}
			again := ps.again && !n.closed
			ps.again = false
			if !again {
				ps.running = false
			}
			n.mu.Unlock()
			n.progressChanged()
			if !again {
				return
			}
		}
	}()
}

// pullOnce runs one records exchange with p: send this device's vector,
// apply the batch that comes back, repeat while the peer has more.
func (n *Node) pullOnce(p peer.ID) (err error) {
	ctx, cancel := context.WithTimeout(network.WithNoDial(n.ctx, "records"), 5*time.Minute)
	defer cancel()
	s, err := n.host.NewStream(ctx, p, ProtoRecords)
	if err != nil {
		return fmt.Errorf("open records stream: %w", err)
	}
	defer func() {
		if err != nil {
			s.Reset()
		} else {
			s.Close()
		}
	}()
	if err := s.Scope().SetService(svcRecords); err != nil {
		return err
	}
	if err := s.Scope().ReserveMemory(wire.MaxRecordsBatch, network.ReservationPriorityHigh); err != nil {
		return err
	}
	defer s.Scope().ReleaseMemory(wire.MaxRecordsBatch)
	r := bufio.NewReader(s)
	var buf []byte
	total := 0
	for {
		vec, err := n.cfg.Records.Vector(ctx)
		if err != nil {
			return fmt.Errorf("read vector: %w", err)
		}
		req := wire.RecordsRequest{Limit: recordsBatch}
		for a, seq := range vec {
			req.Vector = append(req.Vector, wire.VectorEntry{Author: []byte(a), Seq: seq})
		}
		frame := wire.AppendFrame(nil, req.Marshal(nil))
		s.SetWriteDeadline(streamDeadline(len(frame)))
		if _, err := s.Write(frame); err != nil {
			return fmt.Errorf("send vector: %w", err)
		}
		n.prog.addSent(p, len(frame))
		s.SetReadDeadline(time.Now().Add(time.Minute))
		msg, err := wire.ReadFrame(r, wire.MaxRecordsBatch, buf)
		if err != nil {
			return fmt.Errorf("read records: %w", err)
		}
		var batch wire.RecordsBatch
		if err := batch.Unmarshal(msg); err != nil {
			return err
		}
		if err := batch.Code.Err(); err != nil {
			if errors.Is(err, wire.ErrBlocked) && len(batch.Blocks) > 0 {
				// The records that block this device: checked like any.
				if ev, ok := n.cfg.Records.(Evidencer); ok {
					if aerr := ev.AcceptEvidence(ctx, p, batch.Blocks); aerr != nil {
						n.log.Warn("evidence of a block", "peer", p, "err", aerr)
					}
				}
			}
			if errors.Is(err, wire.ErrNotMember) || errors.Is(err, wire.ErrBlocked) {
				n.refusedBy(p, err)
			}
			return fmt.Errorf("records from %s: %w", p, err)
		}
		n.prog.addRecv(p, len(msg))
		applied := 0
		if len(batch.Blocks) > 0 {
			applied, err = n.cfg.Records.Apply(ctx, p, batch.Blocks)
			if applied > 0 {
				total += applied
				n.recordsApplied(p, applied)
			}
			if err != nil {
				n.full(err)
				return fmt.Errorf("apply records from %s: %w", p, err)
			}
		}
		buf = msg[:0]
		if !batch.More || applied == 0 {
			if total > 0 {
				n.emit(RecordsEvent{From: p, Applied: total})
			}
			return nil
		}
	}
}

// recordsApplied re-reads the wants (new thumbnails jump the queue) and
// tells the other peers there is something new to pull.
func (n *Node) recordsApplied(from peer.ID, applied int) {
	n.mu.Lock()
	n.sched.dirty = true
	n.prog.recordsApplied += applied
	for p, s := range n.sessions {
		if p != from {
			s.sendChanged()
		}
	}
	n.mu.Unlock()
	n.kick()
}

// cooling reports whether p refused this device a moment ago.
func (n *Node) cooling(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return time.Now().Before(n.coolUntil[p])
}
