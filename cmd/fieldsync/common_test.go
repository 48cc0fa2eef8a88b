package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestHuman(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := humanBytes(c.n); got != c.want {
			t.Errorf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := humanLeft(90 * time.Second); got != "about 2 min left" {
		t.Errorf("time left %q", got)
	}
	if got := bar(5, 10, 10); got != "[=====>    ]" {
		t.Errorf("bar %q", got)
	}
	if got := bar(10, 10, 4); got != "[====]" {
		t.Errorf("bar %q", got)
	}
}

// run runs the command in process and returns its exit code and output.
func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = runMain(context.Background(), &env{stdin: strings.NewReader(stdin), stdout: &o, stderr: &e}, args)
	return code, o.String(), e.String()
}

func TestUsage(t *testing.T) {
	if code, _, errOut := run(t, "", "nosuch"); code != exitUsage || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("unknown command: %d %q", code, errOut)
	}
	if code, out, _ := run(t, "", "help"); code != exitOK || !strings.Contains(out, "cid") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, out, _ := run(t, "", "cid", "--help"); code != exitOK || !strings.Contains(out, "Exit codes") {
		t.Fatalf("cid --help: %d %q", code, out)
	}
	if code, _, errOut := run(t, "", "cid", "--bogus"); code != exitUsage || !strings.Contains(errOut, "bogus") {
		t.Fatalf("bad flag: %d %q", code, errOut)
	}
}

func TestCid(t *testing.T) {
	code, out, _ := run(t, "hello world", "cid", "-")
	if code != 0 || strings.TrimSpace(out) != "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e" {
		t.Fatalf("cid -: %d %q", code, out)
	}
	dir := t.TempDir()
	code, out, errOut := run(t, "", "cid", "--json", dir, "/nonexistent/file", "-")
	if code != exitFailure {
		t.Fatalf("exit %d, want 1 (%s)", code, errOut)
	}
	if !strings.Contains(out, "is a directory") || !strings.Contains(out, "no such file") || !strings.Contains(out, `"cid":"bafkrei`) {
		t.Fatalf("json output %q", out)
	}
	code, _, errOut = run(t, "", "cid", "/dev/zero")
	if code != exitFailure || !strings.Contains(errOut, "not a regular file") {
		t.Fatalf("device: %d %q", code, errOut)
	}
}
