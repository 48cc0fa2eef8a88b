package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBadPeersRuns: peers dropped for bad data are kept per run of the
// network; Status lists those of the latest run and the one before, with
// the blob, in its JSON too, and each step is published as a
// BadDataEvent.
func TestBadPeersRuns(t *testing.T) {
	ctx := context.Background()
	n := newDevice(t, "p")
	sub := n.Subscribe()
	defer sub.Close()
	blobOf := func(s string) exchange.CorruptEvent {
		return exchange.CorruptEvent{CID: chunk.RawCID([]byte(s)), Leaf: 0, Result: exchange.CorruptDetected, Detail: s + " failed verification"}
	}
	ids := []peer.ID{}
	for i, s := range []string{"run one", "run two", "run three"} {
		n.beginRun(ctx)
		id := newPeerID(t)
		ids = append(ids, id)
		e := blobOf(s)
		e.Peer = id
		n.badData(e)
		if i == 2 {
			// The sending side's steps are published, not recorded.
			n.badData(exchange.CorruptEvent{Peer: ids[0], CID: e.CID, Inbound: true, Result: exchange.CorruptReported})
		}
	}
	bp, err := n.BadPeers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bp) != 2 || bp[0].Peer != ids[2] || !bp[0].Current || bp[1].Peer != ids[1] || bp[1].Current ||
		bp[0].CID != chunk.RawCID([]byte("run three")) || bp[0].Run != bp[1].Run+1 || time.Since(bp[0].At) > time.Minute {
		t.Fatalf("bad peers: %+v", bp)
	}
	st, err := n.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"bad_peers":[{"peer":"`+ids[2].String()+`","cid":"`+bp[0].CID.String()+`","leaf":0,`) ||
		!strings.Contains(string(b), `"current_run":false`) {
		t.Fatalf("status JSON: %s", b)
	}
	var got []BadDataEvent
	for len(got) < 4 {
		select {
		case e := <-sub.C:
			if bd, ok := e.(BadDataEvent); ok {
				got = append(got, bd)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("events: %+v", got)
		}
	}
	if got[2].Peer != ids[2] || got[2].Result != BadDataDetected || got[3].Result != BadDataReported || !got[3].Inbound {
		t.Fatalf("events: %+v", got)
	}
}

func newPeerID(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	return id
}
