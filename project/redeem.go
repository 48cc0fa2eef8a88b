package project

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The invite protocol, carried by the exchange over /fieldsync/invite/1.0.0
// as opaque messages (each one dag-cbor map, at most MaxInviteMessage
// bytes). The transport authenticates both ends: the joiner has dialled the
// inviter's peer ID from the code, and the inviter knows the joiner's peer
// ID from the connection.
//
//	joiner                                   inviter
//	hello {invite: ID, project}        ──▶   look up the invite: unknown,
//	                                         revoked, used, expired → error
//	                                   ◀──   challenge {nonce: 32 random bytes}
//	proof {mac: HMAC-SHA256(K, domain ‖
//	  nonce ‖ joiner ID ‖ project ID)}  ──▶   check the MAC; claim the invite;
//	                                         sign the joiner's membership
//	                                   ◀──   welcome {genesis, members}
//
// K is SHA-256 of a domain string and the secret; the inviter stores K, not
// the secret. The secret never crosses the wire, and a proof is bound to
// one nonce, one joiner and one project, so it cannot be replayed.

// MaxInviteMessage caps one invite protocol message.
const MaxInviteMessage = 4 << 20

// InviteConn carries invite messages between a joiner and an inviter. The
// exchange implements it over a libp2p stream (length-delimited messages);
// tests use an in-memory pipe.
type InviteConn interface {
	// Send sends one message.
	Send(ctx context.Context, msg []byte) error
	// Recv receives one message; the implementation enforces
	// MaxInviteMessage.
	Recv(ctx context.Context) ([]byte, error)
}

type inviteMsg struct {
	T       string   `cbor:"t"`
	Invite  []byte   `cbor:"invite,omitempty"`
	Project *link    `cbor:"project,omitempty"`
	Nonce   []byte   `cbor:"nonce,omitempty"`
	MAC     []byte   `cbor:"mac,omitempty"`
	Genesis []byte   `cbor:"genesis,omitempty"`
	Members [][]byte `cbor:"members,omitempty"`
	Code    int      `cbor:"code,omitempty"`
}

// Error codes on the wire, mapped in one pair of functions.
var inviteCodes = []error{
	1: ErrInviteUnknown,
	2: ErrInviteExpired,
	3: ErrInviteUsed,
	4: ErrInviteRevoked,
	5: ErrInviteProof,
	6: ErrWrongProject,
	7: ErrInviteProtocol,
	8: ErrNotAuthorized,
	9: ErrBlocked,
}

func inviteErrorToCode(err error) int {
	for c, e := range inviteCodes {
		if e != nil && errors.Is(err, e) {
			return c
		}
	}
	return 10 // internal error of the inviter
}

func inviteErrorFromCode(c int) error {
	if c > 0 && c < len(inviteCodes) {
		return inviteCodes[c]
	}
	return fmt.Errorf("%w: inviter failed (code %d)", ErrInviteProtocol, c)
}

func sendMsg(ctx context.Context, conn InviteConn, m *inviteMsg) error {
	b, err := encMode.Marshal(m)
	if err != nil {
		return err
	}
	return conn.Send(ctx, b)
}

func recvMsg(ctx context.Context, conn InviteConn, want string) (*inviteMsg, error) {
	b, err := conn.Recv(ctx)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInviteMessage {
		return nil, fmt.Errorf("%w: message of %d bytes", ErrInviteProtocol, len(b))
	}
	var m inviteMsg
	if err := decodeStrict(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInviteProtocol, err)
	}
	if m.T == "error" {
		return nil, inviteErrorFromCode(m.Code)
	}
	if m.T != want {
		return nil, fmt.Errorf("%w: got %q, want %q", ErrInviteProtocol, m.T, want)
	}
	return &m, nil
}

func inviteProof(key, nonce []byte, joiner peer.ID, project cid.Cid) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("fieldsync/invite-proof/v1\x00"))
	h.Write(nonce)
	h.Write([]byte(joiner))
	h.Write(project.Bytes())
	return h.Sum(nil)
}

// ServeInvite runs the inviter's side of one redemption with joiner (the
// peer ID the transport authenticated). On success the joiner is a member
// (its membership record signed by this device, naming the invite) and has
// been sent the welcome. Errors are sent to the joiner as codes and also
// returned.
//
// An invite is one-time: once redeemed by a device it cannot be redeemed
// by another, even after a restart. The same device may redeem it again
// (a retry after a cut connection) and gets the same membership.
func (p *Project) ServeInvite(ctx context.Context, joiner peer.ID, conn InviteConn) error {
	err := p.serveInvite(ctx, joiner, conn)
	if err != nil {
		sendMsg(ctx, conn, &inviteMsg{T: "error", Code: inviteErrorToCode(err)})
	}
	return err
}

func (p *Project) serveInvite(ctx context.Context, joiner peer.ID, conn InviteConn) error {
	hello, err := recvMsg(ctx, conn, "hello")
	if err != nil {
		return err
	}
	if hello.Project.cid() != p.id {
		return ErrWrongProject
	}
	row, err := p.inviteRow(ctx, hello.Invite)
	if err != nil {
		return err
	}
	if err := row.usable(joiner, p.now()); err != nil {
		return err
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := sendMsg(ctx, conn, &inviteMsg{T: "challenge", Nonce: nonce}); err != nil {
		return err
	}
	proof, err := recvMsg(ctx, conn, "proof")
	if err != nil {
		return err
	}
	if !hmac.Equal(proof.MAC, inviteProof(row.macKey, nonce, joiner, p.id)) {
		return ErrInviteProof
	}
	if err := p.claimInvite(ctx, hello.Invite, joiner, row); err != nil {
		return err
	}
	w, err := p.welcome(ctx)
	if err != nil {
		return err
	}
	return sendMsg(ctx, conn, &inviteMsg{T: "welcome", Genesis: w.Genesis, Members: w.Members})
}

func (r *inviteRow) usable(joiner peer.ID, now time.Time) error {
	switch {
	case r.revoked:
		return ErrInviteRevoked
	case r.usedBy != nil && peer.ID(r.usedBy) == joiner:
		return nil // a retry by the device that redeemed it
	case r.usedBy != nil:
		return ErrInviteUsed
	case !now.Before(r.expires):
		return ErrInviteExpired
	}
	return nil
}

// claimInvite marks the invite used by joiner (atomically: of two joiners
// racing, one wins) and signs the joiner's membership.
func (p *Project) claimInvite(ctx context.Context, id []byte, joiner peer.ID, row *inviteRow) error {
	if row.record != nil {
		return nil // already granted to this joiner
	}
	if p.RoleOf(joiner) == RoleBlocked {
		return ErrBlocked
	}
	res, err := p.db.ExecContext(ctx, `UPDATE project_invites SET used = 1, used_by = ?1
		WHERE id = ?2 AND revoked = 0 AND used_by IS NULL AND expires > ?3`, []byte(joiner), id, ms(p.now()))
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur, err := p.inviteRow(ctx, id)
		if err != nil {
			return err
		}
		if err := cur.usable(joiner, p.now()); err != nil {
			return err
		}
		if cur.record != nil {
			return nil
		}
		return ErrInviteUsed // claimed by this joiner in a concurrent call
	}
	rec, err := p.setRole(ctx, joiner, row.role, id)
	if err != nil {
		p.db.ExecContext(ctx, `UPDATE project_invites SET used = 0, used_by = NULL WHERE id = ?`, id)
		return err
	}
	_, err = p.db.ExecContext(ctx, `UPDATE project_invites SET record = ? WHERE id = ?`, rec.CID.Bytes(), id)
	return err
}

// Redeem runs the joiner's side: over conn (a stream to code.Inviter), it
// proves knowledge of the code's secret and receives the welcome, which it
// checks: the genesis must be the code's project and the members must hold
// a grant for self naming this invite, signed by the inviter. Pass the
// welcome to Join.
func Redeem(ctx context.Context, conn InviteConn, self *Identity, code *InviteCode) (*Welcome, error) {
	if !time.Now().Before(code.Expires) {
		return nil, ErrInviteExpired
	}
	id := code.ID()
	if err := sendMsg(ctx, conn, &inviteMsg{T: "hello", Invite: id, Project: linkOf(code.Project)}); err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	ch, err := recvMsg(ctx, conn, "challenge")
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	if len(ch.Nonce) != 32 {
		return nil, fmt.Errorf("redeem invite: %w: nonce", ErrInviteProtocol)
	}
	mac := inviteProof(inviteMACKey(code.Secret[:]), ch.Nonce, self.PeerID(), code.Project)
	if err := sendMsg(ctx, conn, &inviteMsg{T: "proof", MAC: mac}); err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	wm, err := recvMsg(ctx, conn, "welcome")
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	w := &Welcome{Genesis: wm.Genesis, Members: wm.Members}
	if blockCID(w.Genesis) != code.Project {
		return nil, fmt.Errorf("redeem invite: %w: genesis is not the invited project", ErrWrongProject)
	}
	granted := false
	for _, b := range w.Members {
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("redeem invite: %w", err)
		}
		if m := r.Membership; m != nil && r.Author == code.Inviter && m.Subject == self.PeerID() && bytes.Equal(m.Invite, id) {
			granted = true
		}
	}
	if !granted {
		return nil, fmt.Errorf("redeem invite: %w: no grant for this device in the welcome", ErrInviteProtocol)
	}
	return w, nil
}
