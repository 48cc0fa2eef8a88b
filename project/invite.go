package project

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	mh "github.com/multiformats/go-multihash"
)

// Invite errors. A joiner gets the same error values whether the inviter
// or its own parser found the problem.
var (
	ErrInviteMalformed = errors.New("project: invite code is malformed")
	ErrInviteChecksum  = errors.New("project: invite code checksum does not match (mistyped?)")
	ErrInviteVersion   = errors.New("project: invite code version not supported")
	ErrInviteExpired   = errors.New("project: invite has expired")
	ErrInviteUsed      = errors.New("project: invite has already been used")
	ErrInviteRevoked   = errors.New("project: invite was revoked")
	ErrInviteUnknown   = errors.New("project: invite unknown to the inviter")
	ErrInviteProof     = errors.New("project: invite secret does not match")
	ErrInviteProtocol  = errors.New("project: invite protocol error")
	ErrInviteBusy      = errors.New("project: the inviting device takes no more attempts for a minute (too many wrong codes)")
)

// InviteVersion is the version of the invite code this package writes.
const InviteVersion = 1

const (
	secretLen    = 16
	inviteIDLen  = 16
	maxAddrs     = 8
	maxAddrLen   = 64
	maxCodeBytes = 1 + 1 + 32 + 32 + secretLen + binary.MaxVarintLen64 + 1 + maxAddrs*(1+maxAddrLen) + 4
)

// InviteCode is what an invite carries: enough to find the inviter, check
// that it is the right device and project, and prove knowledge of the
// secret.
type InviteCode struct {
	Project cid.Cid // the project ID (dag-cbor, sha2-256)
	Inviter peer.ID // an Ed25519 peer ID
	Addrs   []ma.Multiaddr
	Secret  [secretLen]byte
	Role    Role // member or coordinator
	Expires time.Time
}

// ID returns the invite's ID: a hash of its secret, which the joiner sends
// to name the invite and which the membership record it yields carries.
func (c *InviteCode) ID() []byte { return inviteID(c.Secret[:]) }

func inviteID(secret []byte) []byte {
	h := sha256.Sum256(append([]byte("fieldsync/invite-id/v1\x00"), secret...))
	return h[:inviteIDLen]
}

func inviteMACKey(secret []byte) []byte {
	h := sha256.Sum256(append([]byte("fieldsync/invite-key/v1\x00"), secret...))
	return h[:]
}

func roleByte(r Role) (byte, bool) {
	switch r {
	case RoleMember:
		return 1, true
	case RoleCoordinator:
		return 2, true
	case RoleArchive:
		return 3, true
	}
	return 0, false
}

// MarshalBinary encodes the code (docs/trust.md has the layout):
//
//	version(1) role(1) project-digest(32) inviter-key(32) secret(16)
//	uvarint(expiry, unix seconds) uvarint(n) n × (uvarint(len) multiaddr)
//	CRC-32C of all the above (4, big-endian)
func (c *InviteCode) MarshalBinary() ([]byte, error) {
	rb, ok := roleByte(c.Role)
	if !ok {
		return nil, fmt.Errorf("%w: role %q", ErrInviteMalformed, c.Role)
	}
	dm, err := mh.Decode(c.Project.Hash())
	if err != nil || c.Project.Version() != 1 || c.Project.Type() != codecDagCBOR || dm.Code != mh.SHA2_256 || len(dm.Digest) != 32 {
		return nil, fmt.Errorf("%w: project ID %v", ErrInviteMalformed, c.Project)
	}
	pub, err := c.Inviter.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: inviter is not an Ed25519 peer", ErrInviteMalformed)
	}
	raw, _ := pub.Raw()
	if len(c.Addrs) > maxAddrs {
		return nil, fmt.Errorf("%w: %d addresses, at most %d", ErrInviteMalformed, len(c.Addrs), maxAddrs)
	}
	b := []byte{InviteVersion, rb}
	b = append(b, dm.Digest...)
	b = append(b, raw...)
	b = append(b, c.Secret[:]...)
	b = binary.AppendUvarint(b, uint64(c.Expires.Unix()))
	b = binary.AppendUvarint(b, uint64(len(c.Addrs)))
	for _, a := range c.Addrs {
		ab := a.Bytes()
		if len(ab) > maxAddrLen {
			return nil, fmt.Errorf("%w: address %v too long", ErrInviteMalformed, a)
		}
		b = binary.AppendUvarint(b, uint64(len(ab)))
		b = append(b, ab...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// UnmarshalBinary decodes what MarshalBinary wrote.
func (c *InviteCode) UnmarshalBinary(b []byte) error {
	if len(b) < 1+1+32+32+secretLen+1+1+4 || len(b) > maxCodeBytes {
		return fmt.Errorf("%w: %d bytes", ErrInviteMalformed, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return ErrInviteChecksum
	}
	if body[0] != InviteVersion {
		return fmt.Errorf("%w: version %d", ErrInviteVersion, body[0])
	}
	var out InviteCode
	switch body[1] {
	case 1:
		out.Role = RoleMember
	case 2:
		out.Role = RoleCoordinator
	case 3:
		out.Role = RoleArchive
	default:
		return fmt.Errorf("%w: role %d", ErrInviteMalformed, body[1])
	}
	p := body[2:]
	m, _ := mh.Encode(p[:32], mh.SHA2_256)
	out.Project = cid.NewCidV1(codecDagCBOR, m)
	pub, err := crypto.UnmarshalEd25519PublicKey(p[32:64])
	if err != nil {
		return fmt.Errorf("%w: inviter key", ErrInviteMalformed)
	}
	if out.Inviter, err = peer.IDFromPublicKey(pub); err != nil {
		return fmt.Errorf("%w: inviter key", ErrInviteMalformed)
	}
	copy(out.Secret[:], p[64:64+secretLen])
	p = p[64+secretLen:]
	exp, n := binary.Uvarint(p)
	if n <= 0 || exp > 1<<40 {
		return fmt.Errorf("%w: expiry", ErrInviteMalformed)
	}
	out.Expires = time.Unix(int64(exp), 0).UTC()
	p = p[n:]
	na, n := binary.Uvarint(p)
	if n <= 0 || na > maxAddrs {
		return fmt.Errorf("%w: address count", ErrInviteMalformed)
	}
	p = p[n:]
	for range na {
		l, n := binary.Uvarint(p)
		if n <= 0 || l == 0 || l > maxAddrLen || uint64(len(p)-n) < l {
			return fmt.Errorf("%w: address length", ErrInviteMalformed)
		}
		a, err := ma.NewMultiaddrBytes(p[n : n+int(l)])
		if err != nil || !bytes.Equal(a.Bytes(), p[n:n+int(l)]) {
			return fmt.Errorf("%w: address", ErrInviteMalformed)
		}
		out.Addrs = append(out.Addrs, a)
		p = p[n+int(l):]
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrInviteMalformed)
	}
	*c = out
	return nil
}

// Crockford's base32 alphabet: no I, L, O, U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var crockfordDec = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range crockford {
		t[c] = int8(i)
		t[c|0x20] = int8(i) // lower case
	}
	for _, c := range "oO" {
		t[c] = 0
	}
	for _, c := range "iIlL" {
		t[c] = 1
	}
	return t
}()

// String returns the code as Crockford base32 in groups of five separated
// by hyphens: upper case letters and digits only, so it is easy to read
// aloud and fits a QR code's alphanumeric mode.
func (c *InviteCode) String() string {
	b, err := c.MarshalBinary()
	if err != nil {
		return "invalid-invite"
	}
	var sb strings.Builder
	var acc uint32
	bits, n := 0, 0
	put := func(v uint32) {
		if n > 0 && n%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(crockford[v&31])
		n++
	}
	for _, x := range b {
		acc = acc<<8 | uint32(x)
		bits += 8
		for bits >= 5 {
			put(acc >> (bits - 5))
			bits -= 5
		}
	}
	if bits > 0 {
		put(acc << (5 - bits))
	}
	return sb.String()
}

// ParseInviteCode reads a code written by String. Case does not matter,
// hyphens and white space are ignored, and the letters O, I and L are read
// as 0, 1 and 1. A mistyped code gives ErrInviteChecksum (or
// ErrInviteMalformed); an expired one still parses (Redeem says it is
// expired).
func ParseInviteCode(s string) (*InviteCode, error) {
	if len(s) > 2*maxCodeBytes {
		return nil, fmt.Errorf("%w: too long", ErrInviteMalformed)
	}
	var b []byte
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch ch {
		case '-', ' ', '\t', '\n', '\r':
			continue
		}
		v := crockfordDec[ch]
		if v < 0 {
			return nil, fmt.Errorf("%w: character %q", ErrInviteMalformed, ch)
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 {
			b = append(b, byte(acc>>(bits-8)))
			bits -= 8
		}
	}
	if bits >= 5 || acc&(1<<bits-1) != 0 {
		return nil, fmt.Errorf("%w: bad length or padding", ErrInviteMalformed)
	}
	c := new(InviteCode)
	if err := c.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return c, nil
}

// InviteOptions shape an invite.
type InviteOptions struct {
	Role Role          // RoleMember (default), RoleCoordinator or RoleArchive (a blind archive)
	TTL  time.Duration // default 24 h
	// Addrs are where the joiner can reach this device (a host's
	// listening addresses). Invite keeps at most maxInviteAddrs of them,
	// to keep the code short: LAN IPv4 first, then other IPv4, IPv6,
	// loopback last; unspecified, link-local and over-long addresses
	// (e.g. WebTransport with certificate hashes) are left out.
	// Addresses through a relay (an always-on device's, ending in
	// /p2p-circuit) come after those, at most maxInviteCircuits of them:
	// they let a joiner far away redeem the code.
	Addrs []ma.Multiaddr
}

const (
	maxInviteAddrs    = 4
	maxInviteCircuits = 2
)

// pickAddrs chooses the addresses an invite code carries.
func pickAddrs(addrs []ma.Multiaddr) []ma.Multiaddr {
	rank := func(a ma.Multiaddr) int {
		_, ip4err := a.ValueForProtocol(ma.P_IP4)
		switch {
		case manet.IsIPLoopback(a):
			return 4
		case ip4err == nil && manet.IsPrivateAddr(a):
			return 0
		case ip4err == nil:
			return 1
		}
		return 2
	}
	var out, circuits []ma.Multiaddr
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == nil || len(a.Bytes()) > maxAddrLen || manet.IsIPUnspecified(a) || manet.IsIP6LinkLocal(a) || seen[string(a.Bytes())] {
			continue
		}
		seen[string(a.Bytes())] = true
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			circuits = append(circuits, a)
			continue
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b ma.Multiaddr) int { return rank(a) - rank(b) })
	out = out[:min(len(out), maxInviteAddrs)]
	return append(out, circuits[:min(len(circuits), maxInviteCircuits)]...)
}

// Invite makes a one-time invite to this project, served by this device,
// which must be the creator or a coordinator. Its secret is 60 random bits
// (ShortBits), so the code has a short form to read aloud (Short). The
// secret is not stored: only the invite ID and a key derived from the
// secret (for the proofs).
func (p *Project) Invite(ctx context.Context, opts InviteOptions) (*InviteCode, error) {
	if opts.Role == RoleNone {
		opts.Role = RoleMember
	}
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if !p.RoleOf(p.self.PeerID()).CanManage() {
		return nil, fmt.Errorf("invite: %w", ErrNotAuthorized)
	}
	c := &InviteCode{Project: p.id, Inviter: p.self.PeerID(), Addrs: pickAddrs(opts.Addrs), Role: opts.Role,
		Expires: p.now().Add(opts.TTL).UTC().Truncate(time.Second)}
	c.Secret = newSecret()
	if _, err := c.MarshalBinary(); err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	_, err := p.db.ExecContext(ctx, `INSERT INTO project_invites (id, mac_key, role, created, expires) VALUES (?, ?, ?, ?, ?)`,
		c.ID(), inviteMACKey(c.Secret[:]), string(c.Role), ms(p.now()), ms(c.Expires))
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	return c, nil
}

// InviteInfo describes an invite this device made.
type InviteInfo struct {
	ID      []byte
	Role    Role
	Created time.Time
	Expires time.Time
	Revoked bool
	UsedBy  peer.ID // empty if not used
}

// Invites lists the invites this device made, newest first.
func (p *Project) Invites(ctx context.Context) ([]InviteInfo, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id, role, created, expires, revoked, used_by FROM project_invites ORDER BY created DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list invites: %w", err)
	}
	defer rows.Close()
	var out []InviteInfo
	for rows.Next() {
		var in InviteInfo
		var role string
		var cr, ex int64
		var by []byte
		if err := rows.Scan(&in.ID, &role, &cr, &ex, &in.Revoked, &by); err != nil {
			return nil, fmt.Errorf("list invites: %w", err)
		}
		in.Role, in.Created, in.Expires, in.UsedBy = Role(role), fromMS(cr), fromMS(ex), peer.ID(by)
		out = append(out, in)
	}
	return out, rows.Err()
}

// OpenInvites returns the IDs of this device's invites that can still be
// redeemed (not used, revoked or expired): a serving device advertises
// them on the local network (InviteTag) for joiners with a short code.
func (p *Project) OpenInvites(ctx context.Context) ([][]byte, error) {
	rows, err := p.db.QueryContext(ctx, `SELECT id FROM project_invites WHERE revoked = 0 AND used_by IS NULL AND expires > ?`, ms(p.now()))
	if err != nil {
		return nil, fmt.Errorf("open invites: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var id []byte
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("open invites: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// RevokeInvite makes the invite with this ID unusable. Revoking an unknown
// invite gives ErrInviteUnknown; revoking twice is not an error.
func (p *Project) RevokeInvite(ctx context.Context, id []byte) error {
	res, err := p.db.ExecContext(ctx, `UPDATE project_invites SET revoked = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoke invite: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrInviteUnknown
	}
	return nil
}

type inviteRow struct {
	macKey  []byte
	role    Role
	expires time.Time
	revoked bool
	usedBy  []byte
	record  []byte
}

func (p *Project) inviteRow(ctx context.Context, id []byte) (*inviteRow, error) {
	var r inviteRow
	var role string
	var exp int64
	err := p.db.QueryRowContext(ctx, `SELECT mac_key, role, expires, revoked, used_by, record FROM project_invites WHERE id = ?`, id).
		Scan(&r.macKey, &role, &exp, &r.revoked, &r.usedBy, &r.record)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInviteUnknown
	}
	if err != nil {
		return nil, err
	}
	r.role, r.expires = Role(role), fromMS(exp)
	return &r, nil
}
