package node

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/netsim"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// simInternet is a simulated internet for one test: at(ip, public) are the
// network options of a device there; alwaysOn starts a new device with a
// project named name as the project's always-on device at 1.0.0.1; join
// makes a device at ip (behind a NAT) join on's project with role and
// filter, and sync once with it.
type simInternet struct {
	t   *testing.T
	ctx context.Context
	r   *netsim.Router
	pub ma.Multiaddr
}

func newSimInternet(t *testing.T, ctx context.Context, latency time.Duration, bandwidth int) *simInternet {
	return &simInternet{t: t, ctx: ctx, r: &netsim.Router{Latency: latency, Bandwidth: bandwidth},
		pub: ma.StringCast("/ip4/1.0.0.1/udp/4747/quic-v1")}
}

func (s *simInternet) at(ip string, public bool) NetOptions {
	return NetOptions{
		Listen:      []string{"/ip4/" + ip + "/udp/4747/quic-v1"},
		HostOptions: []libp2p.Option{s.r.QUIC(public)},
		Peers:       []peer.AddrInfo{}, // none but the project's always-on devices
	}
}

func (s *simInternet) alwaysOn(name string) *Node {
	s.t.Helper()
	n := newDevice(s.t, name)
	on := s.at("1.0.0.1", true)
	on.Public = []ma.Multiaddr{s.pub}
	if err := n.Start(s.ctx, on); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// via are options at ip that dial the always-on device on.
func (s *simInternet) via(ip string, on *Node) NetOptions {
	o := s.at(ip, false)
	o.Peers = []peer.AddrInfo{{ID: on.ID(), Addrs: []ma.Multiaddr{s.pub}}}
	return o
}

func (s *simInternet) join(on *Node, ip string, role project.Role, f project.Filter) *Node {
	s.t.Helper()
	return s.joinAt(on, ip, false, role, f)
}

// joinAt is join from a device at ip, public or behind a NAT.
func (s *simInternet) joinAt(on *Node, ip string, public bool, role project.Role, f project.Filter) *Node {
	s.t.Helper()
	inv, err := on.Invite(s.ctx, InviteOptions{Role: role, TTL: time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	d := newDevice(s.t, "")
	o := s.at(ip, public)
	if _, err := d.Join(s.ctx, inv.Code, JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions, Filter: f}); err != nil {
		s.t.Fatalf("join from %s: %v", ip, err)
	}
	o.Peers = []peer.AddrInfo{{ID: on.ID(), Addrs: []ma.Multiaddr{s.pub}}}
	if _, err := d.Sync(s.ctx, SyncOptions{NetOptions: o}); err != nil {
		s.t.Fatal(err)
	}
	return d
}

// TestAlwaysOnPeer, on a simulated internet (internal/netsim, virtual
// time): a device with a public address (NetOptions.Public) tells the
// project where it is; two members that joined it from behind NATs that
// let no hole through, each knowing nothing but the project, reach each
// other through its relay, and a photo one added reaches the other.
func TestAlwaysOnPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &netsim.Router{Latency: 60 * time.Millisecond, Bandwidth: 4_000_000}
		at := func(ip string, public bool) NetOptions {
			return NetOptions{
				Listen:      []string{"/ip4/" + ip + "/udp/4747/quic-v1"},
				HostOptions: []libp2p.Option{r.QUIC(public)},
				Peers:       []peer.AddrInfo{}, // none but the project's always-on peers
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()

		a := newDevice(t, "river")
		// The always-on device keeps no blobs here (it wants the GPX
		// files of tracks only; there are none): whatever c gets, it gets
		// from b.
		if err := a.SetFilter(ctx, project.Filter{Mode: project.FilterCustom, Kinds: []project.AttachmentKind{project.AttachTrack}, Variants: []project.VariantName{project.VariantOriginal}}); err != nil {
			t.Fatal(err)
		}
		pub := ma.StringCast("/ip4/1.0.0.1/udp/4747/quic-v1")
		on := at("1.0.0.1", true)
		on.Public = []ma.Multiaddr{pub}
		if err := a.Start(ctx, on); err != nil {
			t.Fatal(err)
		}
		// b and c join a from behind their NATs (a is reachable), and
		// learn from the project's records that a is always on.
		var members []*Node
		for _, ip := range []string{"2.0.0.1", "3.0.0.1"} {
			inv, err := a.Invite(ctx, InviteOptions{Role: project.RoleMember, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			d := newDevice(t, "")
			o := at(ip, false)
			if _, err := d.Join(ctx, inv.Code, JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
				t.Fatalf("join from behind a NAT: %v", err)
			}
			o = at(ip, false)
			o.Peers = []peer.AddrInfo{{ID: a.ID(), Addrs: []ma.Multiaddr{pub}}}
			if _, err := d.Sync(ctx, SyncOptions{NetOptions: o}); err != nil {
				t.Fatal(err)
			}
			p, _ := d.project()
			if ao, _ := p.AlwaysOn(ctx); !ao[a.ID()][0].Equal(pub) {
				t.Fatalf("the project's records do not say where a is: %v", ao)
			}
			members = append(members, d)
		}
		b, c := members[0], members[1]

		rec, err := b.Add(ctx, []string{"../testdata/photos/gps.jpg"}, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Start(ctx, at("2.0.0.1", false)); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if _, err := a.Observation(ctx, rec.Observation.ID); err == nil {
				break
			}
			if time.Now().After(end) {
				t.Fatal("a never got b's observation")
			}
		}
		// c, knowing only the project, syncs: it meets a first, which
		// has none of b's photo, and does not stop there: it reaches b
		// through a's relay and gets the photo from it.
		res, err := c.Sync(ctx, SyncOptions{NetOptions: at("3.0.0.1", false)})
		if err != nil || !res.Complete {
			t.Fatalf("c's sync through the internet: %v %+v", err, res)
		}
		path := ""
		for _, pp := range c.Progress().Peers {
			if pp.ID == b.ID() {
				path = pp.Path
			}
		}
		if path != exchange.PathRelayed {
			t.Fatalf("c does not reach b through the relay: path %q, %+v", path, c.Progress().Peers)
		}
		if _, err := c.Observation(ctx, rec.Observation.ID); err != nil {
			t.Fatalf("c lacks b's observation: %v", err)
		}
	})
}

// TestInviteThroughAlwaysOn: a coordinator behind a NAT invites a device
// behind another NAT; the code names the always-on device's relay, and the
// joiner redeems it through there, though neither can reach the other
// directly. The relay connects a device that is not a member to
// coordinators only.
func TestInviteThroughAlwaysOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		net := newSimInternet(t, ctx, 80*time.Millisecond, 2_000_000)
		archive := net.alwaysOn("archive")
		// The coordinator joins the archive's project (it can reach the
		// archive) and learns from the records that it is always on.
		coord := net.join(archive, "2.0.0.1", project.RoleCoordinator, project.Filter{})
		if err := coord.Start(ctx, net.at("2.0.0.1", false)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // its reservation with the archive

		far, err := coord.Invite(ctx, InviteOptions{TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		code, err := project.ParseInviteCode(far.Code)
		if err != nil {
			t.Fatal(err)
		}
		circuit := false
		for _, a := range code.Addrs {
			circuit = circuit || strings.HasSuffix(a.String(), "/p2p/"+archive.ID().String()+"/p2p-circuit")
		}
		if !circuit {
			t.Fatalf("the code does not name the archive's relay: %v", code.Addrs)
		}
		joiner := newDevice(t, "")
		o := net.at("3.0.0.1", false)
		if _, err := joiner.Join(ctx, far.Code, JoinOptions{Listen: o.Listen, HostOptions: o.HostOptions}); err != nil {
			t.Fatalf("join through the archive's relay: %v", err)
		}
		jp, _ := joiner.project()
		if got := jp.RoleOf(joiner.ID()); got != project.RoleMember {
			t.Fatalf("joiner's role %v", got)
		}
	})
}

// TestSafeOnAlwaysOn: a field phone (thumbnails and previews only) adds a
// photo and syncs with the project's always-on device: the sync completes
// only once that device holds the photo's original too, and the phone
// knows it afterwards without a network (Archives).
func TestSafeOnAlwaysOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		net := newSimInternet(t, ctx, 40*time.Millisecond, 4_000_000)
		archive := net.alwaysOn("archive")
		phone := net.join(archive, "2.0.0.1", project.RoleMember, project.Field)
		o := net.via("2.0.0.1", archive)
		rec, err := phone.Add(ctx, []string{"../testdata/photos/gps.jpg"}, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if as, _ := phone.Archives(ctx); len(as) != 1 || as[0].Held != 3 || as[0].Confirmed != 0 {
			t.Fatalf("before the sync: %+v", as)
		}
		res, err := phone.Sync(ctx, SyncOptions{NetOptions: o})
		if err != nil || !res.Complete {
			t.Fatalf("phone's sync: %v %+v", err, res)
		}
		orig := rec.Observation.Attachments[0].Original.CID
		if _, err := archive.store.Stat(ctx, orig); err != nil {
			t.Fatalf("sync complete, but the archive lacks the original: %v; %+v %+v", err, res.Progress.Archives, res.Progress.Peers)
		}
		if as := res.Progress.Archives; len(as) != 1 || as[0].Lacking != 0 || as[0].Held != 3 {
			t.Fatalf("progress: %+v", as)
		}
		as, err := phone.Archives(ctx)
		if err != nil || len(as) != 1 || as[0].Peer != archive.ID() || as[0].Name == "" || as[0].Confirmed != 3 || as[0].Held != 3 {
			t.Fatalf("after the sync: %v %+v", err, as)
		}
	})
}

// TestReachabilityStatus, on the simulated internet in virtual time: the
// project's always-on device, as AutoNAT v2 server, tells a member with
// a public address that it can be reached there, and a member behind a
// NAT that it cannot, and reached through the always-on device's relay;
// each device's Status says so, and the JSON of it (what a serve writes
// for 'fieldsync status' in another process) reads back the same.
func TestReachabilityStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		net := newSimInternet(t, ctx, 40*time.Millisecond, 4_000_000)
		archive := net.alwaysOn("archive")
		behind := net.join(archive, "2.0.0.1", project.RoleMember, project.Filter{})
		open := net.joinAt(archive, "3.0.0.1", true, project.RoleMember, project.Filter{})

		st, err := behind.Status(ctx)
		if err != nil || st.Reach == nil || st.Reach.State() != ReachUnknown {
			t.Fatalf("before any answer: %v %+v", err, st.Reach)
		}
		start := time.Now()
		for end := start.Add(10 * time.Minute); ; time.Sleep(time.Second) {
			rb, _ := behind.Reachability()
			ro, _ := open.Reachability()
			if rb.State() != ReachUnknown && ro.State() != ReachUnknown && len(rb.Relays) > 0 {
				break
			}
			if time.Now().After(end) {
				t.Fatalf("not known after 10 minutes: behind a NAT %+v, public %+v", rb, ro)
			}
		}
		t.Logf("known after %s of network time", time.Since(start).Round(time.Second))

		st, err = behind.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Reach; r.State() != ReachBehindNAT || len(r.Unreachable) != 1 || !r.Unreachable[0].Equal(ma.StringCast("/ip4/2.0.0.1/udp/4747/quic-v1")) ||
			len(r.Relays) != 1 || r.Relays[0] != archive.ID() || r.Checked.IsZero() {
			t.Errorf("the member behind a NAT: %+v", r)
		}
		st, err = open.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r := st.Reach; r.State() != ReachPublic || len(r.Reachable) != 1 || !r.Reachable[0].Equal(ma.StringCast("/ip4/3.0.0.1/udp/4747/quic-v1")) {
			t.Errorf("the public member: %+v", r)
		}
		if r, _ := archive.Reachability(); !r.AlwaysOn {
			t.Errorf("the always-on device: %+v", r)
		}
		// What a serve writes for 'fieldsync status' in another process
		// round-trips.
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		var back struct {
			Reach *Reachability `json:"reach"`
		}
		if err := json.Unmarshal(b, &back); err != nil || back.Reach == nil || back.Reach.State() != ReachPublic || !back.Reach.Reachable[0].Equal(st.Reach.Reachable[0]) {
			t.Errorf("JSON round trip: %v %s", err, b)
		}
	})
}
