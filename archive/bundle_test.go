package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// memParts collects bundle parts in memory.
type memParts struct{ parts []*bytes.Buffer }

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

func (m *memParts) create(n int) (io.WriteCloser, error) {
	b := &bytes.Buffer{}
	m.parts = append(m.parts, b)
	return nopCloser{b}, nil
}

func bundleAll(t *testing.T, w *world, opts ExportOptions) (*memParts, *ExportReport) {
	t.Helper()
	m := &memParts{}
	rep, err := ExportAll(context.Background(), m.create, w.proj, w.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, rep
}

// rankRecord is a record's place in a bundle's order: before every blob
// class (blob.ClassSkeleton is 0).
const rankRecord blob.Class = -1

// classOrder returns the class of each block of a bundle, in order
// (rankRecord for records).
func classOrder(t *testing.T, w *world, b []byte) []blob.Class {
	t.Helper()
	ctx := context.Background()
	classOf := map[cid.Cid]blob.Class{}
	for _, r := range w.proj.order {
		classOf[r.CID] = rankRecord
	}
	for c, r := range w.proj.refs {
		sk, _ := w.store.Skeleton(ctx, c)
		for _, n := range sk.Nodes {
			classOf[n.CID] = blob.ClassSkeleton
		}
		for _, l := range sk.Leaves {
			if _, ok := classOf[l.CID]; !ok {
				classOf[l.CID] = r.Class
			}
		}
	}
	cr, err := newCARReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var out []blob.Class
	for first := true; ; first = false {
		s, err := cr.next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if first {
			continue // the manifest
		}
		out = append(out, classOf[s.CID])
	}
}

func TestBundleAll(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	m, rep := bundleAll(t, w, ExportOptions{Key: w.member})
	if len(m.parts) != 1 || len(rep.Roots) != 1 {
		t.Fatalf("%d parts, roots %v", len(m.parts), rep.Roots)
	}
	b := m.parts[0].Bytes()
	readWithGoCAR(t, b)
	order := classOrder(t, w, b)
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("block %d is a %s after a %s", i, order[i], order[i-1])
		}
	}
	dst, dstStore := w.fresh()
	irep, err := ImportBundle(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if err != nil || len(irep.Refused) != 0 {
		t.Fatalf("%v %s", err, refused(irep))
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
}

// TestBundleFor makes a field device (thumbnails and previews) from a
// bundle for its state, then a second bundle for its new state, which must
// hold nothing but the manifest.
func TestBundleFor(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dst, dstStore := w.fresh()
	st := NewState(w.proj.id, "", nil, FieldSet)
	m := &memParts{}
	// Only a member's signed state gets a bundle.
	if _, err := ExportFor(ctx, m.create, st, w.proj, w.store, ExportOptions{Key: w.creator}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("unsigned state: %v", err)
	}
	st.Sign(w.outsider)
	if _, err := ExportFor(ctx, m.create, st, w.proj, w.store, ExportOptions{Key: w.creator}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("outsider's state: %v", err)
	}
	st.Sign(w.member)
	st.Wants = AllBlobs // changed after signing
	if _, err := ExportFor(ctx, m.create, st, w.proj, w.store, ExportOptions{Key: w.creator}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("altered state: %v", err)
	}
	st.Wants = FieldSet
	if len(m.parts) != 0 {
		t.Fatal("parts written for a refused state")
	}
	rep, err := ExportFor(ctx, m.create, st, w.proj, w.store, ExportOptions{Key: w.creator})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != len(w.proj.order) || rep.Blobs != 6 {
		t.Fatalf("export %+v", rep)
	}
	irep, err := ImportBundle(ctx, bytes.NewReader(m.parts[0].Bytes()), dst, dstStore, ImportOptions{})
	if err != nil || len(irep.Refused) != 0 || irep.Count(BlobNew) != 6 {
		t.Fatalf("%v %s %+v", err, refused(irep), irep.Blobs)
	}
	sameProject(t, w.proj, w.store, dst, dstStore, FieldSet)

	// The state file round-trips; a bundle for it is empty.
	st, err = StateOf(ctx, dst, pid(w.member), dstStore, FieldSet)
	if err != nil {
		t.Fatal(err)
	}
	st.Sign(w.member)
	enc, _ := st.MarshalBinary()
	st2, err := ParseState(enc)
	if err != nil {
		t.Fatal(err)
	}
	m = &memParts{}
	rep, err = ExportFor(ctx, m.create, st2, w.proj, w.store, ExportOptions{Key: w.creator})
	if err != nil || rep.Records != 0 || rep.Blobs != 0 || rep.Parts[0].Blocks != 1 {
		t.Fatalf("%v %+v", err, rep)
	}

	// New data on the source: the next bundle for the same state holds
	// exactly the new record and its field variants.
	w.audio(w.member, "obs-late-5", w.proj.obs[0].Created, "late.m4a")
	st3 := NewState(w.proj.id, "", st2.Vector, AllBlobs)
	for _, c := range st2.Blobs() {
		st3.AddBlob(c)
	}
	st3.Sign(w.member)
	m = &memParts{}
	rep, err = ExportFor(ctx, m.create, st3, w.proj, w.store, ExportOptions{Key: w.creator})
	if err != nil || rep.Records != 1 {
		t.Fatalf("%v %+v", err, rep)
	}
	// What the field device lacks: three photo originals, the audio and
	// the empty file (the new observation's attachments have the same
	// bytes, hence the same CIDs, as the first audio observation's).
	if rep.Blobs != 5 {
		t.Fatalf("%d blobs", rep.Blobs)
	}

	// A state of another project is refused.
	other := NewState(cid.NewCidV1(cid.Raw, st.Project.Hash()), "", nil, 0)
	if _, err := ExportFor(ctx, m.create, other, w.proj, w.store, ExportOptions{Key: w.creator}); !errors.Is(err, ErrOtherProject) {
		t.Fatalf("%v", err)
	}
}

// TestBundleTruncated cuts a bundle at every block boundary and a few
// bytes into the next: records come first, then skeletons, thumbnails,
// previews, originals; whatever got through imports, leaves as partials.
func TestBundleTruncated(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	m, _ := bundleAll(t, w, ExportOptions{Key: w.member})
	b := m.parts[0].Bytes()
	cr, _ := newCARReader(bytes.NewReader(b))
	hdr := len(b) - mustRest(t, cr)
	var cuts []int
	for {
		s, err := cr.next()
		if err != nil {
			break
		}
		cuts = append(cuts, hdr+int(s.Offset)+7)
	}
	// A cut inside the manifest leaves nothing to trust (ErrNoManifest).
	if _, err := ImportBundle(ctx, bytes.NewReader(b[:cuts[0]]), w.proj, w.store, ImportOptions{}); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("cut in the manifest: %v", err)
	}
	cuts = cuts[1:]
	if testing.Short() {
		cuts = []int{cuts[2], cuts[len(w.proj.order)+1], cuts[len(cuts)-3], cuts[len(cuts)-1]}
	}
	for _, cut := range cuts {
		// A member device: it knows the genesis and the bundle signer's
		// membership.
		dst, dstStore := w.fresh()
		dst.Apply(ctx, w.proj.order[:2])
		rep, err := ImportBundle(ctx, bytes.NewReader(b[:cut]), dst, dstStore, ImportOptions{})
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !rep.Truncated || len(rep.Refused) != 0 {
			t.Fatalf("cut %d: %+v %s", cut, rep, refused(rep))
		}
		// Every complete blob is a thumbnail before any preview, etc.
		for _, r := range rep.Blobs {
			if r.Status == BlobNew {
				if ok, _ := blob.Has(ctx, dstStore, r.CID); !ok {
					t.Fatalf("cut %d: %s new but not stored", cut, r.CID)
				}
			}
		}
		rep, err = ImportBundle(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
		if err != nil || len(rep.Refused) != 0 {
			t.Fatalf("cut %d then whole: %v %s", cut, err, refused(rep))
		}
		sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
	}
}

// mustRest returns how many bytes follow the header of the reader's input
// (the reader must be fresh).
func mustRest(t *testing.T, cr *carReader) int {
	t.Helper()
	rest, err := io.ReadAll(cr.r)
	if err != nil {
		t.Fatal(err)
	}
	cr.r.Reset(bytes.NewReader(rest))
	return len(rest)
}

func TestBundleSplit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "stick.car")
	rep, err := ExportAll(ctx, FileParts(path), w.proj, w.store, ExportOptions{Key: w.member, MaxBytes: MinPartSize})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Parts) < 2 {
		t.Fatalf("%d parts", len(rep.Parts))
	}
	dst, dstStore := w.fresh()
	for _, p := range rep.Parts {
		b, err := os.ReadFile(PartPath(path, p.Part))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) > MinPartSize || int64(len(b)) != p.Bytes {
			t.Fatalf("part %d: %d bytes (report %d)", p.Part, len(b), p.Bytes)
		}
		readWithGoCAR(t, b)
		irep, err := ImportBundle(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
		if err != nil || len(irep.Refused) != 0 || irep.Manifest.Part != p.Part {
			t.Fatalf("part %d: %v %s", p.Part, err, refused(irep))
		}
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
	// Every part describes the leaves it carries: imported again into a
	// device that holds everything, no block is refused; into a new device,
	// part 1 (the records) then the others in reverse order, everything
	// completes.
	rev, revStore := w.fresh()
	b1, _ := os.ReadFile(PartPath(path, 1))
	if _, err := ImportBundle(ctx, bytes.NewReader(b1), rev, revStore, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := len(rep.Parts) - 1; i >= 1; i-- {
		p := rep.Parts[i]
		b, _ := os.ReadFile(PartPath(path, p.Part))
		for _, to := range []struct {
			sink  Sink
			store BlobSink
		}{{dst, dstStore}, {rev, revStore}} {
			irep, err := ImportBundle(ctx, bytes.NewReader(b), to.sink, to.store, ImportOptions{})
			if err != nil || len(irep.Refused) != 0 {
				t.Fatalf("part %d again: %v %s", p.Part, err, refused(irep))
			}
		}
	}
	sameProject(t, w.proj, w.store, rev, revStore, AllBlobs)
	if filepath.Base(PartPath(path, 3)) != "stick.3.car" {
		t.Fatal(PartPath(path, 3))
	}
	if _, err := ExportAll(ctx, FileParts(path), w.proj, w.store, ExportOptions{Key: w.member, MaxBytes: 1 << 20}); !errors.Is(err, ErrPartTooSmall) {
		t.Fatal(err)
	}
}

func TestBundleRefused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)

	// Signed by a device that is not a member: refused before any blob
	// is stored. (The records, each signed by its member author and
	// checked on its own, may be applied first: a device learns a new
	// member from them.)
	m, _ := bundleAll(t, w, ExportOptions{Key: w.outsider})
	for _, known := range []int{0, 2} {
		dst, dstStore := w.fresh()
		dst.Apply(ctx, w.proj.order[:known])
		rep, err := ImportBundle(ctx, bytes.NewReader(m.parts[0].Bytes()), dst, dstStore, ImportOptions{})
		if !errors.Is(err, ErrNotMember) {
			t.Fatalf("outsider: %v", err)
		}
		if n := countBlobs(t, dstStore); n != 0 || len(rep.Blobs) != 0 {
			t.Fatalf("outsider: %d blobs stored", n)
		}
		if ps, _ := dstStore.Partials(ctx); len(ps) != 0 {
			t.Fatalf("outsider: partial blobs %v", ps)
		}
	}

	// Signed by a device this one knows is blocked: refused at once.
	dst, dstStore := w.fresh()
	dst.Apply(ctx, w.proj.order[:2])
	dst.blocked[pid(w.outsider)] = true
	rep, err := ImportBundle(ctx, bytes.NewReader(m.parts[0].Bytes()), dst, dstStore, ImportOptions{})
	if !errors.Is(err, ErrNotMember) || rep.RecordsNew != 0 || len(dst.order) != 2 {
		t.Fatalf("blocked: %v, %d records", err, len(dst.order))
	}

	// Unsigned: refused.
	var buf bytes.Buffer
	if _, err := Export(ctx, &buf, w.proj, w.store, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	dst, dstStore = w.fresh()
	if _, err := ImportBundle(ctx, bytes.NewReader(buf.Bytes()), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("unsigned: %v", err)
	}
	// A forged signature (manifest re-signed by the outsider, claiming a
	// member): refused.
	if _, err := ImportBundle(ctx, bytes.NewReader(w.forgedManifest(KindBundle)), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("forged: %v", err)
	}

	// For another project: refused, nothing stored.
	other := newWorld(t)
	m, _ = bundleAll(t, other, ExportOptions{Key: other.creator})
	dst, dstStore = w.fresh()
	if _, err := ImportBundle(ctx, bytes.NewReader(m.parts[0].Bytes()), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrOtherProject) {
		t.Fatalf("other project: %v", err)
	}
	if len(dst.order) != 0 || countBlobs(t, dstStore) != 0 {
		t.Fatal("other project: something stored")
	}
	// Bundles must be signed on export too.
	if _, err := ExportAll(ctx, (&memParts{}).create, w.proj, w.store, ExportOptions{}); !errors.Is(err, ErrNotMember) {
		t.Fatal(err)
	}
}

func countBlobs(t *testing.T, s interface {
	Enumerate(context.Context, func(blob.Info) error) error
}) int {
	n := 0
	s.Enumerate(context.Background(), func(blob.Info) error { n++; return nil })
	return n
}

func TestStateEncoding(t *testing.T) {
	w := newWorld(t)
	st, err := StateOf(context.Background(), w.proj, pid(w.member), w.store, FieldSet)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Sign(w.member); err != nil {
		t.Fatal(err)
	}
	b, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseState(b)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.MarshalBinary()
	if !bytes.Equal(b, again) || got.Project != w.proj.id || got.Device != pid(w.member) || got.Wants != FieldSet || len(got.Vector) != 2 {
		t.Fatalf("round trip: %+v", got)
	}
	for c := range w.proj.refs {
		if !got.HasBlob(c) {
			t.Fatalf("blob %s lost", c)
		}
	}
	if got.VerifySig() != nil {
		t.Fatal("signature lost")
	}
	// 10 blobs of 33 bytes, 2 authors, a signature: a few hundred bytes.
	if len(b) > 700 {
		t.Fatalf("state of %d bytes", len(b))
	}
	// Every single-byte change is refused (the checksum), every cut too.
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x04
		if _, err := ParseState(bad); !errors.Is(err, ErrBadState) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		if _, err := ParseState(b[:i]); !errors.Is(err, ErrBadState) {
			t.Fatalf("cut at %d: %v", i, err)
		}
	}
	var none peer.ID
	if _, err := NewState(cid.Undef, none, nil, 0).MarshalBinary(); err == nil {
		t.Fatal("state without project encoded")
	}
}

// TestExportFromAnyone: an export (not a bundle) is taken from any signer,
// since its records and blobs carry their own proof; a forged signature is
// still refused.
func TestExportFromAnyone(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var buf bytes.Buffer
	if _, err := Export(ctx, &buf, w.proj, w.store, ExportOptions{Key: w.outsider}); err != nil {
		t.Fatal(err)
	}
	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(buf.Bytes()), dst, dstStore, ImportOptions{})
	if err != nil || len(rep.Refused) != 0 || rep.Manifest.From != pid(w.outsider) {
		t.Fatalf("%v %s", err, refused(rep))
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)

	if _, err := Import(ctx, bytes.NewReader(w.forgedManifest(KindExport)), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrNotMember) {
		t.Fatalf("forged: %v", err)
	}
}

func TestRemoveStaleParts(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.car")
	for i := 1; i <= 5; i++ {
		os.WriteFile(PartPath(path, i), []byte("x"), 0o644)
	}
	removed, err := RemoveStaleParts(path, 2)
	if err != nil || len(removed) != 3 {
		t.Fatalf("removed %v, %v", removed, err)
	}
	for i := 1; i <= 5; i++ {
		_, err := os.Stat(PartPath(path, i))
		if (i <= 2) != (err == nil) {
			t.Errorf("part %d: %v", i, err)
		}
	}
}

// forgedManifest is a CAR holding only a manifest of kind signed by the
// outsider while claiming to come from the member.
func (w *world) forgedManifest(kind string) []byte {
	man := newManifest(kind, w.proj.id, 1, ExportOptions{})
	man.sign(w.outsider)
	man.From = pid(w.member)
	mb, _ := man.block()
	var buf bytes.Buffer
	cw := newCARWriter(&buf)
	cw.writeHeader([]cid.Cid{mb.CID})
	cw.writeBlock(mb.CID, mb.Data)
	cw.flush()
	return buf.Bytes()
}

// TestClassSetBits pins the class sets' bits: bundle state files written
// before the classes had one definition (blob.Class) must read the same.
func TestClassSetBits(t *testing.T) {
	for s, want := range map[ClassSet]uint8{FieldSet: 0x0c, AllBlobs: 0x7c, NoBlobs: 0x80, Classes(blob.ClassOriginal): 0x10, Classes(blob.ClassAttachment): 0x20} {
		if uint8(s) != want {
			t.Errorf("set %#x, want %#x", uint8(s), want)
		}
	}
	if Classes(blob.ClassSkeleton) != NoBlobs || FieldSet.Has(blob.ClassSkeleton) || !FieldSet.Has(blob.ClassPreview) {
		t.Error("a skeleton counted as a blob class")
	}
}
