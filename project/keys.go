package project

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/seal"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Key epochs (issue 17 part 4). Blocking a member starts a new epoch: the
// blocker draws a fresh key and signs a keys record with it wrapped to each
// remaining member's own Ed25519 key (seal.WrapKey); a member that applies
// the record unwraps its copy into its keyring, and everything sealed
// afterwards uses the new key. The keys record travels to a blind archive
// in clear: it holds only wrapped keys, which only their recipients open,
// and a member must read it before it holds the key it carries.

// KeyGrant is the body of a keys record: the key of Epoch, wrapped to each
// member.
type KeyGrant struct {
	Epoch seal.Epoch
	Time  time.Time
	Keys  []WrappedKey
}

// WrappedKey is the epoch key wrapped to one member.
type WrappedKey struct {
	Member  peer.ID
	Wrapped []byte // seal.WrappedSize bytes
}

// maxKeyGrants is the most members one keys record wraps the key to.
const maxKeyGrants = 512

type wireKeys struct {
	Epoch uint32        `cbor:"epoch"`
	Time  int64         `cbor:"time"`
	Keys  []wireWrapped `cbor:"keys"`
}

type wireWrapped struct {
	Member []byte `cbor:"member"`
	Key    []byte `cbor:"key"`
}

func toWireKeys(k *KeyGrant) *wireKeys {
	w := &wireKeys{Epoch: uint32(k.Epoch), Time: ms(k.Time), Keys: []wireWrapped{}}
	for _, x := range k.Keys {
		w.Keys = append(w.Keys, wireWrapped{Member: []byte(x.Member), Key: x.Wrapped})
	}
	return w
}

func fromWireKeys(w *wireKeys) (*KeyGrant, error) {
	k := &KeyGrant{Epoch: seal.Epoch(w.Epoch), Time: fromMS(w.Time)}
	for _, x := range w.Keys {
		id, err := peer.IDFromBytes(x.Member)
		if err != nil {
			return nil, malformed("keys: member: %v", err)
		}
		k.Keys = append(k.Keys, WrappedKey{Member: id, Wrapped: x.Key})
	}
	return k, nil
}

func validateKeys(k *KeyGrant) error {
	if k == nil || k.Epoch == 0 || len(k.Keys) == 0 || len(k.Keys) > maxKeyGrants {
		return malformed("keys: an epoch and 1 to %d wrapped keys", maxKeyGrants)
	}
	for _, x := range k.Keys {
		if !validPeer(x.Member) || len(x.Wrapped) != seal.WrappedSize {
			return malformed("keys: wrapped key")
		}
	}
	return nil
}

// takeKeys adds to this device's keyring the key a counted keys record
// wraps to it, if it lacks that epoch.
func (a *applier) takeKeys(r *Record) error {
	p := a.p
	for _, x := range r.Keys.Keys {
		if x.Member != p.self.PeerID() {
			continue
		}
		kr, err := p.Keyring(a.ctx)
		if err != nil {
			return err
		}
		if _, ok := kr.Key(r.Keys.Epoch); ok {
			return nil
		}
		priv, err := p.self.EdPrivate()
		if err != nil {
			return err
		}
		k, e, err := seal.UnwrapKey(x.Wrapped, priv)
		if err != nil || e != r.Keys.Epoch {
			// Not for this key after all (a coordinator's bug): the
			// record stays; the key comes with the next.
			return nil
		}
		if err := kr.Add(e, k); err != nil {
			return nil
		}
		return storeKeyring(a.ctx, a.tx, kr)
	}
	return nil
}

// RotateKeys starts a new key epoch: a fresh key, wrapped to every member
// that may write (creator, coordinators, members; not blocked devices, not
// archives), in a keys record; this device's keyring gains it. Only the
// creator and coordinators may; a device without a keyring has nothing to
// rotate (nil, nil).
func (p *Project) RotateKeys(ctx context.Context) (*Record, error) {
	if !p.RoleOf(p.self.PeerID()).CanManage() {
		return nil, fmt.Errorf("rotate keys: %w", ErrNotAuthorized)
	}
	kr, err := p.Keyring(ctx)
	if err != nil || kr.Len() == 0 {
		return nil, err
	}
	e, k, err := kr.Next()
	if err != nil {
		return nil, err
	}
	g := &KeyGrant{Epoch: e, Time: p.nowMS()}
	for _, m := range p.Members() {
		if !m.Role.CanWrite() {
			continue
		}
		pub, err := edPublic(m.Peer)
		if err != nil {
			return nil, err
		}
		w, err := seal.WrapKey(k, e, pub)
		if err != nil {
			return nil, err
		}
		g.Keys = append(g.Keys, WrappedKey{Member: m.Peer, Wrapped: w})
	}
	rec, err := p.commit(ctx, g)
	if err != nil {
		return nil, err
	}
	// Applying its own record gave this device the key already (it is
	// among the recipients); store it anyway, whatever the roster said.
	return rec, p.SetKeyring(ctx, kr)
}

// RotateIfBlocked starts a new key epoch (RotateKeys) if a device was
// blocked since the last one this device started, as far as it knows: the
// count of blocked devices at each rotation is kept. It is called where
// sealing matters (a blind archive exists or is invited), so that a
// project without one writes no keys records. A device that may not manage
// membership, or holds no keyring, does nothing.
func (p *Project) RotateIfBlocked(ctx context.Context) (*Record, error) {
	if !p.RoleOf(p.self.PeerID()).CanManage() {
		return nil, nil
	}
	blocked := 0
	for _, m := range p.Members() {
		if m.Role == RoleBlocked {
			blocked++
		}
	}
	var last int
	err := p.db.QueryRowContext(ctx, `SELECT CAST(v AS INTEGER) FROM project_meta WHERE k = 'keys_blocked'`).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if blocked == last {
		return nil, nil
	}
	rec, err := p.RotateKeys(ctx)
	if err != nil || rec == nil {
		return rec, err
	}
	_, err = p.db.ExecContext(ctx, `INSERT INTO project_meta (k, v) VALUES ('keys_blocked', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, blocked)
	return rec, err
}
