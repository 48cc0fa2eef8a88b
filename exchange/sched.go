package exchange

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/semaphore"
)

// The requester side. One scheduler per node orders every missing piece
// (a skeleton, the opening of a partial blob, a leaf) by class, then newest
// observation, then blob and leaf; it hands each piece to the least busy
// member session that may have it and has room in its window:
//
//	Wants ─refresh─▶ pending (class, newest, root, leaf) ─fill─▶ session windows ─want─▶ peers
//	                   ▲                                              │
//	                   └──── requeue (cut, don't-have, bad data) ◀────┤ frames
//	      small blobs ◀── verify ◀────────────────────────────────────┤
//	      (batched Put)      partial.WriteLeafPart (kept, resumable)    ◀┘
//
// This file: the scheduler. The pieces it orders (blobState, task,
// request), its pending queue, refresh (re-reading the wants), schedLoop,
// fill (handing pieces to sessions) and the completeness checks. The other
// stages have a file each: session.go (a session's stream, window and
// wants), receive.go (DATA frames: verify, store), batch.go (small blobs
// stored in batches), blobs.go (opening, committing and marking blobs
// done), endgame.go (duplicate requests at the end) and sync.go (Sync).

const (
	smallMax        = 256 << 10 // one-leaf blobs up to this size are received in memory and batched
	minWindow       = 4 << 20   // bytes outstanding per peer, at least (four leaves)
	maxWindow       = 64 << 20
	maxInflightReqs = 1024 // requests outstanding per peer
	maxOpening      = 4    // partial blobs being opened at once
	maxSkeleton     = 8 << 20
	smallWorkers    = 3 // batches being stored at once: one fsyncs while others write
	// wholeWithin: a medium blob is received whole into memory from a peer
	// whose measured rate brings it in within this long. It matches the
	// disk store's partSyncAfter: a partial blob's kept bytes become
	// durable after 100 ms, so a crash loses no more either way; and a
	// fast link is spared a partial blob's fsyncs and transactions.
	wholeWithin = 100 * time.Millisecond
	// smallQueueBytes bounds the bytes of verified small blobs waiting to
	// be stored (and being stored): the sessions stop reading beyond it.
	// 4 MiB (was 16) with 2 MiB batches: the receiver's peak memory falls
	// by about twice the difference (the heap grows past what is live)
	// and loopback times did not change (docs/benchmarks.md).
	smallQueueBytes = 4 << 20
	// maxLeafWrites bounds the leaves whose last frame is being written
	// (verified, written, had; durable) beside the read loops:
	// their fsyncs and transactions overlap the link and group together.
	maxLeafWrites = 8
	// refreshGap spaces the re-reads of the wants: after one that took
	// d, the next waits until refreshGap×d has passed (schedLoop).
	refreshGap = 4
	// smallBatchBytes bounds the bytes of one batch of small blobs.
	smallBatchBytes = 2 << 20
)

type taskKind int

const (
	tkSkeleton taskKind = iota // fetch the blob's skeleton
	tkOpen                     // local: Begin the partial blob
	tkLeaf                     // fetch one leaf (or the rest of it)
)

// blobState is one wanted blob that is not yet complete here.
type blobState struct {
	want  Want
	size  int64
	sk    *chunk.Skeleton
	part  blob.Partial // set once opened
	wmu   waitLock     // serialises calls on part
	small bool
	// medium: a one-leaf raw blob above smallMax with no partial state
	// here. It is received whole into memory and batched like a small blob
	// (small set) from a peer fast enough to bring it in under
	// wholeWithin, and as a partial blob, kept frame by frame, from a
	// slower one (fill decides when it hands it out).
	medium    bool
	left      int   // leaves not yet verified
	bytesDone int64 // verified bytes of this blob
	done      bool
	// An alternative pair (Want.AltOf, alt.go): alt is the other blob of
	// the pair, sec is set on the alternative (counted through its
	// primary, the book). While this blob is under way (engaged: inflight
	// leaf requests, opening, or started: bytes verified or kept) its
	// partner waits. dropped: the partner is here, so this blob is no
	// longer fetched or counted.
	alt      *blobState
	sec      bool
	inflight int
	opening  bool
	started  bool
	dropped  bool
	// Guarded by n.prog.mu: counted is the bytes of this blob (of its
	// pair, on a primary) credited in progress; kept is the bytes kept
	// in its unfinished leaves.
	counted int64
	kept    int64
}

type task struct {
	b        *blobState
	kind     taskKind
	leaf     int
	size     int64
	progress int        // durable bytes of an unfinished leaf (resume offset)
	req      *request   // the request in flight, if any
	dups     []*request // endgame duplicates in flight
	queued   bool
	done     bool
	from     map[peer.ID]bool // peers whose bytes are among the kept ones
	unknown  bool             // kept bytes from a previous run
}

func (t *task) class() blob.Class {
	if t.kind == tkSkeleton {
		return blob.ClassSkeleton
	}
	return t.b.want.Class
}

func taskLess(a, b *task) bool {
	if ca, cb := a.class(), b.class(); ca != cb {
		return ca < cb
	}
	if oa, ob := a.b.want.ObservedAt, b.b.want.ObservedAt; !oa.Equal(ob) {
		return oa.After(ob)
	}
	if a.b != b.b {
		return a.b.want.CID.KeyString() < b.b.want.CID.KeyString()
	}
	if a.kind != b.kind {
		return a.kind < b.kind
	}
	return a.leaf < b.leaf
}

type request struct {
	id     uint64
	t      *task
	s      *session
	off    int
	buf    []byte
	sent   time.Time
	got    bool
	budget int64
	dup    bool // an endgame duplicate: received whole into memory
	// whole: a leaf of a partial blob asked from its first byte of a
	// peer that brings it in within wholeWithin. Its frames gather in a
	// pooled buffer, and the whole leaf is hashed, written and committed
	// beside the read loop (leafPart), not frame by frame in it.
	whole bool
}

type scheduler struct {
	dirty  bool
	urgent bool // Sync asked: the next refresh is not spaced (schedLoop)
	// full: the next refresh reads every want, not only those new since
	// the last (WantsSince): set by anything but records applied.
	full      bool
	since     int64 // WantsSince's mark after the last refresh; schedLoop's own
	refreshed bool
	blobs     map[cid.Cid]*blobState
	have      map[cid.Cid]bool
	pending   []*task
	opening   int
	finishing int // blobs verified whole and being stored (batch or commit)
	left      int // tracked blobs not done
	nextID    uint64
	smallCh   chan smallItem
	smallSem  *semaphore.Weighted // bytes of the small blobs in smallCh and being stored
}

func (s *scheduler) init() {
	s.blobs = map[cid.Cid]*blobState{}
	s.have = map[cid.Cid]bool{}
	s.smallCh = make(chan smallItem, 4096)
	s.smallSem = semaphore.NewWeighted(smallQueueBytes)
}

func (s *scheduler) push(t *task) {
	if t.queued || t.req != nil || len(t.dups) > 0 || t.done {
		return
	}
	t.queued = true
	i := sort.Search(len(s.pending), func(i int) bool { return taskLess(t, s.pending[i]) })
	s.pending = append(s.pending, nil)
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = t
}

// refresh re-reads the wants and starts tracking new ones: every want
// when full, else only those that may be new if the Wants can tell.
func (n *Node) refresh(full bool) error {
	ctx := n.ctx
	// On the first refresh every want is new, so the store's list is
	// needed (below): read it beside the wants, not after them, the two
	// databases' reads overlapping on two cores. This is most of a sync
	// that finds nothing new (docs/benchmarks.md).
	n.mu.Lock()
	first := !n.sched.refreshed
	n.mu.Unlock()
	var listed chan error
	present := map[cid.Cid]int64{}
	enumerate := func() error {
		return n.cfg.Store.Enumerate(ctx, func(i blob.Info) error {
			present[i.CID] = i.Size
			return nil
		})
	}
	if first {
		listed = make(chan error, 1)
		go func() { listed <- enumerate() }()
	}
	ws, err := n.wanted(ctx, first || full)
	if listed != nil {
		if lerr := <-listed; lerr != nil && err == nil {
			err = fmt.Errorf("enumerate blobs: %w", lerr)
		}
	}
	if err != nil {
		return fmt.Errorf("read wants: %w", err)
	}
	n.mu.Lock()
	fresh := make([]Want, 0, len(ws)-min(len(ws), len(n.sched.blobs)))
	seen := make(map[cid.Cid]bool, len(ws))
	for _, w := range ws {
		if w.Class <= blob.ClassSkeleton || w.Class >= blob.NumClasses {
			w.Class = blob.ClassAttachment
		}
		if seen[w.CID] {
			continue
		}
		if w.AltOf == w.CID {
			w.AltOf = cid.Undef
		}
		seen[w.CID] = true
		if _, ok := n.sched.blobs[w.CID]; !ok {
			fresh = append(fresh, w)
		}
	}
	n.mu.Unlock()

	// Which of the new wants are already here?
	switch {
	case listed != nil:
		// Listed above.
	case len(fresh) > 256:
		if err := enumerate(); err != nil {
			return fmt.Errorf("enumerate blobs: %w", err)
		}
	default:
		for _, w := range fresh {
			if info, err := n.cfg.Store.Stat(ctx, w.CID); err == nil {
				present[w.CID] = info.Size
			}
		}
	}
	type prep struct {
		b    *blobState
		task *task
	}
	preps := make([]prep, 0, len(fresh))
	for _, w := range fresh {
		b := &blobState{want: w, size: w.Size}
		if sz, ok := present[w.CID]; ok {
			b.size, b.done = sz, true
			preps = append(preps, prep{b: b})
			continue
		}
		raw := w.CID.Prefix().Codec == cid.Raw
		if raw && w.Size > 0 && w.Size <= smallMax {
			b.small = true
			preps = append(preps, prep{b, &task{b: b, kind: tkLeaf, size: w.Size}})
			continue
		}
		if sk, err := n.cfg.Store.Skeleton(ctx, w.CID); err == nil {
			// Begun in an earlier run: of a pair, the one to resume
			// (openBlob tells whether anything was kept).
			b.sk, b.size, b.started = sk, sk.Size, true
		} else if raw && w.Size > 0 && w.Size <= chunk.ChunkSize {
			b.sk = &chunk.Skeleton{Root: w.CID, Size: w.Size, Leaves: []chunk.Leaf{{CID: w.CID, Size: int(w.Size)}}}
			b.medium = true
		}
		if b.sk != nil {
			preps = append(preps, prep{b, &task{b: b, kind: tkOpen}})
		} else {
			preps = append(preps, prep{b, &task{b: b, kind: tkSkeleton, size: 4 << 10}})
		}
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.sched.blobs) == 0 && len(n.sched.have) == 0 {
		// Sized once rather than grown through every doubling.
		n.sched.blobs = make(map[cid.Cid]*blobState, len(preps))
		n.sched.have = make(map[cid.Cid]bool, len(present))
	}
	n.prog.mu.Lock()
	// Primaries and lone blobs first, then the alternatives, each linked
	// to its primary if that is wanted (alt.go).
	for _, sec := range []bool{false, true} {
		for _, p := range preps {
			if p.b.want.AltOf.Defined() != sec {
				continue
			}
			if _, ok := n.sched.blobs[p.b.want.CID]; ok {
				continue
			}
			n.sched.blobs[p.b.want.CID] = p.b
			if pb := n.sched.blobs[p.b.want.AltOf]; sec && pb != nil && !pb.sec {
				n.addAltLocked(p.b, pb, p.task)
				continue
			}
			cp := &n.prog.classes[p.b.want.Class]
			cp.FilesWanted++
			cp.BytesWanted += p.b.size
			if p.b.done {
				n.sched.have[p.b.want.CID] = true
				cp.FilesDone++
				cp.BytesDone += p.b.size
				p.b.bytesDone = p.b.size
				p.b.counted = p.b.size
				continue
			}
			n.sched.left++
			n.sched.push(p.task)
		}
	}
	n.prog.mu.Unlock()
	n.sched.refreshed = true
	return nil
}

// wanted reads the wants for refresh: with a WantsSince and not all, only
// those that may be new since the last read (records streaming in need
// not re-read thousands of wants after every batch).
func (n *Node) wanted(ctx context.Context, all bool) ([]Want, error) {
	ws, ok := n.cfg.Wants.(WantsSince)
	if !ok {
		return n.cfg.Wants.Wanted(ctx)
	}
	since := n.sched.since
	if all {
		since = 0
	}
	out, next, err := ws.WantedSince(ctx, since)
	if err != nil {
		return nil, err
	}
	n.sched.since = next
	return out, nil
}

// schedLoop runs the scheduler: re-reads wants when told, fills the
// sessions' windows, updates rates and decides completeness.
func (n *Node) schedLoop() {
	defer n.wg.Done()
	const period = 200 * time.Millisecond
	tick := time.NewTicker(period)
	defer tick.Stop()
	// A refresh re-reads every want, so while records stream in (each
	// batch applied marks the wants dirty) refreshes are spaced by
	// refreshGap times the last one's length: on 30,000 new observations
	// back to back they took a fifth of the receiver's CPU, re-reading
	// the whole list after every batch. A refresh Sync asks for is not
	// spaced: it is one, and a sync with nothing new waited the gap.
	var lastEnd time.Time
	var lastTook time.Duration
	wake := time.AfterFunc(time.Hour, n.kick)
	wake.Stop()
	defer wake.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kickCh:
		case now := <-tick.C:
			n.prog.tick(now)
			n.mu.Lock()
			for _, s := range n.sessions {
				s.rate = 0.7*s.rate + 0.3*float64(s.recv-s.lastRx)/period.Seconds()
				s.lastRx = s.recv
				bdp := int64(2 * s.rate * s.rtt.Seconds())
				s.window = min(max(bdp, minWindow), maxWindow)
			}
			n.mu.Unlock()
		}
		n.mu.Lock()
		dirty := n.sched.dirty
		if dirty && n.sched.refreshed && !n.sched.urgent {
			if wait := refreshGap*lastTook - time.Since(lastEnd); wait > 0 {
				dirty = false // stays set, for when the gap is over
				wake.Reset(wait)
			}
		}
		full := n.sched.full
		if dirty {
			n.sched.dirty, n.sched.urgent, n.sched.full = false, false, false
		}
		n.mu.Unlock()
		if dirty {
			t0 := time.Now()
			err := n.refresh(full)
			lastEnd = time.Now()
			lastTook = lastEnd.Sub(t0)
			n.log.Debug("wants refreshed", "took", lastTook, "err", err)
			if err != nil {
				n.log.Warn("refresh wants", "err", err)
				n.mu.Lock()
				n.sched.dirty, n.sched.full = true, n.sched.full || full
				n.mu.Unlock()
			}
		}
		n.mu.Lock()
		n.fill()
		complete := n.completeLocked()
		idle, unavailable := n.idleLocked()
		n.prog.mu.Lock()
		was, wasIdle := n.prog.complete, n.prog.idle
		n.prog.complete = complete
		n.prog.idle = idle || complete
		if idle {
			n.prog.unavailable = unavailable
		} else if complete {
			n.prog.unavailable = 0
		}
		if complete && !was {
			// Emitted before a Sync can see complete (and return): its
			// caller's count of events (Emitted) includes this one.
			n.emit(CompleteEvent{})
		}
		n.prog.mu.Unlock()
		n.mu.Unlock()
		if (complete && !was) || (idle && !wasIdle) {
			n.progressChanged()
		}
	}
}

// fill hands pending tasks to sessions (none while a full disk pauses
// fetching). Called with n.mu held.
func (n *Node) fill() {
	if n.noSpace != nil {
		return
	}
	var ss []*session
	for _, s := range n.sessions {
		if s.ready {
			if _, banned := n.banned[s.peer]; !banned {
				ss = append(ss, s)
			}
		}
	}
	if len(ss) == 0 {
		return
	}
	room := func() bool {
		for _, s := range ss {
			if s.ready && s.inflightBytes < s.window && len(s.inflight) < maxInflightReqs && s.outFree() {
				return true
			}
		}
		return false
	}
	pend := n.sched.pending
	kept := pend[:0]
	waiting := 0          // kept because their partner is being fetched
	var stop []*blobState // held with requests in flight
	for i := 0; i < len(pend); i++ {
		t := pend[i]
		if !t.queued || t.req != nil || t.done || t.b.pairDone() {
			t.queued = false
			continue
		}
		if n.held(t.b, ss) {
			kept = append(kept, t)
			waiting++
			if t.b.inflight > 0 && !slices.Contains(stop, t.b) {
				stop = append(stop, t.b)
			}
			continue
		}
		if t.b.medium && t.b.part == nil {
			// Whole into memory from a fast peer, else a partial blob.
			fast := fastSession(ss, t.b.size)
			switch {
			case t.kind == tkOpen && fast:
				t.b.small = true
				t.kind, t.size = tkLeaf, t.b.size
			case t.kind == tkLeaf && t.b.small && !fast:
				t.b.small = false
				t.kind, t.size = tkOpen, 0
			}
		}
		if t.kind == tkOpen {
			if n.sched.opening >= maxOpening || !room() {
				kept = append(kept, t)
				continue
			}
			t.queued = false
			t.b.opening = true
			n.sched.opening++
			n.wg.Add(1)
			go n.openBlob(t.b)
			continue
		}
		var best *session
		var score float64
		for _, s := range ss {
			if !n.mayFetch(s, t.b) || !s.hasRoom(t) {
				continue
			}
			if t.b.medium && t.b.small && s.speed()*wholeWithin.Seconds() < float64(t.b.size) {
				continue // too slow to bring it whole
			}
			if sc := float64(s.inflightBytes) / float64(s.window); best == nil || sc < score {
				best, score = s, sc
			}
		}
		if best == nil {
			kept = append(kept, t)
			if !room() && t.class() >= bestWorst(ss) {
				// Pending is in priority order: nothing after t can go.
				kept = append(kept, pend[i+1:]...)
				break
			}
			continue
		}
		t.queued = false
		n.send(best, t)
	}
	clear(pend[len(kept):])
	n.sched.pending = kept
	if len(stop) > 0 {
		n.stopHeld(stop)
	}
	if len(kept) == waiting && len(ss) > 1 {
		n.endgame(ss)
	}
}

// fastSession reports whether one of ss brings size bytes in within
// wholeWithin at its measured rate. Called with n.mu held.
func fastSession(ss []*session, size int64) bool {
	for _, s := range ss {
		if s.speed()*wholeWithin.Seconds() >= float64(size) {
			return true
		}
	}
	return false
}

// completeLocked reports whether every wanted blob is here and records
// were pulled from every connected member. Called with n.mu held.
func (n *Node) completeLocked() bool {
	if !n.sched.refreshed || n.sched.dirty || n.sched.left > 0 || len(n.sessions) == 0 {
		return false
	}
	for p := range n.sessions {
		ps := n.pulls[p]
		if ps == nil || !ps.synced || ps.running {
			return false
		}
	}
	return !n.uploadsPendingLocked()
}

// idleLocked reports whether nothing more can be fetched from the
// connected members right now: records pulled, nothing in flight, and
// every missing piece refused (DONT_HAVE) by every session; unavailable
// counts the blobs so missing. Called with n.mu held.
func (n *Node) idleLocked() (idle bool, unavailable int) {
	if !n.sched.refreshed || n.sched.dirty || len(n.sessions) == 0 || n.sched.opening > 0 || n.sched.finishing > 0 {
		return false, 0
	}
	var ready []*session
	for p, s := range n.sessions {
		if len(s.inflight) > 0 {
			return false, 0
		}
		if ps := n.pulls[p]; ps == nil || !ps.synced || ps.running {
			return false, 0
		}
		if s.ready {
			ready = append(ready, s)
		}
	}
	if len(ready) == 0 || n.uploadsMovingLocked() || n.reachingLocked() {
		return false, 0
	}
	checked := map[*blobState]bool{}
	lacking := map[*blobState]bool{} // by book: a pair counts once
	for _, t := range n.sched.pending {
		if t.done || t.b.pairDone() || checked[t.b] {
			continue
		}
		for _, s := range ready {
			if n.mayFetch(s, t.b) {
				return false, 0
			}
		}
		checked[t.b] = true
		lacking[t.b.book()] = true
	}
	return true, len(lacking)
}
