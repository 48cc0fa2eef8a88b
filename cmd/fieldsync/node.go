package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/device"
	"github.com/fieldsync/fieldsync/project"
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

// check validates the addresses given, before anything is opened, so that
// a typo is a usage error.
func (nf *netFlags) check() error {
	for _, s := range nf.peers {
		if _, err := device.ParsePeer(s); err != nil {
			return usagef("%v", err)
		}
	}
	for _, s := range nf.listenAddrs() {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return usagef("--listen %q: %v", s, err)
		}
	}
	return nil
}

func (nf *netFlags) listenAddrs() []string {
	var out []string
	for _, s := range strings.Split(*nf.listen, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// startNode builds and starts d's exchange node and dials the peers
// (--peer, else those met before). needPeer (sync) fails early when there
// is no peer to dial and no discovery.
func startNode(ctx context.Context, d *device.Device, nf *netFlags, logw io.Writer, needPeer bool) (*exchange.Node, []peer.AddrInfo, error) {
	var peers []peer.AddrInfo
	for _, s := range nf.peers {
		ai, err := device.ParsePeer(s)
		if err != nil {
			return nil, nil, usagef("%v", err)
		}
		peers = append(peers, ai)
	}
	level := slog.LevelWarn
	if *nf.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level}))
	listen := nf.listenAddrs()
	// Explicit peers replace the remembered ones for this run.
	if len(peers) == 0 {
		peers, _ = device.KnownPeers(d.Dir)
	}
	if needPeer && len(peers) == 0 && *nf.noMDNS {
		return nil, nil, fmt.Errorf("no peer to sync with: give one with --peer ADDR, or allow local discovery (drop --no-mdns)")
	}
	n, err := d.Node(ctx, device.NodeOptions{ListenAddrs: listen, MDNS: !*nf.noMDNS, Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("start network: %w", err)
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, nil, fmt.Errorf("start network: %w", err)
	}
	seen := map[peer.ID]bool{}
	var all []peer.AddrInfo
	for _, ai := range peers {
		if seen[ai.ID] || ai.ID == n.ID() {
			continue
		}
		seen[ai.ID] = true
		all = append(all, ai)
		go func(ai peer.AddrInfo) {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_ = n.Connect(cctx, ai)
		}(ai)
	}
	return n, all, nil
}

// connectedPeers counts the member sessions running.
func connectedPeers(s exchange.Snapshot) int {
	c := 0
	for _, p := range s.Peers {
		if p.State == exchange.PeerConnected {
			c++
		}
	}
	return c
}

// logEvents prints peers coming and going and blobs arriving until ctx
// ends or the channel closes.
func logEvents(ctx context.Context, w io.Writer, ev <-chan exchange.Event, blobs bool) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-ev:
			if !ok {
				return
			}
			ts := time.Now().Format("15:04:05")
			switch e := e.(type) {
			case exchange.PeerEvent:
				msg := fmt.Sprintf("%s peer %s %s", ts, e.Peer, e.State)
				if e.Reason != "" {
					msg += ": " + e.Reason
				}
				fmt.Fprintln(w, msg)
			case exchange.RecordsEvent:
				fmt.Fprintf(w, "%s %d records from %s\n", ts, e.Applied, e.From)
			case exchange.BlobEvent:
				if blobs {
					fmt.Fprintf(w, "%s %s %s (%s) complete\n", ts, e.Class, e.CID, humanBytes(e.Size))
				}
			case exchange.CompleteEvent:
				fmt.Fprintf(w, "%s everything wanted is present and verified\n", ts)
			}
		}
	}
}

// openProject opens the data directory (shared: also while serve holds the
// blob store) and its project, or says what to do when there is none. The
// caller closes the device.
func openProject(ctx context.Context, data string, shared bool) (*device.Device, *project.Project, error) {
	open := device.Open
	if shared {
		open = device.OpenShared
	}
	d, err := open(ctx, data)
	if err != nil {
		return nil, nil, err
	}
	p, err := d.NeedProject()
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return d, p, nil
}
