package exchange

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// leafLogStore records every leaf made durable (and any write of a leaf
// already had) in an append-only file that survives SIGKILL.
type leafLogStore struct {
	blob.Store
	mu  sync.Mutex
	log *os.File
	// soon and durable count the leaves written with WriteLeafSoon and
	// with WriteLeaf.
	soon, durable atomic.Int64
}

func (s *leafLogStore) note(format string, args ...any) {
	s.mu.Lock()
	fmt.Fprintf(s.log, format+"\n", args...)
	s.mu.Unlock()
}

func (s *leafLogStore) Begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	p, err := s.Store.Begin(ctx, sk, meta)
	if err != nil {
		return nil, err
	}
	return &leafLogPartial{Partial: p, s: s}, nil
}

type leafLogPartial struct {
	blob.Partial
	s *leafLogStore
}

func (p *leafLogPartial) WriteLeaf(ctx context.Context, i int, data []byte) error {
	p.s.durable.Add(1)
	return p.write(i, func() error { return p.Partial.WriteLeaf(ctx, i, data) })
}

func (p *leafLogPartial) WriteLeafSoon(ctx context.Context, i int, data []byte) error {
	p.s.soon.Add(1)
	return p.write(i, func() error { return p.Partial.(blob.SoonWriter).WriteLeafSoon(ctx, i, data) })
}

// write logs a whole leaf written by w, and one written again.
func (p *leafLogPartial) write(i int, w func() error) error {
	if p.Have(i) {
		p.s.note("REFETCH %s %d", p.Skeleton().Root, i)
	}
	err := w()
	if err == nil {
		p.s.note("leaf %s %d", p.Skeleton().Root, i)
	}
	return err
}

func (p *leafLogPartial) WriteLeafPart(ctx context.Context, i, off int, data []byte) (bool, error) {
	if p.Have(i) {
		p.s.note("REFETCH %s %d", p.Skeleton().Root, i)
	}
	done, err := p.Partial.WriteLeafPart(ctx, i, off, data)
	if done {
		p.s.note("leaf %s %d", p.Skeleton().Root, i)
	}
	return done, err
}

func openDisk(t testing.TB, dir string) blob.Store {
	d, err := db.Open(filepath.Join(dir, "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := disk.Open(context.Background(), filepath.Join(dir, "blobs"), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); d.Close() })
	return s
}

// TestCrashChild is the receiver of TestCrashResume, run in a child
// process; it does nothing in a normal test run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("EXCHANGE_CRASH_DIR")
	if dir == "" {
		t.Skip("child of TestCrashResume")
	}
	kb, _ := hex.DecodeString(os.Getenv("EXCHANGE_CRASH_KEY"))
	k, err := crypto.UnmarshalPrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	src, err := peer.Decode(os.Getenv("EXCHANGE_CRASH_SRC"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "leaves.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	store := &leafLogStore{Store: openDisk(t, dir), log: f}
	r := newRoster()
	r.set(src, RoleMember)
	p := startPeer(t, k, r, FilterArchive, store)
	connectVia(t, p, &tpeer{id: src}, os.Getenv("EXCHANGE_CRASH_ADDR"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.n.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	s := p.n.Progress()
	fmt.Printf("DONE leaves=%d refetched=%d\n", s.LeavesFetched, s.Refetched)
}

// TestCrashResume: the receiver is SIGKILLed at random moments, at least
// five times, and restarted; it completes, its store verifies clean, and no
// leaf is made durable twice.
func TestCrashResume(t *testing.T) {
	if os.Getenv("EXCHANGE_CRASH_DIR") != "" {
		t.Skip("in the child")
	}
	kills := 5
	if !testing.Short() {
		kills = 8
	}
	r := newRoster()
	src := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, src.store, src.proj, src.id, 3, photoSizes{20 << 10, 100 << 10, 5<<20 + 100}, time.Now())
	k, id := newKey(t)
	r.set(id, RoleMember)
	kb, _ := crypto.MarshalPrivateKey(k)
	addr, px := proxyTo(t, src)
	addToxic(t, px, `{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":1500}}`)
	dir := t.TempDir()
	exe, _ := os.Executable()
	run := func(kill time.Duration) (string, error) {
		cmd := exec.Command(exe, "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "EXCHANGE_CRASH_DIR="+dir, "EXCHANGE_CRASH_KEY="+hex.EncodeToString(kb),
			"EXCHANGE_CRASH_SRC="+src.id.String(), "EXCHANGE_CRASH_ADDR="+addr)
		out, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var lines []string
		done := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			close(done)
		}()
		if kill > 0 {
			time.Sleep(kill)
			cmd.Process.Signal(syscall.SIGKILL)
		}
		<-done
		err := cmd.Wait()
		return strings.Join(lines, "\n"), err
	}
	killed := 0
	for i := 0; i < kills; i++ {
		d := time.Duration(500+mrand.IntN(1000)) * time.Millisecond
		out, err := run(d)
		if err == nil {
			t.Logf("run %d finished before the kill at %v:\n%s", i, d, out)
			break
		}
		killed++
		t.Logf("run %d killed after %v", i, d)
	}
	if killed < 5 {
		t.Errorf("only %d kills landed", killed)
	}
	out, err := run(0)
	if err != nil || !strings.Contains(out, "DONE") {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	t.Log(out[strings.Index(out, "DONE"):])
	if !strings.Contains(out, "refetched=0") {
		t.Error("leaves refetched")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "leaves.log"))
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		if strings.HasPrefix(l, "REFETCH") {
			t.Errorf("verified leaf written again: %s", l)
		}
		if seen[l] {
			t.Errorf("leaf made durable twice: %s", l)
		}
		seen[l] = true
	}
	t.Logf("%d leaves made durable over all runs", len(seen))
	store := openDisk(t, dir)
	for _, ph := range ps {
		checkHas(t, store, ph.blobs()...)
	}
	if v, ok := store.(blob.Verifier); ok {
		for _, ph := range ps {
			for _, b := range ph.blobs() {
				c, _ := cid.Decode(b.CID)
				if rep, err := v.Verify(context.Background(), c); err != nil || !rep.OK() {
					t.Errorf("fixity %s: %+v %v", c, rep, err)
				}
			}
		}
	}
}

// TestFastLeavesSoon: from a peer that brings a leaf in within
// wholeWithin (here, over loopback), the leaves of a partial blob are
// written with WriteLeafSoon, made durable many to an fsync; from a slow
// one (TestCrashResume, 1.5 MB/s) with WriteLeaf, each durable before it
// counts, so that no SIGKILL loses one.
func TestFastLeavesSoon(t *testing.T) {
	r := newRoster()
	src := newPeer(t, r, FilterArchive)
	ps := addPhotos(t, src.store, src.proj, src.id, 2, photoSizes{20 << 10, 100 << 10, 12<<20 + 100}, time.Now())
	k, id := newKey(t)
	r.set(id, RoleMember)
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "leaves.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	store := &leafLogStore{Store: openDisk(t, dir), log: f}
	dst := startPeerWith(t, k, r, FilterArchive, store, src.proj)
	connect(t, dst, src)
	syncWithin(t, 60*time.Second, dst)
	for _, ph := range ps {
		checkHas(t, store, ph.blobs()...)
	}
	soon, durable := store.soon.Load(), store.durable.Load()
	t.Logf("leaves written soon: %d, durable at once: %d", soon, durable)
	if soon == 0 || soon < durable {
		t.Fatalf("over loopback %d leaves were written soon and %d durable at once", soon, durable)
	}
}
