package archive

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// What this package needs from a project, as small interfaces so that it
// does not depend on how package project stores its logs. Package project
// (or a thin adapter in cmd) implements them.

// Vector is a version vector: for each author, the highest sequence number
// of its log that is held. It has the same shape as project.VersionVector,
// so either converts to the other with a plain conversion.
type Vector map[peer.ID]uint64

// Block is one IPLD block: its CID and its bytes.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// BlobRef is a blob the project refers to: an attachment variant of an
// observation.
type BlobRef struct {
	CID   cid.Cid
	Class blob.Class // blob.ClassThumbnail, blob.ClassPreview, blob.ClassOriginal or ClassAttachment
	// Time is the observation's creation time; within a class newer
	// observations come first.
	Time      time.Time
	MediaType string
	Size      int64
}

// Source is the project side of an export.
type Source interface {
	// ProjectID returns the project ID (the genesis record's CID).
	ProjectID() cid.Cid
	// Vector returns the version vector of the records held.
	Vector(ctx context.Context) (Vector, error)
	// Records calls fn for every record held that a device with version
	// vector have lacks (have nil or empty: every record), in an order in
	// which they can be applied: the genesis first, each author's log by
	// ascending sequence, membership records before the records that need
	// them. An error from fn stops the walk and is returned.
	Records(ctx context.Context, have Vector, fn func(Block) error) error
	// Blobs returns every blob referenced by the project's current,
	// undeleted observations (attachment variants), each once; with
	// history, those of every version the project counts.
	Blobs(ctx context.Context, history bool) ([]BlobRef, error)
}

// RecordOutcome is what applying one record did.
type RecordOutcome struct {
	New bool // stored now
	// Err is nil for a record stored now or already known; otherwise why
	// it was refused (the project's error, e.g. project.ErrNotMember).
	Err error
}

// Sink is the project side of an import.
type Sink interface {
	// ProjectID returns the project ID.
	ProjectID() cid.Cid
	// Apply checks recs (dag-cbor blocks, already verified against their
	// CIDs) with every check a network sync runs (decoding, signature,
	// project, membership, log continuity) and stores those that pass. It
	// returns one outcome per block, in order. The error is for failures
	// to apply at all (database), not for a refused record.
	Apply(ctx context.Context, recs []Block) ([]RecordOutcome, error)
	// WantBlob reports whether this device wants blob c: an attachment
	// variant referenced by a record the project holds (and, if the device
	// keeps only some classes, one of those), and what is known of it.
	// Blocks of blobs not wanted are refused (ReasonNotWanted).
	WantBlob(ctx context.Context, c cid.Cid) (blob.Meta, bool, error)
	// CheckMember reports whether p may send project data: a member,
	// coordinator or creator, not blocked. Nil means yes; an error
	// wrapping ErrUnknownDevice means the project does not know p at all
	// (it may learn of p from the records that follow); any other error
	// means p is known and may not (blocked).
	CheckMember(ctx context.Context, p peer.ID) error
}

// Observations is the project side of a BagIt export.
type Observations interface {
	// ProjectID returns the project ID.
	ProjectID() cid.Cid
	// ProjectName returns the project's name.
	ProjectName() string
	// Observations calls fn for the current version of every observation
	// that is not deleted, as its JSON document (package view). An error
	// from fn stops the walk and is returned.
	Observations(ctx context.Context, fn func(view.Observation) error) error
}
