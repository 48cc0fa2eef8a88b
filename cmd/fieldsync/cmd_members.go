package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

var membersCmd = &command{
	name:    "members",
	summary: "list the project's devices: name, role, last seen, invite",
	usage: `Usage: fieldsync members [--data DIR] [--json]

Lists the project's devices as this device knows them: the name each gave
itself, its peer ID, its role (creator, coordinator, member, archive (a
blind archive, which keeps the project sealed), blocked), when this device
last had a session with it, and the invite it joined with (and who made
it). A device learns of new members and blocks when it syncs.

Options:
` + dataHelp + `  --json      one JSON object per device (docs/json.md, Member)

Exit codes: 0 listed, 1 failure, 2 bad usage.
`,
}

var roleCmd = &command{
	name:    "role",
	summary: "give a device a role: member or coordinator (coordinators)",
	usage: `Usage: fieldsync role [--data DIR] PEER ROLE

Gives device PEER (its peer ID, a unique prefix of it, or its name; see
'fieldsync members') the role ROLE: member or coordinator (or blocked, as
'fieldsync block'). Only the creator and coordinators may. The change is a
signed record; other devices apply it when they sync, records first.

Examples:
  fieldsync role "Maria's phone" coordinator

Exit codes: 0 done, 1 failure (e.g. this device may not change roles), 2 bad usage.
`,
}

var blockCmd = &command{
	name:    "block",
	summary: "block a lost or stolen device: it gets nothing more (coordinators)",
	usage: `Usage: fieldsync block [--data DIR] PEER

Blocks device PEER (its peer ID, a unique prefix, or its name; see
'fieldsync members'): every device that learns of the block cuts its
sessions with it at once and gives it nothing more; what it signed before
the block stays valid, anything it signs after does not count. What it
already holds stays on it. Only the creator and coordinators may block. A
running 'fieldsync serve' on this data directory applies it within a
second; other devices learn it at their next sync, before anything else.

Examples:
  fieldsync block "Maria's phone"
  fieldsync block 12D3KooWAbc

Exit codes: 0 blocked, 1 failure (e.g. this device may not block), 2 bad usage.
`,
}

var nameCmd = &command{
	name:    "name",
	summary: "show or set this device's name, shown to the other devices",
	usage: `Usage: fieldsync name [--data DIR] [NAME]

Without NAME, prints this device's name. With NAME, gives this device that
name ("Maria's phone", "base camp laptop": 1 to 64 characters on one line),
shown wherever the project's devices list it. Set at 'init --name' or
'join --name' too.

Exit codes: 0 done, 1 failure, 2 bad usage.
`,
}

func init() {
	membersCmd.run = runMembers
	roleCmd.run = runRole
	blockCmd.run = runBlock
	nameCmd.run = runName
	register(membersCmd)
	register(roleCmd)
	register(blockCmd)
	register(nameCmd)
}

func runMembers(ctx context.Context, e *env, args []string) error {
	fs := newFlags(membersCmd, e)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(membersCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	n, err := openBlindOK(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if n.IsBlind() {
		return printBlindMembers(ctx, e, n, *asJSON)
	}
	ms, err := n.Members(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		for _, m := range ms {
			_ = writeJSON(e.stdout, m)
		}
		return nil
	}
	names := map[peer.ID]string{}
	for _, m := range ms {
		names[m.Peer] = m.Label()
	}
	fmt.Fprintf(e.stdout, "%-22s %-12s %-14s %-22s %s\n", "NAME", "ROLE", "LAST SEEN", "INVITE", "PEER ID")
	for _, m := range ms {
		name := m.Name
		if name == "" {
			name = "(no name)"
		}
		if m.Self {
			name += " (this device)"
		}
		seen := "never"
		if m.Self {
			seen = "now"
		} else if !m.LastSeen.IsZero() {
			seen = ago(m.LastSeen)
		}
		inv := "-"
		if m.Invite != "" {
			inv = m.Invite + " from " + names[m.InvitedBy]
			if names[m.InvitedBy] == "" {
				inv = m.Invite + " from " + node.ShortID(m.InvitedBy)
			}
		}
		fmt.Fprintf(e.stdout, "%-22s %-12s %-14s %-22s %s\n", name, m.Role, seen, inv, m.Peer)
	}
	return nil
}

func runRole(ctx context.Context, e *env, args []string) error {
	fs := newFlags(roleCmd, e)
	data := dataFlag(fs)
	rest, err := parseFlags(roleCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 {
		return usagef("want PEER ROLE")
	}
	var role project.Role
	switch rest[1] {
	case "member", "coordinator", "blocked":
		role = project.Role(rest[1])
	default:
		return usagef("role %q: want member, coordinator or blocked", rest[1])
	}
	return setRole(ctx, e, *data, rest[0], role)
}

func runBlock(ctx context.Context, e *env, args []string) error {
	fs := newFlags(blockCmd, e)
	data := dataFlag(fs)
	rest, err := parseFlags(blockCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("want exactly one PEER (see 'fieldsync members')")
	}
	return setRole(ctx, e, *data, rest[0], project.RoleBlocked)
}

func setRole(ctx context.Context, e *env, data, who string, role project.Role) error {
	n, err := openNode(ctx, data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	m, err := findMember(ctx, n, who)
	if err != nil {
		return err
	}
	if m.Role == role {
		fmt.Fprintf(e.stdout, "%s is already %s\n", m.Label(), role)
		return nil
	}
	if err := n.SetRole(ctx, m.Peer, role); err != nil {
		return err
	}
	if role == project.RoleBlocked {
		fmt.Fprintf(e.stdout, "blocked %s (%s): it gets nothing more from this device, and from every device that learns of the block when it syncs\n", m.Label(), m.Peer)
		if st := n.RunningServe(); st != nil {
			fmt.Fprintf(e.stdout, "the 'fieldsync serve' running here (pid %d) cuts it off within a second\n", st.PID)
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "%s (%s) is %s now\n", m.Label(), m.Peer, role)
	return nil
}

// findMember finds a device by peer ID, unique peer ID prefix (at least 6
// characters) or name (case-insensitive).
func findMember(ctx context.Context, n *node.Node, who string) (node.Member, error) {
	ms, err := n.Members(ctx)
	if err != nil {
		return node.Member{}, err
	}
	var found []node.Member
	for _, m := range ms {
		id := m.Peer.String()
		if id == who {
			return m, nil
		}
		if (len(who) >= 6 && strings.HasPrefix(id, who)) || (m.Name != "" && strings.EqualFold(m.Name, who)) {
			found = append(found, m)
		}
	}
	switch len(found) {
	case 0:
		return node.Member{}, fmt.Errorf("no device %q in this project (list them with 'fieldsync members')", who)
	case 1:
		return found[0], nil
	}
	return node.Member{}, fmt.Errorf("%q names %d devices: give its whole peer ID (see 'fieldsync members')", who, len(found))
}

func runName(ctx context.Context, e *env, args []string) error {
	fs := newFlags(nameCmd, e)
	data := dataFlag(fs)
	rest, err := parseFlags(nameCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return usagef("want at most one NAME (quote it if it has spaces)")
	}
	n, err := openNode(ctx, *data, true, false, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if len(rest) == 0 {
		name := n.Name(ctx)
		if name == "" {
			name = "(no name: set one with 'fieldsync name NAME')"
		}
		fmt.Fprintln(e.stdout, name)
		return nil
	}
	if err := checkName(rest[0]); err != nil {
		return err
	}
	if err := n.SetName(ctx, rest[0]); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "this device is %q now\n", rest[0])
	return nil
}

// checkName refuses a device name that is not 1 to 64 bytes on one line.
func checkName(s string) error {
	if s == "" || len(s) > 64 || strings.ContainsAny(s, "\n\r\t") {
		return usagef("name %q: give 1 to 64 characters on one line", s)
	}
	return nil
}

// printBlindMembers lists the members as a blind archive knows them: peer
// IDs and roles from the clear membership records (no names: those are in
// sealed records).
func printBlindMembers(ctx context.Context, e *env, n *node.Node, asJSON bool) error {
	st, err := n.BlindStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		for _, m := range st.Members {
			_ = writeJSON(e.stdout, m)
		}
		return nil
	}
	fmt.Fprintf(e.stdout, "%-12s %s\n", "ROLE", "PEER ID")
	for _, m := range st.Members {
		fmt.Fprintf(e.stdout, "%-12s %s\n", m.Role, m.Peer)
	}
	return nil
}
