//go:build linux

package ui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/internal/fulldisk"
	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/node"
)

// TestUploadDiskFull: an upload onto a full disk is answered 507 with the
// words of 'fieldsync add' (the disk, what is needed and free, nothing
// stored, what to do), whether the disk fills while the photo is received
// or while it is stored; nothing is left behind.
func TestUploadDiskFull(t *testing.T) {
	dir := fulldisk.Mount(t, 16<<20)
	ctx := context.Background()
	d, err := node.Init(ctx, filepath.Join(dir, "d"), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.CreateProject(ctx, "River survey"); err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d, MaxUpload: 8 << 20})
	jpg := synth.JPEG(1600, 1200, 3, 95, synth.Meta{Taken: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)})
	for _, tc := range []struct {
		name string
		free int64
	}{
		{"while received", 64 << 10},
		{"while stored", int64(len(jpg)) + int64(len(jpg))/2},
	} {
		fulldisk.FillTo(t, dir, tc.free)
		code, out := c.upload(t, nil, map[string][]byte{"big.jpg": jpg})
		msg, _ := out["error"].(string)
		if code != 507 || !strings.Contains(msg, "the disk holding "+d.Dir()+" is full: this upload needs about ") ||
			!strings.Contains(msg, "; nothing was stored. Free some space on it, then add the observation again") {
			t.Errorf("%s (photo %d bytes): %d %q, want 507 and the words of a full disk", tc.name, len(jpg), code, msg)
		}
		if o, _, s := stored(t, d); o != 0 || s != 0 {
			t.Errorf("%s: left %d observations, %d spooled files", tc.name, o, s)
		}
	}
	// Space freed, the same upload works.
	os.Remove(filepath.Join(dir, "filler"))
	if code, out := c.upload(t, nil, map[string][]byte{"big.jpg": jpg}); code != 201 {
		t.Fatalf("after freeing space: %d %v", code, out)
	}
}
