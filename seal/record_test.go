package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestRecords(t *testing.T) {
	k := testKey(7)
	for _, n := range []int{0, 1, 200, 64 << 10, MaxRecordSize} {
		block := pseudo(uint64(n), n)
		s := SealRecord(k, block)
		if len(s) != n+Overhead {
			t.Fatalf("%d bytes sealed to %d", n, len(s))
		}
		if !bytes.Equal(SealRecord(k, block), s) {
			t.Fatalf("%d bytes: not deterministic", n)
		}
		got, err := OpenRecord(k, s)
		if err != nil || !bytes.Equal(got, block) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if _, err := OpenRecord(testKey(8), s); !errors.Is(err, ErrTampered) {
			t.Fatalf("%d bytes, another key: %v", n, err)
		}
		if n > 0 && bytes.Equal(SealRecord(testKey(8), block)[:NonceSize], s[:NonceSize]) {
			t.Fatalf("%d bytes: same nonce under another key", n)
		}
	}
	// Two blocks, two nonces; a flip anywhere is caught.
	a, b := SealRecord(k, []byte("record a")), SealRecord(k, []byte("record b"))
	if bytes.Equal(a[:NonceSize], b[:NonceSize]) {
		t.Fatal("two records share a nonce")
	}
	for j := range a {
		bad := bytes.Clone(a)
		bad[j] ^= 1 << (j % 8)
		if _, err := OpenRecord(k, bad); !errors.Is(err, ErrTampered) {
			t.Fatalf("flip at %d: %v", j, err)
		}
	}
	// A record is not a leaf, nor a leaf a record: different subkeys.
	c := plainCID(t, []byte("record a"))
	if _, err := OpenLeaf(nil, a, k, c, 0, true); !isLeaf(err, 0) {
		t.Fatalf("record opened as a leaf: %v", err)
	}
	if _, err := OpenRecord(k, SealLeaf(nil, []byte("record a"), k, c, 0, true)); !errors.Is(err, ErrTampered) {
		t.Fatalf("leaf opened as a record: %v", err)
	}
	// Sizes.
	if _, err := OpenRecord(k, a[:Overhead-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short: %v", err)
	}
	if _, err := OpenRecord(k, make([]byte, MaxRecordSize+Overhead+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long: %v", err)
	} else {
		t.Logf("a sealed record too large: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("SealRecord over MaxRecordSize did not panic")
			}
		}()
		SealRecord(k, make([]byte, MaxRecordSize+1))
	}()
}
