package node

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/project"
)

// TestCompleteOnce: a sync that runs the exchange's sync again with
// nothing new in between (as Sync does after records tell of an always-on
// device, or after a blind archive's chores) says "complete" once, not
// once per round.
func TestCompleteOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "p")
	if _, err := a.Add(ctx, []string{filepath.Join("..", "testdata", "photos", "gps.jpg")}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	b := joined(t, ctx, a, project.RoleMember)
	sub := b.Subscribe()
	defer sub.Close()
	for range 2 {
		if res, err := b.Sync(ctx, SyncOptions{NetOptions: loopback}); err != nil || !res.Complete {
			t.Fatalf("sync: %+v %v", res, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // events are delivered asynchronously
	n := 0
	for {
		select {
		case e := <-sub.C:
			if _, ok := e.(CompleteEvent); ok {
				n++
			}
			continue
		default:
		}
		break
	}
	if n != 1 {
		t.Fatalf("%d CompleteEvents, want 1", n)
	}
}

// TestSyncWakesOnConnect: Sync starts once its first member connects, not
// at its next look for one (the look made every sync wait 0.1 s; here it
// would wait an hour).
func TestSyncWakesOnConnect(t *testing.T) {
	defer func(d time.Duration) { firstPeerPoll = d }(firstPeerPoll)
	firstPeerPoll = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "p")
	b := joined(t, ctx, a, project.RoleMember)
	start := time.Now()
	res, err := b.Sync(ctx, SyncOptions{NetOptions: loopback})
	if err != nil || !res.Complete {
		t.Fatalf("sync: %+v %v", res, err)
	}
	t.Logf("synced in %v", time.Since(start))
}

// TestCompleteBeforeSyncReturns: a sync that brought something says
// "complete" in its caller's subscription by the time Sync returns, not a
// moment later ('fieldsync sync' prints what its subscription holds when
// Sync returns, and once missed the words this way).
func TestCompleteBeforeSyncReturns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := newDevice(t, "p")
	b := joined(t, ctx, a, project.RoleMember)
	sub := b.Subscribe()
	defer sub.Close()
	for _, name := range []string{"gps.jpg", "baseline.jpg", "orient-6.jpg", "progressive.jpg"} {
		ph := filepath.Join("..", "testdata", "photos", name)
		if _, err := a.Add(ctx, []string{ph}, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		if res, err := b.Sync(ctx, SyncOptions{NetOptions: loopback}); err != nil || !res.Complete {
			t.Fatalf("sync: %+v %v", res, err)
		}
		complete := false
		for drained := false; !drained; {
			select {
			case e := <-sub.C:
				_, ok := e.(CompleteEvent)
				complete = complete || ok
			default:
				drained = true
			}
		}
		if !complete {
			t.Fatalf("Sync of %s returned before its CompleteEvent was passed on", filepath.Base(ph))
		}
	}
}
