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
                       [--ui [--http ADDR] [--http-remote] [--basemap FILE]]

Runs this device as a peer until interrupted (Ctrl-C): discovers the
project's other devices on the local network (mDNS, scoped to the project),
accepts members, syncs with them both ways, answers invites and logs peers
coming and going. Only members get project data; blocked devices are cut
off. Interrupting is safe: partial transfers are kept and resume next time.

With --ui it also serves the web app (see 'fieldsync ui') and prints its
URL as its first line; the app's sync view then shows this process's peers
and progress live, and new observations appear as they arrive.

Options:
` + dataHelp + netHelp + `  --invite        also make a one-time invite code and print it (see
                  'fieldsync invite'); --role and --ttl as there
  --json          print the addresses (and invite) as JSON, then JSON logs
  --ui            also serve the web app; these then apply:
` + uiHelp + `

Examples:
  fieldsync serve --invite
  fieldsync serve --listen /ip4/0.0.0.0/tcp/4747 --no-mdns
  fieldsync serve --ui --basemap ~/maps/river.mbtiles

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
	withUI := fs.Bool("ui", false, "")
	uf := addUIFlags(fs)
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
	if *withUI {
		if err := uf.check(); err != nil {
			return err
		}
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
	events := n.Events()
	var uiURL string
	if *withUI {
		srv, urls, stop, err := startUI(ctx, e, d, n, uf, *nf.verbose, *asJSON)
		if err != nil {
			return err
		}
		defer stop()
		uiURL = urls[0]
		events = teeEvents(ctx, events, srv)
	}

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
		if uiURL != "" {
			out["ui"] = uiURL
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
	logEvents(ctx, e.stderr, events, *nf.verbose)
	fmt.Fprintln(e.stderr, "stopping; partial transfers are kept")
	return nil
}
