package blind

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS blind_meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)`,
	// Every envelope held, by its record's place in its author's log.
	`CREATE TABLE IF NOT EXISTS blind_envelopes (
		author BLOB NOT NULL,
		seq INTEGER NOT NULL,
		env BLOB NOT NULL,
		PRIMARY KEY (author, seq)
	) WITHOUT ROWID`,
	// The clear membership records, verified: the roster.
	`CREATE TABLE IF NOT EXISTS blind_members (cid BLOB PRIMARY KEY, block BLOB NOT NULL)`,
	// The sealed blobs the envelopes make wanted.
	`CREATE TABLE IF NOT EXISTS blind_wants (
		cid BLOB PRIMARY KEY,
		class INTEGER NOT NULL,
		size INTEGER NOT NULL,
		at INTEGER NOT NULL
	) WITHOUT ROWID`,
}

// Errors.
var (
	ErrNotArchive = errors.New("blind: this database holds no blind archive")
	ErrExists     = errors.New("blind: this database already holds a project")
	// ErrBlind is what every command that would read the project gets on
	// an archive.
	ErrBlind = errors.New("this device keeps the project sealed for its members: it cannot read it")
)

// Archive is a blind archive's state in its database. Its methods are safe
// for concurrent use.
type Archive struct {
	db      *sql.DB
	self    peer.ID
	project cid.Cid
	creator peer.ID

	mu   sync.Mutex // serialises Apply
	mems []*project.Record
	ro   atomic.Pointer[project.Roster]
}

// IsArchive reports whether d holds a blind archive.
func IsArchive(ctx context.Context, d *sql.DB) bool {
	var n int
	err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'blind_meta'`).Scan(&n)
	if err != nil || n == 0 {
		return false
	}
	err = d.QueryRowContext(ctx, `SELECT COUNT(*) FROM blind_meta WHERE k = 'project'`).Scan(&n)
	return err == nil && n > 0
}

// Create makes d (empty) the blind archive of the project a welcome
// (redeemed with an archive invite) describes, for device self. The
// membership records are verified; they must grant self the archive role.
func Create(ctx context.Context, d *sql.DB, self peer.ID, w *project.Welcome) (*Archive, error) {
	if len(w.Genesis) > 0 || !w.Project.Defined() || w.Creator == "" {
		return nil, fmt.Errorf("blind: not an archive's welcome")
	}
	recs, err := project.VerifyMembership(w.Project, w.Members)
	if err != nil {
		return nil, fmt.Errorf("blind: welcome: %w", err)
	}
	if project.NewRoster(w.Creator, recs).Role(self) != project.RoleArchive {
		return nil, fmt.Errorf("blind: the welcome does not make this device the project's archive")
	}
	if err := db.Migrate(ctx, d, schema...); err != nil {
		return nil, err
	}
	if IsArchive(ctx, d) {
		a, err := Open(ctx, d, self)
		if err != nil {
			return nil, err
		}
		if a.project != w.Project {
			return nil, ErrExists
		}
		return a, a.addMembers(ctx, recs)
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for k, v := range map[string][]byte{"project": w.Project.Bytes(), "creator": []byte(w.Creator)} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blind_meta (k, v) VALUES (?, ?)`, k, v); err != nil {
			return nil, err
		}
	}
	for _, r := range recs {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO blind_members (cid, block) VALUES (?, ?)`, r.CID.Bytes(), r.Block); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return Open(ctx, d, self)
}

// Open opens the blind archive held in d.
func Open(ctx context.Context, d *sql.DB, self peer.ID) (*Archive, error) {
	if !IsArchive(ctx, d) {
		return nil, ErrNotArchive
	}
	if err := db.Migrate(ctx, d, schema...); err != nil {
		return nil, err
	}
	a := &Archive{db: d, self: self}
	var pb, cb []byte
	if err := d.QueryRowContext(ctx, `SELECT v FROM blind_meta WHERE k = 'project'`).Scan(&pb); err != nil {
		return nil, err
	}
	if err := d.QueryRowContext(ctx, `SELECT v FROM blind_meta WHERE k = 'creator'`).Scan(&cb); err != nil {
		return nil, err
	}
	var err error
	if a.project, err = cid.Cast(pb); err != nil {
		return nil, err
	}
	a.creator = peer.ID(cb)
	rows, err := d.QueryContext(ctx, `SELECT block FROM blind_members`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		r, err := project.DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("blind: stored membership record: %w", err)
		}
		a.mems = append(a.mems, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	a.ro.Store(project.NewRoster(a.creator, a.mems))
	return a, nil
}

// Project is the ID of the project kept (the CID of a genesis this device
// never holds).
func (a *Archive) Project() cid.Cid { return a.project }

// Creator is the project's creator.
func (a *Archive) Creator() peer.ID { return a.creator }

func (a *Archive) addMembers(ctx context.Context, recs []*project.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addMembersLocked(ctx, a.db, recs)
}

type execer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

func (a *Archive) addMembersLocked(ctx context.Context, x execer, recs []*project.Record) error {
	changed := false
	for _, r := range recs {
		if slices.ContainsFunc(a.mems, func(m *project.Record) bool { return m.CID == r.CID }) {
			continue
		}
		if _, err := x.ExecContext(ctx, `INSERT OR IGNORE INTO blind_members (cid, block) VALUES (?, ?)`, r.CID.Bytes(), r.Block); err != nil {
			return err
		}
		a.mems = append(a.mems, r)
		changed = true
	}
	if changed {
		a.ro.Store(project.NewRoster(a.creator, a.mems))
	}
	return nil
}

// Roster is the membership as the clear membership records say.
func (a *Archive) Roster() *project.Roster { return a.ro.Load() }

// Role is the exchange's Access: the role of p by the verified membership
// records (exchange.RoleArchive for another archive).
func (a *Archive) Role(p peer.ID) exchange.Role {
	switch a.ro.Load().Role(p) {
	case project.RoleCreator:
		return exchange.RoleCreator
	case project.RoleCoordinator:
		return exchange.RoleCoordinator
	case project.RoleMember:
		return exchange.RoleMember
	case project.RoleBlocked:
		return exchange.RoleBlocked
	case project.RoleArchive:
		return exchange.RoleArchive
	}
	return exchange.RoleNone
}

// Members lists the devices that may sync (exchange.MemberLister).
func (a *Archive) Members() []peer.ID {
	var out []peer.ID
	for _, m := range a.ro.Load().Members() {
		if m.Role.CanWrite() && m.Peer != a.self {
			out = append(out, m.Peer)
		}
	}
	return out
}

// Vector returns the highest seq held of each author's log.
func (a *Archive) Vector(ctx context.Context) (map[peer.ID]uint64, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT author, MAX(seq) FROM blind_envelopes GROUP BY author`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	v := map[peer.ID]uint64{}
	for rows.Next() {
		var au []byte
		var s uint64
		if err := rows.Scan(&au, &s); err != nil {
			return nil, err
		}
		v[peer.ID(au)] = s
	}
	return v, rows.Err()
}

// maxBatchBytes caps what Missing returns at once (under the exchange's
// 8 MiB batch).
const maxBatchBytes = 7 << 20

// Missing returns the envelopes a device with vector theirs lacks, each
// author's in seq order.
func (a *Archive) Missing(ctx context.Context, theirs map[peer.ID]uint64, limit int) ([][]byte, error) {
	mine, err := a.Vector(ctx)
	if err != nil {
		return nil, err
	}
	authors := make([]peer.ID, 0, len(mine))
	for au := range mine {
		authors = append(authors, au)
	}
	slices.Sort(authors)
	var out [][]byte
	total := 0
	for _, au := range authors {
		if mine[au] <= theirs[au] {
			continue
		}
		rows, err := a.db.QueryContext(ctx, `SELECT env FROM blind_envelopes WHERE author = ? AND seq > ? ORDER BY seq LIMIT ?`, []byte(au), theirs[au], limit-len(out))
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				rows.Close()
				return nil, err
			}
			if total += len(b) + 8; total > maxBatchBytes && len(out) > 0 {
				rows.Close()
				return out, nil
			}
			out = append(out, b)
		}
		rows.Close()
		if len(out) >= limit {
			break
		}
	}
	return out, nil
}

// Apply stores the envelopes received from from. A clear one must be a
// membership or keys record of this project, signed by its author at its
// place;
// a sealed one can only be checked for its place: its author must be
// known to the roster, its seq the next of that author's log here. An
// envelope that fails is skipped.
func (a *Archive) Apply(ctx context.Context, from peer.ID, blocks [][]byte) (int, error) {
	if !a.ro.Load().Role(from).CanWrite() {
		return 0, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	vec, err := a.Vector(ctx)
	if err != nil {
		return 0, err
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	applied := 0
	var mems []*project.Record
	for _, b := range blocks {
		e, err := Unmarshal(b)
		if err != nil {
			continue
		}
		if e.Seq != vec[e.Author]+1 {
			continue // held already, or a gap: asked again next pull
		}
		ro := a.ro.Load()
		if len(mems) > 0 {
			ro = project.NewRoster(a.creator, append(slices.Clone(a.mems), mems...))
		}
		if ro.Role(e.Author) == project.RoleNone {
			continue
		}
		if len(e.Clear) > 0 {
			// Verified: signed by its author, of this project, at its
			// place, of a kind that travels in clear.
			r, err := project.DecodeRecord(e.Clear)
			if err != nil || r.Project != a.project || r.Author != e.Author || r.Seq != e.Seq || !Clear(r.Kind) {
				continue
			}
			if r.Kind == project.KindMembership {
				mems = append(mems, r)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blind_envelopes (author, seq, env) VALUES (?, ?, ?)`, []byte(e.Author), e.Seq, b); err != nil {
			return 0, err
		}
		for _, w := range e.Blobs {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO blind_wants (cid, class, size, at) VALUES (?, ?, ?, ?)`,
				w.CID.Bytes(), int(w.Class), w.Size, w.ObservedAt.UnixMilli()); err != nil {
				return 0, err
			}
		}
		vec[e.Author] = e.Seq
		applied++
	}
	if err := a.addMembersLocked(ctx, tx, mems); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, db.NoSpace(err)
	}
	return applied, nil
}

// Wanted lists the sealed blobs the envelopes name (exchange.Wants).
func (a *Archive) Wanted(ctx context.Context) ([]exchange.Want, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT cid, class, size, at FROM blind_wants`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []exchange.Want
	for rows.Next() {
		var cb []byte
		var w exchange.Want
		var at int64
		if err := rows.Scan(&cb, &w.Class, &w.Size, &at); err != nil {
			return nil, err
		}
		c, err := cid.Cast(cb)
		if err != nil {
			continue
		}
		w.CID, w.ObservedAt = c, time.UnixMilli(at).UTC()
		out = append(out, w)
	}
	return out, rows.Err()
}

// Stats is what an archive holds.
type Stats struct {
	Envelopes   int              `json:"envelopes"`
	Sealed      int              `json:"sealed_records"`
	Clear       int              `json:"membership_records"`
	Blobs       int              `json:"sealed_blobs_wanted"`
	BlobsHeld   int              `json:"sealed_blobs_held"`
	Bytes       int64            `json:"bytes_held"`
	BytesWanted int64            `json:"bytes_wanted"`
	Members     []project.Member `json:"-"`
	ByClass     map[string]int   `json:"by_class"`
}

// Stats counts what the archive holds; stat says whether the store holds a
// blob complete.
func (a *Archive) Stats(ctx context.Context, stat func(cid.Cid) bool) (*Stats, error) {
	s := &Stats{ByClass: map[string]int{}}
	rows, err := a.db.QueryContext(ctx, `SELECT env FROM blind_envelopes`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, err
		}
		s.Envelopes++
		// The clear/sealed split without decoding every envelope in full.
		if e, err := Unmarshal(b); err == nil && len(e.Clear) > 0 {
			s.Clear++
		} else {
			s.Sealed++
		}
	}
	rows.Close()
	ws, err := a.Wanted(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		s.Blobs++
		s.BytesWanted += w.Size
		if stat(w.CID) {
			s.BlobsHeld++
			s.Bytes += w.Size
			s.ByClass[w.Class.String()]++
		}
	}
	s.Members = a.ro.Load().Members()
	slices.SortFunc(s.Members, func(x, y project.Member) int { return bytes.Compare([]byte(x.Peer), []byte(y.Peer)) })
	return s, nil
}

var _ blob.Class
