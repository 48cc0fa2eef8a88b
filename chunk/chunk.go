package chunk

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Profile parameters of unixfs-v1-2025.
const (
	// ChunkSize is the fixed size of every leaf but the last.
	ChunkSize = 1 << 20
	// MaxLinks is the largest number of children of a dag-pb node.
	MaxLinks = 1024
)

// Errors callers branch on.
var (
	// ErrMalformed wraps every reason a skeleton is refused.
	ErrMalformed = errors.New("chunk: malformed skeleton")
	// ErrMismatch means bytes do not hash to the CID they were claimed for.
	ErrMismatch = errors.New("chunk: hash mismatch")
)

// VerifyError reports a block whose bytes do not match its CID.
type VerifyError struct {
	Want cid.Cid // the CID the bytes were claimed for
	Got  cid.Cid // the CID the bytes hash to (same codec)
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("chunk: block %s: bytes hash to %s", e.Want, e.Got)
}

// Unwrap makes errors.Is(err, ErrMismatch) true.
func (e *VerifyError) Unwrap() error { return ErrMismatch }

// Leaf is one chunk of a blob: its CID, where it sits in the blob and how
// long it is.
type Leaf struct {
	CID    cid.Cid
	Offset int64
	Size   int
}

// End is the offset just past the leaf.
func (l Leaf) End() int64 { return l.Offset + int64(l.Size) }

// RawCID returns the CID of data as a raw leaf (CIDv1, raw, sha2-256).
func RawCID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return cidFromSum(cid.Raw, sum[:])
}

// PBCID returns the CID of data as a dag-pb node.
func PBCID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return cidFromSum(cid.DagProtobuf, sum[:])
}

func cidFromSum(codec uint64, sum []byte) cid.Cid {
	// 0x12 = sha2-256, 0x20 = 32 bytes.
	buf := make([]byte, 0, 34)
	buf = append(buf, mh.SHA2_256, 32)
	buf = append(buf, sum...)
	return cid.NewCidV1(codec, mh.Multihash(buf))
}

// CheckCID reports whether c is a CID this profile can produce: CIDv1,
// sha2-256 with a full 32-byte digest, codec raw or dag-pb.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined CID", ErrMalformed)
	}
	p := c.Prefix()
	if p.Version != 1 {
		return fmt.Errorf("%w: %s is CIDv%d, want CIDv1", ErrMalformed, c, p.Version)
	}
	if p.MhType != mh.SHA2_256 || p.MhLength != 32 {
		return fmt.Errorf("%w: %s is not sha2-256", ErrMalformed, c)
	}
	if p.Codec != cid.Raw && p.Codec != cid.DagProtobuf {
		return fmt.Errorf("%w: %s has codec %#x, want raw or dag-pb", ErrMalformed, c, p.Codec)
	}
	return nil
}

// VerifyLeaf checks that data is exactly the leaf l: its length and its hash.
// A mismatch is a *VerifyError (errors.Is(err, ErrMismatch)).
func VerifyLeaf(l Leaf, data []byte) error {
	if len(data) != l.Size {
		return &VerifyError{Want: l.CID, Got: RawCID(data)}
	}
	return VerifyBlock(l.CID, data)
}

// VerifyBlock checks that data hashes to c (raw or dag-pb).
func VerifyBlock(c cid.Cid, data []byte) error {
	if err := CheckCID(c); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	got := cidFromSum(c.Prefix().Codec, sum[:])
	if got != c {
		return &VerifyError{Want: c, Got: got}
	}
	return nil
}

// LeafHasher verifies a leaf whose bytes arrive in order, in parts: each
// part is hashed as it is written, so a receiver that keeps every part as
// it comes need not read the leaf back to verify it. Write the parts in
// order from the leaf's first byte; Verify once the last has been written.
type LeafHasher struct {
	l Leaf
	h hash.Hash
	n int
}

// NewLeafHasher starts hashing leaf l from its first byte.
func NewLeafHasher(l Leaf) *LeafHasher {
	return &LeafHasher{l: l, h: sha256.New()}
}

// Written is the number of the leaf's leading bytes hashed so far.
func (lh *LeafHasher) Written() int { return lh.n }

// Write hashes the next part of the leaf. It never fails.
func (lh *LeafHasher) Write(p []byte) (int, error) {
	lh.h.Write(p)
	lh.n += len(p)
	return len(p), nil
}

// Verify checks that the bytes written are the whole leaf and hash to its
// CID, as VerifyLeaf does (a *VerifyError if not).
func (lh *LeafHasher) Verify() error {
	if err := CheckCID(lh.l.CID); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	got := cidFromSum(lh.l.CID.Prefix().Codec, lh.h.Sum(sum[:0]))
	if lh.n != lh.l.Size || got != lh.l.CID {
		return &VerifyError{Want: lh.l.CID, Got: got}
	}
	return nil
}
