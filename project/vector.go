package project

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// VersionVector maps each author to the highest seq of its log that a
// device holds. Logs are append-only and applied without gaps, so the vector
// says exactly which records a device has.
type VersionVector map[peer.ID]uint64

// MaxVectorAuthors caps the authors a decoded vector may name.
const MaxVectorAuthors = 1 << 16

// Clone returns a copy of v.
func (v VersionVector) Clone() VersionVector {
	c := make(VersionVector, len(v))
	for k, s := range v {
		c[k] = s
	}
	return c
}

// Covers reports whether v holds every record that o holds.
func (v VersionVector) Covers(o VersionVector) bool {
	for a, s := range o {
		if v[a] < s {
			return false
		}
	}
	return true
}

// Ahead returns, for each author where v is ahead of o, the first seq o
// lacks (o's seq + 1). It costs O(authors).
func (v VersionVector) Ahead(o VersionVector) map[peer.ID]uint64 {
	var m map[peer.ID]uint64
	for a, s := range v {
		if t := o[a]; s > t {
			if m == nil {
				m = make(map[peer.ID]uint64)
			}
			m[a] = t + 1
		}
	}
	return m
}

// Total returns the number of records v counts.
func (v VersionVector) Total() uint64 {
	var n uint64
	for _, s := range v {
		n += s
	}
	return n
}

type wireVectorEntry struct {
	_      struct{} `cbor:",toarray"`
	Author []byte
	Seq    uint64
}

// MarshalBinary encodes v as canonical dag-cbor: a list of [author, seq]
// pairs sorted by author bytes (dag-cbor map keys must be strings, and peer
// IDs are bytes). Authors with seq 0 are left out.
func (v VersionVector) MarshalBinary() ([]byte, error) {
	es := make([]wireVectorEntry, 0, len(v))
	for a, s := range v {
		if s > 0 {
			es = append(es, wireVectorEntry{Author: []byte(a), Seq: s})
		}
	}
	slices.SortFunc(es, func(x, y wireVectorEntry) int { return bytes.Compare(x.Author, y.Author) })
	return encMode.Marshal(es)
}

// UnmarshalBinary decodes what MarshalBinary wrote; anything else (unsorted,
// duplicate or invalid authors, zero seqs, too many entries) is an error.
func (v *VersionVector) UnmarshalBinary(b []byte) error {
	var es []wireVectorEntry
	if len(b) == 0 || b[0]>>5 != 4 {
		return errors.New("decode version vector: not a list")
	}
	if err := decodeStrict(b, &es); err != nil {
		return fmt.Errorf("decode version vector: %w", err)
	}
	if len(es) > MaxVectorAuthors {
		return errors.New("decode version vector: too many authors")
	}
	m := make(VersionVector, len(es))
	for i, e := range es {
		if i > 0 && bytes.Compare(es[i-1].Author, e.Author) >= 0 {
			return errors.New("decode version vector: authors not sorted")
		}
		a, err := peer.IDFromBytes(e.Author)
		if err != nil || e.Seq == 0 {
			return fmt.Errorf("decode version vector: entry %d invalid", i)
		}
		m[a] = e.Seq
	}
	*v = m
	return nil
}
