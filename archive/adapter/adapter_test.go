package adapter_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/archive/adapter"
	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

var ctx = context.Background()

type device struct {
	id    *project.Identity
	p     *project.Project
	a     *adapter.Project
	store *disk.Store
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func openStore(t *testing.T, d *sql.DB) *disk.Store {
	t.Helper()
	s, err := disk.Open(ctx, filepath.Join(t.TempDir(), "blobs"), d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *disk.Store, data []byte, typ string) *project.Variant {
	t.Helper()
	in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{MediaType: typ})
	if err != nil {
		t.Fatal(err)
	}
	return &project.Variant{CID: in.CID, Size: in.Size}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// twoDevices returns a creator device with two observations (a photo of
// 1.5 MiB with its variants, and an audio file) and a member device that
// has joined but holds nothing else.
func twoDevices(t *testing.T) (*device, *device) {
	t.Helper()
	d := openDB(t)
	idA, _ := project.NewIdentity()
	pa, err := project.Create(ctx, d, idA, "Riverbank survey")
	if err != nil {
		t.Fatal(err)
	}
	a := &device{id: idA, p: pa, a: adapter.New(pa), store: openStore(t, d)}
	when := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	_, err = pa.AddObservation(ctx, project.Observation{Created: when, Position: &project.Position{Lat: -3.46, Lon: -62.21, Accuracy: 5},
		Tags: []string{"river"}, Notes: "bank erosion", Attachments: []project.Attachment{{
			Kind: project.AttachPhoto, MediaType: "image/jpeg", Name: "IMG_0001.JPG",
			Original:  put(t, a.store, pattern(1536*1024, 1), "image/jpeg"),
			Preview:   put(t, a.store, pattern(90*1024, 2), "image/jpeg"),
			Thumbnail: put(t, a.store, pattern(9*1024, 3), "image/jpeg"),
		}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = pa.AddObservation(ctx, project.Observation{Created: when.Add(time.Hour), Attachments: []project.Attachment{{
		Kind: project.AttachAudio, MediaType: "audio/mp4", Name: "call.m4a",
		Original: put(t, a.store, pattern(4000, 4), "audio/mp4"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	idB, _ := project.NewIdentity()
	grant, err := pa.SetRole(ctx, idB.PeerID(), project.RoleMember)
	if err != nil {
		t.Fatal(err)
	}
	db2 := openDB(t)
	pb, err := project.Join(ctx, db2, idB, &project.Welcome{Genesis: pa.Genesis().Block, Members: [][]byte{grant.Block}})
	if err != nil {
		t.Fatal(err)
	}
	b := &device{id: idB, p: pb, a: adapter.New(pb), store: openStore(t, db2)}
	return a, b
}

func sameBlobs(t *testing.T, a, b *device, classes archive.ClassSet) int {
	t.Helper()
	refs, err := a.a.Blobs(ctx, classes.History())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range refs {
		if !classes.Has(r.Class) {
			continue
		}
		x, _ := blob.ReadAll(ctx, a.store, r.CID)
		y, err := blob.ReadAll(ctx, b.store, r.CID)
		if err != nil || !bytes.Equal(x, y) {
			t.Fatalf("blob %s (%s): %v", r.CID, r.Class, err)
		}
		n++
	}
	return n
}

func TestCARRoundTrip(t *testing.T) {
	a, b := twoDevices(t)
	var buf bytes.Buffer
	xrep, err := archive.Export(ctx, &buf, a.a, a.store, archive.ExportOptions{Key: a.id.PrivKey()})
	if err != nil {
		t.Fatal(err)
	}
	if xrep.Blobs != 4 || len(xrep.Unavailable) != 0 {
		t.Fatalf("export: %+v", xrep)
	}
	rep, err := archive.Import(ctx, bytes.NewReader(buf.Bytes()), b.a, b.store, archive.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 0 || rep.Count(archive.BlobNew) != 4 {
		t.Fatalf("import: %+v", rep)
	}
	if !b.p.Vector().Covers(a.p.Vector()) || !a.p.Vector().Covers(b.p.Vector()) {
		t.Fatalf("vectors differ: %v %v", a.p.Vector(), b.p.Vector())
	}
	sameBlobs(t, a, b, archive.AllBlobs)
	obs, _ := b.p.Observations(ctx, project.ObservationQuery{})
	if len(obs) != 2 {
		t.Fatalf("%d observations", len(obs))
	}
}

func TestBundleRoundTrip(t *testing.T) {
	a, b := twoDevices(t)
	// A replaces the photo's thumbnail: the old one belongs to history.
	obs, err := a.p.Observations(ctx, project.ObservationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range obs {
		if len(o.Attachments) > 0 && o.Attachments[0].Thumbnail != nil {
			o.Attachments[0].Thumbnail = put(t, a.store, pattern(7*1024, 9), "image/jpeg")
			if _, err := a.p.UpdateObservation(ctx, o.Observation); err != nil {
				t.Fatal(err)
			}
		}
	}
	// B is a field device: it wants thumbnails and previews.
	if err := b.p.SetFilter(ctx, b.id.PeerID(), project.Field); err != nil {
		t.Fatal(err)
	}
	st, err := b.a.State(ctx, b.store)
	if err != nil {
		t.Fatal(err)
	}
	if st.Wants != archive.FieldSet {
		t.Fatalf("wants %b", st.Wants)
	}
	enc, _ := st.MarshalBinary()
	st, err = archive.ParseState(enc)
	if err != nil {
		t.Fatal(err)
	}
	var parts []*bytes.Buffer
	create := func(n int) (io.WriteCloser, error) {
		parts = append(parts, &bytes.Buffer{})
		return nopCloser{parts[len(parts)-1]}, nil
	}
	if _, err := archive.ExportFor(ctx, create, st, a.a, a.store, archive.ExportOptions{Key: a.id.PrivKey()}); err != nil {
		t.Fatal(err)
	}
	rep, err := archive.ImportBundle(ctx, bytes.NewReader(parts[0].Bytes()), b.a, b.store, archive.ImportOptions{})
	if err != nil || len(rep.Refused) != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	// The current thumbnail and preview, not the replaced thumbnail.
	if n := sameBlobs(t, a, b, archive.FieldSet); n != 2 {
		t.Fatalf("%d field blobs", n)
	}
	if ok, _ := blob.Has(ctx, b.store, mustOriginal(t, a)); ok {
		t.Fatal("field device got an original")
	}

	// A full bundle: the field device keeps what its filter wants and
	// refuses the originals.
	parts = nil
	if _, err := archive.ExportAll(ctx, create, a.a, a.store, archive.ExportOptions{Key: a.id.PrivKey()}); err != nil {
		t.Fatal(err)
	}
	rep, err = archive.ImportBundle(ctx, bytes.NewReader(parts[0].Bytes()), b.a, b.store, archive.ImportOptions{})
	if err != nil || rep.Count(archive.BlobNew) != 0 || rep.RecordsNew != 0 || rep.RecordsKnown == 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	for _, r := range rep.Refused {
		if r.Reason != archive.ReasonNotWanted {
			t.Fatalf("refused %v", r)
		}
	}
	if len(rep.Refused) == 0 {
		t.Fatal("originals not refused")
	}
	if ok, _ := blob.Has(ctx, b.store, mustOriginal(t, a)); ok {
		t.Fatal("field device stored an original")
	}

	// A bundle signed by a device outside the project is refused.
	outsider, _ := project.NewIdentity()
	parts = nil
	if _, err := archive.ExportAll(ctx, create, a.a, a.store, archive.ExportOptions{Key: outsider.PrivKey()}); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.ImportBundle(ctx, bytes.NewReader(parts[0].Bytes()), b.a, b.store, archive.ImportOptions{}); err == nil {
		t.Fatal("outsider's bundle imported")
	}
}

func mustOriginal(t *testing.T, a *device) cid.Cid {
	t.Helper()
	refs, _ := a.a.Blobs(ctx, true)
	for _, r := range refs {
		if r.Class == blob.ClassOriginal {
			return r.CID
		}
	}
	t.Fatal("no original")
	return cid.Undef
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func TestBag(t *testing.T) {
	a, _ := twoDevices(t)
	dir := filepath.Join(t.TempDir(), "bag")
	rep, err := archive.ExportBag(ctx, dir, a.a, a.store, archive.BagOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Observations != 2 || rep.Located != 1 || rep.Originals != 2 {
		t.Fatalf("%+v", rep)
	}
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	for _, m := range []string{"manifest-sha256.txt", "tagmanifest-sha256.txt"} {
		cmd := exec.Command("sha256sum", "--strict", "-c", m)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", m, err, out)
		}
	}
}

// TestTruncatedBundleDisk cuts a bundle inside the photo original's second
// leaf: on the disk store the first leaf is kept in a partial blob, and the
// whole bundle then completes it.
func TestTruncatedBundleDisk(t *testing.T) {
	a, b := twoDevices(t)
	var parts []*bytes.Buffer
	create := func(n int) (io.WriteCloser, error) {
		parts = append(parts, &bytes.Buffer{})
		return nopCloser{parts[len(parts)-1]}, nil
	}
	if _, err := archive.ExportAll(ctx, create, a.a, a.store, archive.ExportOptions{Key: a.id.PrivKey()}); err != nil {
		t.Fatal(err)
	}
	full := parts[0].Bytes()
	orig := mustOriginal(t, a)
	data, _ := blob.ReadAll(ctx, a.store, orig)
	at := bytes.Index(full, data[1<<20:])
	if at < 0 {
		t.Fatal("second leaf not found")
	}
	rep, err := archive.ImportBundle(ctx, bytes.NewReader(full[:at+1000]), b.a, b.store, archive.ImportOptions{})
	if err != nil || !rep.Truncated || len(rep.Refused) != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	var got archive.BlobResult
	for _, r := range rep.Blobs {
		if r.CID == orig {
			got = r
		}
	}
	if got.Status != archive.BlobPartial || got.Have != 1 || got.Leaves != 2 {
		t.Fatalf("original: %+v", got)
	}
	ps, _ := b.store.Partials(ctx)
	if len(ps) != 1 || ps[0] != orig {
		t.Fatalf("partials %v", ps)
	}
	rep, err = archive.ImportBundle(ctx, bytes.NewReader(full), b.a, b.store, archive.ImportOptions{})
	if err != nil || len(rep.Refused) != 0 {
		t.Fatalf("%v %+v", err, rep)
	}
	sameBlobs(t, a, b, archive.AllBlobs)
}

// heapPeak samples the live heap as bytes pass through.
type heapPeak struct {
	base, peak uint64
	n          int64
}

func (h *heapPeak) sample(n int) {
	h.n += int64(n)
	if h.n < 1<<20 {
		return
	}
	h.n = 0
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > h.base && m.HeapAlloc-h.base > h.peak {
		h.peak = m.HeapAlloc - h.base
	}
}

func newHeapPeak() *heapPeak {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &heapPeak{base: m.HeapAlloc}
}

type peakWriter struct {
	w io.Writer
	h *heapPeak
}

func (p peakWriter) Write(b []byte) (int, error) { p.h.sample(len(b)); return p.w.Write(b) }

type peakReader struct {
	r io.Reader
	h *heapPeak
}

func (p peakReader) Read(b []byte) (int, error) { n, err := p.r.Read(b); p.h.sample(n); return n, err }

// TestMemoryBounded exports and imports a large original through files:
// the heap never holds anything near the whole blob.
func TestMemoryBounded(t *testing.T) {
	size := 160 << 20
	if testing.Short() {
		size = 48 << 20
	}
	a, b := twoDevices(t)
	big := put(t, a.store, pattern(size, 7), "video/mp4")
	if _, err := a.p.AddObservation(ctx, project.Observation{Attachments: []project.Attachment{{Kind: project.AttachVideo, MediaType: "video/mp4", Name: "v.mp4", Original: big}}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.car")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newHeapPeak()
	if _, err := archive.Export(ctx, peakWriter{f, h}, a.a, a.store, archive.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Logf("export of a %d MiB blob: heap grew by at most %.1f MiB", size>>20, float64(h.peak)/(1<<20))
	if h.peak > uint64(size)/4 {
		t.Fatalf("export held %d MiB for a %d MiB blob", h.peak>>20, size>>20)
	}
	f, _ = os.Open(path)
	defer f.Close()
	h = newHeapPeak()
	rep, err := archive.Import(ctx, peakReader{f, h}, b.a, b.store, archive.ImportOptions{})
	if err != nil || rep.Count(archive.BlobNew) != 5 {
		t.Fatalf("%v %v", err, rep)
	}
	t.Logf("import of a %d MiB blob: heap grew by at most %.1f MiB", size>>20, float64(h.peak)/(1<<20))
	if h.peak > uint64(size)/4 {
		t.Fatalf("import held %d MiB for a %d MiB blob", h.peak>>20, size>>20)
	}
}
