package project

import (
	"reflect"
	"testing"
	"time"
)

// The want lists a process read are kept for the next one, which uses
// them only while the project is as it was: a change by any process (a
// record applied, an observation added) makes the next read come from the
// tables again, and so does a saved list that does not decode.
func TestSavedWants(t *testing.T) {
	a := newProject(t, "p")
	addOldAndNew(t, a)
	want, err := a.WantedBlobs(ctx, Archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SaveWants(ctx); err != nil {
		t.Fatal(err)
	}
	reopen := func() *Project {
		t.Helper()
		p, err := Open(ctx, a.db, a.self)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(p *Project) []Want {
		t.Helper()
		ws, err := p.WantedBlobs(ctx, Archive)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	if got := read(reopen()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening:\n%+v\nwant\n%+v", got, want)
	}

	// The saved list is what a new process reads (here made shorter).
	if _, err := a.db.Exec(`UPDATE project_saved_wants SET list = ?`, encodeWants(want[:2])); err != nil {
		t.Fatal(err)
	}
	stale := reopen()
	if got := read(stale); len(got) != 2 {
		t.Fatalf("the saved list is not used: %d wants", len(got))
	}

	// Another process adds an observation: the saved list is not used.
	if _, err := a.AddObservation(ctx, Observation{ID: "z", Created: t0.Add(2 * time.Hour), Attachments: []Attachment{photo("z.jpg")}}); err != nil {
		t.Fatal(err)
	}
	fresh := read(a)
	if len(fresh) != len(want)+3 || fresh[0].ObservationID != "z" {
		t.Fatalf("after adding z: %+v", fresh)
	}
	if got := read(reopen()); !reflect.DeepEqual(got, fresh) {
		t.Fatalf("after adding z, a new process reads:\n%+v\nwant\n%+v", got, fresh)
	}
	// The process that read before the change does not save its list
	// as the current one.
	if err := stale.SaveWants(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(reopen()); !reflect.DeepEqual(got, fresh) {
		t.Fatalf("after a stale save: %d wants, want %d", len(got), len(fresh))
	}
	if err := a.SaveWants(ctx); err != nil {
		t.Fatal(err)
	}
	var rows int
	a.db.QueryRow(`SELECT COUNT(*) FROM project_saved_wants`).Scan(&rows)
	if rows != 1 {
		t.Errorf("%d saved lists, want 1 (the older one dropped)", rows)
	}

	// A list that does not decode is read from the tables.
	if _, err := a.db.Exec(`UPDATE project_saved_wants SET list = ?`, []byte{savedWantsFormat, 0xff}); err != nil {
		t.Fatal(err)
	}
	if got := read(reopen()); !reflect.DeepEqual(got, fresh) {
		t.Fatalf("with a broken saved list: %+v", got)
	}
}

func FuzzDecodeWants(f *testing.F) {
	a := newProject(f, "p")
	addOldAndNew(f, a)
	ws, err := a.WantedBlobs(ctx, Archive)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeWants(ws))
	f.Add(encodeWants(nil))
	f.Add([]byte{savedWantsFormat})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ws, err := decodeWants(b)
		if err != nil {
			if ws != nil {
				t.Fatal("a partial list with an error")
			}
			return
		}
		again, err := decodeWants(encodeWants(ws))
		if err != nil || !reflect.DeepEqual(again, ws) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, ws)
		}
	})
}
