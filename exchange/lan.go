package exchange

// This file: invites on the local network. A device serving open invites
// advertises each under a DNS-SD service name of its own (mDNS), derived
// from the invite's tag (project.InviteTag, a hash of its ID), so that a
// joiner holding only a short code (no address) finds it.

import (
	"context"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// InviteServiceName is the DNS-SD service an open invite is advertised
// under on the local network.
func InviteServiceName(tag string) string { return "_fsi-" + tag + "._udp" }

// invitesLAN is the set of invite advertisements running.
type invitesLAN struct {
	mu   sync.Mutex
	svcs map[string]mdns.Service // by tag
}

// AdvertiseInvites advertises exactly tags on the local network: it starts
// an mDNS service for each new tag and stops those of tags no longer
// given (an invite used, revoked or expired).
func (n *Node) AdvertiseInvites(tags []string) {
	want := map[string]bool{}
	for _, t := range tags {
		want[t] = true
	}
	l := &n.lan
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.svcs == nil {
		l.svcs = map[string]mdns.Service{}
	}
	for t, s := range l.svcs {
		if !want[t] {
			s.Close()
			delete(l.svcs, t)
		}
	}
	for t := range want {
		if _, ok := l.svcs[t]; ok || n.ctx.Err() != nil {
			continue
		}
		s := mdns.NewMdnsService(n.host, InviteServiceName(t), ignoreFound{})
		if err := s.Start(); err != nil {
			n.log.Warn("advertise invite", "err", err)
			continue
		}
		l.svcs[t] = s
	}
}

// closeLAN stops every advertisement.
func (n *Node) closeLAN() {
	n.lan.mu.Lock()
	defer n.lan.mu.Unlock()
	for t, s := range n.lan.svcs {
		s.Close()
		delete(n.lan.svcs, t)
	}
}

type ignoreFound struct{}

func (ignoreFound) HandlePeerFound(peer.AddrInfo) {}

// FindInviter looks on the local network for the device advertising the
// invite tag, until it answers or ctx ends.
func (n *Node) FindInviter(ctx context.Context, tag string) (peer.AddrInfo, error) {
	found := make(chan peer.AddrInfo, 8)
	s := mdns.NewMdnsService(n.host, InviteServiceName(tag), foundFunc(func(ai peer.AddrInfo) {
		if ai.ID == n.host.ID() {
			return
		}
		select {
		case found <- ai:
		default:
		}
	}))
	if err := s.Start(); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("look for the inviter on the local network: %w", err)
	}
	defer s.Close()
	select {
	case ai := <-found:
		return ai, nil
	case <-ctx.Done():
		return peer.AddrInfo{}, ctx.Err()
	}
}

type foundFunc func(peer.AddrInfo)

func (f foundFunc) HandlePeerFound(ai peer.AddrInfo) { f(ai) }
