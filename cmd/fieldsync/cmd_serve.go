package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/node"
)

var serveCmd = &command{
	name:    "serve",
	summary: "stay up: accept peers, sync with them, serve invites",
	usage: `Usage: fieldsync serve [--data DIR] [--listen ADDRS] [--peer ADDR]... [--no-mdns]
                       [--public ADDRS] [--invite [--role ROLE] [--ttl DUR]] [--json] [-v]
                       [--ui [--http ADDR] [--http-remote] [--basemap FILE]]

Runs this device as a peer until interrupted (Ctrl-C): discovers the
project's other devices on the local network (mDNS, scoped to the project),
accepts members, syncs with them both ways, answers invites and logs peers
coming and going. Only members get project data; blocked devices are cut
off. Interrupting is safe: partial transfers are kept and resume next time.

With --public, the device is always on at an address reachable from the
internet (a small rented server; see docs/internet.md): the project's
records say where it is, so every member finds it from anywhere, and it
relays for the project's members (and nobody else) so that members behind
NATs reach each other through it, directly where the NATs allow.

With --ui it also serves the web app (see 'fieldsync ui') and prints its
URL as its first line; the app's sync view then shows this process's peers
and progress live, and new observations appear as they arrive.

Options:
` + dataHelp + netHelp + `  --public ADDRS  comma-separated addresses this device is reachable at from
                  the internet, e.g. /ip4/203.0.113.5/udp/4747/quic-v1
                  (no /p2p part); listen on their ports with --listen
  --invite        also make a one-time invite code and print it (see
                  'fieldsync invite'); --role and --ttl as there
  --json          print the addresses (and invite) as JSON, then JSON logs
  --ui            also serve the web app; these then apply:
` + uiHelp + `

Examples:
  fieldsync serve --invite
  fieldsync serve --listen /ip4/0.0.0.0/tcp/4747 --no-mdns
  fieldsync serve --ui --basemap ~/maps/river.mbtiles
  fieldsync serve --no-mdns --public /ip4/203.0.113.5/udp/4747/quic-v1,/ip4/203.0.113.5/tcp/4747

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
	public := fs.String("public", "", "")
	withUI := fs.Bool("ui", false, "")
	uf := addUIFlags(fs)
	rest, err := parseFlags(serveCmd, e, fs, args)
	if err != nil {
		return err
	}
	nopts, err := nf.options()
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	for _, s := range strings.Split(*public, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		a, err := node.ParsePublic(s)
		if err != nil {
			return usagef("--public: %v", err)
		}
		nopts.Public = append(nopts.Public, a)
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
	n, err := openBlindOK(ctx, *data, false, true, node.Options{Logger: nf.logger(e.stderr)})
	if err != nil {
		return err
	}
	defer n.Close()
	info, _ := n.Project()
	sub := n.Subscribe()
	defer sub.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready error
	var stopUI func()
	defer func() {
		if stopUI != nil {
			stopUI()
		}
	}()
	fail := func(err error) { ready = err; cancel() }
	err = n.Serve(sctx, node.ServeOptions{NetOptions: nopts, Ready: func(st node.ServeInfo) {
		var uiURL string
		if *withUI {
			urls, stop, err := startUI(sctx, e, n, uf, *nf.verbose, *asJSON)
			if err != nil {
				fail(err)
				return
			}
			stopUI, uiURL = stop, urls[0]
		}
		var inv *node.Invite
		if *invite {
			var err error
			if inv, err = n.Invite(sctx, node.InviteOptions{Role: r, TTL: *ttl}); err != nil {
				fail(err)
				return
			}
		}
		if *asJSON {
			out := map[string]any{"peer": st.Peer, "addrs": st.Addrs, "project": info.ID}
			if inv != nil {
				out["invite"] = inv.Code
				out["short"] = inv.Short
			}
			if uiURL != "" {
				out["ui"] = uiURL
			}
			_ = writeJSON(e.stdout, out)
		} else {
			if n.IsBlind() {
				fmt.Fprintf(e.stdout, "serving project %s sealed, as its blind archive (it cannot read it), as %s\n", info.ID, st.Peer)
			} else {
				fmt.Fprintf(e.stdout, "serving %q (%s) as %s\n", info.Name, info.ID, st.Peer)
			}
			for _, a := range st.Addrs {
				fmt.Fprintf(e.stdout, "  listening on %s\n", a)
			}
			for _, a := range nopts.Public {
				if n.IsBlind() {
					// It signs no record: the members learn this address from
					// one sync given it, and from the invite codes they make.
					fmt.Fprintf(e.stdout, "  always on at %s/p2p/%s: give this address once to a member's sync (--peer); it keeps it and names it in the invites it makes; it relays for the project's members only\n", a, st.Peer)
					continue
				}
				fmt.Fprintf(e.stdout, "  always on at %s/p2p/%s: the project's devices find it there from anywhere; it relays for the project's members only\n", a, st.Peer)
			}
			if inv != nil {
				_ = printInvite(e.stdout, inv, true, false)
			}
			fmt.Fprintln(e.stdout, "press Ctrl-C to stop")
		}
		go logEvents(sctx, e.stderr, n, sub, *nf.verbose, true)
	}})
	if err == nil {
		err = ready
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "stopping; partial transfers are kept")
	return nil
}
