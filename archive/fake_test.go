package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeProject stands in for package project in these tests: signed
// dag-cbor records in per-author logs, membership granted by the creator,
// attachments referenced by records. It runs the checks a sync runs
// (signature, project, membership, log continuity).

type fakeRecord struct {
	V       int       `cbor:"v"`
	Seq     uint64    `cbor:"seq"`
	Sig     []byte    `cbor:"sig,omitempty"`
	Name    string    `cbor:"name,omitempty"`
	Blobs   []fakeRef `cbor:"blobs,omitempty"`
	Author  []byte    `cbor:"author"`
	Member  []byte    `cbor:"member,omitempty"`
	Project string    `cbor:"project,omitempty"`
}

type fakeRef struct {
	CID   string `cbor:"cid"`
	Time  int64  `cbor:"time"`
	Class int    `cbor:"class"`
	Type  string `cbor:"type"`
}

var (
	errFakeSig     = errors.New("fake: bad signature")
	errFakeMember  = errors.New("fake: not a member")
	errFakeGap     = errors.New("fake: gap in log")
	errFakeProj    = errors.New("fake: another project")
	errFakeBlocked = errors.New("fake: blocked")
)

type fakeProject struct {
	id      cid.Cid
	name    string
	creator peer.ID
	members map[peer.ID]bool
	blocked map[peer.ID]bool
	logs    map[peer.ID][]Block
	order   []Block // every record in the order applied
	refs    map[cid.Cid]BlobRef
	obs     []view.Observation
}

func newFakeProject(id cid.Cid) *fakeProject {
	return &fakeProject{id: id, members: map[peer.ID]bool{}, blocked: map[peer.ID]bool{}, logs: map[peer.ID][]Block{}, refs: map[cid.Cid]BlobRef{}}
}

func signRecord(t testing.TB, key crypto.PrivKey, r *fakeRecord) Block {
	t.Helper()
	id, _ := peer.IDFromPrivateKey(key)
	r.V, r.Author, r.Sig = 1, []byte(id), nil
	b, err := manEncMode.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	r.Sig, err = key.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	b, err = manEncMode.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return Block{CID: cborCID(b), Data: b}
}

func (p *fakeProject) ProjectID() cid.Cid  { return p.id }
func (p *fakeProject) ProjectName() string { return p.name }
func (p *fakeProject) Vector(context.Context) (Vector, error) {
	v := Vector{}
	for a, l := range p.logs {
		v[a] = uint64(len(l))
	}
	return v, nil
}

func (p *fakeProject) Records(ctx context.Context, have Vector, fn func(Block) error) error {
	for _, b := range p.order {
		r, _ := decodeFake(b.Data)
		a := peer.ID(r.Author)
		if r.Seq > have[a] {
			if err := fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *fakeProject) Blobs(context.Context, bool) ([]BlobRef, error) {
	var out []BlobRef
	for _, r := range p.refs {
		out = append(out, r)
	}
	return out, nil
}

func decodeFake(b []byte) (*fakeRecord, error) {
	var r fakeRecord
	if err := manDecMode.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (p *fakeProject) check(b Block) (bool, error) {
	r, err := decodeFake(b.Data)
	if err != nil {
		return false, err
	}
	author, err := peer.IDFromBytes(r.Author)
	if err != nil {
		return false, err
	}
	sig := r.Sig
	r.Sig = nil
	msg, _ := manEncMode.Marshal(r)
	pub, err := author.ExtractPublicKey()
	if err != nil {
		return false, err
	}
	if ok, _ := pub.Verify(msg, sig); !ok {
		return false, errFakeSig
	}
	if r.Project == "" { // genesis
		if b.CID != p.id {
			return false, errFakeProj
		}
		p.creator = author
		p.members[author] = true
	} else if r.Project != p.id.String() {
		return false, errFakeProj
	}
	if !p.members[author] {
		return false, errFakeMember
	}
	log := p.logs[author]
	if r.Seq <= uint64(len(log)) {
		if log[r.Seq-1].CID == b.CID {
			return false, nil
		}
		return false, errFakeGap
	}
	if r.Seq != uint64(len(log))+1 {
		return false, errFakeGap
	}
	if len(r.Member) > 0 {
		if author != p.creator {
			return false, errFakeMember
		}
		p.members[peer.ID(r.Member)] = true
	}
	for _, ref := range r.Blobs {
		c, _ := cid.Decode(ref.CID)
		if _, ok := p.refs[c]; !ok {
			p.refs[c] = BlobRef{CID: c, Class: blob.Class(ref.Class), Time: time.UnixMilli(ref.Time), MediaType: ref.Type}
		}
	}
	p.logs[author] = append(log, Block{CID: b.CID, Data: bytes.Clone(b.Data)})
	p.order = append(p.order, p.logs[author][len(p.logs[author])-1])
	return true, nil
}

func (p *fakeProject) Apply(ctx context.Context, recs []Block) ([]RecordOutcome, error) {
	out := make([]RecordOutcome, len(recs))
	for i, b := range recs {
		n, err := p.check(b)
		out[i] = RecordOutcome{New: n, Err: err}
	}
	return out, nil
}

func (p *fakeProject) WantBlob(ctx context.Context, c cid.Cid) (blob.Meta, bool, error) {
	r, ok := p.refs[c]
	return blob.Meta{MediaType: r.MediaType}, ok, nil
}

func (p *fakeProject) CheckMember(ctx context.Context, id peer.ID) error {
	if p.blocked[id] {
		return errFakeBlocked
	}
	if !p.members[id] {
		return fmt.Errorf("%w: %w", ErrUnknownDevice, errFakeMember)
	}
	return nil
}

func (p *fakeProject) Observations(ctx context.Context, fn func(view.Observation) error) error {
	for _, o := range p.obs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

// world is a project with two members and a few observations, held in a
// memory store.
type world struct {
	t        testing.TB
	creator  crypto.PrivKey
	member   crypto.PrivKey
	outsider crypto.PrivKey
	proj     *fakeProject
	store    *mem.Store
	seq      map[peer.ID]uint64
	big      cid.Cid // a 2.5 MiB original (three leaves, a skeleton)
	thumbs   []cid.Cid
}

func key(t testing.TB) crypto.PrivKey {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pid(k crypto.PrivKey) peer.ID { id, _ := peer.IDFromPrivateKey(k); return id }

func newWorld(t testing.TB) *world {
	w := &world{t: t, creator: key(t), member: key(t), outsider: key(t), store: mem.New(), seq: map[peer.ID]uint64{}}
	g := signRecord(t, w.creator, &fakeRecord{Seq: 1, Name: "Riverbank survey"})
	w.proj = newFakeProject(g.CID)
	w.proj.name = "Riverbank survey"
	w.apply(g)
	w.seq[pid(w.creator)] = 1
	w.add(w.creator, &fakeRecord{Member: []byte(pid(w.member))})
	rng := mrand.New(mrand.NewPCG(1, 2))
	day := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	w.big = w.observation(w.member, "obs-river-1", day, rng, 2*1024*1024+512*1024, "IMG 0001.JPG", &view.Position{Lat: -3.46, Lon: -62.21, AccuracyM: 4})
	w.observation(w.creator, "obs-bird-2", day.Add(24*time.Hour), rng, 300*1024, "IMG 0001.JPG", &view.Position{Lat: 51.5, Lon: -0.12})
	w.observation(w.member, "obs-night-3", day.Add(48*time.Hour), rng, 5000, "", nil)
	w.audio(w.creator, "obs-song-4", day.Add(72*time.Hour), "song.m4a")
	return w
}

func (w *world) apply(b Block) {
	out, _ := w.proj.Apply(context.Background(), []Block{b})
	if out[0].Err != nil || !out[0].New {
		w.t.Fatalf("apply: %+v", out[0])
	}
}

func (w *world) add(k crypto.PrivKey, r *fakeRecord) Block {
	id := pid(k)
	w.seq[id]++
	r.Seq = w.seq[id]
	r.Project = w.proj.id.String()
	b := signRecord(w.t, k, r)
	w.apply(b)
	return b
}

func (w *world) put(data []byte, typ string) blob.Info {
	in, err := w.store.Put(context.Background(), bytes.NewReader(data), blob.Meta{MediaType: typ})
	if err != nil {
		w.t.Fatal(err)
	}
	return in
}

func randBytes(rng *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// observation adds a photo observation with original, preview and
// thumbnail variants, and returns the original's CID.
func (w *world) observation(k crypto.PrivKey, id string, at time.Time, rng *mrand.Rand, size int, name string, pos *view.Position) cid.Cid {
	orig := w.put(randBytes(rng, size), "image/jpeg")
	prev := w.put(randBytes(rng, 60*1024), "image/jpeg")
	th := w.put(randBytes(rng, 8*1024), "image/jpeg")
	w.thumbs = append(w.thumbs, th.CID)
	ms := at.UnixMilli()
	rec := w.add(k, &fakeRecord{Name: id, Blobs: []fakeRef{
		{CID: orig.CID.String(), Time: ms, Class: int(blob.ClassOriginal), Type: "image/jpeg"},
		{CID: prev.CID.String(), Time: ms, Class: int(blob.ClassPreview), Type: "image/jpeg"},
		{CID: th.CID.String(), Time: ms, Class: int(blob.ClassThumbnail), Type: "image/jpeg"},
	}})
	w.proj.obs = append(w.proj.obs, view.Observation{ID: id, Record: rec.CID.String(), Author: pid(k).String(), Created: at, Updated: at,
		Position: pos, Tags: []string{"river", "survey"}, Notes: "seen from the \"bank\"\nsecond line",
		Attachments: []view.Attachment{{Name: name, Kind: "photo", MediaType: "image/jpeg",
			Original: &view.Variant{CID: orig.CID.String(), Size: orig.Size}, Preview: &view.Variant{CID: prev.CID.String(), Size: prev.Size},
			Thumbnail: &view.Variant{CID: th.CID.String(), Size: th.Size}}}})
	return orig.CID
}

func (w *world) audio(k crypto.PrivKey, id string, at time.Time, name string) {
	a := w.put([]byte("not really audio"), "audio/mp4")
	e := w.put(nil, "text/plain")
	rec := w.add(k, &fakeRecord{Name: id, Blobs: []fakeRef{
		{CID: a.CID.String(), Time: at.UnixMilli(), Class: int(blob.ClassAttachment), Type: "audio/mp4"},
		{CID: e.CID.String(), Time: at.UnixMilli(), Class: int(blob.ClassAttachment), Type: "text/plain"},
	}})
	w.proj.obs = append(w.proj.obs, view.Observation{ID: id, Record: rec.CID.String(), Author: pid(k).String(), Created: at, Updated: at,
		Position: &view.Position{Lat: 89.999999, Lon: 179.9999999},
		Attachments: []view.Attachment{{Name: name, Kind: "audio", MediaType: "audio/mp4", Original: &view.Variant{CID: a.CID.String(), Size: a.Size}},
			{Name: "notes", Kind: "file", MediaType: "text/plain", Original: &view.Variant{CID: e.CID.String(), Size: e.Size}}}})
}

// fresh returns an empty device that knows the project ID (as after
// redeeming an invite).
func (w *world) fresh() (*fakeProject, *mem.Store) {
	return newFakeProject(w.proj.id), mem.New()
}

// sameProject checks that dst holds byte-identical records and blobs.
func sameProject(t *testing.T, src *fakeProject, srcStore *mem.Store, dst *fakeProject, dstStore *mem.Store, classes ClassSet) {
	t.Helper()
	ctx := context.Background()
	if len(dst.order) != len(src.order) {
		t.Fatalf("records: got %d, want %d", len(dst.order), len(src.order))
	}
	want := map[cid.Cid][]byte{}
	for _, b := range src.order {
		want[b.CID] = b.Data
	}
	for _, b := range dst.order {
		if !bytes.Equal(want[b.CID], b.Data) {
			t.Fatalf("record %s differs", b.CID)
		}
	}
	for c, r := range src.refs {
		if !classes.Has(r.Class) {
			continue
		}
		a, err := blob.ReadAll(ctx, srcStore, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := blob.ReadAll(ctx, dstStore, c)
		if err != nil {
			t.Fatalf("blob %s (%s): %v", c, r.Class, err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("blob %s differs", c)
		}
	}
}

func refused(rep *Report) string {
	var s []string
	for _, r := range rep.Refused {
		s = append(s, r.String())
	}
	slices.Sort(s)
	return fmt.Sprint(s)
}
