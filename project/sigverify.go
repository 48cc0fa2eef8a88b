package project

import (
	"sync"

	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Record signatures are Ed25519. They are checked with curve25519-voi's
// verifier set to the rules of Go's crypto/ed25519 (VerifyOptionsStdLib:
// the cofactorless equation, the same encodings accepted and refused), so
// that a record valid here is valid to any tool that follows those rules,
// and each author's public key is expanded once (a table of its
// multiples) and kept for the records that follow. A receiver checking
// 30,000 records from one device spent 1.9 s of CPU in crypto/ed25519;
// this takes half of that (BenchmarkVerifySig). The two verifiers must
// agree on every input: FuzzVerifySigMatchesStdlib.

// sigOptions are crypto/ed25519's rules.
var sigOptions = &voied.Options{Verify: voied.VerifyOptionsStdLib}

// sigKeysMax bounds the expanded keys kept: a project has a few authors;
// past that many the cache starts over.
const sigKeysMax = 64

var sigKeys struct {
	sync.Mutex
	m map[string]*voied.ExpandedPublicKey
}

// verifySig reports whether sig is pub's Ed25519 signature of msg.
func verifySig(pub, msg, sig []byte) bool {
	if len(pub) != voied.PublicKeySize {
		return false
	}
	if xp := expandedKey(pub); xp != nil {
		return voied.VerifyExpandedWithOptions(xp, msg, sig, sigOptions)
	}
	return voied.VerifyWithOptions(voied.PublicKey(pub), msg, sig, sigOptions)
}

// expandedKey returns pub expanded, from the cache or made now; nil if pub
// is not a point the expansion takes (verifySig then checks without it).
func expandedKey(pub []byte) *voied.ExpandedPublicKey {
	sigKeys.Lock()
	xp := sigKeys.m[string(pub)]
	sigKeys.Unlock()
	if xp != nil {
		return xp
	}
	xp, err := voied.NewExpandedPublicKey(voied.PublicKey(pub))
	if err != nil {
		return nil
	}
	sigKeys.Lock()
	if sigKeys.m == nil || len(sigKeys.m) >= sigKeysMax {
		sigKeys.m = map[string]*voied.ExpandedPublicKey{}
	}
	sigKeys.m[string(pub)] = xp
	sigKeys.Unlock()
	return xp
}
