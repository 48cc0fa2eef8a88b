// Package blobtest is the conformance suite every blob.Store runs, as
// testing/fstest.TestFS is for fs.FS: each contract written in package blob
// is checked here, once, for every implementation.
//
//	func TestConformance(t *testing.T) {
//		blobtest.TestStore(t, func(t *testing.T) blob.Store { return mem.New() })
//	}
//
// The factory is called once per subtest and must return a new, empty store;
// the suite closes it.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// Data returns size deterministic pseudo-random bytes for seed.
func Data(seed uint64, size int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	b := make([]byte, size)
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// SkeletonOf returns the skeleton of data.
func SkeletonOf(t testing.TB, data []byte) *chunk.Skeleton {
	t.Helper()
	sk, err := chunk.Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// FailingReader returns n bytes of data and then err.
type FailingReader struct {
	Data []byte
	N    int
	Err  error
}

func (f *FailingReader) Read(p []byte) (int, error) {
	if f.N <= 0 {
		return 0, f.Err
	}
	k := copy(p, f.Data[:min(f.N, len(f.Data))])
	f.Data = f.Data[k:]
	f.N -= k
	return k, nil
}

// ErrInjected is the error FailingReader tests use.
var ErrInjected = errors.New("blobtest: injected failure")

// Sizes are the blob sizes the suite stores: the empty blob, one byte,
// around one leaf, and several leaves.
var Sizes = []int{0, 1, 11, 1000, chunk.ChunkSize - 1, chunk.ChunkSize, chunk.ChunkSize + 1, 3*chunk.ChunkSize + 12345}

// TestStore runs the conformance suite against stores made by newStore.
func TestStore(t *testing.T, newStore func(t *testing.T) blob.Store) {
	open := func(t *testing.T) blob.Store {
		s := newStore(t)
		t.Cleanup(func() { s.Close() })
		return s
	}
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store)
	}{
		{"PutFetchStat", testPutFetchStat},
		{"HelloWorld", testHelloWorld},
		{"PutAgain", testPutAgain},
		{"Missing", testMissing},
		{"ReadRange", testReadRange},
		{"Enumerate", testEnumerate},
		{"Remove", testRemove},
		{"Skeleton", testSkeleton},
		{"PutFailingReader", testPutFailingReader},
		{"PutCanceled", testPutCanceled},
		{"PutConcurrentSame", testPutConcurrentSame},
		{"Partial", testPartial},
		{"PartialWrongLeaf", testPartialWrongLeaf},
		{"PartialResume", testPartialResume},
		{"PartialBusy", testPartialBusy},
		{"PartialOfComplete", testPartialOfComplete},
		{"PartialLeafParts", testPartialLeafParts},
		{"PartialLeafPartWrong", testPartialLeafPartWrong},
		{"PartialSmall", testPartialSmall},
		{"PartialBadIndex", testPartialBadIndex},
		{"BeginBadSkeleton", testBeginBadSkeleton},
		{"Batch", testBatch},
		{"BatchDiscard", testBatchDiscard},
		{"BatchFailingReader", testBatchFailingReader},
		{"Verify", testVerify},
		{"FixityEvents", testFixityEvents},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func put(t *testing.T, s blob.Receiver, data []byte, mt string) blob.Info {
	t.Helper()
	in, err := s.Put(ctx, bytes.NewReader(data), blob.Meta{MediaType: mt})
	if err != nil {
		t.Fatalf("Put %d bytes: %v", len(data), err)
	}
	return in
}

func checkContent(t *testing.T, s blob.Store, c cid.Cid, want []byte) {
	t.Helper()
	got, err := blob.ReadAll(ctx, s, c)
	if err != nil {
		t.Fatalf("Fetch %s: %v", c, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Fetch %s: %d bytes differ from the %d put", c, len(got), len(want))
	}
}

func wantNotExist(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: got %v, want an error wrapping fs.ErrNotExist", what, err)
	}
}

func testPutFetchStat(t *testing.T, s blob.Store) {
	for i, size := range Sizes {
		data := Data(uint64(i), size)
		before := time.Now().Add(-time.Second)
		in := put(t, s, data, "image/jpeg")
		sk := SkeletonOf(t, data)
		if in.CID != sk.Root || in.Size != int64(size) || in.MediaType != "image/jpeg" {
			t.Fatalf("size %d: Put gave %+v, want CID %s", size, in, sk.Root)
		}
		if in.Added.Before(before) || in.Added.After(time.Now().Add(time.Second)) {
			t.Fatalf("size %d: Added %v is not now", size, in.Added)
		}
		st, err := s.Stat(ctx, in.CID)
		if err != nil {
			t.Fatal(err)
		}
		if st.CID != in.CID || st.Size != in.Size || st.MediaType != in.MediaType || !st.Added.Equal(in.Added) {
			t.Fatalf("Stat %+v, Put %+v", st, in)
		}
		checkContent(t, s, in.CID, data)
		if ok, err := blob.Has(ctx, s, in.CID); !ok || err != nil {
			t.Fatalf("Has: %v %v", ok, err)
		}
	}
}

func testHelloWorld(t *testing.T, s blob.Store) {
	in := put(t, s, []byte("hello world"), "")
	if got, want := in.CID.String(), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"; got != want {
		t.Fatalf("CID %s, want %s", got, want)
	}
}

func testPutAgain(t *testing.T, s blob.Store) {
	data := Data(7, chunk.ChunkSize+10)
	a := put(t, s, data, "image/png")
	time.Sleep(5 * time.Millisecond)
	b := put(t, s, data, "other/type")
	if a.CID != b.CID || !a.Added.Equal(b.Added) || b.MediaType != "image/png" {
		t.Fatalf("second Put %+v, want the first one's Info %+v", b, a)
	}
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d blobs enumerated, want 1", n)
	}
}

func testMissing(t *testing.T, s blob.Store) {
	c := SkeletonOf(t, []byte("never stored")).Root
	_, err := s.Fetch(ctx, c)
	wantNotExist(t, "Fetch", err)
	_, err = s.Stat(ctx, c)
	wantNotExist(t, "Stat", err)
	_, err = s.Skeleton(ctx, c)
	wantNotExist(t, "Skeleton", err)
	_, err = blob.ReadRange(ctx, s, c, 0, 1)
	wantNotExist(t, "ReadRange", err)
	wantNotExist(t, "ReadRangeInto", blob.ReadRangeInto(ctx, s, c, 0, make([]byte, 1)))
	if ok, err := blob.Has(ctx, s, c); ok || err != nil {
		t.Fatalf("Has: %v %v", ok, err)
	}
	if err := s.Remove(ctx, c); err != nil {
		t.Fatalf("Remove of a missing blob: %v", err)
	}
	ps, err := s.Partials(ctx)
	if err != nil || len(ps) != 0 {
		t.Fatalf("Partials of an empty store: %v %v", ps, err)
	}
}

// fetchOnly hides every capability but Fetch, to test the fallback.
type fetchOnly struct{ blob.Fetcher }

// rangeOnly hides RangeReaderInto (if any), to test ReadRangeInto's
// fallback to ReadRange.
type rangeOnly struct{ s blob.Store }

func (r rangeOnly) Fetch(ctx context.Context, c cid.Cid) (io.ReadCloser, error) {
	return r.s.Fetch(ctx, c)
}

func (r rangeOnly) ReadRange(ctx context.Context, c cid.Cid, off int64, n int) ([]byte, error) {
	return blob.ReadRange(ctx, r.s, c, off, n)
}

func testReadRange(t *testing.T, s blob.Store) {
	data := Data(3, 2*chunk.ChunkSize+100)
	in := put(t, s, data, "")
	for _, f := range []blob.Fetcher{s, fetchOnly{s}, rangeOnly{s}} {
		for _, r := range [][2]int{{0, 0}, {0, 10}, {5, 100}, {chunk.ChunkSize - 3, 7}, {len(data) - 10, 10}, {0, len(data)}, {len(data), 0}} {
			got, err := blob.ReadRange(ctx, f, in.CID, int64(r[0]), r[1])
			if err != nil {
				t.Fatalf("ReadRange(%d, %d) via %T: %v", r[0], r[1], f, err)
			}
			if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("ReadRange(%d, %d) via %T: wrong bytes", r[0], r[1], f)
			}
			into := bytes.Repeat([]byte{0xa5}, r[1])
			if err := blob.ReadRangeInto(ctx, f, in.CID, int64(r[0]), into); err != nil {
				t.Fatalf("ReadRangeInto(%d, %d) via %T: %v", r[0], r[1], f, err)
			}
			if !bytes.Equal(into, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("ReadRangeInto(%d, %d) via %T: wrong bytes", r[0], r[1], f)
			}
		}
		for _, r := range [][2]int{{len(data) - 5, 10}, {len(data) + 1, 1}} {
			if _, err := blob.ReadRange(ctx, f, in.CID, int64(r[0]), r[1]); err == nil {
				t.Fatalf("ReadRange(%d, %d) past the end via %T: no error", r[0], r[1], f)
			}
			if err := blob.ReadRangeInto(ctx, f, in.CID, int64(r[0]), make([]byte, r[1])); err == nil {
				t.Fatalf("ReadRangeInto(%d, %d) past the end via %T: no error", r[0], r[1], f)
			}
		}
		if err := blob.ReadRangeInto(ctx, f, in.CID, -1, make([]byte, 1)); err == nil {
			t.Fatalf("ReadRangeInto at a negative offset via %T: no error", f)
		}
	}
}

func testEnumerate(t *testing.T, s blob.Store) {
	var want []cid.Cid
	for i := 0; i < 20; i++ {
		want = append(want, put(t, s, Data(uint64(100+i), 100+i), "").CID)
	}
	// A partial blob is not enumerated.
	p, err := s.Begin(ctx, SkeletonOf(t, Data(99, 50)), blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	slices.SortFunc(want, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	var got []cid.Cid
	if err := s.Enumerate(ctx, func(in blob.Info) error {
		got = append(got, in.CID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Enumerate gave %d CIDs not in CID byte order or not the %d put", len(got), len(want))
	}
	stop := errors.New("stop")
	n := 0
	err = s.Enumerate(ctx, func(blob.Info) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("Enumerate stopped after %d with %v, want 3 and fn's error", n, err)
	}
	// fn may call the store.
	if err := s.Enumerate(ctx, func(in blob.Info) error {
		_, err := s.Stat(ctx, in.CID)
		return err
	}); err != nil {
		t.Fatalf("Enumerate calling Stat: %v", err)
	}
}

func testRemove(t *testing.T, s blob.Store) {
	data := Data(4, chunk.ChunkSize*2+1)
	in := put(t, s, data, "")
	other := put(t, s, Data(5, 10), "")
	for i := 0; i < 2; i++ {
		if err := s.Remove(ctx, in.CID); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	_, err := s.Fetch(ctx, in.CID)
	wantNotExist(t, "Fetch after Remove", err)
	_, err = s.Stat(ctx, in.CID)
	wantNotExist(t, "Stat after Remove", err)
	_, err = s.Skeleton(ctx, in.CID)
	wantNotExist(t, "Skeleton after Remove", err)
	checkContent(t, s, other.CID, Data(5, 10))
	// It can be stored again.
	again := put(t, s, data, "")
	checkContent(t, s, again.CID, data)
}

func testSkeleton(t *testing.T, s blob.Store) {
	for i, size := range []int{0, 10, chunk.ChunkSize, 5*chunk.ChunkSize + 1} {
		data := Data(uint64(200+i), size)
		in := put(t, s, data, "")
		sk, err := s.Skeleton(ctx, in.CID)
		if err != nil {
			t.Fatal(err)
		}
		want := SkeletonOf(t, data)
		a, _ := sk.MarshalBinary()
		b, _ := want.MarshalBinary()
		if sk.Root != want.Root || sk.Size != want.Size || !bytes.Equal(a, b) || !slices.Equal(sk.Leaves, want.Leaves) {
			t.Fatalf("size %d: Skeleton differs from chunk.Sum's", size)
		}
		if _, err := chunk.ParseSkeleton(in.CID, a); err != nil {
			t.Fatalf("stored skeleton does not parse: %v", err)
		}
	}
}

func checkEmpty(t *testing.T, s blob.Store) {
	t.Helper()
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d blobs visible, want none", n)
	}
	ps, _ := s.Partials(ctx)
	if len(ps) != 0 {
		t.Fatalf("%d partial blobs, want none", len(ps))
	}
}

func testPutFailingReader(t *testing.T, s blob.Store) {
	for _, n := range []int{0, 10, chunk.ChunkSize, 2*chunk.ChunkSize + 7} {
		data := Data(6, 3*chunk.ChunkSize)
		_, err := s.Put(ctx, &FailingReader{Data: data, N: n, Err: ErrInjected}, blob.Meta{})
		if !errors.Is(err, ErrInjected) {
			t.Fatalf("Put failing after %d bytes: %v, want the reader's error", n, err)
		}
		checkEmpty(t, s)
		// The complete prefix was not stored either.
		_, err = s.Stat(ctx, SkeletonOf(t, data[:n]).Root)
		wantNotExist(t, "Stat of the prefix", err)
	}
}

func testPutCanceled(t *testing.T, s blob.Store) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Put(c, bytes.NewReader(Data(8, 2*chunk.ChunkSize)), blob.Meta{}); err == nil {
		t.Fatal("Put with a canceled context: no error")
	}
	checkEmpty(t, s)
}

func testPutConcurrentSame(t *testing.T, s blob.Store) {
	data := Data(9, 2*chunk.ChunkSize+3)
	var wg sync.WaitGroup
	infos := make([]blob.Info, 4)
	errs := make([]error, 4)
	for i := range infos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = s.Put(ctx, bytes.NewReader(data), blob.Meta{})
		}()
	}
	wg.Wait()
	for i := range infos {
		if errs[i] != nil {
			t.Fatalf("concurrent Put %d: %v", i, errs[i])
		}
		if infos[i].CID != infos[0].CID || !infos[i].Added.Equal(infos[0].Added) {
			t.Fatalf("concurrent Puts gave %+v and %+v", infos[i], infos[0])
		}
	}
	checkContent(t, s, infos[0].CID, data)
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d blobs, want 1", n)
	}
}

func leaf(data []byte, l chunk.Leaf) []byte { return data[l.Offset:l.End()] }

func testPartial(t *testing.T, s blob.Store) {
	data := Data(10, 4*chunk.ChunkSize+999)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{MediaType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Skeleton().Root != sk.Root {
		t.Fatal("Skeleton() is not the one begun")
	}
	if got := p.Missing(); !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("Missing %v", got)
	}
	ps, err := s.Partials(ctx)
	if err != nil || !slices.Equal(ps, []cid.Cid{sk.Root}) {
		t.Fatalf("Partials %v %v", ps, err)
	}
	got, err := s.Skeleton(ctx, sk.Root)
	if err != nil || got.Root != sk.Root || len(got.Leaves) != 5 {
		t.Fatalf("Skeleton of a partial blob: %v", err)
	}
	for _, i := range []int{3, 0, 4} {
		if err := p.WriteLeaf(ctx, i, leaf(data, sk.Leaves[i])); err != nil {
			t.Fatalf("WriteLeaf %d: %v", i, err)
		}
	}
	if err := p.WriteLeaf(ctx, 3, leaf(data, sk.Leaves[3])); err != nil {
		t.Fatalf("WriteLeaf again: %v", err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("Missing %v, want [1 2]", got)
	}
	if !p.Have(0) || p.Have(1) || p.Have(-1) || p.Have(5) {
		t.Fatal("Have is wrong")
	}
	b, err := p.ReadLeaf(ctx, 4)
	if err != nil || !bytes.Equal(b, leaf(data, sk.Leaves[4])) {
		t.Fatalf("ReadLeaf 4: %v", err)
	}
	_, err = p.ReadLeaf(ctx, 1)
	wantNotExist(t, "ReadLeaf of a leaf not had", err)
	if _, err := p.Commit(ctx); !errors.Is(err, blob.ErrIncomplete) {
		t.Fatalf("Commit of an incomplete blob: %v, want ErrIncomplete", err)
	}
	_, err = s.Fetch(ctx, sk.Root)
	wantNotExist(t, "Fetch of a partial blob", err)
	_, err = s.Stat(ctx, sk.Root)
	wantNotExist(t, "Stat of a partial blob", err)
	for _, i := range []int{2, 1} {
		if err := p.WriteLeaf(ctx, i, leaf(data, sk.Leaves[i])); err != nil {
			t.Fatalf("WriteLeaf %d: %v", i, err)
		}
	}
	if len(p.Missing()) != 0 {
		t.Fatalf("Missing %v after every leaf", p.Missing())
	}
	in, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.CID != sk.Root || in.Size != int64(len(data)) || in.MediaType != "image/jpeg" || in.Added.IsZero() {
		t.Fatalf("Commit gave %+v", in)
	}
	in2, err := p.Commit(ctx)
	if err != nil || in2.CID != in.CID || !in2.Added.Equal(in.Added) {
		t.Fatalf("second Commit: %+v %v", in2, err)
	}
	checkContent(t, s, sk.Root, data)
	if err := p.WriteLeaf(ctx, 0, leaf(data, sk.Leaves[0])); err != nil {
		t.Fatalf("WriteLeaf of a had leaf after Commit: %v, want a no-op", err)
	}
	st, err := s.Stat(ctx, sk.Root)
	if err != nil || st.Size != in.Size {
		t.Fatalf("Stat after Commit: %+v %v", st, err)
	}
	if ps, _ := s.Partials(ctx); len(ps) != 0 {
		t.Fatalf("Partials after Commit: %v", ps)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

func testPartialWrongLeaf(t *testing.T, s blob.Store) {
	data := Data(11, 2*chunk.ChunkSize+5)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bad := bytes.Clone(leaf(data, sk.Leaves[1]))
	bad[1000] ^= 1
	for _, b := range [][]byte{bad, bad[:100], leaf(data, sk.Leaves[0]), nil} {
		err := p.WriteLeaf(ctx, 1, b)
		var ve *chunk.VerifyError
		if !errors.As(err, &ve) || !errors.Is(err, chunk.ErrMismatch) {
			t.Fatalf("WriteLeaf with wrong bytes: %v, want a *chunk.VerifyError", err)
		}
		if ve.Want != sk.Leaves[1].CID {
			t.Fatalf("VerifyError.Want %s, want the leaf's CID", ve.Want)
		}
	}
	if p.Have(1) || p.LeafProgress(1) != 0 {
		t.Fatal("a wrong leaf was kept")
	}
	_, err = p.ReadLeaf(ctx, 1)
	wantNotExist(t, "ReadLeaf of a refused leaf", err)
	if !slices.Equal(p.Missing(), []int{0, 1, 2}) {
		t.Fatalf("Missing %v", p.Missing())
	}
	// The right bytes still go in afterwards.
	for i, l := range sk.Leaves {
		if err := p.WriteLeaf(ctx, i, leaf(data, l)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkContent(t, s, sk.Root, data)
}

func testPartialResume(t *testing.T, s blob.Store) {
	data := Data(12, 3*chunk.ChunkSize+1)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{MediaType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WriteLeaf(ctx, 2, leaf(data, sk.Leaves[2])); err != nil {
		t.Fatal(err)
	}
	l1 := leaf(data, sk.Leaves[1])
	if done, err := p.WriteLeafPart(ctx, 1, 0, l1[:1000]); err != nil || done {
		t.Fatalf("WriteLeafPart: %v %v", done, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p, err = s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatalf("Begin after Close: %v", err)
	}
	defer p.Close()
	if !slices.Equal(p.Missing(), []int{0, 1, 3}) || !p.Have(2) {
		t.Fatalf("resumed Missing %v, want [0 1 3]", p.Missing())
	}
	if got := p.LeafProgress(1); got != 1000 {
		t.Fatalf("resumed LeafProgress %d, want 1000", got)
	}
	if done, err := p.WriteLeafPart(ctx, 1, 1000, l1[1000:]); err != nil || !done {
		t.Fatalf("WriteLeafPart of the rest: %v %v", done, err)
	}
	for _, i := range []int{0, 3} {
		if err := p.WriteLeaf(ctx, i, leaf(data, sk.Leaves[i])); err != nil {
			t.Fatal(err)
		}
	}
	in, err := p.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.MediaType != "video/mp4" {
		t.Fatalf("media type %q", in.MediaType)
	}
	checkContent(t, s, sk.Root, data)
}

func testPartialBusy(t *testing.T, s blob.Store) {
	sk := SkeletonOf(t, Data(13, chunk.ChunkSize+1))
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, sk, blob.Meta{}); !errors.Is(err, blob.ErrBusy) {
		t.Fatalf("second Begin: %v, want ErrBusy", err)
	}
	// Concurrent Begins: exactly one wins.
	p.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []blob.Partial
	busy := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q, err := s.Begin(ctx, sk, blob.Meta{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, q)
			case errors.Is(err, blob.ErrBusy):
				busy++
			default:
				t.Errorf("Begin: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 || busy != 7 {
		t.Fatalf("concurrent Begins: %d opened, %d busy; want 1 and 7", len(won), busy)
	}
	won[0].Close()
	q, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatalf("Begin after Close: %v", err)
	}
	q.Close()
}

func testPartialOfComplete(t *testing.T, s blob.Store) {
	data := Data(14, 2*chunk.ChunkSize+2)
	in := put(t, s, data, "a/b")
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if len(p.Missing()) != 0 || !p.Have(2) {
		t.Fatalf("Begin of a complete blob: Missing %v", p.Missing())
	}
	b, err := p.ReadLeaf(ctx, 1)
	if err != nil || !bytes.Equal(b, leaf(data, sk.Leaves[1])) {
		t.Fatalf("ReadLeaf: %v", err)
	}
	got, err := p.Commit(ctx)
	if err != nil || got.CID != in.CID || !got.Added.Equal(in.Added) {
		t.Fatalf("Commit: %+v %v", got, err)
	}
	if ps, _ := s.Partials(ctx); len(ps) != 0 {
		t.Fatalf("Partials: %v", ps)
	}
}

func testPartialLeafParts(t *testing.T, s blob.Store) {
	data := Data(15, 2*chunk.ChunkSize+77)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	l0 := leaf(data, sk.Leaves[0])
	off := 0
	for _, n := range []int{1, 300 << 10, 0, 500 << 10} {
		done, err := p.WriteLeafPart(ctx, 0, off, l0[off:off+n])
		if err != nil || done {
			t.Fatalf("WriteLeafPart(%d, +%d): %v %v", off, n, done, err)
		}
		off += n
		if p.LeafProgress(0) != off {
			t.Fatalf("LeafProgress %d, want %d", p.LeafProgress(0), off)
		}
	}
	if _, err := p.WriteLeafPart(ctx, 0, off-1, l0[off-1:off+5]); err == nil {
		t.Fatal("WriteLeafPart at the wrong offset: no error")
	}
	if _, err := p.WriteLeafPart(ctx, 0, off, make([]byte, len(l0)-off+1)); err == nil {
		t.Fatal("WriteLeafPart past the end of the leaf: no error")
	}
	if p.LeafProgress(0) != off {
		t.Fatalf("refused parts changed LeafProgress to %d", p.LeafProgress(0))
	}
	done, err := p.WriteLeafPart(ctx, 0, off, l0[off:])
	if err != nil || !done {
		t.Fatalf("last part: %v %v", done, err)
	}
	if !p.Have(0) || p.LeafProgress(0) != 0 {
		t.Fatal("leaf 0 not had after its last part")
	}
	// A part of a leaf already had is a no-op.
	if done, err := p.WriteLeafPart(ctx, 0, 0, l0[:10]); err != nil || !done {
		t.Fatalf("WriteLeafPart of a had leaf: %v %v", done, err)
	}
	// The last, short leaf in one part.
	l2 := leaf(data, sk.Leaves[2])
	if done, err := p.WriteLeafPart(ctx, 2, 0, l2); err != nil || !done {
		t.Fatalf("whole short leaf as one part: %v %v", done, err)
	}
	if err := p.WriteLeaf(ctx, 1, leaf(data, sk.Leaves[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	checkContent(t, s, sk.Root, data)
}

func testPartialLeafPartWrong(t *testing.T, s blob.Store) {
	data := Data(16, chunk.ChunkSize+10)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bad := bytes.Clone(leaf(data, sk.Leaves[0]))
	bad[len(bad)-1] ^= 0xff
	if _, err := p.WriteLeafPart(ctx, 0, 0, bad[:600<<10]); err != nil {
		t.Fatal(err)
	}
	done, err := p.WriteLeafPart(ctx, 0, 600<<10, bad[600<<10:])
	var ve *chunk.VerifyError
	if done || !errors.As(err, &ve) {
		t.Fatalf("last part of a wrong leaf: %v %v, want a *chunk.VerifyError", done, err)
	}
	if p.Have(0) || p.LeafProgress(0) != 0 {
		t.Fatalf("wrong leaf kept: Have %v, LeafProgress %d", p.Have(0), p.LeafProgress(0))
	}
	if err := p.WriteLeaf(ctx, 0, leaf(data, sk.Leaves[0])); err != nil {
		t.Fatal(err)
	}
	if !p.Have(0) {
		t.Fatal("leaf 0 not had")
	}
}

func testPartialSmall(t *testing.T, s blob.Store) {
	for i, size := range []int{0, 1, 5000, chunk.ChunkSize} {
		data := Data(uint64(300+i), size)
		sk := SkeletonOf(t, data)
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Missing(), []int{0}) {
			t.Fatalf("size %d: Missing %v", size, p.Missing())
		}
		if err := p.WriteLeaf(ctx, 0, data); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		in, err := p.Commit(ctx)
		if err != nil || in.Size != int64(size) || in.CID != sk.Root {
			t.Fatalf("size %d: Commit %+v %v", size, in, err)
		}
		p.Close()
		checkContent(t, s, sk.Root, data)
	}
}

func testPartialBadIndex(t *testing.T, s blob.Store) {
	data := Data(17, 100)
	sk := SkeletonOf(t, data)
	p, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, i := range []int{-1, 1, 1 << 30} {
		if err := p.WriteLeaf(ctx, i, data); err == nil {
			t.Fatalf("WriteLeaf(%d): no error", i)
		}
		if _, err := p.WriteLeafPart(ctx, i, 0, data); err == nil {
			t.Fatalf("WriteLeafPart(%d): no error", i)
		}
		if _, err := p.ReadLeaf(ctx, i); err == nil {
			t.Fatalf("ReadLeaf(%d): no error", i)
		}
		if p.LeafProgress(i) != 0 {
			t.Fatalf("LeafProgress(%d) != 0", i)
		}
	}
}

func testBatch(t *testing.T, s blob.Store) {
	already := put(t, s, Data(400, 500), "")
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var datas [][]byte
	var infos []blob.Info
	for i := 0; i < 50; i++ {
		d := Data(uint64(401+i%45), 20<<10+i%45) // 5 duplicates in the batch
		datas = append(datas, d)
		in, err := b.Put(ctx, bytes.NewReader(d), blob.Meta{MediaType: "image/jpeg"})
		if err != nil {
			t.Fatal(err)
		}
		if in.CID != SkeletonOf(t, d).Root || in.Size != int64(len(d)) {
			t.Fatalf("batch Put gave %+v", in)
		}
		infos = append(infos, in)
	}
	big := Data(460, 2*chunk.ChunkSize+1)
	bigIn, err := b.Put(ctx, bytes.NewReader(big), blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if in, err := b.Put(ctx, bytes.NewReader(Data(400, 500)), blob.Meta{}); err != nil || in.CID != already.CID {
		t.Fatalf("batch Put of a stored blob: %+v %v", in, err)
	}
	for _, in := range infos {
		_, err := s.Stat(ctx, in.CID)
		wantNotExist(t, "Stat before batch Commit", err)
		_, err = s.Fetch(ctx, in.CID)
		wantNotExist(t, "Fetch before batch Commit", err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for i, in := range infos {
		checkContent(t, s, in.CID, datas[i])
		st, err := s.Stat(ctx, in.CID)
		if err != nil || st.MediaType != "image/jpeg" || st.Size != in.Size {
			t.Fatalf("Stat after Commit: %+v %v", st, err)
		}
	}
	checkContent(t, s, bigIn.CID, big)
	sk, err := s.Skeleton(ctx, bigIn.CID)
	if err != nil || len(sk.Leaves) != 3 {
		t.Fatalf("Skeleton of a batched blob: %v", err)
	}
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 47 {
		t.Fatalf("%d blobs after the batch, want 47", n)
	}
	if _, err := b.Put(ctx, bytes.NewReader([]byte("late")), blob.Meta{}); err == nil {
		t.Fatal("Put after Commit: no error")
	}
}

func testBatchDiscard(t *testing.T, s blob.Store) {
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := b.Put(ctx, bytes.NewReader(Data(uint64(500+i), 1000)), blob.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Discard(); err != nil {
		t.Fatal(err)
	}
	checkEmpty(t, s)
	if err := b.Commit(ctx); err == nil {
		t.Fatal("Commit after Discard: no error")
	}
	checkEmpty(t, s)
}

func testBatchFailingReader(t *testing.T, s blob.Store) {
	b, err := s.Batch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := Data(600, 1000)
	if _, err := b.Put(ctx, bytes.NewReader(good), blob.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, &FailingReader{Data: Data(601, 5000), N: 100, Err: ErrInjected}, blob.Meta{}); !errors.Is(err, ErrInjected) {
		t.Fatalf("batch Put from a failing reader: %v", err)
	}
	// The batch goes on; the failed blob is simply not in it.
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	s.Enumerate(ctx, func(blob.Info) error { n++; return nil })
	if n != 1 {
		t.Fatalf("%d blobs, want 1", n)
	}
	checkContent(t, s, SkeletonOf(t, good).Root, good)
}

func testVerify(t *testing.T, s blob.Store) {
	v, ok := s.(blob.Verifier)
	if !ok {
		t.Skip("store is not a blob.Verifier")
	}
	var cids []cid.Cid
	for i, size := range []int{0, 100, chunk.ChunkSize + 1} {
		cids = append(cids, put(t, s, Data(uint64(700+i), size), "").CID)
	}
	start := time.Now()
	for _, c := range cids {
		rep, err := v.Verify(ctx, c)
		if err != nil || rep.Result != blob.FixityOK || rep.CID != c || !rep.OK() {
			t.Fatalf("Verify %s: %+v %v", c, rep, err)
		}
	}
	missing := SkeletonOf(t, []byte("not here")).Root
	rep, err := v.Verify(ctx, missing)
	if err != nil || rep.Result != blob.FixityMissing {
		t.Fatalf("Verify of a missing blob: %+v %v", rep, err)
	}
	var got []cid.Cid
	if err := v.VerifyAll(ctx, func(r blob.FixityReport) error {
		if r.Result != blob.FixityOK {
			return fmt.Errorf("VerifyAll: %+v", r)
		}
		got = append(got, r.CID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(cids, func(a, b cid.Cid) int { return bytes.Compare(a.Bytes(), b.Bytes()) })
	if !slices.Equal(got, cids) {
		t.Fatalf("VerifyAll reported %v, want %v", got, cids)
	}
	fl, ok := s.(blob.FixityLog)
	if !ok {
		return
	}
	h, err := fl.FixityHistory(ctx, cids[0])
	if err != nil || len(h) != 2 || h[1].Result != blob.FixityOK || h[1].CheckedAt.Before(start.Add(-time.Second)) {
		t.Fatalf("FixityHistory: %+v %v", h, err)
	}
	late := put(t, s, Data(710, 10), "").CID
	var due []blob.FixityRecord
	if err := fl.LastChecks(ctx, time.Now().Add(time.Hour), func(r blob.FixityRecord) error {
		due = append(due, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(due) != 4 || due[0].CID != late || !due[0].CheckedAt.IsZero() {
		t.Fatalf("LastChecks: %+v, want the never-checked blob first, then 3", due)
	}
	due = due[:0]
	fl.LastChecks(ctx, start.Add(-time.Hour), func(r blob.FixityRecord) error {
		due = append(due, r)
		return nil
	})
	if len(due) != 1 || due[0].CID != late {
		t.Fatalf("LastChecks older than an hour ago: %+v, want only the never-checked blob", due)
	}
}

// testFixityEvents: events noted beside the checks come back from
// FixityHistory in time order with the checks, are told apart from them,
// may concern a blob not stored, and never count as a check for
// LastChecks.
func testFixityEvents(t *testing.T, s blob.Store) {
	nt, ok := s.(blob.FixityNoter)
	if !ok {
		t.Skip("store is not a blob.FixityNoter")
	}
	fl, ok := s.(blob.FixityLog)
	v, ok2 := s.(blob.Verifier)
	if !ok || !ok2 {
		t.Fatal("a blob.FixityNoter must be a blob.FixityLog and a blob.Verifier")
	}
	if err := nt.NoteFixity(ctx, blob.FixityRecord{CID: SkeletonOf(t, []byte("x")).Root}); err == nil {
		t.Error("NoteFixity without an event accepted")
	}
	c := put(t, s, Data(720, chunk.ChunkSize+7), "").CID
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	if err := nt.NoteFixity(ctx, blob.FixityRecord{CID: c, CheckedAt: t0, Event: blob.FixityReported, Peer: "12D3KooWpeer", Detail: "leaf 1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := nt.NoteFixity(ctx, blob.FixityRecord{CID: c, Event: blob.FixityRefetched, Peer: "12D3KooWother"}); err != nil {
		t.Fatal(err)
	}
	h, err := fl.FixityHistory(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Event != blob.FixityReported || h[0].Peer != "12D3KooWpeer" || h[0].Detail != "leaf 1" || !h[0].CheckedAt.Equal(t0) ||
		!h[1].IsCheck() || h[1].Result != blob.FixityOK || h[2].Event != blob.FixityRefetched || h[2].CheckedAt.IsZero() || h[2].CheckedAt.Before(h[1].CheckedAt) {
		t.Fatalf("FixityHistory: %+v", h)
	}
	if last, ok := blob.LastCheck(h); !ok || last.Result != blob.FixityOK {
		t.Fatalf("LastCheck: %+v %v", last, ok)
	}
	// The event is not a check: the blob's last check is the Verify.
	var due []blob.FixityRecord
	fl.LastChecks(ctx, time.Time{}, func(r blob.FixityRecord) error {
		if r.CID == c {
			due = append(due, r)
		}
		return nil
	})
	if len(due) != 1 || due[0].Result != blob.FixityOK || due[0].CheckedAt != h[1].CheckedAt {
		t.Fatalf("LastChecks: %+v, want the Verify", due)
	}
	// A blob never stored may have events (bad bytes received from a peer).
	gone := SkeletonOf(t, []byte("never stored")).Root
	if err := nt.NoteFixity(ctx, blob.FixityRecord{CID: gone, Event: blob.FixityBadCopy, Peer: "12D3KooWpeer"}); err != nil {
		t.Fatal(err)
	}
	if h, err := fl.FixityHistory(ctx, gone); err != nil || len(h) != 1 || h[0].Event != blob.FixityBadCopy {
		t.Fatalf("FixityHistory of a blob not stored: %+v %v", h, err)
	}
	if _, ok := blob.LastCheck(nil); ok {
		t.Error("LastCheck of nothing")
	}
}

func testBeginBadSkeleton(t *testing.T, s blob.Store) {
	data := Data(18, 3*chunk.ChunkSize+1)
	good := SkeletonOf(t, data)
	other := SkeletonOf(t, Data(19, 3*chunk.ChunkSize+1))
	clone := func() *chunk.Skeleton {
		c := *good
		c.Nodes = slices.Clone(good.Nodes)
		c.Leaves = slices.Clone(good.Leaves)
		return &c
	}
	wrongRoot := clone()
	wrongRoot.Root = other.Root
	wrongNode := clone()
	wrongNode.Nodes[0].Data = bytes.Clone(wrongNode.Nodes[0].Data)
	wrongNode.Nodes[0].Data[10] ^= 1
	wrongLeaf := clone()
	wrongLeaf.Leaves[1].CID = other.Leaves[1].CID
	wrongSize := clone()
	wrongSize.Size++
	for name, sk := range map[string]*chunk.Skeleton{"root": wrongRoot, "node": wrongNode, "leaf": wrongLeaf, "size": wrongSize, "nil": nil} {
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err == nil {
			p.Close()
			t.Fatalf("Begin with a wrong %s: no error", name)
		}
		if !errors.Is(err, chunk.ErrMalformed) && !errors.Is(err, chunk.ErrMismatch) {
			t.Fatalf("Begin with a wrong %s: %v, want chunk.ErrMalformed or ErrMismatch", name, err)
		}
	}
	checkEmpty(t, s)
	// A skeleton from the wire that does not match its CID is refused by
	// chunk.ParseSkeleton before any Begin.
	b, _ := good.MarshalBinary()
	if _, err := chunk.ParseSkeleton(other.Root, b); err == nil {
		t.Fatal("ParseSkeleton accepted a skeleton under another root")
	}
}

// testConcurrent mixes Puts, batches, Removes, Fetches and fixity checks of
// a few blobs from several goroutines, then checks that every blob is
// either absent or whole and right.
func testConcurrent(t *testing.T, s blob.Store) {
	datas := make([][]byte, 6)
	for i := range datas {
		datas[i] = Data(uint64(800+i), 1000+i*(chunk.ChunkSize/2))
	}
	v, _ := s.(blob.Verifier)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for k := 0; k < 25; k++ {
				i := r.IntN(len(datas))
				c := SkeletonOf(t, datas[i]).Root
				var err error
				switch r.IntN(5) {
				case 0:
					_, err = s.Put(ctx, bytes.NewReader(datas[i]), blob.Meta{})
				case 1:
					var b blob.Batch
					if b, err = s.Batch(ctx); err == nil {
						if _, err = b.Put(ctx, bytes.NewReader(datas[i]), blob.Meta{}); err == nil {
							err = b.Commit(ctx)
						}
					}
				case 2:
					err = s.Remove(ctx, c)
				case 3:
					var got []byte
					got, err = blob.ReadAll(ctx, s, c)
					if errors.Is(err, fs.ErrNotExist) {
						err = nil
					} else if err == nil && !bytes.Equal(got, datas[i]) {
						err = fmt.Errorf("Fetch %s: wrong bytes", c)
					}
				case 4:
					if v != nil {
						var rep blob.FixityReport
						rep, err = v.Verify(ctx, c)
						if err == nil && rep.Result != blob.FixityOK && rep.Result != blob.FixityMissing {
							err = fmt.Errorf("Verify %s: %s (%s)", c, rep.Result, rep.Detail)
						}
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, d := range datas {
		c := SkeletonOf(t, d).Root
		got, err := blob.ReadAll(ctx, s, c)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil || !bytes.Equal(got, d) {
			t.Fatalf("blob %d after the storm: %v", i, err)
		}
	}
	if v != nil {
		if err := v.VerifyAll(ctx, func(r blob.FixityReport) error {
			if !r.OK() {
				return fmt.Errorf("after the storm: %s %s (%s)", r.CID, r.Result, r.Detail)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
