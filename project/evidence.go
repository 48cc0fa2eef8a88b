package project

import (
	"context"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Evidence is what a device needs to verify its own role here: the
// membership record that gives device id its current role (for a blocked
// device, its block) and the grants of the chain of authority above it,
// up to the creator. A device that refuses a blocked peer sends it these,
// so that the peer learns, from signed records it checks itself, that and
// by whom it was blocked.
func (p *Project) Evidence(ctx context.Context, id peer.ID) ([][]byte, error) {
	ro := p.state().ro
	best := ro.best(id)
	if best == nil {
		return nil, nil
	}
	var out [][]byte
	want := []cid.Cid{best.cid}
	seen := map[cid.Cid]bool{best.cid: true}
	for len(want) > 0 {
		c := want[0]
		want = want[1:]
		b, err := p.membershipBlock(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", notFound(err))
		}
		out = append(out, b)
		r, err := decodeRecord(b, false)
		if err != nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		for _, g := range ro.grants[r.Author] {
			if ro.valid[g.cid] && !seen[g.cid] {
				seen[g.cid] = true
				want = append(want, g.cid)
			}
		}
	}
	return out, nil
}

// AcceptEvidence takes membership records a peer sent as Evidence (this
// device's block, say): each is verified (signature, project) and kept as
// pending, counting in the roster, until its author's log arrives by
// sync, as a Welcome's are. Records of another kind or project are
// refused.
func (p *Project) AcceptEvidence(ctx context.Context, blocks [][]byte) error {
	var recs []*Record
	for _, b := range blocks {
		r, err := DecodeRecord(b)
		if err != nil {
			return fmt.Errorf("evidence: %w", err)
		}
		if r.Kind != KindMembership {
			return fmt.Errorf("evidence: %w: not a membership record", ErrMalformed)
		}
		if r.Project != p.id {
			return fmt.Errorf("evidence: %w", ErrWrongProject)
		}
		recs = append(recs, r)
	}
	return p.addPending(ctx, recs)
}

// BlockOf says who blocked device id and when, if it is blocked: the
// author and time of the valid membership record that blocks it.
func (p *Project) BlockOf(id peer.ID) (by peer.ID, at time.Time, ok bool) {
	ro := p.state().ro
	g := ro.best(id)
	if g == nil || g.role != RoleBlocked {
		return "", time.Time{}, false
	}
	return g.author, fromMS(g.time), true
}
