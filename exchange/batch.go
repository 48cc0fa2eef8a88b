package exchange

import (
	"bytes"
	"fmt"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: the small-blob batcher. One-leaf blobs up to smallMax are
// received whole and verified in memory (receive.go), then handed here
// over the scheduler's smallCh; smallWorkers loops store them many to a
// store batch, so that thousands of thumbnails cost a few fsyncs rather
// than one each.

type smallItem struct {
	b    *blobState
	data []byte
	from peer.ID
}

// smallLoop stores verified one-leaf blobs in batches, so that thousands
// of thumbnails cost a few fsyncs rather than one each.
func (n *Node) smallLoop() {
	defer n.wg.Done()
	for {
		var items []smallItem
		select {
		case <-n.ctx.Done():
			return
		case it := <-n.sched.smallCh:
			items = append(items, it)
		}
	drain:
		for len(items) < 512 {
			select {
			case it := <-n.sched.smallCh:
				items = append(items, it)
			default:
				break drain
			}
		}
		if err := n.putSmall(items); err != nil {
			if !n.full(err) && n.ctx.Err() == nil { // closing: nothing to say
				n.log.Error("store small blobs", "err", err)
			}
			n.mu.Lock()
			for _, it := range items {
				// Fetch again later; the bytes were verified but not kept.
				n.sched.push(&task{b: it.b, kind: tkLeaf, size: it.b.size})
			}
			n.sched.finishing -= len(items)
			n.mu.Unlock()
			n.kick()
			continue
		}
		for _, it := range items {
			n.markDone(it.b, it.from)
		}
		n.mu.Lock()
		n.sched.finishing -= len(items)
		n.mu.Unlock()
		n.kick()
	}
}

func (n *Node) putSmall(items []smallItem) error {
	ctx := n.ctx
	bt, err := n.cfg.Store.Batch(ctx)
	if err != nil {
		return fmt.Errorf("begin batch: %w", err)
	}
	for _, it := range items {
		info, err := bt.Put(ctx, bytes.NewReader(it.data), blob.Meta{})
		if err == nil && info.CID != it.b.want.CID {
			err = fmt.Errorf("stored %s as %s", it.b.want.CID, info.CID)
		}
		if err != nil {
			bt.Discard()
			return fmt.Errorf("put %s: %w", it.b.want.CID, err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		return fmt.Errorf("commit batch: %w", err)
	}
	return nil
}
