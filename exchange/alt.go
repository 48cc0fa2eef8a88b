package exchange

import "slices"

// This file: alternatives. A Want may name another wanted blob it is an
// alternative of (Want.AltOf): a member that reaches both a blind archive
// (which holds only sealed copies) and a plain peer wants each blob it
// lacks and that blob's sealed copy, and either is enough. The scheduler
// keeps the two as a pair (blobState.alt) and:
//
//   - fetches the primary (the blob named by AltOf) from any peer that may
//     have it, and the alternative only from peers that lack the primary
//     (mayFetch): from the archive, not from a member that holds both;
//   - keeps to the one under way (engaged: a leaf of it in flight, its
//     partial blob being opened, or bytes of it verified or kept, from
//     this run or a previous one): the other waits (held) while a
//     connected peer may still send the first, so the pair's bytes come
//     once and a resumed one is resumed. A request refused (DONT_HAVE)
//     leaves nothing under way, so the other may go. Of two under way,
//     the one further on goes on and the other's requests are taken
//     back (behind, stopHeld);
//   - once one is here, drops the other (dropped): its requests are
//     cancelled, its pieces no longer fetched, its kept bytes no longer
//     counted;
//   - counts the pair once, in the primary's class and size: what the
//     alternative verifies is credited to the primary (up to its size),
//     and the pair is done, for Sync and progress, when either is here.
//
// The wire protocol is unchanged: each peer is asked for one CID as ever.

// book is the blob whose progress counts b's bytes: the primary of an
// alternative, else b itself.
func (b *blobState) book() *blobState {
	if b.sec && b.alt != nil {
		return b.alt
	}
	return b
}

// pairDone reports whether b's pair (or b alone) needs nothing more.
// Called with n.mu or n.prog.mu held.
func (b *blobState) pairDone() bool {
	return b.done || b.dropped
}

// mayFetch reports whether s may be asked for b's pieces: it does not
// lack b and, for an alternative whose primary is still wanted, it lacks
// the primary. Called with n.mu held.
func (n *Node) mayFetch(s *session, b *blobState) bool {
	if n.lacks(s, b.want.CID) {
		return false
	}
	if o := b.alt; b.sec && o != nil && !o.pairDone() && !n.lacks(s, o.want.CID) {
		return false
	}
	return true
}

// engaged reports whether b is under way: a leaf of it in flight, its
// partial blob being opened, or bytes of it verified or kept. Called with
// n.mu held.
func (b *blobState) engaged() bool {
	return b.inflight > 0 || b.opening || b.started
}

// held reports whether b waits for its partner: the partner is under way
// and one of ss may still send it, and b is not under way or is behind
// (both may be, as when the partner's only source connected after b was
// begun elsewhere, or after a previous run). Called with n.mu held.
func (n *Node) held(b *blobState, ss []*session) bool {
	o := b.alt
	if o == nil || o.pairDone() || !o.engaged() || (b.engaged() && !n.behind(b, o)) {
		return false
	}
	for _, s := range ss {
		if n.mayFetch(s, o) {
			return true
		}
	}
	return false
}

// behind reports whether b, under way as its partner o is, gives way to
// o: o has more bytes here (verified or kept), or as many and b is the
// alternative. Of two under way, exactly one is behind. Called with n.mu
// held.
func (n *Node) behind(b, o *blobState) bool {
	n.prog.mu.Lock()
	mine, theirs := b.bytesDone+b.kept, o.bytesDone+o.kept
	n.prog.mu.Unlock()
	return theirs > mine || (theirs == mine && b.sec)
}

// stopHeld takes back the requests in flight of blobs that wait for their
// partner (fill found them held while under way): requeued, where they
// wait, and cancelled; kept bytes stay. Endgame duplicates are left to
// finish. Called with n.mu held, not while fill walks the pending queue.
func (n *Node) stopHeld(bs []*blobState) {
	for _, s := range n.sessions {
		for _, r := range s.inflight {
			if !r.dup && slices.Contains(bs, r.t.b) {
				s.requeue(r)
				s.cancel(r)
			}
		}
	}
}

// credit counts d more verified bytes of b in progress: of an
// alternative, in its primary's, and of a pair at most the primary's
// size; nothing once the pair is done. Called with n.prog.mu held.
func (p *progress) credit(b *blobState, d int64) {
	bk := b.book()
	if bk.alt != nil {
		if b.pairDone() || bk.pairDone() {
			return
		}
		d = min(d, bk.size-bk.counted)
	}
	if d <= 0 {
		return
	}
	bk.counted += d
	p.classes[bk.want.Class].BytesDone += d
}

// addKept counts d more bytes kept in b's unfinished leaves; a dropped
// blob's kept bytes are not counted. Called with n.prog.mu held.
func (p *progress) addKept(b *blobState, d int64) {
	b.kept += d
	if !b.dropped {
		p.kept += d
	}
}

// completeBook counts b's pair (or b alone) complete in progress and
// the scheduler's books, and drops b's partner. Called with n.mu and
// n.prog.mu held, b's pair not done yet.
func (n *Node) completeBook(b *blobState) {
	bk := b.book()
	n.sched.left--
	cp := &n.prog.classes[bk.want.Class]
	cp.FilesDone++
	cp.BytesDone += bk.size - bk.counted
	bk.counted = bk.size
	if o := b.alt; o != nil && !o.pairDone() {
		n.dropLocked(o)
	}
}

// dropLocked drops o, whose partner is here: its requests in flight are
// cancelled, its pending pieces skipped, its kept bytes no longer counted.
// Its partial blob, if any, stays open and on disk. Called with n.mu and
// n.prog.mu held.
func (n *Node) dropLocked(o *blobState) {
	o.dropped = true
	n.prog.kept -= o.kept
	for _, s := range n.sessions {
		for _, r := range s.inflight {
			if r.t.b == o {
				s.finish(r)
				s.cancel(r)
			}
		}
	}
}

// addAltLocked tracks b, new, as the alternative of pb, with t its first
// piece: not counted, and not fetched if the pair is done; if b is here
// already, the pair is done. A later alternative (a newer epoch's sealed
// copy) replaces an earlier one, which is dropped. Called with n.mu and
// n.prog.mu held.
func (n *Node) addAltLocked(b, pb *blobState, t *task) {
	b.sec, b.alt = true, pb
	if old := pb.alt; old != nil && !old.pairDone() {
		n.dropLocked(old)
	}
	pb.alt = b
	switch {
	case pb.pairDone():
		b.dropped = true
		if b.done {
			n.sched.have[b.want.CID] = true
		}
	case b.done:
		n.sched.have[b.want.CID] = true
		b.bytesDone = b.size
		n.completeBook(b)
	default:
		n.sched.push(t)
	}
}
