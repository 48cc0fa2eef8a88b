package project

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ExchangeRecords adapts a Project to the exchange's Records interface
// (Vector, Missing, Apply over opaque blocks).
type ExchangeRecords struct {
	P *Project
	// MaxBatchBytes caps the bytes Missing returns at once (default 7 MiB,
	// under the exchange's 8 MiB batch cap). At least one record is
	// always returned.
	MaxBatchBytes int
}

// Vector returns the project's version vector.
func (e ExchangeRecords) Vector(ctx context.Context) (map[peer.ID]uint64, error) {
	return e.P.Vector(), nil
}

// Missing returns up to limit blocks that a device with vector theirs
// lacks, in an order that can be applied as given (see Project.Missing).
func (e ExchangeRecords) Missing(ctx context.Context, theirs map[peer.ID]uint64, limit int) ([][]byte, error) {
	rs, err := e.P.Missing(ctx, theirs, limit)
	if err != nil {
		return nil, err
	}
	max := e.MaxBatchBytes
	if max <= 0 {
		max = 7 << 20
	}
	var out [][]byte
	total := 0
	for _, r := range rs {
		if total += len(r.Block) + 8; total > max && len(out) > 0 {
			break
		}
		out = append(out, r.Block)
	}
	return out, nil
}

// Apply applies blocks relayed by from and returns how many were new. The
// error reports records refused for a reason that means the sender relayed
// bad data (malformed, bad signature, other project, prev mismatch).
// Records kept but not counted (blocked authors, equivocation evidence) and
// records that wait for others (a gap, an author whose grant has not
// arrived yet) are not errors here: the next pull asks for them again.
func (e ExchangeRecords) Apply(ctx context.Context, from peer.ID, blocks [][]byte) (int, error) {
	res, err := e.P.Apply(ctx, blocks)
	if err != nil {
		return 0, err
	}
	n, bad := 0, 0
	var first error
	for _, r := range res {
		if r.Stored {
			n++
		}
		if r.Err == nil || errors.Is(r.Err, ErrBlocked) || errors.Is(r.Err, ErrNotAuthorized) ||
			errors.Is(r.Err, ErrEquivocation) || errors.Is(r.Err, ErrGap) || errors.Is(r.Err, ErrNotMember) {
			continue
		}
		bad++
		if first == nil {
			first = r.Err
		}
	}
	if first != nil {
		return n, fmt.Errorf("%d of %d records from %s refused: %w", bad, len(blocks), from, first)
	}
	return n, nil
}

// Evidence implements the exchange's Evidencer: the signed records that
// give device id its current role (Project.Evidence).
func (e ExchangeRecords) Evidence(ctx context.Context, id peer.ID) ([][]byte, error) {
	return e.P.Evidence(ctx, id)
}

// AcceptEvidence implements the exchange's Evidencer (Project.AcceptEvidence).
func (e ExchangeRecords) AcceptEvidence(ctx context.Context, from peer.ID, blocks [][]byte) error {
	return e.P.AcceptEvidence(ctx, blocks)
}
