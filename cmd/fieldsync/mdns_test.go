package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// netns makes a network namespace with only a loopback interface, up and
// multicast-capable, so that mDNS runs inside it and nowhere else. It
// skips the test where namespaces cannot be made (not root, no iproute2).
func netns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip (iproute2)")
	}
	name := fmt.Sprintf("fieldsync-test-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", append([]string{"netns", "exec", name, "ip"}, args...)...).CombinedOutput(); err != nil {
			t.Skipf("ip %v: %v %s", args, err, out)
		}
	}
	return name
}

// TestMDNSDiscovery runs devices in a namespace of their own: a member
// that knows no peer finds its project's device by mDNS and syncs; a
// device of another project on the same network finds nobody.
func TestMDNSDiscovery(t *testing.T) {
	ns := netns(t)
	bin := binary(t)
	inNS := func(args ...string) *exec.Cmd {
		return exec.Command("ip", append([]string{"netns", "exec", ns, bin}, args...)...)
	}
	runNS := func(args ...string) result {
		cmd := inNS(args...)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{code, o.String(), e.String()}
	}
	root := t.TempDir()
	A, B, X := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "X")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "mdns"), 0, "init A")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	b, _ := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", "gps.jpg"))
	os.WriteFile(filepath.Join(src, "gps.jpg"), b, 0o644)
	expectCode(t, fsRun(t, "import", "--data", A, src), 0, "import A")

	serve := inNS("serve", "--data", A, "--listen", "/ip4/127.0.0.1/tcp/0", "--invite", "--json")
	out, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		serve.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			serve.Process.Kill()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	json.Unmarshal([]byte(line), &info)

	expectCode(t, runNS("join", "--data", B, info["invite"].(string)), 0, "join B")
	os.Remove(filepath.Join(B, "peers.json")) // B knows no peer: only mDNS can find A
	r := runNS("sync", "--data", B, "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "45s")
	expectCode(t, r, 0, "sync B by mDNS")
	if !strings.Contains(r.stderr, "(0 known)") {
		t.Fatalf("B knew a peer: %s", r.stderr)
	}

	// A short code, read aloud: another invite made beside the running
	// serve (by a second process), redeemed by a device that knows no
	// address: serve advertises it on the network within a second.
	r = runNS("invite", "--data", A, "--json")
	expectCode(t, r, 0, "invite beside serve")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	short, _ := inv["short"].(string)
	if len(short) != 16 {
		t.Fatalf("short code %q", short)
	}
	C := filepath.Join(root, "C")
	r = runNS("join", "--data", C, "--name", "radio", strings.ToLower(short))
	expectCode(t, r, 0, "join C with the short code")
	if !strings.Contains(r.stdout, `joined "mdns"`) {
		t.Fatalf("join with the short code: %s", r.stdout)
	}

	// A device of another project on the same network sees nobody.
	expectCode(t, fsRun(t, "init", "--data", X, "--project", "other"), 0, "init X")
	r = runNS("sync", "--data", X, "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "8s")
	if r.code == 0 || !strings.Contains(r.stderr, "stopped before any peer connected") {
		t.Fatalf("a device of another project synced: exit %d\n%s", r.code, r.stderr)
	}
}
