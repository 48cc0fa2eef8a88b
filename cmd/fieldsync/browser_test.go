//go:build browser

// Browser tests of the web app: the real binary serving a real data
// directory, driven in headless Chromium (Debian's chromium) with chromedp.
//
//	go test -tags browser -run Browser -v ./cmd/fieldsync/
//
// FIELDSYNC_SCREENSHOTS=DIR keeps the screenshots there (docs/img is where
// docs/ui.md takes them from); otherwise they go to a temporary directory.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	_ "modernc.org/sqlite"
)

// browser starts headless Chromium and returns a tab context. Page errors
// (exceptions, console errors such as CSP refusals and failed loads) are
// collected; tests fail on them at their end.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T, width, height int, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium): ", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	)
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// The first run starts the browser; it must not have a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal("start chromium: ", err)
	}
	b := &browser{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s (%s)", m, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// pageErrors returns the page errors so far.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) run(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v (page errors: %v)", what, err, b.pageErrors())
	}
}

// js runs a script for its effect.
func (b *browser) js(t *testing.T, expr string) {
	t.Helper()
	evalJS[any](t, b, expr)
}

// evalJS evaluates a JavaScript expression.
func evalJS[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v (page errors: %v)", expr, err, b.pageErrors())
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func (b *browser) waitJS(t *testing.T, what, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s (%s): %v (page errors: %v)", what, expr, err, b.pageErrors())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as NAME.png in $FIELDSYNC_SCREENSHOTS (or a
// temporary directory) and returns its path.
func (b *browser) screenshot(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("FIELDSYNC_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	time.Sleep(400 * time.Millisecond) // let tiles, fades and images settle
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

// writePhotos writes camera-like JPEGs into dir: n photos, every one with
// an EXIF time, those with i%4 != 3 with a GPS position near the river.
func writePhotos(t *testing.T, dir string, n int, seed uint64) (placed int) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	for i := range n {
		m := synth.Meta{Taken: time.Date(2026, 5, 1+i%28, 8+i%10, i%60, 0, 0, time.UTC)}
		if i%4 != 3 {
			m.Lat = -3.46 + 0.02*math.Sin(float64(i)+float64(seed))
			m.Lon = -62.21 + 0.03*math.Cos(float64(i)*1.3+float64(seed))
			placed++
		}
		b := synth.JPEG(640, 480, seed*1000+uint64(i), 85, m)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("IMG_%d_%04d.jpg", seed, i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return placed
}

// lsCount counts the observations `fieldsync ls --json` lists, those with
// a position, and those with tag.
func lsCount(t *testing.T, data, tag string) (all, placed, tagged int) {
	t.Helper()
	r := fsRun(t, "ls", "--data", data, "--json")
	expectCode(t, r, 0, "ls")
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var o struct {
			Position any
			Tags     []string
		}
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("ls line %q: %v", line, err)
		}
		all++
		if o.Position != nil {
			placed++
		}
		for _, tg := range o.Tags {
			if tg == tag {
				tagged++
			}
		}
	}
	return
}

func TestBrowserApp(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "River survey 2026"), 0, "init A")
	writePhotos(t, filepath.Join(root, "photosA"), 24, 1)
	expectCode(t, fsRun(t, "import", "--data", A, "--tag", "riverbank", filepath.Join(root, "photosA")), 0, "import A")
	// The fixtures too: other formats, a non-photo, no position.
	for _, name := range []string{"gps.jpg", "orient-6.jpg", "alpha8.png", "lossy.webp", "anim.gif"} {
		expectCode(t, fsRun(t, "add", "--data", A, filepath.Join("..", "..", "testdata", "photos", name)), 0, "add "+name)
	}
	total, placed, _ := lsCount(t, A, "")

	s := startServe(t, A, "--ui", "--invite", "--basemap", makeBasemap(t, root))
	url, _ := s.info["ui"].(string)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.Contains(url, "?token=") {
		t.Fatalf("serve --ui --json gave ui %q", url)
	}
	b := newBrowser(t, 1280, 800)

	// The map: one marker per observation with a position.
	b.run(t, "open the app", chromedp.Navigate(url))
	b.waitJS(t, "the map's markers", fmt.Sprintf("window.fieldsync && window.fieldsync.markerCount() === %d", placed), 20*time.Second)
	b.waitJS(t, "the basemap's tiles", `document.querySelectorAll('#map img.leaflet-tile-loaded').length > 0`, 20*time.Second)
	b.waitJS(t, "the world outline", `document.querySelectorAll('#map .leaflet-overlay-pane path').length > 0`, 20*time.Second)
	b.waitJS(t, "the unplaced list", fmt.Sprintf("document.querySelectorAll('#unplaced li').length === %d", total-placed), 10*time.Second)
	loc := evalJS[string](t, b, "location.href")
	if strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	b.screenshot(t, "ui-map")

	// The gallery: every thumbnail decoded.
	b.js(t, `location.hash = '#/gallery'`)
	b.waitJS(t, "all cards", fmt.Sprintf("window.fieldsync.galleryCount() === %d", total), 20*time.Second)
	b.js(t, `window.scrollTo(0, document.body.scrollHeight)`)
	b.waitJS(t, "every thumbnail decoded",
		fmt.Sprintf(`(() => { const imgs = [...document.querySelectorAll('#gallery .card img.thumb')];
			imgs.forEach(i => i.loading = 'eager');
			return imgs.length === %d && imgs.every(i => i.complete && i.naturalWidth > 0) })()`, total), 20*time.Second)
	b.js(t, `window.scrollTo(0, 0)`)
	b.screenshot(t, "ui-gallery")

	// An observation's page.
	b.js(t, `document.querySelector('#gallery .card a, #gallery .card').click()`)
	b.waitJS(t, "the observation page", `location.hash.startsWith('#/obs/') && document.body.innerText.includes('bafk')`, 10*time.Second)
	// Its history names each version by its record's CID (dag-cbor: bafy…),
	// its variants table gives each variant's state.
	b.waitJS(t, "the history", `(() => { const rows = [...document.querySelectorAll('#obs table.history tbody tr')];
			return rows.length >= 1 && rows.every(r => (r.lastElementChild.title || '').startsWith('bafy')) })()`, 10*time.Second)
	b.waitJS(t, "the variants' states", `[...document.querySelectorAll('#obs table.variants td.state')].some(td => td.textContent === 'present')`, 10*time.Second)
	b.screenshot(t, "ui-observation")

	// A second device joins and syncs into the served one: its
	// observations appear without a reload, thumbnails first.
	b.js(t, `window.__notReloaded = true; location.hash = '#/gallery'`)
	expectCode(t, fsRun(t, "join", "--data", B, s.info["invite"].(string)), 0, "join B")
	const newOnB = 6
	writePhotos(t, filepath.Join(root, "photosB"), newOnB, 2)
	expectCode(t, fsRun(t, "import", "--data", B, "--tag", "from-B", filepath.Join(root, "photosB")), 0, "import B")
	startServe(t, B, "--peer", s.addr(t))
	b.waitJS(t, "B's observations in the gallery", fmt.Sprintf("window.__notReloaded === true && window.fieldsync.galleryCount() === %d", total+newOnB), 60*time.Second)
	b.waitJS(t, "B's thumbnails", fmt.Sprintf(`(() => { const imgs = [...document.querySelectorAll('#gallery .card img.thumb')];
			return imgs.length === %d && imgs.every(i => i.complete && i.naturalWidth > 0) })()`, total+newOnB), 60*time.Second)
	b.waitJS(t, "B's markers", fmt.Sprintf("window.fieldsync.markerCount() === %d", placed+writePhotosPlaced(newOnB)), 20*time.Second)

	// The sync view, live.
	b.js(t, `location.hash = '#/sync'`)
	b.waitJS(t, "a peer in the sync view", `document.querySelectorAll('#sync .peer').length >= 1`, 20*time.Second)
	b.screenshot(t, "ui-sync")

	// An upload from the page makes an observation that ls shows.
	up := filepath.Join(root, "upload")
	writePhotos(t, up, 1, 3)
	files, _ := filepath.Glob(filepath.Join(up, "*.jpg"))
	b.js(t, `location.hash = '#/add'`)
	b.run(t, "fill the form",
		chromedp.WaitVisible(chromedp.CSS(`#add-form`)),
		chromedp.SetUploadFiles(chromedp.CSS(`#add-form input[name=files]`), files),
		chromedp.SendKeys(chromedp.CSS(`#add-form input[name=tags]`), "uploaded-in-browser, heron"),
		chromedp.SendKeys(chromedp.CSS(`#add-form textarea[name=notes]`), "nest on the left bank"),
	)
	b.screenshot(t, "ui-add")
	b.run(t, "submit", chromedp.Click(chromedp.CSS(`#add-submit`)))
	b.waitJS(t, "the upload's result", `document.querySelector('#add-status a[href^="#/obs/"]') !== null`, 30*time.Second)
	if _, _, tagged := lsCount(t, A, "uploaded-in-browser"); tagged != 1 {
		t.Errorf("ls shows %d observations tagged uploaded-in-browser, want 1", tagged)
	}

	// A phone-sized window: the gallery still works.
	p := newBrowser(t, 800, 900)
	p.run(t, "open on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch), chromedp.Navigate(url))
	p.js(t, `location.hash = '#/gallery'`)
	p.waitJS(t, "phone cards", "window.fieldsync && window.fieldsync.galleryCount() > 0", 20*time.Second)
	p.screenshot(t, "ui-phone")
	p.js(t, `location.hash = '#/map'`)
	p.waitJS(t, "phone map", "window.fieldsync.markerCount() > 0", 20*time.Second)
	p.screenshot(t, "ui-phone-map")
	p.js(t, `location.hash = '#/sync'`)
	p.waitJS(t, "phone sync", `document.querySelectorAll('#sync .peer').length >= 1`, 20*time.Second)
	p.screenshot(t, "ui-phone-sync")

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// makeBasemap writes a raster MBTiles file with tiles at zooms 0 to 16
// over the area the photos are in: pale tiles with a grid, like a survey
// map.
func makeBasemap(t *testing.T, dir string) string {
	t.Helper()
	return makeBasemapAt(t, filepath.Join(dir, "river.mbtiles"), -62.3, -3.55, -62.1, -3.38)
}

// makeBasemapAt writes such a file at path over the box west, south,
// east, north.
func makeBasemapAt(t *testing.T, path string, west, south, east, north float64) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`CREATE TABLE metadata (name text, value text)`,
		`CREATE TABLE tiles (zoom_level integer, tile_column integer, tile_row integer, tile_data blob)`,
		fmt.Sprintf(`INSERT INTO metadata VALUES ('name', 'river'), ('format', 'png'), ('minzoom', '0'), ('maxzoom', '16'), ('bounds', '%g,%g,%g,%g')`, west, south, east, north),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tileXY := func(lat, lon float64, z int) (int, int) {
		n := math.Exp2(float64(z))
		x := int((lon + 180) / 360 * n)
		r := lat * math.Pi / 180
		y := int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
		return x, y
	}
	for z := 0; z <= 16; z++ {
		x0, y0 := tileXY(north, west, z)
		x1, y1 := tileXY(south, east, z)
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				img := image.NewRGBA(image.Rect(0, 0, 256, 256))
				for i := range 256 {
					for j := range 256 {
						c := color.RGBA{0xe9, 0xf0, 0xdc, 0xff}
						if i%64 == 0 || j%64 == 0 {
							c = color.RGBA{0xb8, 0xc9, 0xa8, 0xff}
						}
						if (x+y)%2 == 0 {
							c.B += 0x10
						}
						img.Set(i, j, c)
					}
				}
				var buf bytes.Buffer
				png.Encode(&buf, img)
				if _, err := db.Exec(`INSERT INTO tiles VALUES (?, ?, ?, ?)`, z, x, (1<<z)-1-y, buf.Bytes()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return path
}

// writePhotosPlaced is how many of n photos writePhotos places.
func writePhotosPlaced(n int) int { return n - n/4 }

// generate writes a project of n observations into a new data directory:
// positions spread over a region that takes in a coast, 200 distinct thumbnails and previews
// (present), originals not on this device. The node makes the device and
// its project; the blobs and the observations (a thousand to a
// transaction) go in through the data directory's store and project,
// which the node does not expose, with the node closed.
func generate(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := context.Background()
	nd, err := node.Init(ctx, dir, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nd.CreateProject(ctx, "Ten thousand"); err != nil {
		nd.Close()
		t.Fatal(err)
	}
	if err := nd.Close(); err != nil {
		t.Fatal(err)
	}
	self, err := project.LoadOrCreateIdentity(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := fsdb.Open(filepath.Join(dir, "fieldsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	store, err := disk.Open(ctx, dir, d)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	p, err := project.Open(ctx, d, self)
	if err != nil {
		t.Fatal(err)
	}
	const distinct = 200
	thumbsInfo := make([]blob.Info, distinct)
	for i := range distinct {
		in, err := store.Put(ctx, strings.NewReader(string(synth.JPEG(400, 300, uint64(i), 75, synth.Meta{}))), blob.Meta{MediaType: "image/jpeg"})
		if err != nil {
			t.Fatal(err)
		}
		thumbsInfo[i] = in
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += 1000 {
		var obs []project.Observation
		for i := start; i < min(start+1000, n); i++ {
			th := thumbsInfo[i%distinct]
			o := project.Observation{
				Created: base.Add(time.Duration(i) * time.Minute),
				Tags:    []string{fmt.Sprintf("transect-%d", i%17)},
				Notes:   fmt.Sprintf("observation %d", i),
				Attachments: []project.Attachment{{
					Kind: project.AttachPhoto, MediaType: "image/jpeg", Name: fmt.Sprintf("IMG_%05d.jpg", i),
					Thumbnail: &project.Variant{CID: th.CID, Size: th.Size, Width: 400, Height: 300},
					Preview:   &project.Variant{CID: th.CID, Size: th.Size, Width: 400, Height: 300},
					Original:  &project.Variant{CID: synthCID(t, i), Size: 4 << 20, Width: 4000, Height: 3000},
				}},
			}
			if i%10 != 0 {
				o.Position = &project.Position{Lat: -12 + float64(i%100)*0.24, Lon: -80 + float64(i/100)*0.5} // across a coast
			}
			obs = append(obs, o)
		}
		if _, err := p.AddObservations(ctx, obs); err != nil {
			t.Fatal(err)
		}
	}
}

// synthCID is the CID of a blob no device has.
func synthCID(t *testing.T, i int) cid.Cid {
	t.Helper()
	sk, err := chunk.Sum(context.Background(), strings.NewReader(fmt.Sprintf("original %d", i)))
	if err != nil {
		t.Fatal(err)
	}
	return sk.Root
}

// startUIProcess runs `fieldsync ui` on data and returns its URL.
func startUIProcess(t *testing.T, data string) string {
	t.Helper()
	cmd := exec.Command(binary(t), "ui", "--data", data)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 512)
	n, err := out.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(strings.SplitN(string(buf[:n]), "\n", 2)[0])
	if !strings.HasPrefix(url, "http://") {
		t.Fatalf("ui printed %q first", url)
	}
	return url
}

// TestBrowserScale: 10,000 observations. The first gallery paint is timed
// from navigation start and compared with a reference in the same run: a
// static page with the same number of the same thumbnails, served by a
// plain file server.
func TestBrowserScale(t *testing.T) {
	const n = 10000
	data := filepath.Join(t.TempDir(), "big")
	t0 := time.Now()
	generate(t, data, n)
	t.Logf("generated %d observations in %v", n, time.Since(t0).Round(time.Millisecond))
	url := startUIProcess(t, data)
	b := newBrowser(t, 1280, 800)

	// Reference: a static page with the first page's thumbnails.
	refDir := t.TempDir()
	thumbsDir := filepath.Join(data, "blobs")
	var imgs []string
	filepath.WalkDir(thumbsDir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && len(imgs) < 60 {
			rel := fmt.Sprintf("t%d.jpg", len(imgs))
			bs, _ := os.ReadFile(p)
			os.WriteFile(filepath.Join(refDir, rel), bs, 0o644)
			imgs = append(imgs, rel)
		}
		return nil
	})
	var page strings.Builder
	page.WriteString(`<!doctype html><meta charset=utf-8><title>ref</title><link rel="icon" href="data:,"><body>`)
	for _, im := range imgs {
		fmt.Fprintf(&page, `<img src="%s" width="200" height="150">`, im)
	}
	os.WriteFile(filepath.Join(refDir, "index.html"), []byte(page.String()), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refSrv := &http.Server{Handler: http.FileServer(http.Dir(refDir))}
	go refSrv.Serve(ln)
	t.Cleanup(func() { refSrv.Close() })

	// Log in once (the cookie), then time fresh loads of each.
	b.run(t, "log in", chromedp.Navigate(url))
	b.waitJS(t, "the app", "window.fieldsync !== undefined", 20*time.Second)
	appURL := strings.SplitN(url, "?", 2)[0] + "#/gallery"
	var appTimes, refTimes []float64
	for range 3 {
		b.run(t, "reference page", chromedp.Navigate("http://"+ln.Addr().String()+"/"))
		b.waitJS(t, "reference loaded", "document.readyState === 'complete'", 20*time.Second)
		ref := evalJS[float64](t, b, "performance.getEntriesByType('navigation')[0].loadEventStart")
		refTimes = append(refTimes, ref)

		b.run(t, "gallery", chromedp.Navigate(appURL))
		b.waitJS(t, "first gallery paint", "window.fieldsync && typeof window.fieldsync.firstGalleryPaint === 'number'", 20*time.Second)
		ms := evalJS[float64](t, b, "window.fieldsync.firstGalleryPaint")
		appTimes = append(appTimes, ms)
	}
	app, ref := median(appTimes), median(refTimes)
	t.Logf("BENCH first gallery paint, %d observations: %.0f ms (runs %v); reference static page of 60 thumbnails: %.0f ms (runs %v); ratio %.2f×",
		n, app, appTimes, ref, refTimes, app/ref)
	if app >= 1000 {
		t.Errorf("first gallery paint %.0f ms, want under 1 s", app)
	}
	total := evalJS[int](t, b, "window.fieldsync.galleryCount()")
	if total <= 0 || total >= n {
		t.Errorf("%d cards after the first paint: want one page, not all %d", total, n)
	}
	// Scrolling pages in more.
	b.js(t, `window.scrollTo(0, document.body.scrollHeight)`)
	b.waitJS(t, "the next page", fmt.Sprintf("window.fieldsync.galleryCount() > %d", total), 10*time.Second)
	b.screenshot(t, "ui-gallery-10k")

	// The map with every marker, clustered.
	t1 := time.Now()
	b.js(t, `location.hash = '#/map'`)
	b.waitJS(t, "10k markers", fmt.Sprintf("window.fieldsync.markerCount() === %d", n-n/10), 30*time.Second)
	t.Logf("BENCH map with %d markers ready in %v", n-n/10, time.Since(t1).Round(time.Millisecond))
	b.screenshot(t, "ui-map-10k")
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// lsIDs lists the IDs `fieldsync ls --json` gives, newest first.
func lsIDs(t *testing.T, data string) []string {
	t.Helper()
	r := fsRun(t, "ls", "--data", data, "--json")
	expectCode(t, r, 0, "ls")
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var o struct{ ID string }
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("ls line %q: %v", line, err)
		}
		ids = append(ids, o.ID)
	}
	return ids
}

// shown is an observation as `fieldsync show --json` prints it.
type shown struct {
	Observation struct {
		Notes    string
		Tags     []string
		Heads    int
		Deleted  bool
		Position *struct{ Lat, Lon float64 }
	}
	History []struct{ Record string }
}

func show(t *testing.T, data, id string) shown {
	t.Helper()
	r := fsRun(t, "show", "--data", data, "--json", id)
	expectCode(t, r, 0, "show "+id)
	var s shown
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.stdout)
	}
	return s
}

// editOn signs a version of observation id on the device at data, through
// the node, as that device's app would while it is away from the others.
func editOn(t *testing.T, data, id, notes string, tags []string) {
	t.Helper()
	ctx := context.Background()
	n, err := node.Open(ctx, data, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := n.Edit(ctx, id, node.Edit{Notes: &notes, Tags: &tags}); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserEdit: edits, deletes, a fork and a block, from the web app
// of a device that a second one joined; and the app in Spanish, then
// Portuguese.
func TestBrowserEdit(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "River survey 2026", "--name", "Ana's laptop"), 0, "init A")
	writePhotos(t, filepath.Join(root, "photosA"), 8, 1)
	expectCode(t, fsRun(t, "import", "--data", A, "--tag", "riverbank", filepath.Join(root, "photosA")), 0, "import A")
	net := []string{"--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--timeout", "2m"}

	// B joins and takes everything A has; then A stops.
	s1 := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "Field phone 2", s1.info["invite"].(string)), 0, "join B")
	expectCode(t, fsRun(t, append([]string{"sync", "--data", B, "--peer", s1.addr(t)}, net...)...), 0, "sync B")
	s1.stop(t)
	ids := lsIDs(t, A)
	if len(ids) != 8 {
		t.Fatalf("A lists %d observations", len(ids))
	}
	forked, edited, deleted := ids[0], ids[1], ids[2]

	// Apart, each device edits the same observation: a fork.
	notesA, notesB := "Two nests on the left bank, one with eggs.", "One nest only: the other fell in the flood."
	editOn(t, A, forked, notesA, []string{"heron", "nest"})
	editOn(t, B, forked, notesB, []string{"heron", "flood"})

	s := startServe(t, A, "--ui", "--basemap", makeBasemap(t, root))
	url := s.info["ui"].(string)
	startServe(t, B, "--peer", s.addr(t)) // they meet again: A gets B's version
	b := newBrowser(t, 1280, 1000)
	b.run(t, "open the app", chromedp.Navigate(url))
	b.waitJS(t, "the app", "window.fieldsync !== undefined && window.fieldsync.lang() === 'en'", 20*time.Second)
	b.js(t, `location.hash = '#/gallery'`)
	b.waitJS(t, "the gallery", "window.fieldsync.galleryCount() === 8", 20*time.Second)

	// The sync view says how B is reached.
	b.js(t, `location.hash = '#/sync'`)
	b.waitJS(t, "B on the local network", `[...document.querySelectorAll('#peers-body tr.peer td.path')].some(td => td.dataset.path === 'lan' && td.textContent === 'local network')`, 30*time.Second)
	// And whether A can be reached from the internet: not known, on a
	// LAN with no always-on device to ask.
	b.waitJS(t, "A's reachability", `!document.getElementById('sync-reach').hidden && document.getElementById('sync-reach').dataset.state === 'unknown' &&
		document.getElementById('sync-reach').textContent === 'Not known yet whether this device can be reached from the internet.'`, 30*time.Second)

	// The fork: both versions side by side, the winner marked.
	b.js(t, `location.hash = '#/obs/`+forked+`'`)
	b.waitJS(t, "both versions side by side",
		`document.querySelectorAll('#fork .version').length === 2 && document.querySelectorAll('#fork .version.winner').length === 1 &&
		 document.querySelectorAll('#fork .version .keep').length === 2`, 60*time.Second)
	// the authors by name, once B's name reached A
	b.waitJS(t, "the authors' names", `[...document.querySelectorAll('#fork .version .author')].map(e => e.textContent).sort().join('|') === "Ana's laptop|Field phone 2"`, 30*time.Second)
	winner := evalJS[string](t, b, `document.querySelector('#fork .version.winner .notes').textContent`)
	loser := evalJS[string](t, b, `document.querySelector('#fork .version:not(.winner) .notes').textContent`)
	if shownNotes := evalJS[string](t, b, `document.querySelector('#obs .record dd.notes').textContent`); winner != shownNotes ||
		!(winner == notesA && loser == notesB || winner == notesB && loser == notesA) {
		t.Fatalf("fork: winner %q, other %q, shown %q", winner, loser, shownNotes)
	}
	b.js(t, `window.scrollTo(0, 0)`)
	b.screenshot(t, "ui-fork")
	// Keep the one that lost: it becomes the observation, here and for show.
	b.js(t, `document.querySelector('#fork .version:not(.winner) .keep').click()`)
	b.waitJS(t, "the kept version", fmt.Sprintf(`!document.querySelector('#fork') && document.querySelector('#obs .record dd.notes').textContent === %q &&
		document.querySelector('#obs-status').textContent !== ''`, loser), 20*time.Second)
	if got := show(t, A, forked); got.Observation.Notes != loser || got.Observation.Heads != 1 {
		t.Errorf("show after keep: %+v", got.Observation)
	}

	// Edit from the observation's page: notes, tags, a position set on the map.
	b.js(t, `location.hash = '#/obs/`+edited+`'`)
	b.waitJS(t, "the page", `document.querySelector('#obs-edit') !== null && !document.querySelector('#obs-edit').disabled`, 20*time.Second)
	b.js(t, `document.querySelector('#obs-edit').click()`)
	b.waitJS(t, "the edit form", `document.querySelector('#edit-form textarea[name=notes]') !== null`, 10*time.Second)
	const newNotes = "Heron nest on the left bank; two chicks seen at dawn."
	b.js(t, fmt.Sprintf(`document.querySelector('#edit-form textarea[name=notes]').value = %q;
		document.querySelector('#edit-form input[name=tags]').value = 'heron, nest, dawn';
		document.querySelector('#edit-map').scrollIntoView({block: 'center'})`, newNotes))
	time.Sleep(300 * time.Millisecond)
	xy := evalJS[[]float64](t, b, `(() => { const r = document.querySelector('#edit-map').getBoundingClientRect(); return [r.left + r.width * 0.62, r.top + r.height * 0.38]; })()`)
	oldLat := evalJS[string](t, b, `document.querySelector('#edit-form input[name=lat]').value`)
	b.run(t, "click the map", chromedp.MouseClickXY(xy[0], xy[1]))
	b.waitJS(t, "the position from the map", fmt.Sprintf(`document.querySelector('#edit-form input[name=lat]').value !== %q`, oldLat), 10*time.Second)
	lat := evalJS[string](t, b, `document.querySelector('#edit-form input[name=lat]').value`)
	lon := evalJS[string](t, b, `document.querySelector('#edit-form input[name=lon]').value`)
	b.js(t, `window.scrollTo(0, 0)`)
	b.screenshot(t, "ui-edit")
	b.js(t, `document.querySelector('#edit-save').click()`)
	b.waitJS(t, "the new notes", fmt.Sprintf(`!document.querySelector('#edit-form') && document.querySelector('#obs .record dd.notes').textContent === %q`, newNotes), 20*time.Second)
	got := show(t, A, edited)
	if o := got.Observation; o.Notes != newNotes || strings.Join(o.Tags, ",") != "heron,nest,dawn" || o.Position == nil ||
		fmt.Sprintf("%.6f,%.6f", o.Position.Lat, o.Position.Lon) != lat+","+lon {
		t.Errorf("show after the edit: %+v %+v, want the position %s, %s", o, o.Position, lat, lon)
	}

	// Delete, with a confirm step: gone from the gallery; undo brings it back.
	b.js(t, `location.hash = '#/obs/`+deleted+`'`)
	b.waitJS(t, "the page", `document.querySelector('#obs-delete') !== null && document.querySelector('.obs-page').dataset.id === '`+deleted+`'`, 20*time.Second)
	b.js(t, `document.querySelector('#obs-delete').click()`)
	b.waitJS(t, "the confirm step", `document.querySelector('.obs-actions .confirm .confirm-yes') !== null`, 10*time.Second)
	if n, _, _ := lsCount(t, A, ""); n != 8 {
		t.Fatalf("deleted before the confirm: ls shows %d", n)
	}
	b.js(t, `document.querySelector('.obs-actions .confirm .confirm-yes').click()`)
	b.waitJS(t, "shown as deleted", `document.querySelector('.obs-page').dataset.deleted === 'true' && document.querySelector('#obs-undo') !== null`, 20*time.Second)
	if n, _, _ := lsCount(t, A, ""); n != 7 {
		t.Errorf("ls shows %d observations after the delete, want 7", n)
	}
	b.js(t, `location.hash = '#/gallery'`)
	b.waitJS(t, "gone from the gallery", `window.fieldsync.galleryCount() === 7 && !document.querySelector('#gallery .card[data-id="`+deleted+`"]')`, 20*time.Second)
	b.js(t, `location.hash = '#/obs/`+deleted+`'`)
	b.waitJS(t, "the undo button", `document.querySelector('.obs-page') !== null && document.querySelector('.obs-page').dataset.id === '`+deleted+`' && document.querySelector('#obs-undo') !== null`, 20*time.Second)
	b.js(t, `document.querySelector('#obs-undo').click()`)
	b.waitJS(t, "brought back", `document.querySelector('.obs-page').dataset.deleted === 'false'`, 20*time.Second)
	b.js(t, `location.hash = '#/gallery'`)
	b.waitJS(t, "back in the gallery", `window.fieldsync.galleryCount() === 8 && document.querySelector('#gallery .card[data-id="`+deleted+`"]') !== null`, 20*time.Second)

	// Members: block B from the creator's page; it says what blocking does.
	bID := strings.TrimSpace(fsRun(t, "status", "--data", B, "--json").stdout)
	var bst struct{ Device string }
	json.Unmarshal([]byte(bID), &bst)
	b.js(t, `location.hash = '#/members'`)
	row := `#members-body tr[data-peer="` + bst.Device + `"]`
	b.waitJS(t, "the members", `document.querySelectorAll('#members-body tr').length === 2 && document.querySelector('`+row+` .name').textContent === 'Field phone 2' &&
		document.querySelector('`+row+` .role').textContent === 'member'`, 20*time.Second)
	b.js(t, `document.querySelector('`+row+` button.block').click()`)
	b.waitJS(t, "the block's confirm", `(document.querySelector('`+row+` .confirm') || {}).textContent.includes('nothing more from any device that learns of the block')`, 10*time.Second)
	b.screenshot(t, "ui-members")
	b.js(t, `document.querySelector('`+row+` .confirm-yes').click()`)
	b.waitJS(t, "blocked", `document.querySelector('`+row+` .role').textContent === 'blocked' && !document.querySelector('`+row+` button.block')`, 20*time.Second)
	var st struct {
		Members []struct{ Peer, Role string }
	}
	if err := json.Unmarshal([]byte(fsRun(t, "status", "--data", A, "--json").stdout), &st); err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Members {
		if m.Peer == bst.Device && m.Role != "blocked" {
			t.Errorf("status after the block: %+v", m)
		}
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}

	// Spanish from the browser's language; then Portuguese, chosen in the
	// page and remembered.
	es := newBrowser(t, 1280, 1000, chromedp.Flag("lang", "es-PE"), chromedp.Flag("accept-lang", "es-PE,es"))
	es.run(t, "open in Spanish", chromedp.Navigate(url))
	es.waitJS(t, "the app in Spanish", `window.fieldsync && window.fieldsync.lang() === 'es' && document.documentElement.lang === 'es' &&
		document.querySelector('#tabs a[data-view=gallery]').textContent === 'Galería'`, 20*time.Second)
	es.js(t, `location.hash = '#/obs/`+edited+`'`)
	es.waitJS(t, "the observation in Spanish", `document.querySelector('#obs-edit') !== null && document.querySelector('#obs-edit').textContent === 'Editar' &&
		document.querySelector('#obs-delete').textContent === 'Borrar'`, 20*time.Second)
	es.js(t, `window.scrollTo(0, document.querySelector('#obs .record').getBoundingClientRect().top + window.scrollY - 70)`)
	es.screenshot(t, "ui-spanish")
	es.js(t, `const s = document.getElementById('lang'); s.value = 'pt'; s.dispatchEvent(new Event('change'))`)
	es.waitJS(t, "the page in Portuguese", `window.fieldsync.lang() === 'pt' && document.documentElement.lang === 'pt' &&
		document.querySelector('#tabs a[data-view=gallery]').textContent === 'Galeria' && document.querySelector('#obs-delete').textContent === 'Apagar'`, 20*time.Second)
	es.run(t, "reload", chromedp.Reload())
	es.waitJS(t, "Portuguese remembered", `window.fieldsync && window.fieldsync.lang() === 'pt' && document.querySelector('#obs-delete') !== null &&
		document.querySelector('#obs-delete').textContent === 'Apagar'`, 20*time.Second)
	if errs := es.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors (Spanish, Portuguese): %q", errs)
	}
}

// TestBrowserArchives: the sync view of a device serving beside the
// project's always-on device says how many of its files are safe there.
func TestBrowserArchives(t *testing.T) {
	root := t.TempDir()
	A, B := filepath.Join(root, "A"), filepath.Join(root, "B")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "river"), 0, "init A")
	writePhotos(t, filepath.Join(root, "photos"), 3, 7)
	expectCode(t, fsRun(t, "import", "--data", A, filepath.Join(root, "photos")), 0, "import A")
	s := startServe(t, A, "--invite")
	expectCode(t, fsRun(t, "join", "--data", B, "--name", "archive", s.info["invite"].(string)), 0, "join B")
	s.cmd.Process.Signal(syscall.SIGINT)
	s.cmd.Wait()

	// B, the always-on device, in this process (the command line takes no
	// loopback address for --public).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx := t.Context()
	bn, err := node.Open(ctx, B, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer bn.Close()
	if err := bn.Start(ctx, node.NetOptions{Listen: []string{addr}, Public: []ma.Multiaddr{ma.StringCast(addr)}, Peers: []peer.AddrInfo{}}); err != nil {
		t.Fatal(err)
	}

	sa := startServe(t, A, "--ui", "--peer", addr+"/p2p/"+bn.ID().String())
	url, _ := sa.info["ui"].(string)
	b := newBrowser(t, 1280, 800)
	b.run(t, "open the app", chromedp.Navigate(url))
	b.js(t, `location.hash = '#/sync'`)
	b.waitJS(t, "the archive's row, all safe", `(() => { const r = document.querySelector('#archives-body tr.archive');
		return !document.getElementById('archives').hidden && r && r.dataset.lacking === '0' && r.dataset.held === '9' &&
			r.querySelector('.safe').textContent === '9 of 9 · all safe' })()`, 60*time.Second)
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
	b.screenshot(t, "ui-sync-archives")
}
