package disk

import (
	"os"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
)

// Hooks for the external tests of this package.

func SetWriteHook(s *Store, h func(path string, off int64, n int) error) { s.writeHook = h }
func SetNoSyncFS(s *Store, v bool)                                       { s.noSyncFS = v }
func SetNow(s *Store, now func() time.Time)                              { s.now = now }
func SetPartSyncAfter(s *Store, d time.Duration)                         { s.partSyncAfter = d }
func SetNoDirect(s *Store, v bool)                                       { s.noDirect = v }
func DirectWrites(s *Store) int64                                        { return s.directWrites.Load() }
func Cached(s *Store, c cid.Cid) bool                                    { _, ok := s.rows.Load(c); return ok }

// FlushSoon makes the leaves of p had but not yet durable durable now.
func FlushSoon(p blob.Partial) error { return p.(*partial).flushSoonErr(false) }

// DirectSupported reports whether files in dir can be opened with
// O_DIRECT (not on tmpfs, nor off Linux).
func DirectSupported(dir string) bool {
	path := dir + "/direct-probe"
	f, err := os.Create(path)
	if err != nil {
		return false
	}
	f.Close()
	defer os.Remove(path)
	d := openDirect(path)
	if d == nil {
		return false
	}
	d.Close()
	return true
}
