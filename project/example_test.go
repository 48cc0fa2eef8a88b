package project_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
)

// Two devices: the creator invites a second device, both add an
// observation, and a sync in each direction (vector, Missing, Apply)
// brings them to the same state.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "fieldsync-example")
	defer os.RemoveAll(dir)
	open := func(name string) *project.Identity {
		id, err := project.LoadOrCreateIdentity(filepath.Join(dir, name, "identity.key"))
		if err != nil {
			panic(err)
		}
		return id
	}
	aliceID, bobID := open("alice"), open("bob")
	aliceDB, _ := db.Open(filepath.Join(dir, "alice", "project.db"))
	bobDB, _ := db.Open(filepath.Join(dir, "bob", "project.db"))
	defer aliceDB.Close()
	defer bobDB.Close()

	alice, err := project.Create(ctx, aliceDB, aliceID, "Rio Negro survey")
	if err != nil {
		panic(err)
	}
	code, _ := alice.Invite(ctx, project.InviteOptions{})
	text := code.String() // read aloud, pasted, or shown as a QR code

	// On Bob's device: parse, redeem over the exchange (here: in process).
	parsed, err := project.ParseInviteCode(text)
	if err != nil {
		panic(err)
	}
	h := alice.InviteHandler()
	rt := func(ctx context.Context, req []byte) ([]byte, error) { return h.Handle(ctx, bobID.PeerID(), req) }
	welcome, err := project.Redeem(ctx, rt, bobID, parsed)
	if err != nil {
		panic(err)
	}
	bob, err := project.Join(ctx, bobDB, bobID, welcome)
	if err != nil {
		panic(err)
	}
	fmt.Println("bob is", bob.RoleOf(bobID.PeerID()))

	alice.AddObservation(ctx, project.Observation{Tags: []string{"erosion"}})
	bob.AddObservation(ctx, project.Observation{Tags: []string{"spring"}})

	sync := func(from, to *project.Project) {
		missing, _ := from.Missing(ctx, to.Vector(), 0)
		var blocks [][]byte
		for _, r := range missing {
			blocks = append(blocks, r.Block)
		}
		res, _ := to.Apply(ctx, blocks)
		for _, r := range res {
			if r.Err != nil {
				panic(r.Err)
			}
		}
		fmt.Println("applied", len(res), "records")
	}
	sync(alice, bob)
	sync(bob, alice)
	a, _ := alice.Observations(ctx, project.ObservationQuery{})
	b, _ := bob.Observations(ctx, project.ObservationQuery{})
	fmt.Println(len(a), len(b), alice.Vector().Covers(bob.Vector()) && bob.Vector().Covers(alice.Vector()))
	// Output:
	// bob is member
	// applied 2 records
	// applied 1 records
	// 2 2 true
}

func ExampleVersionVector_Ahead() {
	a, _ := project.NewIdentity()
	b, _ := project.NewIdentity()
	mine := project.VersionVector{a.PeerID(): 12, b.PeerID(): 3}
	theirs := project.VersionVector{a.PeerID(): 10, b.PeerID(): 3}
	fmt.Println(mine.Ahead(theirs)[a.PeerID()], theirs.Covers(mine))
	// Output: 11 false
}
