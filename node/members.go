package node

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The node's own tables: what this device alone knows (when it last saw
// each peer, the name it will give itself in a project it has not joined
// yet). They sit in the data directory's database beside the project's.
var nodeSchema = []string{
	`CREATE TABLE IF NOT EXISTS node_peers (peer BLOB PRIMARY KEY, last_seen INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS node_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
	badPeersSchema,
	ledgerSchema,
}

func migrate(ctx context.Context, d *sql.DB) error { return db.Migrate(ctx, d, nodeSchema...) }

// Member is one device of the project, as this device knows it.
type Member struct {
	Peer peer.ID
	Name string // the name it gave itself; "" if none reached this device
	Role project.Role
	// Since is when its current role was given (the genesis time for the
	// creator).
	Since time.Time
	// LastSeen is when this device last had a session with it (zero:
	// never; now for this device itself).
	LastSeen time.Time
	// Invite names the invite it redeemed to join (the first 8 hex digits
	// of the invite ID), InvitedBy the device that made it, Joined when.
	// Empty for the creator and for devices given a role directly.
	Invite    string
	InvitedBy peer.ID
	Joined    time.Time
	Self      bool // this device
}

// JSON returns the member's JSON document (view.Member).
func (m Member) JSON() view.Member {
	j := view.Member{Peer: m.Peer.String(), Name: m.Name, Role: string(m.Role), Since: m.Since.UTC(), Invite: m.Invite, Self: m.Self}
	if !m.LastSeen.IsZero() {
		t := m.LastSeen.UTC()
		j.LastSeen = &t
	}
	if m.InvitedBy != "" {
		j.InvitedBy = m.InvitedBy.String()
	}
	return j
}

// MarshalJSON writes the member as view.Member.
func (m Member) MarshalJSON() ([]byte, error) { return json.Marshal(m.JSON()) }

// Label is the member's name, else a short form of its peer ID.
func (m Member) Label() string {
	if m.Name != "" {
		return m.Name
	}
	return ShortID(m.Peer)
}

// ShortID is a peer ID cut for display: its first 8 and last 6 characters.
func ShortID(id peer.ID) string {
	s := id.String()
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-6:]
	}
	return s
}

// Members lists the project's devices with their names and roles, the
// creator first, then by peer ID. Blocked devices are listed, as blocked.
func (n *Node) Members(ctx context.Context) ([]Member, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	names, err := p.DeviceNames(ctx)
	if err != nil {
		return nil, err
	}
	seen, err := n.lastSeen(ctx)
	if err != nil {
		return nil, err
	}
	var out []Member
	for _, pm := range p.Members() {
		m := Member{Peer: pm.Peer, Name: names[pm.Peer], Role: pm.Role, Since: pm.Since, LastSeen: seen[pm.Peer],
			InvitedBy: pm.InvitedBy, Joined: pm.Joined, Self: pm.Peer == n.ID()}
		if len(pm.Invite) > 0 {
			m.Invite = hex.EncodeToString(pm.Invite[:min(4, len(pm.Invite))])
		}
		if m.Self {
			m.LastSeen = time.Now()
		}
		out = append(out, m)
	}
	return out, nil
}

// Member returns one device of the project (ErrNotFound if the project
// does not know it).
func (n *Node) Member(ctx context.Context, id peer.ID) (Member, error) {
	ms, err := n.Members(ctx)
	if err != nil {
		return Member{}, err
	}
	for _, m := range ms {
		if m.Peer == id {
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("device %s: %w", id, ErrNotFound)
}

// PeerName is a device's name as this device knows it, else a short form
// of its peer ID: for logs and displays.
func (n *Node) PeerName(ctx context.Context, id peer.ID) string {
	if p, err := n.project(); err == nil {
		if names, err := p.DeviceNames(ctx); err == nil && names[id] != "" {
			return names[id]
		}
	}
	return ShortID(id)
}

// RoleOf is a device's role in the project (RoleNone for a stranger).
func (n *Node) RoleOf(id peer.ID) project.Role {
	p, err := n.project()
	if err != nil {
		return project.RoleNone
	}
	return p.RoleOf(id)
}

// SetRole signs a membership record giving device id the role (member,
// coordinator or blocked). Only the creator and coordinators may
// (ErrNotAuthorized otherwise); the creator's role cannot change. A running
// network applies it at once: a device blocked here is disconnected and
// gets nothing more from this device, and the record travels to the other
// members first, before any blob.
func (n *Node) SetRole(ctx context.Context, id peer.ID, role project.Role) error {
	p, err := n.project()
	if err != nil {
		return err
	}
	if mine := p.RoleOf(n.ID()); !mine.CanManage() {
		return fmt.Errorf("%w: this device is %s; only the creator and coordinators change roles", ErrNotAuthorized, roleWord(mine))
	}
	if id == n.ID() {
		return fmt.Errorf("%w: a device cannot change its own role", ErrNotAuthorized)
	}
	if id == p.Creator() {
		return fmt.Errorf("%w: the creator's role cannot change", ErrNotAuthorized)
	}
	if _, err := p.SetRole(ctx, id, role); err != nil {
		if errors.Is(err, project.ErrNotAuthorized) {
			return fmt.Errorf("%w: %v", ErrNotAuthorized, err)
		}
		return err
	}
	if role == project.RoleBlocked && len(p.Archives()) > 0 {
		// A new key epoch: what is sealed from now on, the blocked
		// device cannot open (docs/sealing.md). Without a blind
		// archive nothing is sealed: the epoch starts when one is
		// invited (Invite) or sealed for (SealForArchives).
		if _, err := p.RotateIfBlocked(ctx); err != nil {
			return fmt.Errorf("blocked, but starting a new key epoch failed: %w", err)
		}
	}
	n.checkRoles()
	n.notify()
	return nil
}

// Block blocks device id: SetRole(id, RoleBlocked).
func (n *Node) Block(ctx context.Context, id peer.ID) error {
	return n.SetRole(ctx, id, project.RoleBlocked)
}

// Name is the name this device gives itself ("" if none).
func (n *Node) Name(ctx context.Context) string {
	if p, err := n.project(); err == nil {
		if names, err := p.DeviceNames(ctx); err == nil && names[n.ID()] != "" {
			return names[n.ID()]
		}
	}
	var v string
	_ = n.db.QueryRowContext(ctx, `SELECT v FROM node_meta WHERE k = 'name'`).Scan(&v)
	return v
}

// SetName gives this device a human name ("Maria's phone"): 1 to 64 bytes
// of text on one line. In a project it is a signed record the other
// devices receive; before one, it is kept and published when the device
// creates or joins a project.
func (n *Node) SetName(ctx context.Context, name string) error {
	if _, err := n.db.ExecContext(ctx, `INSERT INTO node_meta (k, v) VALUES ('name', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, name); err != nil {
		return fmt.Errorf("node: set name: %w", err)
	}
	p, err := n.project()
	if errors.Is(err, ErrNoProject) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := p.SetDeviceName(ctx, name); err != nil {
		return err
	}
	n.notify()
	return nil
}

// publishName signs the pending name, if any, into a project just created
// or joined.
func (n *Node) publishName(ctx context.Context, p *project.Project) error {
	var v string
	err := n.db.QueryRowContext(ctx, `SELECT v FROM node_meta WHERE k = 'name'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) || v == "" {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = p.SetDeviceName(ctx, v)
	return err
}

// lastSeen is when this device last had a session with each peer.
func (n *Node) lastSeen(ctx context.Context) (map[peer.ID]time.Time, error) {
	rows, err := n.db.QueryContext(ctx, `SELECT peer, last_seen FROM node_peers`)
	if err != nil {
		return nil, fmt.Errorf("node: last seen: %w", err)
	}
	defer rows.Close()
	out := map[peer.ID]time.Time{}
	for rows.Next() {
		var id []byte
		var ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return nil, err
		}
		out[peer.ID(id)] = time.UnixMilli(ms)
	}
	return out, rows.Err()
}

// saw records that a session with id ran now.
func (n *Node) saw(id peer.ID) {
	_, _ = n.db.Exec(`INSERT INTO node_peers (peer, last_seen) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET last_seen = excluded.last_seen`,
		[]byte(id), time.Now().UnixMilli())
}

// Blocked returns the block of this device, if it is blocked: who, and
// when (a *BlockedError), else nil.
func (n *Node) Blocked(ctx context.Context) *BlockedError {
	p, err := n.project()
	if err != nil {
		return nil
	}
	by, at, ok := p.BlockOf(n.ID())
	if !ok {
		return nil
	}
	// The name is read even when ctx just ended (a sync cut short by the
	// very refusal that told this device).
	return &BlockedError{By: by, ByName: n.PeerName(context.WithoutCancel(ctx), by), At: at}
}
