package dagcbor

import (
	"testing"

	"github.com/ipfs/go-cid"
)

func TestCID(t *testing.T) {
	// {} in dag-cbor (0xa0), as Kubo names it.
	if got := CID([]byte{0xa0}).String(); got != "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua" {
		t.Errorf("CID({}) = %s", got)
	}
}

func FuzzLinkCID(f *testing.F) {
	c := CID([]byte{0xa0})
	f.Add(append([]byte{0}, c.Bytes()...))
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := LinkCID(b)
		if err != nil {
			return
		}
		if !got.Defined() || string(append([]byte{0}, got.Bytes()...)) != string(b) {
			t.Fatalf("LinkCID(%x) = %s, which does not encode back", b, got)
		}
		_ = cid.Undef
	})
}
