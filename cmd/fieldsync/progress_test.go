package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/view"
)

// placeholder matches a lone "-" standing for an unknown value ("at -",
// "ETA -,"), not a hyphen inside a word.
var placeholder = regexp.MustCompile(`(^|[\s:,])-([\s,.]|$)`)

// TestProgressViewWords feeds the sync's progress view the snapshots of a
// sync from its start to its end, through a stall: it never prints a "-"
// placeholder, and says in words what is happening instead.
func TestProgressViewWords(t *testing.T) {
	peers := []node.PeerProgress{{ID: "12D3KooWpeer", State: node.PeerConnected}}
	class := func(done int64) (c [blob.NumClasses]node.ClassProgress) {
		c[blob.ClassAttachment] = node.ClassProgress{FilesWanted: 1, BytesWanted: 10 << 20, BytesDone: done}
		if done == 10<<20 {
			c[blob.ClassAttachment].FilesDone = 1
		}
		return
	}
	for _, c := range []struct {
		name string
		p    node.Progress
		want string
	}{
		{"before any byte", node.Progress{Peers: peers, Classes: class(0), ETA: -1}, "waiting for the first bytes"},
		{"first records, no rate yet", node.Progress{Peers: peers, Classes: class(0), ETA: -1, RecordsApplied: 3, BytesReceived: 2048}, "estimating the rate"},
		{"a rate, no time left yet", node.Progress{Peers: peers, Classes: class(1 << 20), ETA: -1, BytesReceived: 1 << 20, Rate: 512_000}, "at 500.0 KiB/s, estimating the time left"},
		{"steady", node.Progress{Peers: peers, Classes: class(3 << 20), ETA: 130 * time.Second, BytesReceived: 3 << 20, Rate: 512_000}, "at 500.0 KiB/s, about 2 min left"},
		{"nearly there", node.Progress{Peers: peers, Classes: class(9 << 20), ETA: 4 * time.Second, BytesReceived: 9 << 20, Rate: 512_000}, "a few seconds left"},
		{"stalled", node.Progress{Classes: class(5 << 20), ETA: -1, BytesReceived: 5 << 20, Rate: 9000, Stalled: 40 * time.Second}, "stalled for 40 s"},
		{"stalled long", node.Progress{Classes: class(5 << 20), ETA: -1, BytesReceived: 5 << 20, Stalled: 130 * time.Second}, "stalled for 2 min 10 s"},
		{"nothing more here", node.Progress{Peers: peers, Classes: class(5 << 20), ETA: -1, BytesReceived: 5 << 20, Idle: true, Unavailable: 1}, "the connected peers have none of the 1 missing file(s)"},
		{"all here, finishing", node.Progress{Peers: peers, Classes: class(10 << 20), ETA: 0, BytesReceived: 10 << 20}, "finishing"},
		{"complete", node.Progress{Peers: peers, Classes: class(10 << 20), ETA: 0, BytesReceived: 10 << 20, Complete: true, Idle: true}, "complete: 0 records, 10.0 MiB received, 1 peer(s) connected"},
	} {
		var b bytes.Buffer
		newProgressView(&b, false).draw(c.p, true)
		out := b.String()
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if placeholder.MatchString(line) {
				t.Errorf("%s: a placeholder in %q", c.name, line)
			}
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: %q does not say %q", c.name, out, c.want)
		}
	}

	// --json keeps numbers for scripts: eta_s -1 when unknown, stalled_s.
	var b bytes.Buffer
	v := newProgressView(&b, true)
	v.draw(node.Progress{ETA: -1, Stalled: 40 * time.Second, Rate: 9000}, true)
	v.draw(node.Progress{ETA: 130 * time.Second, Rate: 512_000}, true)
	var got []view.Progress
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var p view.Progress
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatalf("--json line %q: %v", line, err)
		}
		got = append(got, p)
	}
	if len(got) != 2 || got[0].ETA != -1 || got[0].Stalled != 40 || got[0].Rate != 9000 || got[1].ETA != 130 || got[1].Rate != 512_000 || got[1].Stalled != 0 {
		t.Errorf("--json: %+v", got)
	}
}

func TestHumanLeft(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{3 * time.Second, "a few seconds left"},
		{43 * time.Second, "about 45 s left"},
		{89 * time.Second, "about 90 s left"},
		{130 * time.Second, "about 2 min left"},
		{59 * time.Minute, "about 59 min left"},
		{80 * time.Minute, "about 1 h 20 min left"},
	} {
		if got := humanLeft(c.d); got != c.want {
			t.Errorf("humanLeft(%s) = %q, want %q", c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{40 * time.Second, "40 s"}, {130 * time.Second, "2 min 10 s"}, {65 * time.Minute, "1 h 05 min"}} {
		if got := humanSpan(c.d); got != c.want {
			t.Errorf("humanSpan(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

// TestSyncRateAndETA syncs 10 MiB (random bytes, a non-photo attachment)
// through a 512 KB/s toxiproxy link and reads 'sync --json': from 10 s
// after the first bytes on, the rate it reports is within 15 % of the
// link's and its ETA within 20 % of the time that actually remained (known
// once the sync has ended). About 25 s.
//
// The link's rate is taken as the payload's: the slope of bytes_received
// over time (least squares over the lines from 2 s in to the end). That is
// what rate_bytes_per_s counts (DATA frames and record batches), while
// toxiproxy's 512,000 B/s also carries the framing (noise, yamux, the
// messages' headers); the payload rate is logged beside it and must be
// within 10 % of it, so that a reference gone wrong (a stalled proxy)
// does not pass unnoticed.
func TestSyncRateAndETA(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s sync through a shaped link")
	}
	const kbps = 512
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "rate"), 0, "init A")
	big := filepath.Join(root, "recording.wav")
	if err := os.WriteFile(big, randomBytes(10<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	expectCode(t, fsRun(t, "add", "--data", A, big), 0, "add")
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, s.info["invite"].(string)), 0, "join")
	px := slowProxy(t, s, kbps)
	cmd := exec.Command(binary(t), "sync", "--data", B, "--peer", px, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--json", "--timeout", "2m")
	out, _ := cmd.StdoutPipe()
	var syncErr bytes.Buffer
	cmd.Stderr = &syncErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []view.Progress
	dec := json.NewDecoder(out)
	for {
		var p view.Progress
		if dec.Decode(&p) != nil {
			break
		}
		lines = append(lines, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sync: %v\n%s", err, syncErr.String())
	}
	if len(lines) < 12 || !lines[len(lines)-1].Complete {
		t.Fatalf("%d lines, the last %+v\n%s", len(lines), lines[len(lines)-1], syncErr.String())
	}
	final := lines[len(lines)-1]
	var t0 time.Time // the first bytes
	for _, p := range lines {
		if p.Received > 0 {
			t0 = p.Time
			break
		}
	}
	since := func(p view.Progress) float64 { return p.Time.Sub(t0).Seconds() }

	// The payload's rate: least squares of bytes_received over time.
	var n, sx, sy, sxx, sxy float64
	for _, p := range lines[:len(lines)-1] {
		if x := since(p); x >= 2 {
			y := float64(p.Received)
			n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
		}
	}
	ref := (n*sxy - sx*sy) / (n*sxx - sx*sx)
	t.Logf("payload rate %.0f B/s (%.3f × the shaped %d,000 B/s); %d lines over %.1f s", ref, ref/(kbps*1000), kbps, len(lines), since(final))
	if relErr := math.Abs(ref-kbps*1000) / (kbps * 1000); relErr > 0.10 {
		t.Errorf("the payload arrived at %.0f B/s, not near the shaped %d,000 B/s", ref, kbps)
	}

	var worstRate, worstETA float64
	checked := 0
	for _, p := range lines {
		at := since(p)
		if at < 10 || p.Complete {
			continue
		}
		remain := final.Time.Sub(p.Time).Seconds()
		rateErr := math.Abs(p.Rate-ref) / ref
		etaErr := math.NaN()
		if p.ETA >= 0 {
			etaErr = math.Abs(p.ETA-remain) / remain
		}
		t.Logf("at %5.1f s: rate %7.0f B/s (%5.1f %% off), ETA %5.1f s, %5.1f s remained (%5.1f %% off)", at, p.Rate, 100*rateErr, p.ETA, remain, 100*etaErr)
		checked++
		if rateErr > 0.15 {
			t.Errorf("at %.1f s: rate %.0f B/s, the link's %.0f: %.0f %% off", at, p.Rate, ref, 100*rateErr)
		}
		worstRate = max(worstRate, rateErr)
		// Near the end a fraction of a second is a large share: the ETA
		// is held to 20 % where at least 3 s remained, to 0.6 s after.
		switch {
		case p.ETA < 0:
			t.Errorf("at %.1f s: ETA unknown", at)
		case remain >= 3 && etaErr > 0.20:
			t.Errorf("at %.1f s: ETA %.1f s, %.1f s remained: %.0f %% off", at, p.ETA, remain, 100*etaErr)
		case remain < 3 && math.Abs(p.ETA-remain) > 0.6:
			t.Errorf("at %.1f s: ETA %.1f s, %.1f s remained", at, p.ETA, remain)
		}
		if remain >= 3 {
			worstETA = max(worstETA, etaErr)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d lines from 10 s on: the sync took %.1f s", checked, since(final))
	}
	t.Logf("worst from 10 s on: rate %.1f %% off, ETA %.1f %% off (where ≥ 3 s remained)", 100*worstRate, 100*worstETA)
}
