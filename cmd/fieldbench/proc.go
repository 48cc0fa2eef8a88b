//go:build linux

package main

// Device processes: the fieldsync binary (and rsync, and the raw TCP
// helpers) run as separate processes, each in its own process group so a
// kill takes the whole device down at once, each optionally inside a
// network namespace (ip netns exec, which execs in place, so the rusage is
// the device's own).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// command makes an exec.Cmd for name args, inside netns ns if ns != "".
func command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ns != "" {
		cmd = exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// No fieldsync default data directory may be used by accident.
	cmd.Env = append(os.Environ(), "FIELDSYNC_DATA=/nonexistent-fieldbench-passes-data")
	return cmd
}

// usage reads the finished process's rusage. Its maxrss is not used as
// the peak when a tracker sampled the process: on Linux a child's maxrss
// starts at the RSS of the process that exec'ed it (here the bench itself,
// which may be larger than the device), so the tracker's VmHWM, sampled
// from /proc, is the device's own peak; rusage's is kept beside it.
func usage(role string, ps *os.ProcessState, wall time.Duration, tr *rssTracker) ProcUsage {
	u := ProcUsage{Role: role, WallS: wall.Seconds()}
	if ps == nil {
		return u
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.CPUSeconds = tv(ru.Utime) + tv(ru.Stime)
		u.RusageMaxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		u.MaxRSS = u.RusageMaxRSS
	}
	if tr != nil {
		if peak := tr.finish(); peak > 0 {
			u.MaxRSS = peak
		}
	}
	return u
}

// rssTracker samples the peak resident set (VmHWM) of a process and its
// descendants every 50 ms; the peak is the largest single process's.
type rssTracker struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	peak int64
}

func trackRSS(pid int) *rssTracker {
	t := &rssTracker{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			t.sample(t.pid, 0)
			select {
			case <-t.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return t
}

func (t *rssTracker) sample(pid, depth int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			t.peak = max(t.peak, kb*1024)
		}
	}
	if depth > 4 {
		return
	}
	c, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(c)) {
		var child int
		if _, err := fmt.Sscanf(f, "%d", &child); err == nil {
			t.sample(child, depth+1)
		}
	}
}

// finish stops sampling (call it after the process was waited for: the
// last sample is at most 50 ms old) and returns the peak.
func (t *rssTracker) finish() int64 {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	<-t.done
	return t.peak
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// fieldsync drives the binary under test.
type fieldsync struct {
	bin string
}

// run runs one fieldsync command to completion.
func (f *fieldsync) run(ctx context.Context, role, ns string, args ...string) (stdout []byte, u ProcUsage, err error) {
	cmd := command(ctx, ns, f.bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	if err = cmd.Start(); err != nil {
		return nil, u, err
	}
	tr := trackRSS(cmd.Process.Pid)
	err = cmd.Wait()
	u = usage(role, cmd.ProcessState, time.Since(start), tr)
	if err != nil {
		msg := strings.TrimSpace(e.String())
		if len(msg) > 400 {
			msg = msg[len(msg)-400:]
		}
		return o.Bytes(), u, fmt.Errorf("fieldsync %s: %w: %s", args[0], err, msg)
	}
	return o.Bytes(), u, nil
}

// server is a running 'fieldsync serve'.
type server struct {
	role   string
	cmd    *exec.Cmd
	start  time.Time
	Peer   string   `json:"peer"`
	Addrs  []string `json:"addrs"`
	Invite string   `json:"invite"`
	stderr *syncBuffer
	done   chan struct{}
	err    error
	rss    *rssTracker
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 {
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve starts 'fieldsync serve' on data, listening on ip (127.0.0.1, or
// the namespace's address) only, with an invite if invite (only the
// creator and coordinators may invite).
func (f *fieldsync) serve(ctx context.Context, role, ns, data, ip string, invite bool) (*server, error) {
	return f.serveOn(ctx, role, ns, data, "/ip4/"+ip+"/tcp/0", invite)
}

// serveOn is serve listening on the multiaddr listen (e.g. QUIC's
// /ip4/127.0.0.1/udp/0/quic-v1).
func (f *fieldsync) serveOn(ctx context.Context, role, ns, data, listen string, invite bool) (*server, error) {
	args := []string{"serve", "--data", data, "--listen", listen, "--no-mdns", "--json"}
	if invite {
		args = append(args, "--invite")
	}
	cmd := command(ctx, ns, f.bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{role: role, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.stderr
	s.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.rss = trackRSS(cmd.Process.Pid)
	go func() { s.err = cmd.Wait(); close(s.done) }()
	lines := make(chan string, 1)
	br := bufio.NewReader(out)
	go func() {
		l, _ := br.ReadString('\n')
		lines <- l
		_, _ = io.Copy(io.Discard, br)
	}()
	select {
	case l := <-lines:
		if err := json.Unmarshal([]byte(l), s); err != nil || len(s.Addrs) == 0 {
			s.stop()
			return nil, fmt.Errorf("serve printed %q: %v: %s", l, err, s.stderr.String())
		}
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("serve printed nothing in 60 s: %s", s.stderr.String())
	}
	return s, nil
}

// HostPort is the server's TCP address.
func (s *server) HostPort() string {
	a := strings.Split(s.Addrs[0], "/") // /ip4/H/tcp/P/p2p/ID
	return a[2] + ":" + a[4]
}

// stop interrupts the server (as Ctrl-C would) and returns its usage.
func (s *server) stop() ProcUsage {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	return usage(s.role, s.cmd.ProcessState, time.Since(s.start), s.rss)
}

// snapshot is the part of 'fieldsync sync --json' output the bench reads.
type snapshot struct {
	Complete  bool  `json:"complete"`
	Records   int   `json:"records_applied"`
	Received  int64 `json:"bytes_received"`
	Sent      int64 `json:"bytes_sent"`
	Refetched int   `json:"leaves_refetched"`
	Classes   map[string]struct {
		FilesDone   int   `json:"files_done"`
		FilesWanted int   `json:"files_wanted"`
		BytesDone   int64 `json:"bytes_done"`
		BytesWanted int64 `json:"bytes_wanted"`
	} `json:"classes"`
	Peers []struct {
		ID       string `json:"id"`
		Received int64  `json:"bytes_received"`
	} `json:"peers"`
	t time.Duration // since the run's first start, when the bench read it
}

// syncOpts is one 'fieldsync sync' attempt.
type syncOpts struct {
	ns      string
	data    string
	listen  string // IP to listen on
	quic    bool   // listen on QUIC (UDP) instead of TCP
	peers   []string
	timeout time.Duration
	origin  time.Time     // the run's first start, for snapshot times
	kill    time.Duration // SIGKILL after this long (0: never)
	snap    func(snapshot)
}

// syncResult is one attempt's outcome.
type syncResult struct {
	exit   int
	killed bool
	final  *snapshot
	usage  ProcUsage
	stderr string
}

func (f *fieldsync) sync(ctx context.Context, o syncOpts) syncResult {
	listen := "/ip4/" + o.listen + "/tcp/0"
	if o.quic {
		listen = "/ip4/" + o.listen + "/udp/0/quic-v1"
	}
	args := []string{"sync", "--data", o.data, "--no-mdns", "--listen", listen, "--json"}
	for _, p := range o.peers {
		args = append(args, "--peer", p)
	}
	if o.timeout > 0 {
		args = append(args, "--timeout", o.timeout.String())
	}
	cmd := command(ctx, o.ns, f.bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return syncResult{exit: -1, stderr: err.Error()}
	}
	var e syncBuffer
	cmd.Stderr = &e
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return syncResult{exit: -1, stderr: err.Error()}
	}
	tr := trackRSS(cmd.Process.Pid)
	var res syncResult
	var killed atomic.Bool
	var killTimer *time.Timer
	if o.kill > 0 {
		killTimer = time.AfterFunc(o.kill, func() {
			killed.Store(true)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var s snapshot
		if json.Unmarshal(sc.Bytes(), &s) != nil {
			continue
		}
		s.t = time.Since(o.origin)
		res.final = &s
		if o.snap != nil {
			o.snap(s)
		}
	}
	err = cmd.Wait()
	if killTimer != nil {
		killTimer.Stop()
	}
	res.exit = exitCode(err)
	res.killed = killed.Load()
	res.usage = usage("receiver: fieldsync sync", cmd.ProcessState, time.Since(start), tr)
	res.stderr = e.String()
	return res
}

// blobInfo is one blob of a project, from 'fieldsync ls --json'.
type blobInfo struct {
	CID   string
	Size  int64
	Class string
}

// blobDir is the directory of a data directory's complete blobs, named
// by CID in a two-level fan-out (docs/storage.md): DATA/blobs/<a>/<b>/<cid>,
// or DATA/blobs/blobs/<a>/<b>/<cid> in fieldsync before 81c10a8.
func blobDir(data string) string {
	if fi, err := os.Stat(filepath.Join(data, "blobs", "blobs")); err == nil && fi.IsDir() {
		return filepath.Join(data, "blobs", "blobs")
	}
	return filepath.Join(data, "blobs")
}

// blobPath is where a complete blob lives in a data directory: the
// fan-out directories are the CID's next-to-last character and the one
// before it.
func blobPath(data, c string) string {
	n := len(c)
	return filepath.Join(blobDir(data), c[n-2:n-1], c[n-3:n-2], c)
}

// listBlobs lists the project's blobs from 'fieldsync ls --json'.
func (f *fieldsync) listBlobs(ctx context.Context, data string) ([]blobInfo, int, error) {
	out, _, err := f.run(ctx, "ls", "", "ls", "--data", data, "--json")
	if err != nil {
		return nil, 0, err
	}
	type ref struct {
		CID  string `json:"cid"`
		Size int64  `json:"size"`
	}
	seen := map[string]bool{}
	var blobs []blobInfo
	add := func(r *ref, class string) {
		if r == nil || r.CID == "" || seen[r.CID] {
			return
		}
		seen[r.CID] = true
		blobs = append(blobs, blobInfo{r.CID, r.Size, class})
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var obs struct {
			Attachments []struct {
				Kind      string `json:"kind"`
				Original  *ref   `json:"original"`
				Preview   *ref   `json:"preview"`
				Thumbnail *ref   `json:"thumbnail"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(sc.Bytes(), &obs); err != nil {
			return nil, 0, fmt.Errorf("ls --json: %w", err)
		}
		n++
		for _, a := range obs.Attachments {
			add(a.Thumbnail, "thumbnails")
			add(a.Preview, "previews")
			if a.Kind == "photo" {
				add(a.Original, "originals")
			} else {
				add(a.Original, "attachments")
			}
		}
	}
	return blobs, n, sc.Err()
}

// sender is a raw reference's sending process (raw-send, raw-p2p-send),
// started, with the address it printed on its first line.
type sender struct {
	cmd   *exec.Cmd
	addr  string
	rss   *rssTracker
	start time.Time
}

// startSender starts 'fieldbench ARGS...' in network namespace ns ("":
// this one) and reads the address it prints first. The caller waits for
// the process.
func (b *bench) startSender(ctx context.Context, ns string, args ...string) (*sender, error) {
	cmd := command(ctx, ns, b.self, args...)
	so, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var se syncBuffer
	cmd.Stderr = &se
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	rss := trackRSS(cmd.Process.Pid)
	line, err := bufio.NewReader(so).ReadString('\n')
	if err != nil {
		cmd.Wait()
		return nil, fmt.Errorf("%s: %s", args[0], se.String())
	}
	return &sender{cmd: cmd, addr: strings.TrimSpace(line), rss: rss, start: start}, nil
}

// waitSettled returns once process pid has used no CPU for 200 ms, or
// after max.
func waitSettled(pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	last := int64(-1)
	for time.Now().Before(deadline) {
		c := cpuTicks(pid)
		if c >= 0 && c == last {
			return
		}
		last = c
		time.Sleep(200 * time.Millisecond)
	}
}

// cpuTicks is the user and system time of process pid, in clock ticks
// (/proc/PID/stat), or -1.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return -1
	}
	f := strings.Fields(s[i+2:]) // from field 3 (state): utime is 14, stime 15
	if len(f) < 13 {
		return -1
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return u + st
}
