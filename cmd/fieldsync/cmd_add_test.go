package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAdd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	if code, _, errOut := run(t, "", "init", "--data", data, "--project", "p"); code != 0 {
		t.Fatal(errOut)
	}
	photo := filepath.Join("..", "..", "testdata", "photos", "gps.jpg")
	heic := filepath.Join("..", "..", "testdata", "photos", "other.heic")
	code, out, errOut := run(t, "", "add", "--data", data, "--lat", "10.5", "--lon", "-20.25", "--tag", "heron", "--json", photo, heic)
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	var added map[string]string
	json.Unmarshal([]byte(out), &added)
	code, out, _ = run(t, "", "show", "--data", data, "--json", added["id"])
	if code != 0 || !strings.Contains(out, `"lat":10.5`) || !strings.Contains(out, "other.heic") || !strings.Contains(out, `"heron"`) {
		t.Fatalf("show: %d %s", code, out)
	}
	for _, args := range [][]string{
		{"add", "--data", data, "--lat", "1", photo},
		{"add", "--data", data, "--lat", "91", "--lon", "0", photo},
		{"add", "--data", data},
		{"add", "--data", data, t.TempDir()},
	} {
		if code, _, errOut := run(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s), want 2", args, code, errOut)
		}
	}
	if code, _, errOut := run(t, "", "add", "--data", data, photo, "/nonexistent.jpg"); code != exitFailure || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: %d %s", code, errOut)
	}
	code, out, _ = run(t, "", "ls", "--data", data, "--json")
	if code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("ls after a failed add: %d %q", code, out)
	}
}

// TestAddGPXWaypoints: add of a GPX file with waypoints says they were not
// taken, as import does.
func TestAddGPXWaypoints(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "d")
	if code, _, errOut := run(t, "", "init", "--data", data, "--project", "p"); code != 0 {
		t.Fatal(errOut)
	}
	walk := filepath.Join(dir, "walk.gpx")
	os.WriteFile(walk, []byte(`<gpx version="1.1" creator="x">
<wpt lat="1" lon="2"><name>spring</name></wpt><wpt lat="1.1" lon="2.1"/>
<trk><trkseg><trkpt lat="1" lon="2"><time>2026-05-17T10:00:00Z</time></trkpt><trkpt lat="1.001" lon="2.001"><time>2026-05-17T10:01:00Z</time></trkpt></trkseg></trk></gpx>`), 0o644)
	code, out, errOut := run(t, "", "add", "--data", data, walk)
	if code != 0 || !strings.Contains(out, "added track") || !strings.Contains(out, "walk.gpx: 2 waypoint(s) not taken") {
		t.Fatalf("add: %d %q %q", code, out, errOut)
	}
	code, out, errOut = run(t, "", "add", "--data", data, "--json", walk)
	if code != 0 || !strings.Contains(out, `"warnings":["`) || !strings.Contains(out, "2 waypoint(s) not taken") {
		t.Fatalf("add --json: %d %q %q", code, out, errOut)
	}
}
