package project

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Errors about a project as a whole.
var (
	ErrNoProject     = errors.New("project: database holds no project")
	ErrProjectExists = errors.New("project: database already holds a project")
	ErrNotFound      = errors.New("project: not found")
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS project_meta (k TEXT PRIMARY KEY, v BLOB NOT NULL)`,
	// Every stored record. ok is 1 when the record counts in the project
	// state, 0 when it is kept (so that its author's log stays continuous,
	// and as evidence) but its author had no right to it at its seq.
	`CREATE TABLE IF NOT EXISTS project_records (
		cid BLOB PRIMARY KEY,
		author BLOB NOT NULL,
		seq INTEGER NOT NULL,
		kind TEXT NOT NULL,
		time INTEGER NOT NULL,
		ok INTEGER NOT NULL,
		block BLOB NOT NULL,
		UNIQUE (author, seq)
	)`,
	`CREATE INDEX IF NOT EXISTS project_records_kind ON project_records (kind)`,
	// Observation versions, their links and their attachments.
	`CREATE TABLE IF NOT EXISTS project_versions (
		cid BLOB PRIMARY KEY,
		obs TEXT NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		ok INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS project_versions_obs ON project_versions (obs)`,
	`CREATE TABLE IF NOT EXISTS project_links (
		cid BLOB NOT NULL,
		replaces BLOB NOT NULL,
		obs TEXT NOT NULL,
		PRIMARY KEY (cid, replaces)
	)`,
	`CREATE INDEX IF NOT EXISTS project_links_obs ON project_links (obs)`,
	`CREATE TABLE IF NOT EXISTS project_attachments (
		version BLOB NOT NULL,
		idx INTEGER NOT NULL,
		variant TEXT NOT NULL,
		blob BLOB NOT NULL,
		kind TEXT NOT NULL,
		type TEXT NOT NULL,
		size INTEGER NOT NULL,
		PRIMARY KEY (version, idx, variant)
	)`,
	// Current state: one row per observation with its winning head.
	`CREATE TABLE IF NOT EXISTS project_observations (
		obs TEXT PRIMARY KEY,
		head BLOB NOT NULL,
		heads INTEGER NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL,
		deleted INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS project_observations_created ON project_observations (created DESC, obs)`,
	`CREATE INDEX IF NOT EXISTS project_attachments_blob ON project_attachments (blob)`,
	// Records that contradict a stored one (same author and seq).
	`CREATE TABLE IF NOT EXISTS project_evidence (
		cid BLOB PRIMARY KEY,
		author BLOB NOT NULL,
		seq INTEGER NOT NULL,
		kept BLOB NOT NULL,
		block BLOB NOT NULL,
		found INTEGER NOT NULL
	)`,
	// Membership records handed over by an invite before their author's
	// log has been synced.
	`CREATE TABLE IF NOT EXISTS project_pending (cid BLOB PRIMARY KEY, block BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS project_invites (
		id BLOB PRIMARY KEY,
		mac_key BLOB NOT NULL,
		role TEXT NOT NULL,
		created INTEGER NOT NULL,
		expires INTEGER NOT NULL,
		revoked INTEGER NOT NULL DEFAULT 0,
		used INTEGER NOT NULL DEFAULT 0,
		used_by BLOB,
		record BLOB
	)`,
	// Each device's name: its latest counted device record.
	`CREATE TABLE IF NOT EXISTS project_devices (
		peer BLOB PRIMARY KEY,
		name TEXT NOT NULL,
		seq INTEGER NOT NULL,
		cid BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS project_filters (
		peer BLOB PRIMARY KEY,
		filter TEXT NOT NULL,
		updated INTEGER NOT NULL
	)`,
	savedWantsSchema,
}

type logHead struct {
	seq uint64
	cid cid.Cid
}

// Project is one project as this device holds it, in a SQLite database
// (shared with the blob store). Its methods are safe for concurrent use;
// writes are serialised.
type Project struct {
	db      *sql.DB
	self    *Identity
	id      cid.Cid
	genesis *Record

	// mu serialises writers; they change vec, members and ro, and
	// publish a snapshot for readers after each change.
	mu      sync.Mutex
	vec     map[peer.ID]logHead
	members []memRec // every known membership record, logged or pending
	ro      *roster
	now     func() time.Time
	invites *InviteHandler

	// snap is what readers (RoleOf, Vector, Missing, ...) see: the state
	// as of the last commit. Readers never wait for a long Apply.
	snap atomic.Pointer[snapshot]
	gen  atomic.Uint64 // counts publishes; WantedBlobs caches by it

	wantMu    sync.Mutex
	wantCache map[string]wantCache

	mark [2]int64 // what Refresh last saw of the records (max rowid, pending count)
	// unreported: a write's own refresh picked up another process's
	// change, which the next Refresh reports.
	unreported atomic.Bool
}

type wantCache struct {
	gen    uint64
	wants  []Want
	mark   [2]int64 // the records' mark the list was read at, if marked
	marked bool
	saved  bool // the database holds it (savedwants.go)
}

type snapshot struct {
	vec map[peer.ID]logHead // never modified once published
	ro  *roster
}

// publish makes the writer's state visible to readers. p.mu is held.
func (p *Project) publish() {
	p.snap.Store(&snapshot{vec: maps.Clone(p.vec), ro: p.ro})
	p.gen.Add(1)
}

func (p *Project) state() *snapshot { return p.snap.Load() }

// Create starts a new project named name in the database d (opened with
// internal/db), with self as its creator.
func Create(ctx context.Context, d *sql.DB, self *Identity, name string) (*Project, error) {
	if err := db.Migrate(ctx, d, schema...); err != nil {
		return nil, err
	}
	if _, err := readProjectID(ctx, d); err == nil {
		return nil, ErrProjectExists
	} else if !errors.Is(err, ErrNoProject) {
		return nil, err
	}
	g, err := newRecord(self, cid.Undef, 1, cid.Undef, &Genesis{Name: name, Time: time.Now().UTC().Truncate(time.Millisecond)})
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	p, err := initProject(ctx, d, self, g, nil)
	if err != nil {
		return nil, err
	}
	// The project's first key epoch, for a blind archive (seal.go).
	if _, err := p.EnsureKeyring(ctx); err != nil {
		return nil, fmt.Errorf("create project: keyring: %w", err)
	}
	return p, nil
}

// initProject stores the genesis (and pending membership records) in an
// empty database and opens the project.
func initProject(ctx context.Context, d *sql.DB, self *Identity, g *Record, pending []*Record) (*Project, error) {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO project_meta (k, v) VALUES ('id', ?)`, g.CID.Bytes()); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO project_records (cid, author, seq, kind, time, ok, block) VALUES (?, ?, 1, ?, ?, 1, ?)`,
		g.CID.Bytes(), []byte(g.Author), string(KindGenesis), ms(g.Genesis.Time), g.Block); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	for _, r := range pending {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO project_pending (cid, block) VALUES (?, ?)`, r.CID.Bytes(), r.Block); err != nil {
			return nil, fmt.Errorf("create project: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("create project: %w", err)
	}
	return Open(ctx, d, self)
}

func readProjectID(ctx context.Context, d *sql.DB) (cid.Cid, error) {
	var b []byte
	err := d.QueryRowContext(ctx, `SELECT v FROM project_meta WHERE k = 'id'`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return cid.Undef, ErrNoProject
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("read project: %w", err)
	}
	return cid.Cast(b)
}

// Open opens the project held in d for the device self. A database with no
// project gives ErrNoProject.
func Open(ctx context.Context, d *sql.DB, self *Identity) (*Project, error) {
	if err := db.Migrate(ctx, d, schema...); err != nil {
		return nil, err
	}
	id, err := readProjectID(ctx, d)
	if err != nil {
		return nil, err
	}
	p := &Project{db: d, self: self, id: id, vec: make(map[peer.ID]logHead), now: time.Now}
	var gb []byte
	if err := d.QueryRowContext(ctx, `SELECT block FROM project_records WHERE cid = ?`, id.Bytes()).Scan(&gb); err != nil {
		return nil, fmt.Errorf("open project: genesis: %w", err)
	}
	if p.genesis, err = decodeRecord(gb, false); err != nil {
		return nil, fmt.Errorf("open project: genesis: %w", err)
	}
	// The mark before the state: a change in between is re-read by the
	// first Refresh, never missed.
	if p.mark, err = recordsMark(ctx, d); err != nil {
		return nil, fmt.Errorf("open project: %w", err)
	}
	if p.vec, p.members, err = loadState(ctx, d); err != nil {
		return nil, fmt.Errorf("open project: %w", err)
	}
	p.ro = buildRoster(p.genesis.Author, p.members)
	p.publish()
	return p, nil
}

// loadState reads the log heads and every membership record (logged or
// pending) from the database.
func loadState(ctx context.Context, d *sql.DB) (map[peer.ID]logHead, []memRec, error) {
	vec := make(map[peer.ID]logHead)
	// Each author's highest seq from the (author, seq) index alone, then
	// that record's CID: a seek per author, not one per record.
	rows, err := d.QueryContext(ctx, `SELECT r.author, r.seq, r.cid
		FROM (SELECT author, MAX(seq) AS seq FROM project_records GROUP BY author) m
		JOIN project_records r ON r.author = m.author AND r.seq = m.seq`)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var a, c []byte
		var h logHead
		if err := rows.Scan(&a, &h.seq, &c); err != nil {
			rows.Close()
			return nil, nil, err
		}
		h.cid, _ = cid.Cast(c)
		vec[peer.ID(a)] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	var members []memRec
	for _, q := range []string{
		`SELECT block FROM project_records WHERE kind = 'member'`,
		`SELECT block FROM project_pending`,
	} {
		blocks, err := queryBlocks(ctx, d, q)
		if err != nil {
			return nil, nil, err
		}
		for _, b := range blocks {
			r, err := decodeRecord(b, false)
			if err != nil {
				return nil, nil, fmt.Errorf("stored record: %w", err)
			}
			members = append(members, memRecOf(r))
		}
	}
	return vec, members, nil
}

// Refresh picks up what another process stored in the same database (a
// command run beside a serve: an edit, a block): it re-reads the log heads
// and the membership records when the records changed, and reports
// whether the project's state did since the last Refresh, a change this
// package's own writes picked up first included (they refresh before
// signing). It is cheap when nothing changed (one query).
func (p *Project) Refresh(ctx context.Context) (changed bool, err error) {
	changed, err = p.reload(ctx)
	if err != nil {
		return false, err
	}
	return p.unreported.Swap(false) || changed, nil
}

// refresh is Refresh for this package's writes: a change it picks up is
// left for Refresh to report.
func (p *Project) refresh(ctx context.Context) error {
	changed, err := p.reload(ctx)
	if changed {
		p.unreported.Store(true)
	}
	return err
}

// reload re-reads the state if another process changed the records.
func (p *Project) reload(ctx context.Context) (changed bool, err error) {
	mark, err := recordsMark(ctx, p.db)
	if err != nil {
		return false, fmt.Errorf("refresh: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if mark == p.mark {
		return false, nil
	}
	vec, members, err := loadState(ctx, p.db)
	if err != nil {
		return false, fmt.Errorf("refresh: %w", err)
	}
	p.mark = mark
	if maps.Equal(vec, p.vec) && len(members) == len(p.members) {
		return false, nil
	}
	p.vec, p.members = vec, members
	p.ro = buildRoster(p.genesis.Author, p.members)
	p.publish()
	return true, nil
}

func queryBlocks(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// ID returns the project ID: the CID of its genesis record.
func (p *Project) ID() cid.Cid { return p.id }

// Name returns the name given at creation.
func (p *Project) Name() string { return p.genesis.Genesis.Name }

// Creator returns the creator's peer ID.
func (p *Project) Creator() peer.ID { return p.genesis.Author }

// Genesis returns the genesis record.
func (p *Project) Genesis() *Record { return p.genesis }

// Self returns this device's identity.
func (p *Project) Self() *Identity { return p.self }

// DB returns the database the project lives in.
func (p *Project) DB() *sql.DB { return p.db }

// RoleOf returns the current role of device id (RoleNone if the project
// does not know it). The exchange serves project data only to devices for
// which RoleOf(id).CanWrite() holds.
func (p *Project) RoleOf(id peer.ID) Role {
	return p.state().ro.current(id)
}

// Member is a device the project knows, with its current role.
type Member struct {
	Peer  peer.ID
	Role  Role
	Since time.Time // time of the membership record that gave the role (genesis time for the creator)
	// Invite is the ID of the invite the device redeemed to join, and
	// InvitedBy the device that made it (empty for the creator, or a
	// device granted a role directly).
	Invite    []byte
	InvitedBy peer.ID
	Joined    time.Time // when that invite's grant was signed
}

// Members lists the creator and every device with a valid grant, creator
// first, then by peer ID.
func (p *Project) Members() []Member {
	ro := p.state().ro
	ms := []Member{{Peer: p.genesis.Author, Role: RoleCreator, Since: p.genesis.Genesis.Time}}
	var others []Member
	for id, gs := range ro.grants {
		var best *memRec
		for _, g := range gs {
			if best == nil || later(g, best) > 0 {
				best = g
			}
		}
		m := Member{Peer: id, Role: best.role, Since: fromMS(best.time)}
		for _, g := range gs {
			if len(g.invite) > 0 && (m.Invite == nil || g.time < m.Joined.UnixMilli()) {
				m.Invite, m.InvitedBy, m.Joined = g.invite, g.author, fromMS(g.time)
			}
		}
		others = append(others, m)
	}
	slices.SortFunc(others, func(a, b Member) int { return cmp.Compare(a.Peer, b.Peer) })
	return append(ms, others...)
}

// DeviceNames returns the name each device gave itself (its latest
// counted device record), by peer ID; a device that never named itself
// is absent.
func (p *Project) DeviceNames(ctx context.Context) (map[peer.ID]string, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT peer, name FROM project_devices`)
	if err != nil {
		return nil, fmt.Errorf("device names: %w", err)
	}
	defer rows.Close()
	out := map[peer.ID]string{}
	for rows.Next() {
		var id []byte
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("device names: %w", err)
		}
		out[peer.ID(id)] = name
	}
	return out, rows.Err()
}

// SetDeviceName signs this device's device record: the name the project's
// devices show for it. A name is 1 to 64 bytes of text without control
// characters.
func (p *Project) SetDeviceName(ctx context.Context, name string) (*Record, error) {
	if !validDeviceName(name) {
		return nil, fmt.Errorf("%w: a device name is 1 to %d bytes of text on one line", ErrMalformed, maxDeviceName)
	}
	d, err := p.Device(ctx, p.self.PeerID())
	if err != nil {
		return nil, err
	}
	return p.commit(ctx, &Device{Name: name, Time: p.nowMS(), Addrs: d.Addrs})
}

// SetDeviceAddrs signs this device's device record with the addresses it
// is reachable at from anywhere (an always-on device; at most 4; none:
// it is not), keeping its name (a device without one is named by its
// peer ID's start). It signs nothing when they are already those.
func (p *Project) SetDeviceAddrs(ctx context.Context, addrs []ma.Multiaddr) (*Record, error) {
	if len(addrs) > maxDeviceAddrs {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrMalformed, len(addrs), maxDeviceAddrs)
	}
	d, err := p.Device(ctx, p.self.PeerID())
	if err != nil {
		return nil, err
	}
	if slices.EqualFunc(d.Addrs, addrs, ma.Multiaddr.Equal) {
		return nil, nil
	}
	name := d.Name
	if name == "" {
		name = p.self.PeerID().String()[:12]
	}
	return p.commit(ctx, &Device{Name: name, Time: p.nowMS(), Addrs: addrs})
}

// Device returns what device id says of itself: its latest counted
// device record (an empty Device if it never signed one).
func (p *Project) Device(ctx context.Context, id peer.ID) (*Device, error) {
	var b []byte
	err := p.db.QueryRowContext(ctx, `SELECT r.block FROM project_devices d JOIN project_records r ON r.cid = d.cid WHERE d.peer = ?`, []byte(id)).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return &Device{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", id, err)
	}
	r, err := decodeRecord(b, false)
	if err != nil || r.Device == nil {
		return nil, fmt.Errorf("device %s: stored record: %v", id, err)
	}
	return r.Device, nil
}

// AlwaysOn returns the devices that gave addresses to reach them from
// anywhere (always-on devices: archives, relays), with those addresses,
// blocked devices left out.
func (p *Project) AlwaysOn(ctx context.Context) (map[peer.ID][]ma.Multiaddr, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT d.peer, r.block FROM project_devices d JOIN project_records r ON r.cid = d.cid`)
	if err != nil {
		return nil, fmt.Errorf("always-on devices: %w", err)
	}
	defer rows.Close()
	out := map[peer.ID][]ma.Multiaddr{}
	for rows.Next() {
		var id, b []byte
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		r, err := decodeRecord(b, false)
		if err != nil || r.Device == nil || len(r.Device.Addrs) == 0 || p.RoleOf(peer.ID(id)) == RoleBlocked {
			continue
		}
		out[peer.ID(id)] = r.Device.Addrs
	}
	return out, rows.Err()
}

// Vector returns this device's version vector. It is kept in memory, so
// this costs O(authors).
func (p *Project) Vector() VersionVector {
	vec := p.state().vec
	v := make(VersionVector, len(vec))
	for a, h := range vec {
		v[a] = h.seq
	}
	return v
}
