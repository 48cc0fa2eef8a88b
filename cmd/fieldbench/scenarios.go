//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// config is the sizes of every scenario, full or --quick.
type config struct {
	quick      bool
	bulk       []fileSpec
	small      fileSpec  // many small blobs on loopback
	large      int64     // one large blob on loopback, against a raw libp2p stream
	photos     photoSpec // the photo project on loopback
	weak       photoSpec // the 2 Mbit/s link (toxiproxy and tbf) and three devices
	slow       photoSpec // the 500 kbit/s link
	intrPhotos photoSpec
	intrFiles  []fileSpec
	intrShape  Shape
	cut        CutSpec
	kills      int
	killMin    time.Duration
	killMax    time.Duration
	scale      int // observations of three blobs each
}

func fullConfig(seed uint64) config {
	return config{
		bulk:       []fileSpec{{200, 1 << 20}, {50, 8 << 20}, {1, 512 << 20}},
		small:      fileSpec{30000, 20000},
		large:      512 << 20,
		photos:     photoSpec{40, 4000, 3000, 1},
		weak:       photoSpec{10, 4000, 3000, 1},
		slow:       photoSpec{3, 4000, 3000, 1},
		intrPhotos: photoSpec{10, 4000, 3000, 1},
		intrFiles:  []fileSpec{{4, 8 << 20}},
		intrShape:  Shape{RateBps: 20e6 / 8, RTT: 20 * time.Millisecond},
		cut:        CutSpec{Min: 256 << 10, Max: 4 << 20, Seed: seed},
		kills:      6,
		killMin:    1500 * time.Millisecond,
		killMax:    5 * time.Second,
		scale:      10000,
	}
}

func quickConfig(seed uint64) config {
	return config{
		quick:      true,
		bulk:       []fileSpec{{200, 1 << 20}},
		small:      fileSpec{3000, 20000},
		large:      128 << 20,
		photos:     photoSpec{4, 4000, 3000, 1},
		weak:       photoSpec{3, 1600, 1200, 101},
		slow:       photoSpec{2, 800, 600, 201},
		intrPhotos: photoSpec{4, 1600, 1200, 101},
		intrFiles:  []fileSpec{{1, 8 << 20}},
		intrShape:  Shape{RateBps: 20e6 / 8, RTT: 20 * time.Millisecond},
		cut:        CutSpec{Min: 256 << 10, Max: 3 << 20, Seed: seed},
		kills:      2,
		killMin:    800 * time.Millisecond,
		killMax:    2500 * time.Millisecond,
		scale:      1000,
	}
}

func bulkString(specs []fileSpec) string {
	s := ""
	for i, f := range specs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d × %s", f.N, sizeString(f.Size))
	}
	return s + " of random bytes"
}

// sizeString is n bytes as "20 KB" or "8 MiB".
func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n%1000 == 0 {
		return fmt.Sprintf("%d KB", n/1000)
	}
	return fmt.Sprintf("%d B", n)
}

// loopbackIDs are the scenarios of the loopback ratios table (issue 18),
// run first; "--only loopback" runs them alone.
var loopbackIDs = []string{"bulk", "small", "large", "scale"}

// scenarioIDs in the order they run.
var scenarioIDs = []string{"bulk", "small", "large", "photos", "weak-2mbit", "weak-500kbit", "netns-tbf", "interrupt", "three-devices", "import", "scale", "reach"}

var (
	weakFast = Shape{RateBps: 2e6 / 8, RTT: 100 * time.Millisecond}
	weakSlow = Shape{RateBps: 500e3 / 8, RTT: 300 * time.Millisecond}
)

// expected is a generous bound on how long moving n bytes at rate may
// take (rate 0: loopback), for timeouts.
func expected(n int64, rate float64) time.Duration {
	if rate <= 0 {
		rate = 20e6
	}
	return time.Duration(float64(n)/rate*4*float64(time.Second)) + 90*time.Second
}

// makeSource creates a source device with a project and imports dir.
func (b *bench) makeSource(ctx context.Context, name, dir string) (*source, error) {
	data := filepath.Join(b.work, name+"-A")
	os.RemoveAll(data)
	if _, _, err := b.fs.run(ctx, "init", "", "init", "--data", data, "--project", "fieldbench "+name, "--json"); err != nil {
		return nil, err
	}
	files, _, err := filesUnder(dir)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	out, u, err := b.fs.run(ctx, "source: fieldsync import", "", "import", "--data", data, "--json", dir)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Imported int `json:"imported"`
	}
	_ = json.Unmarshal(out, &rep)
	s := &source{data: data, imp: &Import{Files: len(files), Seconds: time.Since(t0).Seconds(), Usage: u}}
	blobs, n, err := b.fs.listBlobs(ctx, data)
	if err != nil {
		return nil, err
	}
	s.blobs, s.records = blobs, n
	for _, bl := range blobs {
		s.blobBytes += bl.Size
		if bl.Class == "thumbnails" {
			s.thumbFiles++
			s.thumbBytes += bl.Size
		}
	}
	b.logf("  source %s: imported %d files (%d observations, %d blobs, %s) in %s", name, len(files), n, len(blobs), mib(s.blobBytes), secs(s.imp.Seconds))
	return s, nil
}

// photoSource makes (once per run) a source holding the photos of spec.
func (b *bench) photoSource(ctx context.Context, name string, spec photoSpec, extra []fileSpec) (*source, error) {
	if s := b.sources[name]; s != nil {
		return s, nil
	}
	dir := filepath.Join(b.work, name+"-files")
	if err := makePhotos(ctx, b.cache, dir, spec, b.logf); err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		if _, _, err := makeRandomFiles(dir, extra, b.seed+7); err != nil {
			return nil, err
		}
	}
	s, err := b.makeSource(ctx, name, dir)
	if err != nil {
		return nil, err
	}
	b.sources[name] = s
	return s, nil
}

func (sc *Scenario) fill(s *source) {
	sc.Blobs, sc.BlobBytes = len(s.blobs), s.blobBytes
	sc.ThumbFiles, sc.ThumbBytes = s.thumbFiles, s.thumbBytes
}

// runScenario runs one scenario by id.
func (b *bench) runScenario(ctx context.Context, id string) *Scenario {
	c := b.cfg
	full := fullConfig(0)
	sc := &Scenario{ID: id, Status: StatusOK}
	scaled := func(quick, fullDesc string) {
		if c.quick && quick != fullDesc {
			sc.Scaled = "full mode: " + fullDesc
		}
	}
	failed := func(err error) *Scenario {
		sc.Status, sc.Note = StatusFailed, err.Error()
		b.logf("  scenario %s failed: %v", id, err)
		return sc
	}
	// withRefs runs fieldsync, then the references: rsync (and on
	// loopback rsync --fsync) and raw TCP. On loopback, where the disk
	// shows, each run starts once the one before it is on the disk
	// (settle), so no run pays for another's writeback.
	withRefs := func(s *source, p path, rate float64, timeline bool) {
		sc.fill(s)
		sc.Import = s.imp
		to := expected(s.blobBytes, rate)
		loop := rate == 0
		sc.Runs = append(sc.Runs, b.runFieldsync(ctx, id, s, p, fsRunOpts{timeout: to, timeline: timeline, settle: loop})...)
		sc.Runs = append(sc.Runs, b.runRsync(ctx, id, s, p, rsOpts{timeout: to, settle: loop})...)
		if loop {
			// rsync keeping fieldsync's promise, every file durable.
			sc.Runs = append(sc.Runs, b.runRsync(ctx, id, s, p, rsOpts{phase: PhaseDurable, fsync: true, timeout: to, settle: loop})...)
		}
		b.settle(loop)
		sc.Runs = append(sc.Runs, b.runRaw(ctx, s, p))
	}
	// rawP2P runs a raw libp2p reference on loopback, settled first.
	rawP2P := func(s *source, phase string) *Run {
		b.settle(true)
		return b.runRawP2P(ctx, s, phase)
	}
	switch id {
	case "bulk":
		sc.Title, sc.Link = "bulk, loopback", "127.0.0.1 (unshaped, counted)"
		sc.Data = bulkString(c.bulk)
		scaled(sc.Data, bulkString(full.bulk))
		s := b.sources["bulk"]
		if s == nil {
			dir := filepath.Join(b.work, "bulk-files")
			if _, _, err := makeRandomFiles(dir, c.bulk, b.seed); err != nil {
				return failed(err)
			}
			var err error
			if s, err = b.makeSource(ctx, "bulk", dir); err != nil {
				return failed(err)
			}
			b.sources["bulk"] = s
		}
		withRefs(s, path{}, 0, false)
		sc.Runs = append(sc.Runs, rawP2P(s, ""))
		// The floor for a receiver that checks and keeps every leaf.
		sc.Runs = append(sc.Runs, rawP2P(s, PhaseVerified))

	case "small", "large":
		specs, fullSpecs := []fileSpec{c.small}, []fileSpec{full.small}
		sc.Title = "many small blobs, loopback"
		if id == "large" {
			specs, fullSpecs = []fileSpec{{1, c.large}}, []fileSpec{{1, full.large}}
			sc.Title = "one large blob, loopback"
		}
		sc.Link = "127.0.0.1 (unshaped, counted)"
		sc.Data = bulkString(specs)
		scaled(sc.Data, bulkString(fullSpecs))
		s := b.sources[id]
		if s == nil {
			dir := filepath.Join(b.work, id+"-files")
			if _, _, err := makeRandomFiles(dir, specs, b.seed+uint64(len(id))); err != nil {
				return failed(err)
			}
			var err error
			if s, err = b.makeSource(ctx, id, dir); err != nil {
				return failed(err)
			}
			b.sources[id] = s
		}
		withRefs(s, path{}, 0, false)
		sc.Runs = append(sc.Runs, rawP2P(s, ""))
		if id == "large" {
			sc.Runs = append(sc.Runs, rawP2P(s, PhaseDurable))
			sc.Runs = append(sc.Runs, rawP2P(s, PhaseVerified))
			// The same blob over QUIC: fieldsync's serve and sync on
			// /udp/.../quic-v1, then a raw libp2p stream over QUIC.
			to := expected(s.blobBytes, 0)
			sc.Runs = append(sc.Runs, b.runFieldsync(ctx, id, s, path{quic: true}, fsRunOpts{phase: PhaseQUIC, timeout: to, settle: true})...)
			sc.Runs = append(sc.Runs, rawP2P(s, PhaseQUIC))
		}

	case "photos":
		sc.Title, sc.Link = "photo project, loopback", "127.0.0.1 (unshaped, counted)"
		sc.Data = c.photos.String() + " (camera-like, EXIF) with thumbnail and preview each"
		scaled(c.photos.String(), full.photos.String())
		s, err := b.photoSource(ctx, "photos", c.photos, nil)
		if err != nil {
			return failed(err)
		}
		withRefs(s, path{}, 0, false)

	case "weak-2mbit", "weak-500kbit":
		spec, shape, fullSpec := c.weak, weakFast, full.weak
		if id == "weak-500kbit" {
			spec, shape, fullSpec = c.slow, weakSlow, full.slow
		}
		sc.Title = "weak link " + bitRate(shape.RateBps)
		sc.Link = "toxiproxy " + shape.String() + ", both directions"
		sc.LinkRate = shape.RateBps
		sc.Data = spec.String() + " with thumbnail and preview each"
		scaled(spec.String(), fullSpec.String())
		s, err := b.photoSource(ctx, fmt.Sprintf("photos-%d-%dx%d", spec.N, spec.W, spec.H), spec, nil)
		if err != nil {
			return failed(err)
		}
		withRefs(s, path{shape: &shape}, shape.RateBps, true)

	case "netns-tbf":
		sc.Title = "kernel link 2 Mbit/s (tbf)"
		sc.LinkRate = weakFast.RateBps
		sc.Data = c.weak.String() + " with thumbnail and preview each"
		scaled(c.weak.String(), full.weak.String())
		if ok, why := canNetns(); !ok {
			sc.Link = "veth between two network namespaces, tbf"
			sc.Status, sc.Note = StatusSkipped, "network namespaces cannot be made here: "+why
			b.logf("  skipped: %s", sc.Note)
			return sc
		}
		ns, err := setupNetns("2mbit")
		if err != nil {
			return failed(err)
		}
		defer ns.close()
		sc.Link = fmt.Sprintf("veth %s ↔ %s between two namespaces, %s each end; no added delay (no netem on this kernel); wire bytes are veth frames", ns.IPA, ns.IPB, ns.shape)
		s, err := b.photoSource(ctx, fmt.Sprintf("photos-%d-%dx%d", c.weak.N, c.weak.W, c.weak.H), c.weak, nil)
		if err != nil {
			return failed(err)
		}
		withRefs(s, path{ns: ns}, weakFast.RateBps, true)

	case "interrupt":
		sh := c.intrShape
		sc.Title = "cuts and kills"
		sc.Link = "toxiproxy " + sh.String() + fmt.Sprintf("; cut every %s–%s downstream; receiver SIGKILLed %d times at %s–%s after each start", mib(c.cut.Min), mib(c.cut.Max), c.kills, c.killMin, c.killMax)
		sc.LinkRate = sh.RateBps
		sc.Data = c.intrPhotos.String() + " with variants, and " + bulkString(c.intrFiles)
		scaled(fmt.Sprintf("%s, %s, %d kills", c.intrPhotos, bulkString(c.intrFiles), c.kills), fmt.Sprintf("%s, %s, %d kills", full.intrPhotos, bulkString(full.intrFiles), full.kills))
		s, err := b.photoSource(ctx, fmt.Sprintf("intr-%d-%dx%d", c.intrPhotos.N, c.intrPhotos.W, c.intrPhotos.H), c.intrPhotos, c.intrFiles)
		if err != nil {
			return failed(err)
		}
		sc.fill(s)
		sc.Import = s.imp
		to := expected(s.blobBytes, sh.RateBps) * 3
		cut := c.cut
		kills := randomKills(b.seed, c.kills, c.killMin, c.killMax)
		sc.Runs = append(sc.Runs, b.runFieldsync(ctx, id, s, path{shape: &sh, cut: &cut}, fsRunOpts{phase: "cuts", timeout: to})...)
		sc.Runs = append(sc.Runs, b.runRsync(ctx, id, s, path{shape: &sh, cut: &cut}, rsOpts{phase: "cuts", timeout: to})...)
		sc.Runs = append(sc.Runs, b.runFieldsync(ctx, id, s, path{shape: &sh}, fsRunOpts{phase: "kills", kills: kills, timeout: to})...)
		sc.Runs = append(sc.Runs, b.runRsync(ctx, id, s, path{shape: &sh}, rsOpts{phase: "kills", kills: kills, timeout: to})...)

	case "three-devices":
		sc.Title = "three devices, two sources"
		sc.Link = "toxiproxy " + weakFast.String() + " from each source (one link each)"
		sc.LinkRate = weakFast.RateBps
		sc.Data = c.weak.String() + " with variants, held by two serving devices"
		scaled(c.weak.String(), full.weak.String())
		name := fmt.Sprintf("photos-%d-%dx%d", c.weak.N, c.weak.W, c.weak.H)
		s, err := b.photoSource(ctx, name, c.weak, nil)
		if err != nil {
			return failed(err)
		}
		sc.fill(s)
		// The second source: a device that joins the first and syncs
		// everything from it on loopback, then serves too. The receiver
		// joins the first source before, so the second knows it as a
		// member.
		second, err := b.secondSource(ctx, s)
		if err != nil {
			return failed(err)
		}
		to := expected(s.blobBytes, weakFast.RateBps)
		one := b.find("weak-2mbit", ToolFieldsync, "")
		for _, rf := range []bool{false, true} {
			phase := "2 sources"
			if rf {
				phase = "2 sources, records first"
			}
			runs := b.runFieldsync(ctx, id, s, path{shape: &weakFast}, fsRunOpts{phase: phase, extraSrc: second, timeout: to, recordsFirst: rf})
			r := runs[0]
			if r.Status == StatusOK {
				var notes []string
				if one != nil && one.Status == StatusOK {
					notes = append(notes, fmt.Sprintf("%s the time from one source (%s in scenario weak link 2 Mbit/s: same files, same link)", ratio(r.Seconds, one.Seconds), secs(one.Seconds)))
				}
				if r.PeerBytes["source 2"] == 0 {
					notes = append(notes, "**source 2 sent nothing**")
				}
				r.Note = strings.Join(notes, "; ")
			}
			sc.Runs = append(sc.Runs, runs...)
		}
		sc.Note = "'records first': the receiver pulls the records alone (a filter wanting nothing) before the measured sync"
		if r := sc.ok(ToolFieldsync, "2 sources"); r != nil && r.PeerBytes["source 2"] == 0 {
			sc.Note += ". Without it, fieldsync used one source only: a receiver that does not know a source's membership when they connect refuses it and never retries once the records arrive"
		}

	case "reach":
		scaled(c.weak.String(), full.weak.String())
		if err := b.runReach(ctx, sc, c.weak); err != nil {
			return failed(err)
		}

	case "import":
		sc.Title = "import of small photos"
		sc.Link = "none (one device)"
		sc.Data = fmt.Sprintf("%d small 440×330 photos (the scale scenario's)", c.scale)
		scaled(sc.Data, fmt.Sprintf("%d small 440×330 photos (the scale scenario's)", full.scale))
		dir := filepath.Join(b.work, "scale-files")
		if err := makeSmallPhotos(ctx, b.cache, dir, c.scale, b.logf); err != nil {
			return failed(err)
		}
		s, err := b.makeSource(ctx, "scale", dir)
		if err != nil {
			return failed(err)
		}
		b.sources["scale"] = s // the scale scenario syncs this import
		sc.fill(s)
		sc.Import = s.imp
		ref, err := b.naiveImport(ctx, dir)
		if err != nil {
			return failed(err)
		}
		sc.ImportReference = ref
		b.logf("  naive pipeline: %s wall, %s CPU for %d photos", secs(ref.Seconds), secs(ref.Usage.CPUSeconds), ref.Files)

	case "scale":
		sc.Title = "scale, then nothing new"
		sc.Link = "127.0.0.1 (unshaped, counted)"
		sc.Data = fmt.Sprintf("%d observations (small 440×330 photos), %d blobs", c.scale, 3*c.scale)
		scaled(sc.Data, fmt.Sprintf("%d observations (small 440×330 photos), %d blobs", full.scale, 3*full.scale))
		s := b.sources["scale"]
		if s == nil {
			dir := filepath.Join(b.work, "scale-files")
			if err := makeSmallPhotos(ctx, b.cache, dir, c.scale, b.logf); err != nil {
				return failed(err)
			}
			var err error
			if s, err = b.makeSource(ctx, "scale", dir); err != nil {
				return failed(err)
			}
			b.sources["scale"] = s
		}
		sc.fill(s)
		sc.Import = s.imp
		if len(s.blobs) != 3*c.scale {
			sc.Note = fmt.Sprintf("the import made %d blobs, not %d", len(s.blobs), 3*c.scale)
		}
		to := expected(s.blobBytes, 0) + time.Duration(len(s.blobs))*20*time.Millisecond
		sc.Runs = append(sc.Runs, b.runFieldsync(ctx, id, s, path{}, fsRunOpts{timeout: to, again: true, settle: true})...)
		sc.Runs = append(sc.Runs, b.runRsync(ctx, id, s, path{}, rsOpts{timeout: to, again: true, settle: true})...)
		b.settle(true)
		sc.Runs = append(sc.Runs, b.runRaw(ctx, s, path{}))
	default:
		return failed(fmt.Errorf("no scenario %q", id))
	}
	for _, r := range sc.Runs {
		if r.Status != StatusOK && sc.Status == StatusOK {
			sc.Status = StatusFailed
			sc.Note = r.Tool + " " + r.Phase + ": " + r.Error
		}
	}
	return sc
}

// secondSource makes a device that joins s's project and syncs all of it.
func (b *bench) secondSource(ctx context.Context, s *source) (*source, error) {
	data := filepath.Join(b.work, "three-C")
	os.RemoveAll(data)
	srv, err := b.fs.serve(ctx, "setup", "", s.data, "127.0.0.1", true)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if _, _, err := b.fs.run(ctx, "join", "", "join", "--data", data, "--json", srv.Invite); err != nil {
		return nil, err
	}
	// The receiver joins later; runFieldsync has this device sync with s
	// again then, to learn the receiver's membership before it serves.
	res := b.fs.sync(ctx, syncOpts{data: data, listen: "127.0.0.1", peers: []string{srv.Addrs[0]}, origin: time.Now(), timeout: expected(s.blobBytes, 0)})
	if res.exit != 0 {
		return nil, fmt.Errorf("second source's sync: exit %d: %s", res.exit, lastLine(res.stderr))
	}
	return &source{data: data, blobs: s.blobs, blobBytes: s.blobBytes}, nil
}

func (b *bench) find(id, tool, phase string) *Run {
	for _, s := range b.report.Scenarios {
		if s.ID == id {
			return s.find(tool, phase)
		}
	}
	return nil
}

// settle, on loopback, writes every dirty page to the disk (sync(2))
// before the next timed run, so that no run pays for the writeback of the
// one before it: rsync makes nothing durable and leaves hundreds of
// megabytes dirty, and whatever ran next paid for them (rsync's own time on
// the 30,000 small blobs moved from 2 to 15 s within one run).
func (b *bench) settle(loopback bool) {
	if !loopback {
		return
	}
	t := time.Now()
	syscall.Sync()
	if d := time.Since(t); d > time.Second {
		b.logf("  (the disk took %s to settle before the next run)", secs(d.Seconds()))
	}
}
