package node_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync/node"
)

// Two devices in one process: a laptop creates a project and imports a
// photo, a phone joins with an invite code and syncs; the photo arrives
// with its thumbnail and preview, each verified against its CID.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "fieldsync-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)

	// The laptop: a project, one photo, the network up on this machine.
	laptop, err := node.Init(ctx, filepath.Join(tmp, "laptop"), node.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer laptop.Close()
	if _, err := laptop.CreateProject(ctx, "River survey"); err != nil {
		log.Fatal(err)
	}
	rec, err := laptop.Add(ctx, []string{"../testdata/photos/gps.jpg"}, node.ImportOptions{Tags: []string{"heron"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := laptop.Start(ctx, node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
		log.Fatal(err)
	}
	invite, err := laptop.Invite(ctx, node.InviteOptions{TTL: time.Hour})
	if err != nil {
		log.Fatal(err)
	}

	// The phone: joins with the code, then syncs with the laptop.
	phone, err := node.Init(ctx, filepath.Join(tmp, "phone"), node.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer phone.Close()
	info, err := phone.Join(ctx, invite.Code, node.JoinOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("phone joined %q as %s\n", info.Name, info.Role)
	res, err := phone.Sync(ctx, node.SyncOptions{NetOptions: node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("complete:", res.Complete)

	obs, err := phone.Observation(ctx, rec.Observation.ID)
	if err != nil {
		log.Fatal(err)
	}
	a := obs.Attachments[0]
	fmt.Println("tags:", obs.Tags, "kind:", a.Kind)
	for _, v := range a.Variants() {
		r, err := phone.OpenBlob(ctx, v.CID)
		if err != nil {
			log.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, r)
		r.Close()
		fmt.Printf("%s: %v bytes as recorded\n", v.Name, n == v.Size)
	}
	// Output:
	// phone joined "River survey" as member
	// complete: true
	// tags: [heron] kind: photo
	// original: true bytes as recorded
	// preview: true bytes as recorded
	// thumbnail: true bytes as recorded
}
