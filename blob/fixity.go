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

// FixityRecord is one logged fixity check.
type FixityRecord struct {
	CID       cid.Cid
	CheckedAt time.Time // zero: never checked
	Result    Fixity    // empty: never checked
}

// FixityLog is the optional capability of remembering fixity checks.
type FixityLog interface {
	// LastChecks calls fn for every complete blob whose latest check is
	// before olderThan (a zero olderThan lists every blob), oldest check
	// first, blobs never checked (zero CheckedAt) before all others.
	LastChecks(ctx context.Context, olderThan time.Time, fn func(FixityRecord) error) error
	// FixityHistory returns every logged check of c, oldest first.
	FixityHistory(ctx context.Context, c cid.Cid) ([]FixityRecord, error)
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
