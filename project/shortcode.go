package project

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Short codes: an invite read aloud over a radio or a phone.
//
// Every invite's secret is 60 random bits (ShortBits). The full code
// carries it (as the first 8 bytes, big-endian, of its 16-byte secret
// field; the rest zero) with the project ID, the inviter's key and
// addresses; the short code carries the secret alone, as 12 symbols of
// Crockford's base32 in three groups of four and a check symbol (the
// value mod 37, Crockford's check alphabet): "K7QM-2XD4-R9TP-J". Both name
// the same invite: whichever is redeemed first uses it up.
//
// A short code says nothing of where the inviter is: the joiner finds it
// on the local network by mDNS, under a service name derived from the
// invite ID (InviteTag), or is given its address. Nor does it name the
// project: the inviter proves it knows the secret (an HMAC over the
// joiner's nonce, its own peer ID and the project ID) before the joiner
// proves it does, so a device that only pretends to be the inviter learns
// nothing and is refused. docs/trust.md bounds the guessing.

// ShortBits is the entropy of an invite's secret.
const ShortBits = 60

// shortSymbols is the number of base32 symbols of a short code's value.
const shortSymbols = ShortBits / 5

// crockfordCheck is Crockford's check alphabet: the 32 symbols and five
// more, for a value mod 37.
const crockfordCheck = crockford + "*~$=U"

// newSecret returns a fresh 60-bit secret in the 16-byte form.
func newSecret() (s [secretLen]byte) {
	var v [8]byte
	rand.Read(v[:])
	binary.BigEndian.PutUint64(s[:8], binary.BigEndian.Uint64(v[:])>>(64-ShortBits))
	return s
}

// shortValue returns the 60-bit value of a secret, if it is one.
func shortValue(s [secretLen]byte) (uint64, bool) {
	v := binary.BigEndian.Uint64(s[:8])
	for _, b := range s[8:] {
		if b != 0 {
			return 0, false
		}
	}
	return v, v>>ShortBits == 0
}

// Short returns the invite's short code, to read aloud; false for a code
// made before short codes existed (a 128-bit secret).
func (c *InviteCode) Short() (string, bool) {
	v, ok := shortValue(c.Secret)
	if !ok {
		return "", false
	}
	var sb strings.Builder
	for i := shortSymbols - 1; i >= 0; i-- {
		sb.WriteByte(crockford[(v>>(5*uint(i)))&31])
		if i > 0 && i%4 == 0 {
			sb.WriteByte('-')
		}
	}
	sb.WriteByte('-')
	sb.WriteByte(crockfordCheck[v%37])
	return sb.String(), true
}

// ShortCode is a parsed short code: the secret of an invite, without the
// project, the inviter or its addresses.
type ShortCode struct {
	secret [secretLen]byte
}

// ID returns the invite's ID (as InviteCode.ID).
func (s *ShortCode) ID() []byte { return inviteID(s.secret[:]) }

// Tag names the invite on the local network: the inviter advertises it by
// mDNS while the invite is open, and a joiner with the short code looks
// for it.
func (s *ShortCode) Tag() string { return InviteTag(s.ID()) }

// InviteTag is the mDNS tag of the invite with this ID: 12 hex digits of
// a hash of the ID (the ID itself is not revealed).
func InviteTag(id []byte) string {
	h := sha256.Sum256(append([]byte("fieldsync/invite-mdns/v1\x00"), id...))
	return hex.EncodeToString(h[:6])
}

// IsShortCode reports whether s has the shape of a short code (12 or 13
// symbols once separators are dropped) rather than a full invite code.
func IsShortCode(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '-', ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n == shortSymbols || n == shortSymbols+1
}

// ParseShortCode reads a short code. Case does not matter, hyphens and
// spaces are ignored, O is read as 0 and I and L as 1. The check symbol
// catches one wrong symbol and two swapped ones: ErrInviteChecksum.
func ParseShortCode(s string) (*ShortCode, error) {
	var syms []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '-', ' ', '\t', '\n', '\r':
			continue
		}
		syms = append(syms, s[i])
	}
	if len(syms) != shortSymbols+1 {
		if len(syms) == shortSymbols {
			return nil, fmt.Errorf("%w: the last symbol (the check) is missing", ErrInviteMalformed)
		}
		return nil, fmt.Errorf("%w: a short code has %d symbols, this has %d", ErrInviteMalformed, shortSymbols+1, len(syms))
	}
	var v uint64
	for _, ch := range syms[:shortSymbols] {
		d := crockfordDec[ch]
		if d < 0 {
			return nil, fmt.Errorf("%w: character %q", ErrInviteMalformed, ch)
		}
		v = v<<5 | uint64(d)
	}
	check := strings.IndexByte(crockfordCheck, upper(syms[shortSymbols]))
	if d := crockfordDec[syms[shortSymbols]]; d >= 0 {
		check = int(d)
	}
	if check < 0 || uint64(check) != v%37 {
		return nil, ErrInviteChecksum
	}
	var c ShortCode
	binary.BigEndian.PutUint64(c.secret[:8], v)
	return &c, nil
}

func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 0x20
	}
	return b
}
