package exchange

import (
	"time"

	"github.com/fieldsync/fieldsync/blob"
)

// This file: a full disk. When the store says a write met a full disk
// (blob.IsNoSpace: a leaf, a batch of small blobs, a partial blob's
// creation or commit, records), nothing else would fit either, so the node
// stops fetching at once rather than fetch the same bytes again and again:
// every request in flight is cancelled and put back in the queue, fill
// hands out nothing more, and Sync returns the store's error. What is
// verified stays (a partial blob's leaves, complete blobs), so fetching
// resumes where it stopped: at the next Sync, or on its own after
// noSpaceRetry. The peers are not to blame: none is dropped.

// noSpaceRetry is how long a node that met a full disk waits before it
// fetches again on its own (a Sync tries again at once).
const noSpaceRetry = time.Minute

// full reports whether err says the disk is full and, if so, pauses
// fetching (the first time; later calls only report).
func (n *Node) full(err error) bool {
	if !blob.IsNoSpace(err) {
		return false
	}
	n.mu.Lock()
	first := n.noSpace == nil && !n.closed
	if first {
		n.noSpace = err
		n.noSpaceGen++
		gen := n.noSpaceGen
		for _, s := range n.sessions {
			for _, r := range s.inflight {
				s.requeue(r)
				s.cancel(r)
			}
		}
		time.AfterFunc(noSpaceRetry, func() { n.retryFull(gen) })
	}
	n.mu.Unlock()
	if first {
		// Info, not Warn: surfaces say it once, from NoSpaceEvent or Sync.
		n.log.Info("the disk is full: fetching paused", "err", err)
		n.emit(NoSpaceEvent{Err: err})
		n.progressChanged()
	}
	return true
}

// retryFull resumes fetching after a full disk paused it, unless it was
// resumed (or paused again) since.
func (n *Node) retryFull(gen uint64) {
	n.mu.Lock()
	if n.closed || n.noSpace == nil || n.noSpaceGen != gen {
		n.mu.Unlock()
		return
	}
	n.resumeFullLocked()
	n.mu.Unlock()
	n.kick()
}

// resumeFullLocked lifts the pause and commits again the blobs whose
// commit met the full disk. Called with n.mu held, the node not closed.
func (n *Node) resumeFullLocked() {
	n.noSpace = nil
	for _, b := range n.recommit {
		n.sched.finishing++
		n.wg.Add(1)
		go n.commit(b, "")
	}
	n.recommit = nil
}
