package project

import (
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync/internal/dagcbor"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// DAG-CBOR (https://ipld.io/specs/codecs/dag-cbor/spec/) in the strict form
// this package writes and accepts: map keys sorted length-first then
// bytewise, definite lengths only, integers in their shortest form, floats
// always as 64-bit, no tags other than 42 (a CID link: byte string with a
// leading 0x00). Decoding re-encodes what it read and requires the same
// bytes, so every accepted block has exactly one encoding.

// codecDagCBOR is the multicodec of dag-cbor blocks.
const codecDagCBOR = dagcbor.Codec

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		ShortestFloat: cbor.ShortestFloatNone,
		NaNConvert:    cbor.NaNConvertReject,
		InfConvert:    cbor.InfConvertReject,
		BigIntConvert: cbor.BigIntConvertReject,
		IndefLength:   cbor.IndefLengthForbidden,
		TagsMd:        cbor.TagsAllowed,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxNestedLevels:  12,
		MaxArrayElements: MaxVectorAuthors,
		MaxMapPairs:      64,
		TagsMd:           cbor.TagsAllowed,
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// errNotCanonical means a block decoded but is not in the one encoding this
// package accepts (key order, lengths, float width, unknown or empty fields).
var errNotCanonical = errors.New("not canonical dag-cbor")

// link is a CID encoded as a dag-cbor link: tag 42 around a byte string
// holding 0x00 and the binary CID.
type link struct{ c cid.Cid }

func (l link) MarshalCBOR() ([]byte, error) {
	if !l.c.Defined() {
		return nil, errors.New("encode link: undefined CID")
	}
	b := make([]byte, 0, 1+l.c.ByteLen())
	b = append(b, 0)
	b = append(b, l.c.Bytes()...)
	return encMode.Marshal(cbor.Tag{Number: 42, Content: b})
}

func (l *link) UnmarshalCBOR(data []byte) error {
	var t cbor.RawTag
	if err := decMode.Unmarshal(data, &t); err != nil {
		return err
	}
	if t.Number != 42 {
		return fmt.Errorf("link: tag %d, want 42", t.Number)
	}
	var b []byte
	if err := decMode.Unmarshal(t.Content, &b); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	c, err := dagcbor.LinkCID(b)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if c.Version() != 1 {
		return errors.New("link: CID version 0")
	}
	l.c = c
	return nil
}

func linkOf(c cid.Cid) *link {
	if !c.Defined() {
		return nil
	}
	return &link{c}
}

func (l *link) cid() cid.Cid {
	if l == nil {
		return cid.Undef
	}
	return l.c
}

// blockCID returns the CIDv1 (dag-cbor, sha2-256) of block.
func blockCID(block []byte) cid.Cid { return dagcbor.CID(block) }

// decodeStrict decodes data into v and requires that re-encoding v gives
// data back byte for byte.
func decodeStrict(data []byte, v any) error {
	rest, err := decMode.UnmarshalFirst(data, v)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes")
	}
	again, err := encMode.Marshal(v)
	if err != nil {
		return err
	}
	if string(again) != string(data) {
		return errNotCanonical
	}
	return nil
}
