// Package seal encrypts a project's blobs and records for a blind archive:
// an always-on peer that stores, serves and verifies (by hash) what it
// holds, and cannot read a byte of it. It is the building block only; the
// exchange and the node decide what to seal, when, and where the mapping
// from plain to sealed CIDs lives (in sealed records). docs/sealing.md
// describes the format byte by byte and what an archive sees.
//
// Words used here:
//
//   - project key (Key): 32 random bytes, one per key epoch (Epoch).
//     Nothing is sealed under it directly: HKDF-SHA256 derives a subkey for
//     each use under its own label ("fieldsync seal v1 blob key", "… blob
//     nonce key", "… record key", "… record nonce key").
//   - plain blob, plain CID: a blob as the store keeps it and its CID under
//     the chunk profile.
//   - sealed blob: the concatenation of its sealed leaves. It has no
//     header: nothing in it says which blob or which epoch it is.
//   - sealed leaf i: nonce (24) || XChaCha20-Poly1305 ciphertext of plain
//     bytes [i·LeafPlain, (i+1)·LeafPlain) || tag (16). Every sealed leaf but
//     the last is exactly LeafSealed = chunk.ChunkSize (1 MiB) bytes, so the
//     chunk profile cuts the sealed blob exactly at its sealed leaves: the
//     sealed CID (SealedCID) names each sealed leaf, a receiver checks each
//     by its hash on arrival, before it has any key, and a member opens each
//     alone (OpenLeaf), so transfers resume leaf by leaf.
//   - sealed CID: the chunk-profile CID of the sealed bytes, the name the
//     archive keeps the blob under. Kubo (`ipfs add --only-hash` under
//     unixfs-v1-2025) gives the same CID for the same bytes, and sha256sum
//     of each 1 MiB leaf gives the digests in the sealed skeleton (of the
//     whole file, for a one-leaf blob), so fixity needs no key and no code
//     of ours.
//   - sealed record: nonce (24) || ciphertext || tag (16) of one record
//     block (SealRecord).
//   - wrapped key: an epoch key sealed to one member's libp2p Ed25519
//     identity key (WrapKey); Keyring holds a member's keys by epoch.
//
// # Leaves
//
// The associated data of leaf i binds it to its place:
//
//	uint16 len(plain CID) || plain CID bytes || uint64 i || byte last
//
// (big-endian), so a leaf moved to another index or another blob, a blob
// cut after any leaf, or extended, fails to open, and the error (a
// *LeafError wrapping ErrTampered) names the leaf. An empty blob seals to
// one leaf of Overhead (40) bytes, so that even its end is authenticated.
//
// The nonce is synthetic: the first 24 bytes of HMAC-SHA256, under the blob
// nonce key, of the associated data followed by the leaf's plain bytes.
// Sealing is therefore deterministic within a key: two members sealing the
// same blob produce the same bytes and the same sealed CID, so an archive
// (or a member) can fetch a sealed blob's leaves from several sources.
//
// # Changes from the first design, and why
//
// The design this package was written from derived each leaf's nonce from
// (plain CID, leaf index, total plain size) only, kept it out of the
// sealed bytes (the opener recomputing it) and sealed LeafPlain = 1 MiB −
// 16 bytes per leaf. Two flaws:
//
//  1. Nonce reuse with different plaintexts. Such a nonce depends on what
//     the caller says the bytes are, not on the bytes. Whenever a sealer is
//     fed bytes that are not the CID's (a photo that rotted on a member's
//     disk since its last fixity check, a truncated read, a bug upstream),
//     two different plaintexts are sealed under the same key and nonce, and
//     both may reach the archive under different sealed CIDs. For
//     XChaCha20-Poly1305 that reveals the XOR of the two plaintexts and
//     reuses a Poly1305 one-time key, which lets whoever holds both forge
//     leaves at that position. Nothing at this layer can check the bytes
//     against the CID (plain leaves of 1 MiB − 40 do not line up with the
//     plain blob's 1 MiB leaves). So the nonce is now derived from the
//     leaf's bytes as well (the construction the design already chose for
//     records: a synthetic nonce stored in front): a nonce repeats only for
//     the same key, CID, index, flag and bytes, that is for a sealed leaf
//     that is identical anyway. The cost is one HMAC-SHA256 pass over the
//     plaintext (see BenchmarkSeal) and 24 bytes a leaf, so LeafPlain is
//     1 MiB − 40.
//  2. The total plain size was an input of the nonce, but SealLeaf and
//     OpenLeaf, which must work on one leaf alone, are not given it. It is
//     dropped: the plain CID already commits to the size, and the last-leaf
//     flag in the associated data catches truncation and extension.
//
// Also: a plain blob is limited to MaxPlainSize (chunk.MaxSize less 40
// bytes a leaf), so that its sealed form fits chunk.MaxSize; records are
// limited to MaxRecordSize (one sealed leaf) and carry a constant label as
// associated data.
//
// # Records
//
// SealRecord is deterministic too: the nonce is HMAC-SHA256 of the block
// under the record nonce key. A sealed record says nothing of its epoch;
// Keyring.OpenRecord tries the keys newest first.
//
// # Key epochs
//
// Each epoch has an independent random key: holding one epoch's key tells
// nothing of another's. Blocking a member starts a new epoch
// (Keyring.Next); its key is wrapped (WrapKey) to each remaining member's
// own Ed25519 identity key and the wrapped keys can be kept by the archive
// like anything else. Everything sealed afterwards uses the new key, so a
// blocked device that later gets a copy of the archive's disk opens
// nothing sealed after its block; what was sealed before, it could read
// when it was a member. WrapKey converts the Ed25519 public key to X25519
// (filippo.io/edwards25519's BytesMontgomery) and the private key by
// SHA-512 of its seed, clamped, as age does for ssh-ed25519 recipients;
// then ephemeral X25519, HKDF-SHA256 and XChaCha20-Poly1305 with the
// epoch and the recipient's key bound in the associated data.
//
// # Primitives
//
// No primitive is written here: XChaCha20-Poly1305 from
// golang.org/x/crypto/chacha20poly1305; HKDF, HMAC, SHA-256, SHA-512, X25519
// (crypto/ecdh), Ed25519 and the random source from the standard library;
// the Edwards-to-Montgomery map from filippo.io/edwards25519. This package
// only composes them, and every composition is the documented one above.
package seal
