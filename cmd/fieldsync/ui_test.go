package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUICommand(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "ui"), 0, "init")
	expectCode(t, fsRun(t, "add", "--data", A, filepath.Join("..", "..", "testdata", "photos", "gps.jpg")), 0, "add")

	// Bad usage, before anything opens.
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--http", "0.0.0.0:0"}, "--http-remote"},
		{[]string{"--http", "nowhere"}, "HOST:PORT"},
		{[]string{"--http", "example.org:80"}, "IP address"},
		{[]string{"--max-upload", "0"}, "at least 1"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		r := fsRun(t, append([]string{"ui", "--data", A}, tc.args...)...)
		expectCode(t, r, 2, "ui "+strings.Join(tc.args, " "))
		if !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("ui %v: %q lacks %q", tc.args, r.stderr, tc.msg)
		}
	}
	r := fsRun(t, "ui", "--data", A, "--basemap", filepath.Join(root, "none.mbtiles"))
	expectCode(t, r, 1, "ui with a missing basemap")
	if !strings.Contains(r.stderr, "--basemap") {
		t.Errorf("missing basemap: %q", r.stderr)
	}
	r = fsRun(t, "serve", "--data", A, "--ui", "--http", "0.0.0.0:0")
	expectCode(t, r, 2, "serve --ui beyond loopback")

	// The first line is the URL; the token logs a browser in.
	cmd := exec.Command(binary(t), "ui", "--data", A)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(url, "/?token=") {
		t.Fatalf("first line %q is not the URL", line)
	}
	go io.Copy(io.Discard, out)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	base := strings.SplitN(url, "/?", 2)[0]
	if resp, err := c.Get(base + "/api/observations"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("before the token: %v %v", resp.Status, err)
	}
	resp, err := c.Get(url)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with the token: %v", err)
	}
	resp.Body.Close()
	resp, err = c.Get(base + "/api/observations")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"total":1`) {
		t.Fatalf("observations: %d %s", resp.StatusCode, b)
	}

	// ls still tells which variants are here while ui holds the store.
	if r := fsRun(t, "ls", "--data", A); r.code != 0 || !strings.Contains(r.stdout, "[TPO]") {
		t.Errorf("ls beside a running ui: %d %q", r.code, r.stdout)
	}

	// While another process holds the data directory (here the first ui;
	// usually serve), a second ui still serves it, read-only.
	ro := exec.Command(binary(t), "ui", "--data", A)
	roOut, _ := ro.StdoutPipe()
	var roErr strings.Builder
	ro.Stderr = &roErr
	if err := ro.Start(); err != nil {
		t.Fatal(err)
	}
	defer ro.Process.Kill()
	line, err = bufio.NewReader(roOut).ReadString('\n')
	if err != nil {
		t.Fatalf("read-only ui printed nothing: %v", err)
	}
	roURL := strings.TrimSpace(line)
	jar2, _ := cookiejar.New(nil)
	c2 := &http.Client{Jar: jar2, Timeout: 10 * time.Second}
	if resp, err := c2.Get(roURL); err != nil || resp.StatusCode != 200 {
		t.Fatalf("read-only ui: %v", err)
	}
	roBase := strings.SplitN(roURL, "/?", 2)[0]
	resp, err = c2.Get(roBase + "/api/session")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"canWrite":false`) || !strings.Contains(string(b), "serve --ui") {
		t.Errorf("read-only session: %s", b)
	}
	var obs struct {
		Items []struct {
			Attachments []struct{ Original struct{ CID, State string } }
		}
	}
	resp, err = c2.Get(roBase + "/api/observations")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&obs)
	resp.Body.Close()
	if len(obs.Items) != 1 || obs.Items[0].Attachments[0].Original.State != "present" {
		t.Fatalf("read-only observations: %+v", obs)
	}
	resp, err = c2.Get(roBase + "/api/blobs/" + obs.Items[0].Attachments[0].Original.CID)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("read-only blob: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	ro.Process.Signal(syscall.SIGINT)
	ro.Wait()
	if !strings.Contains(roErr.String(), "read-only") {
		t.Errorf("read-only ui did not say so: %q", roErr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ui after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("ui did not stop on SIGINT")
	}
}
