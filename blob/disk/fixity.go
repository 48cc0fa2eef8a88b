package disk

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// Verify implements blob.Verifier: it re-hashes the file of c under the
// profile and compares the root with c. A corrupt or truncated file is
// moved to quarantine/ and its row removed, so the blob is no longer
// visible and can be fetched again; a missing file has its row removed.
// Every check of a stored blob is logged in blob_fixity.
//
// The hashing runs without locks, so a long check never holds back Puts; a
// blob that does not check clean is checked again under its lock before
// anything is moved, so a concurrent Put or Remove is never mistaken for
// damage. Beside another process that holds the store (a Reader), whose
// locks this process cannot take, the check reads the blob's row again
// before it moves anything and removes only the row it checked: a file
// without a row is one that process is publishing (reported as not
// stored, never moved), and a row removed meanwhile is a blob it removed.
func (s *Store) Verify(ctx context.Context, c cid.Cid) (blob.FixityReport, error) {
	rep, err := s.verify(ctx, c, false)
	switch {
	case err == nil:
		return rep, nil
	case !errors.Is(err, errNeedLock):
		return rep, fmt.Errorf("verify blob %s: %w", c, err)
	}
	unlock := s.lockBlob(c)
	defer unlock()
	rep, err = s.verify(ctx, c, true)
	if err != nil {
		return rep, fmt.Errorf("verify blob %s: %w", c, err)
	}
	return rep, nil
}

// errNeedLock makes an unlocked check hand over to a locked one.
var errNeedLock = errors.New("check again under lock")

// verify checks c. Unless act is true (and the caller holds c's lock) it
// changes nothing but the log of a clean result: anything else, and any
// repair, is returned as errNeedLock.
func (s *Store) verify(ctx context.Context, c cid.Cid, act bool) (blob.FixityReport, error) {
	path := s.Path(c)
	rep := blob.FixityReport{CID: c, Path: path, Result: blob.FixityOK, CheckedAt: s.timestamp()}
	var size, added int64
	var skb []byte
	err := s.db.QueryRowContext(ctx, `SELECT size, skeleton, added FROM blob_blobs WHERE cid = ?`, c.Bytes()).Scan(&size, &skb, &added)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := os.Lstat(path); err == nil && !s.shared {
			if !act {
				return rep, errNeedLock
			}
			return s.orphan(ctx, path, c, rep.CheckedAt)
		}
		rep.Result, rep.Detail = blob.FixityMissing, blob.DetailNotStored
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !act {
			return rep, errNeedLock
		}
		rep.Result, rep.Detail = blob.FixityMissing, "file missing"
		s.forget(c)
		if gone, err := s.dropRow(ctx, c, added); err != nil || gone {
			if gone {
				rep.Detail = blob.DetailNotStored // removed meanwhile
			}
			return rep, err
		}
		return rep, s.logFixity(ctx, rep)
	}
	if err != nil {
		return rep, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rep, err
	}
	switch {
	case !st.Mode().IsRegular():
		rep.Result, rep.Detail = blob.FixityCorrupt, "not a regular file: "+st.Mode().String()
	case st.Size() != size:
		rep.Result, rep.Detail = blob.FixityTruncated, fmt.Sprintf("%d bytes, want %d", st.Size(), size)
	default:
		sk, err := chunk.Sum(ctx, f)
		if err != nil {
			return rep, err
		}
		if sk.Root != c {
			rep.Result, rep.Detail = blob.FixityCorrupt, "bytes hash to "+sk.Root.String()
			break
		}
		// The bytes are right; make sure the stored skeleton is too.
		if good, _ := sk.MarshalBinary(); !bytes.Equal(good, skb) {
			if !act {
				return rep, errNeedLock
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE blob_blobs SET skeleton = ? WHERE cid = ?`, good, c.Bytes()); err != nil {
				return rep, err
			}
			rep.Detail = "stored skeleton was damaged and has been rebuilt"
		}
	}
	if rep.Result != blob.FixityOK && !act {
		return rep, errNeedLock
	}
	if rep.Result != blob.FixityOK {
		f.Close()
		if s.shared {
			// The other process may have removed it since.
			if ok, err := s.rowIs(ctx, c, added); err != nil || !ok {
				rep.Result, rep.Detail = blob.FixityMissing, blob.DetailNotStored
				return rep, err
			}
		}
		q, err := s.quarantine(path, rep.Result, rep.CheckedAt)
		if err != nil {
			return rep, err
		}
		rep.Quarantine = q
		s.forget(c)
		if _, err := s.dropRow(ctx, c, added); err != nil {
			return rep, err
		}
	}
	return rep, s.logFixity(ctx, rep)
}

// rowIs reports whether c's row is still the one added at added.
func (s *Store) rowIs(ctx context.Context, c cid.Cid, added int64) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM blob_blobs WHERE cid = ? AND added = ?`, c.Bytes(), added).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// dropRow removes c's row if it is still the one added at added, and
// reports whether it was gone already (removed meanwhile, by Remove here
// or by the process that holds the store).
func (s *Store) dropRow(ctx context.Context, c cid.Cid, added int64) (gone bool, err error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM blob_blobs WHERE cid = ? AND added = ?`, c.Bytes(), added)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return err == nil && n == 0, err
}

// quarantine moves the file at path to quarantine/<name>.<time>.<result>.
// Bytes the store cannot vouch for are set aside, never deleted: an
// archivist may want to look at them.
func (s *Store) quarantine(path string, why blob.Fixity, at time.Time) (string, error) {
	q := filepath.Join(s.root, quarantineDir, filepath.Base(path)+"."+at.Format("20060102T150405.000000000Z")+"."+string(why))
	if err := os.Rename(path, q); err != nil {
		return "", fmt.Errorf("quarantine: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return q, err
	}
	return q, syncDir(filepath.Dir(q))
}

// orphan quarantines a file under blobs/ that no row describes.
func (s *Store) orphan(ctx context.Context, path string, c cid.Cid, at time.Time) (blob.FixityReport, error) {
	rep := blob.FixityReport{CID: c, Path: path, Result: blob.FixityOrphan, CheckedAt: at, Detail: "file without metadata"}
	q, err := s.quarantine(path, blob.FixityOrphan, at)
	rep.Quarantine = q
	if err != nil {
		return rep, err
	}
	if c.Defined() {
		err = s.logFixity(ctx, rep)
	}
	return rep, err
}

func (s *Store) logFixity(ctx context.Context, rep blob.FixityReport) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO blob_fixity (cid, checked_at, result, detail) VALUES (?, ?, ?, ?)`,
		rep.CID.Bytes(), rep.CheckedAt.UnixNano(), string(rep.Result), rep.Detail)
	return err
}

// VerifyAll implements blob.Verifier: every blob with a row, in CID byte
// order, then every file under blobs/ without one (orphans, quarantined),
// then partial files without state (removed: they hold no verified byte).
func (s *Store) VerifyAll(ctx context.Context, fn func(blob.FixityReport) error) error {
	var cids []cid.Cid
	after := []byte{}
	for {
		page, err := s.page(ctx, after)
		if err != nil {
			return fmt.Errorf("verify blobs: %w", err)
		}
		for _, in := range page {
			cids = append(cids, in.CID)
		}
		if len(page) < enumPage {
			break
		}
		after = page[len(page)-1].CID.Bytes()
	}
	for _, c := range cids {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := s.Verify(ctx, c)
		if err != nil {
			return err
		}
		if rep.Result == blob.FixityMissing && rep.Detail == blob.DetailNotStored {
			continue // removed while we walked
		}
		if err := fn(rep); err != nil {
			return err
		}
	}
	if s.shared {
		// The files of the process that holds the store: one it is
		// publishing has no row yet, and partial/ is its own.
		return nil
	}
	if err := s.walkOrphans(ctx, fn); err != nil {
		return err
	}
	return s.cleanPartials(ctx)
}

func (s *Store) walkOrphans(ctx context.Context, fn func(blob.FixityReport) error) error {
	root := filepath.Join(s.root, blobsDir)
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("verify blobs: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		c, perr := cid.Decode(name)
		if perr == nil && c.String() == name && s.Path(c) == path {
			unlock := s.lockBlob(c)
			var one int
			err := s.db.QueryRowContext(ctx, `SELECT 1 FROM blob_blobs WHERE cid = ?`, c.Bytes()).Scan(&one)
			if err == nil {
				unlock()
				return nil // a blob; checked above (or stored since)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				unlock()
				return fmt.Errorf("verify blobs: %w", err)
			}
			rep, err := s.orphan(ctx, path, c, s.timestamp())
			unlock()
			if err != nil {
				return fmt.Errorf("verify blobs: %w", err)
			}
			return fn(rep)
		}
		// Not a blob name, or in the wrong directory.
		rep, err := s.orphan(ctx, path, cid.Undef, s.timestamp())
		if err != nil {
			return fmt.Errorf("verify blobs: %w", err)
		}
		return fn(rep)
	})
}

// cleanPartials removes partial files that have no state and are not open:
// left by a crash between creating the file and recording it.
func (s *Store) cleanPartials(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(s.root, partialDir))
	if err != nil {
		return fmt.Errorf("verify partial blobs: %w", err)
	}
	for _, e := range ents {
		c, err := cid.Decode(e.Name())
		path := filepath.Join(s.root, partialDir, e.Name())
		if err != nil {
			os.RemoveAll(path)
			continue
		}
		s.mu.Lock()
		busy := s.busy[c]
		s.mu.Unlock()
		if busy {
			continue
		}
		unlock := s.lockBlob(c)
		var one int
		err = s.db.QueryRowContext(ctx, `SELECT 1 FROM blob_partials WHERE cid = ?`, c.Bytes()).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			os.Remove(path)
		}
		unlock()
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("verify partial blobs: %w", err)
		}
	}
	return nil
}

// LastChecks implements blob.FixityLog.
func (s *Store) LastChecks(ctx context.Context, olderThan time.Time, fn func(blob.FixityRecord) error) error {
	limit := int64(1<<63 - 1)
	if !olderThan.IsZero() {
		limit = olderThan.UnixNano()
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT b.cid, f.checked_at, f.result
		FROM blob_blobs b
		LEFT JOIN blob_fixity f ON f.cid = b.cid AND f.checked_at =
			(SELECT MAX(checked_at) FROM blob_fixity WHERE cid = b.cid)
		WHERE f.checked_at IS NULL OR f.checked_at < ?
		ORDER BY COALESCE(f.checked_at, -1), b.cid`, limit)
	if err != nil {
		return fmt.Errorf("list fixity checks: %w", err)
	}
	var recs []blob.FixityRecord
	for rows.Next() {
		var cb []byte
		var at sql.NullInt64
		var res sql.NullString
		if err := rows.Scan(&cb, &at, &res); err != nil {
			rows.Close()
			return fmt.Errorf("list fixity checks: %w", err)
		}
		c, err := cid.Cast(cb)
		if err != nil {
			rows.Close()
			return fmt.Errorf("list fixity checks: bad CID: %w", err)
		}
		r := blob.FixityRecord{CID: c, Result: blob.Fixity(res.String)}
		if at.Valid {
			r.CheckedAt = time.Unix(0, at.Int64).UTC()
		}
		recs = append(recs, r)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return fmt.Errorf("list fixity checks: %w", err)
	}
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// FixityHistory implements blob.FixityLog: the checks of c (blob_fixity)
// and its events (blob_fixity_events), oldest first; at the same time an
// event comes before a check (a report before the check it caused).
func (s *Store) FixityHistory(ctx context.Context, c cid.Cid) ([]blob.FixityRecord, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT checked_at, result, '', '', detail, 1, rowid FROM blob_fixity WHERE cid = ?
		UNION ALL
		SELECT at, '', event, peer, detail, 0, rowid FROM blob_fixity_events WHERE cid = ?
		ORDER BY 1, 6, 7`, c.Bytes(), c.Bytes())
	if err != nil {
		return nil, fmt.Errorf("fixity history of %s: %w", c, err)
	}
	defer rows.Close()
	var out []blob.FixityRecord
	for rows.Next() {
		var at, kind, id int64
		var res, ev, p, detail string
		if err := rows.Scan(&at, &res, &ev, &p, &detail, &kind, &id); err != nil {
			return nil, fmt.Errorf("fixity history of %s: %w", c, err)
		}
		out = append(out, blob.FixityRecord{CID: c, CheckedAt: time.Unix(0, at).UTC(), Result: blob.Fixity(res),
			Event: blob.FixityEvent(ev), Peer: p, Detail: detail})
	}
	return out, rows.Err()
}

// NoteFixity implements blob.FixityNoter.
func (s *Store) NoteFixity(ctx context.Context, r blob.FixityRecord) error {
	if r.Event == "" {
		return fmt.Errorf("note fixity event of %s: no event", r.CID)
	}
	at := r.CheckedAt
	if at.IsZero() {
		at = s.timestamp()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO blob_fixity_events (cid, at, event, peer, detail) VALUES (?, ?, ?, ?, ?)`,
		r.CID.Bytes(), at.UnixNano(), string(r.Event), r.Peer, r.Detail)
	if err != nil {
		return fmt.Errorf("note fixity event of %s: %w", r.CID, err)
	}
	return nil
}

// FixityMark is where the fixity log ends now, for FixityProblems.
func (s *Store) FixityMark(ctx context.Context) (int64, error) {
	var m int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM blob_fixity`).Scan(&m)
	if err != nil {
		return 0, fmt.Errorf("read the fixity log: %w", err)
	}
	return m, nil
}

// FixityProblems lists the checks logged after mark that found a blob
// damaged or missing, of blobs still not stored, one per blob (its first),
// in the order of the log, and the new mark. A check run by another
// process (fieldsync verify beside a serve: a Reader) quarantines beside
// this one; this is how the process that syncs learns of it and fetches
// the blob again.
func (s *Store) FixityProblems(ctx context.Context, mark int64) ([]blob.FixityReport, int64, error) {
	end, err := s.FixityMark(ctx)
	if err != nil || end <= mark {
		return nil, mark, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT f.cid, f.checked_at, f.result, f.detail FROM blob_fixity f
		WHERE f.rowid > ? AND f.rowid <= ? AND f.result != ?
		AND NOT EXISTS (SELECT 1 FROM blob_blobs b WHERE b.cid = f.cid)
		ORDER BY f.rowid`, mark, end, string(blob.FixityOK))
	if err != nil {
		return nil, mark, fmt.Errorf("read the fixity log: %w", err)
	}
	defer rows.Close()
	var reps []blob.FixityReport
	seen := map[cid.Cid]bool{}
	for rows.Next() {
		var b []byte
		var at int64
		var res, detail string
		if err := rows.Scan(&b, &at, &res, &detail); err != nil {
			return nil, mark, fmt.Errorf("read the fixity log: %w", err)
		}
		if c, err := cid.Cast(b); err == nil && !seen[c] {
			seen[c] = true
			reps = append(reps, blob.FixityReport{CID: c, Path: s.Path(c), Result: blob.Fixity(res), Detail: detail, CheckedAt: time.Unix(0, at).UTC()})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, mark, fmt.Errorf("read the fixity log: %w", err)
	}
	return reps, end, nil
}
