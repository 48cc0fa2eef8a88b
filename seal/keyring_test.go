package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestKeyring(t *testing.T) {
	var r Keyring
	if _, _, ok := r.Current(); ok || r.Len() != 0 {
		t.Fatal("empty keyring has a current key")
	}
	if _, _, err := r.OpenRecord(SealRecord(testKey(1), nil)); !errors.Is(err, ErrTampered) {
		t.Fatalf("empty keyring opened a record: %v", err)
	}
	for _, e := range []Epoch{5, 2, 9} {
		if err := r.Add(e, testKey(byte(e))); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(5, testKey(5)); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	if err := r.Add(5, testKey(6)); err == nil {
		t.Fatal("another key for epoch 5 accepted")
	}
	if e, k, ok := r.Current(); !ok || e != 9 || k != testKey(9) {
		t.Fatalf("current: %d %v", e, ok)
	}
	e, k, err := r.Next()
	if err != nil || e != 10 {
		t.Fatalf("next: %d %v", e, err)
	}
	if got, ok := r.Key(10); !ok || got != k {
		t.Fatal("next's key not kept")
	}
	if got := r.Epochs(); len(got) != 4 || got[0] != 2 || got[3] != 10 {
		t.Fatalf("epochs %v", got)
	}

	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != keyringHeader+4*keyringEntry {
		t.Fatalf("encoded in %d bytes", len(b))
	}
	var r2 Keyring
	if err := r2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := r2.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("encoding is not deterministic")
	}
	for _, e := range r.Epochs() {
		k1, _ := r.Key(e)
		k2, ok := r2.Key(e)
		if !ok || k1 != k2 {
			t.Fatalf("epoch %d lost", e)
		}
	}
	// Refusals, each leaving the keyring as it was.
	swapped := bytes.Clone(b)
	copy(swapped[keyringHeader:], b[keyringHeader+keyringEntry:keyringHeader+2*keyringEntry])
	copy(swapped[keyringHeader+keyringEntry:], b[keyringHeader:keyringHeader+keyringEntry])
	dup := bytes.Clone(b)
	copy(dup[keyringHeader+keyringEntry:keyringHeader+keyringEntry+4], b[keyringHeader:keyringHeader+4])
	huge := bytes.Clone(b[:keyringHeader])
	huge[5], huge[6] = 0xff, 0xff
	for name, bad := range map[string][]byte{
		"empty":         nil,
		"other magic":   append([]byte("fskx"), b[4:]...),
		"other version": append(append([]byte("fskr"), 2), b[5:]...),
		"truncated":     b[:len(b)-1],
		"trailing":      append(bytes.Clone(b), 0),
		"out of order":  swapped,
		"repeated":      dup,
		"huge count":    huge,
	} {
		if err := r2.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if r2.Len() != 4 {
			t.Fatalf("%s: keyring changed", name)
		}
	}
	// Empty keyring round trip.
	var empty Keyring
	eb, _ := empty.MarshalBinary()
	if err := r2.UnmarshalBinary(eb); err != nil || r2.Len() != 0 {
		t.Fatalf("empty: %v", err)
	}
	// Last epoch.
	var last Keyring
	last.Add(^Epoch(0), testKey(1))
	if _, _, err := last.Next(); err == nil {
		t.Fatal("an epoch after the last")
	}
}
