package project

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The roster is the membership state: for each device, the grants that
// give it a role for the records of its log after a given seq. It is a pure
// function of the genesis and the set of membership records known (in any
// order), computed by buildRoster; see docs/trust.md.

// memRec is a membership record as the roster sees it.
type memRec struct {
	cid     cid.Cid
	author  peer.ID
	seq     uint64
	time    int64
	subject peer.ID
	role    Role
	after   uint64
	invite  []byte
}

func memRecOf(r *Record) memRec {
	m := r.Membership
	return memRec{cid: r.CID, author: r.Author, seq: r.Seq, time: ms(m.Time), subject: m.Subject, role: m.Role, after: m.After, invite: m.Invite}
}

type roster struct {
	creator peer.ID
	grants  map[peer.ID][]*memRec
	valid   map[cid.Cid]bool
}

// later orders grants of one subject: by After, then time, then CID.
func later(a, b *memRec) int {
	if c := cmp.Compare(a.after, b.after); c != 0 {
		return c
	}
	if c := cmp.Compare(a.time, b.time); c != 0 {
		return c
	}
	return bytes.Compare(a.cid.Bytes(), b.cid.Bytes())
}

// roleAt returns p's role for its record with the given seq: the creator
// is always creator; anyone else has the role of the latest grant (by
// After, time, CID) with After < seq, or RoleNone.
func (ro *roster) roleAt(p peer.ID, seq uint64) Role {
	if p == ro.creator {
		return RoleCreator
	}
	var best *memRec
	for _, g := range ro.grants[p] {
		if g.after < seq && (best == nil || later(g, best) > 0) {
			best = g
		}
	}
	if best == nil {
		return RoleNone
	}
	return best.role
}

// best is the grant that gives p its current role (nil for the creator
// and strangers).
func (ro *roster) best(p peer.ID) *memRec {
	var best *memRec
	for _, g := range ro.grants[p] {
		if best == nil || later(g, best) > 0 {
			best = g
		}
	}
	return best
}

// current returns p's role for its next record.
func (ro *roster) current(p peer.ID) Role { return ro.roleAt(p, ^uint64(0)) }

// everMember reports whether p has any grant at all (or is the creator).
func (ro *roster) everMember(p peer.ID) bool {
	return p == ro.creator || len(ro.grants[p]) > 0
}

// buildRoster computes the roster from the creator and the membership
// records known. A record is valid when its author may manage membership at
// its seq, in the roster made of the valid records; it may never name the
// creator. Records are accepted in passes (in time, CID order) until none
// more can be; then any accepted record whose author turns out not to have
// had the authority (a block with a lower After came in later) is excluded
// for good and the passes start again. Exclusions only grow, so this ends,
// and the result depends only on the set of records.
func buildRoster(creator peer.ID, recs []memRec) *roster {
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(a, b memRec) int {
		if c := cmp.Compare(a.time, b.time); c != 0 {
			return c
		}
		return bytes.Compare(a.cid.Bytes(), b.cid.Bytes())
	})
	recs = slices.CompactFunc(recs, func(a, b memRec) bool { return a.cid == b.cid })
	excluded := make([]bool, len(recs))
	for {
		ro := &roster{creator: creator, grants: make(map[peer.ID][]*memRec), valid: make(map[cid.Cid]bool)}
		accepted := make([]bool, len(recs))
		for progress := true; progress; {
			progress = false
			for i := range recs {
				r := &recs[i]
				if accepted[i] || excluded[i] || r.subject == creator {
					continue
				}
				if ro.roleAt(r.author, r.seq).CanManage() {
					accepted[i] = true
					ro.grants[r.subject] = append(ro.grants[r.subject], r)
					progress = true
				}
			}
		}
		again := false
		for i := range recs {
			if accepted[i] && !ro.roleAt(recs[i].author, recs[i].seq).CanManage() {
				excluded[i] = true
				again = true
			}
		}
		if !again {
			for i := range recs {
				if accepted[i] {
					ro.valid[recs[i].cid] = true
				}
			}
			return ro
		}
	}
}
