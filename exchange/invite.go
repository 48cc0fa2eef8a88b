package exchange

import (
	"bufio"
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/exchange/wire"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// handleInvite serves /fieldsync/invite/1.0.0: one opaque request, one
// opaque response, handled by the project's InviteHandler. Any peer that is
// not blocked may use it; a refusal is an answer with its reason (an invite
// used, expired, revoked or unknown), never a reset, so that a joiner
// learns why.
func (n *Node) handleInvite(s network.Stream) {
	p := s.Conn().RemotePeer()
	inv := n.cfg.Invites
	if n.cfg.Access.Role(p) == RoleBlocked {
		s.Reset()
		n.host.Network().ClosePeer(p) //nolint:errcheck
		return
	}
	if inv == nil {
		s.Reset()
		return
	}
	if err := s.Scope().SetService(svcInvite); err != nil {
		s.Reset()
		return
	}
	if err := s.Scope().ReserveMemory(2*wire.MaxInviteMessage, network.ReservationPriorityAlways); err != nil {
		s.Reset()
		return
	}
	defer s.Scope().ReleaseMemory(2 * wire.MaxInviteMessage)
	s.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := wire.ReadFrame(bufio.NewReader(s), wire.MaxInviteMessage, nil)
	if err != nil {
		s.Reset()
		return
	}
	var req wire.InviteMessage
	if err := req.Unmarshal(msg); err != nil {
		s.Reset()
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	var resp wire.InviteMessage
	out, err := inv.Handle(ctx, p, req.Payload)
	if err != nil {
		n.log.Info("invite refused", "peer", p, "err", err)
		resp.Code = wire.CodeOf(err)
	} else {
		resp.Payload = out
	}
	b := resp.Marshal(nil)
	if len(b) > wire.MaxInviteMessage {
		s.Reset()
		return
	}
	s.SetWriteDeadline(streamDeadline(len(b)))
	if _, err := s.Write(wire.AppendFrame(nil, b)); err != nil {
		s.Reset()
		return
	}
	s.Close()
	if err == nil {
		// The joiner may be a member now.
		go n.Notify()
	}
}

// Invite sends an invite request to the inviting device ai (dialling it at
// the given addresses) and returns its response. Remote refusals are errors
// wrapping wire.ErrDenied and the like.
func (n *Node) Invite(ctx context.Context, ai peer.AddrInfo, req []byte) ([]byte, error) {
	if len(req) > wire.MaxInviteMessage-16 {
		return nil, fmt.Errorf("invite: request of %d bytes: %w", len(req), wire.ErrTooLarge)
	}
	if err := n.host.Connect(ctx, ai); err != nil {
		return nil, fmt.Errorf("invite: connect: %w", err)
	}
	s, err := n.host.NewStream(ctx, ai.ID, ProtoInvite)
	if err != nil {
		return nil, fmt.Errorf("invite: open stream: %w", err)
	}
	s.SetDeadline(time.Now().Add(45 * time.Second))
	m := wire.InviteMessage{Payload: req}
	if _, err := s.Write(wire.AppendFrame(nil, m.Marshal(nil))); err != nil {
		s.Reset()
		return nil, fmt.Errorf("invite: send: %w", err)
	}
	s.CloseWrite()
	msg, err := wire.ReadFrame(bufio.NewReader(s), wire.MaxInviteMessage, nil)
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("invite: read response: %w", err)
	}
	s.Close()
	var resp wire.InviteMessage
	if err := resp.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	if err := resp.Code.Err(); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	// The inviter may know this device now: a refusal it gave before no
	// longer holds.
	n.mu.Lock()
	delete(n.coolUntil, ai.ID)
	n.mu.Unlock()
	go n.Notify()
	return resp.Payload, nil
}
