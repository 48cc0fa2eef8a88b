package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/node"
	"github.com/libp2p/go-libp2p/core/peer"
)

var demoCmd = &command{
	name:    "demo",
	summary: "two devices on this machine: import, invite, join, sync, verify",
	usage: `Usage: fieldsync demo [--dir DIR] [--photos N] [--megapixels MP] [--json]

Runs two fieldsync devices in this process, talking libp2p over loopback
(127.0.0.1) only:
  1. "laptop" creates a project and imports N sample photos (synthetic
     camera photos with EXIF time and GPS), making thumbnails and previews;
  2. it serves the project and makes a one-time invite code;
  3. "phone" joins with the code and syncs: records first, then thumbnails,
     previews and originals, with progress per class;
  4. "phone" re-hashes every blob it received against its CID.
The data directories stay under --dir (default: a new temporary directory)
so you can look around afterwards with 'fieldsync ls --data DIR/phone'.

Options:
  --dir DIR          where to put the two data directories
  --photos N         how many photos (default 12)
  --megapixels MP    size of each photo (default 6)
  --json             progress and the summary as JSON lines

Exit codes: 0 the phone ended with everything, verified; 1 failure.
`,
}

func init() {
	demoCmd.run = runDemo
	register(demoCmd)
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(demoCmd, e)
	dir := fs.String("dir", "", "")
	nPhotos := fs.Int("photos", 12, "")
	mp := fs.Float64("megapixels", 6, "")
	asJSON := fs.Bool("json", false, "")
	rest, err := parseFlags(demoCmd, e, fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q", rest[0])
	}
	if *nPhotos < 1 || *nPhotos > 1000 || *mp <= 0 || *mp > 50 {
		return usagef("--photos must be 1..1000 and --megapixels 0..50")
	}
	if *dir == "" {
		*dir, err = os.MkdirTemp("", "fieldsync-demo-")
		if err != nil {
			return err
		}
	}
	say := func(format string, a ...any) {
		if *asJSON {
			_ = writeJSON(e.stdout, map[string]string{"step": fmt.Sprintf(format, a...)})
			return
		}
		fmt.Fprintf(e.stdout, format+"\n", a...)
	}
	start := time.Now()

	// 1. The laptop: a project and sample photos.
	photos := filepath.Join(*dir, "photos")
	say("== 1. sample photos: %d × %.0f MP camera-like JPEGs with EXIF time and GPS in %s", *nPhotos, *mp, photos)
	if err := makeSamplePhotos(ctx, photos, *nPhotos, *mp); err != nil {
		return fmt.Errorf("make sample photos: %w", err)
	}
	laptop, err := node.Init(ctx, filepath.Join(*dir, "laptop"), node.Options{})
	if err != nil {
		return err
	}
	defer laptop.Close()
	if err := laptop.SetName(ctx, "laptop"); err != nil {
		return err
	}
	p, err := laptop.CreateProject(ctx, "Demo: river survey")
	if errors.Is(err, node.ErrHasProject) {
		p, err = laptop.Project() // an earlier demo in the same --dir
	}
	if err != nil {
		return err
	}
	say("== 2. laptop %s creates project %q\n   %s", shortID(laptop.ID().String()), p.Name, p.ID)
	t0 := time.Now()
	rep, err := laptop.Import(ctx, photos, node.ImportOptions{}, func(pr node.ImportProgress) {
		if !*asJSON && isTerminal(e.stdout) {
			fmt.Fprintf(e.stdout, "\r   import %s %d/%d", bar(int64(pr.Done), int64(pr.Total), 24), pr.Done, pr.Total)
		}
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if !*asJSON && isTerminal(e.stdout) {
		fmt.Fprintln(e.stdout)
	}
	say("   imported %d observations (original + preview + thumbnail each) in %s", len(rep.Records), time.Since(t0).Round(time.Millisecond))

	// 2. The laptop serves and invites.
	if err := laptop.Start(ctx, node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}}); err != nil {
		return err
	}
	inv, err := laptop.Invite(ctx, node.InviteOptions{TTL: time.Hour})
	if err != nil {
		return err
	}
	say("== 3. laptop serves on %v and makes a one-time invite:\n   %s", laptop.Addrs(), inv.Code)

	// 3. The phone joins and syncs.
	phone, err := node.Init(ctx, filepath.Join(*dir, "phone"), node.Options{})
	if err != nil {
		return err
	}
	defer phone.Close()
	if err := phone.SetName(ctx, "phone"); err != nil {
		return err
	}
	info, err := phone.Join(ctx, inv.Code, node.JoinOptions{})
	if err != nil {
		return fmt.Errorf("phone join: %w", err)
	}
	say("== 4. phone %s joins as %s, then syncs", shortID(phone.ID().String()), info.Role)
	view := newProgressView(e.stdout, *asJSON)
	view.interval = 200 * time.Millisecond
	vctx, stopView := context.WithCancel(ctx)
	go view.run(vctx, phone.Progress)
	t1 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	res, err := phone.Sync(sctx, node.SyncOptions{NetOptions: node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Peers: []peer.AddrInfo{{ID: laptop.ID(), Addrs: laptop.Addrs()}}}})
	cancel()
	stopView()
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	snap := res.Progress
	view.draw(snap, true)
	say("   synced %d records and %s of blobs in %s", snap.RecordsApplied, humanBytes(snap.BytesReceived), time.Since(t1).Round(time.Millisecond))

	// 4. The phone verifies everything it holds.
	ok, bad := 0, 0
	err = phone.Verify(ctx, node.VerifyOptions{}, func(r blob.FixityReport) error {
		if r.OK() {
			ok++
		} else {
			bad++
		}
		return nil
	})
	if err != nil {
		return err
	}
	say("== 5. phone re-hashes every blob against its CID: %d intact, %d bad", ok, bad)
	if bad > 0 || !res.Complete {
		return fmt.Errorf("the phone did not end complete and verified")
	}
	say("done in %s. Look around (copy a line into a terminal):\n   %s\n   %s\n   %s\n   %s    (the web app: map, gallery; open the URL it prints)",
		time.Since(start).Round(time.Millisecond), selfCommand("ls", "--data", phone.Dir()), selfCommand("members", "--data", phone.Dir()),
		selfCommand("status", "--data", phone.Dir()), selfCommand("ui", "--data", phone.Dir()))
	return nil
}

// selfCommand is a command line that runs this fieldsync with args from
// any directory, as a person types it: "fieldsync ARGS" when that is what
// the PATH finds, the binary's absolute path otherwise, and, under 'go
// run' (a binary in the Go build cache, gone when it exits), 'go run' in
// the directory it ran from.
func selfCommand(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	tail := strings.Join(q, " ")
	exe, err := os.Executable()
	if err != nil {
		return "fieldsync " + tail
	}
	exe, _ = filepath.EvalSymlinks(exe)
	if onPath, err := exec.LookPath("fieldsync"); err == nil {
		if p, err := filepath.EvalSymlinks(onPath); err == nil && p == exe {
			return "fieldsync " + tail
		}
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if wd, err := os.Getwd(); err == nil {
			return fmt.Sprintf("(cd %s && go run ./cmd/fieldsync %s)", shellQuote(wd), tail)
		}
	}
	return shellQuote(exe) + " " + tail
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"$`\\*?[]{}()<>|&;#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// makeSamplePhotos writes n synthetic camera photos of about mp megapixels
// into dir, in parallel, each with a distinct time and a GPS position
// along a river.
func makeSamplePhotos(ctx context.Context, dir string, n int, mp float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	w := int(math.Sqrt(mp*1e6*4/3) + 0.5)
	h := w * 3 / 4
	base := time.Date(2026, 5, 17, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("IMG_%04d.jpg", i+1))
		if _, err := os.Stat(path); err == nil {
			continue
		}
		wg.Add(1)
		go func(i int, path string) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			b := synth.JPEG(w, h, uint64(i+1), 88, synth.Meta{
				Taken: base.Add(time.Duration(i) * 7 * time.Minute),
				Lat:   -3.4653 + float64(i)*0.0007, Lon: -62.2159 + float64(i)*0.0011,
			})
			errs <- os.WriteFile(path, b, 0o644)
		}(i, path)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
