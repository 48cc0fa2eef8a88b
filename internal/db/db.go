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
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
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
