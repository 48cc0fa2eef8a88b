package device

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/libp2p/go-libp2p/core/peer"
)

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestJoinAndSync runs two devices in process over loopback: A creates a
// project with one observation, invites B; B joins and syncs everything.
func TestJoinAndSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, err := Init(ctx, filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.CreateProject(ctx, "river survey"); err != nil {
		t.Fatal(err)
	}
	orig := randomBytes(t, 3<<20+17)
	thumb := randomBytes(t, 20<<10)
	oi, err := a.Store.Put(ctx, bytes.NewReader(orig), blob.Meta{MediaType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	ti, err := a.Store.Put(ctx, bytes.NewReader(thumb), blob.Meta{MediaType: "image/jpeg"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Project.AddObservation(ctx, project.Observation{
		Tags: []string{"river"},
		Attachments: []project.Attachment{{
			Kind: project.AttachPhoto, MediaType: "image/jpeg", Name: "p.jpg",
			Original:  &project.Variant{CID: oi.CID, Size: oi.Size},
			Thumbnail: &project.Variant{CID: ti.CID, Size: ti.Size},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	na, err := a.Node(ctx, NodeOptions{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer na.Close()
	if err := na.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code, err := a.Project.Invite(ctx, project.InviteOptions{Addrs: na.Host().Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := project.ParseInviteCode(code.String())
	if err != nil {
		t.Fatal(err)
	}

	b, err := Init(ctx, filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Join(ctx, parsed, nil); err != nil {
		t.Fatalf("join: %v", err)
	}
	if b.Project.ID() != a.Project.ID() {
		t.Fatal("joined another project")
	}
	// The code is one-time: a third device is refused.
	c, err := Init(ctx, filepath.Join(t.TempDir(), "c"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Join(ctx, parsed, nil); err == nil {
		t.Fatal("a used invite was accepted again")
	}

	nb, err := b.Node(ctx, NodeOptions{ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	if err := nb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := nb.Connect(ctx, peer.AddrInfo{ID: na.ID(), Addrs: na.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := nb.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	got, err := blob.ReadAll(ctx, b.Store, oi.CID)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("original not synced: %v", err)
	}
	obs, err := b.Project.Observations(ctx, project.ObservationQuery{})
	if err != nil || len(obs) != 1 {
		t.Fatalf("observations: %v %d", err, len(obs))
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := Open(ctx, filepath.Join(dir, "none")); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("missing dir: %v", err)
	}
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		if _, err := Init(ctx, ro); err == nil {
			t.Fatal("read-only dir accepted")
		}
	}
	d, err := Init(ctx, filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.NeedProject(); !errors.Is(err, ErrNoProject) {
		t.Fatalf("no project: %v", err)
	}
	// A second process (here: a second Open) on the same directory is told
	// the directory is in use.
	if _, err := Open(ctx, filepath.Join(dir, "a")); err == nil {
		t.Fatal("second open of a busy data directory succeeded")
	}
}
