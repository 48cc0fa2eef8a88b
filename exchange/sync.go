package exchange

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: the public Sync and SyncAvailable, which ask the node for a
// fresh records pull and wants refresh and wait until the scheduler
// reports the sync complete (or idle).

// SyncAvailable is Sync that also returns when nothing more can be had
// from the connected members (every missing blob refused by all of them,
// Snapshot.Unavailable counts them): complete reports whether everything
// wanted is here. Use it for "sync with whoever is here, then stop".
// Like Sync, it returns the store's error at once when the disk is full.
func (n *Node) SyncAvailable(ctx context.Context) (complete bool, err error) {
	return n.sync(ctx, true)
}

// Sync pulls records from every connected member, re-reads the wants and
// returns once everything this device wants is present and verified
// (Progress().Complete), or when ctx ends. It needs at least one connected
// member; the node keeps serving and fetching after Sync returns. When the
// store meets a full disk, fetching pauses and Sync returns the store's
// error (blob.IsNoSpace) at once; what was verified is kept, and the next
// Sync tries again.
func (n *Node) Sync(ctx context.Context) error {
	_, err := n.sync(ctx, false)
	return err
}

func (n *Node) sync(ctx context.Context, orIdle bool) (bool, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return false, ErrClosed
	}
	if !n.started {
		n.mu.Unlock()
		return false, errors.New("exchange: Sync before Start")
	}
	if n.noSpace != nil {
		n.resumeFullLocked() // space may have been freed: try again
	}
	if n.sched.refreshed {
		// Re-read the wants. Until the first refresh is done there is no
		// need: it is pending or under way, begun after Start, and a
		// change since has set dirty (Notify, records applied). A
		// second read of 30,000 wants was a tenth of a sync that finds
		// nothing new.
		n.sched.dirty, n.sched.urgent, n.sched.full = true, true, true
	}
	var peers []peer.ID
	for p := range n.sessions {
		peers = append(peers, p)
		if ps := n.pulls[p]; ps != nil {
			ps.synced = false
		}
	}
	n.prog.mu.Lock()
	n.prog.complete = false
	n.prog.idle = false
	n.prog.mu.Unlock()
	n.up.mu.Lock()
	n.up.gen++ // always-on peers are asked again before Sync completes
	n.up.mu.Unlock()
	n.up.poke()
	n.mu.Unlock()
	for _, p := range peers {
		n.pullRecords(p)
	}
	n.kick()
	for {
		n.mu.Lock()
		ch := n.changed
		full := n.noSpace
		n.mu.Unlock()
		if full != nil {
			n.settle(ctx)
			return false, full
		}
		n.prog.mu.Lock()
		done, idle := n.prog.complete, n.prog.idle
		n.prog.mu.Unlock()
		if done || (orIdle && idle) {
			return done, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-n.ctx.Done():
			return false, ErrClosed
		case <-ch:
		}
	}
}

// settle waits (a few seconds at most) for the blobs being stored when the
// disk filled to fail or land: a batch that fails removes its temp files,
// and a caller that then says how much is free must see that space.
func (n *Node) settle(ctx context.Context) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		busy := n.sched.finishing > 0
		n.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-n.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}
