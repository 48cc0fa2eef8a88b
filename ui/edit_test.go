package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

// do sends a change as the page does: the session's CSRF token, its own
// Origin, and body as JSON (a string is sent as it is; nil sends none).
func (c *client) do(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return c.doWith(t, method, path, body, map[string]string{"X-CSRF-Token": c.csrf, "Origin": c.base})
}

// doWith sends a change with exactly the headers given.
func (c *client) doWith(t testing.TB, method, path string, body any, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// records is the number of records a device holds: a refusal must not
// change it.
func records(t testing.TB, n *node.Node) int {
	t.Helper()
	c, err := n.RecordCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// trade gives each device the records the other holds, as a sync would,
// with both closed meanwhile, and returns them opened again.
func trade(t testing.TB, a, b *node.Node) (*node.Node, *node.Node) {
	t.Helper()
	ctx := context.Background()
	move := func(from, to *project.Project) {
		recs, err := from.Missing(ctx, to.Vector(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var blocks [][]byte
		for _, r := range recs {
			blocks = append(blocks, r.Block)
		}
		res, err := to.Apply(ctx, blocks)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if !r.Stored {
				t.Fatalf("record %s not stored: %v", r.CID, r.Err)
			}
		}
	}
	var b2 *node.Node
	a2 := offline(t, a, func(pa pieces) {
		b2 = offline(t, b, func(pb pieces) {
			move(pa.proj, pb.proj)
			move(pb.proj, pa.proj)
		})
	})
	return a2, b2
}

type detailJSON struct {
	Observation struct {
		ID, Record, Notes string
		Tags              []string
		Position          *struct{ Lat, Lon float64 }
		Deleted           bool
		Heads             int
	}
	History []struct {
		Record, Author, Notes string
		Head, Winner, Deleted bool
	}
}

func decode(t testing.TB, m map[string]any, v any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// Edits from the browser: only the fields given change, each edit is a
// new version in the history, a delete hides the observation from the
// lists and an edit brings it back.
func TestEdit(t *testing.T) {
	d := newDevice(t)
	rec := importPhoto(t, d, photo(t, t.TempDir(), "a.jpg", 1, &[2]float64{-3.46, -62.21}))
	id := rec.Observation.ID
	_, c := serve(t, Config{Node: d})
	path := "/api/observations/" + id

	var got detailJSON
	step := func(method string, body any, check func()) {
		t.Helper()
		code, out := c.do(t, method, path, body)
		if code != 200 {
			t.Fatalf("%s %v: %d %v", method, body, code, out)
		}
		got = detailJSON{}
		decode(t, out, &got)
		check()
	}
	step("PATCH", map[string]any{"notes": " two nests, one empty "}, func() {
		o := got.Observation
		if o.Notes != "two nests, one empty" || len(o.Tags) != 0 || o.Position == nil || len(got.History) != 2 || !got.History[1].Winner {
			t.Errorf("after notes: %+v", got)
		}
	})
	step("PATCH", map[string]any{"tags": []string{" heron", "nest", "heron", ""}}, func() {
		o := got.Observation
		if strings.Join(o.Tags, "|") != "heron|nest" || o.Notes != "two nests, one empty" || o.Position == nil {
			t.Errorf("after tags: %+v", o)
		}
	})
	step("PATCH", map[string]any{"lat": -3.5, "lon": -62.25}, func() {
		if p := got.Observation.Position; p == nil || p.Lat != -3.5 || p.Lon != -62.25 {
			t.Errorf("after position: %+v", p)
		}
	})
	step("PATCH", map[string]any{"remove_position": true}, func() {
		if got.Observation.Position != nil || len(got.History) != 5 {
			t.Errorf("after remove_position: %+v", got)
		}
	})
	var list obsPage
	step("DELETE", nil, func() {
		if !got.Observation.Deleted || got.Observation.Notes != "two nests, one empty" {
			t.Errorf("after delete: %+v", got.Observation)
		}
	})
	c.getJSON(t, "/api/observations", 200, &list)
	if list.Total != 0 {
		t.Errorf("a deleted observation is listed: %+v", list)
	}
	c.getJSON(t, "/api/observations?ids="+id, 200, &list)
	if len(list.Items) != 0 {
		t.Errorf("a deleted observation is listed by id: %+v", list)
	}
	step("PATCH", map[string]any{"deleted": false}, func() {
		if got.Observation.Deleted || strings.Join(got.Observation.Tags, "|") != "heron|nest" {
			t.Errorf("after undo: %+v", got.Observation)
		}
	})
	c.getJSON(t, "/api/observations", 200, &list)
	if list.Total != 1 {
		t.Errorf("the restored observation is not listed: %+v", list)
	}
	// The node, which `fieldsync show` reads, agrees.
	st, err := d.Observation(context.Background(), id)
	if err != nil || st.Notes != "two nests, one empty" || st.Deleted || st.Position != nil {
		t.Errorf("node: %+v %v", st, err)
	}
}

// A fork: two devices edited the same observation without seeing each
// other's edit. The page gets both versions, the winner marked; keeping
// the other one writes a new version with its content and ends the fork.
func TestKeep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newDevice(t)
	start(t, ctx, a)
	b := joined(t, ctx, a)
	rec := importPhoto(t, a, photo(t, t.TempDir(), "a.jpg", 1, nil))
	id := rec.Observation.ID
	a, b = trade(t, a, b)
	for n, notes := range map[*node.Node]string{a: "from A", b: "from B"} {
		if _, err := n.Edit(ctx, id, node.Edit{Notes: &notes}); err != nil {
			t.Fatal(err)
		}
	}
	a, _ = trade(t, a, b)
	_, c := serve(t, Config{Node: a})
	path := "/api/observations/" + id

	var got detailJSON
	c.getJSON(t, path, 200, &got)
	if got.Observation.Heads != 2 {
		t.Fatalf("heads %d, want a fork", got.Observation.Heads)
	}
	var loser string
	heads := 0
	for _, v := range got.History {
		if v.Head {
			heads++
			if !v.Winner {
				loser = v.Record
				if v.Notes == got.Observation.Notes {
					t.Errorf("the losing version has the winner's notes %q", v.Notes)
				}
			}
		}
	}
	if heads != 2 || loser == "" {
		t.Fatalf("history: %+v", got.History)
	}
	lostNotes := map[string]string{"from A": "from B", "from B": "from A"}[got.Observation.Notes]

	code, out := c.do(t, "POST", path+"/keep", map[string]string{"record": loser})
	if code != 200 {
		t.Fatalf("keep: %d %v", code, out)
	}
	got = detailJSON{}
	decode(t, out, &got)
	if got.Observation.Heads != 1 || got.Observation.Notes != lostNotes || len(got.History) != 4 {
		t.Errorf("after keep: %+v", got)
	}
	// Now there is one version: keeping it again is refused.
	before := records(t, a)
	code, out = c.do(t, "POST", path+"/keep", map[string]string{"record": got.Observation.Record})
	if msg, _ := out["error"].(string); code != 409 || !strings.Contains(msg, "already the observation's state") {
		t.Errorf("keep the only version: %d %v", code, out)
	}
	if records(t, a) != before {
		t.Error("a refused keep wrote a record")
	}
}

// refusal is a request the server must refuse, with its status and
// words, writing nothing.
type refusal struct {
	name         string
	method, path string
	body         any
	hdr          map[string]string // nil: the page's CSRF token and Origin
	code         int
	words        string
}

func expectRefusals(t *testing.T, c *client, n *node.Node, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		before := records(t, n)
		var code int
		var out map[string]any
		if tc.hdr == nil {
			code, out = c.do(t, tc.method, tc.path, tc.body)
		} else {
			code, out = c.doWith(t, tc.method, tc.path, tc.body, tc.hdr)
		}
		msg, _ := out["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.words) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, msg, tc.code, tc.words)
		}
		if after := records(t, n); after != before {
			t.Errorf("%s: refused, but %d records were written", tc.name, after-before)
		}
	}
}

// Every refusal of a change says why, with a status that fits, and
// writes nothing.
func TestChangeRefusals(t *testing.T) {
	d := newDevice(t)
	rec := importPhoto(t, d, photo(t, t.TempDir(), "a.jpg", 1, nil))
	gone := importPhoto(t, d, photo(t, t.TempDir(), "b.jpg", 2, nil))
	if _, err := d.Delete(context.Background(), gone.Observation.ID); err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d})
	id := rec.Observation.ID
	obs := "/api/observations/" + id
	thumb := rec.Observation.Attachments[0].Thumbnail.CID.String()
	noCSRF := map[string]string{"Origin": c.base}
	foreign := map[string]string{"X-CSRF-Token": c.csrf, "Origin": "http://evil.example"}
	expectRefusals(t, c, d, []refusal{
		{"edit without CSRF token", "PATCH", obs, map[string]string{"notes": "x"}, noCSRF, 403, "CSRF"},
		{"edit from another origin", "PATCH", obs, map[string]string{"notes": "x"}, foreign, 403, "cross-origin"},
		{"delete without CSRF token", "DELETE", obs, nil, noCSRF, 403, "CSRF"},
		{"keep without CSRF token", "POST", obs + "/keep", map[string]string{"record": rec.CID.String()}, noCSRF, 403, "CSRF"},
		{"not JSON", "PATCH", obs, "notes=x", nil, 400, "want a JSON object"},
		{"wrong type", "PATCH", obs, `{"notes": 3}`, nil, 400, "want a JSON object"},
		{"unknown field", "PATCH", obs, `{"colour": "red"}`, nil, 400, "unknown field"},
		{"two objects", "PATCH", obs, `{"notes": "a"} {"notes": "b"}`, nil, 400, "more than one"},
		{"body too large", "PATCH", obs, map[string]string{"notes": strings.Repeat("x", maxJSONBody)}, nil, 413, "over"},
		{"nothing to change", "PATCH", obs, `{}`, nil, 400, "nothing to change"},
		{"lat alone", "PATCH", obs, map[string]any{"lat": 1.5}, nil, 400, "both lat and lon"},
		{"lat out of range", "PATCH", obs, map[string]any{"lat": 91, "lon": 0}, nil, 400, "latitude in [-90, 90]"},
		{"position and remove", "PATCH", obs, map[string]any{"lat": 1, "lon": 1, "remove_position": true}, nil, 400, "not both"},
		{"deleted true", "PATCH", obs, map[string]any{"deleted": true}, nil, 400, "send DELETE"},
		{"tag too long", "PATCH", obs, map[string]any{"tags": []string{strings.Repeat("x", 200)}}, nil, 400, "tag"},
		{"notes too long", "PATCH", obs, map[string]any{"notes": strings.Repeat("x", 17<<10)}, nil, 400, "notes"},
		{"edit unknown", "PATCH", "/api/observations/nope", map[string]string{"notes": "x"}, nil, 404, `no observation "nope"`},
		{"restore what is not deleted", "PATCH", obs, map[string]any{"deleted": false}, nil, 409, "nothing to restore"},
		{"delete unknown", "DELETE", "/api/observations/nope", nil, nil, 404, `no observation "nope"`},
		{"delete twice", "DELETE", "/api/observations/" + gone.Observation.ID, nil, nil, 409, "already deleted"},
		{"keep without a record", "POST", obs + "/keep", `{}`, nil, 400, `give "record"`},
		{"keep a non-CID", "POST", obs + "/keep", map[string]string{"record": "nope"}, nil, 400, "not a CID"},
		{"keep a version of another", "POST", obs + "/keep", map[string]string{"record": gone.CID.String()}, nil, 404, "has no version"},
		{"keep a blob", "POST", obs + "/keep", map[string]string{"record": thumb}, nil, 404, "has no version"},
		{"keep the only version", "POST", obs + "/keep", map[string]string{"record": rec.CID.String()}, nil, 409, "already the observation's state"},
		{"keep on unknown", "POST", "/api/observations/nope/keep", map[string]string{"record": rec.CID.String()}, nil, 404, `no observation "nope"`},
	})
	if st, _ := d.Observation(context.Background(), id); st.Notes != "" {
		t.Errorf("notes %q after refusals", st.Notes)
	}
}

// Beside a process that holds the data directory the app only reads:
// every change is refused with the reason the app gives for uploads.
func TestChangeReadOnly(t *testing.T) {
	holder := newDevice(t)
	rec := importPhoto(t, holder, photo(t, t.TempDir(), "a.jpg", 1, nil))
	d := beside(t, holder)
	_, c := serve(t, Config{Node: d})
	obs := "/api/observations/" + rec.Observation.ID
	expectRefusals(t, c, holder, []refusal{
		{"edit", "PATCH", obs, map[string]string{"notes": "x"}, nil, 503, "serve --ui"},
		{"delete", "DELETE", obs, nil, nil, 503, "serve --ui"},
		{"keep", "POST", obs + "/keep", map[string]string{"record": rec.CID.String()}, nil, 503, "serve --ui"},
		{"block", "POST", "/api/members/" + holder.ID().String() + "/block", nil, nil, 503, "serve --ui"},
		{"role", "POST", "/api/members/" + holder.ID().String() + "/role", map[string]string{"role": "member"}, nil, 503, "serve --ui"},
	})
	var sess struct {
		Device struct {
			CanWrite, CanManage bool
			ReadOnly            string
		}
	}
	c.getJSON(t, "/api/session", 200, &sess)
	if sess.Device.CanWrite || sess.Device.CanManage || !strings.Contains(sess.Device.ReadOnly, "serve --ui") {
		t.Errorf("session beside serve: %+v", sess)
	}
}
