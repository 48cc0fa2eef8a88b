package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/fieldsync/fieldsync/project"
)

var serveCmd = &command{
	name:    "serve",
	summary: "stay up: accept peers, sync with them, serve invites",
	usage: `Usage: fieldsync serve [--data DIR] [--listen ADDRS] [--peer ADDR]... [--no-mdns]
                       [--invite [--role ROLE] [--ttl DUR]] [--json] [-v]

Runs this device as a peer until interrupted (Ctrl-C): discovers the
project's other devices on the local network (mDNS, scoped to the project),
accepts members, syncs with them both ways, answers invites and logs peers
coming and going. Only members get project data; blocked devices are cut
off. Interrupting is safe: partial transfers are kept and resume next time.

Options:
` + dataHelp + netHelp + `  --invite        also make a one-time invite code and print it (see
                  'fieldsync invite'); --role and --ttl as there
  --json          print the addresses (and invite) as JSON, then JSON logs

Examples:
  fieldsync serve --invite
  fieldsync serve --listen /ip4/0.0.0.0/tcp/4747 --no-mdns

Exit codes: 0 stopped by a signal, 1 failure (e.g. the data directory is in
use by another fieldsync, or the port is taken), 2 bad usage.
`,
}

func init() {
	serveCmd.run = runServe
	register(serveCmd)
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(serveCmd, e)
	data := dataFlag(fs)
	nf := addNetFlags(fs, 4747)
	invite := fs.Bool("invite", false, "")
	role := fs.String("role", "member", "")
	ttl := fs.Duration("ttl", 24*time.Hour, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(serveCmd, e, fs, args)
	if err != nil {
		return err
	}
	if err := nf.check(); err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	d, p, err := openProject(ctx, *data, false)
	if err != nil {
		return err
	}
	defer d.Close()
	n, _, err := startNode(ctx, d, nf, e.stderr, false)
	if err != nil {
		return err
	}
	defer n.Close()

	var addrs []string
	for _, a := range n.Addrs() {
		addrs = append(addrs, a.String())
	}
	st := serveState{PID: os.Getpid(), Peer: n.ID().String(), Addrs: addrs, Started: time.Now().UTC()}
	if b, err := json.Marshal(st); err == nil {
		_ = os.WriteFile(serveStatePath(d.Dir), b, 0o600)
	}
	defer os.Remove(serveStatePath(d.Dir))

	var code *project.InviteCode
	if *invite {
		code, err = p.Invite(ctx, project.InviteOptions{Role: r, TTL: *ttl, Addrs: n.Host().Addrs()})
		if err != nil {
			return err
		}
	}
	if *asJSON {
		out := map[string]any{"peer": st.Peer, "addrs": addrs, "project": p.ID().String()}
		if code != nil {
			out["invite"] = code.String()
		}
		_ = writeJSON(e.stdout, out)
	} else {
		fmt.Fprintf(e.stdout, "serving %q (%s) as %s\n", p.Name(), p.ID(), n.ID())
		for _, a := range addrs {
			fmt.Fprintf(e.stdout, "  listening on %s\n", a)
		}
		if code != nil {
			_ = printInvite(e.stdout, code, true, false)
		}
		fmt.Fprintln(e.stdout, "press Ctrl-C to stop")
	}
	logEvents(ctx, e.stderr, n.Events(), *nf.verbose)
	fmt.Fprintln(e.stderr, "stopping; partial transfers are kept")
	return nil
}
