package exchange

import (
	"github.com/fieldsync/fieldsync/blob"
)

// This file: the endgame. When the pending queue is empty but some
// sessions sit idle while others still have pieces in flight, fill asks an
// idle peer for the same pieces; the first verified copy wins.

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
				if r.dup || t.done || len(t.dups) > 0 || t.kind == tkOpen || n.lacks(s, t.b.want.CID) || t.req == nil {
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
