package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// KeySize is the size of a project key, in bytes.
const KeySize = 32

// Key is one key epoch's project key: 32 bytes from crypto/rand. Nothing is
// sealed under it directly: the subkeys for blobs, blob nonces, records and
// record nonces are derived from it with HKDF-SHA256 under distinct labels.
//
// String and GoString do not show the key, so that a Key printed by
// mistake does not end up in a log.
type Key [KeySize]byte

// NewKey returns a fresh random key.
func NewKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("seal: new key: %w", err)
	}
	return k, nil
}

// String hides the key.
func (k Key) String() string { return "seal.Key(redacted)" }

// GoString hides the key.
func (k Key) GoString() string { return "seal.Key(redacted)" }

// Errors callers branch on (with errors.Is).
var (
	// ErrTampered means authentication failed: the bytes were modified,
	// truncated, moved to another position or blob, or are opened with a
	// key (or for a recipient) they were not sealed with. The cases cannot
	// be told apart, by design.
	ErrTampered = errors.New("seal: authentication failed")
	// ErrMalformed means the input cannot be sealed bytes of this format
	// at all (impossible size, unknown version, bad encoding), before any
	// key is tried.
	ErrMalformed = errors.New("seal: malformed")
	// ErrTooLarge means a record is over MaxRecordSize.
	ErrTooLarge = errors.New("seal: too large")
)

// HKDF labels. Each subkey has its own label; "v1" names this format, so a
// later format derives unrelated keys from the same project key.
const (
	labelBlob        = "fieldsync seal v1 blob key"
	labelBlobNonce   = "fieldsync seal v1 blob nonce key"
	labelRecord      = "fieldsync seal v1 record key"
	labelRecordNonce = "fieldsync seal v1 record nonce key"
	labelWrap        = "fieldsync seal v1 wrap key"
)

// subkey derives the 32-byte subkey of k for label (HKDF-SHA256, no salt:
// k is uniformly random already).
func subkey(k *Key, label string) []byte {
	b, err := hkdf.Key(sha256.New, k[:], nil, label, 32)
	if err != nil {
		// Only a length over 255*32 bytes fails.
		panic("seal: hkdf: " + err.Error())
	}
	return b
}

// synthNonce is the first NonceSize bytes of HMAC-SHA256(key, parts...).
func synthNonce(dst *[NonceSize]byte, key []byte, parts ...[]byte) {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	var sum [sha256.Size]byte
	copy(dst[:], m.Sum(sum[:0]))
}
