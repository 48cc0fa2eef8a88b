package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/view"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// log is what serve printed on stderr so far.
func (s *server) log() string { return s.stderr.String() }

// TestEditRm: edit changes what is given and keeps the rest, as a new
// version; rm deletes and edit restores; mistakes get clear words.
func TestEditRm(t *testing.T) {
	A := filepath.Join(t.TempDir(), "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p", "--name", "laptop"), 0, "init")
	r := fsRun(t, "add", "--data", A, "--json", "--tag", "heron", "--note", "first", filepath.Join(photoDir, "gps.jpg"))
	expectCode(t, r, 0, "add")
	var added map[string]string
	json.Unmarshal([]byte(r.stdout), &added)
	id := added["id"]

	expectCode(t, fsRun(t, "edit", "--data", A, "--note", "two nests", id), 0, "edit note")
	expectCode(t, fsRun(t, "edit", "--data", A, "--tag", "heron", "--tag", "nest", "--lat", "1.5", "--lon", "2.5", id), 0, "edit tags and position")
	expectCode(t, fsRun(t, "edit", "--data", A, "--add", filepath.Join(photoDir, "orient-6.jpg"), id), 0, "edit add")
	r = fsRun(t, "show", "--data", A, "--json", id)
	var shown struct {
		Observation view.Observation `json:"observation"`
		History     []view.Version   `json:"history"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &shown); err != nil {
		t.Fatal(err, r.stdout)
	}
	o := shown.Observation
	if o.Notes != "two nests" || strings.Join(o.Tags, ",") != "heron,nest" || o.Position == nil || o.Position.Lat != 1.5 ||
		len(o.Attachments) != 2 || len(shown.History) != 4 {
		t.Fatalf("after edits: %s", r.stdout)
	}
	expectCode(t, fsRun(t, "edit", "--data", A, "--no-position", id), 0, "edit no-position")
	expectCode(t, fsRun(t, "rm", "--data", A, id), 0, "rm")
	if r := fsRun(t, "ls", "--data", A); strings.Contains(r.stdout, id) {
		t.Fatalf("ls after rm: %s", r.stdout)
	}
	if r := fsRun(t, "show", "--data", A, id); !strings.Contains(r.stdout, "DELETED") {
		t.Fatalf("show after rm: %s", r.stdout)
	}
	expectCode(t, fsRun(t, "edit", "--data", A, "--note", "back", id), 0, "restore")
	if r := fsRun(t, "ls", "--data", A); !strings.Contains(r.stdout, id) {
		t.Fatalf("ls after restore: %s", r.stdout)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"edit", "--data", A, "--note", "x", "nosuch"}, 1, `no observation "nosuch" on this device (list them with 'fieldsync ls')`},
		{[]string{"rm", "--data", A, "nosuch"}, 1, `no observation "nosuch"`},
		{[]string{"edit", "--data", A, id}, 2, "nothing to change"},
		{[]string{"edit", "--data", A, "--lat", "1", id}, 2, "both --lat and --lon"},
		{[]string{"edit", "--data", A, "--no-tags", "--tag", "x", id}, 2, "--no-tags and --tag"},
		{[]string{"edit", "--data", A, "--add", "/nonexistent.jpg", id}, 1, "no such file"},
		{[]string{"rm", "--data", A}, 2, "want one or more observation IDs"},
	} {
		r := fsRun(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.msg)
		}
	}
}

// TestTimeGuessed: a photo without an EXIF time is marked so in the
// record, ls, ls --json and show; one with an EXIF time is not.
func TestTimeGuessed(t *testing.T) {
	A := filepath.Join(t.TempDir(), "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	r := fsRun(t, "add", "--data", A, "--json", filepath.Join(photoDir, "orient-1.jpg"))
	expectCode(t, r, 0, "add")
	var added map[string]string
	json.Unmarshal([]byte(r.stdout), &added)
	expectCode(t, fsRun(t, "add", "--data", A, filepath.Join(photoDir, "gps.jpg")), 0, "add gps")
	r = fsRun(t, "ls", "--data", A)
	if !strings.Contains(r.stdout, "~ time guessed from the file's date") || strings.Count(r.stdout, "~") != 2 {
		t.Fatalf("ls: %s", r.stdout)
	}
	r = fsRun(t, "ls", "--data", A, "--json")
	if strings.Count(r.stdout, `"time_guessed":true`) != 1 {
		t.Fatalf("ls --json: %s", r.stdout)
	}
	if r := fsRun(t, "show", "--data", A, added["id"]); !strings.Contains(r.stdout, "time guessed from the file's date") {
		t.Fatalf("show: %s", r.stdout)
	}
}

// TestTeam: names, members, roles and blocks from the command line, with
// what serve logs about each; a stranger's sync is refused at once.
func TestTeam(t *testing.T) {
	root := t.TempDir()
	A, B, C, D := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "C"), filepath.Join(root, "D")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "river", "--name", "base camp"), 0, "init A")
	expectCode(t, fsRun(t, "add", "--data", A, filepath.Join(photoDir, "gps.jpg")), 0, "add")
	s := startServe(t, A, "--invite")
	code := s.info["invite"].(string)

	r := fsRun(t, "join", "--data", B, "--name", "Maria's phone", code)
	expectCode(t, r, 0, "join B")
	waitFor(t, 10*time.Second, "serve to log the join", func() bool {
		return strings.Contains(s.log(), "joined with an invite, as member")
	})
	// The same code again: refused with its reason, on both sides.
	r = fsRun(t, "join", "--data", C, code)
	if r.code != 1 || !strings.Contains(r.stderr, "already been used") || !strings.Contains(r.stderr, "ask the project's coordinator for a new code") {
		t.Fatalf("reused invite: %d %s", r.code, r.stderr)
	}
	waitFor(t, 10*time.Second, "serve to log the refusal", func() bool {
		return strings.Contains(s.log(), "invite refused to") && strings.Contains(s.log(), "already been used")
	})
	expectCode(t, fsRun(t, "sync", "--data", B, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "60s"), 0, "sync B")
	waitFor(t, 10*time.Second, "serve to name B", func() bool { return strings.Contains(s.log(), "Maria's phone") })

	// members, as A sees them: names, roles, last seen, the invite.
	r = fsRun(t, "members", "--data", A)
	expectCode(t, r, 0, "members")
	for _, want := range []string{"base camp (this device)", "Maria's phone", "creator", "member", " from base camp", "now"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("members lacks %q:\n%s", want, r.stdout)
		}
	}
	r = fsRun(t, "members", "--data", A, "--json")
	var maria view.Member
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m view.Member
		json.Unmarshal([]byte(line), &m)
		if m.Name == "Maria's phone" {
			maria = m
		}
	}
	if maria.Invite == "" || maria.LastSeen == nil || maria.Role != "member" {
		t.Fatalf("B as JSON: %+v", maria)
	}
	// B, a member, may not change roles; A may.
	r = fsRun(t, "role", "--data", B, "base camp", "member")
	if r.code != 1 || !strings.Contains(r.stderr, "only the creator and coordinators") {
		t.Fatalf("a member changing roles: %d %s", r.code, r.stderr)
	}
	expectCode(t, fsRun(t, "role", "--data", A, "maria's PHONE", "coordinator"), 0, "role")
	if r := fsRun(t, "role", "--data", A, "nobody", "member"); r.code != 1 || !strings.Contains(r.stderr, `no device "nobody"`) {
		t.Fatalf("role of nobody: %d %s", r.code, r.stderr)
	}
	// A block, written while serve runs, is logged by serve.
	r = fsRun(t, "block", "--data", A, maria.Peer)
	if r.code != 0 || !strings.Contains(r.stdout, "blocked Maria's phone") {
		t.Fatalf("block: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := fsRun(t, "members", "--data", A); !strings.Contains(r.stdout, "blocked") {
		t.Fatalf("members after block: %s", r.stdout)
	}

	// A device of another project that syncs with A is told at once.
	expectCode(t, fsRun(t, "init", "--data", D, "--project", "another"), 0, "init D")
	start := time.Now()
	r = fsRun(t, "sync", "--data", D, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--peer", s.addr(t))
	if r.code != exitNotMember || !strings.Contains(r.stderr, "this device is not a member of that project: ask a coordinator for an invite") {
		t.Fatalf("stranger's sync: %d %s", r.code, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stranger told after %s", d)
	}
	waitFor(t, 10*time.Second, "serve to log the stranger", func() bool { return strings.Contains(s.log(), "not a member of this project") })
}

// TestGlobalData: --data before the command works, like git -C.
func TestGlobalData(t *testing.T) {
	A := filepath.Join(t.TempDir(), "A")
	expectCode(t, fsRun(t, "--data", A, "init", "--project", "p"), 0, "init")
	expectCode(t, fsRun(t, "--data", A, "add", filepath.Join(photoDir, "gps.jpg")), 0, "add")
	if r := fsRun(t, "--data="+A, "ls"); r.code != 0 || !strings.Contains(r.stdout, "gps.jpg") {
		t.Fatalf("ls: %+v", r)
	}
	if r := fsRun(t, "--data", A); r.code != 2 || !strings.Contains(r.stderr, "no command") {
		t.Fatalf("--data alone: %+v", r)
	}
	if r := fsRun(t, "--verbose", "ls"); r.code != 2 || !strings.Contains(r.stderr, "only --data DIR may come there") {
		t.Fatalf("other option first: %+v", r)
	}
}

// TestReadOnlyNoLock: a read-only command holding the data directory open
// (ls, show, status, members...) never makes a sync or serve starting
// meanwhile fail on the directory's lock.
func TestReadOnlyNoLock(t *testing.T) {
	A := filepath.Join(t.TempDir(), "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	ctx := context.Background()
	n, err := openNode(ctx, A, true, true, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	cmd := exec.Command(binary(t), "serve", "--data", A, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--json")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	waitFor(t, 20*time.Second, "serve to start beside a read-only command", func() bool {
		return strings.Contains(out.String(), `"peer"`) || strings.Contains(errb.String(), "in use")
	})
	if strings.Contains(errb.String(), "in use") {
		t.Fatalf("serve refused: %s", errb.String())
	}
	// And the read-only node still reads.
	if _, err := n.Status(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestBlockMidTransfer: a block written by 'fieldsync block' (a second
// process) while serve is sending a large file to that device cuts the
// session within a second, and the device gets nothing more.
func TestBlockMidTransfer(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "river", "--name", "base camp"), 0, "init A")
	big := filepath.Join(root, "recording.wav")
	if err := os.WriteFile(big, randomBytes(8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	expectCode(t, fsRun(t, "add", "--data", A, big), 0, "add")
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "lost phone", s.info["invite"].(string)), 0, "join")
	px := slowProxy(t, s, 1024) // KB/s: 8 MiB takes 8 s
	cmd := exec.Command(binary(t), "sync", "--data", B, "--peer", px, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json", "--timeout", "20s")
	out, _ := cmd.StdoutPipe()
	var syncErr bytes.Buffer
	cmd.Stderr = &syncErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan view.Progress, 100)
	go func() {
		dec := json.NewDecoder(out)
		for {
			var p view.Progress
			if dec.Decode(&p) != nil {
				close(lines)
				return
			}
			lines <- p
		}
	}()
	var last view.Progress
	for p := range lines {
		last = p
		if p.Received > 1<<20 {
			break
		}
	}
	if last.Received <= 1<<20 {
		t.Fatalf("the transfer never got going: %+v\n%s", last, syncErr.String())
	}
	before := len(s.log()) // earlier lines (the join's own connection) do not count
	r := fsRun(t, "block", "--data", A, "lost phone")
	expectCode(t, r, 0, "block")
	blocked := time.Now()
	waitFor(t, 5*time.Second, "serve to cut the blocked device", func() bool {
		l := s.log()[before:]
		return strings.Contains(l, "lost phone") && strings.Contains(l, "disconnected")
	})
	if d := time.Since(blocked); d > time.Second {
		t.Errorf("cut %s after the block", d)
	}
	if !strings.Contains(s.log(), "lost phone (") || !strings.Contains(s.log(), "is blocked") {
		t.Errorf("serve's log:\n%s", s.log())
	}
	// Nothing more arrives: what B has stops growing.
	at := last.Received
	stop := time.After(10 * time.Second) // it should end by itself well before
drain:
	for {
		select {
		case p, ok := <-lines:
			if !ok {
				break drain
			}
			last = p
		case <-stop:
			cmd.Process.Signal(os.Interrupt)
			stop = nil
		}
	}
	err := cmd.Wait()
	t.Logf("the blocked sync ended %s after the block", time.Since(blocked).Round(time.Millisecond))
	if last.Complete || last.Received > at+(1<<20) {
		t.Fatalf("the blocked device went on receiving: %d bytes, then %d (complete %v)", at, last.Received, last.Complete)
	}
	// The blocked side is told, in words, with its own exit code.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitBlocked ||
		!strings.Contains(syncErr.String(), "this device was blocked from the project by base camp on ") {
		t.Fatalf("the blocked device's sync: %v\n%s", err, syncErr.String())
	}
	if r := fsRun(t, "status", "--data", B); !strings.Contains(r.stdout, "blocked  this device was blocked from the project by base camp") {
		t.Fatalf("status of the blocked device: %s", r.stdout)
	}
	waitFor(t, 5*time.Second, "serve to log the refusal", func() bool { return strings.Contains(s.log(), "it is blocked (told so") })
}

// slowProxy puts a toxiproxy with a bandwidth limit (KB/s) in front of
// serve s and returns the multiaddr to dial through it.
func slowProxy(t *testing.T, s *server, kbps int) string {
	t.Helper()
	upstream := strings.TrimPrefix(strings.Split(s.addr(t), "/p2p/")[0], "/ip4/")
	upstream = strings.Replace(upstream, "/tcp/", ":", 1)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	px := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Stop)
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(fmt.Sprintf(`{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":%d}}`, kbps))); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(px.Listen, ":")
	return fmt.Sprintf("/ip4/%s/tcp/%s/p2p/%s", host, port, s.info["peer"])
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestEmptyFile: add refuses an empty file with the words import gives
// when it skips one, and stores nothing.
func TestEmptyFile(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	empty := filepath.Join(root, "dir", "empty.jpg")
	os.MkdirAll(filepath.Dir(empty), 0o755)
	os.WriteFile(empty, nil, 0o644)
	r := fsRun(t, "import", "--data", A, filepath.Dir(empty))
	if r.code != exitSkipped || !strings.Contains(r.stdout, "empty.jpg: empty file") {
		t.Fatalf("import: %+v", r)
	}
	r = fsRun(t, "add", "--data", A, empty)
	if r.code != 1 || !strings.Contains(r.stderr, "empty.jpg: empty file") {
		t.Fatalf("add: %+v", r)
	}
	if r := fsRun(t, "ls", "--data", A, "--json"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("something was stored: %s", r.stdout)
	}
}

// TestDemoScript: the README's first command says what it does from the
// first line, and the commands the demo prints to look around work as
// printed, from any directory.
func TestDemoScript(t *testing.T) {
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("builds and runs the demo (about 20 s); CI runs it")
	}
	dir := t.TempDir()
	cmd := exec.Command("../../demo.sh", "--photos", "2", "--megapixels", "0.5", "--dir", dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if !strings.HasPrefix(lines[0], "== building fieldsync") {
		t.Fatalf("demo.sh's first line: %q", lines[0])
	}
	var looks []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); strings.Contains(l, "--data "+filepath.Join(dir, "phone")) {
			looks = append(looks, strings.SplitN(l, "    (", 2)[0])
		}
	}
	if len(looks) != 4 {
		t.Fatalf("look-around commands: %q\n%s", looks, out)
	}
	for _, l := range looks {
		sh := exec.Command("sh", "-c", l)
		sh.Dir = os.TempDir() // not the repository: printed commands work from anywhere
		if strings.Contains(l, " ui ") {
			// The web app runs until stopped: its first line is its URL.
			stdout, _ := sh.StdoutPipe()
			sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := sh.Start(); err != nil {
				t.Fatal(err)
			}
			first, _ := bufio.NewReader(stdout).ReadString('\n')
			syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
			sh.Wait()
			if !strings.HasPrefix(first, "http://127.0.0.1:") {
				t.Errorf("%s printed %q", l, first)
			}
			continue
		}
		if o, err := sh.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", l, err, o)
		}
	}
}

// TestInviteRevoked: a revoked invite is refused with its reason, and
// 'invite --list' shows each invite's state.
func TestInviteRevoked(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "p"), 0, "init")
	s := startServe(t, A)
	r := fsRun(t, "invite", "--data", A, "--json")
	expectCode(t, r, 0, "invite")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	r = fsRun(t, "invite", "--data", A, "--list", "--json")
	var listed map[string]any
	json.Unmarshal([]byte(strings.Split(r.stdout, "\n")[0]), &listed)
	if listed["state"] != "open" {
		t.Fatalf("list: %s", r.stdout)
	}
	expectCode(t, fsRun(t, "invite", "--data", A, "--revoke", listed["id"].(string)), 0, "revoke")
	r = fsRun(t, "join", "--data", B, inv["code"].(string))
	if r.code != 1 || !strings.Contains(r.stderr, "invite was revoked: ask the project's coordinator for a new code") {
		t.Fatalf("join with a revoked code: %+v", r)
	}
	if r := fsRun(t, "invite", "--data", A, "--list"); !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("list after revoke: %s", r.stdout)
	}
	if r := fsRun(t, "invite", "--data", A, "--revoke", "ffff0000"); r.code != 1 || !strings.Contains(r.stderr, "unknown") {
		t.Fatalf("revoke of nothing: %+v", r)
	}
	_ = s
}

// TestServePeers: a running serve's peers, and how each is reached, are
// logged by serve and listed by status from another process.
func TestServePeers(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "river", "--name", "base camp"), 0, "init A")
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "Maria's phone", s.info["invite"].(string)), 0, "join B")
	sb := startServe(t, B, "--peer", s.addr(t))
	waitFor(t, 15*time.Second, "serve to log B on the LAN", func() bool {
		return strings.Contains(s.log(), "connected on the local network")
	})
	var r result
	waitFor(t, 10*time.Second, "status to list B", func() bool {
		r = fsRun(t, "status", "--data", A)
		return strings.Contains(r.stdout, "connected 1 peer(s) to the running serve") &&
			strings.Contains(r.stdout, "Maria's phone") && strings.Contains(r.stdout, "on the local network")
	})
	_ = sb
}

// TestSafeOnArchiveWords: a device syncing with the project's always-on
// device shows how many of its files are safe there, completes only once
// all are, and 'status' says so afterwards without a network.
func TestSafeOnArchiveWords(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "river", "--name", "base camp"), 0, "init A")
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "archive", s.info["invite"].(string)), 0, "join B")
	s.cmd.Process.Signal(syscall.SIGINT)
	s.cmd.Wait()

	// B is the always-on device (in this process; the command line takes
	// no loopback address for --public).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	ctx := t.Context()
	b, err := node.Open(ctx, B, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Start(ctx, node.NetOptions{Listen: []string{addr}, Public: []ma.Multiaddr{ma.StringCast(addr)}, Peers: []peer.AddrInfo{}}); err != nil {
		t.Fatal(err)
	}

	expectCode(t, fsRun(t, "add", "--data", A, "../../testdata/photos/gps.jpg"), 0, "add")
	r := fsRun(t, "sync", "--data", A, "--no-mdns", "--timeout", "60s", "--peer", addr+"/p2p/"+b.ID().String())
	expectCode(t, r, 0, "sync with the always-on device")
	if !strings.Contains(r.stdout, "3/3    files safe on always-on") {
		t.Fatalf("sync does not say the files are safe on the always-on device:\n%s", r.stdout)
	}
	r = fsRun(t, "status", "--data", A)
	if !strings.Contains(r.stdout, "archive  archive holds all 3 files this device holds: safe there") {
		t.Fatalf("status:\n%s", r.stdout)
	}
}
