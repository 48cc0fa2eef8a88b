//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/netsim"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The "reach" scenario: issue 17's shape on a simulated internet
// (internal/netsim over simnet, in this process, in real time): an
// always-on device with a public address, and two members behind NATs of
// their own. Member A imports the photos; member C, which knows nothing
// but the project's records, syncs them from A: through the always-on
// device's relay where the NATs let no hole through, over a direct
// connection where hole punching works, and through the relay again with
// C's link cut for a while in the middle. The reference is one QUIC
// stream carrying the same bytes between two public hosts on the same
// simulated links, in the same run. The always-on device keeps no blobs
// here (a filter that wants none), so that every byte C receives comes
// from A over the path measured.

// reachShape is the simulated links: each device's uplink and the one-way
// latency between any two.
var reachShape = Shape{RateBps: 8e6 / 8, RTT: 80 * time.Millisecond}

// reachCut is how long C's link is cut in the "cut" phase: longer than
// QUIC's idle timeout, so that every connection dies and is redialled.
const reachCut = 40 * time.Second

func (b *bench) runReach(ctx context.Context, sc *Scenario, spec photoSpec) error {
	sc.Title = "reach beyond the LAN (simulated internet)"
	sc.Link = fmt.Sprintf("simnet in process: %s uplink per device, %s RTT; A and C behind NATs, the always-on device public", bitRate(reachShape.RateBps), reachShape.RTT)
	sc.LinkRate = reachShape.RateBps
	sc.Data = spec.String() + " with thumbnail and preview each, from A to C"
	dir := filepath.Join(b.work, "reach-files")
	if err := makePhotos(ctx, b.cache, dir, spec, b.logf); err != nil {
		return err
	}
	phases := []struct {
		name  string
		punch bool
		cut   bool
		path  string
	}{
		{"relayed (symmetric NATs)", false, false, exchange.PathRelayed},
		{"direct (hole punched)", true, false, exchange.PathDirect},
		{fmt.Sprintf("relayed, C cut %s", reachCut), false, true, exchange.PathRelayed},
	}
	var total int64
	for _, ph := range phases {
		b.logf("  reach: %s", ph.name)
		run, bytes, err := b.reachOnce(ctx, dir, ph.punch, ph.cut, ph.path)
		run.Tool, run.Phase = ToolFieldsync, ph.name
		if err != nil {
			run.Status, run.Error = StatusFailed, err.Error()
			b.logf("  reach %s: %v", ph.name, err)
		}
		sc.Runs = append(sc.Runs, run)
		total = max(total, bytes)
	}
	b.logf("  reach: blind archive")
	sc.Runs = append(sc.Runs, b.reachBlind(ctx, dir)...)
	sc.BlobBytes = total
	raw := b.reachRaw(ctx, total)
	sc.Runs = append(sc.Runs, raw)
	for _, r := range sc.Runs {
		if r.Tool == ToolFieldsync && r.Status == StatusOK && raw.Status == StatusOK {
			extra := ""
			if r.Cuts > 0 {
				extra = fmt.Sprintf(" (%s of it cut)", reachCut)
			}
			r.Note += fmt.Sprintf("; %s the raw stream's time%s", ratio(r.Seconds, raw.Seconds), extra)
		}
	}
	return nil
}

// reachOnce builds the three devices on a fresh simulated internet and
// times C's sync of A's photos. bytes is what the photos' blobs weigh.
func (b *bench) reachOnce(ctx context.Context, dir string, punch, cut bool, wantPath string) (run *Run, bytes int64, err error) {
	run = &Run{Status: StatusOK}
	r := &netsim.Router{Latency: reachShape.RTT / 2, Punch: punch, Bandwidth: int(reachShape.RateBps * 8)}
	at := func(ip string, public bool) node.NetOptions {
		return node.NetOptions{
			Listen:      []string{"/ip4/" + ip + "/udp/4747/quic-v1"},
			HostOptions: []libp2p.Option{r.QUIC(public)},
			Peers:       []peer.AddrInfo{},
		}
	}
	root, err := os.MkdirTemp(b.work, "reach-")
	if err != nil {
		return run, 0, err
	}
	defer os.RemoveAll(root)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	open := func(name string) (*node.Node, error) {
		dir := filepath.Join(root, name)
		if _, err := os.Stat(dir); err != nil {
			return node.Init(ctx, dir, node.Options{Logger: quiet})
		}
		return node.Open(ctx, dir, node.Options{Logger: quiet})
	}

	// The always-on device creates the project (it is the one the others
	// can reach to join) and keeps no blobs.
	archive, err := open("archive")
	if err != nil {
		return run, 0, err
	}
	defer archive.Close()
	if _, err := archive.CreateProject(ctx, "fieldbench reach"); err != nil {
		return run, 0, err
	}
	if err := archive.SetFilter(ctx, project.Filter{Mode: project.FilterCustom, Kinds: []project.AttachmentKind{project.AttachTrack}, Variants: []project.VariantName{project.VariantOriginal}}); err != nil {
		return run, 0, fmt.Errorf("archive's filter: %w", err)
	}
	pub := ma.StringCast("/ip4/1.0.0.1/udp/4747/quic-v1")
	on := at("1.0.0.1", true)
	on.Public = []ma.Multiaddr{pub}
	if err := archive.Start(ctx, on); err != nil {
		return run, 0, err
	}
	archiveAt := []peer.AddrInfo{{ID: archive.ID(), Addrs: []ma.Multiaddr{pub}}}
	join := func(name, ip string) (*node.Node, error) {
		inv, err := archive.Invite(ctx, node.InviteOptions{Role: project.RoleMember, TTL: time.Hour})
		if err != nil {
			return nil, err
		}
		d, err := open(name)
		if err != nil {
			return nil, err
		}
		o := at(ip, false)
		if _, err := d.Join(ctx, inv.Code, node.JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
			d.Close()
			return nil, fmt.Errorf("%s joins: %w", name, err)
		}
		o.Peers = archiveAt
		if _, err := d.Sync(ctx, node.SyncOptions{NetOptions: o}); err != nil {
			d.Close()
			return nil, fmt.Errorf("%s's first sync: %w", name, err)
		}
		return d, nil
	}
	a, err := join("A", "2.0.0.1")
	if err != nil {
		return run, 0, err
	}
	defer a.Close()
	c, err := join("C", "3.0.0.1")
	if err != nil {
		return run, 0, err
	}
	defer c.Close()
	// C's first sync started its network; it is stopped and restarted
	// fresh for the measurement (Close and reopen).
	c.Close()
	if c, err = open("C"); err != nil {
		return run, 0, err
	}
	defer c.Close()

	if _, err := a.Import(ctx, dir, node.ImportOptions{}, nil); err != nil {
		return run, 0, fmt.Errorf("A imports: %w", err)
	}
	// A tells the archive of its records (C learns them from it), then
	// serves from behind its NAT.
	if _, err := a.Sync(ctx, node.SyncOptions{NetOptions: func() node.NetOptions { o := at("2.0.0.1", false); o.Peers = archiveAt; return o }()}); err != nil {
		return run, 0, fmt.Errorf("A syncs with the archive: %w", err)
	}
	if err := a.Start(ctx, at("2.0.0.1", false)); err != nil { // running since its sync: a no-op
		return run, 0, err
	}
	st, err := a.Status(ctx)
	if err != nil {
		return run, 0, err
	}
	for _, cl := range st.Classes {
		bytes += cl.BytesWanted
	}

	sctx, cancel := context.WithTimeout(ctx, expected(bytes, reachShape.RateBps)+2*reachCut)
	defer cancel()
	t0 := time.Now()
	done := make(chan error, 1)
	var res *node.SyncResult
	go func() {
		var err error
		res, err = c.Sync(sctx, node.SyncOptions{NetOptions: at("3.0.0.1", false), PeerWait: 2 * time.Minute})
		done <- err
	}()
	var thumbs time.Duration
	received := func() int64 {
		var n int64
		for _, pp := range c.Progress().Peers {
			n += pp.BytesReceived
		}
		return n
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	cutDone := !cut
	for waiting := true; waiting; {
		select {
		case err = <-done:
			waiting = false
		case <-tick.C:
			p := c.Progress()
			if t := p.Classes[1]; thumbs == 0 && t.FilesWanted > 0 && t.FilesDone == t.FilesWanted {
				thumbs = time.Since(t0)
			}
			if !cutDone && received() > bytes/3 {
				cutDone = true
				ip := net.ParseIP("3.0.0.1")
				r.Cut(ip)
				b.logf("    C's link cut for %s at %s received", reachCut, mib(received()))
				time.AfterFunc(reachCut, func() { r.Restore(ip) })
				run.Cuts = 1
			}
		}
	}
	run.Seconds = time.Since(t0).Seconds()
	run.ThumbsSeconds = thumbs.Seconds()
	run.Attempts = 1 // one sync: it redials by itself
	run.AppReceived = received()
	run.WireDown = run.AppReceived
	if err != nil {
		return run, bytes, err
	}
	if !res.Complete {
		return run, bytes, fmt.Errorf("C's sync ended incomplete")
	}
	path := ""
	for _, pp := range c.Progress().Peers {
		if pp.ID == a.ID() {
			path = pp.Path
		}
	}
	run.Note = fmt.Sprintf("A reached %s", path)
	if path != wantPath {
		run.Note += fmt.Sprintf(" (expected %s)", wantPath)
	}
	if run.AppReceived > bytes+bytes/8 {
		run.Note += fmt.Sprintf("; **%.2f× the blobs' bytes received**", float64(run.AppReceived)/float64(bytes))
	}
	b.logf("    %s in %s, %s received, A %s", mib(bytes), secs(run.Seconds), mib(run.AppReceived), path)
	return run, bytes, nil
}

// reachRaw is the reference: n bytes on one QUIC stream between two
// public hosts on the same simulated links.
func (b *bench) reachRaw(ctx context.Context, n int64) *Run {
	run := &Run{Tool: ToolRaw, Status: StatusOK, Phase: ""}
	fail := func(err error) *Run {
		run.Status, run.Error = StatusFailed, err.Error()
		return run
	}
	r := &netsim.Router{Latency: reachShape.RTT / 2, Bandwidth: int(reachShape.RateBps * 8)}
	mk := func(ip string) (host.Host, error) {
		return libp2p.New(libp2p.ListenAddrStrings("/ip4/"+ip+"/udp/4747/quic-v1"), r.QUIC(true))
	}
	src, err := mk("1.0.0.2")
	if err != nil {
		return fail(err)
	}
	defer src.Close()
	dst, err := mk("1.0.0.3")
	if err != nil {
		return fail(err)
	}
	defer dst.Close()
	got := make(chan int64, 1)
	dst.SetStreamHandler("/fieldbench/raw", func(s network.Stream) {
		k, _ := io.Copy(io.Discard, s)
		s.Close()
		got <- k
	})
	if err := src.Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: dst.Addrs()}); err != nil {
		return fail(err)
	}
	t0 := time.Now()
	s, err := src.NewStream(ctx, dst.ID(), "/fieldbench/raw")
	if err != nil {
		return fail(err)
	}
	buf := make([]byte, 64<<10)
	for left := n; left > 0; {
		k := min(left, int64(len(buf)))
		if _, err := s.Write(buf[:k]); err != nil {
			return fail(err)
		}
		left -= k
	}
	s.CloseWrite()
	select {
	case k := <-got:
		run.WireDown = k
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	run.Seconds = time.Since(t0).Seconds()
	run.Note = "one QUIC stream, public to public (no NAT, no relay)"
	b.logf("  reach raw: %s in %s", mib(n), secs(run.Seconds))
	return run
}

// reachBlind is the blind archive's part: A, behind its NAT, syncs the
// photos to a public blind archive (sealed on the way) and goes offline;
// C, behind another NAT and knowing only the archive, syncs everything
// from it (opened here). Two runs: A's upload, C's download.
func (b *bench) reachBlind(ctx context.Context, dir string) []*Run {
	up := &Run{Tool: ToolFieldsync, Phase: "A → blind archive (sealed)", Status: StatusOK, Attempts: 1}
	down := &Run{Tool: ToolFieldsync, Phase: "C ← blind archive, A offline", Status: StatusOK, Attempts: 1}
	fail := func(err error) []*Run {
		for _, r := range []*Run{up, down} {
			if r.Status == StatusOK && r.Seconds == 0 {
				r.Status, r.Error = StatusFailed, err.Error()
			}
		}
		b.logf("  reach blind: %v", err)
		return []*Run{up, down}
	}
	r := &netsim.Router{Latency: reachShape.RTT / 2, Bandwidth: int(reachShape.RateBps * 8)}
	at := func(ip string, public bool) node.NetOptions {
		return node.NetOptions{
			Listen:      []string{"/ip4/" + ip + "/udp/4747/quic-v1"},
			HostOptions: []libp2p.Option{r.QUIC(public)},
			Peers:       []peer.AddrInfo{},
		}
	}
	root, err := os.MkdirTemp(b.work, "reach-blind-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(root)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func(name string) (*node.Node, error) {
		return node.Init(ctx, filepath.Join(root, name), node.Options{Logger: quiet})
	}
	// Setting up, A is reachable: the archive and C join it.
	a, err := mk("A")
	if err != nil {
		return fail(err)
	}
	defer func() { a.Close() }()
	if _, err := a.CreateProject(ctx, "fieldbench reach blind"); err != nil {
		return fail(err)
	}
	if err := a.Start(ctx, at("5.0.0.1", true)); err != nil {
		return fail(err)
	}
	archive, err := mk("archive")
	if err != nil {
		return fail(err)
	}
	defer archive.Close()
	c, err := mk("C")
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	for _, j := range []struct {
		d    *node.Node
		role project.Role
		ip   string
		pub  bool
	}{{archive, project.RoleArchive, "1.0.0.1", true}, {c, project.RoleMember, "3.0.0.1", false}} {
		inv, err := a.Invite(ctx, node.InviteOptions{Role: j.role, TTL: time.Hour})
		if err != nil {
			return fail(err)
		}
		o := at(j.ip, j.pub)
		if _, err := j.d.Join(ctx, inv.Code, node.JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
			return fail(fmt.Errorf("join: %w", err))
		}
	}
	a.Close()
	if a, err = node.Open(ctx, filepath.Join(root, "A"), node.Options{Logger: quiet}); err != nil {
		return fail(err)
	}
	if _, err := a.Import(ctx, dir, node.ImportOptions{}, nil); err != nil {
		return fail(err)
	}
	pub := ma.StringCast("/ip4/1.0.0.1/udp/4747/quic-v1")
	on := at("1.0.0.1", true)
	on.Public = []ma.Multiaddr{pub}
	if err := archive.Start(ctx, on); err != nil {
		return fail(err)
	}
	archiveAt := []peer.AddrInfo{{ID: archive.ID(), Addrs: []ma.Multiaddr{pub}}}
	timed := func(run *node.Node, ip string) (float64, int64, error) {
		o := at(ip, false)
		o.Peers = archiveAt
		sctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		defer cancel()
		t0 := time.Now()
		res, err := run.Sync(sctx, node.SyncOptions{NetOptions: o})
		took := time.Since(t0).Seconds()
		if err == nil && !res.Complete {
			err = fmt.Errorf("sync ended incomplete")
		}
		var recv, sent int64
		if res != nil {
			for _, pp := range res.Progress.Peers {
				recv += pp.BytesReceived
				sent += pp.BytesSent
			}
		}
		if run == a {
			return took, sent, err
		}
		return took, recv, err
	}
	took, n, err := timed(a, "2.0.0.1")
	up.Seconds, up.WireUp = took, n
	if err != nil {
		return fail(fmt.Errorf("A's upload: %w", err))
	}
	b.logf("    A → blind archive: %s sent in %s", mib(n), secs(took))
	a.Close()
	took, n, err = timed(c, "3.0.0.1")
	down.Seconds, down.WireDown, down.AppReceived = took, n, n
	if err != nil {
		return fail(fmt.Errorf("C's download: %w", err))
	}
	st, err := c.Status(ctx)
	if err != nil || !st.Complete() {
		return fail(fmt.Errorf("C after its sync: %v", err))
	}
	b.logf("    C ← blind archive: %s received in %s", mib(n), secs(took))
	up.Note, down.Note = "sealed on the way; safe on the archive when it returns", "A offline: every byte from the archive, opened here"
	return []*Run{up, down}
}
