package device

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NodeOptions shape the exchange node of a device.
type NodeOptions struct {
	ListenAddrs []string // default: TCP and QUIC on every interface, random ports
	MDNS        bool
	Logger      *slog.Logger
}

// Node builds (but does not start) the exchange node of the device's
// project.
func (d *Device) Node(ctx context.Context, opt NodeOptions) (*exchange.Node, error) {
	p, err := d.NeedProject()
	if err != nil {
		return nil, err
	}
	f, err := p.FilterOf(ctx, d.Self.PeerID())
	if err != nil {
		return nil, fmt.Errorf("read filter: %w", err)
	}
	return exchange.New(exchange.Config{
		Key:         d.Self.PrivKey(),
		ListenAddrs: opt.ListenAddrs,
		ProjectID:   p.ID().String(),
		Store:       d.Store,
		Access:      access{p},
		Records:     project.ExchangeRecords{P: p},
		Wants:       wants{p},
		Invites:     p.InviteHandler(),
		Filter:      ExchangeFilter(f),
		MDNS:        opt.MDNS,
		Logger:      opt.Logger,
	})
}

// ExchangeFilter maps a project filter to the classes it declares to peers.
func ExchangeFilter(f project.Filter) exchange.Filter {
	return exchange.FilterOf(f.Classes()...)
}

// ExchangeRole maps a project role to the exchange's.
func ExchangeRole(r project.Role) exchange.Role {
	switch r {
	case project.RoleCreator:
		return exchange.RoleCreator
	case project.RoleCoordinator:
		return exchange.RoleCoordinator
	case project.RoleMember:
		return exchange.RoleMember
	case project.RoleBlocked:
		return exchange.RoleBlocked
	default:
		return exchange.RoleNone
	}
}

type access struct{ p *project.Project }

func (a access) Role(id peer.ID) exchange.Role { return ExchangeRole(a.p.RoleOf(id)) }

type wants struct{ p *project.Project }

func (w wants) Wanted(ctx context.Context) ([]exchange.Want, error) {
	f, err := w.p.FilterOf(ctx, w.p.Self().PeerID())
	if err != nil {
		return nil, err
	}
	ws, err := w.p.WantedBlobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]exchange.Want, len(ws))
	for i, x := range ws {
		out[i] = exchange.Want{CID: x.CID, Class: x.Class, Size: x.Size, ObservedAt: x.ObservedAt}
	}
	return out, nil
}
