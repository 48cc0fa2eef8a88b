package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	ma "github.com/multiformats/go-multiaddr"
)

var inviteCmd = &command{
	name:    "invite",
	summary: "make a one-time invite code for another device",
	usage: `Usage: fieldsync invite [--data DIR] [--role member|coordinator | --blind] [--ttl 24h]
                        [--addr MULTIADDR]... [--no-qr] [--json]
       fieldsync invite --list | --revoke ID

Makes a one-time invite code to this device's project and prints it as text
and as a QR code for a terminal. The code carries the project ID, this
device's peer ID and addresses, a secret, the role and an expiry. The joining
device runs 'fieldsync join CODE' while this device runs 'fieldsync serve'.

Addresses: by default those of the running 'fieldsync serve' on this data
directory; --addr gives them explicitly (e.g. when serve listens on a fixed
port: /ip4/192.168.1.20/tcp/4747). Only the creator and coordinators may
invite. 'fieldsync serve --invite' makes a code too, in one step. The
code has a short form too (4-4-4-1 symbols), to read aloud over a radio
or a phone: the joining device then finds this one on the local network.

--list shows the invites this device made (open, used and by whom,
revoked, expired); --revoke ID makes one unusable (a code read out on an
open channel, a phone lost before it joined): whoever tries it is told it
was revoked.

Options:
` + dataHelp + `  --role ROLE   member (default) or coordinator
  --blind       a code for a blind archive: a device (e.g. a rented server)
                that keeps and serves the project sealed, verifies it by
                hash, and cannot read it (docs/internet.md)
  --ttl DUR     how long the code stays valid (default 24h)
  --addr ADDR   an address to put in the code (repeatable)
  --no-qr       do not print the QR code
  --json        print {"code","short","project","role","expires"} as JSON
  --list        list the invites this device made
  --revoke ID   revoke an invite (its ID, or a prefix of it, from --list)

Examples:
  fieldsync serve &              # then, in another terminal:
  fieldsync invite
  fieldsync invite --role coordinator --ttl 2h --addr /ip4/192.168.1.20/tcp/4747

Exit codes: 0 done, 1 failure (no project, not allowed to invite, no
address known), 2 bad usage.
`,
}

func init() {
	inviteCmd.run = runInvite
	register(inviteCmd)
}

// addrList is a repeatable multiaddr flag.
type addrList []string

func (a *addrList) String() string     { return strings.Join(*a, ",") }
func (a *addrList) Set(s string) error { *a = append(*a, s); return nil }

func runInvite(ctx context.Context, e *env, args []string) error {
	fs := newFlags(inviteCmd, e)
	data := dataFlag(fs)
	role := fs.String("role", "member", "")
	blindArchive := fs.Bool("blind", false, "")
	ttl := fs.Duration("ttl", 24*time.Hour, "")
	var addrs addrList
	fs.Var(&addrs, "addr", "")
	noQR := fs.Bool("no-qr", false, "")
	asJSON := fs.Bool("json", false, "")
	list := fs.Bool("list", false, "")
	revoke := fs.String("revoke", "", "")
	rest, err := parseFlags(inviteCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if *list || *revoke != "" {
		return inviteList(ctx, e, *data, *revoke, *asJSON)
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	if *blindArchive {
		r = project.RoleArchive
	}
	if *ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return usagef("--addr %q: %v", s, err)
		}
		mas = append(mas, a)
	}
	n, err := openNode(ctx, *data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	inv, err := n.Invite(ctx, node.InviteOptions{Role: r, TTL: *ttl, Addrs: mas})
	if err != nil {
		return err
	}
	return printInvite(e.stdout, inv, !*noQR, *asJSON)
}

// inviteList lists this device's invites, or revokes one.
func inviteList(ctx context.Context, e *env, data, revoke string, asJSON bool) error {
	n, err := openNode(ctx, data, true, true, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	if revoke != "" {
		if err := n.RevokeInvite(ctx, revoke); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "revoked invite %s: whoever tries its code is told it was revoked\n", revoke)
		return nil
	}
	ins, err := n.Invites(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		for _, in := range ins {
			_ = writeJSON(e.stdout, map[string]any{"id": in.ID, "role": in.Role, "created": in.Created.UTC(), "expires": in.Expires.UTC(), "state": in.State, "used_by": string(in.UsedBy)})
		}
		return nil
	}
	if len(ins) == 0 {
		fmt.Fprintln(e.stdout, "this device has made no invite yet")
		return nil
	}
	fmt.Fprintf(e.stdout, "%-9s %-12s %-8s %-17s %s\n", "ID", "ROLE", "STATE", "EXPIRES", "USED BY")
	for _, in := range ins {
		by := ""
		if in.UsedBy != "" {
			by = n.PeerName(ctx, in.UsedBy) + " " + in.UsedBy.String()
		}
		fmt.Fprintf(e.stdout, "%-9s %-12s %-8s %-17s %s\n", in.ID, in.Role, in.State, in.Expires.Local().Format("2006-01-02 15:04"), by)
	}
	return nil
}

func parseRole(s string) (project.Role, error) {
	switch s {
	case "member", "":
		return project.RoleMember, nil
	case "coordinator":
		return project.RoleCoordinator, nil
	}
	return "", usagef("--role %q: want member or coordinator", s)
}

func printInvite(w io.Writer, inv *node.Invite, qr, asJSON bool) error {
	if asJSON {
		return writeJSON(w, map[string]any{
			"code": inv.Code, "short": inv.Short, "project": inv.Project,
			"role": string(inv.Role), "expires": inv.Expires.UTC().Format(time.RFC3339),
		})
	}
	if qr {
		if q, err := qrText(inv.Code); err == nil {
			fmt.Fprintln(w, q)
		}
	}
	fmt.Fprintf(w, "invite code (one-time, %s, valid until %s):\n\n  %s\n\n",
		inv.Role, inv.Expires.Local().Format("2006-01-02 15:04"), inv.Code)
	if inv.Short != "" {
		fmt.Fprintf(w, "or, to read aloud (the same invite; the other device finds this one on the local network):\n\n  %s\n\n", inv.Short)
	}
	fmt.Fprintln(w, "on the other device:  fieldsync join CODE   (while this device runs 'fieldsync serve')")
	return nil
}
