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
