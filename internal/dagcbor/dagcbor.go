// Package dagcbor holds the two DAG-CBOR facts that project/ (signed
// records) and archive/ (CAR manifests) share: how a block is named, and
// how a link (tag 42) carries a CID. Each package keeps its own encoder
// options, since they accept different shapes.
package dagcbor

import (
	"crypto/sha256"
	"errors"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Codec is the multicodec of dag-cbor blocks.
const Codec = 0x71

// CID returns the CIDv1 (dag-cbor, sha2-256) of block.
func CID(block []byte) cid.Cid {
	sum := sha256.Sum256(block)
	m, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err) // cannot happen with a 32-byte digest
	}
	return cid.NewCidV1(Codec, m)
}

// LinkCID parses the byte string inside a link's tag 42: a 0x00 multibase
// prefix, then a binary CID and nothing after it.
func LinkCID(b []byte) (cid.Cid, error) {
	if len(b) < 2 || b[0] != 0 {
		return cid.Undef, errors.New("link without its 0x00 multibase prefix")
	}
	n, c, err := cid.CidFromBytes(b[1:])
	if err != nil {
		return cid.Undef, err
	}
	if n != len(b)-1 {
		return cid.Undef, errors.New("trailing bytes after the CID of a link")
	}
	return c, nil
}
