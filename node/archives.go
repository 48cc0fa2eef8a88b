package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// "Safe on the archive": while an always-on device of the project is
// connected, Sync is not complete until it holds every blob this device
// holds (in the classes it keeps), and Progress.Archives says what it
// still lacks. What each always-on device confirmed is kept here, so a
// sync with nothing new asks it nothing; Archives (below) answers from it
// without a network.

// ArchiveProgress is what one connected always-on device still lacks of
// the blobs this device holds.
type ArchiveProgress = exchange.ArchiveProgress

// ledgerSchema is the node's table of blobs the always-on devices
// confirmed they hold.
const ledgerSchema = `CREATE TABLE IF NOT EXISTS node_archive_has (
	peer BLOB NOT NULL,
	cid  BLOB NOT NULL,
	PRIMARY KEY (peer, cid)
) WITHOUT ROWID`

// ledger is the exchange's Ledger over the node's database.
type ledger struct{ n *Node }

func (l ledger) Confirmed(ctx context.Context, p peer.ID) ([]cid.Cid, error) {
	rows, err := l.n.db.QueryContext(ctx, `SELECT cid FROM node_archive_has WHERE peer = ?`, []byte(p))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []cid.Cid
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		if c, err := cid.Cast(b); err == nil {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

func (l ledger) Confirm(ctx context.Context, p peer.ID, cs []cid.Cid) error {
	tx, err := l.n.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO node_archive_has (peer, cid) VALUES (?, ?)`, []byte(p), c.Bytes()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Named lists every blob the project's records name, whatever this
// device's filter (exchange.Holdings): those it holds are the ones an
// always-on device should have.
func (w wants) Named(ctx context.Context) ([]exchange.Want, error) {
	return w.under(ctx, project.Archive)
}

// ArchiveSafety is, for one always-on device of the project, how many of
// the blobs this device holds it has confirmed holding, from what this
// device last learnt (no network).
type ArchiveSafety struct {
	Peer      peer.ID `json:"peer"`
	Name      string  `json:"name"`            // the name it gave itself, if known
	Held      int     `json:"files_held"`      // blobs this device holds
	Confirmed int     `json:"files_confirmed"` // of those, the ones the always-on device confirmed
	Bytes     int64   `json:"bytes_unconfirmed"`
	Blind     bool    `json:"blind,omitempty"` // a blind archive: it holds the sealed copies
}

// Archives says, for each always-on device of the project, how much of
// what this device holds it is known to hold: the answer to "may I wipe
// this phone?" without a network. Blobs an always-on device does not keep
// (its filter) are counted as not confirmed.
func (n *Node) Archives(ctx context.Context) ([]ArchiveSafety, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	on, err := p.AlwaysOn(ctx)
	if err != nil {
		return nil, err
	}
	// A blind archive is always on too, though it signs no address: it
	// confirms the sealed copies, so a blob is safe there when one of its
	// sealed copies (any epoch) is.
	sealedOf := map[cid.Cid][]cid.Cid{}
	if archives := p.Archives(); len(archives) > 0 {
		for _, id := range archives {
			if _, ok := on[id]; !ok {
				on[id] = nil
			}
		}
		es, err := p.Seals(ctx)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			sealedOf[e.Plain] = append(sealedOf[e.Plain], e.Sealed)
		}
	}
	if len(on) == 0 {
		return nil, nil
	}
	named, err := wants{p}.Named(ctx)
	if err != nil {
		return nil, err
	}
	has := n.Presence(ctx, true) // works beside a running serve too
	var held []exchange.Want
	for _, w := range named {
		if ok, _ := has(w.CID); ok {
			held = append(held, w)
		}
	}
	names := map[peer.ID]string{}
	if ms, err := n.Members(ctx); err == nil {
		for _, m := range ms {
			names[m.Peer] = m.Name
		}
	}
	var out []ArchiveSafety
	for id := range on {
		if id == n.ID() {
			continue
		}
		cs, err := ledger{n}.Confirmed(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("what %s holds: %w", id, err)
		}
		has := make(map[cid.Cid]bool, len(cs))
		for _, c := range cs {
			has[c] = true
		}
		blind := isArchivePeer(p, id)
		a := ArchiveSafety{Peer: id, Name: names[id], Held: len(held), Blind: blind}
		for _, w := range held {
			ok := has[w.CID]
			if blind {
				ok = slices.ContainsFunc(sealedOf[w.CID], func(c cid.Cid) bool { return has[c] })
			}
			if ok {
				a.Confirmed++
			} else {
				a.Bytes += w.Size
			}
		}
		out = append(out, a)
	}
	return out, nil
}
