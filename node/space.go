package node

import (
	"errors"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/ingest"
	"github.com/fieldsync/fieldsync/internal/db"
)

// spaceError turns an ingest or a store that met a full disk into a
// *SpaceError about the data directory (need: the bytes the work still
// needs); any other error is returned as it is.
func (n *Node) spaceError(err error, need int64) error {
	var se *SpaceError
	if err == nil || errors.As(err, &se) {
		return err
	}
	var ne *ingest.NoSpaceError
	if errors.As(err, &ne) {
		need = ne.Need
	} else if !blob.IsNoSpace(err) && !db.IsFull(err) {
		return err
	}
	return &SpaceError{Dir: n.dir, Need: need, Free: freeSpace(n.dir), Err: db.NoSpace(err)}
}

// NoSpace returns err as a *SpaceError about the data directory when it
// says the disk is full (blob.IsNoSpace: the OS's ENOSPC from a file
// written there; or the database's), need being about how many more bytes
// the work needs; any other error is returned as it is. It is for a host
// that writes in the data directory itself, such as the web app spooling
// an upload into TempDir: its full disk is said as the node's are.
func (n *Node) NoSpace(err error, need int64) error { return n.spaceError(err, need) }
