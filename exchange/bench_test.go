package exchange

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Benchmarks report ratios against a reference measured in the same run.
// Sizes are small unless EXCHANGE_BENCH_LONG=1 (see
// docs/benchmarks.md for the commands and figures).

func benchLong() bool { return os.Getenv("EXCHANGE_BENCH_LONG") != "" }

// BenchmarkLoopbackOriginal: one big original over loopback, against a raw
// libp2p stream carrying the same bytes between the same hosts.
func BenchmarkLoopbackOriginal(b *testing.B) {
	size := 64 << 20
	if benchLong() {
		size = 512 << 20
	}
	if v, err := strconv.Atoi(os.Getenv("EXCHANGE_BENCH_MB")); err == nil {
		size = v << 20
	}
	r := newRoster()
	src := newPeer(b, r, FilterArchive)
	data := randBytes(size)
	orig := putBlob(b, src.store, data, blob.ClassOriginal)
	origCID, _ := cid.Decode(orig.CID)
	src.proj.add(src.id, time.Now(), orig)
	data = nil
	src.n.Host().SetStreamHandler("/bench/raw", func(s network.Stream) {
		buf := make([]byte, 128<<10)
		for left := size; left > 0; left -= len(buf) {
			if _, err := s.Write(buf[:min(len(buf), left)]); err != nil {
				s.Reset()
				return
			}
		}
		s.Close()
	})
	var exTotal, rawTotal time.Duration
	var faults int64
	for i := 0; i < b.N; i++ {
		// The receiver is closed and dropped at the end of its iteration
		// (newPeer's cleanup would keep it, and its 512 MiB copy, until
		// the benchmark ends), and garbage is collected before the next
		// receiver starts, as testing does before each run. Otherwise
		// each iteration puts its copy in memory never touched before,
		// and on a VM whose memory is backed lazily those first-touch
		// page faults can cost more than the whole raw transfer (see
		// docs/benchmarks.md); minflt/op reports those that remain.
		runtime.GC()
		k, id := newKey(b)
		r.set(id, RoleMember)
		proj := newTestProject(r, FilterArchive)
		wants := &gatedWants{Wants: proj}
		store := mem.New()
		n, err := New(Config{
			Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, ProjectID: "test",
			Store: store, Access: r, Records: proj, Wants: wants, Filter: FilterArchive,
			Logger: testLogger(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := n.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		dst := &tpeer{n: n, id: id, store: store}
		connect(b, dst, src)
		// Reference: a raw stream over the same connection, measured
		// before and after the sync (the mean), so that load from other
		// processes hits both sides of the ratio alike. The receiver
		// wants nothing until the timed Sync (a node starts fetching as
		// soon as it connects), so neither overlaps the other.
		raw := func() (time.Duration, time.Duration) {
			_, c0 := usage()
			t0 := time.Now()
			s, err := dst.n.Host().NewStream(context.Background(), src.id, "/bench/raw")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, s)
			s.Close()
			if n != int64(size) {
				b.Fatalf("raw stream moved %d bytes", n)
			}
			d := time.Since(t0)
			_, c1 := usage()
			return d, c1 - c0
		}
		r1, rc1 := raw()
		stop := benchProfile(b, i)
		f0, c0 := usage()
		wants.open.Store(true)
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if err := dst.n.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		ex := time.Since(t0)
		exTotal += ex
		f1, c1 := usage()
		f := f1 - f0
		faults += f
		stop()
		if in, err := store.Stat(context.Background(), origCID); err != nil || in.Size != int64(size) {
			b.Fatalf("after Sync the receiver lacks the original: %v", err)
		}
		r2, rc2 := raw()
		rawTotal += (r1 + r2) / 2
		ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
		b.Logf("iteration %d: sync %v (CPU %v, %d minor faults); raw %v before (CPU %v), %v after (CPU %v)",
			i, ms(ex), ms(c1-c0), f, ms(r1), ms(rc1), ms(r2), ms(rc2))
		dst.n.Close()
	}
	mb := float64(size) / 1e6 * float64(b.N)
	b.ReportMetric(mb/exTotal.Seconds(), "MB/s")
	b.ReportMetric(mb/rawTotal.Seconds(), "raw-MB/s")
	b.ReportMetric(rawTotal.Seconds()/exTotal.Seconds(), "x-raw")
	if f0, _ := usage(); f0 >= 0 {
		b.ReportMetric(float64(faults)/float64(b.N), "minflt/op")
	}
}

// gatedWants wants nothing until open is set.
type gatedWants struct {
	Wants
	open atomic.Bool
}

func (g *gatedWants) Wanted(ctx context.Context) ([]Want, error) {
	if !g.open.Load() {
		return nil, nil
	}
	return g.Wants.Wanted(ctx)
}

// benchProfile writes a CPU profile of the timed part of iteration i to
// $EXCHANGE_BENCH_CPUPROFILE.i, when that is set; the returned func stops it.
func benchProfile(b *testing.B, i int) func() {
	path := os.Getenv("EXCHANGE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, i))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// BenchmarkSlowLink: 2 Mbit/s and 100 ms round trip (toxiproxy). Reports
// the time until every thumbnail is in, against thumbnail bytes ÷ link
// rate, and the goodput of the whole sync against the link rate.
func BenchmarkSlowLink(b *testing.B) {
	n, orig := 20, 100<<10
	if benchLong() {
		n, orig = 100, 100<<10
	}
	const rate = 250 // KB/s: 2 Mbit/s
	var thumbRatio, goodRatio, thumbSecs, budget float64
	for i := 0; i < b.N; i++ {
		r := newRoster()
		src, dst := newPeer(b, r, FilterArchive), newPeer(b, r, FilterArchive)
		ps := addPhotos(b, src.store, src.proj, src.id, n, photoSizes{10 << 10, 30 << 10, orig}, time.Now())
		var thumbBytes, total int64
		thumbs := map[string]bool{}
		for _, ph := range ps {
			thumbBytes += ph.thumb.Size
			thumbs[ph.thumb.CID] = true
			for _, bl := range ph.blobs() {
				total += bl.Size
			}
		}
		addr, px := proxyTo(b, src)
		slowLink(b, px, rate, 100)
		ev := dst.n.Events()
		t0 := time.Now()
		connectVia(b, dst, src, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		syncErr := make(chan error, 1)
		go func() { syncErr <- dst.n.Sync(ctx) }()
		var thumbT time.Duration
		for len(thumbs) > 0 {
			select {
			case e := <-ev:
				if be, ok := e.(BlobEvent); ok {
					delete(thumbs, be.CID.String())
				}
			case err := <-syncErr:
				b.Fatalf("sync ended before thumbnails: %v", err)
			}
		}
		thumbT = time.Since(t0)
		if err := <-syncErr; err != nil {
			b.Fatal(err)
		}
		cancel()
		all := time.Since(t0)
		ideal := float64(thumbBytes) / (rate * 1000)
		thumbSecs += thumbT.Seconds()
		budget += thumbT.Seconds() / (1.25*ideal + 2)
		thumbRatio += thumbT.Seconds() / ideal
		goodRatio += float64(total) / all.Seconds() / (rate * 1000)
		b.Logf("%d photos: thumbnails %v (ideal %.2fs), all %d bytes in %v", n, thumbT, ideal, total, all)
	}
	b.ReportMetric(thumbSecs/float64(b.N), "thumb-s")
	b.ReportMetric(thumbRatio/float64(b.N), "thumb-x-ideal")
	// The target: thumbnails within 1.25 × ideal + 2 s; ≤ 1 passes.
	b.ReportMetric(budget/float64(b.N), "thumb-x-target")
	b.ReportMetric(goodRatio/float64(b.N), "goodput-x-link")
}

// BenchmarkSmallBlobs: many small blobs (4 KiB) over loopback.
func BenchmarkSmallBlobs(b *testing.B) {
	count := 2000
	if benchLong() {
		count = 10000
	}
	r := newRoster()
	src := newPeer(b, r, FilterArchive)
	now := time.Now()
	for i := 0; i < count; i++ {
		tb := putBlob(b, src.store, randBytes(4096), blob.ClassThumbnail)
		src.proj.add(src.id, now.Add(-time.Duration(i)*time.Millisecond), tb)
	}
	for _, kind := range []string{"disk", "mem"} {
		b.Run(kind, func(b *testing.B) { benchSmall(b, r, src, count, kind) })
	}
}

func benchSmall(b *testing.B, r *roster, src *tpeer, count int, kind string) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		k, id := newKey(b)
		r.set(id, RoleMember)
		var store blob.Store = mem.New()
		if kind == "disk" {
			store = openDisk(b, b.TempDir())
		}
		dst := startPeer(b, k, r, FilterArchive, store)
		t0 := time.Now()
		connect(b, dst, src)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		if err := dst.n.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total += time.Since(t0)
		if got := dst.n.Progress().Classes[blob.ClassThumbnail].FilesDone; got != count {
			b.Fatalf("%d blobs done, want %d", got, count)
		}
		dst.n.Close()
	}
	b.ReportMetric(float64(count*b.N)/total.Seconds(), "blobs/s")
	// Reference: the same blobs put locally into the same kind of store in
	// batches of 512, as fast as the store takes them.
	var blobs [][]byte
	src.store.Enumerate(context.Background(), func(i blob.Info) error {
		d, _ := blob.ReadRange(context.Background(), src.store, i.CID, 0, int(i.Size))
		blobs = append(blobs, d)
		return nil
	})
	var store blob.Store = mem.New()
	if kind == "disk" {
		store = openDisk(b, b.TempDir())
	}
	t0 := time.Now()
	ctx := context.Background()
	for len(blobs) > 0 {
		k := min(len(blobs), 512)
		bt, err := store.Batch(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range blobs[:k] {
			if _, err := bt.Put(ctx, bytes.NewReader(d), blob.Meta{}); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Commit(ctx); err != nil {
			b.Fatal(err)
		}
		blobs = blobs[k:]
	}
	local := float64(count) / time.Since(t0).Seconds()
	b.ReportMetric(local, "local-put-blobs/s")
	b.ReportMetric(float64(count*b.N)/total.Seconds()/local, "x-local-put")
}

// countingProxy relays TCP to upstream and counts the bytes both ways.
func countingProxy(b testing.TB, upstream string) (string, *atomic.Int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			cp := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					k, err := src.Read(buf)
					n.Add(int64(k))
					if k > 0 {
						if _, werr := dst.Write(buf[:k]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				dst.Close()
				src.Close()
			}
			go cp(u, c)
			go cp(c, u)
		}
	}()
	return l.Addr().String(), &n
}

// BenchmarkNothingNew: two devices that both hold 10,000 observations and
// 30,000 blobs connect and sync; nothing is new. Reports the time and the
// bytes on the wire (TCP payload, both ways, handshakes included).
func BenchmarkNothingNew(b *testing.B) {
	obs := 10000
	r := newRoster()
	author, _ := newKey(b)
	aid, _ := peer.IDFromPrivateKey(author)
	r.set(aid, RoleMember)
	src, dst := newPeer(b, r, FilterArchive), newPeer(b, r, FilterArchive)
	now := time.Now()
	for i := 0; i < obs; i++ {
		var bs []testBlob
		for k, c := range []blob.Class{blob.ClassThumbnail, blob.ClassPreview, blob.ClassOriginal} {
			d := []byte(fmt.Sprintf("obs %d blob %d", i, k))
			putBlob(b, dst.store, d, c)
			bs = append(bs, putBlob(b, src.store, d, c))
		}
		at := now.Add(-time.Duration(i) * time.Second)
		src.proj.add(aid, at, bs...)
		dst.proj.add(aid, at, bs...)
	}
	var upstream string
	for _, a := range src.n.Host().Addrs() {
		if s := a.String(); bytes.HasPrefix([]byte(s), []byte("/ip4/127.0.0.1/tcp/")) {
			upstream = "127.0.0.1:" + s[len("/ip4/127.0.0.1/tcp/"):]
		}
	}
	var total time.Duration
	var wire int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		addr, count := countingProxy(b, upstream)
		host, port, _ := net.SplitHostPort(addr)
		t0 := time.Now()
		connectVia(b, dst, src, fmt.Sprintf("/ip4/%s/tcp/%s", host, port))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := dst.n.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		total += time.Since(t0)
		time.Sleep(100 * time.Millisecond) // let the counters settle
		wire += count.Load()
		dst.n.Host().Network().ClosePeer(src.id)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(float64(wire)/float64(b.N), "wire-bytes/sync")
}
