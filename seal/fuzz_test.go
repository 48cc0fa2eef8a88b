package seal

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

// The fuzz targets feed arbitrary bytes to everything that parses what a
// peer or a disk hands over: no input may panic, and every refusal is one
// of the package's errors. `go test` runs their seeds; fuzz with, e.g.,
// go test -fuzz FuzzOpenLeaf -fuzztime 30s ./seal/

func FuzzOpenLeaf(f *testing.F) {
	k := testKey(21)
	data := []byte("a small blob, one leaf")
	c := plainCID(f, data)
	f.Add(SealLeaf(nil, data, k, c, 0, true), 0, true)
	f.Add(SealLeaf(nil, nil, k, c, 0, true), 0, true)
	f.Add([]byte{}, 0, false)
	f.Add(make([]byte, Overhead), 3, true)
	f.Fuzz(func(t *testing.T, sealed []byte, i int, last bool) {
		p, err := OpenLeaf(nil, sealed, k, c, i, last)
		if err != nil {
			if !isLeaf(err, i) {
				t.Fatalf("error %v is not a *LeafError for leaf %d", err, i)
			}
			return
		}
		// Whatever opens is what was sealed: seal it back.
		if !bytes.Equal(SealLeaf(nil, p, k, c, i, last), sealed) {
			t.Fatal("opened bytes do not seal back to the input")
		}
	})
}

func FuzzOpenRecord(f *testing.F) {
	k := testKey(22)
	f.Add(SealRecord(k, []byte("a record")))
	f.Add(SealRecord(k, nil))
	f.Add([]byte{})
	f.Add(make([]byte, Overhead-1))
	f.Fuzz(func(t *testing.T, sealed []byte) {
		b, err := OpenRecord(k, sealed)
		if err != nil {
			if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !bytes.Equal(SealRecord(k, b), sealed) {
			t.Fatal("opened record does not seal back to the input")
		}
	})
}

func FuzzUnwrapKey(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	w, err := WrapKey(testKey(23), 4, priv.Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w)
	f.Add([]byte{})
	f.Add(make([]byte, WrappedSize))
	bad := bytes.Clone(w)
	bad[0] = 2
	f.Add(bad)
	f.Fuzz(func(t *testing.T, wrapped []byte) {
		k, e, err := UnwrapKey(wrapped, priv)
		if err != nil {
			if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// Wrapping is randomised, so w differs in each fuzzing process:
		// check what it unwraps to instead.
		if k != testKey(23) || e != 4 {
			t.Fatalf("unwrapped a key never wrapped (epoch %d)", e)
		}
	})
}

func FuzzKeyring(f *testing.F) {
	var r Keyring
	r.Add(0, testKey(1))
	r.Add(3, testKey(2))
	b, _ := r.MarshalBinary()
	f.Add(b)
	var empty Keyring
	eb, _ := empty.MarshalBinary()
	f.Add(eb)
	f.Add([]byte("fskr"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Keyring
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		// One encoding per keyring: what decodes re-encodes to itself.
		again, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded keyring re-encodes differently: %v", err)
		}
	})
}
