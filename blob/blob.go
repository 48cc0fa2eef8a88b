package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// Errors callers branch on. Missing blobs are reported with fs.ErrNotExist
// (errors.Is(err, fs.ErrNotExist)), as io/fs does.
var (
	// ErrNotExist is fs.ErrNotExist, re-exported for readability.
	ErrNotExist = fs.ErrNotExist
	// ErrCorrupt means stored bytes no longer hash to their CID.
	ErrCorrupt = errors.New("blob: corrupt")
	// ErrIncomplete means a partial blob was committed before all its
	// leaves were verified.
	ErrIncomplete = errors.New("blob: incomplete")
	// ErrBusy means another writer holds the same partial blob.
	ErrBusy = errors.New("blob: busy")
)

// Meta is what a caller knows about a blob beyond its bytes.
type Meta struct {
	MediaType string // e.g. "image/jpeg"; empty means application/octet-stream
}

// Info describes a complete, stored blob.
type Info struct {
	CID       cid.Cid
	Size      int64
	MediaType string
	Added     time.Time
}

// Fetcher reads complete blobs.
type Fetcher interface {
	// Fetch opens the blob c. The caller closes the reader. A blob that is
	// not stored (or only partial) gives an error wrapping fs.ErrNotExist.
	Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error)
}

// RangeReader is the optional capability of reading part of a blob without
// opening it whole; use ReadRange, which falls back to Fetch.
type RangeReader interface {
	// ReadRange returns n bytes of blob c from offset off. Reading past
	// the end of the blob is an error.
	ReadRange(ctx context.Context, c cid.Cid, off int64, n int) ([]byte, error)
}

// RangeReaderInto is the optional capability of reading part of a blob into
// a buffer the caller owns, so that serving a big blob leaf by leaf does not
// allocate a leaf's worth of memory per read; use ReadRangeInto, which falls
// back to ReadRange.
type RangeReaderInto interface {
	// ReadRangeInto fills p with the bytes of blob c from offset off.
	// Reading past the end of the blob is an error.
	ReadRangeInto(ctx context.Context, c cid.Cid, off int64, p []byte) error
}

// SoonWriter is the optional capability of a Partial to take a leaf that
// may become durable a moment after it is had, together with the others
// had meanwhile (one fsync and one commit for many, where WriteLeaf pays
// them for every few leaves): a crash may lose such a leaf (it is fetched
// again), never keep one that is wrong. For leaves from a fast link, where
// a crash loses as much of the transfer in flight anyway. The disk store
// makes them durable within 100 ms, or at Commit or Close.
type SoonWriter interface {
	// WriteLeafSoon is WriteLeaf, but the leaf need not be durable when
	// it returns.
	WriteLeafSoon(ctx context.Context, i int, data []byte) error
}

// Prefetcher is the optional capability of looking up many blobs at once
// ahead of reading them, for a store whose lookup costs a query each: a
// peer serving a queue of small blobs asks for a few dozen in one. Best
// effort: what it could not look up is looked up when read.
type Prefetcher interface {
	Prefetch(ctx context.Context, cs []cid.Cid)
}

// Statter describes complete blobs.
type Statter interface {
	// Stat returns the blob's Info, or an error wrapping fs.ErrNotExist.
	Stat(ctx context.Context, c cid.Cid) (Info, error)
}

// Enumerator lists complete blobs.
type Enumerator interface {
	// Enumerate calls fn for every complete blob, in CID byte order. An
	// error from fn stops the walk and is returned.
	Enumerate(ctx context.Context, fn func(Info) error) error
}

// Remover deletes blobs.
type Remover interface {
	// Remove deletes the complete blob c (and its skeleton). Removing a
	// blob that is not there is not an error (idempotent).
	Remove(ctx context.Context, c cid.Cid) error
}

// Receiver stores blobs from a local stream.
type Receiver interface {
	// Put reads r to its end, chunks it under the profile, stores it and
	// returns its Info. Putting a blob that is already stored is cheap and
	// returns the existing Info. On any error nothing is left visible.
	Put(ctx context.Context, r io.Reader, meta Meta) (Info, error)
}

// SkeletonGetter returns the skeleton of a complete or partial blob.
type SkeletonGetter interface {
	// Skeleton returns the skeleton of c, or an error wrapping
	// fs.ErrNotExist if neither a complete nor a partial blob c is known.
	Skeleton(ctx context.Context, c cid.Cid) (*chunk.Skeleton, error)
}

// PartialReceiver accepts blobs leaf by leaf from peers.
type PartialReceiver interface {
	// Begin opens the partial blob for sk (already verified against its
	// root by chunk.ParseSkeleton), creating it if new and resuming it if
	// a previous run left one. Only one Partial per blob may be open at a
	// time in a process: a second Begin returns ErrBusy until the first
	// is closed. If the blob is already complete, Begin returns a Partial
	// with nothing missing.
	Begin(ctx context.Context, sk *chunk.Skeleton, meta Meta) (Partial, error)
}

// Partial is a blob being received. Leaves may be written in any order,
// and different leaves from different goroutines at once (a leaf by one
// caller at a time). Only leaves whose bytes are durable are marked as
// had, so after a crash Missing reports exactly what is still needed.
type Partial interface {
	Skeleton() *chunk.Skeleton
	// Missing returns the indexes of the leaves not yet verified, ascending.
	Missing() []int
	// Have reports whether leaf i is verified and stored (had): durable,
	// or, if it was written with SoonWriter.WriteLeafSoon, durable within
	// a moment.
	Have(i int) bool
	// LeafProgress returns how many leading bytes of the unfinished leaf i
	// are kept (not yet verified): written since Begin, or found durable
	// by Begin; 0 if none or if i is had.
	LeafProgress(i int) int
	// WriteLeaf verifies data as leaf i and stores it durably: once it
	// returns the leaf is had and survives a crash. Wrong bytes give a
	// *chunk.VerifyError and store nothing. Writing a leaf already had is
	// a no-op.
	WriteLeaf(ctx context.Context, i int, data []byte) error
	// WriteLeafPart appends bytes of leaf i starting at byte off of the
	// leaf, which must equal LeafProgress(i). When the last byte arrives
	// the leaf is verified: done is true if it is now had; on a mismatch
	// its kept bytes are dropped and a *chunk.VerifyError is returned.
	// Kept bytes need not be durable when it returns (a store may batch
	// them; Close makes them durable): a crash may lose some of an
	// unfinished leaf, never a leaf had (but one written with
	// WriteLeafSoon).
	WriteLeafPart(ctx context.Context, i int, off int, data []byte) (done bool, err error)
	// ReadLeaf returns the bytes of a had leaf (so a partial blob can serve
	// peers), or an error wrapping fs.ErrNotExist.
	ReadLeaf(ctx context.Context, i int) ([]byte, error)
	// Commit makes the blob visible once every leaf is had; otherwise it
	// returns ErrIncomplete. Committing twice is a no-op.
	Commit(ctx context.Context) (Info, error)
	// Close releases the partial blob; its state stays on disk for the
	// next Begin.
	Close() error
}

// Batch groups many small Puts so they share one fsync and one database
// transaction. Nothing put in a batch is visible before Commit returns.
type Batch interface {
	Receiver
	// Commit makes every blob put in the batch durable and visible.
	Commit(ctx context.Context) error
	// Discard drops the batch's blobs.
	Discard() error
}

// Batcher is the optional capability of batching puts.
type Batcher interface {
	Batch(ctx context.Context) (Batch, error)
}

// Store is the whole blob store.
type Store interface {
	Fetcher
	Statter
	Enumerator
	Remover
	Receiver
	SkeletonGetter
	PartialReceiver
	Batcher
	// Partials lists the roots of partial blobs.
	Partials(ctx context.Context) ([]cid.Cid, error)
	Close() error
}
