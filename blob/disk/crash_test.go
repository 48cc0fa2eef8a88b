package disk_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
)

const crashEnv = "FIELDSYNC_BLOB_CRASH_CHILD"

// TestCrash runs a child process (this test binary, TestCrashChild) that
// writes complete blobs, batches and partial blobs in a loop and reports on
// stdout each thing it knows to be durable (or, for the kept part of an
// unfinished leaf, only kept); the parent SIGKILLs it at a random moment,
// reopens the store and checks that it verifies clean (no visible blob is
// wrong), that every reported leaf, durable leaf part and blob is still
// there, and that what is left of a kept part is the leaf's true bytes.
func TestCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the child")
	}
	iters := 12
	if testing.Short() {
		iters = 6
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for it := 0; it < iters; it++ {
		lines := runChild(t, dir, it, time.Duration(50+rng.IntN(400))*time.Millisecond)
		checkAfterCrash(t, dir, lines)
	}
}

func runChild(t *testing.T, dir string, it int, after time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, "FIELDSYNC_BLOB_CRASH_ITER="+strconv.Itoa(it))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	var timer *time.Timer
	for sc.Scan() {
		line := sc.Text()
		if line == "ready" {
			// Kill it at a random moment of its work.
			timer = time.AfterFunc(after, func() { cmd.Process.Signal(syscall.SIGKILL) })
			continue
		}
		lines = append(lines, line)
	}
	err = cmd.Wait()
	if timer == nil {
		t.Fatalf("child %d never got ready: %v", it, err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child %d ended with %v, not SIGKILL", it, err)
	}
	return lines
}

func checkAfterCrash(t *testing.T, dir string, lines []string) {
	t.Helper()
	d, err := db.Open(filepath.Join(dir, "project.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if left := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(left) != 0 {
		t.Errorf("temp files after reopening: %v", left)
	}
	if err := s.VerifyAll(ctx, func(r blob.FixityReport) error {
		if r.Result != blob.FixityOK && r.Result != blob.FixityOrphan {
			t.Errorf("after a crash: %s %s (%s)", r.CID, r.Result, r.Detail)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	skel := map[cid.Cid]*chunk.Skeleton{}
	datas := map[cid.Cid][]byte{}
	nleaves, nparts, nblobs, nsoon := 0, 0, 0, 0
	for _, line := range lines {
		f := strings.Fields(line)
		c, err := cid.Decode(f[1])
		if err != nil {
			t.Fatalf("child said %q", line)
		}
		switch f[0] {
		case "put", "commit":
			nblobs++
			if _, err := s.Stat(ctx, c); err != nil {
				t.Errorf("blob %s reported stored is gone: %v", c, err)
			}
		case "begin":
			seed, _ := strconv.ParseUint(f[2], 10, 64)
			size, _ := strconv.Atoi(f[3])
			datas[c] = blobtest.Data(seed, size)
			skel[c] = blobtest.SkeletonOf(t, datas[c])
		case "kept":
			// Kept, maybe not yet durable: whatever LeafProgress says
			// now must be the leaf's true leading bytes, which the
			// rest completes into a leaf that verifies.
			i, _ := strconv.Atoi(f[2])
			nparts++
			p, err := s.Begin(ctx, skel[c], blob.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Have(i) {
				l := skel[c].Leaves[i]
				leaf := datas[c][l.Offset:l.End()]
				k := p.LeafProgress(i)
				if done, err := p.WriteLeafPart(ctx, i, k, leaf[k:]); err != nil || !done {
					t.Errorf("%s: the %d bytes kept of leaf %d of %s do not complete: %v %v", line, k, i, c, done, err)
				}
			}
			p.Close()
		case "had", "part", "soon":
			i, _ := strconv.Atoi(f[2])
			n := 0
			switch f[0] {
			case "part":
				n, _ = strconv.Atoi(f[3])
				nparts++
			case "had":
				nleaves++
			case "soon":
				nsoon++
			}
			p, err := s.Begin(ctx, skel[c], blob.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Have(i) && (f[0] == "had" || p.LeafProgress(i) < n) {
				t.Errorf("%s: leaf %d of %s lost (Have %v, LeafProgress %d)", line, i, c, p.Have(i), p.LeafProgress(i))
			}
			// A leaf had after the crash (made durable, or "soon" and
			// made durable before the kill) holds its true bytes.
			if p.Have(i) {
				l := skel[c].Leaves[i]
				if got, err := p.ReadLeaf(ctx, i); err != nil || !bytes.Equal(got, datas[c][l.Offset:l.End()]) {
					t.Errorf("%s: leaf %d of %s had after the crash but reads %d other bytes: %v", line, i, c, len(got), err)
				}
			}
			p.Close()
		}
	}
	t.Logf("child reported %d blobs, %d leaves, %d leaf parts: all kept; %d leaves had before durable", nblobs, nleaves, nparts, nsoon)
}

// TestCrashChild is the child of TestCrash; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestCrash")
	}
	it, _ := strconv.Atoi(os.Getenv("FIELDSYNC_BLOB_CRASH_ITER"))
	d, err := db.Open(filepath.Join(dir, "project.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	say := func(format string, args ...any) {
		io.WriteString(os.Stdout, fmt.Sprintf(format, args...)+"\n")
	}
	// Odd iterations make every kept part and every leaf durable at once
	// (WriteLeafSoon too) and report them as such ("part", "had"); even
	// ones keep the default (durable within partSyncAfter, on Commit or on
	// Close) and report what is only kept ("kept") or had through
	// WriteLeafSoon but maybe not durable yet ("soon"), and such a leaf
	// "had" once a flush made it durable.
	partWord, soonWord := "kept", "soon"
	if it%2 == 1 {
		disk.SetPartSyncAfter(s, 0)
		partWord, soonWord = "part", "had"
	}
	say("ready")
	rng := rand.New(rand.NewPCG(uint64(it), 7))
	for j := 0; ; j++ {
		base := uint64(it)*100000 + uint64(j)*100
		// A complete blob.
		data := blobtest.Data(base, rng.IntN(3*chunk.ChunkSize))
		in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		say("put %s", in.CID)
		// A batch of thumbnails.
		b, _ := s.Batch(ctx)
		var cids []cid.Cid
		for k := 0; k < 10; k++ {
			in, err := b.Put(ctx, bytes.NewReader(blobtest.Data(base+1+uint64(k), 1000+rng.IntN(30000))), blob.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			cids = append(cids, in.CID)
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cids {
			say("put %s", c)
		}
		// A partial blob, leaves in random order, some in parts.
		seed, size := base+50, chunk.ChunkSize+rng.IntN(4*chunk.ChunkSize)
		data = blobtest.Data(seed, size)
		sk := blobtest.SkeletonOf(t, data)
		say("begin %s %d %d", sk.Root, seed, size)
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range rng.Perm(len(sk.Leaves)) {
			l := sk.Leaves[i]
			leaf := data[l.Offset:l.End()]
			switch rng.IntN(3) {
			case 0:
				if err := p.WriteLeaf(ctx, i, leaf); err != nil {
					t.Fatal(err)
				}
				say("had %s %d", sk.Root, i)
				continue
			case 1:
				if err := p.(blob.SoonWriter).WriteLeafSoon(ctx, i, leaf); err != nil {
					t.Fatal(err)
				}
				say("%s %s %d", soonWord, sk.Root, i)
				continue
			}
			for off := 0; off < len(leaf); {
				n := min(len(leaf)-off, 1+rng.IntN(300<<10))
				done, err := p.WriteLeafPart(ctx, i, off, leaf[off:off+n])
				if err != nil {
					t.Fatal(err)
				}
				off += n
				if done {
					say("had %s %d", sk.Root, i)
				} else {
					say("%s %s %d %d", partWord, sk.Root, i, off)
				}
			}
		}
		if soonWord == "soon" && rng.IntN(2) == 0 {
			// Every leaf had is durable once a flush returns.
			if err := disk.FlushSoon(p); err != nil {
				t.Fatal(err)
			}
			for i := range sk.Leaves {
				say("had %s %d", sk.Root, i)
			}
		}
		if rng.IntN(3) > 0 {
			if _, err := p.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			say("commit %s", sk.Root)
		}
		p.Close()
	}
}
