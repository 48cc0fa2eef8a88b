package seal

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// libp2pKey makes a device identity as fieldsync does (a libp2p Ed25519
// key) and returns it as standard library keys.
func libp2pKey(t testing.TB) (ed25519.PrivateKey, ed25519.PublicKey, peer.ID) {
	t.Helper()
	priv, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rawPriv, err := priv.Raw()
	if err != nil {
		t.Fatal(err)
	}
	rawPub, err := pub.Raw()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if len(rawPriv) != ed25519.PrivateKeySize || !bytes.Equal(ed25519.PrivateKey(rawPriv).Public().(ed25519.PublicKey), rawPub) {
		t.Fatal("libp2p's raw Ed25519 keys are not crypto/ed25519's")
	}
	return ed25519.PrivateKey(rawPriv), ed25519.PublicKey(rawPub), id
}

func TestWrapUnwrap(t *testing.T) {
	alicePriv, alicePub, aliceID := libp2pKey(t)
	bobPriv, _, _ := libp2pKey(t)
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	w, err := WrapKey(k, 7, alicePub)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != WrappedSize {
		t.Fatalf("wrapped %d bytes, want %d", len(w), WrappedSize)
	}
	t.Logf("a key wrapped for %s: %d bytes", aliceID, len(w))
	got, e, err := UnwrapKey(w, alicePriv)
	if err != nil || got != k || e != 7 {
		t.Fatalf("unwrap: %v (epoch %d, same key %v)", err, e, got == k)
	}
	// Wrapping is randomised (a fresh ephemeral key each time).
	w2, _ := WrapKey(k, 7, alicePub)
	if bytes.Equal(w, w2) {
		t.Fatal("two wraps are equal")
	}
	// Another member's key does not unwrap it.
	if _, _, err := UnwrapKey(w, bobPriv); !errors.Is(err, ErrTampered) {
		t.Fatalf("unwrapped with another key: %v", err)
	}
	// Nothing can be changed: version, epoch, ephemeral key, ciphertext, tag.
	for j := range w {
		bad := bytes.Clone(w)
		bad[j] ^= 1 << (j % 8)
		_, _, err := UnwrapKey(bad, alicePriv)
		if err == nil {
			t.Fatalf("flip at %d: unwrapped", j)
		}
		if j == 0 && !errors.Is(err, ErrMalformed) {
			t.Fatalf("flipped version: %v", err)
		}
	}
	// The key is not in the wrapped bytes.
	if bytes.Contains(w, k[:8]) {
		t.Fatal("the key shows in the wrapped bytes")
	}
	// Sizes and bad keys.
	if _, _, err := UnwrapKey(w[:len(w)-1], alicePriv); !errors.Is(err, ErrMalformed) {
		t.Errorf("short: %v", err)
	}
	if _, _, err := UnwrapKey(w, alicePriv[:32]); !errors.Is(err, ErrMalformed) {
		t.Errorf("a seed for a private key: %v", err)
	}
	if _, err := WrapKey(k, 1, alicePub[:31]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short recipient: %v", err)
	}
	identity := edwards25519.NewIdentityPoint().Bytes()
	if _, err := WrapKey(k, 1, identity); !errors.Is(err, ErrMalformed) {
		t.Errorf("identity point as recipient: %v", err)
	}
	notOnCurve := bytes.Repeat([]byte{0xff}, 32)
	notOnCurve[31] = 0x7f
	for i := 0; i < 256; i++ { // find a y with no point
		notOnCurve[0] = byte(i)
		if _, err := new(edwards25519.Point).SetBytes(notOnCurve); err != nil {
			break
		}
	}
	if _, err := WrapKey(k, 1, notOnCurve); !errors.Is(err, ErrMalformed) {
		t.Errorf("recipient not on the curve: %v", err)
	}
}

// TestMontgomeryConversion checks the two conversions agree: the X25519
// public key of the converted private key is the Montgomery form of the
// Ed25519 public key, for many keys.
func TestMontgomeryConversion(t *testing.T) {
	for i := 0; i < 50; i++ {
		priv, pub, _ := libp2pKey(t)
		x, err := x25519Private(priv)
		if err != nil {
			t.Fatal(err)
		}
		p, err := new(edwards25519.Point).SetBytes(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x.PublicKey().Bytes(), p.BytesMontgomery()) {
			t.Fatalf("key %d: conversions disagree", i)
		}
		// And an X25519 exchange through them agrees both ways.
		eph, _ := ecdh.X25519().GenerateKey(rand.Reader)
		rx, _ := ecdh.X25519().NewPublicKey(p.BytesMontgomery())
		s1, _ := eph.ECDH(rx)
		s2, _ := x.ECDH(eph.PublicKey())
		if !bytes.Equal(s1, s2) {
			t.Fatalf("key %d: shared secrets differ", i)
		}
	}
}

// TestEpochRotation plays a block: the coordinator starts epoch 1 and
// wraps its key to the remaining members only. The blocked member, with
// every wrapped key from the archive's disk, opens nothing sealed after.
func TestEpochRotation(t *testing.T) {
	var coord Keyring
	e0, k0, err := coord.Next()
	if err != nil || e0 != 0 {
		t.Fatal(e0, err)
	}
	alicePriv, alicePub, _ := libp2pKey(t)
	malloryPriv, malloryPub, _ := libp2pKey(t)
	archive := [][]byte{} // everything wrapped, as the archive keeps it
	for _, pub := range []ed25519.PublicKey{alicePub, malloryPub} {
		w, _ := WrapKey(k0, e0, pub)
		archive = append(archive, w)
	}
	before := SealRecord(k0, []byte("before the block"))
	// Mallory is blocked.
	e1, k1, err := coord.Next()
	if err != nil || e1 != 1 || k1 == k0 {
		t.Fatal(e1, err)
	}
	w, _ := WrapKey(k1, e1, alicePub)
	archive = append(archive, w)
	after := SealRecord(k1, []byte("after the block"))

	unwrapAll := func(priv ed25519.PrivateKey) *Keyring {
		var r Keyring
		for _, w := range archive {
			if k, e, err := UnwrapKey(w, priv); err == nil {
				if err := r.Add(e, k); err != nil {
					t.Fatal(err)
				}
			}
		}
		return &r
	}
	alice, mallory := unwrapAll(alicePriv), unwrapAll(malloryPriv)
	if e, _, _ := alice.Current(); e != 1 || alice.Len() != 2 {
		t.Fatalf("alice has epochs %v", alice.Epochs())
	}
	if b, e, err := alice.OpenRecord(after); err != nil || e != 1 || string(b) != "after the block" {
		t.Fatalf("alice: %q %d %v", b, e, err)
	}
	if b, e, err := alice.OpenRecord(before); err != nil || e != 0 || string(b) != "before the block" {
		t.Fatalf("alice, old record: %q %d %v", b, e, err)
	}
	if e, _, _ := mallory.Current(); e != 0 || mallory.Len() != 1 {
		t.Fatalf("mallory has epochs %v", mallory.Epochs())
	}
	if _, _, err := mallory.OpenRecord(after); !errors.Is(err, ErrTampered) {
		t.Fatalf("mallory opened a record sealed after the block: %v", err)
	}
}
