package project

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RawRecord is a stored record as it is sent to a peer.
type RawRecord struct {
	CID    cid.Cid
	Author peer.ID
	Seq    uint64
	Block  []byte
}

// Missing returns the records this device holds that a peer with vector
// theirs lacks: for each author, the records after theirs[author]. They
// are merged across logs by the time each record claims (keeping each log
// in seq order), so that a membership grant usually comes before the
// records it allows and any prefix of the result can be applied on its
// own; a category record counts as older than any other, so the
// categories come before the observations that use them. limit > 0 returns at most limit records: after the peer applies
// them its vector moves on, and the next call returns the next ones.
//
// When theirs covers this device's vector, Missing costs O(authors) and
// touches no database.
func (p *Project) Missing(ctx context.Context, theirs VersionVector, limit int) ([]RawRecord, error) {
	st := p.state()
	ahead := make(map[peer.ID]uint64)
	for a, h := range st.vec {
		if t := theirs[a]; h.seq > t {
			ahead[a] = t + 1
		}
	}
	ro := st.ro
	if len(ahead) == 0 {
		return nil, nil
	}
	type entry struct {
		RawRecord
		time int64
	}
	authors := make([]peer.ID, 0, len(ahead))
	for a := range ahead {
		authors = append(authors, a)
	}
	slices.Sort(authors)
	logs := make([][]entry, len(authors))
	for i, a := range authors {
		q := `SELECT cid, seq, CASE kind WHEN 'category' THEN -1 ELSE time END, block FROM project_records WHERE author = ? AND seq >= ? ORDER BY seq`
		args := []any{[]byte(a), ahead[a]}
		if limit > 0 {
			q += ` LIMIT ?`
			args = append(args, limit)
		}
		rows, err := p.db.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, fmt.Errorf("missing records: %w", err)
		}
		for rows.Next() {
			var e entry
			var c []byte
			if err := rows.Scan(&c, &e.Seq, &e.time, &e.Block); err != nil {
				rows.Close()
				return nil, fmt.Errorf("missing records: %w", err)
			}
			e.CID, _ = cid.Cast(c)
			e.Author = a
			logs[i] = append(logs[i], e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("missing records: %w", err)
		}
	}
	// Merge the logs by time, ties to the lower author, holding back a
	// log until one of its author's grants has been sent (or the peer has
	// it), so that a page never starts a log whose grant comes later.
	emitted := make(map[cid.Cid]bool)
	granted := func(a peer.ID) bool {
		if a == ro.creator {
			return true
		}
		for _, g := range ro.grants[a] {
			if emitted[g.cid] || theirs[g.author] >= g.seq {
				return true
			}
		}
		return false
	}
	var out []RawRecord
	pos := make([]int, len(logs))
	for limit <= 0 || len(out) < limit {
		best, fallback := -1, -1
		for i, l := range logs {
			if pos[i] >= len(l) {
				continue
			}
			if fallback < 0 || l[pos[i]].time < logs[fallback][pos[fallback]].time {
				fallback = i
			}
			if (best < 0 || l[pos[i]].time < logs[best][pos[best]].time) && granted(authors[i]) {
				best = i
			}
		}
		if best < 0 {
			best = fallback // no grant known for any remaining log: send anyway
		}
		if best < 0 {
			break
		}
		e := logs[best][pos[best]]
		out = append(out, e.RawRecord)
		emitted[e.CID] = true
		pos[best]++
	}
	return out, nil
}

// Equivocation is evidence that a device signed two different records with
// the same seq.
type Equivocation struct {
	Author peer.ID
	Seq    uint64
	Kept   cid.Cid // the record in this device's copy of the log
	Other  cid.Cid // the contradicting record
	Block  []byte  // the contradicting record's block
	Found  time.Time
}

// Equivocations lists the evidence found so far, by author and seq.
func (p *Project) Equivocations(ctx context.Context) ([]Equivocation, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT author, seq, kept, cid, block, found FROM project_evidence ORDER BY author, seq, cid`)
	if err != nil {
		return nil, fmt.Errorf("list equivocations: %w", err)
	}
	defer rows.Close()
	var out []Equivocation
	for rows.Next() {
		var e Equivocation
		var a, k, c []byte
		var found int64
		if err := rows.Scan(&a, &e.Seq, &k, &c, &e.Block, &found); err != nil {
			return nil, fmt.Errorf("list equivocations: %w", err)
		}
		e.Author = peer.ID(a)
		e.Kept, _ = cid.Cast(k)
		e.Other, _ = cid.Cast(c)
		e.Found = fromMS(found)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Record returns the stored record c (signature not re-verified).
func (p *Project) Record(ctx context.Context, c cid.Cid) (*Record, error) {
	var b []byte
	if err := p.db.QueryRowContext(ctx, `SELECT block FROM project_records WHERE cid = ?`, c.Bytes()).Scan(&b); err != nil {
		return nil, fmt.Errorf("record %v: %w", c, notFound(err))
	}
	return decodeRecord(b, false)
}
