package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBlindArchiveAndMember: C syncs with a blind archive (which holds
// sealed copies only) and with A (which holds the plain blobs) at once. It
// wants each blob and, as its alternative, the blob's sealed copy
// (memberWants, Want.AltOf): each comes once, plain from A or sealed from
// the archive and opened here, so C receives about the blob bytes (at most
// 1.1×; before the pair was one want, 1.7–1.8×), every blob arrives
// byte-identical, and the progress counts each blob once.
func TestBlindArchiveAndMember(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := newDevice(t, "Quebrada Sagrada")
	if err := a.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	inv, err := a.Invite(ctx, InviteOptions{Role: project.RoleArchive, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	archive := newDevice(t, "")
	if _, err := archive.Join(ctx, inv.Code, JoinOptions{Listen: loopback.Listen}); err != nil {
		t.Fatalf("the archive joins: %v", err)
	}
	if err := archive.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	inv, err = a.Invite(ctx, InviteOptions{Role: project.RoleMember, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := newDevice(t, "")
	if _, err := c.Join(ctx, inv.Code, JoinOptions{Listen: loopback.Listen}); err != nil {
		t.Fatalf("C joins: %v", err)
	}

	// A's photos (each over a leaf, with their variants) and a recording
	// of three sealed leaves.
	dir := t.TempDir()
	var recs []*project.Record
	for i := range 6 {
		path := filepath.Join(dir, "IMG_"+string(rune('1'+i))+".jpg")
		if err := os.WriteFile(path, synth.JPEG(1600, 1200, uint64(70+i), 95, synth.Meta{}), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := a.Add(ctx, []string{path}, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	big := make([]byte, 2<<20+4321)
	rand.Read(big)
	path := filepath.Join(dir, "recording.wav")
	if err := os.WriteFile(path, big, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := a.Add(ctx, []string{path}, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, r)

	archiveAt := peer.AddrInfo{ID: archive.ID(), Addrs: archive.Addrs()}
	if err := a.Connect(ctx, archiveAt); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Sync(ctx, SyncOptions{}); err != nil || !res.Complete {
		t.Fatalf("A's sync with the archive: %v %+v", err, res)
	}

	var total int64
	var variants []*project.Variant
	for _, r := range recs {
		for _, at := range r.Observation.Attachments {
			for _, v := range []*project.Variant{at.Original, at.Thumbnail, at.Preview} {
				if v != nil {
					total += v.Size
					variants = append(variants, v)
				}
			}
		}
	}
	res, err := c.Sync(ctx, SyncOptions{NetOptions: NetOptions{Listen: loopback.Listen,
		Peers: []peer.AddrInfo{archiveAt, {ID: a.ID(), Addrs: a.Addrs()}}}})
	if err != nil || !res.Complete {
		t.Fatalf("C's sync with the archive and A: %v %+v", err, res)
	}
	p := c.Progress()
	var fromA, fromArchive int64
	for _, pp := range p.Peers {
		switch pp.ID {
		case a.ID():
			fromA = pp.BytesReceived
		case archive.ID():
			fromArchive = pp.BytesReceived
		}
	}
	ratio := float64(p.BytesReceived) / float64(total)
	t.Logf("%d bytes of blobs, %d received (%d from A, %d from the archive): %.3f×", total, p.BytesReceived, fromA, fromArchive, ratio)
	if ratio > 1.1 {
		t.Errorf("C received %.3f× the blob bytes, want at most 1.1×", ratio)
	}
	var wanted, done int64
	files, filesWanted := p.Files()
	for _, cp := range p.Classes {
		wanted += cp.BytesWanted
		done += cp.BytesDone
	}
	if wanted != total || done != total || files != len(variants) || filesWanted != len(variants) {
		t.Errorf("C's progress: %d of %d files, %d of %d bytes; want %d files, %d bytes, each blob counted once",
			files, filesWanted, done, wanted, len(variants), total)
	}
	for _, v := range variants {
		if !bytes.Equal(readBlob(t, c, v), readBlob(t, a, v)) {
			t.Errorf("blob %s differs on C", v.CID)
		}
	}
}
