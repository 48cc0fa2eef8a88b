package exchange

import (
	"cmp"
	"slices"
	"time"

	"github.com/fieldsync/fieldsync/blob"
)

// dupStallAfter: a request unanswered this long may be duplicated before the
// sessions' rates are known.
const dupStallAfter = time.Second

// This file: the endgame. When the pending queue is empty but some
// sessions sit idle while others still have pieces in flight, fill asks an
// idle peer for the same pieces; the first verified copy wins.

// endgame: nothing is left to request, but some sessions have room while
// others still have pieces outstanding. Ask an idle peer for the same
// piece, whole (a duplicate is received into memory and verified on its
// own, never mixed with the other request's kept bytes); the first copy
// wins and the other request is cancelled. Called with n.mu held.
func (n *Node) endgame(ss []*session) {
	moved := false
	for _, s := range ss {
		if len(s.inflight) > 0 || !s.ready || !s.outFree() {
			continue // only idle sessions duplicate
		}
		for _, o := range ss {
			if o != s && n.moveQueued(s, o) {
				moved = true
			}
		}
		if moved {
			continue // s gets them from the pending queue
		}
		for _, o := range ss {
			if o == s {
				continue
			}
			for _, r := range o.inflight {
				t := r.t
				if r.dup || t.done || t.b.pairDone() || len(t.dups) > 0 || t.kind == tkOpen || !n.mayFetch(s, t.b) || t.req == nil {
					continue
				}
				if !worthDup(s, o, r) {
					continue
				}
				if len(s.inflight) >= 8 || !s.outFree() {
					break
				}
				n.sendDup(s, t)
			}
		}
	}
}

// moveQueued takes back from o the later half of the requests it has not
// begun to answer (no byte of them yet, others ahead of them), for idle
// session s to fetch: moved, not duplicated, so no byte comes twice (but
// for frames already on their way when o reads the cancel). It reports
// whether it moved any. Called with n.mu held.
func (n *Node) moveQueued(s, o *session) bool {
	first := uint64(0)
	for _, r := range o.inflight {
		if first == 0 || r.id < first {
			first = r.id
		}
	}
	var queued []*request
	for _, r := range o.inflight {
		t := r.t
		if r.got || r.dup || r.id == first || t.req != r || t.done || t.kind == tkOpen || !n.mayFetch(s, t.b) {
			continue
		}
		queued = append(queued, r)
	}
	if len(queued) == 0 {
		return false
	}
	slices.SortFunc(queued, func(a, b *request) int { return cmp.Compare(b.id, a.id) })
	for _, r := range queued[:(len(queued)+1)/2] {
		o.requeue(r)
		o.cancel(r)
	}
	n.kick()
	return true
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

// worthDup reports whether idle session s should duplicate r, in flight
// on o: only if o looks at least twice as slow to deliver r (what it owes
// ahead of r, then the rest of r) as s would be to fetch r whole after
// what s has in flight already. So two equal links do not both carry the
// last pieces (each duplicate is bytes carried twice), while a piece
// queued far behind on a slow or stalled link is fetched elsewhere. A
// rate not measured yet counts as a stall. Called with n.mu held.
func worthDup(s, o *session, r *request) bool {
	sr, or := s.speed(), o.speed()
	if sr <= 0 || or <= 0 {
		// Unmeasured: wait for the rates, unless r looks stalled.
		return !r.got && time.Since(r.sent) > dupStallAfter
	}
	ahead := int64(0)
	for _, q := range o.inflight {
		if q.id < r.id && !q.dup {
			ahead += max(q.budget-received(q), 0)
		}
	}
	theirs := float64(ahead+max(r.t.size-received(r), 0)) / or
	mine := float64(s.inflightBytes+r.t.size)/sr + s.rtt.Seconds()
	return theirs > 2*mine
}

// received is how many bytes of r's item have arrived, counting a resumed
// leaf's kept bytes.
func received(r *request) int64 {
	if r.dup || r.t.kind == tkSkeleton || r.t.b.small {
		return int64(len(r.buf))
	}
	return int64(r.off)
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
