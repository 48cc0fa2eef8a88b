package project

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Result is what Apply did with one block.
type Result struct {
	CID    cid.Cid // cid.Undef if the block did not parse
	Author peer.ID
	Seq    uint64
	// Stored is true when the record was added to its author's log by this
	// call. A record can be stored and still carry an error: ErrBlocked and
	// ErrNotAuthorized records are kept (the log must stay continuous, and
	// they are evidence) but do not count in the project state.
	Stored bool
	// Dup is true when the record was already held.
	Dup bool
	// Err is nil when the record is (now) held and counts, or one of
	// ErrMalformed, ErrBadSignature, ErrWrongProject, ErrGap,
	// ErrPrevMismatch, ErrNotMember, ErrBlocked, ErrNotAuthorized,
	// ErrEquivocation (test with errors.Is).
	Err error
}

// Apply checks and applies a batch of record blocks from a peer, in one
// transaction, and returns one Result per block, in the order given. The
// blocks may come in any order: they are applied in the order given, as
// they are decoded (signatures checked on every CPU while the database
// applies those before them), and records refused because a record later
// in the batch had not yet been applied (ErrGap, ErrNotMember) are retried
// in author and seq order until no more can be.
//
// Checks, per record: size and canonical dag-cbor form, signature by the
// author's key, project ID, seq continuity (ErrGap), prev CID
// (ErrPrevMismatch), a second record for a seq already held
// (ErrEquivocation: the record is kept as evidence, see Equivocations), the
// author's role at that seq (ErrNotMember: not stored; ErrBlocked, and
// ErrNotAuthorized for a membership change by a non-coordinator: stored
// but not counted).
//
// The error return is for failures of the database only; records are
// judged in the results.
func (p *Project) Apply(ctx context.Context, blocks [][]byte) ([]Result, error) {
	res := make([]Result, len(blocks))
	recs := make([]*Record, len(blocks))
	d := decodeAhead(blocks, recs, res)
	defer d.stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	return res, p.applyLocked(ctx, recs, res, d.ready)
}

// decodeChunk is how many blocks a decoding worker takes at a time.
const decodeChunk = 64

// decoding decodes a batch's blocks into their records, chunk by chunk,
// spread over the CPUs, while Apply applies the chunks already decoded:
// the signature checks (most of a batch's CPU) overlap the database's
// work and its commit instead of coming before them.
type decoding struct {
	done    []chan struct{} // closed when chunk k is decoded
	next    atomic.Int64    // the next chunk to take
	stopped atomic.Bool
	wg      sync.WaitGroup
}

// decodeAhead starts decoding blocks into recs (nil where a block does not
// decode) and res.
func decodeAhead(blocks [][]byte, recs []*Record, res []Result) *decoding {
	n := (len(blocks) + decodeChunk - 1) / decodeChunk
	d := &decoding{done: make([]chan struct{}, n)}
	for k := range d.done {
		d.done[k] = make(chan struct{})
	}
	for range min(runtime.GOMAXPROCS(0), n) {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for {
				k := int(d.next.Add(1)) - 1
				if k >= n {
					return
				}
				for i := k * decodeChunk; i < min((k+1)*decodeChunk, len(blocks)) && !d.stopped.Load(); i++ {
					r, err := DecodeRecord(blocks[i])
					if err != nil {
						res[i].Err = err
						continue
					}
					recs[i] = r
					res[i] = Result{CID: r.CID, Author: r.Author, Seq: r.Seq}
				}
				close(d.done[k])
			}
		}()
	}
	return d
}

// ready waits until block i is decoded.
func (d *decoding) ready(i int) { <-d.done[i/decodeChunk] }

// stop ends the decoding (early if the apply failed) and waits for the
// workers, so that nothing writes the results once Apply has returned.
func (d *decoding) stop() {
	d.stopped.Store(true)
	d.wg.Wait()
}

// applyLocked applies the non-nil records of recs, filling res, in the
// order given; those refused because a record later in the batch had not
// been applied yet (ErrGap, ErrNotMember) are then retried, in author and
// seq order, until no more can be. If ready is not nil, record i is read
// only once ready(i) has returned (Apply's decoding runs ahead of it), and
// the transaction begins at the first record. p.mu is held.
func (p *Project) applyLocked(ctx context.Context, recs []*Record, res []Result, ready func(int)) error {
	if ready == nil {
		ready = func(int) {}
	}
	first := 0
	for ; first < len(recs); first++ {
		ready(first)
		if recs[first] != nil {
			break
		}
	}
	if first == len(recs) {
		return nil
	}
	tx, err := p.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	defer tx.Rollback()
	defer p.publish()
	// The records' mark before and after, read in this transaction (no
	// other writer meanwhile): if Refresh had seen everything before it,
	// it has nothing to re-read for this process's own change either.
	before, err := recordsMark(ctx, tx)
	if err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	a := p.newApplier(ctx, tx)
	defer a.close()
	// applyAll applies the records of order and returns those to retry.
	applyAll := func(order []int) ([]int, error) {
		var retry []int
		for _, i := range order {
			ready(i)
			if recs[i] == nil {
				continue
			}
			stored, dup, err := a.apply(recs[i])
			if err != nil && !isRecordError(err) {
				a.rollback()
				return nil, fmt.Errorf("apply: %w", err)
			}
			res[i].Stored, res[i].Dup, res[i].Err = stored, dup, err
			if !stored && (errors.Is(err, ErrGap) || errors.Is(err, ErrNotMember)) {
				retry = append(retry, i)
			}
		}
		return retry, nil
	}
	order := make([]int, len(recs)-first)
	for i := range order {
		order[i] = first + i
	}
	for {
		retry, err := applyAll(order)
		if err != nil {
			return err
		}
		if len(retry) == 0 || len(retry) == len(order) {
			break
		}
		slices.SortStableFunc(retry, func(a, b int) int {
			if c := cmp.Compare(recs[a].Author, recs[b].Author); c != 0 {
				return c
			}
			return cmp.Compare(recs[a].Seq, recs[b].Seq)
		})
		order = retry
	}
	if err := a.finish(); err != nil {
		a.rollback()
		return fmt.Errorf("apply: %w", err)
	}
	after, err := recordsMark(ctx, tx)
	if err != nil {
		a.rollback()
		return fmt.Errorf("apply: %w", err)
	}
	if err := tx.Commit(); err != nil {
		a.rollback()
		return fmt.Errorf("apply: %w", err)
	}
	if before == p.mark {
		p.mark = after
	}
	return nil
}

func isRecordError(err error) bool {
	for _, e := range []error{ErrMalformed, ErrBadSignature, ErrWrongProject, ErrGap, ErrPrevMismatch,
		ErrNotMember, ErrBlocked, ErrNotAuthorized, ErrEquivocation} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// applier applies records inside one transaction and undoes its changes
// to the in-memory state if the transaction fails.
type applier struct {
	p        *Project
	ctx      context.Context
	tx       *sql.Tx
	oldVec   map[peer.ID]logHead
	oldMem   []memRec
	oldRo    *roster
	roChange bool
	dirty    map[string]bool
	// fresh holds, per observation, the only version this batch added if
	// it counts and nothing else touched the observation: if the
	// observation had no current state before, that version is its state
	// (no query needed). Nil entries mean "not simple".
	fresh map[string]*Record
	stmts map[string]*sql.Stmt
}

func (p *Project) newApplier(ctx context.Context, tx *sql.Tx) *applier {
	return &applier{p: p, ctx: ctx, tx: tx, oldVec: maps.Clone(p.vec), oldMem: slices.Clone(p.members),
		oldRo: p.ro, dirty: make(map[string]bool), fresh: make(map[string]*Record), stmts: make(map[string]*sql.Stmt)}
}

func (a *applier) rollback() {
	a.p.vec, a.p.members, a.p.ro = a.oldVec, a.oldMem, a.oldRo
}

func (a *applier) close() {
	for _, s := range a.stmts {
		s.Close()
	}
}

func (a *applier) stmt(q string) (*sql.Stmt, error) {
	s, ok := a.stmts[q]
	if !ok {
		var err error
		if s, err = a.tx.PrepareContext(a.ctx, q); err != nil {
			return nil, err
		}
		a.stmts[q] = s
	}
	return s, nil
}

func (a *applier) exec(q string, args ...any) error {
	s, err := a.stmt(q)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(a.ctx, args...)
	return err
}

// apply applies one record; a non-nil error that is not a record error is
// a database failure.
func (a *applier) apply(r *Record) (stored, dup bool, err error) {
	p := a.p
	if r.Kind == KindGenesis {
		if r.CID == p.id {
			return false, true, nil
		}
		return false, false, ErrWrongProject
	}
	if r.Project != p.id {
		return false, false, ErrWrongProject
	}
	h := p.vec[r.Author]
	if r.Seq <= h.seq {
		var have []byte
		if err := a.tx.QueryRowContext(a.ctx, `SELECT cid FROM project_records WHERE author = ? AND seq = ?`, []byte(r.Author), r.Seq).Scan(&have); err != nil {
			return false, false, err
		}
		if bytes.Equal(have, r.CID.Bytes()) {
			return false, true, nil
		}
		if err := a.exec(`INSERT OR IGNORE INTO project_evidence (cid, author, seq, kept, block, found) VALUES (?, ?, ?, ?, ?, ?)`,
			r.CID.Bytes(), []byte(r.Author), r.Seq, have, r.Block, ms(p.now())); err != nil {
			return false, false, err
		}
		return false, false, fmt.Errorf("%w: %s seq %d", ErrEquivocation, r.Author, r.Seq)
	}
	if r.Seq > h.seq+1 {
		return false, false, fmt.Errorf("%w: %s has seq %d, got %d", ErrGap, r.Author, h.seq, r.Seq)
	}
	if r.Prev != h.cid {
		return false, false, ErrPrevMismatch
	}
	if !p.ro.everMember(r.Author) {
		return false, false, ErrNotMember
	}
	role := p.ro.roleAt(r.Author, r.Seq)
	ok := role.CanWrite()
	switch r.Kind {
	case KindMembership:
		ok = role.CanManage() && r.Membership.Subject != p.genesis.Author
	case KindCategory, KindKeys:
		ok = role.CanManage()
	}
	if err := a.exec(`INSERT INTO project_records (cid, author, seq, kind, time, ok, block) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.CID.Bytes(), []byte(r.Author), r.Seq, string(r.Kind), ms(r.Time()), ok, r.Block); err != nil {
		return false, false, err
	}
	p.vec[r.Author] = logHead{seq: r.Seq, cid: r.CID}
	switch r.Kind {
	case KindMembership:
		if err := a.exec(`DELETE FROM project_pending WHERE cid = ?`, r.CID.Bytes()); err != nil {
			return false, false, err
		}
		if !slices.ContainsFunc(p.members, func(m memRec) bool { return m.cid == r.CID }) {
			p.members = append(p.members, memRecOf(r))
			p.ro = buildRoster(p.genesis.Author, p.members)
			a.roChange = true
		}
		if valid := p.ro.valid[r.CID]; valid != ok {
			ok = valid
			if err := a.exec(`UPDATE project_records SET ok = ? WHERE cid = ?`, ok, r.CID.Bytes()); err != nil {
				return false, false, err
			}
		}
	case KindObservation:
		if err := a.addVersion(r, ok); err != nil {
			return false, false, err
		}
	case KindSeal:
		if ok {
			if err := a.addSeal(r); err != nil {
				return false, false, err
			}
		}
	case KindKeys:
		if ok {
			if err := a.takeKeys(r); err != nil {
				return false, false, err
			}
		}
	case KindDevice:
		if ok {
			// The latest in the device's own log counts.
			if err := a.exec(`INSERT INTO project_devices (peer, name, seq, cid) VALUES (?, ?, ?, ?)
				ON CONFLICT (peer) DO UPDATE SET name = excluded.name, seq = excluded.seq, cid = excluded.cid
				WHERE excluded.seq > project_devices.seq`,
				[]byte(r.Author), r.Device.Name, r.Seq, r.CID.Bytes()); err != nil {
				return false, false, err
			}
		}
	}
	if ok {
		return true, false, nil
	}
	switch {
	case role == RoleBlocked:
		return true, false, ErrBlocked
	case (r.Kind == KindMembership || r.Kind == KindCategory || r.Kind == KindKeys) && role != RoleNone:
		return true, false, ErrNotAuthorized
	}
	return true, false, ErrNotMember
}

func (a *applier) addVersion(r *Record, ok bool) error {
	o := r.Observation
	c := r.CID.Bytes()
	if err := a.exec(`INSERT INTO project_versions (cid, obs, created, updated, deleted, ok) VALUES (?, ?, ?, ?, ?, ?)`,
		c, o.ID, ms(o.Created), ms(o.Updated), o.Deleted, ok); err != nil {
		return err
	}
	for _, l := range o.Links {
		if err := a.exec(`INSERT OR IGNORE INTO project_links (cid, replaces, obs) VALUES (?, ?, ?)`, c, l.Bytes(), o.ID); err != nil {
			return err
		}
	}
	for i, at := range o.Attachments {
		for _, v := range at.Variants() {
			if err := a.exec(`INSERT OR IGNORE INTO project_attachments (version, idx, variant, blob, kind, type, size) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				c, i, string(v.Name), v.CID.Bytes(), string(at.Kind), at.MediaTypeOf(v.Name), v.Size); err != nil {
				return err
			}
		}
	}
	if _, seen := a.fresh[o.ID]; seen || !ok || a.dirty[o.ID] {
		a.fresh[o.ID] = nil
	} else {
		a.fresh[o.ID] = r
	}
	a.dirty[o.ID] = true
	return nil
}

// finish re-judges stored records if the roster changed (a block can
// refuse records applied before it arrived, an unblock can restore them)
// and recomputes the heads of the observations touched.
func (a *applier) finish() error {
	if a.roChange {
		if err := a.restatus(); err != nil {
			return err
		}
	}
	ids := slices.Sorted(maps.Keys(a.dirty))
	for _, id := range ids {
		if r := a.fresh[id]; r != nil {
			// The only counted version added; if the observation had no
			// state, it is the single head.
			o := r.Observation
			s, err := a.stmt(`INSERT INTO project_observations (obs, head, heads, created, updated, deleted)
				VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (obs) DO NOTHING`)
			if err != nil {
				return err
			}
			res, err := s.ExecContext(a.ctx, id, r.CID.Bytes(), ms(o.Created), ms(o.Updated), o.Deleted)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				continue
			}
		}
		if err := a.refreshObservation(id); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) restatus() error {
	p := a.p
	rows, err := a.tx.QueryContext(a.ctx, `SELECT r.cid, r.author, r.seq, r.kind, r.ok, v.obs FROM project_records r
		LEFT JOIN project_versions v ON v.cid = r.cid WHERE r.kind != 'genesis'`)
	if err != nil {
		return err
	}
	type change struct {
		cid []byte
		ok  bool
		obs sql.NullString
	}
	var changes []change
	for rows.Next() {
		var c, author []byte
		var seq uint64
		var kind string
		var ok bool
		var obs sql.NullString
		if err := rows.Scan(&c, &author, &seq, &kind, &ok, &obs); err != nil {
			rows.Close()
			return err
		}
		var want bool
		switch kind {
		case string(KindMembership):
			cc, _ := cid.Cast(c)
			want = p.ro.valid[cc]
		case string(KindCategory):
			want = p.ro.roleAt(peer.ID(author), seq).CanManage()
		default:
			want = p.ro.roleAt(peer.ID(author), seq).CanWrite()
		}
		if want != ok {
			changes = append(changes, change{c, want, obs})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ch := range changes {
		if err := a.exec(`UPDATE project_records SET ok = ? WHERE cid = ?`, ch.ok, ch.cid); err != nil {
			return err
		}
		if ch.obs.Valid {
			if err := a.exec(`UPDATE project_versions SET ok = ? WHERE cid = ?`, ch.ok, ch.cid); err != nil {
				return err
			}
			a.dirty[ch.obs.String] = true
			a.fresh[ch.obs.String] = nil
		}
	}
	return nil
}

// refreshObservation recomputes the current state of observation id: its
// heads are the counted versions that no counted version of the same
// observation links; the winner is the head with the latest Updated time,
// then the greatest CID bytes.
func (a *applier) refreshObservation(id string) error {
	q, err := a.stmt(`SELECT v.cid, v.created, v.updated, v.deleted FROM project_versions v
		WHERE v.obs = ?1 AND v.ok = 1 AND NOT EXISTS (
			SELECT 1 FROM project_links l JOIN project_versions w ON w.cid = l.cid
			WHERE l.replaces = v.cid AND l.obs = ?1 AND w.obs = ?1 AND w.ok = 1)`)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(a.ctx, id)
	if err != nil {
		return err
	}
	var best struct {
		cid              []byte
		created, updated int64
		deleted          bool
	}
	heads := 0
	for rows.Next() {
		var c []byte
		var created, updated int64
		var deleted bool
		if err := rows.Scan(&c, &created, &updated, &deleted); err != nil {
			rows.Close()
			return err
		}
		heads++
		if heads == 1 || updated > best.updated || (updated == best.updated && bytes.Compare(c, best.cid) > 0) {
			best.cid, best.created, best.updated, best.deleted = c, created, updated, deleted
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if heads == 0 {
		return a.exec(`DELETE FROM project_observations WHERE obs = ?`, id)
	}
	return a.exec(`INSERT INTO project_observations (obs, head, heads, created, updated, deleted) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (obs) DO UPDATE SET head = excluded.head, heads = excluded.heads, created = excluded.created,
		updated = excluded.updated, deleted = excluded.deleted`, id, best.cid, heads, best.created, best.updated, best.deleted)
}
