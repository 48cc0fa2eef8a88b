// Package netsim is the internet, simulated, for tests of reach beyond
// the local network: go-libp2p's QUIC over github.com/marcopolo/simnet's
// in-process packet connections, routed with a latency between devices
// with public addresses and devices behind NATs. Run under
// testing/synctest, a test's minutes of network time take milliseconds.
//
// Two kinds of NAT: one that lets a hole be punched (a packet in is let
// through from an address the device sent a packet to: simnet's
// SimpleFirewallRouter), and one that never lets a packet through between
// two devices behind NATs (symmetric or carrier-grade NATs), where only a
// relay joins them. simnet provides the packet connections and the
// firewall; this package adds the routing policy and the latency, and the
// libp2p option that puts a host's QUIC on the network (closing it with
// the host, which libp2p does not do for a connection manager it is given).
package netsim

import (
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"
)

// Router routes packets between simulated devices with a one-way Latency.
// Devices not marked public are behind a NAT: with Punch, a packet in is
// let through from an address the device sent to; without, a packet
// between two devices behind NATs never arrives.
type Router struct {
	Latency time.Duration
	Punch   bool
	// Bandwidth is each device's uplink in bits per second (0: no
	// limit): a device's packets leave one after the other at that rate,
	// and are dropped when half a second of them is already queued.
	Bandwidth int

	fw      simnet.SimpleFirewallRouter
	mu      sync.Mutex
	public  map[string]bool
	down    map[string]bool // IPs whose link is cut
	dropped int
	port    int // the last port given to a socket that asked for any
}

// nextPort is a port for a socket that asked for any (port 0).
func (r *Router) nextPort() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.port == 0 {
		r.port = 50000
	}
	r.port++
	return r.port
}

// Cut cuts the link of the device at ip (its every packet, in or out, is
// lost) until Restore.
func (r *Router) Cut(ip net.IP) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down == nil {
		r.down = map[string]bool{}
	}
	r.down[ip.String()] = true
}

// Restore mends the link Cut cut.
func (r *Router) Restore(ip net.IP) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.down, ip.String())
}

// Dropped counts the packets between two devices behind NATs that were
// never delivered (without Punch).
func (r *Router) Dropped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}

func (r *Router) setPublic(a net.Addr) {
	r.mu.Lock()
	if r.public == nil {
		r.public = map[string]bool{}
	}
	r.public[a.String()] = true
	r.mu.Unlock()
	r.fw.SetAddrPubliclyReachable(a)
}

// RecvPacket routes one packet (simnet.PacketReceiver).
func (r *Router) RecvPacket(p *simnet.Packet) {
	r.mu.Lock()
	blocked := !r.Punch && !r.public[p.From.String()] && !r.public[p.To.String()]
	if blocked {
		r.dropped++
	}
	cut := r.down[ipOf(p.From)] || r.down[ipOf(p.To)]
	r.mu.Unlock()
	if blocked || cut {
		return
	}
	time.AfterFunc(r.Latency, func() { r.fw.RecvPacket(p) })
}

// QUIC is the libp2p option that puts a host's QUIC on the simulated
// network, at a public address or behind a NAT: the host listens on
// /ip4/<ip>/udp/<port>/quic-v1 addresses as it would on a real one. The
// same option given to a second host of the same device (one that only
// dials, as AutoNAT's dial-back host) puts it at the device's IP, at a
// port of its own: a NAT lets its packets in only where the device sent
// packets to that port.
func (r *Router) QUIC(public bool) libp2p.Option {
	sel := &fixedSource{}
	newCM := func(l fx.Lifecycle, srk quic.StatelessResetKey, tk quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
		cm, err := quicreuse.NewConnManager(srk, tk, opts...)
		if err == nil {
			l.Append(fx.StopHook(cm.Close))
		}
		return cm, err
	}
	return libp2p.QUICReuse(newCM,
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return sel, nil }),
		quicreuse.OverrideListenUDP(func(_ string, a *net.UDPAddr) (net.PacketConn, error) {
			if a.IP.IsUnspecified() {
				// A socket to dial from (a host that does not listen,
				// as AutoNAT's dial-back host): the device's own IP,
				// at a port of its own.
				a = &net.UDPAddr{IP: sel.get(), Port: a.Port}
			} else {
				sel.set(a.IP)
			}
			if a.Port == 0 {
				a.Port = r.nextPort()
			}
			if public {
				r.setPublic(a)
			}
			c := simnet.NewSimConn(a)
			c.SetUpPacketReceiver(r)
			r.fw.AddNode(a, c)
			if r.Bandwidth > 0 {
				return &uplink{SimConn: c, bps: int64(r.Bandwidth)}, nil
			}
			return c, nil
		}))
}

// uplink is a device's connection with its uplink's rate: each packet
// leaves once those before it have, and a packet that would wait more
// than maxQueue is dropped (a router's queue is not endless). A write
// never waits: a test's goroutine asleep in a write, holding a lock,
// would stop the virtual clock of testing/synctest.
type uplink struct {
	*simnet.SimConn
	bps  int64
	mu   sync.Mutex
	free time.Time // when the packets queued so far are all sent
}

const maxQueue = 500 * time.Millisecond

func (u *uplink) WriteTo(p []byte, a net.Addr) (int, error) {
	now := time.Now()
	u.mu.Lock()
	start := now
	if u.free.After(now) {
		start = u.free
	}
	if start.Sub(now) > maxQueue {
		u.mu.Unlock()
		return len(p), nil // dropped at the queue's tail
	}
	u.free = start.Add(time.Duration(int64(len(p)) * 8 * int64(time.Second) / u.bps))
	at := u.free.Sub(now)
	u.mu.Unlock()
	b := append([]byte(nil), p...)
	time.AfterFunc(at, func() { u.SimConn.WriteTo(b, a) }) //nolint:errcheck // a packet lost
	return len(p), nil
}

func ipOf(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	h, _, _ := net.SplitHostPort(a.String())
	return h
}

type fixedSource struct {
	mu sync.Mutex
	ip net.IP
}

func (s *fixedSource) set(ip net.IP) {
	s.mu.Lock()
	s.ip = ip
	s.mu.Unlock()
}

func (s *fixedSource) get() net.IP {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ip
}

func (s *fixedSource) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ip, nil
}
