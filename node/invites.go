package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// InviteOptions shape Invite.
type InviteOptions struct {
	Role project.Role  // RoleMember (default) or RoleCoordinator
	TTL  time.Duration // how long the code can be redeemed (default 24 h)
	// Addrs are where the joiner reaches this device. Empty: the addresses
	// the network listens on (Start), else those of the serve running on
	// this data directory; with neither, Invite fails with ErrNoAddress.
	Addrs []ma.Multiaddr
}

// Invite is a one-time invite code and what it grants.
type Invite struct {
	Code string // the text to pass on (it also fits a QR code)
	// Short is the same invite in a form to read aloud over a radio or a
	// phone ("K7QM-2XD4-R9TP-J"): the joiner finds the inviter on the
	// local network (or is given its address). Whichever form is redeemed
	// first uses the invite up.
	Short   string
	Project string       // the project ID
	Role    project.Role // the role the joiner gets
	Expires time.Time
}

// Invite makes a one-time invite code: the device that redeems it first,
// before it expires, becomes a member with opts.Role. This device must be
// running (Serve, or another process serving the same data directory) when
// the joiner redeems it.
func (n *Node) Invite(ctx context.Context, opts InviteOptions) (*Invite, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	addrs := opts.Addrs
	if len(addrs) == 0 {
		addrs = n.Addrs()
	}
	if len(addrs) == 0 {
		if st := n.RunningServe(); st != nil {
			for _, s := range st.Addrs {
				if a, err := ma.NewMultiaddr(s); err == nil {
					addrs = append(addrs, a)
				}
			}
		}
	}
	if len(addrs) == 0 {
		return nil, ErrNoAddress
	}
	addrs = append(stripP2P(addrs), n.circuitAddrs(ctx, p)...)
	if opts.Role == project.RoleArchive {
		// Devices blocked before the first archive must not hold the
		// key it will be sealed under.
		if _, err := p.RotateIfBlocked(ctx); err != nil {
			return nil, err
		}
	}
	code, err := p.Invite(ctx, project.InviteOptions{Role: opts.Role, TTL: opts.TTL, Addrs: addrs})
	if err != nil {
		return nil, err
	}
	short, _ := code.Short()
	return &Invite{Code: code.String(), Short: short, Project: code.Project.String(), Role: code.Role, Expires: code.Expires}, nil
}

// circuitAddrs are this device's addresses through the project's
// always-on devices' relays (first address of each, this device left
// out), for an invite code: a joiner that cannot reach this device
// directly (in another village, behind its own NAT) redeems the code
// through an always-on device, which relays a stranger to coordinators
// only, and this device holds a reservation there while it runs.
// The blind archives this device knows the address of count as
// always-on devices here: a joiner learns of them only from the code.
func (n *Node) circuitAddrs(ctx context.Context, p *project.Project) []ma.Multiaddr {
	own, err := p.AlwaysOn(ctx)
	if err != nil || len(own[n.ID()]) > 0 {
		return nil // an always-on device is reached at its own addresses
	}
	var out []ma.Multiaddr
	for _, ai := range n.alwaysOn(ctx, p) { // sorted by peer ID: the same code text for the same state
		if len(ai.Addrs) == 0 {
			continue
		}
		if c, err := ma.NewMultiaddr(ai.Addrs[0].String() + "/p2p/" + ai.ID.String() + "/p2p-circuit"); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// relaysIn are the relays named by a code's circuit addresses
// (ADDR/p2p/RELAY/p2p-circuit): the project's always-on devices, blind
// archives among them.
func relaysIn(addrs []ma.Multiaddr) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, a := range addrs {
		if ai, ok := exchange.RelayOf(a); ok && len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out
}

// rememberArchives keeps, of the peers given, those that are the
// project's blind archives, for later runs (knownPeers).
func rememberArchives(dir string, p *project.Project, peers []peer.AddrInfo) {
	archives := p.Archives()
	var keep []peer.AddrInfo
	for _, ai := range peers {
		if len(ai.Addrs) > 0 && slices.Contains(archives, ai.ID) {
			keep = append(keep, ai)
		}
	}
	if len(keep) > 0 {
		_ = rememberPeers(dir, keep...)
	}
}

// JoinOptions shape Join.
type JoinOptions struct {
	// Filter is what this device will want of the project's blobs
	// (default project.Archive: everything).
	Filter project.Filter
	// Listen are the addresses the joining device listens on while it
	// redeems the code (default: loopback, a random port; with a short
	// code, every interface, to be found and answered on the LAN).
	Listen []string
	// Inviter is where the inviting device is, for a short code beyond
	// the local network (a short code carries no address; without this,
	// the inviter is looked for by mDNS for FindTimeout).
	Inviter *peer.AddrInfo
	// FindTimeout bounds the search for a short code's inviter on the
	// local network (default 30 s).
	FindTimeout time.Duration
	// HostOptions are extra libp2p options for the joining host, as
	// NetOptions.HostOptions.
	HostOptions []libp2p.Option
}

// ParseInvite checks an invite code's text (spaces and line breaks are
// ignored) without contacting anyone. A short code gives an Invite with
// only Short set: what it invites to is learnt from the inviter.
func ParseInvite(code string) (*Invite, error) {
	if project.IsShortCode(code) {
		if _, err := project.ParseShortCode(code); err != nil {
			return nil, err
		}
		return &Invite{Short: code}, nil
	}
	c, err := project.ParseInviteCode(strings.Join(strings.Fields(code), ""))
	if err != nil {
		return nil, err
	}
	return &Invite{Code: c.String(), Project: c.Project.String(), Role: c.Role, Expires: c.Expires}, nil
}

// Join redeems an invite code with the inviting device over the network
// and makes this device a member of its project. The inviter must be
// running (Serve) at one of the code's addresses. Errors are *InviteError
// wrapping one of the ErrInvite* values or ErrInviterUnreachable. Joining
// the project this device is already in is a no-op (a retry); another
// project gives ErrHasProject.
func (n *Node) Join(ctx context.Context, code string, opts JoinOptions) (ProjectInfo, error) {
	var full *project.InviteCode
	var short *project.ShortCode
	var err error
	if project.IsShortCode(code) {
		short, err = project.ParseShortCode(code)
	} else {
		full, err = project.ParseInviteCode(strings.Join(strings.Fields(code), ""))
	}
	if err != nil {
		return ProjectInfo{}, err
	}
	ie := &InviteError{}
	if full != nil {
		ie.Inviter = full.Inviter.String()
		for _, a := range full.Addrs {
			ie.Addrs = append(ie.Addrs, a.String())
		}
	}
	if a := n.archive(); a != nil {
		if full != nil && a.Project() == full.Project {
			return ProjectInfo{ID: a.Project().String(), Creator: a.Creator(), Role: project.RoleArchive}, nil
		}
		return ProjectInfo{}, ErrBlind
	}
	if p, err := n.project(); err == nil {
		if full != nil && p.ID() == full.Project {
			return n.Project()
		}
		return ProjectInfo{}, &ProjectError{Name: p.Name(), ID: p.ID().String(), Err: ErrHasProject}
	}
	if err := n.needStore(); err != nil {
		return ProjectInfo{}, err
	}
	if full != nil && time.Now().After(full.Expires) {
		ie.Err = fmt.Errorf("%w (at %s)", ErrInviteExpired, full.Expires.Local().Format("2006-01-02 15:04"))
		return ProjectInfo{}, ie
	}
	listen := opts.Listen
	if len(listen) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
		if short != nil && opts.Inviter == nil {
			listen = []string{"/ip4/0.0.0.0/tcp/0"} // mDNS answers where it is heard
		}
	}
	// A node that is in no project yet: it speaks the invite protocol only,
	// as a client.
	projectID := ""
	if full != nil {
		projectID = full.Project.String()
	}
	ex, err := exchange.New(exchange.Config{
		Key:         n.self.PrivKey(),
		ListenAddrs: listen,
		ProjectID:   projectID,
		Store:       n.store,
		Access:      noAccess{},
		Records:     noRecords{},
		Wants:       noWants{},
		InviteOnly:  true,
		Logger:      n.log,
		HostOptions: opts.HostOptions,
	})
	if err != nil {
		return ProjectInfo{}, err
	}
	defer ex.Close()
	if err := ex.Start(ctx); err != nil {
		return ProjectInfo{}, err
	}
	var ai peer.AddrInfo
	switch {
	case full != nil:
		ai = peer.AddrInfo{ID: full.Inviter, Addrs: full.Addrs}
	case opts.Inviter != nil:
		ai = *opts.Inviter
	default:
		wait := opts.FindTimeout
		if wait <= 0 {
			wait = 30 * time.Second
		}
		fctx, cancel := context.WithTimeout(ctx, wait)
		ai, err = ex.FindInviter(fctx, short.Tag())
		cancel()
		if err != nil {
			ie.Err = fmt.Errorf("%w: no device on this network answered for this code in %s", ErrInviterNotFound, wait)
			return ProjectInfo{}, ie
		}
	}
	ie.Inviter = ai.ID.String()
	if len(ie.Addrs) == 0 {
		for _, a := range ai.Addrs {
			ie.Addrs = append(ie.Addrs, a.String())
		}
	}
	rt := func(ctx context.Context, req []byte) ([]byte, error) { return ex.Invite(ctx, ai, req) }
	var w *project.Welcome
	if full != nil {
		w, err = project.Redeem(ctx, rt, n.self, full)
	} else {
		w, err = project.RedeemShort(ctx, rt, n.self, short, ai.ID)
	}
	if err != nil {
		ie.Err = err
		known := false
		for _, k := range []error{ErrInviteExpired, ErrInviteUsed, ErrInviteRevoked, ErrInviteUnknown, ErrInviteProof,
			ErrInviteMalformed, ErrInviteChecksum, project.ErrWrongProject, project.ErrBlocked} {
			known = known || errors.Is(err, k)
		}
		if !known && ctx.Err() == nil {
			ie.Err = fmt.Errorf("%w (%v)", ErrInviterUnreachable, err)
		}
		return ProjectInfo{}, ie
	}
	if len(w.Genesis) == 0 && w.Creator != "" {
		return n.joinBlind(ctx, w, ai)
	}
	p, err := project.Join(ctx, n.db, n.self, w)
	if err != nil {
		return ProjectInfo{}, err
	}
	f := opts.Filter
	if f.Mode == "" {
		f = project.Archive
	}
	if err := p.SetFilter(ctx, n.ID(), f); err != nil {
		return ProjectInfo{}, err
	}
	_ = rememberPeers(n.dir, ai)
	if full != nil {
		// The always-on devices the inviter named, blind archives among
		// them: the joiner finds them again by itself.
		if rs := relaysIn(full.Addrs); len(rs) > 0 {
			_ = rememberPeers(n.dir, rs...)
		}
	}
	if err := n.publishName(ctx, p); err != nil {
		return ProjectInfo{}, err
	}
	n.setProject(p)
	return n.Project()
}

type noAccess struct{}

func (noAccess) Role(peer.ID) exchange.Role { return exchange.RoleNone }

type noRecords struct{}

func (noRecords) Vector(context.Context) (map[peer.ID]uint64, error) { return nil, nil }
func (noRecords) Missing(context.Context, map[peer.ID]uint64, int) ([][]byte, error) {
	return nil, nil
}
func (noRecords) Apply(context.Context, peer.ID, [][]byte) (int, error) {
	return 0, errors.New("not in a project yet")
}

type noWants struct{}

func (noWants) Wanted(context.Context) ([]exchange.Want, error) { return nil, nil }

// InviteInfo is an invite this device made.
type InviteInfo struct {
	ID      string // 8 hex digits of the invite ID: what members list as the invite they joined with
	Role    project.Role
	Created time.Time
	Expires time.Time
	State   string  // open, used, revoked, expired
	UsedBy  peer.ID // the device that redeemed it
}

// Invites lists the invites this device made, newest first.
func (n *Node) Invites(ctx context.Context) ([]InviteInfo, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	ins, err := p.Invites(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]InviteInfo, len(ins))
	for i, in := range ins {
		info := InviteInfo{ID: hex.EncodeToString(in.ID[:min(4, len(in.ID))]), Role: in.Role, Created: in.Created, Expires: in.Expires, UsedBy: in.UsedBy, State: "open"}
		switch {
		case in.UsedBy != "":
			info.State = "used"
		case in.Revoked:
			info.State = "revoked"
		case !time.Now().Before(in.Expires):
			info.State = "expired"
		}
		out[i] = info
	}
	return out, nil
}

// RevokeInvite makes an invite this device made unusable, named by its
// ID or a unique prefix of it (as Invites lists it). An unknown one gives
// ErrInviteUnknown.
func (n *Node) RevokeInvite(ctx context.Context, id string) error {
	p, err := n.project()
	if err != nil {
		return err
	}
	ins, err := p.Invites(ctx)
	if err != nil {
		return err
	}
	var match [][]byte
	for _, in := range ins {
		if id != "" && strings.HasPrefix(hex.EncodeToString(in.ID), strings.ToLower(id)) {
			match = append(match, in.ID)
		}
	}
	switch len(match) {
	case 0:
		return fmt.Errorf("invite %q: %w", id, ErrInviteUnknown)
	case 1:
		return p.RevokeInvite(ctx, match[0])
	}
	return fmt.Errorf("invite %q names %d invites: give more of its ID", id, len(match))
}
