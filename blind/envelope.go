// Package blind is a blind archive (issue 17): a device that stores,
// serves and verifies (by hash) a project it cannot read. It holds the
// project's records only as envelopes (Envelope: membership records in
// clear, every other record sealed under a project key it never gets) and
// its blobs only as sealed copies (package seal), in its own SQLite
// database and blob store. It implements the exchange's Records, Wants
// and Access over them. docs/protocol.md describes the envelope,
// docs/trust.md what an archive sees.
package blind

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/seal"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Envelope is the form of one record to and from a blind archive: the
// record's place in its author's log (author, seq), and either the record
// block in clear (membership records only: the archive verifies them to
// know who may sync and who is blocked) or the block sealed under the key
// of Epoch (seal.SealRecord), plus, in clear, the sealed blobs the record
// makes wanted (a seal record's entries, without their plain CIDs).
type Envelope struct {
	Author peer.ID
	Seq    uint64
	Epoch  seal.Epoch // 0 with Clear
	Clear  []byte     // a membership record block
	Sealed []byte     // seal.SealRecord(epoch key, block)
	Blobs  []Blob
}

// Blob is a sealed blob an envelope makes wanted.
type Blob struct {
	CID        cid.Cid
	Class      blob.Class
	Size       int64
	ObservedAt time.Time
}

// Limits of an envelope.
const (
	MaxEnvelope = seal.MaxRecordSize + seal.Overhead + 64<<10
	MaxBlobs    = 400
	version     = 1
)

// ErrMalformed is an envelope that does not decode, or not canonically.
var ErrMalformed = errors.New("blind: malformed envelope")

// The wire form, deterministic CBOR (RFC 8949 core deterministic
// encoding): an array
//
//	[1, author (bytes), seq, epoch, clear (bytes or null), sealed (bytes or null),
//	 [[sealed CID (bytes), class, size, observed (unix ms)], ...]]
type wireEnvelope struct {
	_      struct{} `cbor:",toarray"`
	V      int
	Author []byte
	Seq    uint64
	Epoch  uint32
	Clear  []byte
	Sealed []byte
	Blobs  []wireBlob
}

type wireBlob struct {
	_     struct{} `cbor:",toarray"`
	CID   []byte
	Class int
	Size  int64
	At    int64
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, MaxArrayElements: MaxBlobs + 16, MaxNestedLevels: 4,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}).DecMode(); err != nil {
		panic(err)
	}
}

func (e *Envelope) check() error {
	switch {
	case e.Seq == 0:
		return fmt.Errorf("%w: seq 0", ErrMalformed)
	case (len(e.Clear) > 0) == (len(e.Sealed) > 0):
		return fmt.Errorf("%w: exactly one of clear and sealed", ErrMalformed)
	case len(e.Clear) > 0 && (e.Epoch != 0 || len(e.Blobs) > 0):
		return fmt.Errorf("%w: a clear record has no epoch and no blobs", ErrMalformed)
	case len(e.Sealed) > 0 && e.Epoch == 0:
		return fmt.Errorf("%w: sealed without an epoch", ErrMalformed)
	case len(e.Sealed) > 0 && (len(e.Sealed) < seal.Overhead || len(e.Sealed) > seal.MaxRecordSize+seal.Overhead):
		return fmt.Errorf("%w: sealed record of %d bytes", ErrMalformed, len(e.Sealed))
	case len(e.Blobs) > MaxBlobs:
		return fmt.Errorf("%w: %d blobs", ErrMalformed, len(e.Blobs))
	}
	if _, err := e.Author.ExtractPublicKey(); err != nil {
		return fmt.Errorf("%w: author", ErrMalformed)
	}
	for _, b := range e.Blobs {
		if !b.CID.Defined() || b.Class < blob.ClassThumbnail || b.Class >= blob.NumClasses || b.Size < seal.Overhead {
			return fmt.Errorf("%w: blob", ErrMalformed)
		}
	}
	return nil
}

// Marshal encodes e.
func (e *Envelope) Marshal() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, err
	}
	w := wireEnvelope{V: version, Author: []byte(e.Author), Seq: e.Seq, Epoch: uint32(e.Epoch), Clear: e.Clear, Sealed: e.Sealed, Blobs: []wireBlob{}}
	for _, b := range e.Blobs {
		w.Blobs = append(w.Blobs, wireBlob{CID: b.CID.Bytes(), Class: int(b.Class), Size: b.Size, At: b.ObservedAt.UnixMilli()})
	}
	out, err := encMode.Marshal(&w)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxEnvelope {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(out))
	}
	return out, nil
}

// Unmarshal decodes an envelope, refusing anything but the canonical
// encoding of a well-formed one.
func Unmarshal(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelope {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	var w wireEnvelope
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V != version {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, w.V)
	}
	a, err := peer.IDFromBytes(w.Author)
	if err != nil {
		return nil, fmt.Errorf("%w: author", ErrMalformed)
	}
	e := &Envelope{Author: a, Seq: w.Seq, Epoch: seal.Epoch(w.Epoch), Clear: w.Clear, Sealed: w.Sealed}
	for _, x := range w.Blobs {
		c, err := cid.Cast(x.CID)
		if err != nil {
			return nil, fmt.Errorf("%w: blob CID", ErrMalformed)
		}
		e.Blobs = append(e.Blobs, Blob{CID: c, Class: blob.Class(x.Class), Size: x.Size, ObservedAt: time.UnixMilli(x.At).UTC()})
	}
	again, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not canonical", ErrMalformed)
	}
	return e, nil
}
