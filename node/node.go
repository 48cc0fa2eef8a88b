package node

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync/blind"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/thumbs"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Options shape Open and Init. The zero value is a sensible default.
type Options struct {
	// Shared opens the data directory beside another process that holds
	// it (a running 'fieldsync serve'): everything that reads works, blobs
	// included, and so does a fixity check (Verify, whose quarantines
	// that process learns of); whatever would write blobs (imports, sync)
	// fails with ErrBusy. Without Shared, a held data directory gives
	// ErrBusy at once.
	Shared bool
	// ReadOnly opens the blob store for reading only and never takes the
	// data directory's lock, so that a concurrent sync or serve is never
	// refused because of it: for listing, showing, status, and changes
	// that are records only (edits without files, roles, names).
	// Whatever would write blobs fails with ErrReadOnly.
	ReadOnly bool
	// Logger receives the node's and the exchange's logs (nil: none).
	Logger *slog.Logger
	// Thumbs are the options of the thumbnails and previews made at import
	// (zero: package thumbs' defaults). Every device of a project should
	// use the same, so that the same photo gives the same variant CIDs.
	Thumbs thumbs.Options
}

// Node is one device: an open data directory. Its methods are safe for
// concurrent use. Close it when done.
type Node struct {
	dir   string
	opts  Options
	log   *slog.Logger
	self  *project.Identity
	db    *sql.DB
	store *disk.Store  // nil when Shared and another process holds the store
	read  *disk.Reader // the store's files read beside that process

	hub hub

	mu      sync.Mutex
	proj    *project.Project // nil until created or joined
	ex      *exchange.Node   // nil until Start
	exDone  chan struct{}    // closed when the exchange's event pump ends
	exStop  chan struct{}    // closed to stop that pump
	serving bool
	roles   map[peer.ID]project.Role // last roles seen, to report changes
	closed  bool

	run atomic.Int64 // this run of the network (badpeers.go)
	// pumped counts the events of the running exchange the pump has
	// passed on (caughtUp).
	pumped atomic.Uint64

	startPeers []peer.AddrInfo // the peers the network was started with (blind.go)
	arch       *blind.Archive  // a blind archive's state (archive.go); then proj is nil
}

// The parts of a data directory.
func keyPath(dir string) string { return filepath.Join(dir, "key") }
func dbPath(dir string) string  { return filepath.Join(dir, "fieldsync.db") }

// Init creates the data directory and the device key if they do not exist
// yet, and opens the device. Running it on an initialised directory just
// opens it.
func Init(ctx context.Context, dir string, opts Options) (*Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &DirError{Dir: dir, Err: err}
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	if _, err := project.LoadOrCreateIdentity(keyPath(dir)); err != nil {
		return nil, fmt.Errorf("node: create device key: %w", err)
	}
	return Open(ctx, dir, opts)
}

// Open opens an initialised data directory. A directory that does not
// exist or has no device key gives ErrNoDevice; one that another process
// holds gives ErrBusy (unless opts.Shared). A device without a project
// opens: HasProject reports false until CreateProject or Join.
func Open(ctx context.Context, dir string, opts Options) (*Node, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &DirError{Dir: dir, Err: ErrNoDevice}
	}
	if err != nil {
		return nil, &DirError{Dir: dir, Err: err}
	}
	if !st.IsDir() {
		return nil, &DirError{Dir: dir, Err: ErrNotDir}
	}
	if _, err := os.Stat(keyPath(dir)); err != nil {
		return nil, &DirError{Dir: dir, Err: ErrNoDevice}
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	self, err := project.LoadOrCreateIdentity(keyPath(dir))
	if err != nil {
		return nil, fmt.Errorf("node: load device key: %w", err)
	}
	d, err := db.Open(dbPath(dir))
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	var store *disk.Store
	if !opts.ReadOnly {
		store, err = disk.Open(ctx, dir, d)
		if err != nil && opts.Shared && errors.Is(err, disk.ErrLocked) {
			store, err = nil, nil
		}
	}
	if err != nil {
		d.Close()
		if errors.Is(err, disk.ErrLocked) {
			return nil, &DirError{Dir: dir, Err: ErrBusy}
		}
		return nil, fmt.Errorf("node: open blob store: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{dir: dir, opts: opts, log: log, self: self, db: d, store: store}
	if store == nil {
		n.read = disk.OpenReader(dir, d)
	}
	n.hub.init()
	p, err := project.Open(ctx, d, self)
	switch {
	case err == nil:
		n.setProject(p)
	case errors.Is(err, project.ErrNoProject):
		if err := n.openBlind(ctx); err != nil {
			n.Close()
			return nil, err
		}
	default:
		n.Close()
		return nil, fmt.Errorf("node: open project: %w", err)
	}
	return n, nil
}

// checkWritable fails clearly when dir cannot be written.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".writable-*")
	if err != nil {
		return &DirError{Dir: dir, Err: fmt.Errorf("%w: %v", ErrNotWritable, err)}
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Close stops the network, if started, and closes the store and the
// database. Events channels from Subscribe are closed.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	ex, done, stop := n.ex, n.exDone, n.exStop
	n.mu.Unlock()
	var errs []error
	if ex != nil {
		close(stop)
		errs = append(errs, ex.Close())
		<-done
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	n.saveWants()
	errs = append(errs, n.db.Close())
	n.hub.close()
	return errors.Join(errs...)
}

// saveWants keeps the want lists read this run for the next process
// (project.SaveWants). Failing is harmless, that process reads them
// again, so it is only logged for debugging: on a full disk it fails, and
// the user has been told of the disk already.
func (n *Node) saveWants() {
	n.mu.Lock()
	p := n.proj
	n.mu.Unlock()
	if p == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.SaveWants(ctx); err != nil {
		n.log.Debug("keep the want lists for the next run", "err", err)
	}
}

// Dir is the data directory.
func (n *Node) Dir() string { return n.dir }

// TempDir is where the node spools files before they are stored (on the
// data directory's file system, so a rename moves them in).
func (n *Node) TempDir() string { return filepath.Join(n.dir, "tmp") }

// ID is this device's peer ID: its name on the network and in the
// project's records.
func (n *Node) ID() peer.ID { return n.self.PeerID() }

// Shared reports whether this node reads the blob store without holding
// it (another process holds it, or it was opened ReadOnly): reads work,
// blob writes fail.
func (n *Node) Shared() bool { return n.store == nil }

// needStore returns ErrReadOnly or ErrBusy when this node may not write
// blobs.
func (n *Node) needStore() error {
	switch {
	case n.store != nil:
		return nil
	case n.opts.ReadOnly:
		return &DirError{Dir: n.dir, Err: ErrReadOnly}
	}
	return &DirError{Dir: n.dir, Err: ErrBusy}
}

// setProject installs p and starts reporting its invite outcomes.
func (n *Node) setProject(p *project.Project) {
	n.mu.Lock()
	n.proj = p
	n.roles = rolesOf(p)
	n.mu.Unlock()
	p.InviteHandler().Observe(func(o project.InviteOutcome) {
		n.hub.publish(InviteEvent{Peer: o.Peer, Role: o.Role, Err: o.Err})
		if o.Err == nil {
			n.checkRoles()
		}
	})
}

// project returns the project, or ErrNoProject.
func (n *Node) project() (*project.Project, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proj == nil {
		return nil, ErrNoProject
	}
	return n.proj, nil
}

// ProjectInfo describes the device's project.
type ProjectInfo struct {
	ID      string       `json:"id"`      // the project ID: the CID of its genesis record
	Name    string       `json:"name"`    // the name its creator gave it
	Creator peer.ID      `json:"creator"` // the device that created it
	Role    project.Role `json:"role"`    // this device's role in it
}

// HasProject reports whether the device has created or joined a project.
func (n *Node) HasProject() bool {
	_, err := n.project()
	return err == nil
}

// Project describes the device's project, or returns ErrNoProject.
func (n *Node) Project() (ProjectInfo, error) {
	if a := n.archive(); a != nil {
		return ProjectInfo{ID: a.Project().String(), Creator: a.Creator(), Role: project.RoleArchive}, nil
	}
	p, err := n.project()
	if err != nil {
		return ProjectInfo{}, err
	}
	return ProjectInfo{ID: p.ID().String(), Name: p.Name(), Creator: p.Creator(), Role: p.RoleOf(n.ID())}, nil
}

// CreateProject creates a project named name with this device as its
// creator. A device holds one project: a second gives ErrHasProject.
func (n *Node) CreateProject(ctx context.Context, name string) (ProjectInfo, error) {
	if n.IsBlind() {
		return ProjectInfo{}, ErrBlind
	}
	if p, err := n.project(); err == nil {
		return ProjectInfo{}, &ProjectError{Name: p.Name(), ID: p.ID().String(), Err: ErrHasProject}
	}
	p, err := project.Create(ctx, n.db, n.self, name)
	if err != nil {
		return ProjectInfo{}, err
	}
	if err := n.publishName(ctx, p); err != nil {
		return ProjectInfo{}, err
	}
	n.setProject(p)
	return n.Project()
}
