package exchange

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

var proxyCount atomic.Int64

// proxyTo starts an in-process toxiproxy in front of p's TCP listener and
// returns the multiaddr to dial p through it, and the proxy to add toxics
// to ("downstream" is p → dialler).
func proxyTo(t testing.TB, p *tpeer) (string, *toxiproxy.Proxy) {
	t.Helper()
	var upstream string
	for _, a := range p.n.Host().Addrs() {
		ip, err1 := a.ValueForProtocol(ma.P_IP4)
		port, err2 := a.ValueForProtocol(ma.P_TCP)
		if err1 == nil && err2 == nil && ip == "127.0.0.1" {
			upstream = ip + ":" + port
		}
	}
	if upstream == "" {
		t.Fatal("no 127.0.0.1 TCP address")
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	px := toxiproxy.NewProxy(srv, fmt.Sprintf("p%d", proxyCount.Add(1)), "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Stop)
	host, port, _ := strings.Cut(px.Listen, ":")
	return fmt.Sprintf("/ip4/%s/tcp/%s", host, port), px
}

func addToxic(t testing.TB, px *toxiproxy.Proxy, json string) {
	t.Helper()
	if _, err := px.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		t.Fatal(err)
	}
}

// slowLink shapes px to rate KB/s (1000 bytes) each way and rttMs round trip.
func slowLink(t testing.TB, px *toxiproxy.Proxy, rate, rttMs int) {
	for _, dir := range []string{"downstream", "upstream"} {
		addToxic(t, px, fmt.Sprintf(`{"name":"lat-%s","type":"latency","stream":%q,"attributes":{"latency":%d}}`, dir, dir, rttMs/2))
		addToxic(t, px, fmt.Sprintf(`{"name":"bw-%s","type":"bandwidth","stream":%q,"attributes":{"rate":%d}}`, dir, dir, rate))
	}
}

// TestPriorityOnSlowLink: under 2 Mbit/s and 100 ms round trip, every
// thumbnail arrives before any original is complete, and thumbnails of
// records that arrive mid-sync jump ahead of the original in flight.
func TestPriorityOnSlowLink(t *testing.T) {
	n := 100
	if testing.Short() {
		n = 15
	}
	r := newRoster()
	src, dst := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	sz := photoSizes{thumb: 8 << 10, preview: 16 << 10, original: 1200 << 10}
	ps := addPhotos(t, src.store, src.proj, src.id, n, sz, time.Now())
	var thumbBytes int64
	for _, ph := range ps {
		thumbBytes += ph.thumb.Size
	}
	addr, px := proxyTo(t, src)
	slowLink(t, px, 250, 100)

	ev := dst.n.Events()
	start := time.Now()
	connectVia(t, dst, src, addr+"/p2p/"+src.id.String())
	thumbs := map[string]bool{}
	for _, ph := range ps {
		thumbs[ph.thumb.CID] = true
	}
	var late []photo
	var lateAt time.Time
	originalsDone := 0
	timeout := time.After(2 * time.Minute)
	for len(thumbs) > 0 || late == nil {
		select {
		case e := <-ev:
			be, ok := e.(BlobEvent)
			if !ok {
				continue
			}
			switch be.Class {
			case blob.ClassThumbnail:
				delete(thumbs, be.CID.String())
				if len(thumbs) == 0 && late == nil {
					d := time.Since(start)
					ideal := time.Duration(float64(thumbBytes) / 250e3 * float64(time.Second))
					t.Logf("%d thumbnails (%d bytes) in %v; bytes ÷ link rate = %v", n, thumbBytes, d, ideal)
				}
			case blob.ClassOriginal:
				originalsDone++
				if late == nil && len(thumbs) > 0 {
					t.Fatalf("original %s complete with %d thumbnails missing", be.CID, len(thumbs))
				}
			}
			if late == nil && len(thumbs) == 0 && dst.n.Progress().Classes[blob.ClassOriginal].BytesDone > 0 {
				// An original is in flight: new records arrive now.
				late = addPhotos(t, src.store, src.proj, src.id, 3, sz, time.Now().Add(time.Hour))
				for _, ph := range late {
					thumbs[ph.thumb.CID] = true
				}
				src.n.Notify()
				lateAt = time.Now()
				originalsDone = 0
			}
		case <-timeout:
			t.Fatalf("timed out; %d thumbnails missing; %+v", len(thumbs), dst.n.Progress())
		}
	}
	t.Logf("late thumbnails in %v after their records were written", time.Since(lateAt))
	// The records of the late photos take a few round trips to arrive;
	// the original then on the wire may finish, no other.
	if originalsDone > 1 {
		t.Errorf("%d originals completed before the late thumbnails", originalsDone)
	}
	_ = cid.Undef
}

// TestCutEvery512KiB: the link drops after every 512 KiB; the sync
// completes and receives at most 1.1× the blob bytes.
func TestCutEvery512KiB(t *testing.T) {
	r := newRoster()
	src, dst := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	n := 3
	if testing.Short() {
		n = 2
	}
	ps := addPhotos(t, src.store, src.proj, src.id, n, photoSizes{20 << 10, 100 << 10, 3 << 20}, time.Now())
	var total int64
	for _, ph := range ps {
		for _, b := range ph.blobs() {
			total += b.Size
		}
	}
	addr, px := proxyTo(t, src)
	addToxic(t, px, `{"name":"cut","type":"limit_data","stream":"downstream","attributes":{"bytes":524288}}`)
	connectVia(t, dst, src, addr+"/p2p/"+src.id.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dst.n.Sync(ctx); err != nil {
		t.Fatalf("sync: %v; %+v", err, dst.n.Progress())
	}
	for _, ph := range ps {
		checkHas(t, dst.store, ph.blobs()...)
	}
	s := dst.n.Progress()
	ratio := float64(s.BytesReceived) / float64(total)
	t.Logf("blob bytes %d, received %d (%.3f×), leaves %d", total, s.BytesReceived, ratio, s.LeavesFetched)
	if ratio > 1.1 {
		t.Errorf("received %.3f× the blob bytes, want ≤ 1.1×", ratio)
	}
}

// TestEndgameAcrossPeers: one source is fast, the other is on a 100 KB/s
// link. Leaves go to both (least busy first); once nothing is left to ask,
// the idle fast peer duplicates what the slow one still owes, and the
// sync does not wait for the slow link.
func TestEndgameAcrossPeers(t *testing.T) {
	r := newRoster()
	fast, slow := newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	ps := addPhotos(t, fast.store, fast.proj, fast.id, 1, photoSizes{10 << 10, 20 << 10, 6 << 20}, time.Now())
	for _, b := range ps[0].blobs() {
		c, _ := cid.Decode(b.CID)
		rc, _ := fast.store.Fetch(context.Background(), c)
		slow.store.Put(context.Background(), rc, blob.Meta{})
		rc.Close()
	}
	slow.proj.add(fast.id, time.Now(), ps[0].blobs()...)
	dst := newPeer(t, r, FilterArchive)
	addr, px := proxyTo(t, slow)
	addToxic(t, px, `{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":100}}`)
	connectVia(t, dst, slow, addr)
	connect(t, dst, fast)
	t0 := time.Now()
	syncWithin(t, 60*time.Second, dst)
	s := dst.n.Progress()
	t.Logf("synced in %v with %d duplicate requests", time.Since(t0), s.Duplicates)
	checkHas(t, dst.store, ps[0].blobs()...)
	for _, pp := range s.Peers {
		if pp.BytesReceived == 0 {
			t.Errorf("nothing came from %s: leaves should be spread over both peers", pp.ID)
		}
	}
	if time.Since(t0) > 20*time.Second {
		t.Errorf("sync took %v: the slow link held it up", time.Since(t0))
	}
}
