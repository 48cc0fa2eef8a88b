package disk_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/blobtest"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// listFiles returns the regular files under dir, relative to it.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func put(t testing.TB, s blob.Receiver, data []byte) blob.Info {
	t.Helper()
	in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{MediaType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestLayout(t *testing.T) {
	s, _, _ := newStore(t)
	in := put(t, s, []byte("hello world"))
	name := in.CID.String()
	want := filepath.Join(s.Dir(), "blobs", name[len(name)-2:len(name)-1], name[len(name)-3:len(name)-2], name)
	if s.Path(in.CID) != want {
		t.Fatalf("Path %s, want %s", s.Path(in.CID), want)
	}
	b, err := os.ReadFile(want)
	if err != nil || string(b) != "hello world" {
		t.Fatalf("blob file: %q %v", b, err)
	}
	if got := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
}

func TestLocked(t *testing.T) {
	s, dir, d := newStore(t)
	_, err := disk.Open(ctx, s.Dir(), d)
	if !errors.Is(err, disk.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	s.Close()
	s2, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestReopen(t *testing.T) {
	s, dir, d := newStore(t)
	data := blobtest.Data(1, 3*chunk.ChunkSize+5)
	sk := blobtest.SkeletonOf(t, data)
	small := put(t, s, []byte("kept"))
	p, err := s.Begin(ctx, sk, blob.Meta{MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	l := sk.Leaves
	if err := p.WriteLeaf(ctx, 1, data[l[1].Offset:l[1].End()]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteLeafPart(ctx, 2, 0, data[l[2].Offset:l[2].Offset+777]); err != nil {
		t.Fatal(err)
	}
	// No Close of p: as if the process ended.
	s.Close()
	// A stale temp file, as a crash leaves.
	os.WriteFile(filepath.Join(dir, "store", "tmp", "put-123"), []byte("x"), 0o644)

	s, err = disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(got) != 0 {
		t.Fatalf("temp files after Open: %v", got)
	}
	if _, err := s.Stat(ctx, small.CID); err != nil {
		t.Fatal(err)
	}
	ps, _ := s.Partials(ctx)
	if len(ps) != 1 || ps[0] != sk.Root {
		t.Fatalf("Partials %v", ps)
	}
	p, err = s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !slices.Equal(p.Missing(), []int{0, 2, 3}) || p.LeafProgress(2) != 777 {
		t.Fatalf("after reopen: Missing %v, LeafProgress(2) %d", p.Missing(), p.LeafProgress(2))
	}
	if _, err := p.WriteLeafPart(ctx, 2, 777, data[l[2].Offset+777:l[2].End()]); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 3} {
		if err := p.WriteLeaf(ctx, i, data[l[i].Offset:l[i].End()]); err != nil {
			t.Fatal(err)
		}
	}
	in, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.MediaType != "video/mp4" {
		t.Fatalf("media type after resume %q", in.MediaType)
	}
	got, _ := os.ReadFile(s.Path(sk.Root))
	if !bytes.Equal(got, data) {
		t.Fatal("committed file differs")
	}
	if got := listFiles(t, filepath.Join(s.Dir(), "partial")); len(got) != 0 {
		t.Fatalf("partial files after Commit: %v", got)
	}
}

func TestPutDirectoryAndMissingSource(t *testing.T) {
	s, dir, _ := newStore(t)
	_, err := blob.PutFile(ctx, s, dir, blob.Meta{})
	if !errors.Is(err, blob.ErrNotRegular) {
		t.Fatalf("PutFile of a directory: %v", err)
	}
	_, err = blob.PutFile(ctx, s, filepath.Join(dir, "nope.jpg"), blob.Meta{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("PutFile of a missing file: %v", err)
	}
	if os.Getuid() != 0 {
		locked := filepath.Join(dir, "locked.jpg")
		os.WriteFile(locked, []byte("secret"), 0o000)
		if _, err := blob.PutFile(ctx, s, locked, blob.Meta{}); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("PutFile of an unreadable file: %v", err)
		}
	}
	if _, err := os.Stat("/dev/null"); err == nil {
		if _, err := blob.PutFile(ctx, s, "/dev/null", blob.Meta{}); !errors.Is(err, blob.ErrNotRegular) {
			t.Fatalf("PutFile of a device: %v", err)
		}
	}
	// A directory opened as a file: reading fails, nothing stored.
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Put(ctx, f, blob.Meta{}); err == nil || !strings.Contains(err.Error(), "put blob") {
		t.Fatalf("Put reading a directory: %v", err)
	}
	p := filepath.Join(dir, "photo.jpg")
	os.WriteFile(p, blobtest.Data(2, 5000), 0o644)
	in, err := blob.PutFile(ctx, s, p, blob.Meta{MediaType: "image/jpeg"})
	if err != nil || in.Size != 5000 {
		t.Fatalf("PutFile: %+v %v", in, err)
	}
	if got := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
}

func TestPutFileChanging(t *testing.T) {
	s, dir, _ := newStore(t)
	p := filepath.Join(dir, "growing.jpg")
	os.WriteFile(p, blobtest.Data(3, 24*chunk.ChunkSize), 0o644) // more than chunk.Split reads ahead
	// Truncate the source while it is being read: the write hook runs
	// after the first leaf has been read.
	first := true
	disk.SetWriteHook(s, func(string, int64, int) error {
		if first {
			first = false
			os.Truncate(p, chunk.ChunkSize+10)
		}
		return nil
	})
	_, err := blob.PutFile(ctx, s, p, blob.Meta{})
	if !errors.Is(err, blob.ErrSourceChanged) {
		t.Fatalf("PutFile of a file truncated while read: %v", err)
	}
	// And a file appended to while it is read.
	os.WriteFile(p, blobtest.Data(3, 24*chunk.ChunkSize), 0o644)
	first = true
	disk.SetWriteHook(s, func(string, int64, int) error {
		if first {
			first = false
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("more"))
			f.Close()
		}
		return nil
	})
	if _, err := blob.PutFile(ctx, s, p, blob.Meta{}); !errors.Is(err, blob.ErrSourceChanged) {
		t.Fatalf("PutFile of a file appended to while read: %v", err)
	}
	disk.SetWriteHook(s, nil)
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs stored", n)
	}
	if got := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
}

// diskFull fails every write once limit bytes have been written.
func diskFull(limit int64) func(string, int64, int) error {
	var total int64
	return func(_ string, _ int64, n int) error {
		if total+int64(n) > limit {
			return &fs.PathError{Op: "write", Path: "hook", Err: syscall.ENOSPC}
		}
		total += int64(n)
		return nil
	}
}

func TestDiskFull(t *testing.T) {
	s, _, _ := newStore(t)
	data := blobtest.Data(4, 3*chunk.ChunkSize+1)
	for _, limit := range []int64{0, 100, chunk.ChunkSize, 2*chunk.ChunkSize + 5} {
		disk.SetWriteHook(s, diskFull(limit))
		_, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Put on a full disk (%d): %v", limit, err)
		}
		b, err := s.Batch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Put(ctx, bytes.NewReader(data[:limit+1]), blob.Meta{}); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("batch Put on a full disk (%d): %v", limit, err)
		}
		b.Discard()
	}
	// Partial blobs: a leaf that cannot be written is not had.
	sk := blobtest.SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l := sk.Leaves[1]
	if err := p.WriteLeaf(ctx, 1, data[l.Offset:l.End()]); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteLeaf on a full disk: %v", err)
	}
	if _, err := p.WriteLeafPart(ctx, 1, 0, data[l.Offset:l.Offset+10]); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteLeafPart on a full disk: %v", err)
	}
	if p.Have(1) || p.LeafProgress(1) != 0 {
		t.Fatal("a leaf that failed to write is counted")
	}
	disk.SetWriteHook(s, nil)
	if err := p.WriteLeaf(ctx, 1, data[l.Offset:l.End()]); err != nil {
		t.Fatal(err)
	}
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs visible after failed writes", n)
	}
	if got := listFiles(t, filepath.Join(s.Dir(), "tmp")); len(got) != 0 {
		t.Fatalf("temp files left: %v", got)
	}
	// And with space again, the Put works.
	put(t, s, data)
}

// A database that cannot grow (SQLite's SQLITE_FULL, "database or disk is
// full", which SQLite also returns when a write of its own meets ENOSPC;
// here from max_page_count) is a full disk too: the store's errors match
// syscall.ENOSPC, so that callers stop rather than skip or retry.
func TestDatabaseFull(t *testing.T) {
	dir := t.TempDir()
	d := openDB(t, dir)
	d.SetMaxOpenConns(1) // max_page_count is a connection's
	s, err := disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := d.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	full := func(what string, try func(i int) error) {
		t.Helper()
		for i := range 1000 {
			if err := try(i); err != nil {
				if !errors.Is(err, syscall.ENOSPC) || !blob.IsNoSpace(err) {
					t.Fatalf("%s with the database full: %v, want an error matching ENOSPC", what, err)
				}
				return
			}
		}
		t.Fatalf("%s: the database never filled", what)
	}
	full("Put", func(i int) error {
		_, err := s.Put(ctx, bytes.NewReader(blobtest.Data(uint64(100+i), 5000)), blob.Meta{})
		return err
	})
	full("batch Commit", func(i int) error {
		b, _ := s.Batch(ctx)
		for k := range 50 {
			if _, err := b.Put(ctx, bytes.NewReader(blobtest.Data(uint64(10000+50*i+k), 3000)), blob.Meta{}); err != nil {
				b.Discard()
				return err
			}
		}
		return b.Commit(ctx)
	})
	full("Begin", func(i int) error {
		data := blobtest.Data(uint64(90000+i), 2*chunk.ChunkSize+7)
		p, err := s.Begin(ctx, blobtest.SkeletonOf(t, data), blob.Meta{})
		if err == nil {
			p.Close()
		}
		return err
	})
}

func TestBatchPerFileSync(t *testing.T) {
	s, _, _ := newStore(t)
	disk.SetNoSyncFS(s, true)
	b, _ := s.Batch(ctx)
	var infos []blob.Info
	for i := 0; i < 20; i++ {
		in, err := b.Put(ctx, bytes.NewReader(blobtest.Data(uint64(i), 2000)), blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, in)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, in := range infos {
		got, err := blob.ReadAll(ctx, s, in.CID)
		if err != nil || !bytes.Equal(got, blobtest.Data(uint64(i), 2000)) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
}

func TestFixity(t *testing.T) {
	s, _, _ := newStore(t)
	var infos []blob.Info
	datas := map[int][]byte{}
	for i, size := range []int{10, 5000, chunk.ChunkSize + 3, 20, 30} {
		datas[i] = blobtest.Data(uint64(10+i), size)
		infos = append(infos, put(t, s, datas[i]))
	}
	// 0 stays good; 1 gets a flipped byte; 2 is truncated; 3 vanishes;
	// an orphan and a junk file appear.
	flip := func(path string) {
		b, _ := os.ReadFile(path)
		b[len(b)/2] ^= 0x40
		os.WriteFile(path, b, 0o644)
	}
	flip(s.Path(infos[1].CID))
	os.Truncate(s.Path(infos[2].CID), chunk.ChunkSize)
	os.Remove(s.Path(infos[3].CID))
	orphan := blobtest.SkeletonOf(t, []byte("orphan")).Root
	os.MkdirAll(filepath.Dir(s.Path(orphan)), 0o755)
	os.WriteFile(s.Path(orphan), []byte("orphan"), 0o644)
	os.WriteFile(filepath.Join(s.Dir(), "blobs", "junk.txt"), []byte("junk"), 0o644)

	// Fetch refuses a truncated file before any fixity run.
	if _, err := s.Fetch(ctx, infos[2].CID); !errors.Is(err, blob.ErrCorrupt) {
		t.Fatalf("Fetch of a truncated blob: %v", err)
	}
	if _, err := s.Fetch(ctx, infos[3].CID); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Fetch of a vanished blob: %v", err)
	}

	got := map[string]blob.FixityReport{}
	var orphans []blob.FixityReport
	if err := s.VerifyAll(ctx, func(r blob.FixityReport) error {
		if r.Result == blob.FixityOrphan {
			orphans = append(orphans, r)
		} else {
			got[r.CID.String()] = r
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []blob.Fixity{blob.FixityOK, blob.FixityCorrupt, blob.FixityTruncated, blob.FixityMissing, blob.FixityOK}
	for i, in := range infos {
		r := got[in.CID.String()]
		if r.Result != want[i] {
			t.Errorf("blob %d: %s (%s), want %s", i, r.Result, r.Detail, want[i])
		}
		_, err := s.Stat(ctx, in.CID)
		if want[i] == blob.FixityOK {
			if err != nil {
				t.Errorf("blob %d: Stat after fixity: %v", i, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blob %d (%s): still visible: %v", i, want[i], err)
		}
		if want[i] == blob.FixityCorrupt || want[i] == blob.FixityTruncated {
			if _, err := os.Stat(r.Quarantine); err != nil || !strings.Contains(r.Quarantine, "quarantine") {
				t.Errorf("blob %d: quarantine file %q: %v", i, r.Quarantine, err)
			}
		}
	}
	if len(orphans) != 2 {
		t.Fatalf("orphans %+v, want 2", orphans)
	}
	for _, r := range orphans {
		if _, err := os.Stat(r.Path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("orphan %s still in blobs/", r.Path)
		}
	}
	// A second run is clean.
	if err := s.VerifyAll(ctx, func(r blob.FixityReport) error {
		if !r.OK() {
			t.Errorf("second VerifyAll: %+v", r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The quarantined blobs can be stored again.
	for i := 1; i <= 3; i++ {
		sk := blobtest.SkeletonOf(t, datas[i])
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		for j, l := range sk.Leaves {
			if err := p.WriteLeaf(ctx, j, datas[i][l.Offset:l.End()]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
	h, err := s.FixityHistory(ctx, infos[1].CID)
	if err != nil || len(h) != 1 || h[0].Result != blob.FixityCorrupt {
		t.Fatalf("history of the corrupt blob: %+v %v", h, err)
	}
	rep, err := s.Verify(ctx, infos[1].CID)
	if err != nil || rep.Result != blob.FixityOK {
		t.Fatalf("Verify after re-fetch: %+v %v", rep, err)
	}
}

func TestFixityRepairsSkeleton(t *testing.T) {
	s, _, d := newStore(t)
	in := put(t, s, blobtest.Data(20, 2*chunk.ChunkSize+1))
	if _, err := d.Exec(`UPDATE blob_blobs SET skeleton = x'010203' WHERE cid = ?`, in.CID.Bytes()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Skeleton(ctx, in.CID); err == nil {
		t.Fatal("damaged skeleton accepted")
	}
	rep, err := s.Verify(ctx, in.CID)
	if err != nil || rep.Result != blob.FixityOK || rep.Detail == "" {
		t.Fatalf("Verify: %+v %v", rep, err)
	}
	if _, err := s.Skeleton(ctx, in.CID); err != nil {
		t.Fatalf("skeleton after repair: %v", err)
	}
}

func TestLastChecksOrder(t *testing.T) {
	s, _, _ := newStore(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	disk.SetNow(s, func() time.Time { return clock })
	a := put(t, s, []byte("a"))
	b := put(t, s, []byte("b"))
	c := put(t, s, []byte("c"))
	s.Verify(ctx, b.CID)
	clock = clock.Add(24 * time.Hour)
	s.Verify(ctx, a.CID)
	var got []blob.FixityRecord
	s.LastChecks(ctx, time.Time{}, func(r blob.FixityRecord) error { got = append(got, r); return nil })
	if len(got) != 3 || got[0].CID != c.CID || got[1].CID != b.CID || got[2].CID != a.CID {
		t.Fatalf("LastChecks order %+v, want c (never), b, a", got)
	}
	got = got[:0]
	s.LastChecks(ctx, clock, func(r blob.FixityRecord) error { got = append(got, r); return nil })
	if len(got) != 2 || got[1].CID != b.CID || got[1].Result != blob.FixityOK {
		t.Fatalf("LastChecks older than a day: %+v", got)
	}
}

func TestCommitCrashRecovery(t *testing.T) {
	// A crash between Commit's rename and its transaction leaves the whole
	// file in blobs/ and the partial's rows: Begin takes the file back.
	s, dir, d := newStore(t)
	data := blobtest.Data(30, 2*chunk.ChunkSize+9)
	sk := blobtest.SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range sk.Leaves {
		if err := p.WriteLeaf(ctx, i, data[l.Offset:l.End()]); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	s.Close()
	// The crash: the file is in blobs/, the transaction never happened.
	final := s.Path(sk.Root)
	os.MkdirAll(filepath.Dir(final), 0o755)
	if err := os.Rename(filepath.Join(s.Dir(), "partial", sk.Root.String()), final); err != nil {
		t.Fatal(err)
	}
	s, err = disk.Open(ctx, filepath.Join(dir, "store"), d)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Stat(ctx, sk.Root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("half-committed blob visible")
	}
	// Not an orphan to quarantine: its leaves are kept.
	if err := s.VerifyAll(ctx, func(r blob.FixityReport) error {
		return fmt.Errorf("VerifyAll after the crash: %+v", r)
	}); err != nil {
		t.Fatal(err)
	}
	p, err = s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Missing()) != 0 {
		t.Fatalf("Missing %v after taking the file back", p.Missing())
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := blob.ReadAll(ctx, s, sk.Root)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestPrefetch: Prefetch reads the rows of many blobs in a few queries
// into the cache Fetch uses; a CID not stored is not cached, and a blob
// removed after it was prefetched is gone, not served from the cache.
func TestPrefetch(t *testing.T) {
	s, _, _ := newStore(t)
	var cs []cid.Cid
	datas := map[cid.Cid][]byte{}
	for i := range 150 { // more than one query's worth
		data := []byte(fmt.Sprintf("blob %d", i))
		in := put(t, s, data)
		cs = append(cs, in.CID)
		datas[in.CID] = data
	}
	absent := put(t, s, []byte("removed before the prefetch")).CID
	if err := s.Remove(ctx, absent); err != nil {
		t.Fatal(err)
	}
	s.Prefetch(ctx, append([]cid.Cid{absent}, cs...))
	if disk.Cached(s, absent) {
		t.Fatal("a blob not stored was cached")
	}
	for _, c := range cs {
		if !disk.Cached(s, c) {
			t.Fatalf("%s not cached", c)
		}
		checkStored(t, s, c, datas[c])
	}
	if err := s.Remove(ctx, cs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, cs[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("fetch after remove: %v, want fs.ErrNotExist", err)
	}
	s.Prefetch(ctx, nil) // nothing to look up
}
