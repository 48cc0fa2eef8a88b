package node

import (
	"context"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// blobs reads the device's complete blobs: through its store, or beside
// another process that holds it.
type blobs interface {
	blob.Fetcher
	blob.Statter
	blob.Enumerator
	blob.FixityLog
	blob.Verifier
	PartialStatus(ctx context.Context, c cid.Cid) (done, size int64, err error)
	Partials(ctx context.Context) ([]cid.Cid, error)
	Skeleton(ctx context.Context, c cid.Cid) (*chunk.Skeleton, error)
}

func (n *Node) blobs() blobs {
	if n.store != nil {
		return n.store
	}
	return n.read
}

// OpenBlob opens the complete blob c for reading; the caller closes it. A
// blob not (completely) here gives an error wrapping fs.ErrNotExist.
func (n *Node) OpenBlob(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	return n.blobs().Fetch(ctx, c)
}

// StatBlob describes the complete blob c (fs.ErrNotExist if not here).
func (n *Node) StatBlob(ctx context.Context, c cid.Cid) (blob.Info, error) {
	return n.blobs().Stat(ctx, c)
}

// BlobState is how much of a blob is here.
type BlobState struct {
	State string // "present", "partial" or "absent"
	Done  int64  // bytes verified and kept
	Size  int64  // the blob's size, when known (present or partial)
}

// Percent is Done as a percentage of Size, below 100 until present.
func (s BlobState) Percent() int {
	switch {
	case s.State == "present":
		return 100
	case s.Size <= 0:
		return 0
	}
	return min(int(s.Done*100/s.Size), 99)
}

// BlobState says whether blob c is here: present, partial (how many of
// its bytes are verified) or absent.
func (n *Node) BlobState(ctx context.Context, c cid.Cid) BlobState {
	b := n.blobs()
	if in, err := b.Stat(ctx, c); err == nil {
		return BlobState{State: "present", Done: in.Size, Size: in.Size}
	}
	if done, size, err := b.PartialStatus(ctx, c); err == nil {
		return BlobState{State: "partial", Done: done, Size: size}
	}
	return BlobState{State: "absent"}
}

// Presence returns a function telling whether a blob is complete here,
// and whether that is known at all. With many lookups to come (a list of
// every observation) it lists the store once; for a few it asks per blob.
func (n *Node) Presence(ctx context.Context, many bool) func(cid.Cid) (have, known bool) {
	b := n.blobs()
	if many {
		set := map[cid.Cid]bool{}
		err := b.Enumerate(ctx, func(i blob.Info) error { set[i.CID] = true; return nil })
		return func(c cid.Cid) (bool, bool) { return set[c], err == nil }
	}
	return func(c cid.Cid) (bool, bool) {
		ok, err := blob.Has(ctx, b, c)
		return ok && err == nil, err == nil
	}
}

// FixityHistory returns blob c's fixity log, oldest first: every check
// of it here, and the events beside them (a peer that reported the copy
// it got from here corrupt, a copy received bad, the blob fetched again
// after quarantine; see blob.FixityEvent).
func (n *Node) FixityHistory(ctx context.Context, c cid.Cid) ([]blob.FixityRecord, error) {
	return n.blobs().FixityHistory(ctx, c)
}

// VerifyOptions choose what Verify checks: the blobs named, else those not
// checked since OlderThan ago, else every blob.
type VerifyOptions struct {
	CIDs      []cid.Cid
	OlderThan time.Duration
}

// Verify re-hashes blobs against their CIDs and calls report with each
// result, logging it in the fixity log. A corrupt or truncated blob is
// quarantined (no longer served or counted as here) so that the next sync
// fetches it again. An error from report stops it and is returned.
//
// A node opened Shared beside the process that holds the store (a running
// serve; Shared reports it) checks beside it: that process learns of each
// blob quarantined within a second and fetches it again at once; files no
// blob describes are looked for only by a node that holds the store.
func (n *Node) Verify(ctx context.Context, opts VerifyOptions, report func(blob.FixityReport) error) error {
	if n.opts.ReadOnly {
		return n.needStore()
	}
	v := n.blobs()
	todo := opts.CIDs
	if len(todo) == 0 && opts.OlderThan > 0 {
		err := v.LastChecks(ctx, time.Now().Add(-opts.OlderThan), func(r blob.FixityRecord) error {
			todo = append(todo, r.CID)
			return nil
		})
		if err != nil {
			return err
		}
		if len(todo) == 0 {
			return nil
		}
	}
	if len(todo) == 0 {
		return v.VerifyAll(ctx, report)
	}
	defer n.notify()
	for _, c := range todo {
		r, err := v.Verify(ctx, c)
		if err != nil {
			return err
		}
		if err := report(r); err != nil {
			return err
		}
	}
	return nil
}
