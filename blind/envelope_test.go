package blind

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

func testCID(s string) cid.Cid {
	h, _ := mh.Sum([]byte(s), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func sampleEnvelopes(t testing.TB) []*Envelope {
	id, err := project.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return []*Envelope{
		{Author: id.PeerID(), Seq: 1, Clear: []byte{0xa1, 0x61, 0x76, 0x01}},
		{Author: id.PeerID(), Seq: 7, Epoch: 3, Sealed: bytes.Repeat([]byte{9}, 100)},
		{Author: id.PeerID(), Seq: 8, Epoch: 1, Sealed: bytes.Repeat([]byte{1}, 41), Blobs: []Blob{
			{CID: testCID("a"), Class: blob.ClassThumbnail, Size: 1040, ObservedAt: time.UnixMilli(1700000000123).UTC()},
			{CID: testCID("b"), Class: blob.ClassOriginal, Size: 5 << 20, ObservedAt: time.UnixMilli(1).UTC()},
		}},
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for i, e := range sampleEnvelopes(t) {
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(i, err)
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatal(i, err)
		}
		again, _ := got.Marshal()
		if !bytes.Equal(again, b) || got.Author != e.Author || got.Seq != e.Seq || got.Epoch != e.Epoch ||
			!bytes.Equal(got.Clear, e.Clear) || !bytes.Equal(got.Sealed, e.Sealed) || len(got.Blobs) != len(e.Blobs) {
			t.Fatalf("%d: round trip %+v, want %+v", i, got, e)
		}
		for k := range e.Blobs {
			if got.Blobs[k] != e.Blobs[k] {
				t.Fatalf("%d: blob %d: %+v, want %+v", i, k, got.Blobs[k], e.Blobs[k])
			}
		}
	}
}

func TestEnvelopeRefused(t *testing.T) {
	e := sampleEnvelopes(t)
	bad := []*Envelope{
		{Author: e[0].Author, Seq: 0, Clear: []byte{1}},                                // seq 0
		{Author: e[0].Author, Seq: 1},                                                  // neither
		{Author: e[0].Author, Seq: 1, Clear: []byte{1}, Sealed: e[1].Sealed, Epoch: 1}, // both
		{Author: e[0].Author, Seq: 1, Clear: []byte{1}, Epoch: 2},                      // clear with an epoch
		{Author: e[0].Author, Seq: 1, Sealed: e[1].Sealed},                             // sealed without one
		{Author: e[0].Author, Seq: 1, Sealed: []byte{1, 2, 3}, Epoch: 1},               // too short
		{Author: e[0].Author, Seq: 1, Clear: []byte{1}, Blobs: e[2].Blobs},             // blobs of a clear record
		{Author: e[0].Author, Seq: 1, Epoch: 1, Sealed: e[1].Sealed, Blobs: []Blob{{CID: testCID("x"), Class: blob.ClassSkeleton, Size: 50}}},
	}
	for i, x := range bad {
		if _, err := x.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: Marshal: %v, want ErrMalformed", i, err)
		}
	}
	good, _ := e[2].Marshal()
	// Not canonical: the same envelope with a byte string in an indefinite
	// length encoding, a trailing byte, a cut.
	for i, b := range [][]byte{append(bytes.Clone(good), 0), good[:len(good)-1], {}, {0x80}, {0x87, 1, 2, 3, 4, 5, 6, 7}} {
		if _, err := Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d: Unmarshal: %v, want ErrMalformed", i, err)
		}
	}
}

func FuzzEnvelope(f *testing.F) {
	for _, e := range sampleEnvelopes(f) {
		b, _ := e.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := e.Marshal()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which encodes back to %x (%v)", b, again, err)
		}
	})
}
