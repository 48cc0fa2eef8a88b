package node

import (
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"syscall"
	"testing"

	"github.com/fieldsync/fieldsync/ingest"
)

// A full disk, as an ingest or the store reports it, becomes a
// *SpaceError about the data directory: what is needed, and what the file
// system says is free.
func TestSpaceError(t *testing.T) {
	n := newDevice(t, "p")
	enospc := fmt.Errorf("put blob: write temp file: %w", &fs.PathError{Op: "write", Path: "tmp/put-1", Err: syscall.ENOSPC})
	for _, tc := range []struct {
		err  error
		need int64
	}{
		{&ingest.NoSpaceError{Need: 12345, Err: enospc}, 12345}, // an import: its own need
		{fmt.Errorf("sync: %w", enospc), 777},                   // a sync: the wanted bytes not here
	} {
		err := n.spaceError(tc.err, 777)
		var se *SpaceError
		if !errors.As(err, &se) || !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%v: got %v", tc.err, err)
		}
		if se.Dir != n.Dir() || se.Need != tc.need {
			t.Errorf("%+v, want dir %s and need %d", se, n.Dir(), tc.need)
		}
		if runtime.GOOS == "linux" && se.Free <= 0 {
			t.Errorf("free %d: statfs should tell", se.Free)
		}
		if again := n.spaceError(err, 1); again != err {
			t.Errorf("a SpaceError is wrapped again: %v", again)
		}
	}
	other := errors.New("something else")
	if err := n.spaceError(other, 1); err != other {
		t.Errorf("another error became %v", err)
	}
}
