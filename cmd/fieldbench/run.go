//go:build linux

package main

// Running one tool over one link: fieldsync (serve on the source, join and
// sync on a fresh receiver), rsync (daemon on the source's blob directory,
// client on the receiver) and a raw TCP copy. Each returns a Run; failures
// are recorded in it, never fatal to the bench.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// source is a device holding a project: the side every scenario copies
// from.
type source struct {
	data       string
	blobs      []blobInfo
	blobBytes  int64
	thumbFiles int
	thumbBytes int64
	records    int
	imp        *Import
}

// path is how the receiver reaches the sender: through a Link on
// 127.0.0.1 (shaped or not, cut or not) or across the namespaces' veth.
type path struct {
	shape *Shape
	cut   *CutSpec
	ns    *netns
	// quic: fieldsync over QUIC on 127.0.0.1, direct (the forwarder is
	// TCP only, so no bytes are counted and nothing is shaped).
	quic bool
}

func (p path) nsA() string {
	if p.ns != nil {
		return p.ns.A
	}
	return ""
}

func (p path) nsB() string {
	if p.ns != nil {
		return p.ns.B
	}
	return ""
}

// rate is the path's rate in bytes per second, 0 if unshaped.
func (p path) rate() float64 {
	if p.shape != nil {
		return p.shape.RateBps
	}
	return 0
}

func (p path) ipA() string {
	if p.ns != nil {
		return p.ns.IPA
	}
	return "127.0.0.1"
}

func (p path) ipB() string {
	if p.ns != nil {
		return p.ns.IPB
	}
	return "127.0.0.1"
}

// wire measures the bytes across a path: a Link's counters or the veth's.
type wire struct {
	links        []*Link
	ns           *netns
	rx0, tx0     int64
	down, up     int64
	conns, cuts  int
	measureError error
}

func (w *wire) begin() {
	if w.ns != nil {
		w.rx0, w.tx0, w.measureError = w.ns.counters()
	}
}

func (w *wire) end() {
	for _, l := range w.links {
		d, u, c, k := l.Counters()
		w.down += d
		w.up += u
		w.conns += c
		w.cuts += k
	}
	if w.ns != nil {
		rx, tx, err := w.ns.counters()
		if err != nil {
			w.measureError = err
		}
		w.down, w.up = rx-w.rx0, tx-w.tx0
	}
}

// fsRunOpts varies a fieldsync run.
type fsRunOpts struct {
	phase    string
	kills    []time.Duration // SIGKILL the receiver after each, in turn
	again    bool            // then sync once more with nothing new
	extraSrc *source         // a second source (three devices)
	timeout  time.Duration   // the whole run
	timeline bool
	// recordsFirst has the receiver pull the records alone before the
	// measured sync (with a second source: see the work-around below).
	recordsFirst bool
	settle       bool // b.settle once the last run's receiver is removed
}

// runFieldsync moves src's project to a fresh receiver with fieldsync.
func (b *bench) runFieldsync(ctx context.Context, id string, src *source, p path, o fsRunOpts) []*Run {
	run := &Run{Tool: ToolFieldsync, Phase: o.phase, Status: StatusFailed}
	out := []*Run{run}
	fail := func(format string, a ...any) []*Run {
		run.Error = fmt.Sprintf(format, a...)
		b.logf("  fieldsync %s: FAILED: %s", o.phase, run.Error)
		return out
	}
	recv := filepath.Join(b.work, id+"-"+slug(o.phase)+"-fieldsync-B")
	os.RemoveAll(recv)
	b.settle(o.settle)

	srcs := []*source{src}
	if o.extraSrc != nil {
		srcs = append(srcs, o.extraSrc)
	}
	var servers []*server
	defer func() {
		for _, s := range servers {
			if s.cmd.ProcessState == nil {
				s.stop()
			}
		}
	}()
	for i, s := range srcs {
		role := "sender: fieldsync serve"
		if len(srcs) > 1 {
			role = fmt.Sprintf("sender %d: fieldsync serve", i+1)
		}
		if i > 0 {
			// A later source learns the receiver's membership (signed by
			// the first source when it joined) before it serves.
			res := b.fs.sync(ctx, syncOpts{ns: p.nsA(), data: s.data, listen: p.ipA(), peers: []string{servers[0].Addrs[0]}, origin: time.Now(), timeout: 5 * time.Minute})
			if res.exit != 0 {
				return fail("source %d's sync with source 1: exit %d: %s", i+1, res.exit, lastLine(res.stderr))
			}
		}
		listen := "/ip4/" + p.ipA() + "/tcp/0"
		if p.quic {
			listen = "/ip4/" + p.ipA() + "/udp/0/quic-v1"
		}
		srv, err := b.fs.serveOn(ctx, role, p.nsA(), s.data, listen, i == 0)
		if err != nil {
			return fail("serve: %v", err)
		}
		servers = append(servers, srv)
		if i == 0 {
			if _, _, err := b.fs.run(ctx, "join", p.nsB(), "join", "--data", recv, "--json", srv.Invite); err != nil {
				return fail("join: %v", err)
			}
		}
	}
	if len(srcs) > 1 && o.recordsFirst {
		// Work around a fieldsync bug (see the scenario's note): a
		// receiver that does not yet know a source's membership record
		// when it connects refuses that source and never retries. So the
		// receiver first pulls the records alone (a filter that wants
		// nothing here), directly from source 1, outside the measurement.
		steps := [][]string{
			{"filter", "--data", recv, "custom", "--variants", "thumbnail", "--kinds", "audio"},
			{"sync", "--data", recv, "--no-mdns", "--listen", "/ip4/" + p.ipB() + "/tcp/0", "--peer", servers[0].Addrs[0], "--timeout", "2m"},
			{"filter", "--data", recv, "archive"},
		}
		for _, st := range steps {
			if _, _, err := b.fs.run(ctx, st[0], p.nsB(), st...); err != nil {
				return fail("records-only pre-sync: %v", err)
			}
		}
	}

	w := &wire{ns: p.ns}
	var peers []string
	for _, srv := range servers {
		if p.ns != nil || p.quic {
			peers = append(peers, srv.Addrs[0])
			continue
		}
		l, err := OpenLink(srv.HostPort(), p.shape, p.cut)
		if err != nil {
			return fail("link: %v", err)
		}
		defer l.Close()
		w.links = append(w.links, l)
		peers = append(peers, l.Multiaddr(srv.Peer))
	}

	// Watch for the thumbnails to land in the receiver's store (a blob's
	// file appears only complete and verified), and with a timeline every
	// blob, for when the previews were all in and the first original
	// complete ('sync --json' gives per-class totals once a second only).
	type watched struct {
		path  string
		class string
		size  int64
	}
	var watch []watched
	nThumbs := 0
	dir := blobDir(recv) // after the join made the data directory
	for _, bl := range src.blobs {
		if bl.Class == "thumbnails" || o.timeline {
			n := len(bl.CID)
			watch = append(watch, watched{filepath.Join(dir, bl.CID[n-2:n-1], bl.CID[n-3:n-2], bl.CID), bl.Class, bl.Size})
		}
		if bl.Class == "thumbnails" {
			nThumbs++
		}
	}
	origin := time.Now()
	var thumbsAt, previewsAt, firstOrigAt time.Duration
	var firstOrigBytes int64
	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollDone sync.WaitGroup
	if len(watch) > 0 {
		pollDone.Add(1)
		go func() {
			defer pollDone.Done()
			left := watch
			thumbsLeft, variantsLeft := 0, 0
			for _, w := range watch {
				if w.class == "thumbnails" {
					thumbsLeft++
				}
				if w.class == "thumbnails" || w.class == "previews" {
					variantsLeft++
				}
			}
			for len(left) > 0 {
				var rest []watched
				now := time.Since(origin)
				for _, w := range left {
					if _, err := os.Stat(w.path); err != nil {
						rest = append(rest, w)
						continue
					}
					switch w.class {
					case "thumbnails":
						thumbsLeft--
						variantsLeft--
						if thumbsLeft == 0 {
							thumbsAt = now
						}
					case "previews":
						variantsLeft--
					case "originals":
						if firstOrigAt == 0 {
							firstOrigAt, firstOrigBytes = now, w.size
						}
					}
					if (w.class == "thumbnails" || w.class == "previews") && variantsLeft == 0 {
						previewsAt = now
					}
				}
				left = rest
				if len(left) == 0 {
					return
				}
				select {
				case <-pollCtx.Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}

	var tl *Timeline
	var base snapshot // totals of the attempts before this one
	if o.timeline {
		tl = &Timeline{Wanted: map[string]int64{}}
	}
	onSnap := func(s snapshot) {
		if tl != nil {
			pt := Point{T: s.t.Seconds(), Records: base.Records + s.Records, Done: map[string]int64{}}
			for name, c := range s.Classes {
				cl := name + "s" // the report's labels: thumbnails, previews, ...
				pt.Done[cl] = c.BytesDone
				if c.BytesWanted > 0 {
					tl.Wanted[cl] = c.BytesWanted
				}
			}
			tl.Points = append(tl.Points, pt)
		}
	}

	w.begin()
	deadline := origin.Add(o.timeout)
	var recvUsage ProcUsage
	attempts, kills := 0, 0
	peerBytes := map[string]int64{}
	ok := false
	var lastErr string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		attempts++
		so := syncOpts{ns: p.nsB(), data: recv, listen: p.ipB(), quic: p.quic, peers: peers, origin: origin,
			timeout: time.Until(deadline).Round(time.Second) + time.Second, snap: onSnap}
		if kills < len(o.kills) {
			so.kill = o.kills[kills]
		}
		res := b.fs.sync(ctx, so)
		_ = os.WriteFile(fmt.Sprintf("%s-sync-%d.log", recv, attempts), []byte(res.stderr), 0o644)
		recvUsage.CPUSeconds += res.usage.CPUSeconds
		recvUsage.MaxRSS = max(recvUsage.MaxRSS, res.usage.MaxRSS)
		recvUsage.RusageMaxRSS = max(recvUsage.RusageMaxRSS, res.usage.RusageMaxRSS)
		if res.final != nil {
			base.Received += res.final.Received
			base.Refetched += res.final.Refetched
			base.Records += res.final.Records
			for _, pr := range res.final.Peers {
				peerBytes[pr.ID] += pr.Received
			}
		}
		if res.exit == 0 {
			ok = true
			break
		}
		if res.killed {
			kills++
			continue
		}
		lastErr = fmt.Sprintf("sync exit %d: %s", res.exit, lastLine(res.stderr))
		b.logf("  fieldsync attempt %d: %s; starting it again", attempts, lastErr)
		if attempts > 200 || (p.cut == nil && attempts-kills >= 5) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	elapsed := time.Since(origin)
	stopPoll()
	pollDone.Wait()
	w.end()
	recvUsage.Role = "receiver: fieldsync sync"
	recvUsage.WallS = elapsed.Seconds()
	for i, s := range servers {
		run.Procs = append(run.Procs, s.stop())
		_ = os.WriteFile(fmt.Sprintf("%s-serve-%d.log", recv, i+1), []byte(s.stderr.String()), 0o644)
	}
	run.Procs = append(run.Procs, recvUsage)
	run.Seconds = elapsed.Seconds()
	run.WireDown, run.WireUp, run.Cuts = w.down, w.up, w.cuts
	run.AppReceived, run.Refetched = base.Received, base.Refetched
	run.Attempts, run.Kills = attempts, kills
	run.ThumbsSeconds = thumbsAt.Seconds()
	if o.timeline {
		run.PreviewsSeconds = previewsAt.Seconds()
		run.FirstOriginalSeconds, run.FirstOriginalBytes = firstOrigAt.Seconds(), firstOrigBytes
	}
	if len(servers) > 1 {
		run.PeerBytes = map[string]int64{}
		for i, s := range servers {
			run.PeerBytes[fmt.Sprintf("source %d", i+1)] = peerBytes[s.Peer]
		}
	}
	if tl != nil {
		tl.Records = base.Records
		run.Timeline = tl
	}
	if !ok {
		if lastErr == "" {
			lastErr = "did not finish in " + o.timeout.String()
		}
		return fail("%s", lastErr)
	}
	// Everything wanted present, and every byte right?
	if _, _, err := b.fs.run(ctx, "status", p.nsB(), "status", "--data", recv); err != nil {
		return fail("after sync exit 0, status: %v", err)
	}
	if _, _, err := b.fs.run(ctx, "verify", p.nsB(), "verify", "--data", recv); err != nil {
		return fail("after sync exit 0, verify: %v", err)
	}
	if w.measureError != nil {
		run.Note = "wire counters: " + w.measureError.Error()
	} else if p.quic {
		run.Note = quicNote
	} else if p.ns == nil && len(servers) == 1 && w.down < src.blobBytes*9/10 {
		run.Note = fmt.Sprintf("only %s crossed the link for %s of blobs: traffic went around it", mib(w.down), mib(src.blobBytes))
	}
	run.Status = StatusOK
	b.logf("  fieldsync %s: %s, %s down, %s up", o.phase, secs(run.Seconds), mib(run.WireDown), mib(run.WireUp))
	if nThumbs > 0 {
		b.logf("  fieldsync %s: all %d thumbnails present after %s", o.phase, nThumbs, secs(run.ThumbsSeconds))
	}
	if run.FirstOriginalSeconds > 0 {
		b.logf("  fieldsync %s: previews all in after %s, first original (%s) after %s", o.phase, secs(run.PreviewsSeconds), mib(run.FirstOriginalBytes), secs(run.FirstOriginalSeconds))
	}

	if o.again {
		out = append(out, b.fieldsyncAgain(ctx, src, p, recv, o.timeout))
	}
	return out
}

// fieldsyncAgain syncs a complete receiver once more: nothing is new.
func (b *bench) fieldsyncAgain(ctx context.Context, src *source, p path, recv string, timeout time.Duration) *Run {
	run := &Run{Tool: ToolFieldsync, Phase: "nothing new", Status: StatusFailed}
	srv, err := b.fs.serve(ctx, "sender: fieldsync serve", p.nsA(), src.data, p.ipA(), false)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	// A serve that has just started reads its wants and its store (about
	// a third of a second of CPU on 30,000 blobs); the sync is started
	// once that is done, as against a device that has been serving, so
	// the two do not share the two cores. The figure is the syncing
	// device's cost.
	waitSettled(srv.cmd.Process.Pid, 5*time.Second)
	w := &wire{ns: p.ns}
	peer := srv.Addrs[0]
	if p.ns == nil {
		l, err := OpenLink(srv.HostPort(), p.shape, nil)
		if err != nil {
			srv.stop()
			run.Error = err.Error()
			return run
		}
		defer l.Close()
		w.links = append(w.links, l)
		peer = l.Multiaddr(srv.Peer)
	}
	w.begin()
	origin := time.Now()
	res := b.fs.sync(ctx, syncOpts{ns: p.nsB(), data: recv, listen: p.ipB(), peers: []string{peer}, origin: origin, timeout: timeout})
	run.Seconds = time.Since(origin).Seconds()
	w.end()
	run.Procs = []ProcUsage{srv.stop(), res.usage}
	run.WireDown, run.WireUp = w.down, w.up
	run.Attempts = 1
	if res.final != nil {
		run.AppReceived = res.final.Received
	}
	if res.exit != 0 {
		run.Error = fmt.Sprintf("sync exit %d: %s", res.exit, lastLine(res.stderr))
		b.logf("  fieldsync nothing new: FAILED: %s", run.Error)
		return run
	}
	run.Status = StatusOK
	b.logf("  fieldsync nothing new: %s, %s down, %s up", secs(run.Seconds), mib(run.WireDown), mib(run.WireUp))
	return run
}

// rsOpts varies an rsync run.
type rsOpts struct {
	phase   string
	fsync   bool // rsync --fsync: every file made durable, as fieldsync's
	kills   []time.Duration
	again   bool
	timeout time.Duration
	settle  bool // b.settle once the last run's destination is removed
}

// runRsync copies src's blob directory with an rsync daemon and client.
func (b *bench) runRsync(ctx context.Context, id string, src *source, p path, o rsOpts) []*Run {
	run := &Run{Tool: ToolRsync, Phase: o.phase, Status: StatusFailed}
	out := []*Run{run}
	fail := func(format string, a ...any) []*Run {
		run.Error = fmt.Sprintf(format, a...)
		b.logf("  rsync %s: FAILED: %s", o.phase, run.Error)
		return out
	}
	dest := filepath.Join(b.work, id+"-"+slug(o.phase)+"-rsync-B")
	os.RemoveAll(dest)
	b.settle(o.settle)
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fail("%v", err)
	}
	port := 0
	if p.ns != nil {
		port = 8730
	}
	d, err := startRsyncd(ctx, p.nsA(), p.ipA(), port, blobDir(src.data), filepath.Join(b.work, id+"-"+slug(o.phase)+"-rsyncd"))
	if err != nil {
		return fail("rsync daemon: %v", err)
	}
	w := &wire{ns: p.ns}
	addr := d.Addr()
	if p.ns == nil {
		l, err := OpenLink(d.Addr(), p.shape, p.cut)
		if err != nil {
			d.stop()
			return fail("link: %v", err)
		}
		defer l.Close()
		w.links = append(w.links, l)
		addr = l.Addr()
	}
	w.begin()
	origin := time.Now()
	deadline := origin.Add(o.timeout)
	var u ProcUsage
	attempts, kills := 0, 0
	ok := false
	var lastErr string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		attempts++
		var kill time.Duration
		if kills < len(o.kills) {
			kill = o.kills[kills]
		}
		var extra []string
		if o.fsync {
			extra = []string{"--fsync"}
		}
		exit, killed, pu, stderr := rsyncPull(ctx, p.nsB(), addr, dest, kill, extra...)
		u.CPUSeconds += pu.CPUSeconds
		u.MaxRSS = max(u.MaxRSS, pu.MaxRSS)
		u.RusageMaxRSS = max(u.RusageMaxRSS, pu.RusageMaxRSS)
		if exit == 0 {
			ok = true
			break
		}
		if killed {
			kills++
			continue
		}
		lastErr = fmt.Sprintf("rsync exit %d: %s", exit, lastLine(stderr))
		if attempts > 1000 || (p.cut == nil && attempts >= 5) {
			break
		}
		if p.cut == nil {
			b.logf("  rsync attempt %d: %s; starting it again", attempts, lastErr)
			time.Sleep(200 * time.Millisecond)
		}
	}
	elapsed := time.Since(origin)
	w.end()
	u.Role, u.WallS = "receiver: rsync", elapsed.Seconds()
	run.Procs = []ProcUsage{d.stop(), u}
	run.Seconds = elapsed.Seconds()
	run.WireDown, run.WireUp, run.Cuts = w.down, w.up, w.cuts
	run.Attempts, run.Kills = attempts, kills
	if !ok {
		if lastErr == "" {
			lastErr = "did not finish in " + o.timeout.String()
		}
		return fail("%s", lastErr)
	}
	files, err := listFiles(dest)
	var nf, nt int
	var total, tmpBytes int64
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f.path), ".") {
			nt++ // rsync's temporary file, left by a SIGKILL
			tmpBytes += f.size
			continue
		}
		nf++
		total += f.size
	}
	if err != nil || nf != len(src.blobs) || total != src.blobBytes {
		return fail("copy has %d files, %d bytes; want %d, %d (%v)", nf, total, len(src.blobs), src.blobBytes, err)
	}
	if nt > 0 {
		run.Note = fmt.Sprintf("rsync left %d temporary files (%s) behind in the copy", nt, mib(tmpBytes))
	}
	run.Status = StatusOK
	b.logf("  rsync %s: %s, %s down, %s up", o.phase, secs(run.Seconds), mib(run.WireDown), mib(run.WireUp))
	if o.again {
		again := &Run{Tool: ToolRsync, Phase: "nothing new", Status: StatusFailed, Attempts: 1}
		d, err := startRsyncd(ctx, p.nsA(), p.ipA(), port, blobDir(src.data), filepath.Join(b.work, id+"-again-rsyncd"))
		if err != nil {
			again.Error = err.Error()
			return append(out, again)
		}
		w := &wire{ns: p.ns}
		addr := d.Addr()
		if p.ns == nil {
			l, err := OpenLink(d.Addr(), p.shape, nil)
			if err == nil {
				defer l.Close()
				w.links = append(w.links, l)
				addr = l.Addr()
			}
		}
		w.begin()
		t0 := time.Now()
		exit, _, pu, stderr := rsyncPull(ctx, p.nsB(), addr, dest, 0)
		again.Seconds = time.Since(t0).Seconds()
		w.end()
		again.Procs = []ProcUsage{d.stop(), pu}
		again.WireDown, again.WireUp = w.down, w.up
		if exit != 0 {
			again.Error = fmt.Sprintf("rsync exit %d: %s", exit, lastLine(stderr))
		} else {
			again.Status = StatusOK
			b.logf("  rsync nothing new: %s, %s down, %s up", secs(again.Seconds), mib(again.WireDown), mib(again.WireUp))
		}
		out = append(out, again)
	}
	return out
}

// runRaw sends the same bytes over one plain TCP connection on the same
// link: the physical limit.
func (b *bench) runRaw(ctx context.Context, src *source, p path) *Run {
	run := &Run{Tool: ToolRaw, Status: StatusFailed, Attempts: 1}
	w := &wire{ns: p.ns}
	var n int64
	var d time.Duration
	if p.ns == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			run.Error = err.Error()
			return run
		}
		defer ln.Close()
		sendErr := make(chan error, 1)
		go func() {
			err := rawSend(ln, blobDir(src.data))
			ln.Close() // a sender that failed before accepting must not leave the receiver waiting
			sendErr <- err
		}()
		l, err := OpenLink(ln.Addr().String(), p.shape, nil)
		if err != nil {
			run.Error = err.Error()
			return run
		}
		defer l.Close()
		w.links = append(w.links, l)
		w.begin()
		n, d, err = rawRecv(ctx, l.Addr(), expected(src.blobBytes, p.rate()))
		w.end()
		if err == nil {
			err = <-sendErr
		}
		if err != nil {
			run.Error = err.Error()
			return run
		}
	} else {
		send, err := b.startSender(ctx, p.ns.A, "raw-send", "--listen", p.ns.IPA+":0", blobDir(src.data))
		if err != nil {
			run.Error = err.Error()
			return run
		}
		defer send.cmd.Wait()
		addr := send.addr
		w.begin()
		rc := runReceiver(command(ctx, p.ns.B, b.self, "raw-recv", "--addr", strings.TrimSpace(addr)), "receiver: raw-recv")
		w.end()
		if rc.err != nil {
			run.Error = rc.err.Error()
			return run
		}
		_ = send.cmd.Wait()
		n, d = rc.res.Bytes, time.Duration(rc.res.Seconds*float64(time.Second))
		run.Procs = []ProcUsage{usage("sender: raw-send", send.cmd.ProcessState, time.Since(send.start), send.rss), rc.usage}
	}
	if n != src.blobBytes {
		run.Error = fmt.Sprintf("received %d bytes, want %d", n, src.blobBytes)
		return run
	}
	run.Seconds = d.Seconds()
	run.WireDown, run.WireUp = w.down, w.up
	run.Status = StatusOK
	b.logf("  raw TCP: %s, %s down", secs(run.Seconds), mib(run.WireDown))
	return run
}

// randomKills draws n kill moments in [lo, hi].
func randomKills(seed uint64, n int, lo, hi time.Duration) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 0x4b111))
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
	}
	return out
}

func slug(s string) string {
	if s == "" {
		return "main"
	}
	return strings.NewReplacer(" ", "-", "/", "-").Replace(s)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
