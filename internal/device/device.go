// Package device ties one data directory together: the device key, the
// project database, the blob store and the project, and builds the exchange
// node over them. The command and the demo use it; it prints nothing.
//
// A data directory holds:
//
//	key            the device's Ed25519 key (libp2p protobuf, mode 0600)
//	fieldsync.db   the SQLite database (project records, blob metadata, ...)
//	blobs/         complete blobs, plain files named by CID (docs/storage.md)
//	partial/, quarantine/, tmp/, lock
//	               the rest of the blob store (the data directory is its root)
//	peers.json     peers met before; serve.json while serve runs
package device

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

// Errors callers branch on.
var (
	// ErrNoDevice means the data directory has not been initialised.
	ErrNoDevice = errors.New("no device here")
	// ErrNoProject means the device has not created or joined a project.
	ErrNoProject = errors.New("no project on this device")
	// ErrHasProject means the device already holds a project.
	ErrHasProject = errors.New("this device already holds a project")
)

// Device is an open data directory.
type Device struct {
	Dir     string
	Self    *project.Identity
	DB      *sql.DB
	Store   *disk.Store      // nil when opened shared while another process holds it
	Project *project.Project // nil until a project is created or joined
}

// KeyPath, DBPath and BlobDir name the parts of a data directory.
func KeyPath(dir string) string { return filepath.Join(dir, "key") }
func DBPath(dir string) string  { return filepath.Join(dir, "fieldsync.db") }
func BlobDir(dir string) string { return dir }

// Init creates the data directory and the device key if they do not exist,
// and opens the device.
func Init(ctx context.Context, dir string) (*Device, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	if _, err := project.LoadOrCreateIdentity(KeyPath(dir)); err != nil {
		return nil, fmt.Errorf("create device key: %w", err)
	}
	return Open(ctx, dir)
}

// OpenShared opens the device like Open, but when another process (fieldsync
// serve) holds the blob store, it opens the database and project alone and
// leaves Store nil: enough to list, show and invite while serve runs.
func OpenShared(ctx context.Context, dir string) (*Device, error) {
	return open(ctx, dir, true)
}

// Open opens an initialised data directory. A directory without a device
// key gives ErrNoDevice; a device without a project opens with a nil
// Project.
func Open(ctx context.Context, dir string) (*Device, error) {
	return open(ctx, dir, false)
}

func open(ctx context.Context, dir string, shared bool) (*Device, error) {
	st, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: data directory %s does not exist (run 'fieldsync init --data %s')", ErrNoDevice, dir, dir)
		}
		return nil, fmt.Errorf("open data directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("data directory %s is not a directory", dir)
	}
	if _, err := os.Stat(KeyPath(dir)); err != nil {
		return nil, fmt.Errorf("%w: %s has no device key (run 'fieldsync init --data %s')", ErrNoDevice, dir, dir)
	}
	if err := checkWritable(dir); err != nil {
		return nil, err
	}
	self, err := project.LoadOrCreateIdentity(KeyPath(dir))
	if err != nil {
		return nil, fmt.Errorf("load device key: %w", err)
	}
	d, err := db.Open(DBPath(dir))
	if err != nil {
		return nil, err
	}
	store, err := disk.Open(ctx, BlobDir(dir), d)
	if err != nil && shared && errors.Is(err, disk.ErrLocked) {
		store, err = nil, nil
	}
	if err != nil {
		d.Close()
		if errors.Is(err, disk.ErrLocked) {
			return nil, fmt.Errorf("data directory %s is in use by another fieldsync process (stop it, or use another --data): %w", dir, err)
		}
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	dev := &Device{Dir: dir, Self: self, DB: d, Store: store}
	p, err := project.Open(ctx, d, self)
	switch {
	case err == nil:
		dev.Project = p
	case errors.Is(err, project.ErrNoProject):
	default:
		dev.Close()
		return nil, fmt.Errorf("open project: %w", err)
	}
	return dev, nil
}

// Close closes the store and the database.
func (d *Device) Close() error {
	var errs []error
	if d.Store != nil {
		errs = append(errs, d.Store.Close())
	}
	if d.DB != nil {
		errs = append(errs, d.DB.Close())
	}
	return errors.Join(errs...)
}

// CreateProject creates a project named name with this device as creator.
func (d *Device) CreateProject(ctx context.Context, name string) (*project.Project, error) {
	if d.Project != nil {
		return nil, fmt.Errorf("%w (%s, %s)", ErrHasProject, d.Project.Name(), d.Project.ID())
	}
	p, err := project.Create(ctx, d.DB, d.Self, name)
	if err != nil {
		return nil, err
	}
	d.Project = p
	return p, nil
}

// NeedProject returns the project or an error saying what to do.
func (d *Device) NeedProject() (*project.Project, error) {
	if d.Project == nil {
		return nil, fmt.Errorf("%w: create one with 'fieldsync init --project NAME' or join one with 'fieldsync join CODE'", ErrNoProject)
	}
	return d.Project, nil
}

// checkWritable fails clearly when dir cannot be written.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".writable-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable (check its permissions or pick another --data): %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// Blobs is what reading the device's complete blobs takes.
type Blobs interface {
	blob.Fetcher
	blob.Statter
	blob.Enumerator
	blob.FixityLog
	PartialStatus(ctx context.Context, c cid.Cid) (done, size int64, err error)
}

// Blobs reads the device's complete blobs: through its store, or, when
// another process (serve) holds the store, through a disk.Reader beside it.
func (d *Device) Blobs() Blobs {
	if d.Store != nil {
		return d.Store
	}
	return disk.OpenReader(BlobDir(d.Dir), d.DB)
}

// ErrBusy means another fieldsync process holds the blob store.
var ErrBusy = errors.New("data directory in use by another fieldsync process")

// NeedStore returns nil if the blob store is open, or an error saying that
// another process (serve) holds it.
func (d *Device) NeedStore() error {
	if d.Store == nil {
		return fmt.Errorf("%w (is 'fieldsync serve' running on %s? stop it first)", ErrBusy, d.Dir)
	}
	return nil
}
