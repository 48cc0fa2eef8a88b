package device

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Join redeems an invite code with the inviting device over the network
// and stores the project it welcomes this device into. The inviter must be
// running (fieldsync serve) at one of the code's addresses.
func (d *Device) Join(ctx context.Context, code *project.InviteCode, listen []string) (*project.Project, error) {
	if d.Project != nil {
		if d.Project.ID() == code.Project {
			return d.Project, nil // joined already (a retry)
		}
		return nil, fmt.Errorf("%w (%s): use another --data directory to join a second project", ErrHasProject, d.Project.Name())
	}
	if time.Now().After(code.Expires) {
		return nil, fmt.Errorf("%w: it expired at %s; ask for a new code", project.ErrInviteExpired, code.Expires.Local().Format("2006-01-02 15:04"))
	}
	if len(listen) == 0 {
		listen = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	// A node that is not yet in any project: it only speaks the invite
	// protocol, as a client.
	n, err := exchange.New(exchange.Config{
		Key:         d.Self.PrivKey(),
		ListenAddrs: listen,
		ProjectID:   code.Project.String(),
		Store:       d.Store,
		Access:      noAccess{},
		Records:     noRecords{},
		Wants:       noWants{},
	})
	if err != nil {
		return nil, err
	}
	defer n.Close()
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	ai := peer.AddrInfo{ID: code.Inviter, Addrs: code.Addrs}
	rt := func(ctx context.Context, req []byte) ([]byte, error) { return n.Invite(ctx, ai, req) }
	w, err := project.Redeem(ctx, rt, d.Self, code)
	if err != nil {
		for _, known := range []error{project.ErrInviteExpired, project.ErrInviteUsed, project.ErrInviteRevoked,
			project.ErrInviteUnknown, project.ErrInviteProof, project.ErrInviteMalformed, project.ErrInviteChecksum} {
			if errors.Is(err, known) {
				return nil, err
			}
		}
		// The inviter closes the invite protocol to strangers while it has
		// no open invite, so a used, revoked or expired code often ends in
		// a refused stream rather than a reason.
		return nil, fmt.Errorf("the inviting device %s did not accept this invite: it may have already been used, been revoked or expired, or that device is not running 'fieldsync serve' at %v (%w)", code.Inviter, code.Addrs, err)
	}
	p, err := project.Join(ctx, d.DB, d.Self, w)
	if err != nil {
		return nil, err
	}
	d.Project = p
	return p, nil
}

type noAccess struct{}

func (noAccess) Role(peer.ID) exchange.Role { return exchange.RoleNone }

type noRecords struct{}

func (noRecords) Vector(context.Context) (map[peer.ID]uint64, error) { return nil, nil }
func (noRecords) Missing(context.Context, map[peer.ID]uint64, int) ([][]byte, error) {
	return nil, nil
}
func (noRecords) Apply(context.Context, peer.ID, [][]byte) (int, error) {
	return 0, fmt.Errorf("not in a project yet")
}

type noWants struct{}

func (noWants) Wanted(context.Context) ([]exchange.Want, error) { return nil, nil }
