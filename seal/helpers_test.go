package seal

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// testKey is a fixed key for tests (a real one comes from NewKey).
func testKey(b byte) Key {
	var k Key
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// pseudo returns n reproducible pseudo-random bytes.
func pseudo(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// plainCID is the profile CID of data, as the blob store names it.
func plainCID(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	s, err := chunk.Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return s.Root
}

// sealAll seals data with the streaming sealer.
func sealAll(t testing.TB, k Key, c cid.Cid, data []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(NewSealer(k, c, int64(len(data)), bytes.NewReader(data)))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openAll opens sealed with the streaming opener and returns what it gave
// before any error.
func openAll(k Key, c cid.Cid, sealed []byte) ([]byte, error) {
	return io.ReadAll(NewOpener(k, c, int64(len(sealed)), bytes.NewReader(sealed)))
}

// sealedLeaves cuts sealed bytes into their leaves.
func sealedLeaves(sealed []byte) [][]byte {
	var ls [][]byte
	for len(sealed) > LeafSealed {
		ls = append(ls, sealed[:LeafSealed])
		sealed = sealed[LeafSealed:]
	}
	return append(ls, sealed)
}
