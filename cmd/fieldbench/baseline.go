//go:build linux

package main

// The baselines: an rsync daemon (Debian's rsync, as people run it) and a
// raw TCP copy, the physical limit of the link: one connection, the same
// bytes back to back, nothing else.

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ensureRsync installs Debian's rsync if it is missing and returns its
// version line.
func ensureRsync(logf func(string, ...any)) (string, error) {
	if _, err := exec.LookPath("rsync"); err != nil {
		logf("rsync missing: apt-get install -y rsync")
		cmd := exec.Command("apt-get", "install", "-y", "rsync")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get install -y rsync: %v\n%s", err, out)
		}
	}
	out, err := exec.Command("rsync", "--version").Output()
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(out), "\n")
	if f := strings.Fields(line); len(f) >= 3 {
		return "rsync " + f[2], nil
	}
	return strings.TrimSpace(line), nil
}

// rsyncd is a running 'rsync --daemon --no-detach' serving dir as module
// "blobs", read only.
type rsyncd struct {
	cmd   *exec.Cmd
	start time.Time
	done  chan struct{}
	rss   *rssTracker
	Host  string
	Port  int
}

func startRsyncd(ctx context.Context, ns, ip string, port int, dir, work string) (*rsyncd, error) {
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	log := filepath.Join(work, "rsyncd.log")
	conf := filepath.Join(work, "rsyncd.conf")
	c := fmt.Sprintf(`use chroot = no
uid = root
gid = root
log file = %s
max connections = 4

[blobs]
	path = %s
	read only = yes
`, log, dir)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return nil, err
	}
	os.Remove(log)
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	d := &rsyncd{Host: ip, Port: port, done: make(chan struct{})}
	d.cmd = command(ctx, ns, "rsync", "--daemon", "--no-detach", "--config="+conf, "--address="+ip, fmt.Sprintf("--port=%d", port))
	d.start = time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	d.rss = trackRSS(d.cmd.Process.Pid)
	go func() { d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(log)
		if strings.Contains(string(b), "listening on port") {
			return d, nil
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("rsync daemon exited: %s", b)
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.stop()
	return nil, fmt.Errorf("rsync daemon did not start in 15 s")
}

func (d *rsyncd) Addr() string { return fmt.Sprintf("%s:%d", d.Host, d.Port) }

func (d *rsyncd) stop() ProcUsage {
	_ = d.cmd.Process.Signal(os.Interrupt)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	return usage("sender: rsync --daemon", d.cmd.ProcessState, time.Since(d.start), d.rss)
}

// rsyncPull runs the client once: rsync -a --partial from addr's module
// into dest. kill > 0 SIGKILLs it (its whole process group) after kill.
func rsyncPull(ctx context.Context, ns, addr, dest string, kill time.Duration, extra ...string) (exit int, wasKilled bool, u ProcUsage, stderr string) {
	args := append([]string{"-a", "--partial", "--timeout=60"}, extra...)
	cmd := command(ctx, ns, "rsync", append(args, fmt.Sprintf("rsync://%s/blobs/", addr), dest+"/")...)
	var e syncBuffer
	cmd.Stderr = &e
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return -1, false, u, err.Error()
	}
	tr := trackRSS(cmd.Process.Pid)
	var killed atomic.Bool
	var t *time.Timer
	if kill > 0 {
		t = time.AfterFunc(kill, func() {
			killed.Store(true)
			_ = killGroup(cmd)
		})
	}
	err := cmd.Wait()
	if t != nil {
		t.Stop()
	}
	return exitCode(err), killed.Load(), usage("receiver: rsync", cmd.ProcessState, time.Since(start), tr), e.String()
}

func killGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

type fileInfo struct {
	path string
	size int64
}

// listFiles lists the regular files under dir with their sizes, sorted
// (WalkDir walks in lexical order).
func listFiles(dir string) ([]fileInfo, error) {
	var out []fileInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			out = append(out, fileInfo{p, info.Size()})
		}
		return nil
	})
	return out, err
}

// filesUnder lists the regular files under dir, sorted, and their total
// size.
func filesUnder(dir string) ([]string, int64, error) {
	fis, err := listFiles(dir)
	files := make([]string, len(fis))
	var total int64
	for i, f := range fis {
		files[i] = f.path
		total += f.size
	}
	return files, total, err
}

// rawSend accepts one connection on ln, writes every file under dir to it
// back to back and closes it.
func rawSend(ln net.Listener, dir string) error {
	files, _, err := filesUnder(dir)
	if err != nil {
		return err
	}
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 256<<10)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return w.Flush()
}

// rawRecv connects to addr and reads to EOF, discarding, for at most
// timeout (or until ctx ends).
func rawRecv(ctx context.Context, addr string, timeout time.Duration) (int64, time.Duration, error) {
	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(start.Add(timeout))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	n, err := io.Copy(io.Discard, c)
	return n, time.Since(start), err
}

// rawResult is what 'fieldbench raw-recv' prints.
type rawResult struct {
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// printResult prints a hidden subcommand's result as one line of JSON and
// gives its exit code: 1 if err (already in the result's error).
func printResult(r any, err error) int {
	_ = json.NewEncoder(os.Stdout).Encode(r)
	if err != nil {
		return 1
	}
	return 0
}

// rawMain is the hidden subcommands 'raw-send --listen ADDR DIR' (prints
// the address it listens on, serves one connection) and 'raw-recv --addr
// ADDR' (prints a rawResult), run inside network namespaces.
func rawMain(args []string) int {
	fl := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fl.String("listen", "127.0.0.1:0", "")
	addr := fl.String("addr", "", "")
	if fl.Parse(args[1:]) != nil {
		return 2
	}
	switch args[0] {
	case "raw-send":
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(ln.Addr().String())
		if err := rawSend(ln, fl.Arg(0)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "raw-recv":
		n, d, err := rawRecv(context.Background(), *addr, time.Hour)
		r := rawResult{Bytes: n, Seconds: d.Seconds()}
		if err != nil {
			r.Error = err.Error()
		}
		return printResult(r, err)
	}
	return 2
}
