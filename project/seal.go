package project

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/seal"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A blind archive (issue 17) keeps the project sealed for its members. Here:
// the project's keyring (one key per epoch, in the project database of
// every member, never of an archive), the seal records that map plain
// blobs to their sealed copies, and the archive role. docs/protocol.md
// describes the seal record and the envelope a record travels in to and
// from an archive; docs/trust.md what an archive sees.

// SealList is the body of a seal record: blobs this device sealed under
// the key of Epoch, and the sealed copies' CIDs. Sealing is deterministic
// within an epoch, so two members' entries for one blob are identical.
type SealList struct {
	Epoch   seal.Epoch
	Time    time.Time
	Entries []SealEntry
}

// SealEntry is one sealed blob: its plain CID, its sealed CID, its class,
// the sealed size and the time of the newest observation that uses it
// (what an archive orders its fetching by).
type SealEntry struct {
	Plain, Sealed cid.Cid
	Class         blob.Class
	Size          int64 // sealed bytes
	ObservedAt    time.Time
}

// MaxSealEntries is the most entries one seal record holds (each about
// 90 bytes: well under MaxRecordSize).
const MaxSealEntries = 400

type wireSeal struct {
	Epoch   uint32          `cbor:"epoch"`
	Time    int64           `cbor:"time"`
	Entries []wireSealEntry `cbor:"entries"`
}

type wireSealEntry struct {
	Plain  link  `cbor:"plain"`
	Sealed link  `cbor:"sealed"`
	Class  int   `cbor:"class"`
	Size   int64 `cbor:"size"`
	At     int64 `cbor:"at"`
}

func toWireSeal(s *SealList) *wireSeal {
	w := &wireSeal{Epoch: uint32(s.Epoch), Time: ms(s.Time), Entries: []wireSealEntry{}}
	for _, e := range s.Entries {
		w.Entries = append(w.Entries, wireSealEntry{Plain: link{e.Plain}, Sealed: link{e.Sealed}, Class: int(e.Class), Size: e.Size, At: ms(e.ObservedAt)})
	}
	return w
}

func fromWireSeal(w *wireSeal) (*SealList, error) {
	s := &SealList{Epoch: seal.Epoch(w.Epoch), Time: fromMS(w.Time)}
	for _, e := range w.Entries {
		s.Entries = append(s.Entries, SealEntry{Plain: e.Plain.c, Sealed: e.Sealed.c, Class: blob.Class(e.Class), Size: e.Size, ObservedAt: fromMS(e.At)})
	}
	return s, nil
}

func validateSeal(s *SealList) error {
	if s == nil || len(s.Entries) == 0 || len(s.Entries) > MaxSealEntries {
		return malformed("seal: 1 to %d entries", MaxSealEntries)
	}
	for _, e := range s.Entries {
		if !e.Plain.Defined() || !e.Sealed.Defined() || e.Size < seal.Overhead || e.Class < blob.ClassThumbnail || e.Class > blob.ClassAttachment {
			return malformed("seal entry")
		}
	}
	return nil
}

// sealSchema holds the seal entries the project's counted seal records
// give, and the keyring.
var sealSchema = []string{
	`CREATE TABLE IF NOT EXISTS project_seals (
		plain BLOB NOT NULL,
		epoch INTEGER NOT NULL,
		sealed BLOB NOT NULL,
		class INTEGER NOT NULL,
		size INTEGER NOT NULL,
		at INTEGER NOT NULL,
		PRIMARY KEY (plain, epoch)
	)`,
	`CREATE INDEX IF NOT EXISTS project_seals_sealed ON project_seals (sealed)`,
}

func init() { schema = append(schema, sealSchema...) }

// addSeal stores a counted seal record's entries.
func (a *applier) addSeal(r *Record) error {
	for _, e := range r.Seal.Entries {
		if err := a.exec(`INSERT OR IGNORE INTO project_seals (plain, epoch, sealed, class, size, at) VALUES (?, ?, ?, ?, ?, ?)`,
			e.Plain.Bytes(), uint32(r.Seal.Epoch), e.Sealed.Bytes(), int(e.Class), e.Size, ms(e.ObservedAt)); err != nil {
			return err
		}
	}
	return nil
}

// Seals returns every seal entry the project knows, with its epoch.
func (p *Project) Seals(ctx context.Context) ([]SealEntryAt, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT plain, epoch, sealed, class, size, at FROM project_seals`)
	if err != nil {
		return nil, fmt.Errorf("seal entries: %w", err)
	}
	defer rows.Close()
	var out []SealEntryAt
	for rows.Next() {
		var pb, sb []byte
		var e SealEntryAt
		var at int64
		if err := rows.Scan(&pb, &e.Epoch, &sb, &e.Class, &e.Size, &at); err != nil {
			return nil, err
		}
		var err1, err2 error
		e.Plain, err1 = cid.Cast(pb)
		e.Sealed, err2 = cid.Cast(sb)
		if err1 != nil || err2 != nil {
			continue
		}
		e.ObservedAt = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// SealEntryAt is a seal entry with the epoch it was sealed under.
type SealEntryAt struct {
	SealEntry
	Epoch seal.Epoch
}

// WriteSeals signs seal records for entries (sealed under epoch), in
// batches of MaxSealEntries.
func (p *Project) WriteSeals(ctx context.Context, epoch seal.Epoch, entries []SealEntry) error {
	for len(entries) > 0 {
		n := min(len(entries), MaxSealEntries)
		if _, err := p.commit(ctx, &SealList{Epoch: epoch, Time: p.nowMS(), Entries: entries[:n]}); err != nil {
			return fmt.Errorf("write seal record: %w", err)
		}
		entries = entries[n:]
	}
	return nil
}

// The keyring: one row of project_meta, in seal's encoding. It holds the
// keys in clear: the data directory is the member's own protected storage.

// Keyring returns the project's keyring as this device holds it (empty if
// it holds none).
func (p *Project) Keyring(ctx context.Context) (*seal.Keyring, error) {
	var b []byte
	err := p.db.QueryRowContext(ctx, `SELECT v FROM project_meta WHERE k = 'keyring'`).Scan(&b)
	kr := &seal.Keyring{}
	if errors.Is(err, sql.ErrNoRows) {
		return kr, nil
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if err := kr.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return kr, nil
}

// SetKeyring stores kr as this device's keyring.
func (p *Project) SetKeyring(ctx context.Context, kr *seal.Keyring) error {
	return storeKeyring(ctx, p.db, kr)
}

func storeKeyring(ctx context.Context, d interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, kr *seal.Keyring) error {
	b, err := kr.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = d.ExecContext(ctx, `INSERT INTO project_meta (k, v) VALUES ('keyring', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, b)
	return err
}

// EnsureKeyring gives a project that has no keyring one (epoch 1), if
// this device is its creator: a project made before blind archives. It
// returns the keyring this device holds (empty for another member, until
// it is given one).
func (p *Project) EnsureKeyring(ctx context.Context) (*seal.Keyring, error) {
	kr, err := p.Keyring(ctx)
	if err != nil || kr.Len() > 0 || p.self.PeerID() != p.genesis.Author {
		return kr, err
	}
	k, err := seal.NewKey()
	if err != nil {
		return nil, err
	}
	if err := kr.Add(1, k); err != nil {
		return nil, err
	}
	return kr, p.SetKeyring(ctx, kr)
}

// wrapKeyring wraps every key of this device's keyring to the member to.
func (p *Project) wrapKeyring(ctx context.Context, to peer.ID) ([][]byte, error) {
	kr, err := p.Keyring(ctx)
	if err != nil {
		return nil, err
	}
	pub, err := edPublic(to)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, e := range kr.Epochs() {
		k, _ := kr.Key(e)
		w, err := seal.WrapKey(k, e, pub)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

func edPublic(id peer.ID) (ed25519.PublicKey, error) {
	pk, err := id.ExtractPublicKey()
	if err != nil {
		return nil, err
	}
	raw, err := pk.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: not an Ed25519 peer", ErrMalformed)
	}
	return ed25519.PublicKey(raw), nil
}

// EdPrivate is self's identity key as Ed25519 (seal.UnwrapKey's key).
func (i *Identity) EdPrivate() (ed25519.PrivateKey, error) {
	raw, err := i.priv.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, errors.New("project: identity is not an Ed25519 key")
	}
	return ed25519.PrivateKey(raw), nil
}

// unwrapKeys opens wrapped keys given to self into a keyring.
func unwrapKeys(self *Identity, wrapped [][]byte) (*seal.Keyring, error) {
	priv, err := self.EdPrivate()
	if err != nil {
		return nil, err
	}
	kr := &seal.Keyring{}
	for _, w := range wrapped {
		k, e, err := seal.UnwrapKey(w, priv)
		if err != nil {
			return nil, fmt.Errorf("welcome: project key: %w", err)
		}
		if err := kr.Add(e, k); err != nil {
			return nil, err
		}
	}
	return kr, nil
}

// VerifyMembership checks membership records for the project id created
// by creator, as a blind archive must without the genesis: each block
// decoded and its signature verified, of this project, a membership
// record. It returns the records.
func VerifyMembership(project cid.Cid, blocks [][]byte) ([]*Record, error) {
	var out []*Record
	for _, b := range blocks {
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, err
		}
		if r.Kind != KindMembership || r.Project != project {
			return nil, fmt.Errorf("%w: not a membership record of this project", ErrMalformed)
		}
		out = append(out, r)
	}
	return out, nil
}

// Roster is the membership state computed from the creator and membership
// records alone: what a blind archive knows of who may sync.
type Roster struct{ ro *roster }

// NewRoster computes the roster of the project created by creator from
// its (verified) membership records.
func NewRoster(creator peer.ID, recs []*Record) *Roster {
	var ms []memRec
	for _, r := range recs {
		if r.Membership != nil {
			ms = append(ms, memRecOf(r))
		}
	}
	return &Roster{buildRoster(creator, ms)}
}

// Role returns p's current role.
func (r *Roster) Role(p peer.ID) Role { return r.ro.current(p) }

// Members lists every device with a role (the creator first), and its role.
func (r *Roster) Members() []Member {
	out := []Member{{Peer: r.ro.creator, Role: RoleCreator}}
	for id := range r.ro.grants {
		if b := r.ro.best(id); b != nil {
			out = append(out, Member{Peer: id, Role: b.role, Since: fromMS(b.time)})
		}
	}
	return out
}

// Valid reports whether membership record c counts.
func (r *Roster) Valid(c cid.Cid) bool { return r.ro.valid[c] }

// IsSealed reports whether c is the sealed copy of a blob, by a counted
// seal record: a blob a blind archive may fetch.
func (p *Project) IsSealed(ctx context.Context, c cid.Cid) bool {
	var n int
	err := p.db.QueryRowContext(ctx, `SELECT 1 FROM project_seals WHERE sealed = ? LIMIT 1`, c.Bytes()).Scan(&n)
	return err == nil
}

// Archives lists the project's blind archives (not blocked).
func (p *Project) Archives() []peer.ID {
	var out []peer.ID
	for _, m := range p.Members() {
		if m.Role == RoleArchive {
			out = append(out, m.Peer)
		}
	}
	return out
}

// PeekRecord decodes a block this device holds (already verified) without
// checking its signature again.
func PeekRecord(block []byte) (*Record, error) { return decodeRecord(block, false) }
