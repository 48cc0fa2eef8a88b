package disk

import (
	"context"
	"database/sql"
	"io"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// Reader reads the complete blobs of a store that another process holds
// open (fieldsync serve), without its lock: complete blobs are files that
// never change once published (by rename), so reading them beside the
// writer is safe; one removed or quarantined meanwhile reads as not
// there. The web app uses it to browse a device while it serves. It
// writes nothing but what a fixity check does (Verify, VerifyAll): the
// check's log, and a damaged blob moved to quarantine.
type Reader struct{ s *Store }

var (
	_ blob.Fetcher    = (*Reader)(nil)
	_ blob.Statter    = (*Reader)(nil)
	_ blob.Enumerator = (*Reader)(nil)
	_ blob.FixityLog  = (*Reader)(nil)
	_ blob.Verifier   = (*Reader)(nil)
)

// Verify implements blob.Verifier beside the process that holds the
// store: as Store.Verify, a damaged blob quarantined and its row removed
// (that process fetches it again: Store.FixityProblems), but a file
// without a row is never taken for an orphan (it may be being published).
func (r *Reader) Verify(ctx context.Context, c cid.Cid) (blob.FixityReport, error) {
	return r.s.Verify(ctx, c)
}

// VerifyAll implements blob.Verifier beside the process that holds the
// store: every blob with a row, as Store.VerifyAll, but no search for
// orphan files and no cleaning of partial/, which are that process's.
func (r *Reader) VerifyAll(ctx context.Context, fn func(blob.FixityReport) error) error {
	return r.s.VerifyAll(ctx, fn)
}

// OpenReader reads the store whose files live under dir and whose
// metadata lives in d. It takes no lock and creates nothing; a store that
// was never opened reads as empty.
func OpenReader(dir string, d *sql.DB) *Reader {
	s := &Store{root: dir, db: d, now: time.Now, shared: true}
	s.initLocks()
	return &Reader{s: s}
}

// Fetch implements blob.Fetcher (the reader is an *os.File).
func (r *Reader) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	return r.s.Fetch(ctx, c)
}

// Stat implements blob.Statter.
func (r *Reader) Stat(ctx context.Context, c cid.Cid) (blob.Info, error) { return r.s.Stat(ctx, c) }

// Enumerate implements blob.Enumerator.
func (r *Reader) Enumerate(ctx context.Context, fn func(blob.Info) error) error {
	return r.s.Enumerate(ctx, fn)
}

// PartialStatus is Store.PartialStatus.
func (r *Reader) PartialStatus(ctx context.Context, c cid.Cid) (done, size int64, err error) {
	return r.s.PartialStatus(ctx, c)
}

// LastChecks implements blob.FixityLog.
func (r *Reader) LastChecks(ctx context.Context, olderThan time.Time, fn func(blob.FixityRecord) error) error {
	return r.s.LastChecks(ctx, olderThan, fn)
}

// FixityHistory implements blob.FixityLog.
func (r *Reader) FixityHistory(ctx context.Context, c cid.Cid) ([]blob.FixityRecord, error) {
	return r.s.FixityHistory(ctx, c)
}

// Partials is Store.Partials: the blobs partly received.
func (r *Reader) Partials(ctx context.Context) ([]cid.Cid, error) { return r.s.Partials(ctx) }

// Skeleton is Store.Skeleton, for complete and partial blobs.
func (r *Reader) Skeleton(ctx context.Context, c cid.Cid) (*chunk.Skeleton, error) {
	return r.s.Skeleton(ctx, c)
}
