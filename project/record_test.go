package project

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

func TestRecordRoundTrip(t *testing.T) {
	id := newIdentity(t)
	proj := fakeCID("x")
	proj = cid.NewCidV1(codecDagCBOR, proj.Hash())
	o := &Observation{ID: "obs1", Created: t0, Updated: t0, Position: &Position{Lat: -3.1, Lon: -60.02, Accuracy: 4.5},
		Tags: []string{"river", "erosion"}, Notes: "bank collapsed", Attachments: []Attachment{photo("a.jpg")}}
	r, err := newRecord(id, proj, 1, cid.Undef, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.CID.Type() != codecDagCBOR || r.CID.Version() != 1 {
		t.Fatalf("CID %v", r.CID)
	}
	got, err := DecodeRecord(r.Block)
	if err != nil {
		t.Fatal(err)
	}
	if got.CID != r.CID || got.Author != id.PeerID() || got.Observation.Position.Lat != -3.1 ||
		got.Observation.Attachments[0].Thumbnail.Width != 400 || !got.Observation.Created.Equal(t0) {
		t.Fatalf("round trip: %+v", got)
	}
	// Keys are sorted length-first: "v", "seq", "sig", "body", "kind", ...
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(r.Block, &m); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(r.Block, []byte{0xa7, 0x61, 'v', 0x01, 0x63, 's', 'e', 'q'}) {
		t.Fatalf("block starts %s", hex.EncodeToString(r.Block[:16]))
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	id := newIdentity(t)
	r, err := newRecord(id, cid.Undef, 1, cid.Undef, &Genesis{Name: "p", Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	// Re-encode the same map with unsorted keys: must be refused.
	var raw map[string]cbor.RawMessage
	if err := cbor.Unmarshal(r.Block, &raw); err != nil {
		t.Fatal(err)
	}
	keys := []string{"author", "kind", "body", "sig", "seq", "v"} // reversed
	b := []byte{0xa0 | byte(len(keys))}
	for _, k := range keys {
		kb, _ := cbor.Marshal(k)
		b = append(append(b, kb...), raw[k]...)
	}
	wantErr(t, func() error { _, err := DecodeRecord(b); return err }(), ErrMalformed)
	var m map[string]any
	if err := cbor.Unmarshal(r.Block, &m); err != nil {
		t.Fatal(err)
	}
	// An extra field must be refused.
	m["extra"] = 1
	em2, _ := cbor.EncOptions{Sort: cbor.SortLengthFirst}.EncMode()
	b, _ = em2.Marshal(m)
	wantErr(t, func() error { _, err := DecodeRecord(b); return err }(), ErrMalformed)
	// Trailing bytes.
	wantErr(t, func() error { _, err := DecodeRecord(append(bytes.Clone(r.Block), 0)); return err }(), ErrMalformed)
	// Flipped signature byte.
	bad := bytes.Clone(r.Block)
	bad[len(bad)-1] ^= 1
	wantErr(t, func() error { _, err := DecodeRecord(bad); return err }(), ErrBadSignature)
}
