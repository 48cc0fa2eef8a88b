// Package db opens the project's SQLite database (modernc.org/sqlite, pure
// Go) with the settings every package relies on: WAL journal, a busy
// timeout, foreign keys, immediate write transactions and
// synchronous=FULL, so that a commit is durable when it returns: a partial
// blob's have-bitmap marks a leaf only after its bytes are on disk, and the
// mark itself must survive a crash. Many small writes are batched into one
// transaction by their callers (blob batches, record batches), so FULL
// costs one fsync per batch, not per row.
//
// Each package owns its tables (blob_*, project_*, exchange_*) and creates
// them with Migrate.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"syscall"

	"modernc.org/sqlite" // registers the "sqlite" driver
)

// Open opens (creating if needed) the SQLite database at path.
func Open(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	d, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := d.PingContext(context.Background()); err != nil {
		d.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return d, nil
}

// Migrate runs each statement of schema in one transaction. Statements must
// be idempotent (CREATE TABLE IF NOT EXISTS ...).
func Migrate(ctx context.Context, d *sql.DB, schema ...string) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	for _, s := range schema {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return tx.Commit()
}

// sqliteFull is SQLite's primary result code SQLITE_FULL ("database or
// disk is full"): a write that needed a page the file system could not
// give (SQLite turns the OS's ENOSPC into it).
const sqliteFull = 13

// IsFull reports whether err is SQLite's SQLITE_FULL.
func IsFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqliteFull
}

// NoSpace returns err made to match syscall.ENOSPC under errors.Is when it
// is SQLite's SQLITE_FULL, so that callers test one condition for "the
// disk is full" whether a file write or the database met it; any other
// error (nil included) is returned as it is.
func NoSpace(err error) error {
	if err == nil || errors.Is(err, syscall.ENOSPC) || !IsFull(err) {
		return err
	}
	return &fullError{err}
}

type fullError struct{ err error }

func (e *fullError) Error() string        { return e.err.Error() }
func (e *fullError) Unwrap() error        { return e.err }
func (e *fullError) Is(target error) bool { return target == syscall.ENOSPC }
