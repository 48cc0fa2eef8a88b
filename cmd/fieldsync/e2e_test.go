package main

// End-to-end tests: the built fieldsync binary, run as separate processes
// on separate data directories, talking over 127.0.0.1 only.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/fieldsync/fieldsync/view"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds the fieldsync command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fieldsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fieldsync")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

// fsRun runs the binary to completion.
func fsRun(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Env = append(os.Environ(), "FIELDSYNC_DATA=/nonexistent-default-must-not-be-used")
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

func expectCode(t *testing.T, r result, want int, what string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, want, r.stdout, r.stderr)
	}
}

// server is a running 'fieldsync serve'.
type server struct {
	cmd    *exec.Cmd
	info   map[string]any
	stderr *bytes.Buffer
}

func startServe(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--json"}, extra...)
	cmd := exec.Command(binary(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed nothing: %v\n%s", err, s.stderr)
	}
	if err := json.Unmarshal([]byte(line), &s.info); err != nil {
		t.Fatalf("serve output %q: %v", line, err)
	}
	go io.Copy(io.Discard, out)
	return s
}

func (s *server) addr(t *testing.T) string {
	addrs, _ := s.info["addrs"].([]any)
	if len(addrs) == 0 {
		t.Fatal("serve listed no address")
	}
	return addrs[0].(string)
}

func TestEndToEnd(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")

	// A creates a project and imports the fixtures plus a large attachment.
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "e2e"), 0, "init A")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	for _, name := range []string{"gps.jpg", "orient-6.jpg", "progressive.jpg", "alpha8.png", "lossy.webp", "other.heic", "bad-empty.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	big := make([]byte, 6<<20+12345)
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "field-recording.wav"), big, 0o644)
	r := fsRun(t, "import", "--data", A, "--tag", "e2e", src)
	expectCode(t, r, exitSkipped, "import A (one empty file)")
	if !strings.Contains(r.stdout, "bad-empty.jpg: empty file") || !strings.Contains(r.stdout, "imported 7 observations") {
		t.Fatalf("import summary: %s", r.stdout)
	}

	// A serves with an invite; B joins.
	s := startServe(t, A, "--invite")
	code, _ := s.info["invite"].(string)
	if code == "" {
		t.Fatalf("no invite in %v", s.info)
	}
	// A mistyped code is refused clearly, and does not use up the invite.
	bad := []byte(code)
	i := len(bad) / 2
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	r = fsRun(t, "join", "--data", B, string(bad))
	expectCode(t, r, 1, "join with a mistyped code")
	if !strings.Contains(r.stderr, "typo") {
		t.Fatalf("mistyped code message: %s", r.stderr)
	}
	expectCode(t, fsRun(t, "join", "--data", B, code), 0, "join B")
	// The code was one-time.
	r = fsRun(t, "join", "--data", filepath.Join(root, "C"), code)
	expectCode(t, r, 1, "join with a used code")
	if !strings.Contains(r.stderr, "already been used") {
		t.Fatalf("used code message: %s", r.stderr)
	}
	// An expired code is refused.
	r = fsRun(t, "invite", "--data", A, "--ttl", "1ms", "--json")
	expectCode(t, r, 0, "invite --ttl 1ms")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	time.Sleep(10 * time.Millisecond)
	r = fsRun(t, "join", "--data", filepath.Join(root, "D"), inv["code"].(string))
	expectCode(t, r, 1, "join with an expired code")
	if !strings.Contains(r.stderr, "expired") {
		t.Fatalf("expired code message: %s", r.stderr)
	}

	// B syncs through a slow proxy and is interrupted (SIGINT) part way.
	upstream := strings.TrimPrefix(strings.Split(s.addr(t), "/p2p/")[0], "/ip4/")
	upstream = strings.Replace(upstream, "/tcp/", ":", 1)
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	px := toxiproxy.NewProxy(srv, "e2e", "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Stop()
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(`{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":1024}}`)); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(px.Listen, ":")
	proxied := fmt.Sprintf("/ip4/%s/tcp/%s/p2p/%s", host, port, s.info["peer"])
	cmd := exec.Command(binary(t), "sync", "--data", B, "--peer", proxied, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json")
	out, _ := cmd.StdoutPipe()
	var syncErr bytes.Buffer
	cmd.Stderr = &syncErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	interrupted := false
	for sc.Scan() {
		var snap view.Progress
		if json.Unmarshal(sc.Bytes(), &snap) == nil && snap.Received > 2<<20 && !interrupted {
			cmd.Process.Signal(syscall.SIGINT)
			interrupted = true
		}
	}
	err := cmd.Wait()
	if !interrupted {
		t.Fatalf("sync ended before it could be interrupted: %v\n%s", err, syncErr.String())
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitIncomplete {
		t.Fatalf("interrupted sync: %v, want exit %d\n%s", err, exitIncomplete, syncErr.String())
	}
	if !strings.Contains(syncErr.String(), "run 'fieldsync sync' again to resume") {
		t.Fatalf("interrupted sync message: %s", syncErr.String())
	}
	r = fsRun(t, "status", "--data", B)
	expectCode(t, r, exitIncomplete, "status of B after the interrupt")

	// The next run resumes (directly this time) and completes.
	r = fsRun(t, "sync", "--data", B, "--peer", s.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json", "--timeout", "2m")
	expectCode(t, r, 0, "resumed sync")
	if !strings.Contains(r.stderr, "resuming 1 partial blob(s): ") || !strings.Contains(r.stderr, " already here") {
		t.Errorf("the resumed sync did not say what it resumes: %s", r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var final view.Progress
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &final); err != nil {
		t.Fatal(err)
	}
	if !final.Complete || final.Refetch != 0 {
		t.Fatalf("final snapshot %+v", final)
	}
	if final.Received >= int64(len(big)) {
		t.Errorf("resumed sync received %d bytes: the %d bytes before the interrupt were fetched again", final.Received, len(big))
	}
	expectCode(t, fsRun(t, "status", "--data", B), 0, "status of B after sync")
	r = fsRun(t, "verify", "--data", B)
	expectCode(t, r, 0, "verify B")
	// Fixity: a blob damaged on disk is found, quarantined, shown in
	// status, and fetched again from the peer at the next sync.
	var bigCID string
	for _, line := range strings.Split(strings.TrimSpace(fsRun(t, "ls", "--data", B, "--json").stdout), "\n") {
		if strings.Contains(line, "field-recording.wav") {
			var o map[string]any
			json.Unmarshal([]byte(line), &o)
			bigCID = o["attachments"].([]any)[0].(map[string]any)["original"].(map[string]any)["cid"].(string)
		}
	}
	overwrite(t, blobFile(t, B, bigCID), 3<<20+5, 0xff, 0x00, 0xee)
	r = fsRun(t, "verify", "--data", B)
	expectCode(t, r, exitCorrupt, "verify after damage")
	if !strings.Contains(r.stdout, "corrupt") || !strings.Contains(r.stdout, bigCID) {
		t.Fatalf("verify output: %s", r.stdout)
	}
	r = fsRun(t, "status", "--data", B)
	expectCode(t, r, exitIncomplete, "status after damage")
	if !strings.Contains(r.stdout, "failed verification") || !strings.Contains(r.stdout, bigCID) {
		t.Fatalf("status does not show the quarantined blob: %s", r.stdout)
	}
	expectCode(t, fsRun(t, "verify", "--data", B, "--older-than", "1h"), 0, "verify --older-than (all checked just now)")
	r = fsRun(t, "sync", "--data", B, "--peer", s.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m")
	expectCode(t, r, 0, "sync after quarantine")
	if n := strings.Count(r.stderr, "everything wanted is present and verified"); n != 1 {
		t.Errorf("sync said it was complete %d times, want once:\n%s", n, r.stderr)
	}
	expectCode(t, fsRun(t, "verify", "--data", B), 0, "verify after the blob came back")
	la, lb := fsRun(t, "ls", "--data", A, "--json"), fsRun(t, "ls", "--data", B, "--json")
	if strings.Count(la.stdout, "\n") != 7 || strings.Count(lb.stdout, "\n") != 7 {
		t.Fatalf("ls: A has %d, B has %d observations", strings.Count(la.stdout, "\n"), strings.Count(lb.stdout, "\n"))
	}
	// cat gives back the original bytes.
	var obs map[string]any
	for _, line := range strings.Split(strings.TrimSpace(lb.stdout), "\n") {
		json.Unmarshal([]byte(line), &obs)
		atts := obs["attachments"].([]any)
		a := atts[0].(map[string]any)
		if a["name"] == "field-recording.wav" {
			c := a["original"].(map[string]any)["cid"].(string)
			got := fsRun(t, "cat", "--data", B, c)
			if got.code != 0 || got.stdout != string(big) {
				t.Fatalf("cat %s: exit %d, %d bytes", c, got.code, len(got.stdout))
			}
		}
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"sync", "--bogus"},
		{"join"},
		{"import"},
		{"cid"},
		{"nosuchcommand"},
		{"verify", "--data", t.TempDir(), "not-a-cid"},
		{"invite", "--role", "king"},
		{"serve", "--data", t.TempDir(), "--listen", "not-a-multiaddr"},
		{"serve", "--data", t.TempDir(), "--public", "/ip4/127.0.0.1/tcp/4747"},
		{"serve", "--data", t.TempDir(), "--public", "/ip4/192.168.1.2/udp/4747/quic-v1"},
		{"serve", "--data", t.TempDir(), "--public", "/ip4/203.0.113.5"},
		{"serve", "--data", t.TempDir(), "--public", "/ip4/203.0.113.5/tcp/4747/p2p/12D3KooWGS2rPQQmYUyn6MpBMTiUCJoFM8NkiubLEEJttcWLKepV"},
	} {
		r := fsRun(t, args...)
		if r.code != exitUsage || r.stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and a message", args, r.code, r.stderr)
		}
	}
}

// TestBadOption: an unknown option or a bad value is named as the user
// wrote it.
func TestBadOption(t *testing.T) {
	for args, want := range map[string]string{
		"add --bogus x":   "there is no option --bogus for add",
		"sync -bogus":     "there is no option --bogus for sync",
		"add --lat abc x": `invalid value "abc" for --lat`,
	} {
		r := fsRun(t, strings.Fields(args)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 and %q", args, r.code, r.stderr, want)
		}
	}
}

func TestUnwritableData(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o500)
	cases := []string{filepath.Join(file, "data")}
	if os.Geteuid() != 0 {
		cases = append(cases, ro)
	} else {
		cases = append(cases, "/proc/fieldsync-data")
	}
	for _, data := range cases {
		r := fsRun(t, "init", "--data", data)
		if r.code != 1 || !strings.Contains(r.stderr, "data directory") {
			t.Errorf("init --data %s: exit %d, %q; want exit 1 and a message about the data directory", data, r.code, r.stderr)
		}
	}
	r := fsRun(t, "ls", "--data", filepath.Join(dir, "none"))
	if r.code != 1 || !strings.Contains(r.stderr, "fieldsync init") {
		t.Errorf("ls on a missing data directory: exit %d, %q", r.code, r.stderr)
	}
}

// TestSyncFromFieldDevice: C wants originals but syncs only with B, a
// field device holding thumbnails and previews: it gets those, then stops
// with exit 3 and says the rest is on no connected peer.
func TestSyncFromFieldDevice(t *testing.T) {
	root := t.TempDir()
	A, B, C := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "C")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "three"), 0, "init A")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	for _, name := range []string{"gps.jpg", "orient-3.jpg"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", name))
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	expectCode(t, fsRun(t, "import", "--data", A, src), 0, "import A")
	sa := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--filter", "field", sa.info["invite"].(string)), 0, "join B")
	r := fsRun(t, "invite", "--data", A, "--json")
	expectCode(t, r, 0, "second invite")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	expectCode(t, fsRun(t, "join", "--data", C, inv["code"].(string)), 0, "join C")
	expectCode(t, fsRun(t, "sync", "--data", B, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "1m"), 0, "sync B (field)")
	r = fsRun(t, "status", "--data", B, "--json")
	if strings.Contains(r.stdout, `"class":"original"`) {
		t.Fatalf("a field device wants originals: %s", r.stdout)
	}
	sb := startServe(t, B)
	r = fsRun(t, "sync", "--data", C, "--peer", sb.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "1m")
	expectCode(t, r, exitIncomplete, "sync C from the field device only")
	if !strings.Contains(r.stderr, "on no connected peer") {
		t.Fatalf("message: %s", r.stderr)
	}
	// With the creator too, C completes.
	r = fsRun(t, "sync", "--data", C, "--peer", sb.addr(t), "--peer", sa.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "1m")
	expectCode(t, r, 0, "sync C from both")
	expectCode(t, fsRun(t, "verify", "--data", C), 0, "verify C")
}
