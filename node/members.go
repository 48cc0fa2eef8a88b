package node

import (
	"context"

	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Members lists the project's devices with their roles: the creator
// first, then by peer ID. Blocked devices are listed, as blocked.
func (n *Node) Members() ([]project.Member, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.Members(), nil
}

// RoleOf is a device's role in the project (RoleNone for a stranger).
func (n *Node) RoleOf(id peer.ID) project.Role {
	p, err := n.project()
	if err != nil {
		return project.RoleNone
	}
	return p.RoleOf(id)
}

// SetRole signs a membership record giving device id the role (member,
// coordinator or blocked). Only the creator and coordinators may; the
// creator's role cannot change. A running network applies it at once: a
// device blocked here is disconnected and gets nothing more from this
// device, and the record travels to the other members first, before any
// blob.
func (n *Node) SetRole(ctx context.Context, id peer.ID, role project.Role) error {
	p, err := n.project()
	if err != nil {
		return err
	}
	if _, err := p.SetRole(ctx, id, role); err != nil {
		return err
	}
	n.checkRoles()
	n.notify()
	return nil
}

// Block blocks device id: SetRole(id, RoleBlocked).
func (n *Node) Block(ctx context.Context, id peer.ID) error {
	return n.SetRole(ctx, id, project.RoleBlocked)
}
