package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/project"
	ma "github.com/multiformats/go-multiaddr"
)

var inviteCmd = &command{
	name:    "invite",
	summary: "make a one-time invite code for another device",
	usage: `Usage: fieldsync invite [--data DIR] [--role member|coordinator] [--ttl 24h]
                        [--addr MULTIADDR]... [--no-qr] [--json]

Makes a one-time invite code to this device's project and prints it as text
and as a QR code for a terminal. The code carries the project ID, this
device's peer ID and addresses, a secret, the role and an expiry. The joining
device runs 'fieldsync join CODE' while this device runs 'fieldsync serve'.

Addresses: by default those of the running 'fieldsync serve' on this data
directory; --addr gives them explicitly (e.g. when serve listens on a fixed
port: /ip4/192.168.1.20/tcp/4747). Only the creator and coordinators may
invite. 'fieldsync serve --invite' makes a code too, in one step.

Options:
` + dataHelp + `  --role ROLE   member (default) or coordinator
  --ttl DUR     how long the code stays valid (default 24h)
  --addr ADDR   an address to put in the code (repeatable)
  --no-qr       do not print the QR code
  --json        print {"code","project","role","expires"} as JSON

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
	ttl := fs.Duration("ttl", 24*time.Hour, "")
	var addrs addrList
	fs.Var(&addrs, "addr", "")
	noQR := fs.Bool("no-qr", false, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(inviteCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	if *ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	d, p, err := openProject(ctx, *data, true)
	if err != nil {
		return err
	}
	defer d.Close()
	var mas []ma.Multiaddr
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return usagef("--addr %q: %v", s, err)
		}
		mas = append(mas, a)
	}
	if len(mas) == 0 {
		st, err := readServeState(d.Dir)
		if err != nil {
			return fmt.Errorf("no address to put in the invite: start 'fieldsync serve' on this data directory first (or use 'fieldsync serve --invite'), or give --addr")
		}
		for _, s := range st.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				mas = append(mas, a)
			}
		}
	}
	code, err := p.Invite(ctx, project.InviteOptions{Role: r, TTL: *ttl, Addrs: stripP2P(mas)})
	if err != nil {
		return err
	}
	return printInvite(e.stdout, code, !*noQR, *asJSON)
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

// stripP2P removes a trailing /p2p/ID from addresses (the code carries the
// peer ID once).
func stripP2P(in []ma.Multiaddr) []ma.Multiaddr {
	out := make([]ma.Multiaddr, 0, len(in))
	for _, a := range in {
		if rest, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P {
			a = rest
		}
		out = append(out, a)
	}
	return out
}

func printInvite(w io.Writer, code *project.InviteCode, qr, asJSON bool) error {
	if asJSON {
		return writeJSON(w, map[string]any{
			"code": code.String(), "project": code.Project.String(),
			"role": string(code.Role), "expires": code.Expires.UTC().Format(time.RFC3339),
		})
	}
	if qr {
		q, err := qrText(code.String())
		if err == nil {
			fmt.Fprintln(w, q)
		}
	}
	fmt.Fprintf(w, "invite code (one-time, %s, valid until %s):\n\n  %s\n\n",
		code.Role, code.Expires.Local().Format("2006-01-02 15:04"), code.String())
	fmt.Fprintln(w, "on the other device:  fieldsync join CODE   (while this device runs 'fieldsync serve')")
	return nil
}

// serveState is what a running 'fieldsync serve' writes to serve.json in
// its data directory, so that invite and status know its addresses.
type serveState struct {
	PID     int       `json:"pid"`
	Peer    string    `json:"peer"`
	Addrs   []string  `json:"addrs"`
	Started time.Time `json:"started"`
}

func serveStatePath(dir string) string { return filepath.Join(dir, "serve.json") }

// readServeState returns the state of the serve process running on dir,
// or an error if none is running.
func readServeState(dir string) (*serveState, error) {
	b, err := os.ReadFile(serveStatePath(dir))
	if err != nil {
		return nil, err
	}
	var st serveState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.PID <= 0 || !processAlive(st.PID) {
		return nil, fmt.Errorf("serve is not running")
	}
	return &st, nil
}
