//go:build linux

// Command fieldbench measures fieldsync in field conditions, beside rsync
// and a raw TCP copy on the same files and the same link.
//
// It builds the fieldsync command, then runs real, separate processes per
// device (each with its own --data directory) on 127.0.0.1 only, through an
// in-process toxiproxy for weak links and cuts, and, where network
// namespaces can be made, across a tbf-shaped veth pair between two
// namespaces of its own. It writes a markdown table, a JSON file and a PNG
// timeline of a weak-link sync to --out.
//
//	go run ./cmd/fieldbench --quick      # a few minutes, scaled down
//	go run ./cmd/fieldbench              # the full scenarios
//
// See docs/benchmarks.md (the field conditions bench) for what each figure means.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

const usageText = `Usage: go run ./cmd/fieldbench [--quick] [--out DIR] [--only IDS] [options]

Runs fieldsync in field conditions (bulk and photo projects on loopback,
weak links through toxiproxy and a tbf-shaped veth between network
namespaces, cuts and SIGKILLs, three devices, 10,000 observations and a sync
with nothing new), each beside an rsync daemon and a raw TCP copy on the
same files and link, on 127.0.0.1 only. Writes results.md, results.json and
timeline.png (a weak-link sync, bytes arrived by class over time) to --out.

Options:
  --quick         scaled-down scenarios (a few minutes); the output says so
  --out DIR       where to write the results (default ./fieldbench-out)
  --only IDS      comma-separated scenarios to run, of:
                  ` + "bulk, small, large, photos, weak-2mbit, weak-500kbit, netns-tbf, interrupt, three-devices, import, scale, reach" + `
                  ('loopback' is bulk, small, large and scale)
  --repeat N      run the chosen scenarios N times, in turn (default 1); the
                  loopback ratios table gives the median and the range
  --pprof DIR     have every fieldsync process write CPU, allocation and
                  block profiles to DIR (FIELDSYNC_PPROF)
  --fieldsync BIN use this fieldsync binary instead of building one
  --work DIR      where the devices' data go (default: a temporary directory,
                  removed afterwards unless --keep)
  --keep          keep the work directory
  --cache DIR     where generated photos are cached (default: the user cache
                  directory's fieldbench)
  --seed N        seed for the cut and kill points (default 1)
  --replot FILE   write the table and timelines again from a results.json

Exit codes: 0 every scenario ran (fieldsync may still have failed in one:
see the table), 1 the bench itself failed, 2 bad usage.
`

// bench is one run of the bench.
type bench struct {
	cfg     config
	fs      *fieldsync
	self    string // this executable, for the raw TCP helpers in namespaces
	work    string
	cache   string
	seed    uint64
	report  *Report
	sources map[string]*source
	start   time.Time
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "raw-naive-import" {
		os.Exit(naiveImportMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "raw-p2p-") {
		os.Exit(rawP2PMain(os.Args[1:]))
	}
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "raw-") {
		os.Exit(rawMain(os.Args[1:]))
	}
	os.Exit(run())
}

func run() int {
	fl := flag.NewFlagSet("fieldbench", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, usageText) }
	quick := fl.Bool("quick", false, "")
	out := fl.String("out", "fieldbench-out", "")
	only := fl.String("only", "", "")
	bin := fl.String("fieldsync", "", "")
	work := fl.String("work", "", "")
	keep := fl.Bool("keep", false, "")
	cache := fl.String("cache", "", "")
	seed := fl.Uint64("seed", 1, "")
	replot := fl.String("replot", "", "")
	repeat := fl.Int("repeat", 1, "")
	pprofDir := fl.String("pprof", "", "")
	if err := fl.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "fieldbench: unexpected argument %q\n", fl.Arg(0))
		return 2
	}
	if *replot != "" {
		b := &bench{report: &Report{}}
		data, err := os.ReadFile(*replot)
		if err == nil {
			err = json.Unmarshal(data, b.report)
		}
		if err == nil {
			err = os.MkdirAll(*out, 0o755)
		}
		if err == nil {
			err = b.write(*out)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fieldbench: %v\n", err)
			return 1
		}
		return 0
	}
	ids := scenarioIDs
	if *only != "" {
		ids = nil
		for _, id := range strings.Split(*only, ",") {
			id = strings.TrimSpace(id)
			if id == "loopback" {
				ids = append(ids, loopbackIDs...)
				continue
			}
			known := false
			for _, k := range scenarioIDs {
				known = known || k == id
			}
			if !known {
				fmt.Fprintf(os.Stderr, "fieldbench: no scenario %q (have %s)\n", id, strings.Join(scenarioIDs, ", "))
				return 2
			}
			ids = append(ids, id)
		}
	}

	if *repeat < 1 {
		fmt.Fprintln(os.Stderr, "fieldbench: --repeat needs a count of at least 1")
		return 2
	}
	if *pprofDir != "" {
		d, err := filepath.Abs(*pprofDir)
		if err == nil {
			err = os.MkdirAll(d, 0o755)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "fieldbench: --pprof: %v\n", err)
			return 1
		}
		os.Setenv("FIELDSYNC_PPROF", d)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{seed: *seed, sources: map[string]*source{}, start: time.Now()}
	if *quick {
		b.cfg = quickConfig(*seed)
	} else {
		b.cfg = fullConfig(*seed)
	}
	if err := b.setup(ctx, *bin, *work, *cache); err != nil {
		fmt.Fprintf(os.Stderr, "fieldbench: %v\n", err)
		return 1
	}
	if !*keep && *work == "" {
		defer os.RemoveAll(b.work)
	} else {
		defer b.logf("kept the devices' data in %s", b.work)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "fieldbench: %v\n", err)
		return 1
	}

	for rep := 1; rep <= *repeat; rep++ {
		for _, id := range ids {
			if ctx.Err() != nil {
				break
			}
			b.logf("scenario %s (%d of %d)", id, rep, *repeat)
			sc := b.runScenario(ctx, id)
			if *repeat > 1 {
				sc.Repeat = rep
			}
			b.report.Scenarios = append(b.report.Scenarios, sc)
			if err := b.write(*out); err != nil { // after each, so a long run leaves results
				fmt.Fprintf(os.Stderr, "fieldbench: %v\n", err)
				return 1
			}
		}
	}
	b.report.Seconds = time.Since(b.start).Seconds()
	b.report.Host.LoadEnd = loadavg()
	if err := b.write(*out); err != nil {
		fmt.Fprintf(os.Stderr, "fieldbench: %v\n", err)
		return 1
	}
	md, _ := os.ReadFile(filepath.Join(*out, "results.md"))
	os.Stdout.Write(md)
	b.logf("wrote %s", strings.Join([]string{filepath.Join(*out, "results.md"), filepath.Join(*out, "results.json"), filepath.Join(*out, "timeline.png")}, ", "))
	if ctx.Err() != nil {
		return 1
	}
	return 0
}

// setup builds fieldsync, finds rsync and fills the report's header.
func (b *bench) setup(ctx context.Context, bin, work, cache string) error {
	var err error
	b.self, err = os.Executable()
	if err != nil {
		return err
	}
	if work == "" {
		work, err = os.MkdirTemp("", "fieldbench-")
		if err != nil {
			return err
		}
	}
	b.work, err = filepath.Abs(work)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return err
	}
	if cache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			cache = filepath.Join(d, "fieldbench")
		} else {
			cache = filepath.Join(b.work, "cache")
		}
	}
	b.cache = cache
	mode := "full"
	if b.cfg.quick {
		mode = "quick"
	}
	b.report = &Report{Schema: SchemaVersion, Mode: mode, Started: b.start.UTC(),
		Host: Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}}
	b.report.Host.LoadStart = loadavg()
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		b.report.Host.Kernel = strings.TrimSpace(string(out))
	}

	root := ""
	if out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output(); err == nil {
		if m := strings.TrimSpace(string(out)); m != "" && m != os.DevNull {
			root = filepath.Dir(m)
		}
	}
	if root != "" {
		if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
			b.report.Host.Commit = strings.TrimSpace(string(out))
			if exec.Command("git", "-C", root, "diff", "--quiet", "HEAD", "--", ".").Run() != nil {
				b.report.Host.Commit += " (with uncommitted changes)"
			}
		}
	}
	if bin == "" {
		if root == "" {
			return fmt.Errorf("not inside the fieldsync module: run from the repository, or pass --fieldsync BIN")
		}
		bin = filepath.Join(b.work, "bin", "fieldsync")
		b.logf("building fieldsync: go build -o %s ./cmd/fieldsync", bin)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/fieldsync")
		cmd.Dir = root
		var e bytes.Buffer
		cmd.Stderr = &e
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/fieldsync: %v\n%s", err, e.String())
		}
	} else {
		b.report.Host.Commit = "binary " + bin
	}
	b.fs = &fieldsync{bin: bin}

	v, err := ensureRsync(b.logf)
	if err != nil {
		return err
	}
	b.report.Host.Rsync = v
	b.report.Notes = append(b.report.Notes,
		"Every device is its own process with its own data directory; every address is 127.0.0.1, except inside the bench's own network namespaces. "+
			"rsync is the Debian package run as a daemon ('rsync --daemon', module on the source's blob directory, the same files fieldsync moves) and pulled with 'rsync -a --partial'; "+
			"raw TCP is one connection carrying the same bytes back to back, discarded on arrival.")
	return nil
}

// write writes results.md, results.json and the timelines.
func (b *bench) write(out string) error {
	var md, js bytes.Buffer
	if err := b.report.WriteMarkdown(&md); err != nil {
		return err
	}
	if err := b.report.WriteJSON(&js); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(out, "results.md"), md.Bytes()); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(out, "results.json"), js.Bytes()); err != nil {
		return err
	}
	for _, sc := range b.report.Scenarios {
		f := sc.find(ToolFieldsync, "")
		if f == nil || f.Timeline == nil || len(f.Timeline.Points) == 0 {
			continue
		}
		ideal := 0.0
		if sc.LinkRate > 0 {
			ideal = float64(sc.ThumbBytes) / sc.LinkRate
		}
		title := fmt.Sprintf("fieldsync sync over %s: bytes arrived by class", sc.Title)
		sub := fmt.Sprintf("%s; %s", sc.Data, sc.Link)
		if len(sub) > 110 {
			sub = sub[:107] + "..."
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, timelineImage(title, sub, f.Timeline, ideal, f.ThumbsSeconds)); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(out, "timeline-"+sc.ID+".png"), buf.Bytes()); err != nil {
			return err
		}
		if sc.ID == "weak-2mbit" {
			if err := writeAtomic(filepath.Join(out, "timeline.png"), buf.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadavg is /proc/loadavg's three load averages, or "".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
