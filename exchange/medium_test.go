package exchange

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// TestMediumBlobs: one-leaf blobs above smallMax come whole into memory
// and are stored in batches from a fast peer (no leaf is written as a
// partial blob), and as partial blobs, kept frame by frame, over a link
// too slow to bring one in wholeWithin, which here also drops every
// 400 KiB: a blob received whole could never get through it.
func TestMediumBlobs(t *testing.T) {
	const size = 700 << 10
	mk := func(r *roster) (*tpeer, []testBlob) {
		src := newPeer(t, r, FilterArchive)
		var bs []testBlob
		for range 6 {
			bs = append(bs, putBlob(t, src.store, randBytes(size), blob.ClassOriginal))
		}
		src.proj.add(src.id, time.Now(), bs...)
		return src, bs
	}

	t.Run("fast", func(t *testing.T) {
		r := newRoster()
		src, bs := mk(r)
		// Many, so that the rate is measured before most are handed out.
		for range 60 {
			b := putBlob(t, src.store, randBytes(size), blob.ClassAttachment)
			src.proj.add(src.id, time.Now(), b)
			bs = append(bs, b)
		}
		dst := newPeer(t, r, FilterArchive)
		connect(t, dst, src)
		syncWithin(t, 60*time.Second, dst)
		checkHas(t, dst.store, bs...)
		p := dst.n.Progress()
		t.Logf("%d blobs of %d KiB, %d as partial blobs", len(bs), size>>10, p.LeavesFetched)
		if p.LeavesFetched >= len(bs)/2 {
			t.Errorf("%d of %d medium blobs came as partial blobs over loopback", p.LeavesFetched, len(bs))
		}
	})

	t.Run("slow with cuts", func(t *testing.T) {
		r := newRoster()
		src, bs := mk(r)
		dst := newPeer(t, r, FilterArchive)
		addr, px := proxyTo(t, src)
		addToxic(t, px, `{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":2000}}`)
		addToxic(t, px, `{"name":"cut","type":"limit_data","stream":"downstream","attributes":{"bytes":409600}}`)
		connectVia(t, dst, src, addr+"/p2p/"+src.id.String())
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := dst.n.Sync(ctx); err != nil {
			t.Fatalf("sync: %v; %+v", err, dst.n.Progress())
		}
		checkHas(t, dst.store, bs...)
		if p := dst.n.Progress(); p.LeavesFetched != len(bs) {
			t.Errorf("%d of %d blobs came as partial blobs over a slow link, want all", p.LeavesFetched, len(bs))
		}
	})
}

// TestLargeBlobAvailable: a blob of many leaves into a disk store, whose
// last leaves are made durable beside the read loop: SyncAvailable must
// not take the moments when nothing is in flight but leaves are still
// being written for "nothing more to get".
func TestLargeBlobAvailable(t *testing.T) {
	r := newRoster()
	mk := func() *tpeer {
		k, id := newKey(t)
		r.set(id, RoleMember)
		return startPeer(t, k, r, FilterArchive, openDisk(t, t.TempDir()))
	}
	src := mk()
	var bs []testBlob
	for range 3 {
		bs = append(bs, putBlob(t, src.store, randBytes(6<<20+12345), blob.ClassOriginal))
	}
	src.proj.add(src.id, time.Now(), bs...)
	dst := mk()
	connect(t, dst, src)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	complete, err := dst.n.SyncAvailable(ctx)
	if err != nil || !complete {
		t.Fatalf("SyncAvailable: complete %v, %v; %+v", complete, err, dst.n.Progress())
	}
	checkHas(t, dst.store, bs...)
}

// TestEndgameEqualLinks: two sources behind links of the same speed. The
// last pieces are not fetched from both (a duplicate only goes where it
// would arrive at least twice as soon), so the bytes received stay close
// to the blob bytes.
func TestEndgameEqualLinks(t *testing.T) {
	r := newRoster()
	a, b := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	var bs []testBlob
	var total int64
	for range 12 {
		d := randBytes(150 << 10)
		x := putBlob(t, a.store, d, blob.ClassPreview)
		putBlob(t, b.store, d, blob.ClassPreview)
		bs = append(bs, x)
		total += x.Size
	}
	a.proj.add(a.id, time.Now(), bs...)
	b.proj.add(a.id, time.Now(), bs...)
	dst := newPeer(t, r, FilterArchive)
	for _, p := range []*tpeer{a, b} {
		addr, px := proxyTo(t, p)
		slowLink(t, px, 500, 20)
		connectVia(t, dst, p, addr+"/p2p/"+p.id.String())
	}
	syncWithin(t, 60*time.Second, dst)
	checkHas(t, dst.store, bs...)
	s := dst.n.Progress()
	ratio := float64(s.BytesReceived) / float64(total)
	t.Logf("received %.3f× the blob bytes, %d duplicate requests", ratio, s.Duplicates)
	if ratio > 1.1 {
		t.Errorf("received %.3f× the blob bytes from two equal links, want ≤ 1.1×", ratio)
	}
}

// TestWholeLeaves: the leaves of large blobs from a fast peer are received
// whole into memory and written, verified and committed beside the read
// loop; the store ends with every blob intact. A leaf that arrives whole
// but corrupt is caught as a frame-by-frame one is: the peer is named
// and dropped, and the blob completes from another peer.
func TestWholeLeaves(t *testing.T) {
	const big = 6 << 20 // six leaves
	r := newRoster()
	b := newPeer(t, r, FilterArchive)
	// Older medium blobs first, so the rate is measured before the big
	// ones are handed out (the newest observation goes first).
	var bs []testBlob
	for range 20 {
		bs = append(bs, putBlob(t, b.store, randBytes(700<<10), blob.ClassOriginal))
	}
	b.proj.add(b.id, time.Now().Add(-time.Hour), bs...)
	var large []testBlob
	for range 4 {
		large = append(large, putBlob(t, b.store, randBytes(big), blob.ClassAttachment))
	}
	b.proj.add(b.id, time.Now().Add(-2*time.Hour), large...)
	bs = append(bs, large...)

	// Intact: most leaves of the large blobs come whole.
	good := newPeer(t, r, FilterArchive)
	connect(t, good, b)
	syncWithin(t, 60*time.Second, good)
	checkHas(t, good.store, bs...)
	w := good.n.wholeLeaves.Load()
	t.Logf("%d leaves came whole (the large blobs have 24)", w)
	if w < 12 {
		t.Errorf("%d of 24 leaves came whole over loopback, want most", w)
	}

	// Corrupt: leaf 4 of every large blob on B (the one A meets first
	// among them is the one it reports).
	for _, x := range large {
		c, _ := cid.Decode(x.CID)
		if err := b.store.(*mem.Store).Damage(c, 4*chunk.ChunkSize+100); err != nil {
			t.Fatal(err)
		}
	}
	a := newPeer(t, r, FilterArchive)
	ev := collect(a)
	connect(t, a, b)
	det := ev.waitCorrupt(t, 30*time.Second, CorruptDetected)
	if det.Peer != b.id || det.Leaf != 4 || !strings.Contains(det.Detail, "leaf 4 of") {
		t.Errorf("A's event: %+v", det)
	}
	if a.n.wholeLeaves.Load() == 0 {
		t.Error("no leaf came whole before the corrupt one was caught")
	}
	if !dropped(a, b.id) {
		t.Errorf("B not dropped by A: %+v", a.n.Progress().Peers)
	}
	connect(t, a, good)
	syncWithin(t, 60*time.Second, a)
	checkHas(t, a.store, bs...)
	for _, x := range large {
		c, _ := cid.Decode(x.CID)
		if rep, err := a.store.(blob.Verifier).Verify(context.Background(), c); err != nil || !rep.OK() {
			t.Errorf("A's copy of %s: %+v %v", c, rep, err)
		}
	}
}

// Small blobs are received into pooled buffers by size class, which go
// back to their pool once stored; other buffers are not pooled.
func TestSmallBufs(t *testing.T) {
	for _, n := range []int{1, 4 << 10, 4<<10 + 1, 20_000, smallMax} {
		b := getSmallBuf(n)
		if len(b) != 0 || cap(b) < n || cap(b) >= 2*max(n, minSmallBuf) || cap(b) > smallMax {
			t.Errorf("getSmallBuf(%d): len %d cap %d", n, len(b), cap(b))
		}
		putWholeBuf(append(b, 1))
	}
	if c := smallBufClass(smallMax + 1); c != -1 {
		t.Errorf("a buffer over smallMax has class %d", c)
	}
	putWholeBuf(make([]byte, 0, 20_000)) // not from a pool: ignored
	if b := getSmallBuf(20_000); cap(b) != 32<<10 {
		t.Errorf("a 20,000-byte blob got a buffer of %d", cap(b))
	}
}
