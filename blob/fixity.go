package blob

import (
	"context"
	"time"

	"github.com/ipfs/go-cid"
)

// Fixity is the result of checking one stored blob.
type Fixity string

// Fixity results. They are stored as these strings (blob_fixity.result).
const (
	// FixityOK: the bytes hash to the CID.
	FixityOK Fixity = "ok"
	// FixityCorrupt: the bytes have the right size but hash to something
	// else. The blob was quarantined.
	FixityCorrupt Fixity = "corrupt"
	// FixityMissing: metadata says the blob is stored but its file is gone.
	// The metadata was removed so the blob can be fetched again.
	FixityMissing Fixity = "missing"
	// FixityTruncated: the file is shorter (or longer) than the blob. The
	// blob was quarantined.
	FixityTruncated Fixity = "truncated"
	// FixityOrphan: a file no metadata describes (for instance left by a
	// crash between a rename and its database commit). It was quarantined,
	// not adopted: without its metadata (media type, added time) it is
	// better fetched or put again.
	FixityOrphan Fixity = "orphan"
)

// DetailNotStored is the Detail of a FixityMissing report for a CID the
// store knows nothing of (no metadata, no file), as opposed to a stored
// blob whose file has gone.
const DetailNotStored = "not stored"

// FixityReport is the result of one fixity check.
type FixityReport struct {
	CID    cid.Cid // undefined for an orphan file whose name is not a CID
	Result Fixity
	// Path is the file that was checked.
	Path string
	// Quarantine is where the file was moved, if it was.
	Quarantine string
	// Detail says what was wrong, for people (empty when OK).
	Detail    string
	CheckedAt time.Time
}

// OK reports whether the blob checked clean.
func (r FixityReport) OK() bool { return r.Result == FixityOK }

// Verifier is the optional capability of checking stored bytes against their
// CIDs by re-hashing them.
type Verifier interface {
	// Verify re-hashes the complete blob c. A blob that is not stored (and
	// has no file) gives a report with Result FixityMissing and Detail
	// DetailNotStored. The error is
	// for failures to check (I/O, database), never for a bad blob: that is
	// the report's Result. A corrupt or truncated blob is quarantined and
	// stops being visible.
	Verify(ctx context.Context, c cid.Cid) (FixityReport, error)
	// VerifyAll checks every complete blob, in CID byte order, then looks
	// for files no metadata describes (reported as FixityOrphan), calling
	// fn with each report. An error from fn stops the walk and is returned.
	VerifyAll(ctx context.Context, fn func(FixityReport) error) error
}

// FixityRecord is one entry of a blob's fixity log: a check (Event
// empty), or an event noted beside the checks (see FixityNoter).
type FixityRecord struct {
	CID       cid.Cid
	CheckedAt time.Time // when it was checked, or when the event happened; zero: never checked
	Result    Fixity    // a check's result; empty for an event, or never checked
	// Event is what happened, for an entry that is not a check of this
	// device's copy: FixityReported, FixityBadCopy, FixityRefetched.
	Event FixityEvent
	// Peer is the peer the event involves (its peer ID as text), if any.
	Peer string
	// Detail says what was wrong or what happened, for people.
	Detail string
}

// IsCheck reports whether r is a check of the blob's bytes (not an event).
func (r FixityRecord) IsCheck() bool { return r.Event == "" }

// FixityEvent is something that happened to a blob's fixity other than a
// check of the copy here: what peers said of it and did with it. Events
// are kept in the fixity log beside the checks, so that the whole path of
// a damaged copy (reported, checked, quarantined, fetched again) is on
// record. They are stored as these strings.
type FixityEvent string

// Fixity events.
const (
	// FixityReported: a peer reported that the bytes of this blob this
	// device sent it failed verification there. A check of the copy here
	// follows (unless one ran a moment ago).
	FixityReported FixityEvent = "reported"
	// FixityBadCopy: bytes of this blob received from a peer failed
	// verification here; they were dropped, the peer was told and
	// dropped, and the blob is fetched from other peers.
	FixityBadCopy FixityEvent = "bad-copy"
	// FixityRefetched: the blob, quarantined after a failed check, was
	// fetched again from a peer and verified against its CID.
	FixityRefetched FixityEvent = "refetched"
)

// FixityLog is the optional capability of remembering fixity checks.
type FixityLog interface {
	// LastChecks calls fn for every complete blob whose latest check is
	// before olderThan (a zero olderThan lists every blob), oldest check
	// first, blobs never checked (zero CheckedAt) before all others.
	// Events (see FixityNoter) are not checks and count for nothing here.
	LastChecks(ctx context.Context, olderThan time.Time, fn func(FixityRecord) error) error
	// FixityHistory returns every logged check of c, and every event
	// noted for c (FixityNoter), oldest first; entries of the same time
	// in the order they were logged. A blob never stored may have events.
	FixityHistory(ctx context.Context, c cid.Cid) ([]FixityRecord, error)
}

// FixityNoter is the optional capability of keeping fixity events beside
// the checks, in the log FixityHistory reads.
type FixityNoter interface {
	// NoteFixity logs r, an event (r.Event must be set) of blob r.CID at
	// r.CheckedAt (zero: now). The blob need not be stored.
	NoteFixity(ctx context.Context, r FixityRecord) error
}

// LastCheck returns the latest check in h (a FixityHistory), skipping
// events; ok is false if h holds no check.
func LastCheck(h []FixityRecord) (r FixityRecord, ok bool) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].IsCheck() {
			return h[i], true
		}
	}
	return FixityRecord{}, false
}

// FixityStore is a store that checks its blobs and logs the checks.
type FixityStore interface {
	Verifier
	FixityLog
}

// VerifyDue re-checks every blob whose latest fixity check is older than
// olderThan, blobs never checked first, then the oldest checks, calling fn
// with each report: the work of a periodic `fixity --older-than` run. An
// error from fn stops it and is returned.
func VerifyDue(ctx context.Context, s FixityStore, olderThan time.Time, fn func(FixityReport) error) error {
	var due []cid.Cid
	if err := s.LastChecks(ctx, olderThan, func(r FixityRecord) error {
		due = append(due, r.CID)
		return nil
	}); err != nil {
		return err
	}
	for _, c := range due {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := s.Verify(ctx, c)
		if err != nil {
			return err
		}
		if rep.Result == FixityMissing && rep.Detail == DetailNotStored {
			continue // removed since it was listed
		}
		if err := fn(rep); err != nil {
			return err
		}
	}
	return nil
}
