package project

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

var ctx = context.Background()

func newIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func openDB(t testing.TB) *sql.DB {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), "project.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newProject(t testing.TB, name string) *Project {
	t.Helper()
	p, err := Create(ctx, openDB(t), newIdentity(t), name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// addDevice grants a new device role in p and joins it.
func addDevice(t testing.TB, p *Project, role Role) *Project {
	t.Helper()
	id := newIdentity(t)
	if _, err := p.SetRole(ctx, id.PeerID(), role); err != nil {
		t.Fatal(err)
	}
	w, err := p.welcome(ctx)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Join(ctx, openDB(t), id, w)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// syncOnce sends what to lacks from from, and fails on any refusal.
func syncOnce(t testing.TB, from, to *Project) []Result {
	t.Helper()
	miss, err := from.Missing(ctx, to.Vector(), 0)
	if err != nil {
		t.Fatal(err)
	}
	res, err := to.Apply(ctx, blocksOf(miss))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func blocksOf(rs []RawRecord) [][]byte {
	var bs [][]byte
	for _, r := range rs {
		bs = append(bs, r.Block)
	}
	return bs
}

func mustOK(t testing.TB, res []Result) {
	t.Helper()
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("record %s seq %d: %v", r.CID, r.Seq, r.Err)
		}
	}
}

func fakeCID(s string) cid.Cid {
	h, _ := mh.Sum([]byte(s), mh.SHA2_256, -1)
	return cid.NewCidV1(cid.Raw, h)
}

func photo(name string) Attachment {
	return Attachment{Kind: AttachPhoto, MediaType: "image/jpeg", Name: name,
		Original:  &Variant{CID: fakeCID(name + "/o"), Size: 3000000, Width: 4000, Height: 3000},
		Preview:   &Variant{CID: fakeCID(name + "/p"), Size: 200000, Width: 1200, Height: 900},
		Thumbnail: &Variant{CID: fakeCID(name + "/t"), Size: 20000, Width: 400, Height: 300}}
}

// addOldAndNew adds two observations an hour apart: "old" with a photo
// old.jpg, "new" with a photo new.jpg and an audio recording r.ogg.
func addOldAndNew(t testing.TB, p *Project) {
	t.Helper()
	for _, o := range []Observation{
		{ID: "old", Created: t0, Attachments: []Attachment{photo("old.jpg")}},
		{ID: "new", Created: t0.Add(time.Hour), Attachments: []Attachment{photo("new.jpg"),
			{Kind: AttachAudio, MediaType: "audio/ogg", Name: "r.ogg", Original: &Variant{CID: fakeCID("r.ogg"), Size: 5000}}}},
	} {
		if _, err := p.AddObservation(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
}

func wantErr(t testing.TB, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("got error %v, want %v", got, want)
	}
}

var t0 = time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)

// welcome builds a Welcome with every membership record p holds.
func (p *Project) welcome(ctx context.Context) (*Welcome, error) {
	w := &Welcome{Genesis: p.genesis.Block}
	for _, q := range []string{
		`SELECT block FROM project_records WHERE kind = 'member' ORDER BY time, cid`,
		`SELECT block FROM project_pending ORDER BY cid`,
	} {
		bs, err := queryBlocks(ctx, p.db, q)
		if err != nil {
			return nil, fmt.Errorf("welcome: %w", err)
		}
		w.Members = append(w.Members, bs...)
	}
	return w, nil
}
