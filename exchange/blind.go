package exchange

import (
	"context"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A blind archive (issue 17) syncs like a member but may hold only sealed
// records (envelopes) and sealed blobs. The exchange keeps it so with two
// optional capabilities: PeerRecords, for records in the form a given peer
// may receive, and BlobGate, for the blobs a peer may fetch. Without them
// an archive gets no record and no blob at all.

// RoleArchive is a blind archive: it may sync (IsMember reports true, so
// that its sessions run), but gets records only through PeerRecords and
// blobs only those BlobGate allows.
const RoleArchive Role = RoleCreator + 1

// PeerRecords is the optional capability of Records to answer a given
// peer: a member's adapter gives a blind archive envelopes (sealed
// records), and opens those it receives from one in Apply (which already
// knows the sender).
type PeerRecords interface {
	MissingFor(ctx context.Context, p peer.ID, theirs map[peer.ID]uint64, limit int) ([][]byte, error)
}

// BlobGate is the optional capability of Access to restrict the blobs a
// peer may fetch or hear of: a blind archive only sealed copies.
type BlobGate interface {
	MayServe(p peer.ID, c cid.Cid) bool
}

// missingFor answers p's records request.
func (n *Node) missingFor(p peer.ID, theirs map[peer.ID]uint64, limit int) ([][]byte, error) {
	if pr, ok := n.cfg.Records.(PeerRecords); ok {
		return pr.MissingFor(n.ctx, p, theirs, limit)
	}
	if n.cfg.Access.Role(p) == RoleArchive {
		return nil, nil
	}
	return n.cfg.Records.Missing(n.ctx, theirs, limit)
}

// mayServe reports whether p may fetch (or be told of) blob c.
func (n *Node) mayServe(p peer.ID, c cid.Cid) bool {
	if g, ok := n.cfg.Access.(BlobGate); ok {
		return g.MayServe(p, c)
	}
	return n.cfg.Access.Role(p) != RoleArchive
}

// HoldingsFor is the optional capability of Wants to list, for one
// always-on peer, the blobs it should hold: for a blind archive, the
// sealed copies of those Holdings names.
type HoldingsFor interface {
	NamedFor(ctx context.Context, p peer.ID) ([]Want, error)
}

func (n *Node) namedFor(ctx context.Context, p peer.ID) ([]Want, error) {
	if h, ok := n.cfg.Wants.(HoldingsFor); ok {
		return h.NamedFor(ctx, p)
	}
	return n.cfg.Wants.(Holdings).Named(ctx)
}

// lacks reports whether s's peer lacks c, or may not be asked for it (a
// blind archive is never asked for a plain blob: asking would tell it the
// plain CID).
func (n *Node) lacks(s *session, c cid.Cid) bool {
	return s.lacks[c] || !n.mayServe(s.peer, c)
}

// Added tells the exchange that wanted blob c was stored beside it (a
// member opened the sealed copy it fetched from a blind archive): it
// counts as complete and verified, and is not fetched any more.
func (n *Node) Added(c cid.Cid) {
	n.mu.Lock()
	b := n.sched.blobs[c]
	n.mu.Unlock()
	if b == nil || b.done {
		return
	}
	if _, err := n.cfg.Store.Stat(n.ctx, c); err != nil {
		return
	}
	n.markDone(b, n.host.ID())
	n.kick()
}
