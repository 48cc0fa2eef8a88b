package project

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Welcome is what a device joining a project receives from its inviter:
// the genesis block and the membership blocks the inviter holds (the
// joiner's own grant among them), so that the joiner knows its role and
// can check its inviter's authority before its first sync.
type Welcome struct {
	Genesis []byte
	Members [][]byte
	// Keys are the project's keys, one per epoch, wrapped to the joiner
	// (seal.WrapKey): a member's welcome.
	Keys [][]byte
	// Project and Creator: a blind archive's welcome, which has no
	// Genesis (the archive must not hold the project's name) nor Keys.
	Project cid.Cid
	Creator peer.ID

	// decoded holds Members as Redeem already verified them, so that Join
	// does not check every signature a second time.
	decoded []*Record
}

// welcomeFor builds the Welcome for the grant c: the genesis, the grant,
// and the valid grants of every device on the chain of authority above it
// (the grant's author, the author of that device's grants, ...), so the
// joiner can check the chain; then the other valid membership records the
// inviter holds, as many as fit in welcomeBudget, so that the joiner knows
// the project's other members (and blocked devices) before its first sync
// and can sync with any of them, not only its inviter.
func (p *Project) welcomeFor(ctx context.Context, c cid.Cid) (*Welcome, error) {
	ro := p.state().ro
	w := &Welcome{Genesis: p.genesis.Block}
	want := []cid.Cid{c}
	seen := map[cid.Cid]bool{c: true}
	for len(want) > 0 {
		c := want[0]
		want = want[1:]
		b, err := p.membershipBlock(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("welcome: %w", notFound(err))
		}
		w.Members = append(w.Members, b)
		r, err := decodeRecord(b, false)
		if err != nil {
			return nil, fmt.Errorf("welcome: %w", err)
		}
		for _, g := range ro.grants[r.Author] {
			if !seen[g.cid] {
				seen[g.cid] = true
				want = append(want, g.cid)
			}
		}
	}
	// The rest of the roster, in a deterministic order, within budget.
	size := len(w.Genesis)
	for _, b := range w.Members {
		size += len(b)
	}
	var rest []cid.Cid
	for _, gs := range ro.grants {
		for _, g := range gs {
			if ro.valid[g.cid] && !seen[g.cid] {
				rest = append(rest, g.cid)
			}
		}
	}
	slices.SortFunc(rest, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	for _, c := range rest {
		b, err := p.membershipBlock(ctx, c)
		if err != nil {
			continue // known to the roster but not stored here: it comes by sync
		}
		if size+len(b) > welcomeBudget {
			break
		}
		size += len(b)
		w.Members = append(w.Members, b)
	}
	return w, nil
}

// membershipBlock returns the block of membership record c, from its
// author's log or, if that has not arrived yet, from the pending records.
func (p *Project) membershipBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	var b []byte
	err := p.db.QueryRowContext(ctx, `SELECT block FROM project_records WHERE cid = ?1
		UNION ALL SELECT block FROM project_pending WHERE cid = ?1 LIMIT 1`, c.Bytes()).Scan(&b)
	return b, err
}

// welcomeBudget bounds the bytes of records in a Welcome, under the
// invite protocol's message cap (MaxInviteMessage).
const welcomeBudget = MaxInviteMessage * 3 / 4

// Join stores the project of a Welcome in the empty database d for device
// self and opens it. Every block is verified; the membership records are
// kept as pending until their authors' logs arrive by sync, and count in
// the roster meanwhile. If they do not make self a member, Join fails with
// ErrNotMember.
func Join(ctx context.Context, d *sql.DB, self *Identity, w *Welcome) (*Project, error) {
	p, err := join(ctx, d, self, w)
	if err != nil || len(w.Keys) == 0 {
		return p, err
	}
	kr, err := unwrapKeys(self, w.Keys)
	if err != nil {
		return nil, err
	}
	if err := p.SetKeyring(ctx, kr); err != nil {
		return nil, err
	}
	return p, nil
}

func join(ctx context.Context, d *sql.DB, self *Identity, w *Welcome) (*Project, error) {
	g, err := DecodeRecord(w.Genesis)
	if err != nil {
		return nil, fmt.Errorf("join: genesis: %w", err)
	}
	if g.Kind != KindGenesis {
		return nil, fmt.Errorf("join: %w: first record is not a genesis", ErrMalformed)
	}
	var pending []*Record
	var mems []memRec
	for i, b := range w.Members {
		var r *Record
		if len(w.decoded) == len(w.Members) && bytes.Equal(w.decoded[i].Block, b) {
			r = w.decoded[i]
		} else if r, err = DecodeRecord(b); err != nil {
			return nil, fmt.Errorf("join: membership: %w", err)
		}
		if r.Kind != KindMembership {
			return nil, fmt.Errorf("join: %w: not a membership record", ErrMalformed)
		}
		if r.Project != g.CID {
			return nil, fmt.Errorf("join: %w", ErrWrongProject)
		}
		pending = append(pending, r)
		mems = append(mems, memRecOf(r))
	}
	if !buildRoster(g.Author, mems).current(self.PeerID()).CanWrite() {
		return nil, fmt.Errorf("join: %w", ErrNotMember)
	}
	if err := db.Migrate(ctx, d, schema...); err != nil {
		return nil, err
	}
	if id, err := readProjectID(ctx, d); err == nil {
		if id != g.CID {
			return nil, ErrProjectExists
		}
		// Already joined (a retried join): keep what is there.
		p, err := Open(ctx, d, self)
		if err != nil {
			return nil, err
		}
		return p, p.addPending(ctx, pending)
	}
	return initProject(ctx, d, self, g, pending)
}

// addPending adds membership records not yet in their logs.
func (p *Project) addPending(ctx context.Context, recs []*Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range recs {
		if _, err := p.db.ExecContext(ctx, `INSERT OR IGNORE INTO project_pending (cid, block)
			SELECT ?1, ?2 WHERE NOT EXISTS (SELECT 1 FROM project_records WHERE cid = ?1)`, r.CID.Bytes(), r.Block); err != nil {
			return fmt.Errorf("add pending: %w", err)
		}
		if !containsMem(p.members, r) {
			p.members = append(p.members, memRecOf(r))
		}
	}
	p.ro = buildRoster(p.genesis.Author, p.members)
	p.publish()
	return nil
}

func containsMem(ms []memRec, r *Record) bool {
	for _, m := range ms {
		if m.cid == r.CID {
			return true
		}
	}
	return false
}
