package exchange

import (
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: a wanted blob from open to done. openBlob begins (or
// resumes) its partial blob and queues the missing leaves; taskDone does
// the books of a piece fetched; commit makes a blob whose leaves are all
// verified visible; markDone records a blob complete, for progress,
// events and announcements to peers.

// openBlob begins the partial blob of b (resuming a previous run's) and
// queues its missing leaves, each from the byte its kept part ends at.
func (n *Node) openBlob(b *blobState) {
	defer n.wg.Done()
	p, err := n.cfg.Store.Begin(n.ctx, b.sk, blob.Meta{})
	if err != nil {
		full := n.full(err) // then it is opened once fetching resumes
		if !full {
			n.log.Warn("begin partial blob", "blob", b.want.CID, "err", err)
		}
		n.mu.Lock()
		n.sched.opening--
		b.opening = false
		n.mu.Unlock()
		if !full {
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		n.mu.Lock()
		n.sched.push(&task{b: b, kind: tkOpen})
		n.mu.Unlock()
		n.kick()
		return
	}
	missing := p.Missing()
	progress := make([]int, len(missing))
	for i, l := range missing {
		progress[i] = p.LeafProgress(l)
	}
	n.mu.Lock()
	n.sched.opening--
	b.opening = false
	b.part = p
	n.partials[b.want.CID] = b
	b.left = len(missing)
	var missingBytes int64
	for i, l := range missing {
		sz := int64(b.sk.Leaves[l].Size)
		missingBytes += sz
		n.sched.push(&task{b: b, kind: tkLeaf, leaf: l, size: sz, progress: progress[i], unknown: progress[i] > 0})
	}
	had := b.size - missingBytes - b.bytesDone
	b.bytesDone += had
	var kept int64 // of missing leaves, from a previous run
	for _, k := range progress {
		kept += int64(k)
	}
	b.started = kept > 0 || had > 0 // of a pair, the one to finish (alt.go)
	n.prog.mu.Lock()
	n.prog.credit(b, had)
	n.prog.addKept(b, kept)
	n.prog.mu.Unlock()
	n.mu.Unlock()
	if len(missing) == 0 {
		n.mu.Lock()
		n.sched.finishing++
		n.mu.Unlock()
		n.wg.Add(1)
		go n.commit(b, "")
	}
	n.kick()
}

// taskDone marks t done by req, finishing req and cancelling any other
// request for t. It reports whether req was first. Called with n.mu held.
func (n *Node) taskDone(t *task, req *request) bool {
	req.s.finish(req)
	if t.done {
		return false
	}
	t.done = true
	t.queued = false
	others := append([]*request(nil), t.dups...)
	if t.req != nil {
		others = append(others, t.req)
	}
	for _, r := range others {
		r.s.finish(r)
		r.s.cancel(r)
	}
	return true
}

// commit makes a partial blob whose leaves are all verified visible.
func (n *Node) commit(b *blobState, from peer.ID) {
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		n.sched.finishing--
		n.mu.Unlock()
		n.kick()
	}()
	b.wmu.Lock()
	defer b.wmu.Unlock()
	if _, err := b.part.Commit(n.ctx); err != nil {
		if blob.IsNoSpace(err) {
			// Every leaf is kept: commit again once fetching resumes.
			n.mu.Lock()
			n.recommit = append(n.recommit, b)
			n.mu.Unlock()
			n.full(err)
			return
		}
		n.log.Error("commit blob", "blob", b.want.CID, "err", err)
		return
	}
	n.mu.Lock()
	delete(n.partials, b.want.CID)
	n.mu.Unlock()
	b.part.Close()
	n.markDone(b, from)
}

// markDone records a wanted blob as complete and verified.
func (n *Node) markDone(b *blobState, from peer.ID) {
	n.mu.Lock()
	if b.done {
		n.mu.Unlock()
		return
	}
	n.sched.have[b.want.CID] = true
	n.prog.mu.Lock()
	counted := !b.pairDone() // else its partner completed the pair
	b.done = true
	if counted {
		n.completeBook(b)
	}
	n.prog.mu.Unlock()
	b.bytesDone = b.size
	n.mu.Unlock()
	n.emit(BlobEvent{CID: b.want.CID, Class: b.want.Class, Size: b.size, From: from})
	n.healed(b.want.CID, from)
	n.announceComplete(b.want.CID)
	n.progressChanged()
}

// waitLock is a mutex whose waiters wait on a channel. It guards calls on
// a partial blob, which write to disk and may wait on the database
// (SQLite's busy handler sleeps on a timer): a goroutine waiting for a
// sync.Mutex is not durably blocked for testing/synctest, so in a test in
// virtual time the holder's timer would never fire; a channel's waiter is.
type waitLock struct {
	once sync.Once
	ch   chan struct{}
}

func (l *waitLock) Lock() {
	l.once.Do(func() { l.ch = make(chan struct{}, 1) })
	l.ch <- struct{}{}
}

func (l *waitLock) Unlock() { <-l.ch }
