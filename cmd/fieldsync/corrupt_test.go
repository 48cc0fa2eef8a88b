package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/synth"
)

// stop interrupts serve and waits for it to exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// TestCorruptPhotoHeals: base camp serves a photo original with one byte
// flipped on its disk; Maria's phone syncs from it, finds the bad leaf,
// tells base camp and drops it. Base camp checks the photo, quarantines
// it and fetches it again from a third device serving a good copy. Both
// sides say so in words; the phone's status lists base camp as dropped for
// bad data, with the blob; base camp's verify is clean afterwards and its
// fixity log (show) keeps the whole path.
func TestCorruptPhotoHeals(t *testing.T) {
	root := t.TempDir()
	S, G, R := filepath.Join(root, "S"), filepath.Join(root, "G"), filepath.Join(root, "R")
	net := []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"}

	expectCode(t, fsRun(t, "init", "--data", S, "--project", "river", "--name", "base camp"), 0, "init base camp")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	// A photo of more than two leaves (1 MiB each), and a small one.
	big := synth.JPEG(2400, 1800, 7, 95, synth.Meta{Taken: time.Date(2026, 5, 17, 9, 30, 0, 0, time.UTC)})
	if len(big) < 2<<20 {
		t.Fatalf("synthetic photo of %d bytes: want more than 2 MiB", len(big))
	}
	os.WriteFile(filepath.Join(src, "heron.jpg"), big, 0o644)
	small, _ := os.ReadFile(filepath.Join(photoDir, "gps.jpg"))
	os.WriteFile(filepath.Join(src, "gps.jpg"), small, 0o644)
	expectCode(t, fsRun(t, "import", "--data", S, src), 0, "import")

	ss := startServe(t, S, "--invite")
	expectCode(t, fsRun(t, "join", "--data", G, "--name", "good copy", ss.info["invite"].(string)), 0, "join good copy")
	r := fsRun(t, "invite", "--data", S, "--json")
	expectCode(t, r, 0, "second invite")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	expectCode(t, fsRun(t, "join", "--data", R, "--name", "Maria's phone", inv["code"].(string)), 0, "join Maria's phone")
	expectCode(t, fsRun(t, append([]string{"sync", "--data", G, "--peer", ss.addr(t), "--timeout", "1m"}, net...)...), 0, "sync good copy")

	// The good copy serves too, connected to base camp (its inviter).
	sg := startServe(t, G)
	waitFor(t, 15*time.Second, "the good copy to connect to base camp", func() bool {
		return strings.Contains(sg.log(), "base camp") && strings.Contains(sg.log(), "connected")
	})

	// Bit rot on base camp's disk: one byte of leaf 1 of the photo.
	var obsID, bad string
	for _, line := range strings.Split(strings.TrimSpace(fsRun(t, "ls", "--data", S, "--json").stdout), "\n") {
		var o map[string]any
		json.Unmarshal([]byte(line), &o)
		a := o["attachments"].([]any)[0].(map[string]any)
		if a["name"] == "heron.jpg" {
			obsID, bad = o["id"].(string), a["original"].(map[string]any)["cid"].(string)
		}
	}
	files, _ := filepath.Glob(filepath.Join(S, "blobs", "*", "*", bad))
	if len(files) != 1 {
		t.Fatalf("blob file of %s: %v", bad, files)
	}
	f, err := os.OpenFile(files[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte{0}
	f.ReadAt(b, 1<<20+100)
	b[0] ^= 0x01
	f.WriteAt(b, 1<<20+100)
	f.Close()

	// Maria's phone syncs from base camp alone: it gets everything but
	// the damaged photo, and says why.
	r = fsRun(t, append([]string{"sync", "--data", R, "--peer", ss.addr(t), "--timeout", "5s"}, net...)...)
	expectCode(t, r, exitIncomplete, "sync from the damaged device")
	t.Logf("Maria's phone:\n%s", r.stderr)
	if !strings.Contains(r.stderr, "bad data: leaf 1 of "+bad+" from peer base camp (") ||
		!strings.Contains(r.stderr, "failed verification here; told base camp (") {
		t.Fatalf("the phone does not say what happened:\n%s", r.stderr)
	}
	// Base camp was told, checked, quarantined and healed from the good copy.
	waitFor(t, 30*time.Second, "base camp to heal", func() bool { return strings.Contains(ss.log(), "healed") })
	t.Logf("base camp:\n%s", ss.log())
	for _, want := range []string{
		"peer Maria's phone (", ") says leaf 1 of " + bad + " we sent was corrupt: checking our copy",
		"our copy of " + bad + " is damaged (corrupt: bytes hash to ",
		"): quarantined, fetching it again from other peers",
		bad + " healed: fetched again from good copy (",
	} {
		if !strings.Contains(ss.log(), want) {
			t.Fatalf("base camp's log lacks %q:\n%s", want, ss.log())
		}
	}
	// Its own check is told once: the fixity log it watches for checks
	// made beside it does not tell it again.
	time.Sleep(1500 * time.Millisecond)
	if n := strings.Count(ss.log(), "is damaged ("); n != 1 {
		t.Fatalf("base camp told of the damage %d times:\n%s", n, ss.log())
	}

	// The phone's status lists base camp, dropped for bad data, with the blob.
	r = fsRun(t, "status", "--data", R)
	expectCode(t, r, exitIncomplete, "status of the phone")
	t.Logf("status of the phone:\n%s", r.stdout)
	if !strings.Contains(r.stdout, "bad data 1 peer(s) dropped") || !strings.Contains(r.stdout, "this run base camp (") ||
		!strings.Contains(r.stdout, "leaf 1 of "+bad) {
		t.Fatalf("status does not list the peer dropped for bad data:\n%s", r.stdout)
	}
	var st struct {
		BadPeers []struct {
			Peer, CID string
			Leaf      int
			Current   bool `json:"current_run"`
		} `json:"bad_peers"`
	}
	r = fsRun(t, "status", "--data", R, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.BadPeers) != 1 || st.BadPeers[0].CID != bad ||
		st.BadPeers[0].Peer != ss.info["peer"] || st.BadPeers[0].Leaf != 1 || !st.BadPeers[0].Current {
		t.Fatalf("status JSON: %v %s", err, r.stdout)
	}

	// The next sync, from base camp again (a new run), gets the photo it
	// healed; status still lists the last run's drop.
	r = fsRun(t, append([]string{"sync", "--data", R, "--peer", ss.addr(t), "--timeout", "1m"}, net...)...)
	expectCode(t, r, 0, "sync from the healed device")
	r = fsRun(t, "status", "--data", R)
	expectCode(t, r, 0, "status of the phone, complete")
	t.Logf("status of the phone after the next run:\n%s", r.stdout)
	if !strings.Contains(r.stdout, "last run base camp (") || !strings.Contains(r.stdout, bad) {
		t.Fatalf("status after the next run:\n%s", r.stdout)
	}
	expectCode(t, fsRun(t, "verify", "--data", R), 0, "verify the phone")

	// Base camp's copy is good again, and its fixity log keeps the path.
	ss.stop(t)
	r = fsRun(t, "verify", "--data", S)
	expectCode(t, r, 0, "verify base camp")
	r = fsRun(t, "show", "--data", S, obsID)
	expectCode(t, r, 0, "show")
	t.Logf("show:\n%s", r.stdout)
	i := strings.Index(r.stdout, "reported corrupt by Maria's phone (")
	j := strings.Index(r.stdout, "checked: corrupt (bytes hash to ")
	k := strings.Index(r.stdout, "fetched again from good copy (")
	l := strings.LastIndex(r.stdout, "checked: ok")
	if i < 0 || j < i || k < j || l < k {
		t.Fatalf("base camp's fixity log, in show:\n%s", r.stdout)
	}
}

// TestVerifyBesideServe: an archivist runs verify on a device while its
// serve runs (from cron, say). verify checks beside serve instead of
// refusing, quarantines the damaged photo and says so; the running serve
// learns of it within a second, says so, fetches the photo again from its
// peer and says it healed; verify is clean afterwards.
func TestVerifyBesideServe(t *testing.T) {
	root := t.TempDir()
	S, B := filepath.Join(root, "S"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", S, "--project", "river", "--name", "base camp"), 0, "init base camp")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	big := synth.JPEG(2400, 1800, 9, 95, synth.Meta{Taken: time.Date(2026, 5, 18, 9, 30, 0, 0, time.UTC)})
	os.WriteFile(filepath.Join(src, "otter.jpg"), big, 0o644)
	expectCode(t, fsRun(t, "import", "--data", S, src), 0, "import")
	ss := startServe(t, S, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "archive box", ss.info["invite"].(string)), 0, "join")
	expectCode(t, fsRun(t, "sync", "--data", B, "--peer", ss.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "1m"), 0, "sync")
	sb := startServe(t, B)
	waitFor(t, 15*time.Second, "the archive box to connect to base camp", func() bool {
		return strings.Contains(sb.log(), "base camp") && strings.Contains(sb.log(), "connected")
	})

	var bad string
	for _, line := range strings.Split(strings.TrimSpace(fsRun(t, "ls", "--data", B, "--json").stdout), "\n") {
		var o map[string]any
		json.Unmarshal([]byte(line), &o)
		bad = o["attachments"].([]any)[0].(map[string]any)["original"].(map[string]any)["cid"].(string)
	}
	overwrite(t, blobFile(t, B, bad), 2<<20+10, 0x5a, 0xa5)

	r := fsRun(t, "verify", "--data", B)
	expectCode(t, r, exitCorrupt, "verify beside serve")
	t.Logf("verify:\n%s%s", r.stdout, r.stderr)
	for _, want := range []string{"corrupt   " + bad + " bytes hash to ", "moved to ", "the fieldsync process running here fetches it again from its peers now", " blobs intact, 1 with problems"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("verify beside serve does not say %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "holds this data directory: checking beside it") || strings.Contains(r.stderr, "in use") {
		t.Fatalf("verify beside serve does not say it checks beside it:\n%s", r.stderr)
	}
	waitFor(t, 30*time.Second, "the archive box's serve to heal the photo", func() bool { return strings.Contains(sb.log(), "healed") })
	t.Logf("the archive box's serve:\n%s", sb.log())
	for _, want := range []string{
		"our copy of " + bad + " is damaged (corrupt: bytes hash to ",
		"): quarantined, fetching it again from other peers",
		bad + " healed: fetched again from base camp (",
	} {
		if !strings.Contains(sb.log(), want) {
			t.Fatalf("the serve's log lacks %q:\n%s", want, sb.log())
		}
	}
	r = fsRun(t, "verify", "--data", B, bad)
	expectCode(t, r, 0, "verify of the healed photo, beside serve")
	healed, _ := os.ReadFile(blobFile(t, B, bad))
	if good, _ := os.ReadFile(blobFile(t, S, bad)); len(good) == 0 || !bytes.Equal(healed, good) {
		t.Fatal("the healed photo differs from base camp's")
	}
	// With serve stopped, verify has the directory to itself: orphans are
	// looked for, and it says nothing of a process beside it.
	sb.stop(t)
	r = fsRun(t, "verify", "--data", B)
	expectCode(t, r, 0, "verify with serve stopped")
	if strings.Contains(r.stderr, "beside") {
		t.Fatalf("verify alone says it checks beside another process:\n%s", r.stderr)
	}
}

// overwrite writes b over the file at path, at off: damage on a disk.
func overwrite(t *testing.T, path string, off int64, b ...byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
