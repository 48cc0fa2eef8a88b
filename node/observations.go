package node

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/fieldsync/fieldsync/ingest"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

// ImportProgress and ImportReport are package ingest's: what Import
// reports after each file, and in the end.
type (
	ImportProgress = ingest.Progress
	ImportReport   = ingest.Report
	ImportSkip     = ingest.Skip
)

// Reasons Import skips a file.
var (
	ErrSkipHidden    = ingest.ErrHidden
	ErrSkipEmpty     = ingest.ErrEmpty
	ErrSkipIrregular = ingest.ErrIrregular
	// ErrSkipKnown: Import left a file out because its bytes are already
	// an observation's original (ImportReport.Known; ImportOptions.Again
	// imports them anyway).
	ErrSkipKnown = ingest.ErrKnown
)

// ImportOptions shape Import and Add.
type ImportOptions struct {
	Tags  []string // given to every observation made
	Notes string
	// Again (Import) imports files whose bytes are already an
	// observation's original as new observations; without it they are
	// left out (ImportReport.Known), so importing a camera card again
	// imports only the new photos.
	Again bool
	// Position is used when a photo has no GPS position in its EXIF
	// (Import), or always (Add).
	Position *project.Position
	// RequireVariants (Add) refuses, storing nothing, a file that cannot
	// have a thumbnail and a preview (the error wraps thumbs.ErrTooLarge,
	// ErrCorrupt or ErrUnsupported), where Add would otherwise keep it
	// with its original only: for surfaces that take photos only.
	RequireVariants bool
	// Category (Add) is the ID of the project category the observation is
	// of, and Fields its field values by key, as a person types them (a
	// number with a dot, a date as 2026-05-17, an option by its value or
	// label, several options separated by ";"). They are checked before
	// any file is stored (ErrUnknownCategory, ErrCategoryKind, a
	// *FieldError); the category's default tags are added to Tags.
	Category string
	Fields   map[string]string
	// FieldLists are field values given as lists, as a form sends them:
	// a select many's options one by one, each whole (a ";" in an option
	// is part of it), read by project.CategoryField.ParseList. A key given
	// here and in Fields is read from here.
	FieldLists map[string][]string
	// Warn, if not nil, is told of each file Add took with less than
	// usual (a photo too large or damaged for variants, kept with its
	// original only; a GPX file whose waypoints are not taken), so a
	// surface can say it. Import lists them in ImportReport.Warnings.
	Warn func(ImportSkip)
}

// Import turns every file under dir (recursively, in path order) into an
// observation: a photo with its thumbnail and preview, its EXIF time and
// position; any other file as an attachment with its original only.
// Hidden, empty and unreadable files are skipped and listed in the report
// with their reasons. progress, if not nil, is called after each file. A
// cancelled ctx stops after the current group of files; what was imported
// stays (the report is returned with ctx's error). A full disk stops it at
// the first file that does not fit, with a *SpaceError (ErrNoSpace): the
// observations made before stay, the group of files in progress is
// discarded, no later file is tried (the report's NotImported lists the
// files not imported).
func (n *Node) Import(ctx context.Context, dir string, opts ImportOptions, progress func(ImportProgress)) (*ImportReport, error) {
	p, err := n.writer()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: %w", dir, ErrNotDir)
	}
	if opts.Category != "" || len(opts.Fields) > 0 || len(opts.FieldLists) > 0 {
		return nil, errors.New("import gives no category: add observations of a category one by one (Add)")
	}
	rep, err := ingest.Dir(ctx, p, dir, ingest.Options{Store: n.store, Thumbs: n.opts.Thumbs, Tags: opts.Tags, Notes: opts.Notes, Position: opts.Position, SkipKnown: !opts.Again}, progress)
	if rep != nil && len(rep.Records) > 0 {
		n.changed(idsOf(rep.Records)...)
	}
	return rep, n.spaceError(err, 0)
}

// Add makes one observation of files, one attachment each (a photo and a
// voice note taken at the same spot, say): its time and position come
// from the first photo that has them in its EXIF (or a GPX track's first
// point), else the first file's modification time; opts.Position, when
// given, is the position. A .gpx file is a track. Every file must import:
// on any error nothing is stored (a full disk gives a
// *SpaceError, ErrNoSpace). Without files, the observation is its
// position, category, field values, tags and notes, made now.
func (n *Node) Add(ctx context.Context, files []string, opts ImportOptions) (*project.Record, error) {
	if len(files) == 0 {
		// Records only: no store needed (it works beside a serve).
		p, err := n.project()
		if err != nil {
			return nil, err
		}
		r, err := n.addFieldData(ctx, p, nil, opts)
		return r, n.spaceError(err, 0)
	}
	p, err := n.writer()
	if err != nil {
		return nil, err
	}
	if opts.Category != "" || len(opts.Fields) > 0 || len(opts.FieldLists) > 0 {
		// A full disk is a *SpaceError here as below: the command's exit 7
		// and its words depend on it.
		r, err := n.addFieldData(ctx, p, files, opts)
		return r, n.spaceError(err, 0)
	}
	r, err := ingest.Files(ctx, p, files, ingest.Options{Store: n.store, Thumbs: n.opts.Thumbs, Tags: opts.Tags, Notes: opts.Notes,
		Position: opts.Position, ForcePosition: opts.Position != nil, RequireVariants: opts.RequireVariants, Warn: opts.Warn})
	if err != nil {
		return nil, n.spaceError(err, 0)
	}
	n.changed(r.Observation.ID)
	return r, nil
}

// AddObservation signs o as a new observation. Its attachments' blobs
// should already be in the store (Add stores files and makes the
// observation in one step).
func (n *Node) AddObservation(ctx context.Context, o project.Observation) (*project.Record, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	r, err := p.AddObservation(ctx, o)
	if err != nil {
		return nil, err
	}
	n.changed(r.Observation.ID)
	return r, nil
}

// Edit is a change to an observation; nil fields are left as they are.
type Edit struct {
	Notes          *string
	Tags           *[]string
	Position       *project.Position
	RemovePosition bool
	// Add are files attached to the observation (photos get their
	// variants, as Add makes them).
	Add []string
	// Category sets the observation's category ("" removes it and its
	// field values); a new category's default tags replace the old one's,
	// and values of fields it does not have are dropped. Fields sets
	// values by key, read as Add reads them ("" removes one), and
	// FieldLists as lists (ImportOptions.FieldLists; no item, or only
	// empty ones, removes one).
	Category   *string
	Fields     map[string]string
	FieldLists map[string][]string
}

// Edit signs a new version of observation id with e applied to its
// current state. The new version replaces every current version, so an
// edit also settles a fork (two devices' concurrent edits); the history
// keeps them all.
func (n *Node) Edit(ctx context.Context, id string, e Edit) (*project.Record, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	st, err := p.Observation(ctx, id)
	if err != nil {
		return nil, err
	}
	o := st.Observation
	if st.Deleted {
		o.Deleted = false // an edit of a deleted observation restores it
	}
	if e.Notes != nil {
		o.Notes = *e.Notes
	}
	if e.Tags != nil {
		o.Tags = *e.Tags
	}
	if e.RemovePosition {
		o.Position = nil
	}
	if e.Position != nil {
		o.Position = e.Position
	}
	if e.Category != nil || len(e.Fields) > 0 || len(e.FieldLists) > 0 {
		if err := n.editFieldData(ctx, p, &o, e); err != nil {
			return nil, err
		}
	}
	if len(e.Add) > 0 {
		if err := n.needStore(); err != nil {
			return nil, err
		}
		added, err := ingest.Prepare(ctx, e.Add, ingest.Options{Store: n.store, Thumbs: n.opts.Thumbs})
		if err != nil {
			return nil, n.spaceError(err, 0)
		}
		o.Attachments = append(o.Attachments, added.Attachments...)
	}
	r, err := p.UpdateObservation(ctx, o)
	if err != nil {
		return nil, err
	}
	n.changed(id)
	return r, nil
}

// Keep signs a new version of observation id with the content of its
// version c (a CID from History): the one-click "keep this one" of a
// fork, or a revert to an older version.
func (n *Node) Keep(ctx context.Context, id string, c cid.Cid) (*project.Record, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	hist, err := p.History(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, v := range hist {
		if v.CID == c {
			r, err := p.UpdateObservation(ctx, v.Observation)
			if err != nil {
				return nil, err
			}
			n.changed(id)
			return r, nil
		}
	}
	return nil, fmt.Errorf("version %s of observation %s: %w", c, id, ErrNotFound)
}

// Delete signs a version of observation id marked deleted. Nothing is
// erased: the history keeps every version, and an archive keeps their
// blobs.
func (n *Node) Delete(ctx context.Context, id string) (*project.Record, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	r, err := p.DeleteObservation(ctx, id)
	if err != nil {
		return nil, err
	}
	n.changed(id)
	return r, nil
}

// Observations lists the project's observations, newest first.
func (n *Node) Observations(ctx context.Context, q project.ObservationQuery) ([]project.ObservationState, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.Observations(ctx, q)
}

// Observation returns observation id as it stands (ErrNotFound if this
// device has no such observation).
func (n *Node) Observation(ctx context.Context, id string) (*project.ObservationState, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.Observation(ctx, id)
}

// History returns every version of observation id, oldest first, fork
// losers and refused versions included.
func (n *Node) History(ctx context.Context, id string) ([]project.Version, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.History(ctx, id)
}

// ChangesSince returns the observations changed since mark (0: the
// beginning) and the mark to pass next time; all is true when too much
// changed to list (a membership change re-counts everything).
func (n *Node) ChangesSince(ctx context.Context, mark int64) (ids []string, all bool, next int64, err error) {
	p, err := n.project()
	if err != nil {
		return nil, false, 0, err
	}
	return p.ChangesSince(ctx, mark)
}

// RecordCount is the number of records this device holds.
func (n *Node) RecordCount(ctx context.Context) (int, error) {
	p, err := n.project()
	if err != nil {
		return 0, err
	}
	return p.RecordCount(ctx)
}

// Record returns the record with CID c.
func (n *Node) Record(ctx context.Context, c cid.Cid) (*project.Record, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	return p.Record(ctx, c)
}

// Filter is what this device wants of the project's blobs.
func (n *Node) Filter(ctx context.Context) (project.Filter, error) {
	p, err := n.project()
	if err != nil {
		return project.Filter{}, err
	}
	return p.FilterOf(ctx, n.ID())
}

// SetFilter declares what this device wants of the project's blobs. A
// running network fetches by it at once; peers learn it at their next
// connection.
func (n *Node) SetFilter(ctx context.Context, f project.Filter) error {
	p, err := n.project()
	if err != nil {
		return err
	}
	if err := p.SetFilter(ctx, n.ID(), f); err != nil {
		return err
	}
	n.notify()
	return nil
}

// writer returns the project when this device may add observations here:
// it holds the store and has a role that writes.
func (n *Node) writer() (*project.Project, error) {
	p, err := n.project()
	if err != nil {
		return nil, err
	}
	if err := n.needStore(); err != nil {
		return nil, err
	}
	return p, nil
}

// Writable returns nil if this device may add observations here, or why
// not: ErrBusy (another process holds the store), or its role.
func (n *Node) Writable() error {
	p, err := n.writer()
	if err != nil {
		return err
	}
	if r := p.RoleOf(n.ID()); !r.CanWrite() {
		return fmt.Errorf("this device is %s in the project: %w", roleWord(r), project.ErrNotMember)
	}
	return nil
}

// roleWord is a role in a sentence: "this device is a member".
func roleWord(r project.Role) string {
	switch r {
	case project.RoleNone:
		return "not a member"
	case project.RoleBlocked:
		return "blocked"
	}
	return "a " + string(r)
}

// changed tells the exchange and subscribers that observations changed.
func (n *Node) changed(ids ...string) {
	n.notify()
	n.hub.publish(ObservationsEvent{IDs: ids})
}

func idsOf(recs []*project.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		if r.Observation != nil {
			out = append(out, r.Observation.ID)
		}
	}
	return out
}
