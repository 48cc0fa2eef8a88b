package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/internal/device"
)

// exitIncomplete is sync's exit code when it stopped before everything
// wanted had arrived.
const exitIncomplete = 3

var syncCmd = &command{
	name:    "sync",
	summary: "sync now with peers until everything wanted is here",
	usage: `Usage: fieldsync sync [--data DIR] [--peer ADDR]... [--listen ADDRS] [--no-mdns]
                      [--timeout DUR] [--json] [-v]

Connects to the project's devices (those given with --peer, those met
before such as the inviter, and those found on the local network), pulls
their records, then fetches what this device wants (its filter: see
'fieldsync filter') in priority order: thumbnails, previews, originals,
other attachments, newest observations first, from every peer that has
them. Shows progress per class with rate and ETA and exits when everything
wanted is present and verified, or when the connected peers have nothing
more that is wanted (exit 3: the rest comes at a later sync). Interrupted (Ctrl-C, a cut link, a killed
process), the next run resumes where this one stopped.

Options:
` + dataHelp + netHelp + `  --timeout DUR   give up after DUR (default: no limit)
  --json          one JSON progress object per second, then a final one

Examples:
  fieldsync sync
  fieldsync sync --peer /ip4/192.168.1.20/tcp/4747/p2p/12D3KooW... --timeout 10m

Exit codes: 0 everything wanted arrived and verified, 1 failure (e.g. no
peer reachable), 2 bad usage, 3 stopped before everything arrived (timeout,
interrupt, or the connected peers lack the rest; run sync again to resume).
`,
}

func init() {
	syncCmd.run = runSync
	register(syncCmd)
}

func runSync(ctx context.Context, e *env, args []string) error {
	fs := newFlags(syncCmd, e)
	data := dataFlag(fs)
	nf := addNetFlags(fs, 0)
	timeout := fs.Duration("timeout", 0, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(syncCmd, e, fs, args)
	if err != nil {
		return err
	}
	if err := nf.check(); err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q (peers go after --peer)", rest[0])
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	d, err := device.Open(ctx, *data)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.NeedProject(); err != nil {
		return err
	}
	n, peers, err := startNode(ctx, d, nf, e.stderr, true)
	if err != nil {
		return err
	}
	defer n.Close()
	view := newProgressView(e.stdout, *asJSON)
	if !*asJSON {
		fmt.Fprintf(e.stderr, "looking for peers (%d known) ...\n", len(peers))
	}
	// Wait for a member to connect.
	wait := time.NewTicker(100 * time.Millisecond)
	defer wait.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for connectedPeers(n.Progress()) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no project member reachable after 60s: check that a peer runs 'fieldsync serve' and the address (--peer)")
		}
		select {
		case <-ctx.Done():
			return &exitError{code: exitIncomplete, err: fmt.Errorf("stopped before any peer connected")}
		case <-wait.C:
		}
	}
	vctx, stopView := context.WithCancel(ctx)
	go view.run(vctx, n.Progress)
	go logEvents(vctx, e.stderr, n.Events(), false)
	complete, err := n.SyncAvailable(ctx)
	stopView()
	snap := n.Progress()
	view.draw(snap, true)
	switch {
	case err == nil && complete:
		return nil
	case err == nil:
		done, wanted := snap.Files()
		return &exitError{code: exitIncomplete, err: fmt.Errorf("%d of %d wanted files are here; %d are on no connected peer (they come at a later sync with a device that has them)", done, wanted, snap.Unavailable)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		done, wanted := snap.Files()
		return &exitError{code: exitIncomplete, err: fmt.Errorf("stopped with %d of %d wanted files present; run 'fieldsync sync' again to resume", done, wanted)}
	default:
		return err
	}
}
