//go:build linux

package main

// A link between two devices on 127.0.0.1:
//
//	client ──▶ forwarder ──▶ toxiproxy ──▶ server
//	           (counts,      (bandwidth, then
//	            cuts)         latency, each way)
//
// The forwarder counts the TCP payload each way and, if asked, cuts every
// connection when the downstream count reaches the next random threshold.
// toxiproxy (in process) shapes: per direction a bandwidth toxic, then
// fbstamp (below), then a latency toxic. Without a shape the forwarder
// talks to the server directly (plain loopback, counted).

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Shape is a weak link: a rate each way and a round trip time.
type Shape struct {
	RateBps float64       // bytes per second, each direction
	RTT     time.Duration // added round trip (half each way)
}

// String describes s as people say it.
func (s Shape) String() string {
	return fmt.Sprintf("%s, %s RTT", bitRate(s.RateBps), s.RTT)
}

func bitRate(bps float64) string {
	bits := bps * 8
	if bits >= 1e6 {
		return fmt.Sprintf("%g Mbit/s", bits/1e6)
	}
	return fmt.Sprintf("%g kbit/s", bits/1e3)
}

// CutSpec cuts the link after a random number of downstream bytes, drawn
// uniformly from [Min, Max] anew after each cut, from Seed.
type CutSpec struct {
	Min, Max int64
	Seed     uint64
}

// stampToxic sets each chunk's timestamp to now. toxiproxy's latency toxic
// delays a chunk until timestamp + latency, and the timestamp is when the
// proxy read the chunk; after a bandwidth toxic that has already held the
// chunk longer than the latency, no latency would be added at all. Placed
// between the two, it makes the latency a propagation delay after the
// bottleneck, as on a real link.
type stampToxic struct{}

func (stampToxic) Pipe(stub *toxics.ToxicStub) {
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			c.Timestamp = time.Now()
			stub.Output <- c
		}
	}
}

var (
	toxiOnce sync.Once
	toxiSrv  *toxiproxy.ApiServer
	toxiN    atomic.Int64
)

func toxiServer() *toxiproxy.ApiServer {
	toxiOnce.Do(func() {
		zerolog.SetGlobalLevel(zerolog.Disabled) // toxics log through the global logger
		toxics.Register("fbstamp", new(stampToxic))
		toxiSrv = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	})
	return toxiSrv
}

// Link is a running link to one server address.
type Link struct {
	fwd   *forwarder
	px    *toxiproxy.Proxy
	Shape *Shape
}

// OpenLink starts a link to target (host:port) with an optional shape and
// optional cuts.
func OpenLink(target string, shape *Shape, cut *CutSpec) (*Link, error) {
	l := &Link{Shape: shape}
	up := target
	if shape != nil {
		name := fmt.Sprintf("fieldbench-%d", toxiN.Add(1))
		l.px = toxiproxy.NewProxy(toxiServer(), name, "127.0.0.1:0", target)
		if err := l.px.Start(); err != nil {
			return nil, fmt.Errorf("start toxiproxy: %w", err)
		}
		rate := int64(shape.RateBps / 1000) // toxiproxy's unit is 1000 bytes/s
		half := shape.RTT.Milliseconds() / 2
		for _, dir := range []string{"upstream", "downstream"} {
			for _, t := range []string{
				fmt.Sprintf(`{"name":"bw-%s","type":"bandwidth","stream":"%s","attributes":{"rate":%d}}`, dir, dir, rate),
				fmt.Sprintf(`{"name":"stamp-%s","type":"fbstamp","stream":"%s"}`, dir, dir),
				fmt.Sprintf(`{"name":"lat-%s","type":"latency","stream":"%s","attributes":{"latency":%d}}`, dir, dir, half),
			} {
				if _, err := l.px.Toxics.AddToxicJson(strings.NewReader(t)); err != nil {
					l.px.Stop()
					return nil, fmt.Errorf("add toxic: %w", err)
				}
			}
		}
		up = l.px.Listen
	}
	f, err := newForwarder(up, cut)
	if err != nil {
		if l.px != nil {
			l.px.Stop()
		}
		return nil, err
	}
	l.fwd = f
	return l, nil
}

// Addr is where clients connect (127.0.0.1:port).
func (l *Link) Addr() string { return l.fwd.ln.Addr().String() }

// Multiaddr is Addr as a libp2p multiaddr for peer id.
func (l *Link) Multiaddr(peerID string) string {
	host, port, _ := net.SplitHostPort(l.Addr())
	return fmt.Sprintf("/ip4/%s/tcp/%s/p2p/%s", host, port, peerID)
}

// Counters returns the bytes that crossed the link each way, the
// connections made and the cuts made.
func (l *Link) Counters() (down, up int64, conns, cuts int) {
	l.fwd.mu.Lock()
	defer l.fwd.mu.Unlock()
	return l.fwd.down, l.fwd.up, l.fwd.conns, l.fwd.cuts
}

// StopCuts lets the rest of the transfer through uncut.
func (l *Link) StopCuts() {
	l.fwd.mu.Lock()
	l.fwd.cut = nil
	l.fwd.mu.Unlock()
}

// Close stops the link and closes its connections.
func (l *Link) Close() {
	l.fwd.close()
	if l.px != nil {
		l.px.Stop()
	}
}

type forwarder struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	down, up int64
	conns    int
	cuts     int
	active   map[net.Conn]bool
	cut      *CutSpec
	rng      *rand.Rand
	nextCut  int64
	closed   bool
}

func newForwarder(target string, cut *CutSpec) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &forwarder{ln: ln, target: target, active: map[net.Conn]bool{}, cut: cut}
	if cut != nil {
		f.rng = rand.New(rand.NewPCG(cut.Seed, 0xc07))
		f.nextCut = f.draw()
	}
	go f.accept()
	return f, nil
}

func (f *forwarder) draw() int64 {
	if f.cut.Max <= f.cut.Min {
		return f.cut.Min
	}
	return f.cut.Min + f.rng.Int64N(f.cut.Max-f.cut.Min+1)
}

func (f *forwarder) accept() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.DialTimeout("tcp", f.target, 10*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			c.Close()
			u.Close()
			return
		}
		f.conns++
		f.active[c], f.active[u] = true, true
		f.mu.Unlock()
		p := &pair{c: c, u: u}
		p.left.Store(2)
		go f.pipe(p, c, u, false)
		go f.pipe(p, u, c, true)
	}
}

// pair is one client connection and its upstream connection.
type pair struct {
	c, u net.Conn
	left atomic.Int32 // pipes still running
}

// pipe copies src to dst, counting; downstream (server to client) it also
// cuts.
func (f *forwarder) pipe(p *pair, src, dst net.Conn, down bool) {
	buf := make([]byte, 32<<10)
	var err error
	for {
		var n int
		n, err = src.Read(buf)
		if n > 0 {
			f.mu.Lock()
			cutNow := false
			if down {
				if f.cut != nil && f.down+int64(n) >= f.nextCut {
					n = int(f.nextCut - f.down)
					cutNow = true
				}
				f.down += int64(n)
			} else {
				f.up += int64(n)
			}
			f.mu.Unlock()
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					err = werr
					break
				}
			}
			if cutNow {
				f.mu.Lock()
				f.cuts++
				f.nextCut = f.down + f.draw()
				for c := range f.active {
					c.Close()
				}
				clear(f.active)
				f.mu.Unlock()
				return
			}
		}
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) && p.left.Add(-1) > 0 {
		// A clean end one way: pass the half-close on and let the other
		// direction finish.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		return
	}
	f.mu.Lock()
	delete(f.active, p.c)
	delete(f.active, p.u)
	f.mu.Unlock()
	p.c.Close()
	p.u.Close()
}

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.active {
		c.Close()
	}
	clear(f.active)
	f.mu.Unlock()
	f.ln.Close()
}
