package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/project"
)

// fullStore is a store on a disk that fills up: once budget bytes have
// been written, every write fails with ENOSPC (its input's reads fail as
// blob/disk's TestDiskFull makes its writes fail with the write hook, and
// the store wraps the error). It notes the files whose originals it was
// asked to store.
type fullStore struct {
	*mem.Store
	mu      sync.Mutex
	budget  int64
	written int64
	tried   []string
}

func (s *fullStore) reader(r io.Reader) io.Reader {
	if f, ok := r.(*os.File); ok {
		s.mu.Lock()
		s.tried = append(s.tried, filepath.Base(f.Name()))
		s.mu.Unlock()
	}
	return &fullReader{s: s, r: r}
}

type fullReader struct {
	s *fullStore
	r io.Reader
}

func (r *fullReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.s.written+int64(n) > r.s.budget {
		return 0, &fs.PathError{Op: "write", Path: "tmp/put-1", Err: syscall.ENOSPC}
	}
	r.s.written += int64(n)
	return n, err
}

func (s *fullStore) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	return s.Store.Put(ctx, s.reader(r), meta)
}

func (s *fullStore) Batch(ctx context.Context) (blob.Batch, error) {
	b, err := s.Store.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &fullBatch{Batch: b, s: s}, nil
}

type fullBatch struct {
	blob.Batch
	s *fullStore
}

func (b *fullBatch) Put(ctx context.Context, r io.Reader, meta blob.Meta) (blob.Info, error) {
	return b.Batch.Put(ctx, b.s.reader(r), meta)
}

func countBlobs(t *testing.T, s blob.Enumerator) int {
	n := 0
	if err := s.Enumerate(ctx, func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A full disk stops Dir at the first file that does not fit: the groups
// before it stay, its group is discarded, no later file is tried, and the
// error says how much the rest needs.
func TestDirDiskFull(t *testing.T) {
	dir := t.TempDir()
	const size = 40 << 10
	var names []string
	for i := range 10 {
		b := make([]byte, size)
		rand.Read(b)
		name := fmt.Sprintf("f%02d.bin", i)
		names = append(names, name)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := newProject(t, "p")
	store := &fullStore{Store: mem.New(), budget: 4*size + 1000} // f04 does not fit
	var calls []Progress
	rep, err := Dir(ctx, p, dir, Options{Store: store, GroupSize: 2}, func(pr Progress) { calls = append(calls, pr) })
	var ne *NoSpaceError
	if !errors.As(err, &ne) || !errors.Is(err, syscall.ENOSPC) || !blob.IsNoSpace(err) {
		t.Fatalf("Dir on a full disk: %v (report %+v)", err, rep)
	}
	if rep == nil || len(rep.Records) != 4 || len(rep.Skipped) != 0 {
		t.Fatalf("report: %d records, skipped %v", len(rep.Records), rep.Skipped)
	}
	var left []string
	for _, path := range rep.NotImported {
		left = append(left, filepath.Base(path))
	}
	if !slices.Equal(left, names[4:]) {
		t.Errorf("not imported %v, want %v", left, names[4:])
	}
	if ne.Need != 6*size {
		t.Errorf("need %d, want %d (six files, no variants)", ne.Need, 6*size)
	}
	if !slices.Equal(store.tried, names[:5]) {
		t.Errorf("tried %v: no file after the one that did not fit should be", store.tried)
	}
	if n := countBlobs(t, store); n != 4 {
		t.Errorf("%d blobs stored, want the 4 imported (f04's group discarded)", n)
	}
	if obs, _ := p.Observations(ctx, project.ObservationQuery{}); len(obs) != 4 {
		t.Errorf("%d observations, want 4", len(obs))
	}
	if len(calls) != 4 {
		t.Errorf("%d progress calls, want 4 (one per file imported)", len(calls))
	}

	// Photos: the need counts the variants, those made for the group that
	// stopped and, for the files after it, as many in proportion.
	dir = t.TempDir()
	src := synth.JPEG(1600, 1200, 1, 90, synth.Meta{}) // variants about a tenth of it
	for i := range 6 {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.jpg", i)), src, 0o644)
	}
	store = &fullStore{Store: mem.New(), budget: 3 * int64(len(src))} // one group of two and its variants fit
	rep, err = Dir(ctx, newProject(t, "q"), dir, Options{Store: store, GroupSize: 2}, nil)
	if !errors.As(err, &ne) {
		t.Fatalf("Dir of photos on a full disk: %v", err)
	}
	originals := int64(len(rep.NotImported) * len(src))
	t.Logf("photos: %d imported, %d not, need %d for %d bytes of originals", len(rep.Records), len(rep.NotImported), ne.Need, originals)
	if len(rep.Records) != 2 || len(rep.NotImported) != 4 || ne.Need <= originals || ne.Need > 2*originals {
		t.Errorf("%d imported, %d not, need %d for %d bytes of originals", len(rep.Records), len(rep.NotImported), ne.Need, originals)
	}
}

// Files (add) on a full disk stores nothing and says how much it needs.
func TestFilesDiskFull(t *testing.T) {
	p := newProject(t, "p")
	store := &fullStore{Store: mem.New(), budget: 100}
	files := []string{filepath.Join(photos, "gps.jpg"), filepath.Join(photos, "orient-6.jpg")}
	var sum int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		sum += st.Size()
	}
	_, err := Files(ctx, p, files, Options{Store: store})
	var ne *NoSpaceError
	if !errors.As(err, &ne) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Files on a full disk: %v", err)
	}
	if ne.Need <= sum || ne.Need > 4*sum { // these small photos' variants weigh more than they do
		t.Errorf("need %d for %d bytes of originals (and their variants)", ne.Need, sum)
	}
	if len(store.tried) != 1 {
		t.Errorf("tried %v: the second file should not be", store.tried)
	}
	if n := countBlobs(t, store); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
	if p.Vector()[p.Self().PeerID()] != 1 { // the project's creation only
		t.Errorf("a record was written: vector %v", p.Vector())
	}
}
