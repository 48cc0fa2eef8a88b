package seal

import (
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// MaxRecordSize is the largest record (plain block) SealRecord takes:
// LeafPlain, so that a sealed record is at most one chunk leaf (1 MiB). A
// project's records are far smaller (64 KiB at most today).
const MaxRecordSize = LeafPlain

// recordAD is the associated data of every sealed record: it keeps a
// sealed record from being taken for anything else sealed under a key
// derived from the same project key, whatever later formats add.
var recordAD = []byte("fieldsync seal v1 record")

// SealRecord seals block (a record, at most MaxRecordSize bytes) under k:
//
//	nonce (24) || XChaCha20-Poly1305 ciphertext (len(block)) || tag (16)
//
// The nonce is synthetic: the first 24 bytes of HMAC-SHA256 of the block
// under k's record nonce key. Sealing is deterministic: the same block
// under the same key gives the same bytes (and so the same CID). It panics
// on a block over MaxRecordSize, a caller's bug.
func SealRecord(k Key, block []byte) []byte {
	if len(block) > MaxRecordSize {
		panic(fmt.Sprintf("seal: SealRecord: %d bytes, over the %d a record may have", len(block), MaxRecordSize))
	}
	aead, nk := recordKeys(&k)
	var nonce [NonceSize]byte
	synthNonce(&nonce, nk, block)
	out := make([]byte, NonceSize, NonceSize+len(block)+TagSize)
	copy(out, nonce[:])
	return aead.Seal(out, nonce[:], block, recordAD)
}

// OpenRecord checks and decrypts a record sealed by SealRecord. Bytes too
// short to be a sealed record fail with ErrMalformed, too long with
// ErrTooLarge, and any that do not authenticate under k with ErrTampered.
func OpenRecord(k Key, sealed []byte) ([]byte, error) {
	switch {
	case len(sealed) < Overhead:
		return nil, fmt.Errorf("%w: sealed record of %d bytes, under the %d of nonce and tag", ErrMalformed, len(sealed), Overhead)
	case len(sealed) > MaxRecordSize+Overhead:
		return nil, fmt.Errorf("%w: sealed record of %d bytes, over the %d a sealed record may have", ErrTooLarge, len(sealed), MaxRecordSize+Overhead)
	}
	aead, _ := recordKeys(&k)
	block, err := aead.Open(nil, sealed[:NonceSize], sealed[NonceSize:], recordAD)
	if err != nil {
		return nil, fmt.Errorf("%w: sealed record does not open with this key (modified, or sealed under another epoch)", ErrTampered)
	}
	return block, nil
}

func recordKeys(k *Key) (aead cipher.AEAD, nonceKey []byte) {
	a, err := chacha20poly1305.NewX(subkey(k, labelRecord))
	if err != nil {
		panic("seal: " + err.Error())
	}
	return a, subkey(k, labelRecordNonce)
}
