// Package blob stores fieldsync blobs: files named by their IPFS CID under
// the unixfs-v1-2025 profile (see package chunk).
//
// Words used here:
//
//   - blob: the bytes of one file (a photo, a thumbnail, an attachment),
//     named by its root CID. A blob is immutable: same bytes, same CID.
//   - complete blob: a blob whose every byte is stored and verified. Only
//     complete blobs are visible: Fetch, Stat, Enumerate, ReadRange and
//     ReadRangeInto see nothing else.
//   - skeleton: the blob's dag-pb nodes and its ordered leaves
//     (chunk.Skeleton), kept for complete and partial blobs so a peer can be
//     served the skeleton before any leaf.
//   - leaf: one chunk (at most chunk.ChunkSize bytes) of a blob, the unit of
//     verification: every leaf is hashed before it counts.
//   - partial blob: a blob being received leaf by leaf (Partial). It knows
//     which leaves it has (the have-bitmap) and, for an unfinished leaf, how
//     many of its leading bytes are durably kept. It survives restarts and
//     becomes visible, all at once, only when complete.
//   - durable: written and flushed (fsync) so that a crash or power cut
//     keeps it. A leaf is marked as had only after its bytes are durable.
//   - batch: many small Puts sharing one flush and one database transaction
//     (Batch); nothing in a batch is visible before its Commit returns.
//   - fixity: the check that stored bytes still hash to their CID (Verifier).
//     Each check gives a FixityReport; a blob that fails is quarantined:
//     moved aside, no longer visible, so it can be fetched again.
//   - orphan: a file in the store that no metadata describes (left, for
//     instance, by a crash between a file rename and its database commit).
//
// A store is a few small role interfaces (Fetcher, Statter, Enumerator,
// Remover, Receiver, SkeletonGetter, PartialReceiver, Batcher) embedded in
// Store; functions should accept the smallest one they need. Optional
// capabilities (RangeReader, RangeReaderInto, Prefetcher, Verifier,
// FixityLog) are found by a type assertion inside a helper with a
// fallback, as fs.ReadFile does: see ReadRange.
//
// Implementations are subpackages: blob/mem (in memory, for tests) and
// blob/disk (plain files plus SQLite). Both pass the conformance suite in
// blob/blobtest.
//
// Missing blobs are reported with errors wrapping fs.ErrNotExist; test with
// errors.Is(err, fs.ErrNotExist). A leaf with wrong bytes is refused with a
// *chunk.VerifyError (errors.Is(err, chunk.ErrMismatch)).
package blob
