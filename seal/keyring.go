package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// MaxEpochs is the largest number of keys a Keyring holds (and decodes).
const MaxEpochs = 1 << 16

// keyringMagic starts an encoded Keyring; the byte after it is the
// version.
const (
	keyringMagic   = "fskr"
	keyringVersion = 1
	keyringHeader  = len(keyringMagic) + 1 + 4
	keyringEntry   = 4 + KeySize
)

// Keyring is a member's project keys, one per epoch. The zero value is an
// empty keyring ready to use. It is not safe for concurrent use.
//
// Its encoding (MarshalBinary) holds the keys in clear: it belongs in the
// member's own protected storage, never on an archive.
type Keyring struct {
	keys map[Epoch]Key
}

// Len returns how many epochs the keyring holds.
func (r *Keyring) Len() int { return len(r.keys) }

// Add stores the key of epoch e. Adding the same key again is a no-op;
// another key for an epoch already held is refused, and so is a keyring
// already at MaxEpochs.
func (r *Keyring) Add(e Epoch, k Key) error {
	if old, ok := r.keys[e]; ok {
		if old != k {
			return fmt.Errorf("seal: keyring: epoch %d already has another key", e)
		}
		return nil
	}
	if len(r.keys) >= MaxEpochs {
		return fmt.Errorf("seal: keyring: full (%d epochs)", MaxEpochs)
	}
	if r.keys == nil {
		r.keys = make(map[Epoch]Key)
	}
	r.keys[e] = k
	return nil
}

// Key returns the key of epoch e, if the keyring holds it.
func (r *Keyring) Key(e Epoch) (Key, bool) {
	k, ok := r.keys[e]
	return k, ok
}

// Current returns the newest epoch (the highest number) and its key: the
// one to seal with. ok is false for an empty keyring.
func (r *Keyring) Current() (e Epoch, k Key, ok bool) {
	for x, y := range r.keys {
		if !ok || x > e {
			e, k, ok = x, y, true
		}
	}
	return e, k, ok
}

// Epochs returns the epochs held, in increasing order.
func (r *Keyring) Epochs() []Epoch {
	es := make([]Epoch, 0, len(r.keys))
	for e := range r.keys {
		es = append(es, e)
	}
	slices.Sort(es)
	return es
}

// Next adds a fresh random key for the epoch after the current one (epoch
// 0 for an empty keyring) and returns it: what a coordinator does when it
// blocks a member, before wrapping the new key to each remaining member.
func (r *Keyring) Next() (Epoch, Key, error) {
	e, _, ok := r.Current()
	if ok {
		if e == ^Epoch(0) {
			return 0, Key{}, errors.New("seal: keyring: no epoch after the last one")
		}
		e++
	}
	k, err := NewKey()
	if err != nil {
		return 0, Key{}, err
	}
	if err := r.Add(e, k); err != nil {
		return 0, Key{}, err
	}
	return e, k, nil
}

// OpenRecord opens a sealed record with the keyring's keys, newest epoch
// first, and returns it with the epoch whose key opened it. It fails as
// OpenRecord does (ErrTampered if no key opens it).
func (r *Keyring) OpenRecord(sealed []byte) ([]byte, Epoch, error) {
	es := r.Epochs()
	if len(es) == 0 {
		return nil, 0, fmt.Errorf("%w: sealed record: the keyring is empty", ErrTampered)
	}
	var err error
	for i := len(es) - 1; i >= 0; i-- {
		var block []byte
		block, err = OpenRecord(r.keys[es[i]], sealed)
		if err == nil {
			return block, es[i], nil
		}
		if !errors.Is(err, ErrTampered) {
			return nil, 0, err // malformed or too large: no key will do
		}
	}
	return nil, 0, fmt.Errorf("%w: sealed record opens under none of the keyring's %d epochs", ErrTampered, len(es))
}

// MarshalBinary encodes the keyring, deterministically:
//
//	"fskr" || version (1 byte, 1) || count (uint32) || count × (epoch (uint32) || key (32))
//
// integers big-endian, entries in increasing epoch order.
func (r *Keyring) MarshalBinary() ([]byte, error) {
	es := r.Epochs()
	b := make([]byte, 0, keyringHeader+len(es)*keyringEntry)
	b = append(b, keyringMagic...)
	b = append(b, keyringVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(es)))
	for _, e := range es {
		k := r.keys[e]
		b = binary.BigEndian.AppendUint32(b, uint32(e))
		b = append(b, k[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encodes, replacing the
// keyring's contents. Anything else (another magic or version, a count
// that disagrees with the length, epochs out of order or repeated, more
// than MaxEpochs) fails with ErrMalformed and leaves the keyring as it was.
func (r *Keyring) UnmarshalBinary(b []byte) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: keyring: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) < keyringHeader || string(b[:len(keyringMagic)]) != keyringMagic {
		return bad("not an encoded keyring")
	}
	if v := b[len(keyringMagic)]; v != keyringVersion {
		return bad("version %d, want %d", v, keyringVersion)
	}
	n := binary.BigEndian.Uint32(b[len(keyringMagic)+1:])
	if n > MaxEpochs {
		return bad("%d epochs, over the %d a keyring may hold", n, MaxEpochs)
	}
	body := b[keyringHeader:]
	if len(body) != int(n)*keyringEntry {
		return bad("%d bytes of keys for %d epochs, want %d", len(body), n, int(n)*keyringEntry)
	}
	keys := make(map[Epoch]Key, n)
	for i := 0; i < int(n); i++ {
		ent := body[i*keyringEntry:]
		e := Epoch(binary.BigEndian.Uint32(ent))
		if i > 0 {
			prev := Epoch(binary.BigEndian.Uint32(body[(i-1)*keyringEntry:]))
			if e <= prev {
				return bad("epoch %d after %d: epochs must be in increasing order", e, prev)
			}
		}
		var k Key
		copy(k[:], ent[4:keyringEntry])
		keys[e] = k
	}
	r.keys = keys
	return nil
}
