package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

var statusCmd = &command{
	name:    "status",
	summary: "wanted vs present per class, partial blobs, peers, members",
	usage: `Usage: fieldsync status [--data DIR] [--json]

Shows this device, its project and members, its filter, the files and bytes
wanted and present per class (thumbnails, previews, originals, other
attachments), blobs partly received (they resume at the next sync), blobs
found corrupt or missing by 'fieldsync verify' (fetched again at the next
sync), peers dropped because data they sent failed verification (in the
latest sync or serve and the one before, with the blob), known peers and
whether 'fieldsync serve' is running here, and, for each of the project's
always-on devices, whether it holds every file this device holds (as it
said at the last sync with it: no network needed). While 'fieldsync serve'
runs here, it also says whether this device can be reached from the
internet, as the project's always-on devices found by dialling it back
(AutoNAT), and which of them relay for it if it cannot.

Options:
` + dataHelp + `  --json      print everything as one JSON object

Exit codes: 0 everything wanted is present, 1 failure, 2 bad usage,
3 something wanted is missing (run 'fieldsync sync').
`,
}

func init() {
	statusCmd.run = runStatus
	register(statusCmd)
}

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlags(statusCmd, e)
	data := dataFlag(fs)
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(statusCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	n, err := openBlindOK(ctx, *data, true, false, node.Options{})
	if err != nil {
		return err
	}
	defer n.Close()
	st, err := n.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		_ = writeJSON(e.stdout, st)
	} else if st.Blind != nil {
		printBlindStatus(e.stdout, st)
	} else {
		printStatus(e.stdout, st)
	}
	if st.Project != nil && !st.Complete() {
		return &exitError{code: exitIncomplete, err: fmt.Errorf("some wanted files are not here yet: run 'fieldsync sync'")}
	}
	return nil
}

func printStatus(w io.Writer, st *node.Status) {
	fmt.Fprintf(w, "device   %s\ndata     %s\n", st.Device, st.Dir)
	if st.Serve != nil {
		fmt.Fprintf(w, "serve    running (pid %d) on %v\n", st.Serve.PID, st.Serve.Addrs)
	}
	if st.Project == nil {
		fmt.Fprintln(w, "project  none: 'fieldsync init --project NAME' or 'fieldsync join CODE'")
		return
	}
	fmt.Fprintf(w, "project  %s (%s), this device is %s\n", st.Project.Name, st.Project.ID, st.Project.Role)
	if st.Blocked != nil {
		fmt.Fprintf(w, "blocked  %v: the project's devices give it nothing more\n", st.Blocked)
	}
	fmt.Fprintf(w, "members  %d\n", len(st.Members))
	for _, m := range st.Members {
		self := ""
		if m.Self {
			self = " (this device)"
		}
		fmt.Fprintf(w, "  %-12s %-24s %s%s\n", m.Role, m.Label(), m.Peer, self)
	}
	fmt.Fprintf(w, "filter   %s\n", st.Filter.Mode)
	fmt.Fprintln(w, "wanted   present/wanted")
	for _, r := range st.Classes {
		fmt.Fprintf(w, "  %-11s %s %4d/%-4d files %10s/%s\n", r.Name, bar(r.BytesPresent, r.BytesWanted, 20),
			r.FilesPresent, r.FilesWanted, humanBytes(r.BytesPresent), humanBytes(r.BytesWanted))
	}
	if len(st.Partial) > 0 {
		fmt.Fprintf(w, "partial  %d blobs partly received (resume with 'fieldsync sync')\n", len(st.Partial))
		for _, pb := range st.Partial {
			fmt.Fprintf(w, "  %s %s of %s\n", pb.CID, humanBytes(pb.Done), humanBytes(pb.Size))
		}
	}
	if len(st.Fixity) > 0 {
		fmt.Fprintf(w, "fixity   %d blobs failed verification (quarantined; fetched again at the next sync)\n", len(st.Fixity))
		for _, b := range st.Fixity {
			fmt.Fprintf(w, "  %s %s\n", b.CID, b.Result)
		}
	}
	if len(st.BadPeers) > 0 {
		names := map[peer.ID]string{}
		for _, m := range st.Members {
			names[m.Peer] = m.Label()
		}
		fmt.Fprintf(w, "bad data %d peer(s) dropped because data they sent failed verification (this run and the one before)\n", len(st.BadPeers))
		for _, b := range st.BadPeers {
			run := "last run"
			if b.Current {
				run = "this run"
			}
			who := b.Peer.String()
			if l := names[b.Peer]; l != "" && l != node.ShortID(b.Peer) {
				who = fmt.Sprintf("%s (%s)", l, b.Peer)
			}
			fmt.Fprintf(w, "  %-8s %s: %s, at %s\n", run, who, piece(b.CID, b.Leaf), b.At.Local().Format("2006-01-02 15:04:05"))
		}
	}
	for _, a := range st.Archives {
		label := a.Name
		if label == "" {
			label = node.ShortID(a.Peer)
		}
		if a.Blind {
			label = "(blind) " + label
		}
		if a.Confirmed == a.Held {
			fmt.Fprintf(w, "archive  %s holds all %d files this device holds: safe there\n", label, a.Held)
			continue
		}
		fmt.Fprintf(w, "archive  %s: %d of the %d files this device holds are not known to be there (%s); sync with it before wiping this device\n",
			label, a.Held-a.Confirmed, a.Held, humanBytes(a.Bytes))
	}
	if len(st.KnownPeers) > 0 {
		fmt.Fprintf(w, "peers    %d known\n", len(st.KnownPeers))
		for _, id := range st.KnownPeers {
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	printReach(w, st)
	printServePeers(w, st)
}

// printReach says whether this device can be reached from the internet,
// while its network runs (here or in a serve): as the project's
// always-on devices found by dialling it back.
func printReach(w io.Writer, st *node.Status) {
	if st.Reach == nil {
		return
	}
	names := map[peer.ID]string{}
	for _, m := range st.Members {
		names[m.Peer] = m.Label()
	}
	fmt.Fprintf(w, "reach    %s\n", reachWords(*st.Reach, names))
}

// reachWords says in a sentence whether this device can be reached from
// the internet (node.Reachability), naming the always-on devices by
// names.
func reachWords(r node.Reachability, names map[peer.ID]string) string {
	var relays []string
	for _, id := range r.Relays {
		if l := names[id]; l != "" {
			relays = append(relays, l)
		} else {
			relays = append(relays, node.ShortID(id))
		}
	}
	through := ""
	if len(relays) > 0 {
		through = strings.Join(relays, "'s or ") + "'s relay"
	}
	switch r.State() {
	case node.ReachPublic:
		return "This device can be reached from the internet at " + joinAddrs(r.Reachable)
	case node.ReachBehindNAT:
		if through == "" {
			return "This device is behind a NAT, and holds no reservation with an always-on device: members elsewhere on the internet cannot reach it now"
		}
		return "This device is behind a NAT: other members reach it through " + through
	}
	switch {
	case r.AlwaysOn:
		return "This device is always on, at " + joinAddrs(r.Unknown) + " as it announces; no other always-on device has checked that it can be reached there"
	case len(r.Unknown) == 0 && through != "":
		return "Not known yet whether this device can be reached from the internet (it has no public address of its own); other members reach it through " + through
	case len(r.Unknown) == 0:
		return "Not known yet whether this device can be reached from the internet: no always-on device of the project has answered yet"
	case through != "":
		return "Not known yet whether this device can be reached from the internet at " + joinAddrs(r.Unknown) + " (an always-on device checks it, about 2 minutes); meanwhile other members reach it through " + through
	}
	return "Not known yet whether this device can be reached from the internet at " + joinAddrs(r.Unknown) + " (an always-on device checks it, about 2 minutes)"
}

func joinAddrs(as []ma.Multiaddr) string {
	ss := make([]string, len(as))
	for i, a := range as {
		ss[i] = a.String()
	}
	return strings.Join(ss, ", ")
}

// printServePeers lists the peers connected to a running serve and how
// each is reached.
func printServePeers(w io.Writer, st *node.Status) {
	if st.Serve == nil || len(st.Serve.Peers) == 0 {
		return
	}
	names := map[peer.ID]string{}
	for _, m := range st.Members {
		names[m.Peer] = m.Label()
	}
	fmt.Fprintf(w, "connected %d peer(s) to the running serve\n", len(st.Serve.Peers))
	for _, p := range st.Serve.Peers {
		who := p.Peer.String()
		if l := names[p.Peer]; l != "" && l != node.ShortID(p.Peer) {
			who = fmt.Sprintf("%s (%s)", l, p.Peer)
		}
		fmt.Fprintf(w, "  %s %s\n", who, pathWords[p.Path])
	}
}

// printBlindStatus prints what a blind archive holds.
func printBlindStatus(w io.Writer, st *node.Status) {
	b := st.Blind
	fmt.Fprintf(w, "device   %s\ndata     %s\n", st.Device, st.Dir)
	fmt.Fprintf(w, "project  %s, kept sealed: this device is its blind archive and cannot read it\n", b.Project)
	h := b.Stats
	fmt.Fprintf(w, "records  %d envelopes (%d sealed; %d in clear: who is a member, and new keys wrapped to each)\n", h.Envelopes, h.Sealed, h.Clear)
	fmt.Fprintf(w, "blobs    %d of %d sealed blobs held, %s of %s\n", h.BlobsHeld, h.Blobs, humanBytes(h.Bytes), humanBytes(h.BytesWanted))
	for _, c := range []string{"thumbnail", "preview", "original", "attachment"} {
		if k := h.ByClass[c]; k > 0 {
			fmt.Fprintf(w, "  %-11s %d\n", c, k)
		}
	}
	fmt.Fprintf(w, "members  %d\n", len(b.Members))
	for _, m := range b.Members {
		fmt.Fprintf(w, "  %-12s %s\n", m.Role, m.Peer)
	}
	if st.Serve != nil {
		fmt.Fprintf(w, "serving  pid %d since %s\n", st.Serve.PID, st.Serve.Started.Local().Format("2006-01-02 15:04"))
	}
}
