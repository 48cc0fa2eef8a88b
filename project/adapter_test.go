package project

import (
	"bytes"
	"testing"
)

func TestExchangeRecords(t *testing.T) {
	a := newProject(t, "p")
	b := addDevice(t, a, RoleMember)
	for range 5 {
		a.AddObservation(ctx, Observation{Created: t0})
	}
	ea, eb := ExchangeRecords{P: a, MaxBatchBytes: 1000}, ExchangeRecords{P: b}
	vb, _ := eb.Vector(ctx)
	total := 0
	for {
		blocks, err := ea.Missing(ctx, vb, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) == 0 {
			break
		}
		n, err := eb.Apply(ctx, a.Self().PeerID(), blocks)
		if err != nil || n != len(blocks) {
			t.Fatalf("applied %d of %d: %v", n, len(blocks), err)
		}
		total += n
		vb, _ = eb.Vector(ctx)
	}
	if total != 6 || !b.Vector().Covers(a.Vector()) {
		t.Fatalf("total %d", total)
	}
	// A tampered block is an error; a duplicate is not.
	all, _ := ea.Missing(ctx, VersionVector{}, 0)
	bad := bytes.Clone(all[len(all)-1])
	bad[len(bad)-5] ^= 1
	if _, err := eb.Apply(ctx, a.Self().PeerID(), [][]byte{all[1], bad}); err == nil {
		t.Fatal("tampered block accepted")
	}
	if n, err := eb.Apply(ctx, a.Self().PeerID(), all); err != nil || n != 0 {
		t.Fatal(n, err)
	}
}
