package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

// The API's observation is package view's document, with the keys the
// page reads (static/app.js): snake_case, the version's CID as record,
// and what is unknown or absent left out rather than null.
func TestObservationShape(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	jpg := photo(t, dir, "a.jpg", 1, nil)
	txt := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(txt, []byte("field notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := d.Add(context.Background(), []string{jpg, txt},
		node.ImportOptions{Tags: []string{"heron"}, Position: &project.Position{Lat: -3.46, Lon: -62.21, Accuracy: 12}})
	if err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d})
	var detail struct {
		Observation map[string]any
		History     []map[string]any
	}
	c.getJSON(t, "/api/observations/"+rec.Observation.ID, 200, &detail)
	o := detail.Observation
	has := func(m map[string]any, keys ...string) bool {
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				return false
			}
		}
		return true
	}
	lacks := func(m map[string]any, keys ...string) bool {
		for _, k := range keys {
			if _, ok := m[k]; ok {
				return false
			}
		}
		return true
	}
	if o["record"] != rec.CID.String() || !has(o, "id", "author", "created", "updated", "heads", "deleted", "position", "tags", "notes", "attachments") {
		t.Errorf("observation keys: %v", o)
	}
	pos, _ := o["position"].(map[string]any)
	if pos["accuracy_m"] != 12.0 || !lacks(pos, "accuracy") {
		t.Errorf("position %v: want accuracy_m", pos)
	}
	atts, _ := o["attachments"].([]any)
	if len(atts) != 2 {
		t.Fatalf("attachments %v", atts)
	}
	photoAtt, _ := atts[0].(map[string]any)
	fileAtt, _ := atts[1].(map[string]any)
	if photoAtt["media_type"] != "image/jpeg" || !lacks(photoAtt, "mediaType") || !has(photoAtt, "original", "preview", "thumbnail") {
		t.Errorf("photo attachment %v", photoAtt)
	}
	th, _ := photoAtt["thumbnail"].(map[string]any)
	if th["state"] != "present" || !has(th, "cid", "size", "width", "height") || !lacks(th, "percent") {
		t.Errorf("a present thumbnail: %v", th)
	}
	// A file has its original alone: no preview or thumbnail key, no size
	// in pixels.
	orig, _ := fileAtt["original"].(map[string]any)
	if mt, _ := fileAtt["media_type"].(string); !strings.HasPrefix(mt, "text/plain") {
		t.Errorf("file attachment media type %v", fileAtt["media_type"])
	}
	if !lacks(fileAtt, "preview", "thumbnail") || orig["state"] != "present" || !lacks(orig, "width", "height", "percent") {
		t.Errorf("file attachment %v", fileAtt)
	}
	if len(detail.History) != 1 {
		t.Fatalf("history %v", detail.History)
	}
	v := detail.History[0]
	links, ok := v["links"].([]any)
	if v["record"] != rec.CID.String() || !lacks(v, "cid") || !ok || len(links) != 0 || v["winner"] != true {
		t.Errorf("version %v: want record, links", v)
	}
	// The list has the same shape.
	var page struct{ Items []map[string]any }
	c.getJSON(t, "/api/observations", 200, &page)
	if len(page.Items) != 1 || page.Items[0]["record"] != rec.CID.String() {
		t.Errorf("list items %v", page.Items)
	}
}

type event struct{ name, data string }

// events opens the page's event stream and returns a function that waits
// for the next event whose name is one of names (any, if none given).
func (c *client) events(t testing.TB) func(d time.Duration, names ...string) event {
	t.Helper()
	resp := c.get(t, "/api/events")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan event, 256)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			} else if line == "" && ev.name != "" {
				ch <- ev
				ev = event{}
			}
		}
	}()
	return func(d time.Duration, names ...string) event {
		t.Helper()
		timer := time.NewTimer(d)
		defer timer.Stop()
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatal("event stream closed")
				}
				if len(names) == 0 {
					return ev
				}
				for _, n := range names {
					if ev.name == n {
						return ev
					}
				}
			case <-timer.C:
				t.Fatalf("no %v event in %v", names, d)
				return event{}
			}
		}
	}
}

// The app of a device whose network runs (serve --ui) is live: another
// device joins and syncs, and the page hears of its observation, of each
// blob as it arrives, and sees the peer in the sync view.
func TestLiveSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newDevice(t)
	start(t, ctx, a)
	_, c := serve(t, Config{Node: a})
	var sess struct{ Syncing bool }
	c.getJSON(t, "/api/session", 200, &sess)
	if !sess.Syncing {
		t.Error("session: not syncing with the network started")
	}
	next := c.events(t)
	var first struct{ Running bool }
	if ev := next(10*time.Second, "sync"); json.Unmarshal([]byte(ev.data), &first) != nil || !first.Running {
		t.Errorf("first sync event %s: want running", ev.data)
	}

	// b joins, takes a photo and starts: it dials a, met at the join, as
	// 'fieldsync join', 'import' and 'serve' do. The join's connection
	// must be gone from a first: a session of a's still running over it
	// would carry on over b's new connection without pulling b's records
	// (exchange's onConnected pulls only when it starts a session).
	aev := a.Subscribe()
	defer aev.Close()
	b := joined(t, ctx, a)
	waitNodeEvent(t, ctx, aev, "a to see the join's connection end", func(e node.Event) bool {
		pe, ok := e.(node.PeerEvent)
		return ok && pe.Peer == b.ID() && pe.State == node.PeerDisconnected
	})
	rec := importPhoto(t, b, photo(t, t.TempDir(), "b.jpg", 5, &[2]float64{-3.4, -62.1}))
	if err := b.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
	att := rec.Observation.Attachments[0]
	// The variants' CIDs, each with the classes it may arrive as (a small
	// photo's preview is its thumbnail).
	want := map[string][]string{}
	for cls, v := range map[string]*project.Variant{"thumbnail": att.Thumbnail, "preview": att.Preview, "original": att.Original} {
		want[v.CID.String()] = append(want[v.CID.String()], cls)
	}
	sawObs := false
	for len(want) > 0 || !sawObs {
		ev := next(60*time.Second, "observations", "blob")
		switch ev.name {
		case "observations":
			// "all" when the membership changed too (b's join) since the
			// last event: the page lists again, b's observation with the rest.
			var o struct {
				IDs []string
				All bool
			}
			json.Unmarshal([]byte(ev.data), &o)
			sawObs = sawObs || o.All || slices.Contains(o.IDs, rec.Observation.ID)
		case "blob":
			var bl struct{ CID, Class string }
			json.Unmarshal([]byte(ev.data), &bl)
			if cls, ok := want[bl.CID]; ok {
				if !slices.Contains(cls, bl.Class) {
					t.Errorf("blob event %s: class %s, want one of %v", ev.data, bl.Class, cls)
				}
				delete(want, bl.CID)
			}
		}
	}
	// The page asks for it: here, every variant present.
	var p obsPage
	c.getJSON(t, "/api/observations?ids="+rec.Observation.ID, 200, &p)
	if len(p.Items) != 1 || p.Items[0].Position == nil || p.Items[0].Attachments[0].Original == nil || p.Items[0].Attachments[0].Original.State != "present" {
		t.Errorf("the synced observation: %+v", p.Items)
	}
	r := c.get(t, "/api/blobs/"+att.Original.CID.String())
	if got := status(t, r); got != http.StatusOK || r.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("the synced original: %d %s", got, r.Header.Get("Content-Type"))
	}
	// The sync view: running, b connected, the original counted.
	var st struct {
		Running bool
		Records map[string]int
		Classes map[string]struct{ FilesDone, FilesWanted int }
		Peers   []struct{ ID, State string }
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c.getJSON(t, "/api/sync", 200, &st)
		connected := false
		for _, pr := range st.Peers {
			connected = connected || pr.ID == b.ID().String() && pr.State == "connected"
		}
		if st.Running && connected && st.Classes["original"].FilesDone >= 1 && st.Records["applied"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync view: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitNodeEvent reads s until match returns true.
func waitNodeEvent(t testing.TB, ctx context.Context, s *node.Subscription, what string, match func(node.Event) bool) {
	t.Helper()
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				t.Fatalf("waiting for %s: events closed", what)
			}
			if match(e) {
				return
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
	}
}
