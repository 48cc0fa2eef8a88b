package project

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ObservationState is an observation as it stands: the content of its
// winning head.
type ObservationState struct {
	Observation
	Head   cid.Cid // the winning version
	Author peer.ID // who signed the winning version
	Heads  int     // number of heads; more than 1 means a fork
}

// ObservationQuery selects observations for Observations.
type ObservationQuery struct {
	Limit          int       // 0: no limit
	Before         time.Time // zero: no bound; else only Created before it (paging)
	IncludeDeleted bool
	// Category, when set, keeps the observations of that category only.
	Category string
}

// Observations lists observations newest first (by Created, then ID).
func (p *Project) Observations(ctx context.Context, q ObservationQuery) ([]ObservationState, error) {
	query := `SELECT o.obs, o.head, o.heads, r.author, r.block FROM project_observations o
		JOIN project_records r ON r.cid = o.head WHERE 1`
	var args []any
	if !q.IncludeDeleted {
		query += ` AND o.deleted = 0`
	}
	if !q.Before.IsZero() {
		query += ` AND o.created < ?`
		args = append(args, ms(q.Before))
	}
	query += ` ORDER BY o.created DESC, o.obs`
	if q.Limit > 0 && q.Category == "" {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := p.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list observations: %w", err)
	}
	defer rows.Close()
	var out []ObservationState
	for rows.Next() {
		st, err := scanState(rows)
		if err != nil {
			return nil, fmt.Errorf("list observations: %w", err)
		}
		if q.Category != "" && st.Category != q.Category {
			continue
		}
		out = append(out, *st)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, rows.Err()
}

func scanState(rows interface{ Scan(...any) error }) (*ObservationState, error) {
	var id string
	var h, a, b []byte
	var n int
	if err := rows.Scan(&id, &h, &n, &a, &b); err != nil {
		return nil, err
	}
	r, err := decodeRecord(b, false)
	if err != nil {
		return nil, err
	}
	return &ObservationState{Observation: *r.Observation, Head: r.CID, Author: peer.ID(a), Heads: n}, nil
}

// Observation returns observation id as it stands (deleted ones too: check
// Deleted), or an error wrapping ErrNotFound.
func (p *Project) Observation(ctx context.Context, id string) (*ObservationState, error) {
	row := p.db.QueryRowContext(ctx, `SELECT o.obs, o.head, o.heads, r.author, r.block FROM project_observations o
		JOIN project_records r ON r.cid = o.head WHERE o.obs = ?`, id)
	st, err := scanState(row)
	if err != nil {
		return nil, fmt.Errorf("observation %s: %w", id, notFound(err))
	}
	return st, nil
}

// RecordCount returns how many records the database holds (those of
// another process that shares it included).
func (p *Project) RecordCount(ctx context.Context) (int, error) {
	var n int
	if err := p.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_records`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count records: %w", err)
	}
	return n, nil
}

// ChangesSince tells what changed in the project after mark, a value an
// earlier call returned (0: before anything). ids are the observations
// that got a new version; all is true when something else changed (a
// membership record, which can change the state of any observation, or a
// first call), and then ids is nil. next is the mark for the next call.
// It lets a view of the observations update itself without listing them
// all again.
func (p *Project) ChangesSince(ctx context.Context, mark int64) (ids []string, all bool, next int64, err error) {
	if next, all, err = p.recordsSince(ctx, mark); err != nil || all || next <= mark {
		if err != nil {
			err = fmt.Errorf("changes: %w", err)
		}
		return nil, all, next, err
	}
	rows, err := p.db.QueryContext(ctx, `SELECT DISTINCT v.obs FROM project_versions v JOIN project_records r ON r.cid = v.cid
		WHERE r.rowid > ? AND r.rowid <= ?`, mark, next)
	if err != nil {
		return nil, false, 0, fmt.Errorf("changes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, false, 0, fmt.Errorf("changes: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, false, next, rows.Err()
}

// recordsSince returns the records' largest rowid, and whether any record
// after mark is not an observation version (or mark is 0: everything is
// new).
func (p *Project) recordsSince(ctx context.Context, mark int64) (next int64, all bool, err error) {
	if err := p.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(rowid), 0) FROM project_records`).Scan(&next); err != nil {
		return 0, false, err
	}
	if mark <= 0 {
		return next, true, nil
	}
	if next <= mark {
		return next, false, nil
	}
	var other int
	if err := p.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM project_records WHERE rowid > ? AND rowid <= ? AND kind != ?`,
		mark, next, string(KindObservation)).Scan(&other); err != nil {
		return 0, false, err
	}
	return next, other > 0, nil
}

// Version is one version in an observation's history.
type Version struct {
	CID    cid.Cid
	Author peer.ID
	Seq    uint64
	Observation
	Counted bool // false if its author had no right to it (blocked)
	Head    bool // no counted version replaces it
	Winner  bool // the head that is the current state
}

// History returns every version of observation id, oldest first (by
// Updated, then CID), fork losers and refused versions included.
func (p *Project) History(ctx context.Context, id string) ([]Version, error) {
	var winner []byte
	err := p.db.QueryRowContext(ctx, `SELECT head FROM project_observations WHERE obs = ?`, id).Scan(&winner)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("history %s: %w", id, err)
	}
	hs, _ := p.heads(ctx, id)
	rows, err := p.db.QueryContext(ctx, `SELECT r.block, v.ok FROM project_versions v JOIN project_records r ON r.cid = v.cid
		WHERE v.obs = ? ORDER BY v.updated, v.cid`, id)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", id, err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var b []byte
		var ok bool
		if err := rows.Scan(&b, &ok); err != nil {
			return nil, fmt.Errorf("history %s: %w", id, err)
		}
		r, err := decodeRecord(b, false)
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", id, err)
		}
		v := Version{CID: r.CID, Author: r.Author, Seq: r.Seq, Observation: *r.Observation, Counted: ok}
		v.Head = slices.ContainsFunc(hs, func(h head) bool { return h.CID == r.CID })
		v.Winner = string(winner) == string(r.CID.Bytes())
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("history %s: %w", id, ErrNotFound)
	}
	return out, nil
}

// classOf is the transfer class of an attachment's variant. A track's
// points travel with the thumbnails: they are what a map draws.
func classOf(kind AttachmentKind, v VariantName) blob.Class {
	switch v {
	case VariantThumbnail, VariantPoints:
		return blob.ClassThumbnail
	case VariantPreview:
		return blob.ClassPreview
	}
	if kind == AttachPhoto {
		return blob.ClassOriginal
	}
	return blob.ClassAttachment
}

// FilterMode names a preset filter.
type FilterMode string

// Filter modes.
const (
	// FilterArchive wants everything: every variant of every attachment of
	// every version, replaced and deleted ones included.
	FilterArchive FilterMode = "archive"
	// FilterField wants the thumbnails and previews of the current,
	// undeleted observations (and the points of their tracks).
	FilterField FilterMode = "field"
	// FilterCustom wants the variants and kinds listed.
	FilterCustom FilterMode = "custom"
)

// Filter is what a device wants of a project's blobs.
type Filter struct {
	Mode FilterMode `json:"mode"`
	// For FilterCustom: the attachment kinds and variants wanted (empty
	// means all; a track's points come with the thumbnails), and whether
	// replaced and deleted versions count.
	Kinds    []AttachmentKind `json:"kinds,omitempty"`
	Variants []VariantName    `json:"variants,omitempty"`
	History  bool             `json:"history,omitempty"`
}

// Archive and Field are the preset filters.
var (
	Archive = Filter{Mode: FilterArchive}
	Field   = Filter{Mode: FilterField}
)

// normal returns the filter in custom form.
func (f Filter) normal() (Filter, error) {
	switch f.Mode {
	case FilterArchive:
		return Filter{Mode: FilterCustom, History: true}, nil
	case FilterField:
		return Filter{Mode: FilterCustom, Variants: []VariantName{VariantThumbnail, VariantPreview, VariantPoints}}, nil
	case FilterCustom, "":
		f.Mode = FilterCustom
		if slices.Contains(f.Variants, VariantThumbnail) && !slices.Contains(f.Variants, VariantPoints) {
			f.Variants = append(slices.Clone(f.Variants), VariantPoints)
		}
		return f, nil
	}
	return f, fmt.Errorf("filter: unknown mode %q", f.Mode)
}

// Classes returns the transfer classes whose blobs f can want, in order:
// a custom filter's variants of its kinds (a photo's original is
// ClassOriginal, any other kind's is ClassAttachment). Archive is every
// class, Field thumbnails and previews. The exchange declares these to
// peers and the archive's bundle states carry them.
func (f Filter) Classes() []blob.Class {
	n, err := f.normal()
	if err != nil {
		return nil
	}
	variant := func(v VariantName) bool { return len(n.Variants) == 0 || slices.Contains(n.Variants, v) }
	kind := func(photo bool) bool {
		return len(n.Kinds) == 0 || slices.ContainsFunc(n.Kinds, func(k AttachmentKind) bool { return (k == AttachPhoto) == photo })
	}
	track := len(n.Kinds) == 0 || slices.Contains(n.Kinds, AttachTrack)
	var out []blob.Class
	if variant(VariantThumbnail) && kind(true) || variant(VariantPoints) && track {
		out = append(out, blob.ClassThumbnail)
	}
	if variant(VariantPreview) && kind(true) {
		out = append(out, blob.ClassPreview)
	}
	if variant(VariantOriginal) && kind(true) {
		out = append(out, blob.ClassOriginal)
	}
	if variant(VariantOriginal) && kind(false) {
		out = append(out, blob.ClassAttachment)
	}
	return out
}

// Want is a blob wanted under a filter.
type Want struct {
	CID           cid.Cid
	Class         blob.Class
	Size          int64 // as the record states it
	MediaType     string
	ObservedAt    time.Time // Created of the newest observation that uses it
	ObservationID string
}

// WantedBlobs lists the blobs wanted under f, whether held or not (the
// exchange asks the blob store), each once, in transfer order: by class,
// then newest observation first, then CID.
func (p *Project) WantedBlobs(ctx context.Context, f Filter) ([]Want, error) {
	ws, _, err := p.wantedBlobs(ctx, f)
	return ws, err
}

// wantedBlobs is WantedBlobs, with the records' largest rowid before the
// list was read: every record up to it is in the list.
func (p *Project) wantedBlobs(ctx context.Context, f Filter) ([]Want, int64, error) {
	f, err := f.normal()
	if err != nil {
		return nil, 0, err
	}
	key := fmt.Sprint(f)
	gen := p.gen.Load()
	p.wantMu.Lock()
	c, read := p.wantCache[key]
	if read && c.gen == gen {
		p.wantMu.Unlock()
		return slices.Clone(c.wants), c.mark[0], nil
	}
	p.wantMu.Unlock()
	// The mark before and after the read: the same mark means no change
	// committed in between, so the list is the one at that mark.
	before, err := recordsMark(ctx, p.db)
	if err != nil {
		return nil, 0, fmt.Errorf("wanted blobs: %w", err)
	}
	// A saved list is looked for at the first read only: a later read
	// comes after this process published a change, which mostly moved
	// the mark.
	if !read {
		if out, ok := p.savedWants(ctx, key, before); ok {
			p.cacheWants(key, wantCache{gen: gen, wants: out, mark: before, marked: true, saved: true})
			return slices.Clone(out), before[0], nil
		}
	}
	out, err := p.readWants(ctx, f, nil)
	if err != nil {
		return nil, 0, err
	}
	after, err := recordsMark(ctx, p.db)
	if err != nil {
		return nil, 0, fmt.Errorf("wanted blobs: %w", err)
	}
	p.cacheWants(key, wantCache{gen: gen, wants: out, mark: before, marked: before == after})
	return slices.Clone(out), before[0], nil
}

func (p *Project) cacheWants(key string, c wantCache) {
	p.wantMu.Lock()
	defer p.wantMu.Unlock()
	if p.wantCache == nil {
		p.wantCache = make(map[string]wantCache)
	}
	p.wantCache[key] = c
}

// WantedSince lists the blobs wanted under f that may be new since mark, a
// value an earlier call returned (0: before anything): those of the
// observation versions recorded after it, or every wanted blob, as
// WantedBlobs, when something else was recorded (a membership record can
// change which versions count) or mark is 0. next is the mark for the
// next call. A blob wanted before may be listed again. It spares a device
// receiving a stream of records reading the whole list after every batch.
func (p *Project) WantedSince(ctx context.Context, f Filter, mark int64) (ws []Want, next int64, err error) {
	next, all, err := p.recordsSince(ctx, mark)
	if err != nil {
		return nil, 0, fmt.Errorf("wanted blobs: %w", err)
	}
	switch {
	case all:
		// The list's own mark, not next: a list cached before the last
		// commit was published lacks records up to next.
		ws, next, err = p.wantedBlobs(ctx, f)
	case next > mark:
		if f, err = f.normal(); err == nil {
			ws, err = p.readWants(ctx, f, &[2]int64{mark, next})
		}
	}
	if err != nil {
		return nil, 0, err
	}
	return ws, next, nil
}

// readWants reads from the tables the list WantedBlobs returns, or with
// span only the part of it the records with rowids in (span[0], span[1]]
// bring.
func (p *Project) readWants(ctx context.Context, f Filter, span *[2]int64) ([]Want, error) {
	var q string
	var args []any
	switch {
	case f.History && span == nil:
		q = `SELECT a.blob, a.kind, a.variant, a.size, a.type, v.created, v.obs FROM project_versions v
			JOIN project_attachments a ON a.version = v.cid WHERE v.ok = 1`
	case f.History:
		q = `SELECT a.blob, a.kind, a.variant, a.size, a.type, v.created, v.obs FROM project_records r
			JOIN project_versions v ON v.cid = r.cid
			JOIN project_attachments a ON a.version = v.cid WHERE v.ok = 1`
	case span == nil:
		q = `SELECT a.blob, a.kind, a.variant, a.size, a.type, o.created, o.obs FROM project_observations o
			JOIN project_attachments a ON a.version = o.head WHERE o.deleted = 0`
	default:
		q = `SELECT a.blob, a.kind, a.variant, a.size, a.type, o.created, o.obs FROM project_records r
			JOIN project_versions v ON v.cid = r.cid
			JOIN project_observations o ON o.obs = v.obs
			JOIN project_attachments a ON a.version = o.head WHERE o.deleted = 0`
	}
	if span != nil {
		q += ` AND r.rowid > ? AND r.rowid <= ?`
		args = append(args, span[0], span[1])
	}
	if len(f.Variants) > 0 {
		q += ` AND a.variant IN (?` + strings.Repeat(`, ?`, len(f.Variants)-1) + `)`
		for _, v := range f.Variants {
			args = append(args, string(v))
		}
	}
	rows, err := p.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("wanted blobs: %w", err)
	}
	defer rows.Close()
	byCID := make(map[cid.Cid]int)
	var out []Want
	for rows.Next() {
		var b []byte
		var kind, variant string
		var w Want
		var created int64
		if err := rows.Scan(&b, &kind, &variant, &w.Size, &w.MediaType, &created, &w.ObservationID); err != nil {
			return nil, fmt.Errorf("wanted blobs: %w", err)
		}
		if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, AttachmentKind(kind)) {
			continue // f.Variants is filtered by the query
		}
		if w.CID, err = cid.Cast(b); err != nil {
			return nil, fmt.Errorf("wanted blobs: %w", err)
		}
		w.Class = classOf(AttachmentKind(kind), VariantName(variant))
		w.ObservedAt = fromMS(created)
		if i, ok := byCID[w.CID]; ok {
			o := &out[i]
			if w.Class < o.Class || w.Class == o.Class && w.ObservedAt.After(o.ObservedAt) {
				*o = w
			}
			continue
		}
		byCID[w.CID] = len(out)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("wanted blobs: %w", err)
	}
	slices.SortFunc(out, func(a, b Want) int {
		if a.Class != b.Class {
			return int(a.Class) - int(b.Class)
		}
		if c := b.ObservedAt.Compare(a.ObservedAt); c != 0 {
			return c
		}
		return strings.Compare(a.CID.KeyString(), b.CID.KeyString())
	})
	return out, nil
}

// SetFilter records the filter a device declared (this device's own
// choice is stored under its own peer ID).
func (p *Project) SetFilter(ctx context.Context, dev peer.ID, f Filter) error {
	if _, err := f.normal(); err != nil {
		return err
	}
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = p.db.ExecContext(ctx, `INSERT INTO project_filters (peer, filter, updated) VALUES (?, ?, ?)
		ON CONFLICT (peer) DO UPDATE SET filter = excluded.filter, updated = excluded.updated`, []byte(dev), string(b), ms(time.Now()))
	if err != nil {
		return fmt.Errorf("set filter: %w", err)
	}
	return nil
}

// FilterOf returns the filter device dev declared; a device that declared
// none gets Field for peers and Archive for this device.
func (p *Project) FilterOf(ctx context.Context, dev peer.ID) (Filter, error) {
	var s string
	err := p.db.QueryRowContext(ctx, `SELECT filter FROM project_filters WHERE peer = ?`, []byte(dev)).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		if dev == p.self.PeerID() {
			return Archive, nil
		}
		return Field, nil
	}
	if err != nil {
		return Filter{}, fmt.Errorf("filter of %s: %w", dev, err)
	}
	var f Filter
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return Filter{}, fmt.Errorf("filter of %s: %w", dev, err)
	}
	return f, nil
}

// ObservationWithOriginal returns the ID of an observation, not deleted,
// whose current version has blob c as an attachment's original, or ""
// if none has: the file behind c was imported before.
func (p *Project) ObservationWithOriginal(ctx context.Context, c cid.Cid) (string, error) {
	var id string
	err := p.db.QueryRowContext(ctx, `SELECT o.obs FROM project_attachments a
		JOIN project_observations o ON o.head = a.version
		WHERE a.blob = ? AND a.variant = ? AND o.deleted = 0 LIMIT 1`, c.Bytes(), string(VariantOriginal)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find an observation of %s: %w", c, err)
	}
	return id, nil
}
