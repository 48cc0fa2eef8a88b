package disk

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	"golang.org/x/sync/semaphore"
)

// ErrLocked means another process (or another open Store) uses the store's
// directory.
var ErrLocked = errors.New("blob/disk: store directory in use")

// Directory names under the store's root.
const (
	blobsDir      = "blobs"
	partialDir    = "partial"
	tmpDir        = "tmp"
	quarantineDir = "quarantine"
	lockFile      = "lock"
)

// schema creates the tables the store owns. CIDs are stored as their binary
// form, so ORDER BY cid is CID byte order; times are Unix nanoseconds (UTC).
var schema = []string{
	`CREATE TABLE IF NOT EXISTS blob_blobs (
		cid        BLOB PRIMARY KEY,
		size       INTEGER NOT NULL,
		media_type TEXT NOT NULL DEFAULT '',
		added      INTEGER NOT NULL,
		skeleton   BLOB NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS blob_partials (
		cid        BLOB PRIMARY KEY,
		size       INTEGER NOT NULL,
		media_type TEXT NOT NULL DEFAULT '',
		started    INTEGER NOT NULL,
		skeleton   BLOB NOT NULL,
		have       BLOB NOT NULL
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS blob_leaf_parts (
		cid     BLOB NOT NULL REFERENCES blob_partials (cid) ON DELETE CASCADE,
		leaf    INTEGER NOT NULL,
		durable INTEGER NOT NULL,
		PRIMARY KEY (cid, leaf)
	) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS blob_fixity (
		cid        BLOB NOT NULL,
		checked_at INTEGER NOT NULL,
		result     TEXT NOT NULL,
		detail     TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX IF NOT EXISTS blob_fixity_cid_time ON blob_fixity (cid, checked_at)`,
	// Fixity events (blob.FixityNoter): what peers said of a blob and did
	// with it, beside the checks. A table of its own, so the checks'
	// table, and every database made before it, stay as they were.
	`CREATE TABLE IF NOT EXISTS blob_fixity_events (
		cid    BLOB NOT NULL,
		at     INTEGER NOT NULL,
		event  TEXT NOT NULL,
		peer   TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	)`,
	`CREATE INDEX IF NOT EXISTS blob_fixity_events_cid_at ON blob_fixity_events (cid, at)`,
}

// Store is a blob store on disk. It is safe for concurrent use.
type Store struct {
	root string
	db   *sql.DB
	lock *os.File

	// vis guards visibility: operations on one blob hold it shared plus
	// that blob's stripe lock; a batch commit holds it exclusively. Both
	// are semaphores, not sync mutexes, because their holders wait on the
	// database (SQLite's busy handler sleeps on a timer): a goroutine
	// waiting for a sync.Mutex is not durably blocked for testing/synctest,
	// so a test in virtual time would never wake the holder; a semaphore's
	// waiter waits on a channel and is.
	vis     *semaphore.Weighted
	stripes [64]*semaphore.Weighted

	mu   sync.Mutex
	busy map[cid.Cid]bool      // partial blobs open in this process
	open map[*partial]struct{} // the same, to flush on Close
	dirs sync.Map              // fan-out directories known to exist
	// rows caches the blob.Info of blobs whose row openBlob has read
	// (cid.Cid → blob.Info): serving many small blobs cost one query
	// each. Entries go on Remove and when a fixity check drops a row;
	// the file itself is opened and its size checked on every use, so a
	// row removed by another process shows as a missing file.
	rows  sync.Map
	nrows atomic.Int64
	// statStmt is statRow's query, prepared once: a sender serving
	// thousands of small blobs parsed it once per blob (a tenth of its
	// CPU).
	statStmt *sql.Stmt

	// partSyncAfter is how long the kept bytes of an unfinished leaf may
	// wait before they are made durable (see Begin): 100 ms.
	partSyncAfter time.Duration

	now func() time.Time
	// shared is set on a Reader's store: another process holds the
	// directory, its locks and its files (see Verify).
	shared bool
	// writeHook, if set (tests only), is called before every write of n
	// bytes at off to a store file and may fail it (disk full).
	writeHook func(path string, off int64, n int) error
	// syncHook, if set (tests only), replaces syncFS: it lets a test see
	// the per-file fallback.
	noSyncFS bool
	// noDirect, if set (tests only), keeps whole leaves out of direct
	// writes; directWrites counts those made (for tests).
	noDirect     bool
	directWrites atomic.Int64
}

var (
	_ blob.Store           = (*Store)(nil)
	_ blob.RangeReader     = (*Store)(nil)
	_ blob.RangeReaderInto = (*Store)(nil)
	_ blob.Verifier        = (*Store)(nil)
	_ blob.FixityLog       = (*Store)(nil)
	_ blob.FixityStore     = (*Store)(nil)
	_ blob.FixityNoter     = (*Store)(nil)
)

// Open opens (creating if needed) the blob store whose files live under
// dir and whose metadata lives in d, the project's database (see
// internal/db); the store creates its blob_* tables there. Only one Store
// may have dir open at a time, in any process: a second Open fails with
// ErrLocked. Close releases dir but does not close d.
func Open(ctx context.Context, dir string, d *sql.DB) (*Store, error) {
	for _, sub := range []string{"", blobsDir, partialDir, tmpDir, quarantineDir} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	lock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	s := &Store{root: dir, db: d, lock: lock, busy: map[cid.Cid]bool{}, open: map[*partial]struct{}{}, partSyncAfter: 100 * time.Millisecond, now: time.Now}
	s.initLocks()
	// Temp files of Puts and batches that a crash interrupted: nobody else
	// can be writing them, we hold the lock.
	if err := clearDir(filepath.Join(dir, tmpDir)); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open blob store: clear temp files: %w", err)
	}
	if err := db.Migrate(ctx, d, schema...); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	if err := s.recoverCommits(ctx); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	if s.statStmt, err = d.PrepareContext(ctx, statQuery); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	return s, nil
}

// recoverCommits undoes partial Commits a crash cut between the rename of
// the file into blobs/ and the transaction: the partial's rows are still
// there, its file is in blobs/ without a row. The file goes back to
// partial/, every leaf still had, so the next Begin and Commit finish the
// job (and VerifyAll does not take it for an orphan).
func (s *Store) recoverCommits(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT cid FROM blob_partials WHERE cid NOT IN (SELECT cid FROM blob_blobs)`)
	if err != nil {
		return err
	}
	var cids []cid.Cid
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return err
		}
		if c, err := cid.Cast(b); err == nil {
			cids = append(cids, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range cids {
		p := s.partialPath(c)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Rename(s.Path(c), p); err != nil {
			continue // no file anywhere: Begin starts the blob over
		}
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the store's directory. Open partial blobs should be closed
// first; those that are not have the kept bytes of their unfinished leaves
// made durable. It does not close the database.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	s.mu.Lock()
	open := make([]*partial, 0, len(s.open))
	for q := range s.open {
		open = append(open, q)
	}
	s.mu.Unlock()
	var err error
	for _, q := range open {
		err = errors.Join(err, q.flushSoonErr(false), q.flushParts(context.Background()))
	}
	err = errors.Join(err, s.lock.Close())
	s.lock = nil
	s.statStmt.Close() // fails only if the database was closed first, which closed it
	return err
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.root }

// fanout returns the two directory levels of a blob named name: the
// next-to-last and the one before it. The last character of a base32
// sha2-256 CID carries only 3 bits of the digest (8 values); the two before
// it carry 5 bits each, uniformly distributed.
func fanout(name string) (string, string) {
	if len(name) < 4 {
		return "_", "_"
	}
	return name[len(name)-2 : len(name)-1], name[len(name)-3 : len(name)-2]
}

// Path returns where the complete blob c lives (or would live):
// <dir>/blobs/<a>/<b>/<cid>, a and b being fanout's characters.
func (s *Store) Path(c cid.Cid) string {
	name := c.String()
	a, b := fanout(name)
	return filepath.Join(s.root, blobsDir, a, b, name)
}

func (s *Store) partialPath(c cid.Cid) string {
	return filepath.Join(s.root, partialDir, c.String())
}

func (s *Store) stripe(c cid.Cid) *semaphore.Weighted {
	h := fnv.New32a()
	h.Write(c.Bytes())
	return s.stripes[h.Sum32()%uint32(len(s.stripes))]
}

// visAll is the weight of vis: a batch commit takes all of it, an
// operation on one blob one unit.
const visAll = 1 << 30

func (s *Store) initLocks() {
	s.vis = semaphore.NewWeighted(visAll)
	for i := range s.stripes {
		s.stripes[i] = semaphore.NewWeighted(1)
	}
}

// lockVisAll takes vis exclusively (a batch commit).
func (s *Store) lockVisAll() func() {
	_ = s.vis.Acquire(context.Background(), visAll) // never fails: no deadline
	return func() { s.vis.Release(visAll) }
}

// lockBlob takes the locks that guard the visibility of c.
func (s *Store) lockBlob(c cid.Cid) func() {
	_ = s.vis.Acquire(context.Background(), 1)
	m := s.stripe(c)
	_ = m.Acquire(context.Background(), 1)
	return func() { m.Release(1); s.vis.Release(1) }
}

func (s *Store) timestamp() time.Time { return time.Unix(0, s.now().UnixNano()).UTC() }

// ensureDir creates the fan-out directory dir (and its parent) if needed
// and adds to sync every directory whose entries changed: dir itself (the
// caller is about to rename into it) and the parent of each directory
// created. The caller fsyncs them all after its renames (Store.syncDirs): on
// ext4 the first fsync commits the journal for all, so a batch that creates
// hundreds of directories costs one journal commit, not hundreds.
func (s *Store) ensureDir(dir string, sync map[string]bool) error {
	sync[dir] = true
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	parent := filepath.Dir(dir)
	for _, d := range []string{parent, dir} {
		err := os.Mkdir(d, 0o755)
		if err == nil {
			sync[filepath.Dir(d)] = true
		} else if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	s.dirs.Store(dir, true)
	return nil
}

// syncDirs makes the entries of every directory of dirs durable. Past a
// few directories it calls syncfs once instead: each directory fsync costs
// a disk cache flush (ext4 issues one per fsync even when the journal has
// nothing left to commit), ~1 ms on a virtual disk, and a batch of 1,000
// thumbnails touches ~650 of the 1,024 fan-out directories.
func (s *Store) syncDirs(dirs map[string]bool) error {
	if len(dirs) > 4 && !s.noSyncFS {
		if f, err := os.Open(s.root); err == nil {
			err = syncFS(f)
			f.Close()
			if err == nil {
				return nil
			}
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return err
		}
	}
	return nil
}

const statQuery = `SELECT size, media_type, added FROM blob_blobs WHERE cid = ?`

// statRow reads the row of the complete blob c (fs.ErrNotExist if none),
// with the prepared query of an open Store, or parsing it (a Reader,
// whose tables may not exist yet).
func (s *Store) statRow(ctx context.Context, c cid.Cid) (blob.Info, error) {
	var size, added int64
	var mt string
	var row *sql.Row
	if s.statStmt != nil {
		row = s.statStmt.QueryRowContext(ctx, c.Bytes())
	} else {
		row = s.db.QueryRowContext(ctx, statQuery, c.Bytes())
	}
	err := row.Scan(&size, &mt, &added)
	if errors.Is(err, sql.ErrNoRows) {
		return blob.Info{}, fs.ErrNotExist
	}
	if err != nil {
		return blob.Info{}, err
	}
	return blob.Info{CID: c, Size: size, MediaType: mt, Added: time.Unix(0, added).UTC()}, nil
}

// Stat implements blob.Statter.
func (s *Store) Stat(ctx context.Context, c cid.Cid) (blob.Info, error) {
	in, err := s.statRow(ctx, c)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", c, err)
	}
	return in, nil
}

// openBlob opens the file of the complete blob c and checks its size.
func (s *Store) openBlob(ctx context.Context, c cid.Cid) (*os.File, int64, error) {
	var in blob.Info
	if v, ok := s.rows.Load(c); ok {
		in = v.(blob.Info)
	} else {
		var err error
		if in, err = s.statRow(ctx, c); err != nil {
			return nil, 0, err
		}
		s.cacheRow(in)
	}
	f, err := os.Open(s.Path(c))
	if err != nil {
		s.forget(c)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("file missing (run a fixity check): %w", fs.ErrNotExist)
		}
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if st.Size() != in.Size {
		f.Close()
		s.forget(c)
		return nil, 0, fmt.Errorf("file has %d bytes, want %d: %w", st.Size(), in.Size, blob.ErrCorrupt)
	}
	return f, in.Size, nil
}

// forget drops c from the rows cache.
func (s *Store) forget(c cid.Cid) { s.rows.Delete(c) }

// cacheRow adds a row to the rows cache, which starts over past 65,536.
func (s *Store) cacheRow(in blob.Info) {
	if s.nrows.Add(1) > 1<<16 {
		s.rows.Clear()
		s.nrows.Store(0)
	}
	s.rows.Store(in.CID, in)
}

// prefetchMax is how many rows Prefetch reads per query.
const prefetchMax = 64

// Prefetch implements blob.Prefetcher: the rows of cs not in the rows
// cache are read into it, prefetchMax to a query. A sender serving 30,000
// small blobs spent a third of its CPU reading their rows one query each.
// A blob not stored is simply not cached; an error leaves the rest to
// openBlob.
func (s *Store) Prefetch(ctx context.Context, cs []cid.Cid) {
	args := make([]any, 0, len(cs))
	for _, c := range cs {
		if _, ok := s.rows.Load(c); !ok {
			args = append(args, c.Bytes())
		}
	}
	for len(args) > 0 {
		k := min(len(args), prefetchMax)
		q := `SELECT ` + infoColumns + ` FROM blob_blobs WHERE cid IN (?` + strings.Repeat(", ?", k-1) + `)`
		if err := s.prefetchRows(ctx, q, args[:k]); err != nil {
			return
		}
		args = args[k:]
	}
}

func (s *Store) prefetchRows(ctx context.Context, q string, args []any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		in, err := scanInfo(rows)
		if err != nil {
			return err
		}
		s.cacheRow(in)
	}
	return rows.Err()
}

// Fetch implements blob.Fetcher. The reader is the blob's file (an
// *os.File, so it also seeks and reads at offsets).
func (s *Store) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	f, _, err := s.openBlob(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("fetch blob %s: %w", c, err)
	}
	return f, nil
}

// ReadRange implements blob.RangeReader.
func (s *Store) ReadRange(ctx context.Context, c cid.Cid, off int64, n int) ([]byte, error) {
	f, size, err := s.openBlob(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("read range of blob %s: %w", c, err)
	}
	defer f.Close()
	if off < 0 || n < 0 || off+int64(n) > size {
		return nil, fmt.Errorf("read range %s [%d,+%d) of %d bytes: %w", c, off, n, size, io.ErrUnexpectedEOF)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("read range %s [%d,+%d): %w", c, off, n, err)
	}
	return buf, nil
}

// ReadRangeInto implements blob.RangeReaderInto.
func (s *Store) ReadRangeInto(ctx context.Context, c cid.Cid, off int64, p []byte) error {
	f, size, err := s.openBlob(ctx, c)
	if err != nil {
		return fmt.Errorf("read range of blob %s: %w", c, err)
	}
	defer f.Close()
	n := len(p)
	if off < 0 || off+int64(n) > size {
		return fmt.Errorf("read range %s [%d,+%d) of %d bytes: %w", c, off, n, size, io.ErrUnexpectedEOF)
	}
	if _, err := f.ReadAt(p, off); err != nil {
		return fmt.Errorf("read range %s [%d,+%d): %w", c, off, n, err)
	}
	return nil
}

// enumPage is how many rows Enumerate reads per query. fn runs with no
// query open, so it may use the store (and the database) freely.
const enumPage = 512

// Enumerate implements blob.Enumerator.
func (s *Store) Enumerate(ctx context.Context, fn func(blob.Info) error) error {
	after := []byte{}
	for {
		page, err := s.page(ctx, after)
		if err != nil {
			return fmt.Errorf("enumerate blobs: %w", err)
		}
		for _, in := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(page) < enumPage {
			return nil
		}
		after = page[len(page)-1].CID.Bytes()
	}
}

func (s *Store) page(ctx context.Context, after []byte) ([]blob.Info, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+infoColumns+` FROM blob_blobs WHERE cid > ? ORDER BY cid LIMIT ?`, after, enumPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []blob.Info
	for rows.Next() {
		in, err := scanInfo(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

// infoColumns are the columns of blob_blobs scanInfo reads, in its order.
const infoColumns = `cid, size, media_type, added`

// scanInfo reads the row at rows (infoColumns) as a blob.Info.
func scanInfo(rows *sql.Rows) (blob.Info, error) {
	var cb []byte
	var in blob.Info
	var added int64
	if err := rows.Scan(&cb, &in.Size, &in.MediaType, &added); err != nil {
		return blob.Info{}, err
	}
	c, err := cid.Cast(cb)
	if err != nil {
		return blob.Info{}, fmt.Errorf("bad CID in blob_blobs: %w", err)
	}
	in.CID = c
	in.Added = time.Unix(0, added).UTC()
	return in, nil
}

// Remove implements blob.Remover. The metadata goes first, so the blob is
// invisible before its file is unlinked; the directory is then fsynced so
// a crash does not bring the file back as an orphan.
func (s *Store) Remove(ctx context.Context, c cid.Cid) error {
	unlock := s.lockBlob(c)
	defer unlock()
	s.forget(c)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM blob_blobs WHERE cid = ?`, c.Bytes()); err != nil {
		return fmt.Errorf("remove blob %s: %w", c, err)
	}
	p := s.Path(c)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove blob %s: %w", c, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("remove blob %s: %w", c, err)
	}
	return nil
}

// Skeleton implements blob.SkeletonGetter. The stored skeleton is parsed
// and verified against c again, so a damaged row is an error, not a lie.
func (s *Store) Skeleton(ctx context.Context, c cid.Cid) (*chunk.Skeleton, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT skeleton FROM blob_blobs WHERE cid = ?1
		UNION ALL SELECT skeleton FROM blob_partials WHERE cid = ?1 LIMIT 1`, c.Bytes()).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("skeleton of %s: %w", c, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("skeleton of %s: %w", c, err)
	}
	sk, err := chunk.ParseSkeleton(c, b)
	if err != nil {
		return nil, fmt.Errorf("skeleton of %s: stored skeleton: %w", c, err)
	}
	return sk, nil
}

// Partials implements blob.Store.
func (s *Store) Partials(ctx context.Context) ([]cid.Cid, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT cid FROM blob_partials
		WHERE cid NOT IN (SELECT cid FROM blob_blobs) ORDER BY cid`)
	if err != nil {
		return nil, fmt.Errorf("list partial blobs: %w", err)
	}
	defer rows.Close()
	var out []cid.Cid
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, fmt.Errorf("list partial blobs: %w", err)
		}
		c, err := cid.Cast(b)
		if err != nil {
			return nil, fmt.Errorf("list partial blobs: bad CID: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list partial blobs: %w", err)
	}
	return out, nil
}
