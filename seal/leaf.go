package seal

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the sealed leaf format.
const (
	// NonceSize is the size of the synthetic nonce at the head of every
	// sealed leaf and sealed record (XChaCha20-Poly1305's nonce).
	NonceSize = chacha20poly1305.NonceSizeX
	// TagSize is the size of the Poly1305 tag at the end of every sealed
	// leaf and sealed record.
	TagSize = chacha20poly1305.Overhead
	// Overhead is what sealing adds to each leaf and to a record.
	Overhead = NonceSize + TagSize
	// LeafSealed is the size of every sealed leaf but the last: exactly one
	// leaf of the chunk profile (chunk.ChunkSize, 1 MiB), so that the
	// sealed blob's CID names each sealed leaf and each can be checked on
	// arrival by its hash.
	LeafSealed = chunk.ChunkSize
	// LeafPlain is the number of plain bytes in every sealed leaf but the
	// last: 1 MiB minus Overhead.
	LeafPlain = LeafSealed - Overhead
	// MaxLeaves is the largest number of leaves of a sealed blob: the
	// sealed bytes must fit in chunk.MaxSize.
	MaxLeaves = chunk.MaxSize / LeafSealed
	// MaxPlainSize is the largest plain blob that can be sealed: 2.5 MiB
	// less than chunk.MaxSize, the price of the overhead of 65,536 leaves.
	MaxPlainSize = MaxLeaves * LeafPlain
)

// LeafError reports a sealed leaf that does not open. It wraps ErrTampered.
type LeafError struct {
	Leaf   int    // index of the leaf, from 0
	Reason string // what was wrong, for people
}

func (e *LeafError) Error() string {
	return fmt.Sprintf("seal: leaf %d: %s", e.Leaf, e.Reason)
}

// Unwrap makes errors.Is(err, ErrTampered) true.
func (e *LeafError) Unwrap() error { return ErrTampered }

// Leaves returns how many leaves a sealed blob of plain bytes has: at least
// one (an empty blob seals to one leaf of Overhead bytes, so that even its
// end is authenticated).
func Leaves(plain int64) int {
	if plain <= 0 {
		return 1
	}
	return int((plain + LeafPlain - 1) / LeafPlain)
}

// SealedSize returns the size of the sealed form of a plain blob of plain
// bytes: plain plus Overhead per leaf. It panics if plain is negative; a
// plain size over MaxPlainSize gives a size no sealer will produce.
func SealedSize(plain int64) int64 {
	if plain < 0 {
		panic("seal: negative size")
	}
	return plain + int64(Leaves(plain))*Overhead
}

// PlainSize inverts SealedSize. It fails (ErrMalformed) for a size no plain
// blob seals to: under Overhead, over SealedSize(MaxPlainSize), or a last
// leaf too short to hold a byte.
func PlainSize(sealed int64) (int64, error) {
	if sealed < Overhead || sealed > SealedSize(MaxPlainSize) {
		return 0, fmt.Errorf("%w: %d bytes is not a sealed blob's size", ErrMalformed, sealed)
	}
	full := (sealed - 1) / LeafSealed // leaves before the last
	last := sealed - full*LeafSealed
	if full > 0 && last <= Overhead {
		return 0, fmt.Errorf("%w: %d bytes is not a sealed blob's size (its last leaf would hold %d bytes)", ErrMalformed, sealed, last)
	}
	return sealed - (full+1)*Overhead, nil
}

// leafContext is the associated data of leaf i of the blob named c, and
// the prefix of its nonce's HMAC input:
//
//	uint16 len(CID) || CID bytes || uint64 i || byte last (0 or 1)
//
// all integers big-endian.
func leafContext(dst []byte, c cid.Cid, i int, last bool) []byte {
	b := c.Bytes()
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(b)))
	dst = append(dst, b...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(i))
	if last {
		return append(dst, 1)
	}
	return append(dst, 0)
}

// leafKeys is a project key's blob subkeys, ready to seal or open leaves.
type leafKeys struct {
	aead  cipher.AEAD
	nonce []byte // HMAC key of the synthetic nonces
}

func newLeafKeys(k *Key) leafKeys {
	aead, err := chacha20poly1305.NewX(subkey(k, labelBlob))
	if err != nil {
		panic("seal: " + err.Error()) // only for a key of the wrong size
	}
	return leafKeys{aead: aead, nonce: subkey(k, labelBlobNonce)}
}

// seal appends the sealed form of plain (nonce || ciphertext || tag) to
// dst. plain may be dst's spare capacity at offset NonceSize exactly
// (sealing in place) or not overlap it at all.
func (lk leafKeys) seal(dst, plain, ad []byte) []byte {
	var nonce [NonceSize]byte
	synthNonce(&nonce, lk.nonce, ad, plain)
	dst = append(dst, nonce[:]...)
	return lk.aead.Seal(dst, nonce[:], plain, ad)
}

// open appends the plaintext of sealed to dst.
func (lk leafKeys) open(dst, sealed, ad []byte) ([]byte, error) {
	return lk.aead.Open(dst, sealed[:NonceSize], sealed[NonceSize:], ad)
}

// checkLeaf validates a leaf's index and the length of its plain (sealed
// false) or sealed (sealed true) bytes; it returns a reason, or "".
func leafLenReason(i, n int, last, sealed bool) string {
	full, min := LeafPlain, 0
	if sealed {
		full, min = LeafSealed, Overhead
	}
	if i > 0 {
		min++ // only a blob's only leaf may be empty
	}
	switch {
	case i < 0:
		return fmt.Sprintf("negative index %d", i)
	case i >= MaxLeaves:
		return fmt.Sprintf("index over the %d leaves a sealed blob may have", MaxLeaves)
	case !last && n != full:
		return fmt.Sprintf("%d bytes: a leaf before the last has %d", n, full)
	case last && (n < min || n > full):
		return fmt.Sprintf("%d bytes: a last leaf has %d to %d", n, min, full)
	}
	return ""
}

// SealLeaf appends to dst the sealed form of plain, leaf i of the blob
// whose plain CID is plainCID (last: it is the blob's last leaf), and
// returns the extended slice. A leaf before the last must be exactly
// LeafPlain bytes; the last one 1 to LeafPlain (0 only for the only leaf of
// an empty blob). The result is NonceSize + len(plain) + TagSize bytes:
// the synthetic nonce, the ciphertext and the tag.
//
// Sealing is deterministic: the same key, CID, index, flag and bytes always
// give the same sealed leaf. plain and dst's spare capacity must not
// overlap.
//
// SealLeaf panics on a length or index the format cannot hold: that is a
// bug in the caller, not a condition to handle.
func SealLeaf(dst, plain []byte, k Key, plainCID cid.Cid, i int, last bool) []byte {
	if r := leafLenReason(i, len(plain), last, false); r != "" {
		panic(fmt.Sprintf("seal: SealLeaf: leaf %d: %s", i, r))
	}
	if !plainCID.Defined() {
		panic("seal: SealLeaf: undefined CID")
	}
	var adBuf [128]byte
	ad := leafContext(adBuf[:0], plainCID, i, last)
	return newLeafKeys(&k).seal(dst, plain, ad)
}

// OpenLeaf checks and decrypts sealed, leaf i of the blob whose plain CID
// is plainCID (last: it is the blob's last leaf), and appends its plain
// bytes to dst. To open in place, pass sealed[NonceSize:NonceSize] as dst.
//
// Any failure is a *LeafError naming leaf i (errors.Is(err, ErrTampered)):
// a wrong length, or bytes that do not authenticate under this key for
// this CID, index and flag. Nothing is appended then.
func OpenLeaf(dst, sealed []byte, k Key, plainCID cid.Cid, i int, last bool) ([]byte, error) {
	if r := leafLenReason(i, len(sealed), last, true); r != "" {
		return dst, &LeafError{Leaf: i, Reason: r}
	}
	var adBuf [128]byte
	ad := leafContext(adBuf[:0], plainCID, i, last)
	out, err := newLeafKeys(&k).open(dst, sealed, ad)
	if err != nil {
		return dst, &LeafError{Leaf: i, Reason: "does not authenticate (modified, moved, from another blob, or another key)"}
	}
	return out, nil
}
