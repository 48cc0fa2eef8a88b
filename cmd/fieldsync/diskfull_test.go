//go:build linux

package main

// A real full disk: a small tmpfs holds the data directory of the device
// that imports or syncs. Needs root (CI runs as root) to mount it; each
// test takes about 3 s once the binary is built, so -short runs them too.

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/fulldisk"
	"github.com/fieldsync/fieldsync/internal/synth"
)

// makePhotos writes n distinct camera-like JPEGs of w×h into dir, named in
// path order, and returns their names and total size. A few synthetic
// scenes are drawn (the slow part) and each photo marks one with a patch
// of its own, so every photo and every variant has its own CID.
func makePhotos(t *testing.T, dir string, n, w, h int) ([]string, int64) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	scenes := make([]*image.RGBA, 4)
	var wg sync.WaitGroup
	for i := range scenes {
		wg.Go(func() { scenes[i] = synth.Photo(w, h, uint64(i+1)) })
	}
	wg.Wait()
	names := make([]string, n)
	sizes := make([]int64, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			img := image.NewRGBA(scenes[i%len(scenes)].Rect)
			copy(img.Pix, scenes[i%len(scenes)].Pix)
			c := color.RGBA{uint8(i * 37), uint8(i * 91), uint8(i * 13), 255}
			for y := range h / 8 {
				for x := range w / 8 {
					img.SetRGBA(x+(i%7)*w/8, y+(i/7%7)*h/8, c)
				}
			}
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
				panic(err)
			}
			b := synth.WithExif(buf.Bytes(), synth.Meta{Taken: time.Date(2026, 5, 1, 8, 0, i, 0, time.UTC), Lat: -3.4, Lon: -62.2})
			names[i] = fmt.Sprintf("IMG_%04d.jpg", i)
			sizes[i] = int64(len(b))
			if err := os.WriteFile(filepath.Join(dir, names[i]), b, 0o644); err != nil {
				panic(err)
			}
		})
	}
	wg.Wait()
	var total int64
	for _, s := range sizes {
		total += s
	}
	return names, total
}

var fullRe = regexp.MustCompile(`the disk holding (\S+) is full: this (import|sync) needs about ([0-9.]+ [KMGT]?i?B) more and ([0-9.]+ [KMGT]?i?B) is free`)

// parseBytes reads humanBytes back (to its precision).
func parseBytes(t *testing.T, s string) int64 {
	num, unit, _ := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		t.Fatalf("size %q: %v", s, err)
	}
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
	return int64(f * mult)
}

// fullMessage checks that out says once that the disk is full, for what,
// and returns how much it says is needed and free.
func fullMessage(t *testing.T, r result, what, dir string) (need, free int64) {
	t.Helper()
	all := r.stdout + r.stderr
	if n := strings.Count(all, "is full"); n != 1 {
		t.Fatalf("the full disk is mentioned %d times, want once:\nstdout: %s\nstderr: %s", n, r.stdout, r.stderr)
	}
	m := fullRe.FindStringSubmatch(r.stderr)
	if m == nil || m[2] != what || m[1] != dir {
		t.Fatalf("no 'the disk holding %s is full: this %s needs about ... more and ... is free' in:\n%s", dir, what, r.stderr)
	}
	return parseBytes(t, m[3]), parseBytes(t, m[4])
}

func within(got, lo, hi int64) bool { return got >= lo && got <= hi }

func TestDiskFullImport(t *testing.T) {
	mnt := fulldisk.Mount(t, 16<<20)
	t0 := time.Now()
	src := filepath.Join(t.TempDir(), "photos")
	names, total := makePhotos(t, src, 70, 800, 600)
	t.Logf("%d photos, %d bytes of originals, on a disk of 16 MiB (made in %s)", len(names), total, time.Since(t0))
	A := filepath.Join(mnt, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "full disk"), 0, "init")

	r := fsRun(t, "import", "--data", A, src)
	expectCode(t, r, exitNoSpace, "import onto a full disk")
	t.Logf("import said:\n%s%s", r.stdout, r.stderr)
	if strings.Contains(r.stderr, "skip ") || strings.Contains(r.stdout, "skipped") {
		t.Errorf("files listed as skipped:\n%s\n%s", r.stdout, r.stderr)
	}
	need, free := fullMessage(t, r, "import", A)
	var imported int
	if _, err := fmt.Sscanf(r.stdout, "imported %d observations", &imported); err != nil {
		t.Fatalf("import summary %q: %v", r.stdout, err)
	}
	// Whole groups of 32 files are imported or discarded.
	if imported == 0 || imported%32 != 0 || imported >= len(names) {
		t.Fatalf("imported %d of %d", imported, len(names))
	}
	left := names[imported:]
	if !strings.Contains(r.stderr, fmt.Sprintf("%d files were imported and are kept; %d were not (%s to %s, in path order)",
		imported, len(left), filepath.Join(src, left[0]), filepath.Join(src, left[len(left)-1]))) {
		t.Errorf("the message does not say which files were not imported:\n%s", r.stderr)
	}
	var leftBytes int64
	for _, n := range left {
		st, _ := os.Stat(filepath.Join(src, n))
		leftBytes += st.Size()
	}
	// The rest needs its originals and their variants (about two thirds
	// as much again at this size); free is what statfs says, the group in
	// progress discarded.
	if !within(need, leftBytes, 5*leftBytes/2) {
		t.Errorf("need %d for %d bytes of originals left", need, leftBytes)
	}
	if now := fulldisk.Free(t, mnt); !within(free, now-(1<<20), now+(1<<20)) || free >= 16<<20 {
		t.Errorf("said %d free, statfs says %d", free, now)
	}
	t.Logf("stopped after %d of %d: need %d (originals %d), free %d", imported, len(names), need, leftBytes, free)
	if entries, _ := os.ReadDir(filepath.Join(A, "tmp")); len(entries) != 0 {
		t.Errorf("temp files left in tmp/: %d", len(entries))
	}
	ls := fsRun(t, "ls", "--data", A, "--json")
	expectCode(t, ls, 0, "ls")
	if n := strings.Count(ls.stdout, "\n"); n != imported {
		t.Fatalf("ls lists %d observations, want the %d imported", n, imported)
	}
	for _, n := range names[:imported] {
		if !strings.Contains(ls.stdout, n) {
			t.Fatalf("ls does not list %s", n)
		}
	}
	expectCode(t, fsRun(t, "verify", "--data", A), 0, "verify after the full disk")

	// With more space, the files not imported are imported.
	if out, err := exec.Command("mount", "-o", "remount,size=96m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
	rest := filepath.Join(t.TempDir(), "rest")
	os.Mkdir(rest, 0o755)
	for _, n := range left {
		if err := os.Rename(filepath.Join(src, n), filepath.Join(rest, n)); err != nil {
			t.Fatal(err)
		}
	}
	t1 := time.Now()
	expectCode(t, fsRun(t, "import", "--data", A, rest), 0, "import of the rest")
	t.Logf("the rest imported in %s", time.Since(t1))
	ls = fsRun(t, "ls", "--data", A, "--json")
	if n := strings.Count(ls.stdout, "\n"); n != len(names) {
		t.Fatalf("ls lists %d observations, want %d", n, len(names))
	}
}

func TestDiskFullSync(t *testing.T) {
	mnt := fulldisk.Mount(t, 32<<20)
	root := t.TempDir()
	src := filepath.Join(root, "photos")
	makePhotos(t, src, 70, 800, 600)
	// The project's device is on the normal disk.
	S := filepath.Join(root, "S")
	expectCode(t, fsRun(t, "init", "--data", S, "--project", "full disk"), 0, "init S")
	expectCode(t, fsRun(t, "import", "--data", S, src), 0, "import on S")
	var project int64
	filepath.WalkDir(filepath.Join(S, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				project += st.Size()
			}
		}
		return nil
	})
	s := startServe(t, S, "--invite")
	code, _ := s.info["invite"].(string)

	// The field device is on the tmpfs, half of it taken by a ballast file.
	F := filepath.Join(mnt, "F")
	expectCode(t, fsRun(t, "join", "--data", F, code), 0, "join F")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("project of %d bytes of blobs; %d free for it", project, fulldisk.Free(t, mnt))
	start := time.Now()
	r := fsRun(t, "sync", "--data", F, "--peer", s.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m")
	took := time.Since(start)
	expectCode(t, r, exitNoSpace, "sync onto a full disk")
	t.Logf("sync said:\n%s", r.stderr)
	if took > 30*time.Second {
		t.Errorf("sync took %s to stop", took)
	}
	need, free := fullMessage(t, r, "sync", F)
	if strings.Contains(r.stderr, "write leaf") || strings.Contains(r.stderr, "level=") {
		t.Errorf("log lines beside the message:\n%s", r.stderr)
	}
	var here int64
	filepath.WalkDir(filepath.Join(F, "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if st, err := d.Info(); err == nil {
				here += st.Size()
			}
		}
		return nil
	})
	// Need is the wanted bytes not here: the project less what arrived
	// (complete blobs, and the verified leaves of partial ones; a batch
	// of small blobs being stored as the sync stopped may still land).
	if here == 0 || !within(need, 1, project-here+(1<<20)) || need < project-(16<<20) {
		t.Errorf("need %d: project %d, %d bytes of complete blobs here", need, project, here)
	}
	// Once sync has exited, what it held is released (an unfinished
	// leaf's unverified bytes, the database's write-ahead log): up to a
	// few MiB more may be free than when it spoke.
	if now := fulldisk.Free(t, mnt); !within(free, 0, 2<<20) || !within(free, now-(3<<20), now+(1<<20)) {
		t.Errorf("said %d free, statfs says %d", free, fulldisk.Free(t, mnt))
	}
	t.Logf("stopped in %s: need %d, free %d, %d bytes of blobs here", took, need, free, here)
	ls := fsRun(t, "ls", "--data", F, "--json")
	if n := strings.Count(ls.stdout, "\n"); n != 70 {
		t.Errorf("ls lists %d observations, want 70 (records arrive first)", n)
	}
	expectCode(t, fsRun(t, "status", "--data", F), exitIncomplete, "status after the full disk")

	// Space freed: the next sync resumes and completes.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	r = fsRun(t, "sync", "--data", F, "--peer", s.addr(t), "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m", "--json")
	expectCode(t, r, 0, "sync after freeing space")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, `"complete":true`) {
		t.Errorf("final progress: %s", last)
	}
	expectCode(t, fsRun(t, "status", "--data", F), 0, "status after the sync")
	expectCode(t, fsRun(t, "verify", "--data", F), 0, "verify after the sync")
}

// TestDiskFullAddCategory: add with a category (or fields) meets a full
// disk as add without one does: exit 7, one message saying how much is
// needed and free, nothing stored. (It once failed with exit 1 and the
// store's raw words, the full disk not recognised on that path.)
func TestDiskFullAddCategory(t *testing.T) {
	mnt := fulldisk.Mount(t, 4<<20)
	A := filepath.Join(mnt, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "full disk"), 0, "init")
	expectCode(t, fsRun(t, "categories", "import", "--data", A, categoryFile), 0, "categories import")
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, fulldisk.Free(t, mnt)-(32<<10)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := fsRun(t, "ls", "--data", A, "--json").stdout
	blobs := blobFiles(t, A)
	for _, args := range [][]string{
		{"add", "--data", A, "--category", "river-crossing", "--field", "depth=1.2", photo},
		{"add", "--data", A, photo}, // the same words without a category
	} {
		r := fsRun(t, args...)
		expectCode(t, r, exitNoSpace, strings.Join(args, " "))
		if !strings.Contains(r.stderr, "the disk holding "+A+" is full: this observation needs about ") ||
			!strings.Contains(r.stderr, "nothing was stored") || strings.Count(r.stderr, "is full") != 1 {
			t.Errorf("%v said:\n%s", args, r.stderr)
		}
	}
	if after := fsRun(t, "ls", "--data", A, "--json").stdout; after != before {
		t.Errorf("an observation was stored:\n%s", after)
	}
	if n := blobFiles(t, A); n != blobs {
		t.Errorf("%d blobs stored", n-blobs)
	}
	// With space again, the same command adds it.
	os.Remove(ballast)
	expectCode(t, fsRun(t, "add", "--data", A, "--category", "river-crossing", "--field", "depth=1.2", photo), 0, "add after freeing space")
}
