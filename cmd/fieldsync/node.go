package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// netFlags are the network options serve and sync share.
type netFlags struct {
	listen  *string
	peers   addrList
	noMDNS  *bool
	verbose *bool
}

const netHelp = `  --listen ADDRS  comma-separated multiaddrs to listen on (default
                  /ip4/0.0.0.0/tcp/PORT,/ip4/0.0.0.0/udp/PORT/quic-v1)
  --peer ADDR     a peer to dial, /ip4/.../tcp/.../p2p/PEER-ID (repeatable);
                  without --peer, the peers met before (the inviter) are dialled
  --no-mdns       do not discover project peers on the local network
  -v              log the exchange's details
`

func addNetFlags(fs *flag.FlagSet, defaultPort int) *netFlags {
	n := &netFlags{}
	def := fmt.Sprintf("/ip4/0.0.0.0/tcp/%d,/ip4/0.0.0.0/udp/%d/quic-v1", defaultPort, defaultPort)
	n.listen = fs.String("listen", def, "")
	fs.Var(&n.peers, "peer", "")
	n.noMDNS = fs.Bool("no-mdns", false, "")
	n.verbose = fs.Bool("v", false, "")
	return n
}

// options validates the addresses given, before anything is opened (a
// typo is a usage error), and returns the node's network options.
func (nf *netFlags) options() (node.NetOptions, error) {
	opts := node.NetOptions{MDNS: !*nf.noMDNS}
	for _, s := range nf.peers {
		ai, err := node.ParsePeer(s)
		if err != nil {
			return opts, usagef("%v", err)
		}
		opts.Peers = append(opts.Peers, ai)
	}
	for _, s := range strings.Split(*nf.listen, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := ma.NewMultiaddr(s); err != nil {
			return opts, usagef("--listen %q: %v", s, err)
		}
		opts.Listen = append(opts.Listen, s)
	}
	return opts, nil
}

// logger is the node's logger: warnings, or everything with -v.
func (nf *netFlags) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	if *nf.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// logEvents prints what happens (peers coming and going, records, blobs
// with blobs, invites, roles, a full disk with full) until ctx ends or the
// subscription closes.
//
// When ctx ends it prints the events already waiting, then returns: the
// last things that happened (why a sync stopped) are not lost.
func logEvents(ctx context.Context, w io.Writer, n *node.Node, sub *node.Subscription, blobs, full bool) {
	name := func(id peer.ID) string {
		if l := n.PeerName(context.WithoutCancel(ctx), id); l != node.ShortID(id) {
			return fmt.Sprintf("%s (%s)", l, node.ShortID(id))
		}
		return id.String()
	}
	print := func(e node.Event) {
		if _, ok := e.(node.SpaceEvent); ok && !full {
			return // the command says it once, as it stops
		}
		if line := eventLine(e, blobs, name); line != "" {
			fmt.Fprintf(w, "%s %s\n", time.Now().Format("15:04:05"), line)
		}
	}
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case e, ok := <-sub.C:
					if !ok {
						return
					}
					print(e)
				default:
					return
				}
			}
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			print(e)
		}
	}
}

// eventLine says what an event means, or "" for one not logged.
func eventLine(e node.Event, blobs bool, name func(peer.ID) string) string {
	switch e := e.(type) {
	case node.PeerEvent:
		msg := fmt.Sprintf("peer %s %s", name(e.Peer), e.State)
		if w := pathWords[e.Path]; w != "" {
			msg += " " + w
		}
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		return msg
	case node.RecordsEvent:
		return fmt.Sprintf("%d records from %s", e.Applied, name(e.From))
	case node.BlobEvent:
		if blobs {
			return fmt.Sprintf("%s %s (%s) complete", e.Class, e.CID, humanBytes(e.Size))
		}
	case node.CompleteEvent:
		return "everything wanted is present and verified"
	case node.SpaceEvent:
		return diskFull(e.Err, "what this device wants") + "; fetching is paused (it tries again in a minute): free some space on it"
	case node.RefusedEvent:
		if e.Inbound && errors.Is(e.Err, node.ErrBlocked) {
			return fmt.Sprintf("refused %s: it is blocked (told so, with the record that blocks it)", name(e.Peer))
		}
		if e.Inbound {
			return fmt.Sprintf("refused %s: not a member of this project (a device without a valid invite, or one that joined through a device this one has not synced with yet)", name(e.Peer))
		}
		return fmt.Sprintf("%s refused this device: %v", name(e.Peer), e.Err)
	case node.InviteEvent:
		if e.Err != nil {
			return fmt.Sprintf("invite refused to %s: %s", name(e.Peer), trimPkg(e.Err))
		}
		return fmt.Sprintf("%s joined with an invite, as %s", name(e.Peer), e.Role)
	case node.BadDataEvent:
		return badDataLine(e, name)
	case node.RoleEvent:
		switch {
		case e.To == "blocked":
			return fmt.Sprintf("%s is blocked: it gets nothing more from this device", name(e.Peer))
		case e.From == "":
			return fmt.Sprintf("%s is %s now", name(e.Peer), withArticle(string(e.To)))
		default:
			return fmt.Sprintf("%s is %s now (was %s)", name(e.Peer), e.To, e.From)
		}
	}
	return ""
}

// badDataLine tells a step of bad data, on the side that received it
// (detected) or the side that sent it (reported, checked, healed).
func badDataLine(e node.BadDataEvent, name func(peer.ID) string) string {
	what := piece(e.CID, e.Leaf)
	switch e.Result {
	case node.BadDataDetected:
		return fmt.Sprintf("bad data: %s from peer %s failed verification here; told %s and dropped it for this run; the blob comes from other peers",
			what, name(e.Peer), name(e.Peer))
	case node.BadDataReported:
		return fmt.Sprintf("peer %s says %s we sent was corrupt: checking our copy", name(e.Peer), what)
	case node.BadDataIntact:
		return fmt.Sprintf("our copy of %s is intact: the damage %s reported happened on the way, or there", e.CID, name(e.Peer))
	case node.BadDataDamaged:
		if e.Refetch {
			return fmt.Sprintf("our copy of %s is damaged (%s): quarantined, fetching it again from other peers", e.CID, e.Detail)
		}
		return fmt.Sprintf("our copy of %s is damaged (%s): quarantined; this device does not want it, so it is not fetched again", e.CID, e.Detail)
	case node.BadDataHealed:
		return fmt.Sprintf("%s healed: fetched again from %s, verified", e.CID, name(e.From))
	case node.BadDataUnchecked:
		return fmt.Sprintf("our copy of %s was not checked: %s", e.CID, e.Detail)
	}
	return ""
}

// piece names a piece of blob c: its skeleton, a leaf, or the blob itself
// when it is one leaf.
func piece(c cid.Cid, leaf int) string {
	switch {
	case leaf < 0:
		return "the skeleton of " + c.String()
	case c.Prefix().Codec == cid.Raw:
		return c.String()
	}
	return fmt.Sprintf("leaf %d of %s", leaf, c)
}

// openNode opens the data directory. readOnly opens it without taking its
// lock, for commands that write no blob (listing, showing, status, record
// changes): they never make a concurrent sync or serve fail. With
// needProject, a device without a project is an error saying what to do.
// The caller closes the node.
func openNode(ctx context.Context, data string, readOnly, needProject bool, opts node.Options) (*node.Node, error) {
	opts.ReadOnly = opts.ReadOnly || readOnly
	n, err := node.Open(ctx, data, opts)
	if err != nil {
		return nil, err
	}
	if n.IsBlind() && (needProject || !blindOK) {
		// A blind archive: only serve, status, verify and members
		// work on it (they open it with openBlindOK).
		n.Close()
		return nil, node.ErrBlind
	}
	if needProject && !n.HasProject() {
		n.Close()
		return nil, node.ErrNoProject
	}
	return n, nil
}

// openBlindOK opens the data directory as openNode does, a blind archive
// included: for the commands that work on one (serve, status, verify,
// members).
func openBlindOK(ctx context.Context, data string, readOnly, needProject bool, opts node.Options) (*node.Node, error) {
	opts.ReadOnly = opts.ReadOnly || readOnly
	n, err := node.Open(ctx, data, opts)
	if err != nil {
		return nil, err
	}
	if needProject && !n.HasProject() && !n.IsBlind() {
		n.Close()
		return nil, node.ErrNoProject
	}
	return n, nil
}

// blindOK: commands that need no project (cat, name) refuse a blind
// archive too; only openBlindOK's callers accept one.
const blindOK = false

// withArticle puts "a" or "an" before a role's name.
func withArticle(role string) string {
	if role != "" && strings.ContainsRune("aeiou", rune(role[0])) {
		return "an " + role
	}
	return "a " + role
}
