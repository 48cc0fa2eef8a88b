package project

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-base32"
)

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// commit signs body as this device's next record and applies it locally,
// through the same checks as a peer's record.
func (p *Project) commit(ctx context.Context, body any) (*Record, error) {
	// Another process (a command beside a serve) may have signed records
	// of this device since: sign after its head, not beside it.
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, role, err := p.writableHead()
	if err != nil {
		return nil, err
	}
	switch body.(type) {
	case *Membership, *Category:
		if !role.CanManage() {
			return nil, ErrNotAuthorized
		}
	}
	r, err := newRecord(p.self, p.id, h.seq+1, h.cid, body)
	if err != nil {
		return nil, err
	}
	res := make([]Result, 1)
	if err := p.applyLocked(ctx, []*Record{r}, res, nil); err != nil {
		return nil, err
	}
	if res[0].Err != nil {
		return nil, res[0].Err
	}
	return r, nil
}

// writableHead returns this device's log head and its role for its next
// record, or ErrBlocked or ErrNotMember: never sign a record this device
// already knows will not count. p.mu is held.
func (p *Project) writableHead() (logHead, Role, error) {
	h := p.vec[p.self.PeerID()]
	switch role := p.ro.roleAt(p.self.PeerID(), h.seq+1); {
	case role == RoleBlocked:
		return h, role, ErrBlocked
	case !role.CanWrite():
		return h, role, ErrNotMember
	default:
		return h, role, nil
	}
}

func (p *Project) nowMS() time.Time { return p.now().UTC().Truncate(time.Millisecond) }

// NewObservationID returns a fresh random observation ID (26 characters,
// base32 of 128 random bits).
func NewObservationID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(base32.RawStdEncoding.EncodeToString(b[:]))
}

// AddObservation signs and stores the first version of a new observation.
// An empty o.ID gets a fresh one; zero Created (the time observed) and
// Updated (the time this version was made) become now. Links must be
// empty.
func (p *Project) AddObservation(ctx context.Context, o Observation) (*Record, error) {
	if o.ID == "" {
		o.ID = NewObservationID()
	}
	if len(o.Links) > 0 {
		return nil, errors.New("add observation: a new observation links nothing")
	}
	if o.Created.IsZero() {
		o.Created = p.nowMS()
	}
	if o.Updated.IsZero() {
		o.Updated = p.nowMS()
	}
	o.Created, o.Updated = o.Created.UTC().Truncate(time.Millisecond), o.Updated.UTC().Truncate(time.Millisecond)
	if err := p.CheckFields(ctx, &o, nil); err != nil {
		return nil, err
	}
	return p.commit(ctx, &o)
}

// AddObservations adds many new observations as AddObservation does, in
// one transaction (one fsync): for ingest (a group of files) and generated
// test projects. Updated becomes now for all of them. On any error none is
// stored.
func (p *Project) AddObservations(ctx context.Context, obs []Observation) ([]*Record, error) {
	bodies := make([]*Observation, len(obs))
	for i := range obs {
		o := obs[i]
		if len(o.Links) > 0 {
			return nil, errors.New("add observations: a new observation links nothing")
		}
		if o.Created.IsZero() {
			o.Created = p.nowMS()
		}
		o.Created = o.Created.UTC().Truncate(time.Millisecond)
		if err := p.CheckFields(ctx, &o, nil); err != nil {
			return nil, err
		}
		bodies[i] = &o
	}
	return p.commitObservations(ctx, bodies)
}

// commitObservations signs bodies as this device's next records and
// applies them in one transaction.
func (p *Project) commitObservations(ctx context.Context, bodies []*Observation) ([]*Record, error) {
	if len(bodies) == 0 {
		return nil, nil
	}
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, _, err := p.writableHead()
	if err != nil {
		return nil, err
	}
	now := p.nowMS()
	recs := make([]*Record, len(bodies))
	for i, o := range bodies {
		if o.ID == "" {
			o.ID = NewObservationID()
		}
		o.Updated = now
		r, err := newRecord(p.self, p.id, h.seq+1, h.cid, o)
		if err != nil {
			return nil, err
		}
		recs[i] = r
		h = logHead{r.Seq, r.CID}
	}
	res := make([]Result, len(recs))
	if err := p.applyLocked(ctx, recs, res, nil); err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Err != nil {
			return nil, r.Err
		}
	}
	return recs, nil
}

// UpdateObservation signs a new version of observation o.ID with o's
// content, linking every current head (so it resolves a fork if there is
// one). Updated becomes now (never before the heads it replaces).
func (p *Project) UpdateObservation(ctx context.Context, o Observation) (*Record, error) {
	heads, err := p.heads(ctx, o.ID)
	if err != nil {
		return nil, err
	}
	o.Links = nil
	now := p.nowMS()
	for _, h := range heads {
		o.Links = append(o.Links, h.CID)
		if !h.Updated.Before(now) {
			now = h.Updated.Add(time.Millisecond)
		}
	}
	o.Updated = now
	if o.Created.IsZero() {
		o.Created = heads[0].Created
	}
	o.Created = o.Created.UTC().Truncate(time.Millisecond)
	if o.Category != "" || len(o.Fields) > 0 {
		hist, err := p.History(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		earlier := make([]Observation, 0, len(hist))
		for _, v := range hist {
			if v.Counted {
				earlier = append(earlier, v.Observation)
			}
		}
		if err := p.CheckFields(ctx, &o, earlier); err != nil {
			return nil, err
		}
	}
	return p.commit(ctx, &o)
}

// DeleteObservation signs a version of observation id marked deleted,
// keeping the winner's content (so the history shows what was deleted).
func (p *Project) DeleteObservation(ctx context.Context, id string) (*Record, error) {
	st, err := p.Observation(ctx, id)
	if err != nil {
		return nil, err
	}
	o := st.Observation
	o.Deleted = true
	return p.UpdateObservation(ctx, o)
}

// SetRole signs a membership record giving subject role (coordinator,
// member or blocked) for its records after the last seq of subject this
// device holds. Only the creator and coordinators may; the creator's role
// cannot be changed.
func (p *Project) SetRole(ctx context.Context, subject peer.ID, role Role) (*Record, error) {
	return p.setRole(ctx, subject, role, nil)
}

func (p *Project) setRole(ctx context.Context, subject peer.ID, role Role, invite []byte) (*Record, error) {
	if subject == p.Creator() {
		return nil, fmt.Errorf("set role: %w: the creator's role cannot change", ErrNotAuthorized)
	}
	if err := p.refresh(ctx); err != nil {
		return nil, err
	}
	if !p.RoleOf(p.self.PeerID()).CanManage() {
		return nil, fmt.Errorf("set role: %w", ErrNotAuthorized)
	}
	p.mu.Lock()
	after := p.vec[subject].seq
	p.mu.Unlock()
	return p.commit(ctx, &Membership{Subject: subject, Role: role, After: after, Time: p.nowMS(), Invite: invite})
}

type head struct {
	CID     cid.Cid
	Created time.Time
	Updated time.Time
}

func (p *Project) heads(ctx context.Context, id string) ([]head, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT v.cid, v.created, v.updated FROM project_versions v
		WHERE v.obs = ?1 AND v.ok = 1 AND NOT EXISTS (
			SELECT 1 FROM project_links l JOIN project_versions w ON w.cid = l.cid
			WHERE l.replaces = v.cid AND l.obs = ?1 AND w.obs = ?1 AND w.ok = 1)
		ORDER BY v.updated DESC, v.cid DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("observation %s: %w", id, err)
	}
	defer rows.Close()
	var hs []head
	for rows.Next() {
		var c []byte
		var cr, up int64
		if err := rows.Scan(&c, &cr, &up); err != nil {
			return nil, err
		}
		cc, _ := cid.Cast(c)
		hs = append(hs, head{cc, fromMS(cr), fromMS(up)})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(hs) == 0 {
		return nil, fmt.Errorf("observation %s: %w", id, ErrNotFound)
	}
	return hs, nil
}
