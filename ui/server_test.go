package ui

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
	"github.com/fieldsync/fieldsync/chunk"
	fsdb "github.com/fieldsync/fieldsync/internal/db"
	"github.com/fieldsync/fieldsync/internal/synth"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// newDevice makes a data directory with a project and opens it.
func newDevice(t testing.TB) *node.Node {
	t.Helper()
	ctx := context.Background()
	n, err := node.Init(ctx, t.TempDir(), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if _, err := n.CreateProject(ctx, "River survey"); err != nil {
		t.Fatal(err)
	}
	return n
}

// pieces are a data directory opened without a node: its database, blob
// store and project, for what the node does not expose (a partial blob,
// thousands of observations in one transaction).
type pieces struct {
	db    *sql.DB
	store *disk.Store
	proj  *project.Project
}

// offline closes n, opens its data directory's pieces, runs fn with them,
// closes them, and returns the node opened again.
func offline(t testing.TB, n *node.Node, fn func(pieces)) *node.Node {
	t.Helper()
	ctx := context.Background()
	dir := n.Dir()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	func() {
		self, err := project.LoadOrCreateIdentity(filepath.Join(dir, "key"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := fsdb.Open(filepath.Join(dir, "fieldsync.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		st, err := disk.Open(ctx, dir, d)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		p, err := project.Open(ctx, d, self)
		if err != nil {
			t.Fatal(err)
		}
		fn(pieces{db: d, store: st, proj: p})
	}()
	n, err := node.Open(ctx, dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// addMany adds obs in one transaction (project.AddObservations), with n
// closed meanwhile; it returns the node opened again and the records.
func addMany(t testing.TB, n *node.Node, obs []project.Observation) (*node.Node, []*project.Record) {
	t.Helper()
	var recs []*project.Record
	n = offline(t, n, func(pc pieces) {
		var err error
		if recs, err = pc.proj.AddObservations(context.Background(), obs); err != nil {
			t.Fatal(err)
		}
	})
	return n, recs
}

// beside opens holder's data directory a second time, shared: holder keeps
// the blob store, as 'fieldsync serve' does while 'fieldsync ui' reads
// beside it.
func beside(t testing.TB, holder *node.Node) *node.Node {
	t.Helper()
	n, err := node.Open(context.Background(), holder.Dir(), node.Options{Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if !n.Shared() {
		t.Fatal("a second open of a held data directory is not shared")
	}
	return n
}

var loopback = node.NetOptions{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}

// start starts n's network on loopback.
func start(t testing.TB, ctx context.Context, n *node.Node) {
	t.Helper()
	if err := n.Start(ctx, loopback); err != nil {
		t.Fatal(err)
	}
}

// joined returns a new device that joined a's project (a's network must
// run) with an invite, as a member.
func joined(t testing.TB, ctx context.Context, a *node.Node) *node.Node {
	t.Helper()
	inv, err := a.Invite(ctx, node.InviteOptions{Role: project.RoleMember, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := node.Init(ctx, t.TempDir(), node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.Join(ctx, inv.Code, node.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// photo writes a camera-like JPEG with EXIF (GPS when pos is set).
func photo(t testing.TB, dir, name string, seed uint64, pos *[2]float64) string {
	t.Helper()
	m := synth.Meta{Taken: time.Date(2026, 5, 1, 10, 0, int(seed%60), 0, time.UTC)}
	if pos != nil {
		m.Lat, m.Lon = pos[0], pos[1]
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, synth.JPEG(320, 240, seed, 85, m), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// importPhoto makes an observation of the file at path (any file: a
// non-photo is an attachment with its original only).
func importPhoto(t testing.TB, n *node.Node, path string) *project.Record {
	t.Helper()
	r, err := n.Add(context.Background(), []string{path}, node.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// client is a browser stand-in: a cookie jar, logged in with the token.
type client struct {
	*http.Client
	base string
	csrf string
}

func serve(t testing.TB, cfg Config) (*Server, *client) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, urls, err := s.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	jar, _ := cookiejar.New(nil)
	c := &client{Client: &http.Client{Jar: jar, Timeout: 30 * time.Second}, base: "http://" + ln.Addr().String()}
	resp, err := c.Get(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.RawQuery != "" {
		t.Fatalf("token login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	var sess struct{ CSRF string }
	c.getJSON(t, "/api/session", 200, &sess)
	c.csrf = sess.CSRF
	return s, c
}

func (c *client) get(t testing.TB, path string, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", c.base+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (c *client) getJSON(t testing.TB, path string, code int, v any) {
	t.Helper()
	resp := c.get(t, path)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, code, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
}

func status(t testing.TB, resp *http.Response) int {
	t.Helper()
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestAccess(t *testing.T) {
	d := newDevice(t)
	s, c := serve(t, Config{Node: d})
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path, host string) *http.Response {
		req, _ := http.NewRequest("GET", c.base+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, path := range []string{"/", "/api/session", "/api/observations", "/static/app.js", "/api/blobs/x"} {
		if got := status(t, get(path, "")); got != 401 {
			t.Errorf("GET %s without cookie: %d, want 401", path, got)
		}
	}
	if got := status(t, get("/?token=wrong", "")); got != 401 {
		t.Errorf("wrong token: %d, want 401", got)
	}
	// DNS rebinding: a name that resolves here but is not ours.
	port := strings.TrimPrefix(c.base, "http://127.0.0.1")
	for _, h := range []string{"evil.example" + port, "127.0.0.1:1", "localhost.evil" + port} {
		if got := status(t, get("/?token="+s.Token(), h)); got != 403 {
			t.Errorf("Host %s: %d, want 403", h, got)
		}
	}
	resp := get("/?token="+s.Token(), "localhost"+port)
	status(t, resp)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/" {
		t.Fatalf("token: %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	ck := resp.Cookies()
	if len(ck) != 1 || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v: want one HttpOnly SameSite=Strict cookie", ck)
	}
	// The logged-in client gets the page, with a CSP that allows no other origin.
	r := c.get(t, "/")
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.Contains(body, []byte("<html")) {
		t.Fatalf("index: %d %.100s", r.StatusCode, body)
	}
	if p := r.Header.Get("Content-Security-Policy"); !strings.Contains(p, "default-src 'none'") || strings.Contains(p, "http") {
		t.Errorf("CSP %q", p)
	}
	// Beyond loopback only when asked.
	if _, _, err := s.Listen("0.0.0.0:0", false); err == nil || !strings.Contains(err.Error(), "--http-remote") {
		t.Errorf("listening on 0.0.0.0 without remote: %v", err)
	}
}

func TestCSRF(t *testing.T) {
	d := newDevice(t)
	_, c := serve(t, Config{Node: d})
	post := func(csrf, origin string) int {
		req, _ := http.NewRequest("POST", c.base+"/api/observations", strings.NewReader("x"))
		req.Header.Set("Content-Type", "text/plain")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return status(t, resp)
	}
	if got := post("", ""); got != 403 {
		t.Errorf("no CSRF token: %d, want 403", got)
	}
	if got := post("0000", ""); got != 403 {
		t.Errorf("wrong CSRF token: %d, want 403", got)
	}
	if got := post(c.csrf, "http://evil.example"); got != 403 {
		t.Errorf("foreign Origin: %d, want 403", got)
	}
	// Past the checks, the body is judged: not a form.
	if got := post(c.csrf, c.base); got != 400 {
		t.Errorf("right token and origin: %d, want 400 (not a form)", got)
	}
}

func TestBlobs(t *testing.T) {
	d := newDevice(t)
	dir := t.TempDir()
	rec := importPhoto(t, d, photo(t, dir, "a.jpg", 1, nil))
	att := rec.Observation.Attachments[0]
	// A partial blob, a quarter of it here, as a sync interrupted leaves
	// it: the node makes none of its own, so the store makes it.
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*chunk.ChunkSize/16+100)
	sk, err := chunk.Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	d = offline(t, d, func(pc pieces) {
		part, err := pc.store.Begin(context.Background(), sk, blob.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		defer part.Close()
		if err := part.WriteLeaf(context.Background(), 0, data[:chunk.ChunkSize]); err != nil {
			t.Fatal(err)
		}
	})
	_, c := serve(t, Config{Node: d})
	orig := att.Original.CID.String()
	want, _ := os.ReadFile(filepath.Join(dir, "a.jpg"))

	r := c.get(t, "/api/blobs/"+orig)
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.Equal(got, want) {
		t.Fatalf("blob: %d, %d bytes, want %d", r.StatusCode, len(got), len(want))
	}
	h := r.Header
	if h.Get("ETag") != `"`+orig+`"` || h.Get("Content-Type") != "image/jpeg" || !strings.Contains(h.Get("Cache-Control"), "immutable") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", h)
	}
	if got := status(t, c.get(t, "/api/blobs/"+orig, "If-None-Match", `"`+orig+`"`)); got != 304 {
		t.Errorf("If-None-Match: %d, want 304", got)
	}
	r = c.get(t, "/api/blobs/"+orig, "Range", "bytes=10-19")
	got, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 206 || !bytes.Equal(got, want[10:20]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(want)) {
		t.Errorf("range: %d %q %s", r.StatusCode, got, r.Header.Get("Content-Range"))
	}
	for _, bad := range []string{"nope", "bafy", "Qm123", "%00"} {
		if got := status(t, c.get(t, "/api/blobs/"+bad)); got != 400 {
			t.Errorf("CID %q: %d, want 400", bad, got)
		}
	}
	var e struct{ Error, State string }
	absent := mustSum(t, strings.NewReader("not here"))
	c.getJSON(t, "/api/blobs/"+absent.String(), 404, &e)
	if e.State != "absent" || !strings.Contains(e.Error, "not on this device") {
		t.Errorf("absent blob: %+v", e)
	}

	// A partial blob says how much has arrived.
	var pe struct {
		State   string
		Percent int
	}
	c.getJSON(t, "/api/blobs/"+sk.Root.String(), 404, &pe)
	if pe.State != "partial" || pe.Percent != 100*chunk.ChunkSize/len(data) {
		t.Errorf("partial blob: %+v, want partial %d %%", pe, 100*chunk.ChunkSize/len(data))
	}
}

// A blob whose record says text/html is a download, never a page.
func TestBlobNeverHTML(t *testing.T) {
	d := newDevice(t)
	path := filepath.Join(t.TempDir(), "x.html")
	os.WriteFile(path, []byte("<html><script>alert(1)</script>"), 0o600)
	rec := importPhoto(t, d, path)
	_, c := serve(t, Config{Node: d})
	r := c.get(t, "/api/blobs/"+rec.Observation.Attachments[0].Original.CID.String())
	status(t, r)
	if ct := r.Header.Get("Content-Type"); ct != "application/octet-stream" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") ||
		!strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("html blob served as %q, %q, %q", ct, r.Header.Get("Content-Disposition"), r.Header.Get("Content-Security-Policy"))
	}
}

type obsPage struct {
	Items []struct {
		ID          string
		Position    *struct{ Lat, Lon float64 }
		Tags        []string
		Notes       string
		Attachments []struct {
			Name                         string
			Thumbnail, Preview, Original *struct{ CID, State string }
		}
	}
	Next  string
	Total int
}

func TestObservationsPaging(t *testing.T) {
	d := newDevice(t)
	var obs []project.Observation
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 250 {
		o := project.Observation{Created: base.Add(time.Duration(i/3) * time.Minute), Notes: fmt.Sprint(i),
			Attachments: []project.Attachment{{Kind: project.AttachFile, MediaType: "text/plain", Name: "n.txt",
				Original: &project.Variant{CID: mustSum(t, strings.NewReader(fmt.Sprint(i))), Size: 3}}}}
		if i%2 == 0 {
			o.Position = &project.Position{Lat: float64(i) / 10, Lon: 1}
		}
		obs = append(obs, o)
	}
	d, _ = addMany(t, d, obs)
	_, c := serve(t, Config{Node: d})
	for _, tc := range []struct {
		placed string
		want   int
	}{{"", 250}, {"1", 125}, {"0", 125}} {
		seen := map[string]bool{}
		cursor := ""
		for pages := 0; ; pages++ {
			var p obsPage
			c.getJSON(t, "/api/observations?limit=40&placed="+tc.placed+"&cursor="+url.QueryEscape(cursor), 200, &p)
			if p.Total != tc.want {
				t.Fatalf("placed=%s: total %d, want %d", tc.placed, p.Total, tc.want)
			}
			for _, it := range p.Items {
				if seen[it.ID] {
					t.Fatalf("placed=%s: %s twice", tc.placed, it.ID)
				}
				seen[it.ID] = true
				if (tc.placed == "1") != (it.Position != nil) && tc.placed != "" {
					t.Fatalf("placed=%s: item with position %v", tc.placed, it.Position)
				}
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if len(seen) != tc.want {
			t.Errorf("placed=%s: %d observations over all pages, want %d", tc.placed, len(seen), tc.want)
		}
	}
	var m struct {
		Points   [][3]any
		Unplaced int
	}
	c.getJSON(t, "/api/map", 200, &m)
	if len(m.Points) != 125 || m.Unplaced != 125 {
		t.Errorf("map: %d points, %d unplaced", len(m.Points), m.Unplaced)
	}
	for _, bad := range []string{"limit=0", "limit=x", "cursor=zz", "placed=2"} {
		if got := status(t, c.get(t, "/api/observations?"+bad)); got != 400 {
			t.Errorf("%s: %d, want 400", bad, got)
		}
	}
	// Detail with history.
	var p obsPage
	c.getJSON(t, "/api/observations?limit=1", 200, &p)
	var detail struct {
		Observation struct{ ID, Record string }
		History     []struct {
			Record string
			Links  []string
			Winner bool
		}
	}
	c.getJSON(t, "/api/observations/"+p.Items[0].ID, 200, &detail)
	if detail.Observation.ID != p.Items[0].ID || len(detail.History) != 1 || !detail.History[0].Winner ||
		detail.History[0].Record == "" || detail.History[0].Record != detail.Observation.Record || detail.History[0].Links == nil {
		t.Errorf("detail: %+v", detail)
	}
	c.getJSON(t, "/api/observations/nope", 404, nil)
}

// form builds a multipart upload.
func form(t testing.TB, fields map[string]string, files map[string][]byte) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	for name, data := range files {
		fw, _ := w.CreateFormFile("files", name)
		fw.Write(data)
	}
	w.Close()
	return w.FormDataContentType(), &b
}

func (c *client) upload(t testing.TB, fields map[string]string, files map[string][]byte) (int, map[string]any) {
	t.Helper()
	ct, body := form(t, fields, files)
	req, _ := http.NewRequest("POST", c.base+"/api/observations", body)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-CSRF-Token", c.csrf)
	req.Header.Set("Origin", c.base)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// stored counts the device's observations, the blob files in its store,
// and the files left in its temp directory (where uploads are spooled).
func stored(t testing.TB, d *node.Node) (obs, blobs, spooled int) {
	t.Helper()
	list, err := d.Observations(context.Background(), project.ObservationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	count := func(dir string) (n int) {
		filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
			if err == nil && p != dir && !e.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	tmp := d.TempDir()
	filepath.WalkDir(tmp, func(p string, e os.DirEntry, err error) error {
		if err == nil && p != tmp {
			spooled++
		}
		return nil
	})
	return len(list), count(filepath.Join(d.Dir(), "blobs")), spooled
}

func TestUpload(t *testing.T) {
	d := newDevice(t)
	_, c := serve(t, Config{Node: d, MaxUpload: 1 << 20})
	dir := t.TempDir()
	jpg, _ := os.ReadFile(photo(t, dir, "p.jpg", 7, &[2]float64{-3.5, -62.2}))
	jpg2, _ := os.ReadFile(photo(t, dir, "q.jpg", 8, nil))

	// Non-photos, an oversized file, bad fields: clear errors, nothing stored.
	big := append(bytes.Clone(jpg), make([]byte, 2<<20)...)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		files  map[string][]byte
		code   int
		msg    string
	}{
		{"text", nil, map[string][]byte{"notes.txt": []byte("hello, not a photo")}, 415, "not a photo"},
		{"html", nil, map[string][]byte{"x.jpg": []byte("<html><body>hi</body></html>")}, 415, "text/html"},
		{"pdf", nil, map[string][]byte{"doc.pdf": []byte("%PDF-1.7 ...")}, 415, "application/pdf"},
		{"photo then text", nil, map[string][]byte{"a.jpg": jpg, "b.txt": []byte("text")}, 415, "not a photo"},
		{"empty", nil, map[string][]byte{"e.jpg": {}}, 400, "e.jpg: empty file; nothing was stored"},
		{"bomb, JPEG", nil, map[string][]byte{"huge.jpg": fixture(t, "bad-huge.jpg")}, 422, "huge.jpg: image/jpeg declares 65000×65000 pixels, more than the limit of 100000000; nothing was stored"},
		{"bomb, PNG", nil, map[string][]byte{"huge.png": fixture(t, "bad-huge.png")}, 422, "image/png declares 100000×100000 pixels"},
		{"bomb after a photo", nil, map[string][]byte{"a.jpg": jpg, "huge.png": fixture(t, "bad-huge.png")}, 422, "declares 100000×100000 pixels"},
		{"truncated", nil, map[string][]byte{"t.jpg": fixture(t, "bad-truncated.jpg")}, 422, "corrupt image"},
		{"noise", nil, map[string][]byte{"n.jpg": fixture(t, "bad-noise.jpg")}, 422, "corrupt image"},
		{"random", nil, map[string][]byte{"r.jpg": fixture(t, "bad-random.bin")}, 415, "not a photo"},
		{"heic", nil, map[string][]byte{"o.heic": fixture(t, "other.heic")}, 415, "image/heic"},
		{"oversized", nil, map[string][]byte{"big.jpg": big}, 413, "over the limit"},
		{"nothing", map[string]string{"notes": " ", "lat": ""}, nil, 400, "nothing to add"},
		{"bad position", map[string]string{"lat": "91", "lon": "0"}, map[string][]byte{"a.jpg": jpg}, 400, "latitude"},
		{"half position", map[string]string{"lat": "10"}, map[string][]byte{"a.jpg": jpg}, 400, "latitude"},
		{"long tag", map[string]string{"tags": strings.Repeat("x", 300)}, map[string][]byte{"a.jpg": jpg}, 400, "tag"},
	} {
		code, out := c.upload(t, tc.fields, tc.files)
		msg, _ := out["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, code, msg, tc.code, tc.msg)
		}
		if o, b, s := stored(t, d); o != 0 || b != 0 || s != 0 {
			t.Fatalf("%s: left %d observations, %d blobs, %d spooled files", tc.name, o, b, s)
		}
	}

	// A photo with EXIF GPS, tags and notes.
	code, out := c.upload(t, map[string]string{"tags": "river, bank ,", "notes": "erosion"}, map[string][]byte{"p.jpg": jpg})
	if code != 201 {
		t.Fatalf("upload: %d %v", code, out)
	}
	var p obsPage
	c.getJSON(t, "/api/observations", 200, &p)
	if p.Total != 1 {
		t.Fatalf("%d observations after upload", p.Total)
	}
	it := p.Items[0]
	if it.Position == nil || it.Position.Lat > -3.4 || strings.Join(it.Tags, "|") != "river|bank" || it.Notes != "erosion" ||
		it.Attachments[0].Name != "p.jpg" || it.Attachments[0].Thumbnail == nil || it.Attachments[0].Thumbnail.State != "present" {
		t.Errorf("uploaded observation: %+v", it)
	}
	// Two photos, position set on the map over the EXIF one.
	code, out = c.upload(t, map[string]string{"lat": "48.5", "lon": "2.25"}, map[string][]byte{"p.jpg": jpg, "q.jpg": jpg2})
	if code != 201 {
		t.Fatalf("upload: %d %v", code, out)
	}
	id := out["observation"].(map[string]any)["id"].(string)
	var one struct {
		Observation struct {
			Position    *struct{ Lat, Lon float64 }
			Attachments []any
		}
	}
	c.getJSON(t, "/api/observations/"+id, 200, &one)
	if it := one.Observation; len(it.Attachments) != 2 || it.Position == nil || it.Position.Lat != 48.5 || it.Position.Lon != 2.25 {
		t.Errorf("second upload: %+v", it)
	}
	if _, _, s := stored(t, d); s != 0 {
		t.Errorf("%d spooled files left", s)
	}

	// A photo without an EXIF time is dated as the browser says the file
	// was; a time that is not plausible is ignored.
	png, _ := os.ReadFile(filepath.Join("..", "testdata", "photos", "alpha8.png"))
	when := time.Date(2025, 7, 14, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		mtimes string
		want   func(time.Time) bool
	}{
		{fmt.Sprint(when.UnixMilli()), func(c time.Time) bool { return c.Equal(when) }},
		{"99999999999999", func(c time.Time) bool { return time.Since(c) < time.Minute }},
		{"nonsense", func(c time.Time) bool { return time.Since(c) < time.Minute }},
	} {
		code, out := c.upload(t, map[string]string{"mtimes": tc.mtimes}, map[string][]byte{"a.png": png})
		if code != 201 {
			t.Fatalf("upload: %d %v", code, out)
		}
		created, _ := time.Parse(time.RFC3339, out["observation"].(map[string]any)["created"].(string))
		if !tc.want(created) {
			t.Errorf("mtimes %q: created %v", tc.mtimes, created)
		}
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "photos", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The web app refuses what the import refuses (an empty file), and what
// it would keep without variants (a decompression bomb, a photo that does
// not decode): the browser takes photos it can show. Each refusal is a
// 4xx with the reason, and nothing is stored.
func TestUploadRefusesWhatImportRefuses(t *testing.T) {
	dir := t.TempDir()
	files, err := filepath.Glob(filepath.Join("..", "testdata", "photos", "bad-*"))
	if err != nil || len(files) < 5 {
		t.Fatalf("fixtures: %v %v", files, err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), fixture(t, filepath.Base(f)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	imp := newDevice(t)
	rep, err := imp.Import(context.Background(), dir, node.ImportOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	short := map[string]bool{}
	for _, s := range append(rep.Skipped, rep.Warnings...) {
		short[filepath.Base(s.Path)] = true
	}
	for _, name := range []string{"bad-empty.jpg", "bad-huge.jpg", "bad-huge.png"} {
		if !short[name] {
			t.Errorf("import took %s whole: this test's premise is gone", name)
		}
	}
	d := newDevice(t)
	_, c := serve(t, Config{Node: d})
	for name := range short {
		code, out := c.upload(t, nil, map[string][]byte{name: fixture(t, name)})
		msg, _ := out["error"].(string)
		if code < 400 || code >= 500 || !strings.Contains(msg, name) || !strings.Contains(msg, "nothing was stored") {
			t.Errorf("%s, which import skips or takes without variants: %d %q", name, code, msg)
		}
		if o, b, s := stored(t, d); o != 0 || b != 0 || s != 0 {
			t.Fatalf("%s: left %d observations, %d blobs, %d spooled files", name, o, b, s)
		}
	}
	// The words for an empty file are the import's.
	_, out := c.upload(t, nil, map[string][]byte{"e.jpg": {}})
	if msg, _ := out["error"].(string); !strings.Contains(msg, strings.TrimPrefix(node.ErrSkipEmpty.Error(), "ingest: ")) {
		t.Errorf("empty file: %q", msg)
	}
}

// A device that may not write gets a clear refusal: here, one whose blob
// store another process holds.
func TestUploadNoStore(t *testing.T) {
	holder := newDevice(t)
	d := beside(t, holder)
	_, c := serve(t, Config{Node: d})
	code, out := c.upload(t, nil, map[string][]byte{"a.jpg": {0xff, 0xd8, 0xff}})
	if code != 503 {
		t.Errorf("upload without store: %d %v", code, out)
	}
	if o, b, _ := stored(t, holder); o != 0 || b != 0 {
		t.Errorf("a refused upload stored %d observations, %d blobs", o, b)
	}
	var sess struct{ Device struct{ CanWrite bool } }
	c.getJSON(t, "/api/session", 200, &sess)
	if sess.Device.CanWrite {
		t.Error("canWrite without a store")
	}
}

func TestEvents(t *testing.T) {
	d := newDevice(t)
	_, c := serve(t, Config{Node: d})
	resp := c.get(t, "/api/events")
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	type event struct{ name, data string }
	events := make(chan event, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev.name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				ev.data = v
			} else if line == "" && ev.name != "" {
				events <- ev
				ev = event{}
			}
		}
		close(events)
	}()
	next := func() event {
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return event{}
	}
	if ev := next(); ev.name != "sync" {
		t.Fatalf("first event %q, want sync", ev.name)
	}
	jpg, _ := os.ReadFile(photo(t, t.TempDir(), "p.jpg", 3, nil))
	code, out := c.upload(t, nil, map[string][]byte{"p.jpg": jpg})
	if code != 201 {
		t.Fatalf("upload %d %v", code, out)
	}
	id := out["observation"].(map[string]any)["id"].(string)
	for {
		ev := next()
		if ev.name != "observations" {
			continue
		}
		var o struct {
			IDs []string
			All bool
		}
		json.Unmarshal([]byte(ev.data), &o)
		if len(o.IDs) != 1 || o.IDs[0] != id || o.All {
			t.Fatalf("observations event %s, want the upload's id %s", ev.data, id)
		}
		break
	}
	// The page asks for those alone; an ID that is gone is left out.
	var p obsPage
	c.getJSON(t, "/api/observations?ids="+id+",nosuchid", 200, &p)
	if len(p.Items) != 1 || p.Items[0].ID != id {
		t.Errorf("?ids=: %+v", p)
	}
	if _, err := d.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	c.getJSON(t, "/api/observations?ids="+id, 200, &p)
	if len(p.Items) != 0 {
		t.Errorf("a deleted observation by id: %+v", p.Items)
	}
}

// makeMBTiles writes an MBTiles file with one tile at z/x/y (XYZ).
func makeMBTiles(t testing.TB, format string, z, x, y int, tile []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "map.mbtiles")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE metadata (name text, value text)`,
		`CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{"name": "river", "format": format, "minzoom": "2", "maxzoom": "14", "bounds": "-63,-4,-62,-3"} {
		db.Exec(`INSERT INTO metadata VALUES (?, ?)`, k, v)
	}
	if _, err := db.Exec(`INSERT INTO tiles VALUES (?, ?, ?, ?)`, z, x, (1<<z)-1-y, tile); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTiles(t *testing.T) {
	d := newDevice(t)
	png := []byte("\x89PNG\r\n\x1a\nfake tile")
	path := makeMBTiles(t, "png", 3, 2, 1, png)
	_, c := serve(t, Config{Node: d, Basemap: path})
	r := c.get(t, "/tiles/3/2/1")
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !bytes.Equal(got, png) || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("tile: %d %q %s", r.StatusCode, got, r.Header.Get("Content-Type"))
	}
	if got := status(t, c.get(t, "/tiles/3/2/6")); got != 404 {
		t.Errorf("absent tile: %d", got)
	}
	for _, bad := range []string{"/tiles/3/8/1", "/tiles/x/1/1", "/tiles/31/0/0", "/tiles/-1/0/0"} {
		if got := status(t, c.get(t, bad)); got != 400 {
			t.Errorf("%s: %d, want 400", bad, got)
		}
	}
	var sess struct {
		Basemap *struct {
			MinZoom, MaxZoom int
			Bounds           [4]float64
		}
	}
	c.getJSON(t, "/api/session", 200, &sess)
	if sess.Basemap == nil || sess.Basemap.MinZoom != 2 || sess.Basemap.MaxZoom != 14 || sess.Basemap.Bounds[0] != -63 {
		t.Errorf("basemap %+v", sess.Basemap)
	}

	// Not an MBTiles file, a vector one, a missing one: clear errors.
	notDB := filepath.Join(t.TempDir(), "x.mbtiles")
	os.WriteFile(notDB, []byte("not a database at all, just text"), 0o600)
	for _, p := range []string{notDB, makeMBTiles(t, "pbf", 0, 0, 0, nil), filepath.Join(t.TempDir(), "none.mbtiles")} {
		if _, err := New(Config{Node: d, Basemap: p}); err == nil || !strings.Contains(err.Error(), "--basemap") {
			t.Errorf("basemap %s: %v", p, err)
		}
	}
}

func mustSum(t testing.TB, r io.Reader) cid.Cid {
	t.Helper()
	sk, err := chunk.Sum(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return sk.Root
}

// The observation page tells when each variant was last checked.
func TestDetailFixity(t *testing.T) {
	d := newDevice(t)
	rec := importPhoto(t, d, photo(t, t.TempDir(), "a.jpg", 1, nil))
	att := rec.Observation.Attachments[0]
	before := time.Now().Add(-time.Second)
	err := d.Verify(context.Background(), node.VerifyOptions{CIDs: []cid.Cid{att.Original.CID}}, func(r blob.FixityReport) error {
		if r.Result != blob.FixityOK {
			t.Errorf("verify %s: %+v", r.CID, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d})
	var detail struct {
		Observation struct {
			Attachments []struct {
				Original, Thumbnail struct {
					Fixity *struct {
						CheckedAt time.Time `json:"checked_at"`
						Result    string
					}
				}
			}
		}
	}
	c.getJSON(t, "/api/observations/"+rec.Observation.ID, 200, &detail)
	a := detail.Observation.Attachments[0]
	if a.Original.Fixity == nil || a.Original.Fixity.Result != "ok" || a.Original.Fixity.CheckedAt.Before(before) || a.Thumbnail.Fixity != nil {
		t.Errorf("fixity: original %+v, thumbnail %+v", a.Original.Fixity, a.Thumbnail.Fixity)
	}
}

// The index updated observation by observation equals one rebuilt whole.
func TestIndexIncremental(t *testing.T) {
	d := newDevice(t)
	ctx := context.Background()
	att := func(i int) []project.Attachment {
		c := mustSum(t, strings.NewReader(fmt.Sprint("blob", i)))
		return []project.Attachment{{Kind: project.AttachPhoto, MediaType: "image/png", Name: fmt.Sprint(i, ".png"),
			Original: &project.Variant{CID: c, Size: 1}}}
	}
	var obs []project.Observation
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		o := project.Observation{Created: base.Add(time.Duration(i%7) * time.Hour), Attachments: att(i)}
		if i%3 == 0 {
			o.Position = &project.Position{Lat: 1, Lon: float64(i)}
		}
		obs = append(obs, o)
	}
	d, recs := addMany(t, d, obs)
	s, err := New(Config{Node: d})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		got, err := s.index(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(Config{Node: d})
		want, err := fresh.index(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids := func(l []*project.ObservationState) string {
			var b strings.Builder
			for _, o := range l {
				fmt.Fprintf(&b, "%s@%d/%v,", o.ID, o.Created.UnixMilli(), o.Position != nil)
			}
			return b.String()
		}
		if ids(got.all) != ids(want.all) || ids(got.placed) != ids(want.placed) || ids(got.other) != ids(want.other) {
			t.Fatalf("%s: incremental index differs:\n%s\n%s", what, ids(got.all), ids(want.all))
		}
		for c, mt := range want.media {
			if got.media[c] != mt {
				t.Fatalf("%s: media type of %s: %q, want %q", what, c, got.media[c], mt)
			}
		}
	}
	check("first")
	// New observations, one with the same time as others.
	if _, err := d.AddObservation(ctx, project.Observation{Created: base, Attachments: att(100)}); err != nil {
		t.Fatal(err)
	}
	check("added")
	// A position set, another removed, one deleted.
	if _, err := d.Edit(ctx, recs[1].Observation.ID, node.Edit{Position: &project.Position{Lat: 5, Lon: 5}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Edit(ctx, recs[3].Observation.ID, node.Edit{RemovePosition: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Delete(ctx, recs[4].Observation.ID); err != nil {
		t.Fatal(err)
	}
	check("updated and deleted")
	check("nothing new")
}

// Without a sync, the sync view still counts wanted against present.
func TestSyncViewOffline(t *testing.T) {
	d := newDevice(t)
	importPhoto(t, d, photo(t, t.TempDir(), "a.jpg", 1, nil))
	_, c := serve(t, Config{Node: d})
	var st struct {
		Running bool
		Classes map[string]struct{ FilesDone, FilesWanted int }
	}
	c.getJSON(t, "/api/sync", 200, &st)
	if st.Running || st.Classes["thumbnail"].FilesWanted != 1 || st.Classes["thumbnail"].FilesDone != 1 || st.Classes["original"].FilesDone != 1 {
		t.Errorf("offline sync view: %+v", st)
	}
}

// Static files carry an ETag, so a reload revalidates instead of
// downloading Leaflet again.
func TestStaticETag(t *testing.T) {
	d := newDevice(t)
	_, c := serve(t, Config{Node: d})
	for _, p := range []string{"/", "/static/app.js", "/static/vendor/leaflet/dist/leaflet.js", "/static/vendor/leaflet/dist/leaflet.css"} {
		r := c.get(t, p)
		status(t, r)
		et := r.Header.Get("ETag")
		if r.StatusCode != 200 || et == "" || r.Header.Get("Content-Type") == "" {
			t.Fatalf("%s: %d, ETag %q, type %q", p, r.StatusCode, et, r.Header.Get("Content-Type"))
		}
		if got := status(t, c.get(t, p, "If-None-Match", et)); got != 304 {
			t.Errorf("%s revalidated: %d, want 304", p, got)
		}
	}
	for _, p := range []string{"/static/nope.js", "/static/../server.go", "/static/vendor/"} {
		if got := status(t, c.get(t, p)); got != 404 {
			t.Errorf("%s: %d, want 404", p, got)
		}
	}
}

// Beside a process that holds the store: blobs read, uploads refused with
// the reason, and records that process stores reach the page.
func TestReadOnly(t *testing.T) {
	holder := newDevice(t) // 'fieldsync serve', holding the store
	rec := importPhoto(t, holder, photo(t, t.TempDir(), "a.jpg", 1, nil))
	d := beside(t, holder) // 'fieldsync ui' beside it
	_, c := serve(t, Config{Node: d})
	var sess struct {
		Device struct {
			CanWrite bool
			ReadOnly string
		}
	}
	c.getJSON(t, "/api/session", 200, &sess)
	if sess.Device.CanWrite || !strings.Contains(sess.Device.ReadOnly, "serve --ui") {
		t.Errorf("session %+v", sess)
	}
	if got := status(t, c.get(t, "/api/blobs/"+rec.Observation.Attachments[0].Thumbnail.CID.String())); got != 200 {
		t.Errorf("blob through a Reader: %d", got)
	}
	var p obsPage
	c.getJSON(t, "/api/observations", 200, &p)
	if len(p.Items) != 1 || p.Items[0].Attachments[0].Thumbnail == nil || p.Items[0].Attachments[0].Thumbnail.State != "present" {
		t.Errorf("observations beside serve: %+v", p.Items)
	}
	jpg, _ := os.ReadFile(photo(t, t.TempDir(), "b.jpg", 2, nil))
	code, out := c.upload(t, nil, map[string][]byte{"b.jpg": jpg})
	if code != 503 || !strings.Contains(fmt.Sprint(out["error"]), "serve --ui") {
		t.Errorf("upload beside serve: %d %v", code, out)
	}

	resp := c.get(t, "/api/events")
	defer resp.Body.Close()
	got := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"ids"`) {
				got <- sc.Text()
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	// The other process stores a record: the page hears of it by polling.
	r2, err := holder.AddObservation(context.Background(), project.Observation{Attachments: rec.Observation.Attachments})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-got:
		if !strings.Contains(line, r2.Observation.ID) {
			t.Errorf("event %s lacks %s", line, r2.Observation.ID)
		}
	case <-time.After(3 * pollRecords):
		t.Fatal("no observations event for a record another process stored")
	}
}

// The sync view says how many of this device's files are safe on the
// project's always-on device, live while connected.
func TestSyncViewArchives(t *testing.T) {
	ctx := t.Context()
	archive := newDevice(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	if err := archive.Start(ctx, node.NetOptions{Listen: []string{addr}, Public: []ma.Multiaddr{ma.StringCast(addr)}, Peers: []peer.AddrInfo{}}); err != nil {
		t.Fatal(err)
	}
	phone := joined(t, ctx, archive)
	importPhoto(t, phone, photo(t, t.TempDir(), "a.jpg", 1, nil))
	res, err := phone.Sync(ctx, node.SyncOptions{NetOptions: node.NetOptions{Listen: loopback.Listen,
		Peers: []peer.AddrInfo{{ID: archive.ID(), Addrs: []ma.Multiaddr{ma.StringCast(addr)}}}}})
	if err != nil || !res.Complete {
		t.Fatalf("sync: %v %+v", err, res)
	}
	_, c := serve(t, Config{Node: phone})
	var st struct {
		Archives []struct {
			ID            string
			Held, Lacking int
			Live          bool
		}
	}
	c.getJSON(t, "/api/sync", 200, &st)
	if len(st.Archives) != 1 || st.Archives[0].ID != archive.ID().String() || st.Archives[0].Held < 2 || st.Archives[0].Lacking != 0 || !st.Archives[0].Live {
		t.Errorf("archives in the sync view: %+v", st.Archives)
	}
}
