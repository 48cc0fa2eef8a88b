package chunk_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/fieldsync/fieldsync/chunk"
)

func TestLeafHasher(t *testing.T) {
	data := make([]byte, 300_001)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	l := chunk.Leaf{CID: chunk.RawCID(data), Size: len(data)}
	parts := func(b []byte, size int) [][]byte {
		var out [][]byte
		for len(b) > size {
			out = append(out, b[:size])
			b = b[size:]
		}
		return append(out, b)
	}
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"whole", data, true},
		{"short", data[:len(data)-1], false},
		{"long", append(append([]byte{}, data...), 0), false},
		{"flipped", func() []byte { b := append([]byte{}, data...); b[12345] ^= 1; return b }(), false},
	} {
		for _, size := range []int{1 << 10, 128 << 10, len(tc.data) + 1} {
			h := chunk.NewLeafHasher(l)
			for _, p := range parts(tc.data, size) {
				h.Write(p)
			}
			if h.Written() != len(tc.data) {
				t.Fatalf("%s: Written %d, want %d", tc.name, h.Written(), len(tc.data))
			}
			err := h.Verify()
			if want := chunk.VerifyLeaf(l, tc.data); (err == nil) != (want == nil) {
				t.Fatalf("%s in parts of %d: Verify %v, VerifyLeaf %v", tc.name, size, err, want)
			}
			var ve *chunk.VerifyError
			if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
				t.Fatalf("%s in parts of %d: %v", tc.name, size, err)
			}
		}
	}
}
