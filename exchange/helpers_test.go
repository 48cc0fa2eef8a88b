package exchange

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// roster is a shared role table (the project's membership as every
// device sees it), with per-device overrides.
type roster struct {
	mu    sync.Mutex
	roles map[peer.ID]Role
}

func newRoster() *roster { return &roster{roles: map[peer.ID]Role{}} }

func (r *roster) set(p peer.ID, role Role) {
	r.mu.Lock()
	r.roles[p] = role
	r.mu.Unlock()
}

// Members lists the roster's members (MemberLister).
func (r *roster) Members() []peer.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []peer.ID
	for p, role := range r.roles {
		if role.IsMember() {
			out = append(out, p)
		}
	}
	return out
}

func (r *roster) Role(p peer.ID) Role {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.roles[p]
}

// testRecord is the test project's record: one observation by one author,
// listing the blobs it references.
type testRecord struct {
	Author string     `json:"a"`
	Seq    uint64     `json:"s"`
	Blobs  []testBlob `json:"b"`
	At     int64      `json:"t"`
}

type testBlob struct {
	CID   string     `json:"c"`
	Class blob.Class `json:"k"`
	Size  int64      `json:"z"`
}

// testProject implements Records and Wants over in-memory logs. Apply
// checks that the author is a member and that sequence numbers follow.
type testProject struct {
	access Access
	filter Filter
	mu     sync.Mutex
	logs   map[peer.ID][]testRecord
	blocks map[peer.ID][][]byte
}

func newTestProject(access Access, filter Filter) *testProject {
	return &testProject{access: access, filter: filter, logs: map[peer.ID][]testRecord{}, blocks: map[peer.ID][][]byte{}}
}

func (p *testProject) Vector(ctx context.Context) (map[peer.ID]uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v := map[peer.ID]uint64{}
	for a, l := range p.logs {
		v[a] = uint64(len(l))
	}
	return v, nil
}

func (p *testProject) Missing(ctx context.Context, theirs map[peer.ID]uint64, limit int) ([][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var authors []peer.ID
	for a := range p.blocks {
		authors = append(authors, a)
	}
	sort.Slice(authors, func(i, j int) bool { return authors[i] < authors[j] })
	var out [][]byte
	for _, a := range authors {
		for _, b := range p.blocks[a][min(theirs[a], uint64(len(p.blocks[a]))):] {
			if len(out) >= limit {
				return out, nil
			}
			out = append(out, b)
		}
	}
	return out, nil
}

func (p *testProject) Apply(ctx context.Context, from peer.ID, blocks [][]byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range blocks {
		var r testRecord
		if err := json.Unmarshal(b, &r); err != nil {
			return n, fmt.Errorf("bad record: %w", err)
		}
		a, err := peer.Decode(r.Author)
		if err != nil {
			return n, err
		}
		if !p.access.Role(a).IsMember() {
			return n, fmt.Errorf("record by non-member %s", a)
		}
		switch {
		case r.Seq <= uint64(len(p.logs[a])):
			continue
		case r.Seq != uint64(len(p.logs[a]))+1:
			return n, fmt.Errorf("gap in log of %s", a)
		}
		p.logs[a] = append(p.logs[a], r)
		p.blocks[a] = append(p.blocks[a], b)
		n++
	}
	return n, nil
}

func (p *testProject) Wanted(ctx context.Context) ([]Want, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Want
	for _, l := range p.logs {
		for _, r := range l {
			for _, b := range r.Blobs {
				if !p.filter.Has(b.Class) {
					continue
				}
				c, _ := cid.Decode(b.CID)
				out = append(out, Want{CID: c, Class: b.Class, Size: b.Size, ObservedAt: time.UnixMilli(r.At)})
			}
		}
	}
	return out, nil
}

// add records an observation by author that references blobs.
func (p *testProject) add(author peer.ID, at time.Time, blobs ...testBlob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := testRecord{Author: author.String(), Seq: uint64(len(p.logs[author])) + 1, Blobs: blobs, At: at.UnixMilli()}
	b, _ := json.Marshal(r)
	p.logs[author] = append(p.logs[author], r)
	p.blocks[author] = append(p.blocks[author], b)
}

func (p *testProject) records() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.logs {
		n += len(l)
	}
	return n
}

// photo is one observation's blobs.
type photo struct {
	thumb, preview, original testBlob
}

func (ph photo) blobs() []testBlob { return []testBlob{ph.thumb, ph.preview, ph.original} }

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func putBlob(t testing.TB, s blob.Store, data []byte, class blob.Class) testBlob {
	t.Helper()
	if len(data) <= chunk.ChunkSize {
		// One leaf: Begin/WriteLeaf/Commit skips chunk.Split, whose
		// per-call buffers dominate the setup of many small blobs.
		c := chunk.RawCID(data)
		sk := &chunk.Skeleton{Root: c, Size: int64(len(data)), Leaves: []chunk.Leaf{{CID: c, Size: len(data)}}}
		ctx := context.Background()
		p, err := s.Begin(ctx, sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.WriteLeaf(ctx, 0, data); err != nil {
			t.Fatal(err)
		}
		info, err := p.Commit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return testBlob{CID: info.CID.String(), Class: class, Size: info.Size}
	}
	info, err := s.Put(context.Background(), bytes.NewReader(data), blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return testBlob{CID: info.CID.String(), Class: class, Size: info.Size}
}

// sizes of a test photo's variants.
type photoSizes struct{ thumb, preview, original int }

var smallPhoto = photoSizes{12 << 10, 90 << 10, 2<<20 + 12345}

// addPhotos creates n photos in s, recorded by author in p, observed a
// second apart ending at base.
func addPhotos(t testing.TB, s blob.Store, p *testProject, author peer.ID, n int, sz photoSizes, base time.Time) []photo {
	t.Helper()
	var out []photo
	for i := 0; i < n; i++ {
		jitter := func(k int) int { return k - k/8 + mrand.IntN(k/4+1) }
		ph := photo{
			thumb:    putBlob(t, s, randBytes(jitter(sz.thumb)), blob.ClassThumbnail),
			preview:  putBlob(t, s, randBytes(jitter(sz.preview)), blob.ClassPreview),
			original: putBlob(t, s, randBytes(jitter(sz.original)), blob.ClassOriginal),
		}
		p.add(author, base.Add(-time.Duration(i)*time.Second), ph.blobs()...)
		out = append(out, ph)
	}
	return out
}

type tpeer struct {
	n     *Node
	store blob.Store
	proj  *testProject
	key   crypto.PrivKey
	id    peer.ID
}

func newKey(t testing.TB) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return k, id
}

// newPeer makes a started node on 127.0.0.1 with a memory store, a member
// of r.
func newPeer(t testing.TB, r *roster, filter Filter) *tpeer {
	t.Helper()
	k, id := newKey(t)
	r.set(id, RoleMember)
	return startPeer(t, k, r, filter, mem.New())
}

func startPeer(t testing.TB, k crypto.PrivKey, access Access, filter Filter, store blob.Store) *tpeer {
	t.Helper()
	return startPeerWith(t, k, access, filter, store, newTestProject(access, filter))
}

func startPeerWith(t testing.TB, k crypto.PrivKey, access Access, filter Filter, store blob.Store, proj *testProject) *tpeer {
	t.Helper()
	return startPeerCfg(t, k, access, filter, store, proj, nil)
}

// startPeerCfg is startPeerWith with the config changed by edit first.
func startPeerCfg(t testing.TB, k crypto.PrivKey, access Access, filter Filter, store blob.Store, proj *testProject, edit func(*Config)) *tpeer {
	t.Helper()
	id, _ := peer.IDFromPrivateKey(k)
	cfg := Config{
		Key: k, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, ProjectID: "test",
		Store: store, Access: access, Records: proj, Wants: proj, Filter: filter,
		Logger: testLogger(),
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return &tpeer{n: n, store: store, proj: proj, key: k, id: id}
}

func (p *tpeer) info() peer.AddrInfo {
	return peer.AddrInfo{ID: p.id, Addrs: p.n.Host().Addrs()}
}

func connect(t testing.TB, a, b *tpeer) {
	t.Helper()
	if err := a.n.Connect(context.Background(), b.info()); err != nil {
		t.Fatal(err)
	}
}

func connectVia(t testing.TB, a, b *tpeer, addr string) {
	t.Helper()
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.n.Connect(context.Background(), peer.AddrInfo{ID: b.id, Addrs: []ma.Multiaddr{m}}); err != nil {
		t.Fatal(err)
	}
}

func syncWithin(t testing.TB, d time.Duration, ps ...*tpeer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	errc := make(chan error, len(ps))
	for _, p := range ps {
		go func() { errc <- p.n.Sync(ctx) }()
	}
	for range ps {
		if err := <-errc; err != nil {
			for _, p := range ps {
				t.Logf("%s: %+v", p.id, p.n.Progress())
			}
			t.Fatalf("sync: %v", err)
		}
	}
	for _, p := range ps {
		// Every leaf verified: nothing is left counted as kept, and the
		// ETA says so.
		p.n.prog.mu.Lock()
		kept := p.n.prog.kept
		p.n.prog.mu.Unlock()
		if s := p.n.Progress(); kept != 0 || s.ETA != 0 {
			t.Errorf("%s: complete with %d bytes still counted as kept, ETA %s", p.id, kept, s.ETA)
		}
	}
}

// checkHas verifies that s holds every blob, by re-hashing its bytes.
func checkHas(t testing.TB, s blob.Store, bs ...testBlob) {
	t.Helper()
	for _, b := range bs {
		c, _ := cid.Decode(b.CID)
		rc, err := s.Fetch(context.Background(), c)
		if err != nil {
			t.Errorf("missing %s %s: %v", b.Class, c, err)
			continue
		}
		sk, err := chunk.Sum(context.Background(), rc)
		rc.Close()
		if err != nil || sk.Root != c {
			t.Errorf("blob %s does not verify: %v", c, err)
		}
	}
}

func checkLacks(t testing.TB, s blob.Store, bs ...testBlob) {
	t.Helper()
	for _, b := range bs {
		c, _ := cid.Decode(b.CID)
		if _, err := s.Stat(context.Background(), c); err == nil {
			t.Errorf("has %s %s, should not", b.Class, c)
		}
	}
}

// testLogger logs to stderr at debug level when EXCHANGE_DEBUG is set.
func testLogger() *slog.Logger {
	if os.Getenv("EXCHANGE_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
