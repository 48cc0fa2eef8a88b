package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync/exchange"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Bad data, told to both sides. A device that receives bytes that fail
// verification from one peer tells that peer, drops it for the rest of
// the run and records it in node_bad_peers (Status lists those of this
// run and the one before). The peer told checks its copy at once and, if
// it is damaged, quarantines it and fetches it again from its other
// peers. Each step is a BadDataEvent; the blob's fixity log (FixityHistory)
// keeps them too.

// BadDataResult is a step of the story a BadDataEvent tells.
type BadDataResult = exchange.CorruptResult

// The steps (see BadDataEvent).
const (
	// BadDataDetected: bytes received from Peer failed verification
	// here; Peer was told and dropped for this run, and the blob is
	// fetched from other peers.
	BadDataDetected = exchange.CorruptDetected
	// BadDataReported: Peer says bytes this device sent it failed
	// verification there; this device checks its copy.
	BadDataReported = exchange.CorruptReported
	// BadDataIntact: the copy here checked intact (the damage happened
	// on the way, or at Peer).
	BadDataIntact = exchange.CorruptIntact
	// BadDataDamaged: the copy here is damaged (Detail says how); it was
	// quarantined and, with Refetch, is fetched again from other peers.
	BadDataDamaged = exchange.CorruptDamaged
	// BadDataHealed: the damaged copy was fetched again from From and
	// verified.
	BadDataHealed = exchange.CorruptHealed
	// BadDataUnchecked: the copy here was not checked; Detail says why.
	BadDataUnchecked = exchange.CorruptUnchecked
)

// BadDataEvent: one step of bad data (Result). Without Inbound, this
// device received bytes of blob CID from Peer that failed verification
// (BadDataDetected). With Inbound, Peer said bytes of CID that this device
// sent it failed verification there, and the steps that follow say what
// this device's check found and whether its copy healed. With Inbound
// and no Peer, a fixity check (fieldsync verify, run beside this node by
// another process) found the copy here damaged and quarantined it
// (BadDataDamaged), and BadDataHealed follows once it is fetched again.
type BadDataEvent struct {
	Peer    peer.ID
	CID     cid.Cid
	Leaf    int // the leaf that failed; -1: the blob's skeleton
	Inbound bool
	Result  BadDataResult
	Detail  string  // what failed, what was wrong, or why not checked
	Refetch bool    // BadDataDamaged: fetched again from other peers
	From    peer.ID // BadDataHealed: where the good copy came from
}

func (BadDataEvent) event() {}

// BadPeer is a peer this device dropped because bytes it sent failed
// verification.
type BadPeer struct {
	Peer peer.ID
	CID  cid.Cid // the blob whose bytes were bad
	Leaf int     // the leaf; -1: the blob's skeleton
	At   time.Time
	// Run numbers the runs of this device's network (each Start, sync or
	// serve is one); Current is true for the latest.
	Run     int64
	Current bool
	Detail  string
}

// MarshalJSON writes CID and Peer as their strings.
func (b BadPeer) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Peer    string    `json:"peer"`
		CID     string    `json:"cid"`
		Leaf    int       `json:"leaf"`
		At      time.Time `json:"at"`
		Run     int64     `json:"run"`
		Current bool      `json:"current_run"`
		Detail  string    `json:"detail,omitempty"`
	}{b.Peer.String(), b.CID.String(), b.Leaf, b.At.UTC(), b.Run, b.Current, b.Detail})
}

// badPeersSchema is the node's table of peers dropped for bad data.
const badPeersSchema = `CREATE TABLE IF NOT EXISTS node_bad_peers (
	run    INTEGER NOT NULL,
	peer   BLOB NOT NULL,
	cid    BLOB NOT NULL,
	leaf   INTEGER NOT NULL,
	at     INTEGER NOT NULL,
	detail TEXT NOT NULL DEFAULT ''
)`

// keepRuns is how many runs' bad peers are kept.
const keepRuns = 10

// beginRun numbers a new run of the network (node_meta 'run'): the bad
// peers recorded from now on belong to it. Rows of old runs are pruned.
func (n *Node) beginRun(ctx context.Context) {
	var v string
	err := n.db.QueryRowContext(ctx, `INSERT INTO node_meta (k, v) VALUES ('run', '1')
		ON CONFLICT (k) DO UPDATE SET v = CAST(CAST(v AS INTEGER) + 1 AS TEXT) RETURNING v`).Scan(&v)
	run, _ := strconv.ParseInt(v, 10, 64)
	if err != nil || run <= 0 {
		n.log.Warn("number this run", "err", err)
		return
	}
	n.run.Store(run)
	_, _ = n.db.ExecContext(ctx, `DELETE FROM node_bad_peers WHERE run <= ?`, run-keepRuns)
}

// badData publishes e and, for a peer dropped for bad data, records it.
func (n *Node) badData(e exchange.CorruptEvent) {
	if !e.Inbound && e.Result == exchange.CorruptDetected {
		_, err := n.db.Exec(`INSERT INTO node_bad_peers (run, peer, cid, leaf, at, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			n.run.Load(), []byte(e.Peer), e.CID.Bytes(), e.Leaf, time.Now().UnixNano(), e.Detail)
		if err != nil {
			n.log.Warn("record a peer dropped for bad data", "peer", e.Peer, "err", err)
		}
	}
	n.hub.publish(BadDataEvent{Peer: e.Peer, CID: e.CID, Leaf: e.Leaf, Inbound: e.Inbound, Result: e.Result,
		Detail: e.Detail, Refetch: e.Refetch, From: e.From})
}

// BadPeers lists the peers this device dropped for sending bad data in
// its latest run of the network and the one before, latest first.
func (n *Node) BadPeers(ctx context.Context) ([]BadPeer, error) {
	var cur int64
	var v string
	if err := n.db.QueryRowContext(ctx, `SELECT v FROM node_meta WHERE k = 'run'`).Scan(&v); err == nil {
		cur, _ = strconv.ParseInt(v, 10, 64)
	}
	rows, err := n.db.QueryContext(ctx, `SELECT run, peer, cid, leaf, at, detail FROM node_bad_peers WHERE run >= ? ORDER BY at DESC`, cur-1)
	if err != nil {
		return nil, fmt.Errorf("node: peers dropped for bad data: %w", err)
	}
	defer rows.Close()
	var out []BadPeer
	for rows.Next() {
		var b BadPeer
		var pb, cb []byte
		var at int64
		if err := rows.Scan(&b.Run, &pb, &cb, &b.Leaf, &at, &b.Detail); err != nil {
			return nil, fmt.Errorf("node: peers dropped for bad data: %w", err)
		}
		id, err := peer.IDFromBytes(pb)
		if err != nil {
			continue
		}
		c, err := cid.Cast(cb)
		if err != nil {
			continue
		}
		b.Peer, b.CID, b.At, b.Current = id, c, time.Unix(0, at), b.Run == cur
		out = append(out, b)
	}
	return out, rows.Err()
}
