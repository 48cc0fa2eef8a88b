package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBlindArchive is issue 17's Done-when, with separate processes: A
// creates a project, imports photos and a note; B joins with A's
// 'invite --blind' and serves; C joins with A's invite; A syncs until B
// holds everything, and stops. C, dialling only B, gets every observation
// and every original byte-identical and verified. B's data directory holds
// no 64-byte run of any photo or variant, no note and not the project's
// name, and 'fieldsync verify' passes on it.
func TestBlindArchive(t *testing.T) {
	root := t.TempDir()
	A, B, C := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "C")
	const name = "Quebrada Sagrada mapping 7Q4"
	const note = "the spring behind the third ridge, guarded by Doña Ilse 9X2"
	expectCode(t, fsRun(t, "init", "--data", A, "--project", name), 0, "init A")
	src := filepath.Join(root, "src")
	os.MkdirAll(src, 0o755)
	for _, n := range []string{"gps.jpg", "orient-6.jpg", "baseline.jpg", "alpha8.png", "lossy.webp"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "photos", n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, n), b, 0o644)
	}
	big := make([]byte, 2<<20+4321) // three sealed leaves
	rand.Read(big)
	os.WriteFile(filepath.Join(src, "recording.wav"), big, 0o644)
	expectCode(t, fsRun(t, "import", "--data", A, src), 0, "import A")
	expectCode(t, fsRun(t, "add", "--data", A, "--lat", "-1.5", "--lon", "-78.6", "--note", note), 0, "add a note")

	sa := startServe(t, A)
	r := fsRun(t, "invite", "--data", A, "--blind", "--json")
	expectCode(t, r, 0, "invite --blind")
	var inv map[string]any
	json.Unmarshal([]byte(r.stdout), &inv)
	if inv["role"] != "archive" {
		t.Fatalf("invite --blind: %s", r.stdout)
	}
	r = fsRun(t, "join", "--data", B, "--json", inv["code"].(string))
	expectCode(t, r, 0, "join B")
	if !strings.Contains(r.stdout, `"role":"archive"`) {
		t.Fatalf("join B: %s", r.stdout)
	}
	r = fsRun(t, "invite", "--data", A, "--json")
	expectCode(t, r, 0, "invite C")
	json.Unmarshal([]byte(r.stdout), &inv)
	expectCode(t, fsRun(t, "join", "--data", C, inv["code"].(string)), 0, "join C")
	stop(t, sa)

	// A blind archive refuses whatever would read the project.
	for _, args := range [][]string{{"ls"}, {"sync"}, {"export", "--geojson", filepath.Join(root, "x.geojson")}, {"cat", "bafkqaaa"}} {
		r := fsRun(t, append(args[:1:1], append([]string{"--data", B}, args[1:]...)...)...)
		if r.code == 0 || !strings.Contains(r.stderr, "cannot read it") {
			t.Fatalf("%v on the archive: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}

	sb := startServe(t, B, "-v")
	bAddr := sb.addr(t)
	r = fsRun(t, "sync", "--data", A, "--peer", bAddr, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m", "-v")
	if r.code == exitIncomplete && strings.Contains(r.stderr, "has not taken") {
		// The archive fetched nothing for 20 s (seen once in ~60 runs on a
		// loaded machine): what the command tells the user to do is to run
		// it again, so do (B's log is printed if that fails too).
		t.Logf("A's first sync ended with the archive lacking files; running it again.\nA: %s", r.stderr)
		r = fsRun(t, "sync", "--data", A, "--peer", bAddr, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m", "-v")
	}
	if r.code != 0 {
		stop(t, sb)
		t.Logf("B's log:\n%s", sb.stderr)
	}
	expectCode(t, r, 0, "A syncs with B")
	r = fsRun(t, "status", "--data", B, "--json")
	expectCode(t, r, 0, "status of B")
	var st struct {
		Blind struct {
			Holds struct {
				Envelopes, BlobsHeld int
				Blobs                int `json:"sealed_blobs_wanted"`
			} `json:"holds"`
		} `json:"blind"`
	}
	json.Unmarshal([]byte(r.stdout), &st)
	t.Logf("B: %s", r.stdout)
	// "Safe on the archive", from A's status without a network.
	r = fsRun(t, "status", "--data", A)
	expectCode(t, r, 0, "status of A")
	if !strings.Contains(r.stdout, "archive  (blind) ") || !strings.Contains(r.stdout, "safe there") {
		t.Fatalf("A's status says nothing of the blind archive holding everything:\n%s", r.stdout)
	}

	// C, dialling only B.
	r = fsRun(t, "sync", "--data", C, "--peer", bAddr, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m")
	expectCode(t, r, 0, "C syncs with B")
	la, lc := fsRun(t, "ls", "--data", A, "--json"), fsRun(t, "ls", "--data", C, "--json")
	if n := strings.Count(la.stdout, "\n"); n != 7 || strings.Count(lc.stdout, "\n") != n {
		t.Fatalf("ls: A has %d observations, C %d", n, strings.Count(lc.stdout, "\n"))
	}
	if !strings.Contains(lc.stdout, note) {
		t.Fatalf("C lacks the note")
	}
	plain := plainBlobs(t, la.stdout)
	for c := range plain {
		pa, pc := blobFile(t, A, c), blobFile(t, C, c)
		ba, _ := os.ReadFile(pa)
		bc, err := os.ReadFile(pc)
		if err != nil || !bytes.Equal(ba, bc) {
			t.Fatalf("blob %s on C: %v (%d bytes, A %d)", c, err, len(bc), len(ba))
		}
	}
	expectCode(t, fsRun(t, "verify", "--data", C), 0, "verify C")

	// A blind archive signs no device record: a device given its address
	// keeps it, finds it again by itself, and names it in the codes it
	// makes, so that a device joining later finds it too.
	for _, dir := range []string{A, C} {
		r = fsRun(t, "sync", "--data", dir, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "1m")
		expectCode(t, r, 0, "sync without --peer, after one with the archive's address: "+dir)
	}
	D := filepath.Join(root, "D")
	sa = startServe(t, A)
	r = fsRun(t, "invite", "--data", A, "--json")
	expectCode(t, r, 0, "invite D")
	json.Unmarshal([]byte(r.stdout), &inv)
	expectCode(t, fsRun(t, "join", "--data", D, inv["code"].(string)), 0, "join D")
	stop(t, sa)
	r = fsRun(t, "sync", "--data", D, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m")
	expectCode(t, r, 0, "D, told of the archive by its code only, syncs with it")
	if ld := fsRun(t, "ls", "--data", D, "--json"); strings.Count(ld.stdout, "\n") != 7 {
		t.Fatalf("D has %d observations from the archive", strings.Count(ld.stdout, "\n"))
	}
	// The archive's fixity, checked while it serves.
	r = fsRun(t, "verify", "--data", B)
	expectCode(t, r, 0, "verify B beside its serve")
	if !strings.Contains(r.stderr, "checking beside it") || !strings.Contains(r.stdout, " blobs intact, 0 with problems") {
		t.Fatalf("verify beside the archive's serve:\n%s%s", r.stdout, r.stderr)
	}
	stop(t, sb)

	// What B holds: nothing readable.
	var secrets [][]byte
	for c := range plain {
		b, _ := os.ReadFile(blobFile(t, A, c))
		secrets = append(secrets, b)
	}
	filepath.WalkDir(B, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{name, note, "Quebrada", "third ridge"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", path, s)
			}
		}
		for i, s := range secrets {
			if off, at := commonRun(s, b, 64); off >= 0 {
				t.Errorf("%s holds 64 bytes of blob %d at %d (blob offset %d)", path, i, at, off)
			}
		}
		return nil
	})
	expectCode(t, fsRun(t, "verify", "--data", B), 0, "verify B")
	r = fsRun(t, "members", "--data", B)
	expectCode(t, r, 0, "members on B")
	if !strings.Contains(r.stdout, "archive") || !strings.Contains(r.stdout, "creator") {
		t.Fatalf("members on B: %s", r.stdout)
	}
}

func stop(t *testing.T, s *server) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// plainBlobs collects every variant CID of the observations in ls --json.
func plainBlobs(t *testing.T, ls string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(ls), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatal(err)
		}
		atts, _ := o["attachments"].([]any)
		for _, a := range atts {
			for _, v := range []string{"original", "preview", "thumbnail"} {
				if m, ok := a.(map[string]any)[v].(map[string]any); ok {
					out[m["cid"].(string)] = true
				}
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d blobs in %s", len(out), ls)
	}
	return out
}

func blobFile(t *testing.T, dir, c string) string {
	fs, _ := filepath.Glob(filepath.Join(dir, "blobs", "*", "*", c))
	if len(fs) != 1 {
		return filepath.Join(dir, "blobs", "missing", c)
	}
	return fs[0]
}

// commonRun finds a run of n bytes of s in b (n ≥ 64): every such run
// holds one of s's blocks of n/2 bytes at an offset that is a multiple of
// n/2, so those are indexed and b is scanned once. Runs of a single byte
// value (padding, zeros) are not counted: they say nothing of the photo.
// It returns the offset in s and in b, or -1.
func commonRun(s, b []byte, n int) (int, int) {
	h := n / 2
	idx := map[[32]byte][]int{}
	for k := 0; k+h <= len(s); k += h {
		var key [32]byte
		copy(key[:], s[k:k+h])
		idx[key] = append(idx[key], k)
	}
	var key [32]byte
	for j := 0; j+h <= len(b); j++ {
		copy(key[:], b[j:j+h])
		ks, ok := idx[key]
		if !ok {
			continue
		}
		for _, k := range ks {
			// Extend both ways to the longest common run around it.
			lo := 0
			for k-lo-1 >= 0 && j-lo-1 >= 0 && s[k-lo-1] == b[j-lo-1] {
				lo++
			}
			hi := h
			for k+hi < len(s) && j+hi < len(b) && s[k+hi] == b[j+hi] {
				hi++
			}
			if lo+hi >= n && !uniform(s[k-lo:k+hi]) {
				return k - lo, j - lo
			}
		}
	}
	return -1, -1
}

func uniform(b []byte) bool {
	for _, x := range b {
		if x != b[0] {
			return false
		}
	}
	return true
}
