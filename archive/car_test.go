package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

func exportCAR(t *testing.T, w *world, opts ExportOptions) ([]byte, *ExportReport) {
	t.Helper()
	var buf bytes.Buffer
	rep, err := Export(context.Background(), &buf, w.proj, w.store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), rep
}

// readWithGoCAR reads a CAR with go-car, verifying every block, as an
// independent implementation.
func readWithGoCAR(t *testing.T, b []byte) ([]cid.Cid, map[cid.Cid][]byte) {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(b), carv2.WithTrustedCAR(false))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[cid.Cid][]byte{}
	for {
		blk, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("go-car: %v", err)
		}
		blocks[blk.Cid()] = blk.RawData()
	}
	return br.Roots, blocks
}

func TestExportImportCAR(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	b, xrep := exportCAR(t, w, ExportOptions{Key: w.member})
	if xrep.Blobs != len(w.proj.refs) || xrep.Records != len(w.proj.order) || len(xrep.Unavailable) != 0 {
		t.Fatalf("export report %+v", xrep)
	}

	// go-car reads it, every block verified, and finds exactly the
	// project's blocks: records, skeleton nodes, leaves, plus the manifest.
	roots, blocks := readWithGoCAR(t, b)
	if len(roots) != 1+len(w.proj.refs) || roots[0] != xrep.Roots[0] {
		t.Fatalf("roots %v", roots)
	}
	want := map[cid.Cid]bool{roots[0]: true}
	for _, r := range w.proj.order {
		want[r.CID] = true
	}
	for c := range w.proj.refs {
		sk, err := w.store.Skeleton(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range sk.Nodes {
			want[n.CID] = true
		}
		for _, l := range sk.Leaves {
			want[l.CID] = true
		}
	}
	if len(blocks) != len(want) {
		t.Fatalf("CAR has %d blocks, project has %d", len(blocks), len(want))
	}
	for c := range want {
		if _, ok := blocks[c]; !ok {
			t.Fatalf("block %s missing", c)
		}
	}

	// Import into an empty device, then again (everything known).
	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 0 || rep.Truncated || rep.Broken != nil || rep.Manifest == nil || rep.Manifest.From != pid(w.member) {
		t.Fatalf("refused %s, report %+v", refused(rep), rep)
	}
	if rep.RecordsNew != len(w.proj.order) || rep.Count(BlobNew) != len(w.proj.refs) {
		t.Fatalf("new: %d records, %d blobs", rep.RecordsNew, rep.Count(BlobNew))
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
	rep, err = Import(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RecordsKnown != len(w.proj.order) || rep.RecordsNew != 0 || rep.Count(BlobKnown) != len(w.proj.refs) || len(rep.Refused) != 0 {
		t.Fatalf("second import: %+v %s", rep, refused(rep))
	}
}

func TestImportCARv2(t *testing.T) {
	w := newWorld(t)
	b, _ := exportCAR(t, w, ExportOptions{})
	var v2 bytes.Buffer
	if err := carv2.WrapV1(bytes.NewReader(b), &v2); err != nil {
		t.Fatal(err)
	}
	dst, dstStore := w.fresh()
	rep, err := Import(context.Background(), bytes.NewReader(v2.Bytes()), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.CARVersion != 2 || len(rep.Refused) != 0 || rep.Truncated {
		t.Fatalf("%+v %s", rep, refused(rep))
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
}

// TestFlippedByte flips one byte inside a leaf of the big original, then
// inside a record: the block is refused, every other block imports.
func TestFlippedByte(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	b, _ := exportCAR(t, w, ExportOptions{})
	sk, _ := w.store.Skeleton(ctx, w.big)
	leaf, err := blob.ReadRange(ctx, w.store, w.big, sk.Leaves[1].Offset, sk.Leaves[1].Size)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(b, leaf)
	if at < 0 {
		t.Fatal("leaf not in CAR")
	}
	bad := bytes.Clone(b)
	bad[at+12345] ^= 0x01

	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(bad), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 1 || rep.Refused[0].CID != sk.Leaves[1].CID || rep.Refused[0].Reason != ReasonMismatch || !errors.Is(rep.Refused[0].Err, chunk.ErrMismatch) {
		t.Fatalf("refused: %s", refused(rep))
	}
	if rep.Count(BlobNew) != len(w.proj.refs)-1 || rep.Count(BlobPartial) != 1 {
		t.Fatalf("blobs: %+v", rep.Blobs)
	}
	if ok, _ := blob.Has(ctx, dstStore, w.big); ok {
		t.Fatal("big original complete despite a bad leaf")
	}
	parts, _ := dstStore.Partials(ctx)
	if len(parts) != 1 || parts[0] != w.big {
		t.Fatalf("partials %v", parts)
	}
	// The good CAR completes the partial blob.
	rep, err = Import(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if err != nil || rep.Count(BlobNew) != 1 {
		t.Fatalf("%v %+v", err, rep.Blobs)
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)

	// A flipped byte in the last record: that record is refused; the blobs
	// only it refers to become unreferenced; the rest imports.
	last := w.proj.order[len(w.proj.order)-1]
	at = bytes.Index(b, last.Data)
	bad = bytes.Clone(b)
	bad[at+len(last.Data)/2] ^= 0x80
	dst, dstStore = w.fresh()
	rep, err = Import(ctx, bytes.NewReader(bad), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RecordsNew != len(w.proj.order)-1 || len(rep.Refused) != 3 || rep.Refused[0].CID != last.CID || rep.Refused[0].Reason != ReasonMismatch {
		t.Fatalf("refused: %s", refused(rep))
	}
	for _, r := range rep.Refused[1:] {
		if r.Reason != ReasonNotWanted {
			t.Fatalf("refused: %s", refused(rep))
		}
	}
}

// TestTruncatedCAR cuts a CAR at many points: whatever precedes the cut
// imports; the rest of the file then completes it.
func TestTruncatedCAR(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	b, _ := exportCAR(t, w, ExportOptions{})
	for _, cut := range []int{len(b) - 1, len(b) - 700000, len(b) / 2, 3000, 1200} {
		dst, dstStore := w.fresh()
		rep, err := Import(ctx, bytes.NewReader(b[:cut]), dst, dstStore, ImportOptions{})
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if !rep.Truncated || len(rep.Refused) != 0 {
			t.Fatalf("cut %d: truncated %v, refused %s", cut, rep.Truncated, refused(rep))
		}
		rep, err = Import(ctx, bytes.NewReader(b), dst, dstStore, ImportOptions{})
		if err != nil || len(rep.Refused) != 0 {
			t.Fatalf("cut %d, then whole: %v %s", cut, err, refused(rep))
		}
		sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
	}
	// Cut inside the big original's third leaf: its first two leaves are
	// kept in the partial blob.
	sk, _ := w.store.Skeleton(ctx, w.big)
	leaf, _ := blob.ReadRange(ctx, w.store, w.big, sk.Leaves[2].Offset, sk.Leaves[2].Size)
	at := bytes.Index(b, leaf)
	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(b[:at+100]), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got *BlobResult
	for i := range rep.Blobs {
		if rep.Blobs[i].CID == w.big {
			got = &rep.Blobs[i]
		}
	}
	if got == nil || got.Status != BlobPartial || got.Have != 2 || got.Leaves != 3 {
		t.Fatalf("big original: %+v", got)
	}
	p, err := dstStore.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if m := p.Missing(); len(m) != 1 || m[0] != 2 {
		t.Fatalf("missing %v", m)
	}
	p.Close()
}

func TestImportNotCAR(t *testing.T) {
	w := newWorld(t)
	dst, dstStore := w.fresh()
	for _, in := range [][]byte{nil, []byte("hello"), {0x0a, 0xa1}, bytes.Repeat([]byte{0xff}, 64)} {
		if _, err := Import(context.Background(), bytes.NewReader(in), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrNotCAR) {
			t.Errorf("%q: %v, want ErrNotCAR", in, err)
		}
	}
}

func TestImportOtherProject(t *testing.T) {
	w := newWorld(t)
	other := newWorld(t)
	b, _ := exportCAR(t, other, ExportOptions{Key: other.creator})
	dst, dstStore := w.fresh()
	rep, err := Import(context.Background(), bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if !errors.Is(err, ErrOtherProject) {
		t.Fatalf("%v", err)
	}
	if rep.Blocks != 1 || len(dst.order) != 0 {
		t.Fatal("something was imported")
	}
	if ps, _ := dstStore.Partials(context.Background()); len(ps) != 0 {
		t.Fatal("partial blobs created")
	}
}

// TestImportForeignOrder imports a CAR in the depth-first order of
// `ipfs dag export` (a root node, then its leaves) with the records last:
// leaves wait aside until their record arrives.
func TestImportForeignOrder(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var buf bytes.Buffer
	cw := newCARWriter(&buf)
	cw.writeHeader([]cid.Cid{w.big})
	for c := range w.proj.refs {
		sk, _ := w.store.Skeleton(ctx, c)
		for _, n := range sk.Nodes {
			cw.writeBlock(n.CID, n.Data)
		}
		for i := len(sk.Leaves) - 1; i >= 0; i-- {
			l := sk.Leaves[i]
			d, _ := blob.ReadRange(ctx, w.store, c, l.Offset, l.Size)
			cw.writeBlock(l.CID, d)
		}
	}
	for _, r := range w.proj.order {
		cw.writeBlock(r.CID, r.Data)
	}
	cw.flush()
	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(buf.Bytes()), dst, dstStore, ImportOptions{TempDir: t.TempDir()})
	if err != nil || len(rep.Refused) != 0 || rep.Manifest != nil {
		t.Fatalf("%v %s", err, refused(rep))
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
	// As a bundle it is refused: no manifest.
	dst, dstStore = w.fresh()
	if _, err := ImportBundle(ctx, bytes.NewReader(buf.Bytes()), dst, dstStore, ImportOptions{}); !errors.Is(err, ErrNoManifest) {
		t.Fatalf("%v", err)
	}
}

// TestKubo checks an export against Kubo, when it is installed.
func TestKubo(t *testing.T) {
	ipfs, err := lookPath("ipfs")
	if err != nil {
		t.Skip("Kubo (ipfs) not installed")
	}
	if testing.Short() {
		t.Skip("short")
	}
	w := newWorld(t)
	b, _ := exportCAR(t, w, ExportOptions{})
	dir := t.TempDir()
	file := filepath.Join(dir, "export.car")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "IPFS_PATH="+filepath.Join(dir, "repo"))
	run := func(args ...string) []byte {
		t.Helper()
		out, err := command(env, ipfs, args...)
		if err != nil {
			t.Fatalf("ipfs %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("init", "--profile=test")
	run("--offline", "dag", "import", "--pin-roots=true", file)
	for c := range w.proj.refs {
		want, _ := blob.ReadAll(context.Background(), w.store, c)
		if got := run("--offline", "cat", c.String()); !bytes.Equal(got, want) {
			t.Fatalf("ipfs cat %s: %d bytes differ from %d", c, len(got), len(want))
		}
	}
	for _, r := range w.proj.order {
		run("--offline", "dag", "get", r.CID.String())
	}
}

// TestImportFewOpen holds at most one partial blob open: the others are
// closed and begun again as their leaves arrive.
func TestImportFewOpen(t *testing.T) {
	defer func(n int) { maxOpen = n }(maxOpen)
	maxOpen = 1
	w := newWorld(t)
	w.observation(w.creator, "obs-big-5", w.proj.obs[0].Created, mrand.New(mrand.NewPCG(3, 4)), 1536*1024, "b.jpg", nil)
	b, _ := exportCAR(t, w, ExportOptions{})
	dst, dstStore := w.fresh()
	rep, err := Import(context.Background(), bytes.NewReader(b), dst, dstStore, ImportOptions{})
	if err != nil || len(rep.Refused) != 0 || rep.Count(BlobNew) != len(w.proj.refs) {
		t.Fatalf("%v %s %+v", err, refused(rep), rep.Blobs)
	}
	sameProject(t, w.proj, w.store, dst, dstStore, AllBlobs)
}

func TestExportFileProgress(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	path := filepath.Join(t.TempDir(), "river.car")
	var last, total int64
	rep, err := ExportFile(ctx, path, w.proj, w.store, ExportOptions{Progress: func(n, all int64) {
		if n < last {
			t.Fatalf("progress went back: %d after %d", n, last)
		}
		last, total = n, all
	}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() != rep.Bytes {
		t.Fatalf("%v: %d bytes, report %d", err, st.Size(), rep.Bytes)
	}
	if total < 2<<20 || last > rep.Bytes || last < rep.Bytes-64<<10 {
		t.Fatalf("progress %d of %d, file %d", last, total, rep.Bytes)
	}
	if left, _ := os.ReadDir(filepath.Dir(path)); len(left) != 1 {
		t.Fatalf("temporary files left: %v", left)
	}
	f, _ := os.Open(path)
	defer f.Close()
	dst, dstStore := w.fresh()
	var read int64
	irep, err := Import(ctx, f, dst, dstStore, ImportOptions{Progress: func(n int64) { read = n }})
	if err != nil || len(irep.Refused) != 0 {
		t.Fatal(err, irep)
	}
	if read == 0 || read > rep.Bytes {
		t.Fatalf("import progress %d of %d", read, rep.Bytes)
	}
	want := fmt.Sprintf("%d records new, 0 known; %d blobs new, 0 known, 0 partial; 0 blocks refused", len(w.proj.order), len(w.proj.refs))
	if irep.String() != want {
		t.Fatalf("summary %q", irep.String())
	}
	rj, err := json.Marshal(&Report{Broken: ErrFraming, Refused: []Refusal{{Reason: ReasonBadCID}}})
	if err != nil || !bytes.Contains(rj, []byte(`"Broken":"archive: CAR framing broken"`)) || !bytes.Contains(rj, []byte(`"reason":"bad-cid"`)) {
		t.Fatalf("%v %s", err, rj)
	}
	js, _ := json.Marshal(Refusal{CID: w.big, Offset: 7, Reason: ReasonMismatch, Err: errors.New("x")})
	if string(js) != `{"cid":"`+w.big.String()+`","offset":7,"reason":"hash-mismatch","error":"x"}` {
		t.Fatal(string(js))
	}
}

// TestSkeletonAcrossFiles uses the skeleton of a 1025 MiB blob (a root and
// two nodes; leaves made up, none sent): with a node missing its nodes are
// refused as an incomplete skeleton; with all of them a partial blob is
// opened that a later file can complete.
func TestSkeletonAcrossFiles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	leaves := make([]chunk.Leaf, chunk.MaxLinks+1)
	for i := range leaves {
		leaves[i] = chunk.Leaf{CID: chunk.RawCID([]byte(fmt.Sprint(i))), Size: chunk.ChunkSize}
	}
	sk, err := chunk.Build(leaves)
	if err != nil || len(sk.Nodes) != 3 {
		t.Fatalf("%v, %d nodes", err, len(sk.Nodes))
	}
	w.add(w.member, &fakeRecord{Name: "video", Blobs: []fakeRef{{CID: sk.Root.String(), Class: int(blob.ClassAttachment), Type: "video/mp4"}}})
	for _, n := range []int{2, 3} {
		var buf bytes.Buffer
		cw := newCARWriter(&buf)
		cw.writeHeader(nil)
		for _, r := range w.proj.order {
			cw.writeBlock(r.CID, r.Data)
		}
		for _, nd := range sk.Nodes[:n] {
			cw.writeBlock(nd.CID, nd.Data)
		}
		cw.flush()
		dst, dstStore := w.fresh()
		// A memory store would hold the blob's 1 GiB; this one only
		// records the Begin.
		rec := &beginRecorder{Store: dstStore}
		rep, err := Import(ctx, bytes.NewReader(buf.Bytes()), dst, rec, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		switch n {
		case 2:
			if len(rep.Refused) != 2 || rep.Refused[0].Reason != ReasonSkeleton || len(rep.Blobs) != 0 {
				t.Fatalf("%s %+v", refused(rep), rep.Blobs)
			}
		case 3:
			if len(rep.Refused) != 0 || len(rep.Blobs) != 1 || rep.Blobs[0].Status != BlobPartial || rep.Blobs[0].Have != 0 || rep.Blobs[0].Leaves != len(leaves) {
				t.Fatalf("%s %+v", refused(rep), rep.Blobs)
			}
			if len(rec.begun) != 1 || rec.begun[0] != sk.Root {
				t.Fatalf("begun %v", rec.begun)
			}
		}
	}
}

// beginRecorder is a store whose Begin only records the skeleton (after
// checking it, as stores do).
type beginRecorder struct {
	*mem.Store
	begun []cid.Cid
}

func (b *beginRecorder) Begin(ctx context.Context, sk *chunk.Skeleton, meta blob.Meta) (blob.Partial, error) {
	if err := blob.VerifySkeleton(sk); err != nil {
		return nil, err
	}
	b.begun = append(b.begun, sk.Root)
	return &emptyPartial{sk: sk}, nil
}

type emptyPartial struct {
	blob.Partial
	sk *chunk.Skeleton
}

func (p *emptyPartial) Missing() []int {
	m := make([]int, len(p.sk.Leaves))
	for i := range m {
		m[i] = i
	}
	return m
}
func (p *emptyPartial) Close() error { return nil }

// pbNode encodes a dag-pb node linking to links (no name, Tsize 1) with a
// UnixFS File data field.
func pbNode(links []cid.Cid) []byte {
	var b []byte
	for _, l := range links {
		var link []byte
		link = append(link, 0x0a)
		link = binary.AppendUvarint(link, uint64(l.ByteLen()))
		link = append(link, l.Bytes()...)
		link = append(link, 0x12, 0x00, 0x18, 0x01)
		b = append(b, 0x12)
		b = binary.AppendUvarint(b, uint64(len(link)))
		b = append(b, link...)
	}
	data := []byte{0x08, 0x02, 0x18, 0x01}
	b = append(b, 0x0a, byte(len(data)))
	return append(b, data...)
}

// TestDiamondSkeleton: a hostile DAG where every node links a thousand
// times to the next has 1000^3 paths; the importer gathers each node once
// and refuses it quickly.
func TestDiamondSkeleton(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	leaf := chunk.RawCID([]byte("x"))
	var nodes []Block
	next := leaf
	for range 4 {
		links := make([]cid.Cid, 1000)
		for i := range links {
			links[i] = next
		}
		d := pbNode(links)
		next = chunk.PBCID(d)
		nodes = append(nodes, Block{next, d})
	}
	root := next
	w.add(w.member, &fakeRecord{Name: "diamond", Blobs: []fakeRef{{CID: root.String(), Class: int(blob.ClassAttachment)}}})
	var buf bytes.Buffer
	cw := newCARWriter(&buf)
	cw.writeHeader(nil)
	for _, r := range w.proj.order {
		cw.writeBlock(r.CID, r.Data)
	}
	for _, n := range nodes { // leaves first: the root arrives last
		cw.writeBlock(n.CID, n.Data)
	}
	cw.flush()
	start := time.Now()
	dst, dstStore := w.fresh()
	rep, err := Import(ctx, bytes.NewReader(buf.Bytes()), dst, dstStore, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if len(rep.Refused) != len(nodes) || rep.Refused[len(nodes)-1].Reason != ReasonSkeleton { // refusals in file order: the root came last
		t.Fatalf("%s", refused(rep))
	}
}

// TestImportReadError: a failing reader (a stick pulled out) is an error,
// not a file cut short.
func TestImportReadError(t *testing.T) {
	w := newWorld(t)
	b, _ := exportCAR(t, w, ExportOptions{})
	boom := errors.New("device removed")
	// Fail right after the records, before the first node flushes them.
	last := w.proj.order[len(w.proj.order)-1]
	at := bytes.Index(b, last.Data) + len(last.Data)
	r := io.MultiReader(bytes.NewReader(b[:at]), iotestErr{boom})
	dst, dstStore := w.fresh()
	rep, err := Import(context.Background(), r, dst, dstStore, ImportOptions{})
	if !errors.Is(err, boom) || rep.Truncated {
		t.Fatalf("%v, truncated %v", err, rep.Truncated)
	}
	// What was read before the failure is kept.
	if len(dst.order) != len(w.proj.order) {
		t.Fatalf("%d records", len(dst.order))
	}
}

type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }
