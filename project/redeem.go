package project

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The invite protocol: two request/response round trips, each request and
// response one dag-cbor map of at most MaxInviteMessage bytes, carried
// opaquely by the exchange over /fieldsync/invite/1.0.0. The transport
// authenticates both ends: the joiner has dialled the inviter's peer ID
// from the code, and the inviter knows the joiner's peer ID from the
// connection.
//
//	joiner                                     inviter
//	hello {invite: ID, project?,
//	  nonce: J (32 random bytes)}        ──▶   look up the invite: unknown,
//	                                           revoked, used, expired → error
//	                                     ◀──   challenge {nonce: N (32 random bytes),
//	                                             project, mac: HMAC-SHA256(K,
//	                                             domain' ‖ J ‖ inviter ID ‖ project ID)}
//	check the inviter's MAC
//	proof {invite, project, nonce: N,
//	  mac: HMAC-SHA256(K, domain ‖
//	  N ‖ joiner ID ‖ project ID)}        ──▶   check nonce (one use, 2 min) and
//	                                           MAC; claim the invite; sign the
//	                                           joiner's membership
//	                                     ◀──   welcome {genesis, members}
//
// K is SHA-256 of a domain string and the secret; the inviter stores K, not
// the secret. The secret never crosses the wire, and a proof is bound to
// one nonce, one joiner and one project, so it cannot be replayed. The
// inviter proves first: a joiner with a short code (no project ID, the
// inviter found on the LAN) learns the project from the challenge and
// trusts it only because the MAC says the other end knows the secret; a
// device that merely pretends to be the inviter gets no proof to attack.
// Refusals are responses too ({t: "error", code}), so the joiner gets the
// exact error (ErrInviteUsed, ErrInviteExpired, ...).

// MaxInviteMessage caps one invite protocol message (the exchange's cap).
const MaxInviteMessage = 64 << 10

const nonceTTL = 2 * time.Minute

// InviteRoundTrip sends one request to the inviter and returns its
// response. The exchange provides it (Node.Invite); tests use
// InviteHandler.Handle directly.
type InviteRoundTrip func(ctx context.Context, req []byte) ([]byte, error)

type inviteMsg struct {
	T       string   `cbor:"t"`
	Invite  []byte   `cbor:"invite,omitempty"`
	Project *link    `cbor:"project,omitempty"`
	Nonce   []byte   `cbor:"nonce,omitempty"`
	MAC     []byte   `cbor:"mac,omitempty"`
	Genesis []byte   `cbor:"genesis,omitempty"`
	Members [][]byte `cbor:"members,omitempty"`
	Code    int      `cbor:"code,omitempty"`
	Keys    [][]byte `cbor:"keys,omitempty"`    // the project's keys, wrapped to the joiner
	Creator []byte   `cbor:"creator,omitempty"` // a blind archive's welcome: the creator's peer ID`
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
	// 10 is an inviter's internal error.
	11: ErrInviteBusy,
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

func encodeMsg(m *inviteMsg) []byte {
	b, err := encMode.Marshal(m)
	if err != nil {
		panic(err) // only byte strings, strings and ints
	}
	return b
}

func decodeMsg(b []byte, want string) (*inviteMsg, error) {
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

// inviterProof is the inviter's answer to the joiner's nonce.
func inviterProof(key, nonce []byte, inviter peer.ID, project cid.Cid) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("fieldsync/invite-inviter/v1\x00"))
	h.Write(nonce)
	h.Write([]byte(inviter))
	h.Write(project.Bytes())
	return h.Sum(nil)
}

func inviteProof(key, nonce []byte, joiner peer.ID, project cid.Cid) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("fieldsync/invite-proof/v1\x00"))
	h.Write(nonce)
	h.Write([]byte(joiner))
	h.Write(project.Bytes())
	return h.Sum(nil)
}

// InviteHandler is the inviter's side of the protocol; it satisfies the
// exchange's InviteHandler interface. Get it from Project.InviteHandler.
type InviteHandler struct {
	p       *Project
	mu      sync.Mutex
	nonces  map[string]time.Time // joiner ‖ invite ID ‖ nonce → expiry
	observe func(InviteOutcome)
	// wrong is when each recent wrong guess (an unknown invite, a wrong
	// proof) came, within the last minute: past MaxWrongGuesses of them
	// the handler answers ErrInviteBusy, which bounds online guessing of
	// a code (docs/trust.md).
	wrong []time.Time
}

// MaxWrongGuesses is how many redemptions naming an unknown invite or
// proving a wrong secret an inviting device answers in a minute, from all
// devices together; beyond, it answers ErrInviteBusy until the minute has
// passed.
const MaxWrongGuesses = 60

// guessing reports whether too many wrong guesses came in the last minute.
func (h *InviteHandler) guessing(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.wrong) > 0 && now.Sub(h.wrong[0]) > time.Minute {
		h.wrong = h.wrong[1:]
	}
	return len(h.wrong) >= MaxWrongGuesses
}

func (h *InviteHandler) wrongGuess(now time.Time) {
	h.mu.Lock()
	h.wrong = append(h.wrong, now)
	h.mu.Unlock()
}

// InviteOutcome is what became of one redemption attempt: a device joined
// (Err nil, with the Role granted), or it was refused and Err says why
// (ErrInviteExpired, ErrInviteUsed, ErrInviteRevoked, ErrInviteUnknown,
// ErrInviteProof, ErrWrongProject, ErrBlocked, ErrInviteProtocol).
type InviteOutcome struct {
	Peer peer.ID
	Role Role
	Err  error
}

// Observe calls fn after each redemption that ends (a welcome sent or a
// refusal), from the goroutine handling it; fn must not block. A
// challenge sent is not an outcome. Observe(nil) stops the calls.
func (h *InviteHandler) Observe(fn func(InviteOutcome)) {
	h.mu.Lock()
	h.observe = fn
	h.mu.Unlock()
}

func (h *InviteHandler) report(o InviteOutcome) {
	h.mu.Lock()
	fn := h.observe
	h.mu.Unlock()
	if fn != nil {
		fn(o)
	}
}

// InviteHandler returns the project's invite handler (one per project).
func (p *Project) InviteHandler() *InviteHandler {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.invites == nil {
		p.invites = &InviteHandler{p: p, nonces: make(map[string]time.Time)}
	}
	return p.invites
}

// Open reports whether any invite made by this device can still be
// redeemed (not expired, used or revoked). The exchange refuses the
// invite protocol to non-members while none is.
func (h *InviteHandler) Open() bool {
	var n int
	err := h.p.db.QueryRow(`SELECT COUNT(*) FROM project_invites WHERE revoked = 0 AND used_by IS NULL AND expires > ?`,
		ms(h.p.now())).Scan(&n)
	return err == nil && n > 0
}

// Handle answers one request from joiner from (the peer ID the transport
// authenticated). Refusals (unknown, expired, used, revoked invite, wrong
// proof, ...) are encoded in resp with a nil error, so that the joiner
// learns exactly why; err is only for failures of this device.
//
// An invite is one-time: once redeemed by a device it cannot be redeemed
// by another, even after a restart. The same device may redeem it again
// (a retry after a cut connection) and gets the same membership.
func (h *InviteHandler) Handle(ctx context.Context, from peer.ID, req []byte) (resp []byte, err error) {
	var out *inviteMsg
	if h.guessing(h.p.now()) {
		err = ErrInviteBusy
	} else {
		out, err = h.handle(ctx, from, req)
		if errors.Is(err, ErrInviteUnknown) || errors.Is(err, ErrInviteProof) {
			h.wrongGuess(h.p.now())
		}
	}
	switch {
	case err != nil:
		h.report(InviteOutcome{Peer: from, Err: err})
	case out.T == "welcome":
		h.report(InviteOutcome{Peer: from, Role: h.p.RoleOf(from)})
	}
	if err != nil {
		code := inviteErrorToCode(err)
		if code == 10 {
			return nil, err
		}
		return encodeMsg(&inviteMsg{T: "error", Code: code}), nil
	}
	return encodeMsg(out), nil
}

func (h *InviteHandler) handle(ctx context.Context, from peer.ID, req []byte) (*inviteMsg, error) {
	var m inviteMsg
	if len(req) > MaxInviteMessage {
		return nil, ErrInviteProtocol
	}
	if err := decodeStrict(req, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInviteProtocol, err)
	}
	p := h.p
	if m.Project != nil && m.Project.cid() != p.id || m.Project == nil && m.T != "hello" {
		return nil, ErrWrongProject
	}
	row, err := p.inviteRow(ctx, m.Invite)
	if err != nil {
		return nil, err
	}
	if err := row.usable(from, p.now()); err != nil {
		return nil, err
	}
	switch m.T {
	case "hello":
		nonce := make([]byte, 32)
		rand.Read(nonce)
		h.remember(string(from)+string(m.Invite)+string(nonce), p.now())
		ch := &inviteMsg{T: "challenge", Nonce: nonce, Project: linkOf(p.id)}
		if len(m.Nonce) == 32 {
			ch.MAC = inviterProof(row.macKey, m.Nonce, p.self.PeerID(), p.id)
		}
		return ch, nil
	case "proof":
		if !h.consume(string(from)+string(m.Invite)+string(m.Nonce), p.now()) {
			return nil, fmt.Errorf("%w: unknown or stale nonce", ErrInviteProtocol)
		}
		if !hmac.Equal(m.MAC, inviteProof(row.macKey, m.Nonce, from, p.id)) {
			return nil, ErrInviteProof
		}
		rec, err := p.claimInvite(ctx, m.Invite, from, row)
		if err != nil {
			return nil, err
		}
		w, err := p.welcomeFor(ctx, rec)
		if err != nil {
			return nil, err
		}
		if row.role == RoleArchive {
			// A blind archive: no genesis (it holds the project's
			// name), no key; the creator's ID instead.
			return &inviteMsg{T: "welcome", Creator: []byte(p.Creator()), Members: w.Members}, nil
		}
		keys, err := p.wrapKeyring(ctx, from)
		if err != nil {
			return nil, err
		}
		return &inviteMsg{T: "welcome", Genesis: w.Genesis, Members: w.Members, Keys: keys}, nil
	}
	return nil, fmt.Errorf("%w: message %q", ErrInviteProtocol, m.T)
}

func (h *InviteHandler) remember(k string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for n, exp := range h.nonces {
		if now.After(exp) {
			delete(h.nonces, n)
		}
	}
	if len(h.nonces) >= 1024 { // a flood: forget the oldest half at random
		for n := range h.nonces {
			delete(h.nonces, n)
			if len(h.nonces) < 512 {
				break
			}
		}
	}
	h.nonces[k] = now.Add(nonceTTL)
}

func (h *InviteHandler) consume(k string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	exp, ok := h.nonces[k]
	delete(h.nonces, k)
	return ok && !now.After(exp)
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
// racing, one wins) and signs the joiner's membership, or returns the
// membership signed by an earlier redemption by the same joiner.
func (p *Project) claimInvite(ctx context.Context, id []byte, joiner peer.ID, row *inviteRow) (cid.Cid, error) {
	if row.record != nil {
		return cid.Cast(row.record)
	}
	if p.RoleOf(joiner) == RoleBlocked {
		return cid.Undef, ErrBlocked
	}
	res, err := p.db.ExecContext(ctx, `UPDATE project_invites SET used = 1, used_by = ?1
		WHERE id = ?2 AND revoked = 0 AND used_by IS NULL AND expires > ?3`, []byte(joiner), id, ms(p.now()))
	if err != nil {
		return cid.Undef, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		cur, err := p.inviteRow(ctx, id)
		if err != nil {
			return cid.Undef, err
		}
		if err := cur.usable(joiner, p.now()); err != nil {
			return cid.Undef, err
		}
		if cur.record != nil {
			return cid.Cast(cur.record)
		}
		return cid.Undef, ErrInviteUsed // claimed by this joiner in a concurrent call
	}
	rec, err := p.setRole(ctx, joiner, row.role, id)
	if err != nil {
		p.db.ExecContext(ctx, `UPDATE project_invites SET used = 0, used_by = NULL WHERE id = ?`, id)
		return cid.Undef, err
	}
	_, err = p.db.ExecContext(ctx, `UPDATE project_invites SET record = ? WHERE id = ?`, rec.CID.Bytes(), id)
	return rec.CID, err
}

// Redeem runs the joiner's side over rt (round trips to code.Inviter): it
// checks that the inviter knows the code's secret, proves it knows it too,
// and receives the welcome, which it checks: the genesis must be the code's
// project and the members must hold a grant for self naming this invite,
// signed by the inviter. Pass the welcome to Join.
//
// Expiry is judged by the inviter's clock, not this device's: field
// devices often have no network time, and the inviter is the one that
// made the code.
func Redeem(ctx context.Context, rt InviteRoundTrip, self *Identity, code *InviteCode) (*Welcome, error) {
	return redeemSecret(ctx, rt, self, code.Secret[:], code.Project, code.Inviter)
}

// RedeemShort is Redeem with a short code, from the device inviter (found
// on the local network, or given): the project is the one the inviter
// proves it holds the invite of.
func RedeemShort(ctx context.Context, rt InviteRoundTrip, self *Identity, code *ShortCode, inviter peer.ID) (*Welcome, error) {
	return redeemSecret(ctx, rt, self, code.secret[:], cid.Undef, inviter)
}

func redeemSecret(ctx context.Context, rt InviteRoundTrip, self *Identity, secret []byte, project cid.Cid, inviter peer.ID) (*Welcome, error) {
	id, key := inviteID(secret), inviteMACKey(secret)
	jn := make([]byte, 32)
	rand.Read(jn)
	resp, err := rt(ctx, encodeMsg(&inviteMsg{T: "hello", Invite: id, Project: linkOf(project), Nonce: jn}))
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	ch, err := decodeMsg(resp, "challenge")
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	if len(ch.Nonce) != 32 {
		return nil, fmt.Errorf("redeem invite: %w: nonce", ErrInviteProtocol)
	}
	got := ch.Project.cid()
	if !got.Defined() || project.Defined() && got != project {
		return nil, fmt.Errorf("redeem invite: %w: the inviter answered for another project", ErrWrongProject)
	}
	if !hmac.Equal(ch.MAC, inviterProof(key, jn, inviter, got)) {
		return nil, fmt.Errorf("redeem invite: %w: the device answering does not know this invite's secret", ErrInviteProof)
	}
	project = got
	mac := inviteProof(key, ch.Nonce, self.PeerID(), project)
	resp, err = rt(ctx, encodeMsg(&inviteMsg{T: "proof", Invite: id, Project: linkOf(project), Nonce: ch.Nonce, MAC: mac}))
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	wm, err := decodeMsg(resp, "welcome")
	if err != nil {
		return nil, fmt.Errorf("redeem invite: %w", err)
	}
	w := &Welcome{Genesis: wm.Genesis, Members: wm.Members, Keys: wm.Keys, Project: project}
	if len(w.Genesis) == 0 && len(wm.Creator) > 0 {
		// A blind archive's welcome: the creator as the inviter says.
		if w.Creator, err = peer.IDFromBytes(wm.Creator); err != nil {
			return nil, fmt.Errorf("redeem invite: %w: creator", ErrInviteProtocol)
		}
	} else if blockCID(w.Genesis) != project {
		return nil, fmt.Errorf("redeem invite: %w: genesis is not the invited project", ErrWrongProject)
	}
	granted := false
	for _, b := range w.Members {
		r, err := DecodeRecord(b)
		if err != nil {
			return nil, fmt.Errorf("redeem invite: %w", err)
		}
		w.decoded = append(w.decoded, r)
		if m := r.Membership; m != nil && r.Author == inviter && m.Subject == self.PeerID() && bytes.Equal(m.Invite, id) {
			granted = true
		}
	}
	if !granted {
		return nil, fmt.Errorf("redeem invite: %w: no grant for this device in the welcome", ErrInviteProtocol)
	}
	return w, nil
}
