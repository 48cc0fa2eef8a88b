package seal

import (
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/chacha20poly1305"
)

// Epoch numbers a project key. A project starts at some epoch; blocking a
// member moves the remaining members to the next one, under a fresh key.
type Epoch uint32

// WrappedSize is the size of a wrapped key (WrapKey), 85 bytes:
//
//	version (1) || epoch (4, big-endian) || ephemeral X25519 public key (32)
//	|| XChaCha20-Poly1305 ciphertext of the key (32) || tag (16)
const WrappedSize = wrapHeader + KeySize + TagSize

const (
	wrapVersion = 1
	wrapHeader  = 1 + 4 + 32 // version, epoch, ephemeral key
)

// WrapKey seals the epoch key k to one member: to the X25519 form of its
// libp2p Ed25519 identity key (recipient), so that only the holder of the
// matching private key can unwrap it, and the archive that stores and
// serves the result learns nothing.
//
// It is the construction age uses for ssh-ed25519 recipients, minus age's
// tag: the recipient's Ed25519 public key is mapped to its Montgomery (X25519)
// form; a fresh ephemeral X25519 key agrees a secret with it; HKDF-SHA256
// (salt: ephemeral public || recipient X25519 public) turns the secret into
// a one-time key; XChaCha20-Poly1305 seals k under it, with a zero nonce
// (the key is never used twice) and, as associated data, the header
// (version, epoch, ephemeral key) and the recipient's Ed25519 key, so that
// neither the epoch nor the recipient can be changed without detection.
func WrapKey(k Key, epoch Epoch, recipient ed25519.PublicKey) ([]byte, error) {
	if len(recipient) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: recipient key of %d bytes, want %d", ErrMalformed, len(recipient), ed25519.PublicKeySize)
	}
	p, err := new(edwards25519.Point).SetBytes(recipient)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient key is not an Ed25519 point", ErrMalformed)
	}
	rx, err := ecdh.X25519().NewPublicKey(p.BytesMontgomery())
	if err != nil {
		return nil, fmt.Errorf("%w: recipient key: %v", ErrMalformed, err)
	}
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap: %w", err)
	}
	shared, err := eph.ECDH(rx)
	if err != nil {
		// A low-order recipient point: no secret to agree.
		return nil, fmt.Errorf("%w: recipient key is a low-order point", ErrMalformed)
	}
	out := make([]byte, wrapHeader, WrappedSize)
	out[0] = wrapVersion
	binary.BigEndian.PutUint32(out[1:5], uint32(epoch))
	copy(out[5:], eph.PublicKey().Bytes())
	aead, err := wrapAEAD(shared, out[5:wrapHeader], rx.Bytes())
	if err != nil {
		return nil, err
	}
	var nonce [NonceSize]byte
	return aead.Seal(out, nonce[:], k[:], wrapAD(out[:wrapHeader], recipient)), nil
}

// UnwrapKey opens a key wrapped by WrapKey with the recipient's Ed25519
// private key (a libp2p identity key's 64 raw bytes). It returns the key
// and its epoch. Bytes of the wrong size or version fail with
// ErrMalformed; a key wrapped for someone else, or modified, fails with
// ErrTampered.
func UnwrapKey(wrapped []byte, priv ed25519.PrivateKey) (Key, Epoch, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Key{}, 0, fmt.Errorf("%w: private key of %d bytes, want %d", ErrMalformed, len(priv), ed25519.PrivateKeySize)
	}
	if len(wrapped) != WrappedSize {
		return Key{}, 0, fmt.Errorf("%w: wrapped key of %d bytes, want %d", ErrMalformed, len(wrapped), WrappedSize)
	}
	if wrapped[0] != wrapVersion {
		return Key{}, 0, fmt.Errorf("%w: wrapped key version %d, want %d", ErrMalformed, wrapped[0], wrapVersion)
	}
	epoch := Epoch(binary.BigEndian.Uint32(wrapped[1:5]))
	x, err := x25519Private(priv)
	if err != nil {
		return Key{}, 0, err
	}
	eph, err := ecdh.X25519().NewPublicKey(wrapped[5:wrapHeader])
	if err != nil {
		return Key{}, 0, fmt.Errorf("%w: wrapped key: %v", ErrMalformed, err)
	}
	shared, err := x.ECDH(eph)
	if err != nil {
		return Key{}, 0, fmt.Errorf("%w: wrapped key: ephemeral key is a low-order point", ErrTampered)
	}
	aead, err := wrapAEAD(shared, wrapped[5:wrapHeader], x.PublicKey().Bytes())
	if err != nil {
		return Key{}, 0, err
	}
	var nonce [NonceSize]byte
	var k Key
	pub := ed25519.NewKeyFromSeed(priv.Seed()).Public().(ed25519.PublicKey) // not priv[32:], which a bad key file may contradict
	if _, err := aead.Open(k[:0], nonce[:], wrapped[wrapHeader:], wrapAD(wrapped[:wrapHeader], pub)); err != nil {
		return Key{}, 0, fmt.Errorf("%w: wrapped key does not open with this private key (wrapped for another member, or modified)", ErrTampered)
	}
	return k, epoch, nil
}

// x25519Private converts an Ed25519 private key to the X25519 private key
// whose public key is the Montgomery form of the Ed25519 public key: the
// first half of SHA-512 of the seed (the Ed25519 secret scalar's source),
// clamped as RFC 7748 says (crypto/ecdh clamps too; doing it here keeps
// the conversion explicit).
func x25519Private(priv ed25519.PrivateKey) (*ecdh.PrivateKey, error) {
	h := sha512.Sum512(priv.Seed())
	s := h[:32]
	s[0] &= 248
	s[31] &= 127
	s[31] |= 64
	x, err := ecdh.X25519().NewPrivateKey(s)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %v", ErrMalformed, err)
	}
	return x, nil
}

func wrapAEAD(shared, ephPub, recipientX []byte) (cipher.AEAD, error) {
	salt := make([]byte, 0, 64)
	salt = append(append(salt, ephPub...), recipientX...)
	wk, err := hkdf.Key(sha256.New, shared, salt, labelWrap, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("seal: wrap: %w", err)
	}
	return chacha20poly1305.NewX(wk)
}

// wrapAD is the wrapped key's associated data: its header, then the
// recipient's Ed25519 public key.
func wrapAD(header []byte, recipient ed25519.PublicKey) []byte {
	ad := make([]byte, 0, len(header)+len(recipient))
	return append(append(ad, header...), recipient...)
}
