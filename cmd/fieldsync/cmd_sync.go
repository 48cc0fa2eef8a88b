package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/node"
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
them. Shows progress per class with the rate and the time left (or what
is happening instead: waiting, estimating, stalled), and exits when everything
wanted is present and verified, or when the connected peers have nothing
more that is wanted (exit 3: the rest comes at a later sync). While one of
the project's always-on devices (an archive) is connected, it is not
complete until that device holds every file this device holds (the
"upload" line shows how many are safe there): the question to ask before
wiping a phone. Interrupted (Ctrl-C, a cut link, a killed
process), the next run resumes where this one stopped. If the disk holding
the data directory fills up, it stops at once with one message saying how
much more the wanted files need (exit 7); what arrived is kept, and once
space is freed the next run resumes.

Options:
` + dataHelp + netHelp + `  --timeout DUR   give up after DUR (default: no limit)
  --json          one JSON progress object per second, then a final one

Examples:
  fieldsync sync
  fieldsync sync --peer /ip4/192.168.1.20/tcp/4747/p2p/12D3KooW... --timeout 10m

Exit codes: 0 everything wanted arrived and verified, 1 failure (e.g. no
peer reachable), 2 bad usage, 3 stopped before everything arrived (timeout,
interrupt, or the connected peers lack the rest; run sync again to resume),
5 the peer does not know this device as a member, 7 stopped because the
disk holding the data directory is full (what arrived is kept).
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
	nopts, err := nf.options()
	if err != nil {
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
	n, err := openNode(ctx, *data, false, true, node.Options{Logger: nf.logger(e.stderr)})
	if err != nil {
		return err
	}
	defer n.Close()
	known, _ := n.KnownPeers()
	if len(nopts.Peers) == 0 && len(known) == 0 && !nopts.MDNS {
		return fmt.Errorf("no peer to sync with: give one with --peer ADDR, or allow local discovery (drop --no-mdns)")
	}
	if !*asJSON {
		npeers := len(nopts.Peers)
		if npeers == 0 {
			npeers = len(known)
		}
		fmt.Fprintf(e.stderr, "looking for peers (%d known) ...\n", npeers)
	}
	if ps, err := n.Partials(ctx); err == nil && len(ps) > 0 {
		var here, size int64
		for _, p := range ps {
			here, size = here+p.Done, size+p.Size
		}
		fmt.Fprintf(e.stderr, "resuming %d partial blob(s): %s of %s already here\n", len(ps), humanBytes(here), humanBytes(size))
	}
	sub := n.Subscribe()
	defer sub.Close()
	view := newProgressView(e.stdout, *asJSON)
	vctx, stopView := context.WithCancel(ctx)
	defer stopView()
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		logEvents(vctx, e.stderr, n, sub, false, false)
	}()
	started := false
	go func() {
		// Progress is drawn once a member is connected.
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for !started {
			select {
			case <-vctx.Done():
				return
			case <-t.C:
				for _, p := range n.Progress().Peers {
					started = started || p.State == node.PeerConnected
				}
			}
		}
		view.run(vctx, n.Progress)
	}()
	res, err := n.Sync(ctx, node.SyncOptions{NetOptions: nopts})
	stopView()
	<-logged // what happened last is printed before why it stopped
	var full *node.SpaceError
	switch {
	case errors.As(err, &full) && res != nil:
		view.draw(res.Progress, true)
		done, wanted := res.Progress.Files()
		return &exitError{code: exitNoSpace, err: fmt.Errorf("%s; free some space on it, then run 'fieldsync sync' again: what arrived is kept (%d of %d wanted files are here) and it resumes where it stopped",
			diskFull(full, "this sync"), done, wanted)}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if res == nil || !res.Met {
			return &exitError{code: exitIncomplete, err: fmt.Errorf("stopped before any peer connected")}
		}
		view.draw(res.Progress, true)
		done, wanted := res.Progress.Files()
		return &exitError{code: exitIncomplete, err: fmt.Errorf("stopped with %d of %d wanted files present; run 'fieldsync sync' again to resume", done, wanted)}
	case errors.Is(err, node.ErrPeersDropped):
		view.draw(res.Progress, true)
		msg, _ := words(err)
		return &exitError{code: exitIncomplete, err: msg}
	case err != nil:
		return err
	}
	view.draw(res.Progress, true)
	if res.Complete {
		return nil
	}
	done, wanted := res.Progress.Files()
	if lack := archivesLack(res.Progress); lack > 0 && done == wanted {
		return &exitError{code: exitIncomplete, err: fmt.Errorf("every wanted file is here, but the always-on device has not taken %d of the files this device holds (it fetched none for a while: is its disk full?); do not wipe this device yet, run 'fieldsync sync' again later", lack)}
	}
	return &exitError{code: exitIncomplete, err: fmt.Errorf("%d of %d wanted files are here; %d are on no connected peer (they come at a later sync with a device that has them)", done, wanted, res.Progress.Unavailable)}
}
