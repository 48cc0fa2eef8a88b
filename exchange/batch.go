package exchange

import (
	"fmt"
	"sync"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/libp2p/go-libp2p/core/peer"
)

// This file: the small-blob batcher. One-leaf blobs up to smallMax (and
// medium ones, up to a leaf, from a fast peer: sched.go) are received
// whole and verified in memory (receive.go), then handed here
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
		var size int64
		select {
		case <-n.ctx.Done():
			return
		case it := <-n.sched.smallCh:
			items = append(items, it)
			size += int64(len(it.data))
		}
	drain:
		for len(items) < 512 && size < smallBatchBytes {
			select {
			case it := <-n.sched.smallCh:
				items = append(items, it)
				size += int64(len(it.data))
			default:
				break drain
			}
		}
		err := n.putSmall(items)
		for _, it := range items {
			putWholeBuf(it.data)
		}
		n.sched.smallSem.Release(size)
		if err != nil {
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
		// Verified on arrival (receive.go): not hashed again.
		_, err := blob.PutVerified(ctx, bt, it.b.want.CID, it.data, blob.Meta{})
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

// wholeBufs recycles the chunk.ChunkSize buffers medium blobs are received
// into: one fresh 1 MiB allocation per blob made garbage at the link's
// rate, and the first touch of new pages cost more than the copy into
// them.
var wholeBufs = sync.Pool{New: func() any { b := make([]byte, 0, chunk.ChunkSize); return &b }}

func getWholeBuf() []byte { return (*wholeBufs.Get().(*[]byte))[:0] }

// smallBufs recycles the buffers small blobs are received into, one pool
// per power of two from minSmallBuf to smallMax: 30,000 blobs of 20 KB
// were 570 MB allocated and collected, a collection every few MB.
var smallBufs [smallBufClasses]sync.Pool

const (
	minSmallBuf     = 4 << 10
	smallBufClasses = 7 // 4 KiB … 256 KiB (smallMax)
)

// smallBufClass is the class of a buffer of capacity n, or -1.
func smallBufClass(n int) int {
	for c, size := 0, minSmallBuf; c < smallBufClasses; c, size = c+1, size*2 {
		if n <= size {
			return c
		}
	}
	return -1
}

// getSmallBuf returns an empty buffer of capacity at least n (≤ smallMax).
func getSmallBuf(n int) []byte {
	c := smallBufClass(n)
	if c < 0 {
		return make([]byte, 0, n)
	}
	if b, ok := smallBufs[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, minSmallBuf<<c)
}

// putWholeBuf returns b to the pool it came from, if any: b must not be
// used after.
func putWholeBuf(b []byte) {
	if cap(b) == chunk.ChunkSize {
		b = b[:0]
		wholeBufs.Put(&b)
		return
	}
	if c := smallBufClass(cap(b)); c >= 0 && cap(b) == minSmallBuf<<c {
		b = b[:0]
		smallBufs[c].Put(&b)
	}
}
