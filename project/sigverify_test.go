package project

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"slices"
	"testing"
	"time"
)

// sigEdgeCases are inputs on which Ed25519 verifiers are known to differ:
// small-order and non-canonical public keys and R, S at or past the group
// order, and a valid signature to mutate.
func sigEdgeCases(t testing.TB) (cases [][3][]byte) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("fieldsync record")
	sig := ed25519.Sign(priv, msg)
	cases = append(cases, [3][]byte{pub, msg, sig})
	for i := range []int{0, 31, 32, 63} {
		bad := slices.Clone(sig)
		bad[[]int{0, 31, 32, 63}[i]] ^= 1
		cases = append(cases, [3][]byte{pub, msg, bad})
	}
	// S + L: the same point equation, a non-canonical S.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	s := new(big.Int).SetBytes(reversed(sig[32:]))
	if sl := new(big.Int).Add(s, l); sl.BitLen() <= 256 {
		bad := slices.Clone(sig)
		b := sl.FillBytes(make([]byte, 32))
		copy(bad[32:], reversed(b))
		cases = append(cases, [3][]byte{pub, msg, bad})
	}
	points := []string{
		"0100000000000000000000000000000000000000000000000000000000000000", // identity
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
		"0000000000000000000000000000000000000000000000000000000000000000", // order 4
		"0000000000000000000000000000000000000000000000000000000000000080", // order 4, sign bit
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8, sign bit
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p, not canonical
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1, not canonical
		"0100000000000000000000000000000000000000000000000000000000000080", // identity, sign bit set
	}
	zero := make([]byte, 32)
	for _, a := range points {
		pa, _ := hex.DecodeString(a)
		for _, r := range points {
			pr, _ := hex.DecodeString(r)
			// S = 0: valid under the cofactorless equation exactly when
			// R = -[k]A, which small-order A and R can meet.
			cases = append(cases, [3][]byte{pa, msg, append(slices.Clone(pr), zero...)})
		}
		cases = append(cases, [3][]byte{pa, msg, sig})
	}
	return cases
}

func reversed(b []byte) []byte {
	r := slices.Clone(b)
	slices.Reverse(r)
	return r
}

// TestVerifySigEdgeCases: the record verifier and crypto/ed25519 agree on
// every edge case, and on valid signatures from many keys (the expanded
// keys' cache starting over on the way).
func TestVerifySigEdgeCases(t *testing.T) {
	accepted := 0
	for _, c := range sigEdgeCases(t) {
		want := ed25519.Verify(c[0], c[1], c[2])
		for range 2 { // the key expanded now, then from the cache
			if got := verifySig(c[0], c[1], c[2]); got != want {
				t.Fatalf("pub %x sig %x: verifySig %v, crypto/ed25519 %v", c[0], c[2], got, want)
			}
		}
		if want {
			accepted++
		}
	}
	if accepted < 2 {
		t.Fatalf("only %d edge cases accepted: the cases do not reach the accepting paths", accepted)
	}
	for i := range 2*sigKeysMax + 1 {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := []byte{byte(i)}
		if !verifySig(pub, msg, ed25519.Sign(priv, msg)) {
			t.Fatalf("key %d: a valid signature refused", i)
		}
		if verifySig(pub, []byte{byte(i) + 1}, ed25519.Sign(priv, msg)) {
			t.Fatalf("key %d: a signature of another message accepted", i)
		}
	}
	if verifySig([]byte("short"), nil, make([]byte, 64)) {
		t.Fatal("a 5-byte key accepted")
	}
}

// FuzzVerifySigMatchesStdlib: on any key, message and signature the
// record verifier says what crypto/ed25519 says.
func FuzzVerifySigMatchesStdlib(f *testing.F) {
	for _, c := range sigEdgeCases(f) {
		f.Add(c[0], c[1], c[2])
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if len(pub) != ed25519.PublicKeySize {
			if verifySig(pub, msg, sig) {
				t.Fatalf("key of %d bytes accepted", len(pub))
			}
			return
		}
		if got, want := verifySig(pub, msg, sig), ed25519.Verify(pub, msg, sig); got != want {
			t.Fatalf("pub %x msg %x sig %x: verifySig %v, crypto/ed25519 %v", pub, msg, sig, got, want)
		}
	})
}

// BenchmarkVerifySig checks a signature with verifySig and with
// crypto/ed25519 in turn, and reports verifySig's time ÷ crypto/ed25519's.
func BenchmarkVerifySig(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	msg := make([]byte, 400) // about a record
	sig := ed25519.Sign(priv, msg)
	var ours, std time.Duration
	for b.Loop() {
		t0 := time.Now()
		if !verifySig(pub, msg, sig) {
			b.Fatal("refused")
		}
		t1 := time.Now()
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("refused")
		}
		ours += t1.Sub(t0)
		std += time.Since(t1)
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/verify")
	b.ReportMetric(float64(std.Nanoseconds())/float64(b.N), "ns/stdlib")
	b.ReportMetric(float64(ours)/float64(std), "x_stdlib")
}
