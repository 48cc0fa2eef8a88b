package exchange

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// altWants is a device's wants with an alternative for some blobs, as a
// member's node adds the sealed copy of each wanted blob it lacks
// (node/blind.go): plain → alternative. independent wants both as
// unrelated blobs (what the scheduler did before Want.AltOf).
type altWants struct {
	*testProject
	store       blob.Store
	alts        map[cid.Cid]testBlob
	independent bool
}

func (w altWants) Wanted(ctx context.Context) ([]Want, error) {
	ws, err := w.testProject.Wanted(ctx)
	if err != nil {
		return nil, err
	}
	out := ws
	for _, x := range ws {
		a, ok := w.alts[x.CID]
		if !ok {
			continue
		}
		if _, err := w.store.Stat(ctx, x.CID); err == nil {
			continue
		}
		want := Want{CID: cid.MustParse(a.CID), Class: x.Class, Size: a.Size, ObservedAt: x.ObservedAt, AltOf: x.CID}
		if w.independent {
			want.AltOf = cid.Undef
		}
		out = append(out, want)
	}
	return out, nil
}

// altSetup makes a with the plain blobs of n photos and b with only an
// alternative of each (other bytes, 40 more a leaf, as a sealed copy),
// both with the records, and a receiver c that wants each blob and its
// alternative. It returns the plain blobs by CID and the alternatives by
// their plain CID.
// gated: c never asks b for a plain blob, as a member never asks a blind
// archive (exchange.BlobGate), so b's share is known at once.
// seed, if not nil, prepares c's store before c starts.
func altSetup(t *testing.T, n int, independent, gated bool, seed ...func(a, b *tpeer, store blob.Store, plain, alts map[cid.Cid]testBlob)) (a, b, c *tpeer, plain map[cid.Cid]testBlob, alts map[cid.Cid]testBlob) {
	r := newRoster()
	a, b = newPeer(t, r, FilterArchive), newPeer(t, r, FilterArchive)
	now := time.Now()
	photos := addPhotos(t, a.store, a.proj, a.id, n, smallPhoto, now)
	plain, alts = map[cid.Cid]testBlob{}, map[cid.Cid]testBlob{}
	for _, ph := range photos {
		for _, x := range ph.blobs() {
			c := cid.MustParse(x.CID)
			plain[c] = x
			leaves := (x.Size + (1 << 20) - 41) / ((1 << 20) - 40)
			alts[c] = putBlob(t, b.store, randBytes(int(x.Size+40*leaves)), x.Class)
		}
	}
	for i, ph := range photos { // b holds the same records, not their blobs
		b.proj.add(a.id, now.Add(-time.Duration(i)*time.Second), ph.blobs()...)
	}
	k, id := newKey(t)
	r.set(id, RoleMember)
	store := mem.New()
	proj := newTestProject(r, FilterArchive)
	for _, f := range seed {
		f(a, b, store, plain, alts)
	}
	var access Access = r
	if gated {
		access = gate{r, b.id, plain}
	}
	c = startPeerCfg(t, k, access, FilterArchive, store, proj, func(cfg *Config) {
		cfg.Wants = altWants{testProject: proj, store: store, alts: alts, independent: independent}
	})
	return a, b, c, plain, alts
}

// gate is c's roster, under which peer b may not be asked for a plain blob.
type gate struct {
	*roster
	b     peer.ID
	plain map[cid.Cid]testBlob
}

func (g gate) MayServe(p peer.ID, c cid.Cid) bool {
	_, isPlain := g.plain[c]
	return p != g.b || !isPlain
}

// checkAltDone checks that c holds, for each plain blob, it or its
// alternative (verified), and that progress counted each pair once.
func checkAltDone(t *testing.T, c *tpeer, plain, alts map[cid.Cid]testBlob) (plainBytes int64) {
	t.Helper()
	for pc, x := range plain {
		plainBytes += x.Size
		if _, err := c.store.Stat(context.Background(), pc); err == nil {
			checkHas(t, c.store, x)
			continue
		}
		checkHas(t, c.store, alts[pc])
	}
	s := c.n.Progress()
	done, wanted := s.Files()
	var bytesDone, bytesWanted int64
	for _, cp := range s.Classes {
		bytesDone += cp.BytesDone
		bytesWanted += cp.BytesWanted
	}
	if !s.Complete || done != len(plain) || wanted != len(plain) || bytesDone != plainBytes || bytesWanted != plainBytes {
		t.Errorf("progress: complete %v, files %d of %d, bytes %d of %d; want %d files, %d bytes, each pair counted once",
			s.Complete, done, wanted, bytesDone, bytesWanted, len(plain), plainBytes)
	}
	return plainBytes
}

// TestAlternatives: a receiver that wants each blob and an alternative of
// it (Want.AltOf), from one peer that has the blobs and one that has only
// the alternatives, fetches each pair once and counts it once.
func TestAlternatives(t *testing.T) {
	const photos = 6
	for _, gated := range []bool{false, true} {
		name := "both sources"
		if gated {
			name += ", alternatives' source gated"
		}
		t.Run(name, func(t *testing.T) {
			a, b, c, plain, alts := altSetup(t, photos, false, gated)
			connect(t, c, b) // the alternatives' source first: it gets some pairs
			connect(t, c, a)
			syncWithin(t, 60*time.Second, c)
			plainBytes := checkAltDone(t, c, plain, alts)
			s := c.n.Progress()
			ratio := float64(s.BytesReceived) / float64(plainBytes)
			var fromA, fromB int64
			for _, pp := range s.Peers {
				switch pp.ID {
				case a.id:
					fromA = pp.BytesReceived
				case b.id:
					fromB = pp.BytesReceived
				}
			}
			t.Logf("received %d bytes (%d from the blobs' source, %d from the alternatives') for %d bytes of blobs: %.3f×",
				s.BytesReceived, fromA, fromB, plainBytes, ratio)
			if ratio > 1.05 {
				t.Errorf("received %.3f× the blob bytes, want at most 1.05×", ratio)
			}
		})
	}
	t.Run("alternatives only", func(t *testing.T) {
		_, b, c, plain, alts := altSetup(t, photos, false, false)
		connect(t, c, b)
		syncWithin(t, 60*time.Second, c)
		plainBytes := checkAltDone(t, c, plain, alts)
		for pc := range plain {
			checkHas(t, c.store, alts[pc])
		}
		got := c.n.Progress().BytesReceived
		t.Logf("received %d bytes for %d bytes of blobs: %.3f×", got, plainBytes, float64(got)/float64(plainBytes))
	})
	t.Run("resumes the alternative begun", func(t *testing.T) {
		// A previous run kept the first leaf of an original's
		// alternative: with both sources connected, the alternative is
		// resumed (the plain original is not fetched) and nothing else
		// comes twice.
		var resumed cid.Cid // the alternative's plain CID
		var had int64
		seed := func(a, b *tpeer, store blob.Store, plain, alts map[cid.Cid]testBlob) {
			ctx := context.Background()
			for pc, x := range plain {
				if x.Class != blob.ClassOriginal {
					continue
				}
				ac := cid.MustParse(alts[pc].CID)
				sk, err := b.store.Skeleton(ctx, ac)
				if err != nil {
					t.Fatal(err)
				}
				rc, err := b.store.Fetch(ctx, ac)
				if err != nil {
					t.Fatal(err)
				}
				leaf := make([]byte, sk.Leaves[0].Size)
				_, err = io.ReadFull(rc, leaf)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				part, err := store.Begin(ctx, sk, blob.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if err := part.WriteLeaf(ctx, 0, leaf); err != nil {
					t.Fatal(err)
				}
				part.Close()
				resumed, had = pc, int64(len(leaf))
				return
			}
		}
		a, b, c, plain, alts := altSetup(t, photos, false, true, seed)
		// The alternatives' source first, until bytes come from it: were
		// the plain original well under way from a before, it would be
		// kept to (the one further on goes on), and the kept leaf lost.
		connect(t, c, b)
		for end := time.Now().Add(10 * time.Second); c.n.Progress().BytesReceived == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(end) {
				t.Fatal("nothing came from the alternatives' source")
			}
		}
		connect(t, c, a)
		syncWithin(t, 60*time.Second, c)
		plainBytes := checkAltDone(t, c, plain, alts)
		checkHas(t, c.store, alts[resumed])
		checkLacks(t, c.store, plain[resumed])
		got := c.n.Progress().BytesReceived
		ratio := float64(got) / float64(plainBytes-had)
		t.Logf("received %d bytes for the %d bytes of blobs not kept: %.3f×", got, plainBytes-had, ratio)
		if ratio > 1.05 {
			t.Errorf("received %.3f× the blob bytes not kept, want at most 1.05×", ratio)
		}
	})
	t.Run("unrelated wants", func(t *testing.T) {
		// The two as unrelated wants, as before Want.AltOf: both come.
		a, b, c, plain, _ := altSetup(t, photos, true, true)
		connect(t, c, a)
		connect(t, c, b)
		syncWithin(t, 60*time.Second, c)
		var plainBytes int64
		for _, x := range plain {
			plainBytes += x.Size
		}
		got := c.n.Progress().BytesReceived
		t.Logf("without AltOf: received %d bytes for %d bytes of blobs: %.3f×", got, plainBytes, float64(got)/float64(plainBytes))
	})
}
