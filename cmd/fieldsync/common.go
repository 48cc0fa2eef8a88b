package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fieldsync/fieldsync/node"
)

// defaultDataDir is where a device keeps its key, database and blobs unless
// --data says otherwise: $FIELDSYNC_DATA, else $XDG_DATA_HOME/fieldsync, else
// ~/.local/share/fieldsync.
func defaultDataDir() string {
	if d := os.Getenv("FIELDSYNC_DATA"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "fieldsync")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "fieldsync")
	}
	return "fieldsync-data"
}

// dataFlag adds --data to fs.
func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", defaultDataDir(), "")
}

const dataHelp = `  --data DIR   the device's data directory (default $FIELDSYNC_DATA, else
               $XDG_DATA_HOME/fieldsync, else ~/.local/share/fieldsync)
`

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// humanBytes formats n bytes with a binary unit.
func humanBytes(n int64) string { return node.Bytes(n) }

// humanRate formats a byte rate.
func humanRate(bps float64) string {
	if bps <= 0 {
		return "-"
	}
	return humanBytes(int64(bps)) + "/s"
}

// bar renders a progress bar of width cells for done out of total.
func bar(done, total int64, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat("=", width) + "]"
	}
	if done > total {
		done = total
	}
	full := int(float64(width) * float64(done) / float64(total))
	s := strings.Repeat("=", full)
	if full < width {
		s += ">" + strings.Repeat(" ", width-full-1)
	}
	return "[" + s + "]"
}

// isTerminal reports whether w is a character device (a terminal), so
// progress can redraw in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// processAlive reports whether a process with this pid exists.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// writeFileAtomic writes b to path through a synced temporary file in the
// same directory, renamed into place: a reader never sees half a file.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeAtomic writes path through a synced temporary file in the same
// directory, renamed into place: a reader (a GIS, an archivist's tool)
// never opens half a file. A folder that does not exist is said so.
func writeAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the folder %s does not exist: create it, or give another path", filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", filepath.Dir(path), err)
	}
	bw := bufio.NewWriterSize(tmp, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ago says how long ago t was, roughly, for a person.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.Local().Format("2006-01-02")
}

// defaultName is a device's name when none is given: the machine's
// host name.
func defaultName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 64 {
		return ""
	}
	return h
}
