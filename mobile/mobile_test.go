package mobile

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
)

// recorder is a Listener that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	kinds    map[string]int
	progress []string
}

func (r *recorder) OnEvent(kind, data string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[string]int{}
	}
	r.kinds[kind]++
	if !json.Valid([]byte(data)) {
		panic("event data is not JSON: " + data)
	}
}

func (r *recorder) OnProgress(data string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.progress = append(r.progress, data)
}

func (r *recorder) count(kind string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.kinds[kind]
}

// TestPhones: a phone creates a project, adds an observation with a photo
// and serves; a second phone joins with the code and syncs it, through
// nothing but the binding's API.
func TestPhones(t *testing.T) {
	a, err := Open(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.CreateProject("River survey"); err != nil {
		t.Fatal(err)
	}
	id, err := a.AddObservation(`{"files": ["../testdata/photos/gps.jpg"], "tags": ["heron"], "notes": "nest", "position": {"lat": -3.4, "lon": -62.2, "accuracy_m": 5}}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EditObservation(id, `{"notes": "two nests"}`); err != nil {
		t.Fatal(err)
	}
	if err := a.EditObservation(id, `{"nots": "typo"}`); err == nil || !strings.Contains(err.Error(), "nots") {
		t.Fatalf("a misspelt field was accepted: %v", err)
	}
	if _, err := a.AddObservation(`{"tags": ["x"]}`); err == nil {
		t.Fatal("an observation without files was accepted")
	}

	served := &recorder{}
	serveDone := make(chan error, 1)
	go func() { serveDone <- a.Serve("/ip4/127.0.0.1/tcp/0", "", served) }()
	deadline := time.Now().Add(10 * time.Second)
	for a.Addrs() == "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, err := a.Invite("member", 3600)
	if err != nil {
		t.Fatal(err)
	}
	// Both forms of a code, for an app to show and to read aloud.
	both, err := a.InviteJSON("coordinator", 600)
	if err != nil {
		t.Fatal(err)
	}
	var inv struct{ Code, Short, Role, Expires string }
	if err := json.Unmarshal([]byte(both), &inv); err != nil || inv.Code == "" || !project.IsShortCode(inv.Short) ||
		inv.Role != "coordinator" || inv.Code == code {
		t.Fatalf("InviteJSON: %s (%v)", both, err)
	}
	if exp, err := time.Parse(time.RFC3339, inv.Expires); err != nil || time.Until(exp) > 10*time.Minute || time.Until(exp) < 9*time.Minute {
		t.Fatalf("InviteJSON expires %q: %v", inv.Expires, err)
	}
	if _, err := a.InviteJSON("owner", 60); err == nil || !strings.Contains(err.Error(), "want member or coordinator") {
		t.Fatalf("InviteJSON with a wrong role: %v", err)
	}

	b, err := Open(filepath.Join(t.TempDir(), "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Join(code, "field"); err != nil {
		t.Fatal(err)
	}
	got := &recorder{}
	complete, err := b.Sync("/ip4/127.0.0.1/tcp/0", "", got)
	if err != nil || !complete {
		t.Fatalf("sync: %v, complete %v", err, complete)
	}
	if got.count("blob") == 0 || len(got.progress) == 0 {
		t.Fatalf("listener: %+v", got)
	}
	var last view.Progress
	if err := json.Unmarshal([]byte(got.progress[len(got.progress)-1]), &last); err != nil || last.Classes["thumbnail"].FilesDone != 1 {
		t.Fatalf("last progress %s: %v", got.progress[len(got.progress)-1], err)
	}

	s, err := b.Observation(id)
	if err != nil {
		t.Fatal(err)
	}
	var o view.Observation
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		t.Fatal(err)
	}
	at := o.Attachments[0]
	if o.Notes != "two nests" || o.Position.AccuracyM != 5 || at.Thumbnail.State != "present" || at.Original.State != "absent" {
		t.Fatalf("observation on b: %s", s)
	}
	thumb, err := b.ReadBlob(at.Thumbnail.CID)
	if err != nil || int64(len(thumb)) != at.Thumbnail.Size {
		t.Fatalf("thumbnail: %d bytes, %v", len(thumb), err)
	}
	st, err := b.Status()
	if err != nil || !strings.Contains(st, `"role":"member"`) {
		t.Fatalf("status %s: %v", st, err)
	}
	list, err := b.Observations(0)
	if err != nil || !strings.Contains(list, id) {
		t.Fatalf("list %s: %v", list, err)
	}
	if err := a.Block(b.ID()); err != nil {
		t.Fatal(err)
	}
	members, _ := a.Members()
	if !strings.Contains(members, `"blocked"`) {
		t.Fatalf("members after block: %s", members)
	}
	a.Stop()
	if err := <-serveDone; err != nil {
		t.Fatal(err)
	}
	if served.count("invite") == 0 || served.count("role") == 0 {
		t.Fatalf("serve's listener: %+v", served.kinds)
	}
}
