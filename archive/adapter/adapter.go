// Package adapter connects package archive to package project: Project
// implements archive.Source (export), archive.Sink (import) and
// archive.Observations (BagIt) on a *project.Project.
//
// Words are those of packages archive and project. The mapping:
//
//   - records: project.Missing (log order, grants before the records they
//     allow) for export, project.Apply (every check of a network sync) for
//     import;
//   - blobs: project.WantedBlobs for export (the Archive filter with
//     history, every variant of the current observations without); on import, under this device's own filter
//     (project.FilterOf), as a network sync would fetch them;
//   - members: project.RoleOf(id).CanWrite();
//   - classes: both packages speak blob.Class; a filter's classes are
//     project.Filter.Classes.
package adapter

import (
	"context"
	"fmt"
	"sync"

	"github.com/fieldsync/fieldsync/archive"
	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Project adapts a *project.Project. It is safe for concurrent use.
type Project struct {
	p *project.Project

	mu     sync.Mutex
	wanted map[cid.Cid]project.Want // nil: to be (re)loaded
}

var (
	_ archive.MemberChecker = (*Project)(nil)
	_ archive.Source        = (*Project)(nil)
	_ archive.Sink          = (*Project)(nil)
	_ archive.Observations  = (*Project)(nil)
)

// New returns the adapter for p.
func New(p *project.Project) *Project { return &Project{p: p} }

// ProjectID implements archive.Source, archive.Sink and
// archive.Observations.
func (a *Project) ProjectID() cid.Cid { return a.p.ID() }

// ProjectName implements archive.Observations.
func (a *Project) ProjectName() string { return a.p.Name() }

// Vector implements archive.Source.
func (a *Project) Vector(ctx context.Context) (archive.Vector, error) {
	return archive.Vector(a.p.Vector()), nil
}

// Records implements archive.Source.
func (a *Project) Records(ctx context.Context, have archive.Vector, fn func(archive.Block) error) error {
	recs, err := a.p.Missing(ctx, project.VersionVector(have), 0)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := fn(archive.Block{CID: r.CID, Data: r.Block}); err != nil {
			return err
		}
	}
	return nil
}

// Blobs implements archive.Source: with history under the Archive filter
// (every variant of every counted version), without under a custom filter
// of every kind and variant of the current observations.
func (a *Project) Blobs(ctx context.Context, history bool) ([]archive.BlobRef, error) {
	f := project.Filter{Mode: project.FilterCustom}
	if history {
		f = project.Archive
	}
	ws, err := a.p.WantedBlobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]archive.BlobRef, len(ws))
	for i, w := range ws {
		out[i] = archive.BlobRef{CID: w.CID, Class: w.Class, Time: w.ObservedAt, MediaType: w.MediaType, Size: w.Size}
	}
	return out, nil
}

// Apply implements archive.Sink with project.Apply. A record that is
// stored but does not count (project.ErrBlocked, ErrNotAuthorized) is
// reported with its error.
func (a *Project) Apply(ctx context.Context, recs []archive.Block) ([]archive.RecordOutcome, error) {
	blocks := make([][]byte, len(recs))
	for i, r := range recs {
		blocks[i] = r.Data
	}
	res, err := a.p.Apply(ctx, blocks)
	if err != nil {
		return nil, err
	}
	out := make([]archive.RecordOutcome, len(recs))
	stored := false
	for i, r := range res {
		if r.Err == nil && r.CID.Defined() && r.CID != recs[i].CID {
			r.Err = fmt.Errorf("record decodes to %s, block is %s", r.CID, recs[i].CID)
		}
		out[i] = archive.RecordOutcome{New: r.Stored && r.Err == nil, Err: r.Err}
		stored = stored || r.Stored
	}
	if stored {
		a.mu.Lock()
		a.wanted = nil
		a.mu.Unlock()
	}
	return out, nil
}

// WantBlob implements archive.Sink: c is wanted if this device's own filter
// (project.FilterOf, Archive unless the device declared another) wants it,
// as a network sync would fetch it. A field device importing a full bundle
// keeps its thumbnails and previews and refuses the originals.
func (a *Project) WantBlob(ctx context.Context, c cid.Cid) (blob.Meta, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.wanted == nil {
		f, err := a.p.FilterOf(ctx, a.p.Self().PeerID())
		if err != nil {
			return blob.Meta{}, false, err
		}
		ws, err := a.p.WantedBlobs(ctx, f)
		if err != nil {
			return blob.Meta{}, false, err
		}
		a.wanted = make(map[cid.Cid]project.Want, len(ws))
		for _, w := range ws {
			a.wanted[w.CID] = w
		}
	}
	w, ok := a.wanted[c]
	return blob.Meta{MediaType: w.MediaType}, ok, nil
}

// CheckMember implements archive.Sink.
func (a *Project) CheckMember(ctx context.Context, id peer.ID) error {
	switch r := a.p.RoleOf(id); {
	case r.CanWrite():
		return nil
	case r == project.RoleBlocked:
		return project.ErrBlocked
	}
	return fmt.Errorf("%w: %w", archive.ErrUnknownDevice, project.ErrNotMember)
}

// Observations implements archive.Observations: the current state of every
// observation that is not deleted.
func (a *Project) Observations(ctx context.Context, fn func(view.Observation) error) error {
	obs, err := a.p.Observations(ctx, project.ObservationQuery{})
	if err != nil {
		return err
	}
	for i := range obs {
		if err := fn(obs[i].JSON()); err != nil {
			return err
		}
	}
	return nil
}

// Wants returns the blob classes device dev keeps, from the filter it
// declared (project.FilterOf): Archive is every class, Field thumbnails and
// previews, a custom filter the classes of its variants and kinds.
func (a *Project) Wants(ctx context.Context, dev peer.ID) (archive.ClassSet, error) {
	f, err := a.p.FilterOf(ctx, dev)
	if err != nil {
		return 0, err
	}
	return WantsOf(f), nil
}

// WantsOf maps a project filter to blob classes: Archive is AllBlobs
// (history included), Field is FieldSet, a custom filter the classes of its
// variants and kinds (project.Filter.Classes), WithHistory if it counts
// replaced versions.
func WantsOf(f project.Filter) archive.ClassSet {
	switch f.Mode {
	case project.FilterArchive:
		return archive.AllBlobs
	case project.FilterField:
		return archive.FieldSet
	}
	s := archive.Classes(f.Classes()...)
	if f.History && s != archive.NoBlobs {
		s |= archive.WithHistory
	}
	return s
}

// State returns this device's state for a bundle, signed with its key: its
// vector, the complete blobs of store and the classes its own filter
// wants.
func (a *Project) State(ctx context.Context, store blob.Enumerator) (*archive.State, error) {
	self := a.p.Self().PeerID()
	wants, err := a.Wants(ctx, self)
	if err != nil {
		return nil, err
	}
	st, err := archive.StateOf(ctx, a, self, store, wants)
	if err != nil {
		return nil, err
	}
	if err := st.Sign(a.p.Self().PrivKey()); err != nil {
		return nil, err
	}
	return st, nil
}
