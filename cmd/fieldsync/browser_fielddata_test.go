//go:build browser

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/fieldsync/fieldsync/internal/synth"
)

// fieldShown is an observation's category and fields as `fieldsync show
// --json` prints them, with the length of its history.
type fieldShown struct {
	Observation struct {
		Category *struct{ ID string }
		Fields   map[string]any
		Notes    string
	}
	History []json.RawMessage
}

func showFields(t *testing.T, data, id string) fieldShown {
	t.Helper()
	r := fsRun(t, "show", "--data", data, "--json", id)
	expectCode(t, r, 0, "show "+id)
	var s fieldShown
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.stdout)
	}
	return s
}

// TestBrowserFieldData: the web app with the project's categories and a
// track (issue 19): the track drawn on the map and listed beside it,
// markers in their category's icon and color, the filter by category on
// the map and in the gallery, an observation added with a category
// picked from its icons and its fields filled in by type, its fields
// shown with their labels on its page and edited there (and a value the
// category does not take refused with the server's words, nothing
// written), and a GeoJSON download that parses, with the observation's
// fields as properties and the track as a line.
func TestBrowserFieldData(t *testing.T) {
	root := t.TempDir()
	A := filepath.Join(root, "A")
	expectCode(t, fsRun(t, "init", "--data", A, "--project", "Rio Negro survey"), 0, "init")
	expectCode(t, fsRun(t, "categories", "import", "--data", A, filepath.Join("..", "..", "testdata", "categories", "rio-negro.comapeocat")), 0, "categories import")
	expectCode(t, fsRun(t, "add", "--data", A, "--category", "logging-road", "--field", "width=4",
		filepath.Join("..", "..", "testdata", "tracks", "river-walk.gpx")), 0, "add the track")
	// Beside the walk (its box: -67.0891 to -67.0855, -0.1257 to -0.1192):
	// a sacred site, a crossing and a photo of no category.
	expectCode(t, fsRun(t, "add", "--data", A, "--category", "sacred-site", "--field", "name=Stone of the grandmothers",
		"--lat", "-0.1200", "--lon", "-67.0858"), 0, "add a sacred site")
	expectCode(t, fsRun(t, "add", "--data", A, "--category", "river-crossing", "--field", "depth=2", "--field", "crossing_type=ford",
		"--lat", "-0.1248", "--lon", "-67.0884"), 0, "add a crossing")
	photoPath := filepath.Join(root, "IMG_0001.jpg")
	os.WriteFile(photoPath, synth.JPEG(640, 480, 11, 85, synth.Meta{Taken: time.Date(2026, 5, 17, 9, 0, 0, 0, time.UTC), Lat: -0.1230, Lon: -67.0870}), 0o644)
	expectCode(t, fsRun(t, "add", "--data", A, "--tag", "riverbank", photoPath), 0, "add a photo")

	s := startServe(t, A, "--ui", "--basemap", makeBasemapAt(t, filepath.Join(root, "rio-negro.mbtiles"), -67.095, -0.130, -67.080, -0.115))
	url := s.info["ui"].(string)
	b := newBrowser(t, 1280, 900)
	b.run(t, "open the app", chromedp.Navigate(url))

	// The map: three markers, the track as a line, and the track listed.
	b.waitJS(t, "the markers", "window.fieldsync && window.fieldsync.markerCount() === 3", 20*time.Second)
	b.waitJS(t, "the track's line", `window.fieldsync.trackCount() === 1 && document.querySelectorAll('#map .leaflet-tracks-pane path').length === 1`, 20*time.Second)
	b.waitJS(t, "the track in the list", `(document.querySelector('#tracks li .track-show') || {}).textContent === 'Morning walk to the river' &&
		document.querySelector('#tracks li .cat-chip').dataset.category === 'logging-road'`, 10*time.Second)
	// the line in the category's color (#8b4513)
	if stroke := evalJS[string](t, b, `document.querySelector('#map .leaflet-tracks-pane path').getAttribute('stroke')`); stroke != "#8b4513" {
		t.Errorf("the track's line is drawn in %q, want the logging road's #8b4513", stroke)
	}
	// Shown on the map: the markers of a category in its icon and color.
	b.js(t, `document.querySelector('#tracks li .track-show').click()`)
	b.waitJS(t, "the category markers", `document.querySelectorAll('#map .cat-marker').length === 2 &&
		document.querySelector('#map .cat-marker[data-category="sacred-site"] img.cat-icon') !== null &&
		getComputedStyle(document.querySelector('#map .cat-marker[data-category="sacred-site"]')).borderTopColor === 'rgb(153, 50, 204)'`, 20*time.Second)
	b.waitJS(t, "the basemap's tiles", `document.querySelectorAll('#map img.leaflet-tile-loaded').length > 0`, 20*time.Second)
	b.screenshot(t, "ui-map-fielddata")

	// The filter: one category on the map, then none.
	setFilter := func(v string) {
		b.js(t, fmt.Sprintf(`{ const s = document.getElementById('category-filter'); s.value = %q; s.dispatchEvent(new Event('change')) }`, v))
	}
	b.waitJS(t, "the filter's categories", `document.querySelectorAll('#category-filter option').length === 6`, 10*time.Second)
	setFilter("sacred-site")
	b.waitJS(t, "the sacred sites alone", `window.fieldsync.markerCount() === 1 && window.fieldsync.trackCount() === 0 &&
		document.querySelectorAll('#tracks li').length === 0`, 10*time.Second)
	setFilter("logging-road")
	b.waitJS(t, "the logging roads alone", `window.fieldsync.markerCount() === 0 && window.fieldsync.trackCount() === 1`, 10*time.Second)
	if href := evalJS[string](t, b, `document.getElementById('export-geojson').getAttribute('href')`); href != "/api/export/geojson?category=logging-road" {
		t.Errorf("the export under the filter: %q", href)
	}
	setFilter("")
	b.waitJS(t, "everything again", `window.fieldsync.markerCount() === 3 && window.fieldsync.trackCount() === 1`, 10*time.Second)

	// Add: pick a category by its icon, fill its fields by type.
	b.js(t, `location.hash = '#/add'`)
	b.waitJS(t, "the category picker", `document.querySelectorAll('#add-category .cat-choice').length === 4 &&
		document.querySelector('#add-category .cat-choice[data-category="river-crossing"] img.cat-icon') !== null &&
		!document.querySelector('#add-category .cat-choice[data-category="logging-road"]')`, 20*time.Second)
	b.run(t, "pick river crossing", chromedp.Click(chromedp.CSS(`#add-category .cat-choice[data-category="river-crossing"]`)))
	b.waitJS(t, "its fields", `document.querySelectorAll('#add-fields .field').length === 5 &&
		document.querySelector('#add-fields .field[data-key="depth"] input').type === 'number' &&
		document.querySelector('#add-fields .field[data-key="crossing_type"] select') !== null &&
		document.querySelectorAll('#add-fields .field[data-key="uses"] input[type=checkbox]').length === 4 &&
		document.querySelector('#add-fields .field[data-key="date_seen"] input').type === 'date' &&
		document.querySelector('#add-fields .field[data-key="depth"] label').textContent === 'Depth (m)'`, 10*time.Second)
	b.run(t, "fill the fields",
		chromedp.SendKeys(chromedp.CSS(`#add-fields .field[data-key="depth"] input`), "1.5"),
		chromedp.SendKeys(chromedp.CSS(`#add-fields .field[data-key="who"] input`), "Ana and Joaquim"),
		chromedp.Click(chromedp.CSS(`#add-fields .field[data-key="uses"] input[value="fishing"]`)),
		chromedp.Click(chromedp.CSS(`#add-fields .field[data-key="uses"] input[value="school"]`)),
		chromedp.SendKeys(chromedp.CSS(`#add-form textarea[name=notes]`), "the new bridge by the school"),
		chromedp.SetUploadFiles(chromedp.CSS(`#add-form input[name=files]`), []string{photoPath}),
	)
	b.js(t, `{ const sel = document.querySelector('#add-fields .field[data-key="crossing_type"] select'); sel.value = 'bridge'; sel.dispatchEvent(new Event('change')); }
		document.querySelector('#add-fields .field[data-key="date_seen"] input').value = '2026-05-17';
		document.querySelector('#add-form input[name=lat]').value = '-0.1220';
		document.querySelector('#add-form input[name=lon]').value = '-67.0866';
		document.querySelector('#add-form input[name=lat]').dispatchEvent(new Event('input'));
		window.scrollTo(0, 0)`)
	b.screenshot(t, "ui-add-category")
	b.run(t, "submit", chromedp.Click(chromedp.CSS(`#add-submit`)))
	b.waitJS(t, "the new observation", `document.querySelector('#add-status a[href^="#/obs/"]') !== null`, 30*time.Second)
	id := strings.TrimPrefix(evalJS[string](t, b, `document.querySelector('#add-status a').getAttribute('href')`), "#/obs/")
	got := showFields(t, A, id)
	if o := got.Observation; o.Category == nil || o.Category.ID != "river-crossing" || o.Fields["depth"] != 1.5 || o.Fields["crossing_type"] != "bridge" ||
		fmt.Sprint(o.Fields["uses"]) != "[fishing school]" || o.Fields["who"] != "Ana and Joaquim" || o.Fields["date_seen"] != "2026-05-17" {
		t.Errorf("show after the add: %+v", o)
	}

	// Its page: the category and every field by its label.
	b.js(t, `document.querySelector('#add-status a').click()`)
	field := func(key string) string {
		return fmt.Sprintf(`(document.querySelector('#obs .record dd.field-value[data-key=%q]') || {}).textContent`, key)
	}
	b.waitJS(t, "the fields on the page", field("depth")+` === '1.5' && `+field("crossing_type")+` === 'Bridge' && `+
		field("uses")+` === 'Fishing, Going to school' && `+field("who")+` === 'Ana and Joaquim' && `+field("date_seen")+` === 'May 17, 2026' &&
		document.querySelector('#obs .record dd.category .cat-chip').dataset.category === 'river-crossing' &&
		[...document.querySelectorAll('#obs .record dt.field-label')].map(e => e.textContent).join('|') === 'Depth (m)|Crossing type|Used for|Who was there|Date seen'`, 20*time.Second)
	b.js(t, `window.scrollTo(0, document.querySelector('#obs .record').getBoundingClientRect().top + window.scrollY - 60)`)
	b.screenshot(t, "ui-observation-fields")

	// Edit a field there.
	b.waitJS(t, "the edit button", `document.querySelector('#obs-edit') !== null && !document.querySelector('#obs-edit').disabled`, 10*time.Second)
	b.js(t, `document.querySelector('#obs-edit').click()`)
	b.waitJS(t, "the edit form's fields", `document.querySelector('#edit-category') !== null && document.querySelector('#edit-category').value === 'river-crossing' &&
		document.querySelector('#edit-fields .field[data-key="depth"] input').value === '1.5' &&
		document.querySelectorAll('#edit-fields .field[data-key="uses"] input:checked').length === 2`, 10*time.Second)
	b.js(t, `{ const d = document.querySelector('#edit-fields .field[data-key="depth"] input'); d.value = '0.8'; d.dispatchEvent(new Event('input')) }`)
	b.js(t, `document.querySelector('#edit-save').click()`)
	b.waitJS(t, "the new depth", `!document.querySelector('#edit-form') && `+field("depth")+` === '0.8'`, 20*time.Second)
	if got := showFields(t, A, id); got.Observation.Fields["depth"] != 0.8 || got.Observation.Fields["crossing_type"] != "bridge" || len(got.History) != 2 {
		t.Errorf("show after the edit: %+v, %d versions", got.Observation, len(got.History))
	}

	// A value the category does not take (a form left open while the
	// category's options changed) is refused with the server's words, the
	// field marked, and nothing written.
	b.js(t, `document.querySelector('#obs-edit').click()`)
	b.waitJS(t, "the edit form again", `document.querySelector('#edit-fields .field[data-key="crossing_type"] select') !== null`, 10*time.Second)
	b.js(t, `{ const sel = document.querySelector('#edit-fields .field[data-key="crossing_type"] select');
		sel.append(new Option('Ferry', 'ferry')); sel.value = 'ferry'; sel.dispatchEvent(new Event('change')) }`)
	b.js(t, `document.querySelector('#edit-save').click()`)
	b.waitJS(t, "the refusal", `(document.querySelector('#edit-status') || {}).className === 'error' &&
		document.querySelector('#edit-status').textContent.includes('"ferry" is not one of its options') &&
		document.querySelector('#edit-fields .field.invalid[data-key="crossing_type"]') !== null`, 20*time.Second)
	if why := evalJS[string](t, b, `document.querySelector('#edit-fields .field.invalid .field-error').textContent`); !strings.Contains(why, `"ferry" is not one of its options`) {
		t.Errorf("under the field: %q", why)
	}
	b.js(t, `document.querySelector('#edit-category').scrollIntoView()`)
	b.screenshot(t, "ui-edit-refused")
	if got := showFields(t, A, id); got.Observation.Fields["crossing_type"] != "bridge" || len(got.History) != 2 {
		t.Errorf("a refused edit was written: %+v, %d versions", got.Observation, len(got.History))
	}
	b.js(t, `document.querySelector('#edit-cancel').click()`)

	// The track's page: its line on a map of its own, its category's fields.
	trackID := evalJS[string](t, b, `document.querySelector('#tracks li').dataset.id`)
	b.js(t, `location.hash = '#/obs/`+trackID+`'`)
	b.waitJS(t, "the track's page", `document.querySelector('#obs .obs-track-map[data-drawn="true"] .leaflet-tracks-pane path') !== null &&
		document.querySelector('#obs h1').textContent === 'Morning walk to the river' && `+field("width")+` === '4' && `+field("in_use")+` === '–'`, 20*time.Second)
	b.screenshot(t, "ui-track")

	// The gallery: category chips and colors; the filter there too.
	b.js(t, `location.hash = '#/gallery'`)
	b.waitJS(t, "the gallery", `window.fieldsync.galleryCount() === 5 &&
		document.querySelectorAll('#gallery .card.has-category').length === 4 &&
		document.querySelector('#gallery .card[data-category="logging-road"] .track-placeholder') !== null`, 20*time.Second)
	b.screenshot(t, "ui-gallery-categories")
	setFilter("river-crossing")
	b.waitJS(t, "the crossings alone", `window.fieldsync.galleryCount() === 2 &&
		[...document.querySelectorAll('#gallery .card')].every(c => c.dataset.category === 'river-crossing')`, 10*time.Second)
	setFilter("-")
	b.waitJS(t, "those without a category", `window.fieldsync.galleryCount() === 1 && !document.querySelector('#gallery .card.has-category')`, 10*time.Second)
	setFilter("")
	b.waitJS(t, "all again", `window.fieldsync.galleryCount() === 5`, 10*time.Second)

	// Download the GeoJSON export, as a person clicks it.
	dl := t.TempDir()
	evCtx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	progress := chromedp.Events(evCtx, cdpbrowser.DownloadProgress)
	begin := chromedp.Events(evCtx, cdpbrowser.DownloadWillBegin)
	b.run(t, "allow downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
			Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dl, EventsEnabled: ptrTo(true),
		})
		return err
	}))
	b.run(t, "click GeoJSON", chromedp.Click(chromedp.CSS(`#export-geojson`)))
	var suggested string
	for ev, err := range begin {
		if err != nil {
			t.Fatal(err)
		}
		suggested = ev.SuggestedFilename
		break
	}
	if !strings.HasPrefix(suggested, "rio-negro-survey-") || !strings.HasSuffix(suggested, ".geojson") {
		t.Errorf("the download is named %q", suggested)
	}
	var file string
	for ev, err := range progress {
		if err != nil {
			t.Fatal(err)
		}
		if ev.State == cdpbrowser.DownloadProgressStateCompleted {
			file = filepath.Join(dl, ev.GUID)
			break
		}
		if ev.State == cdpbrowser.DownloadProgressStateCanceled {
			t.Fatal("the download was cancelled")
		}
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Type     string
		Features []struct {
			Geometry   struct{ Type string }
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		t.Fatalf("the downloaded GeoJSON: %v", err)
	}
	kinds := map[string]string{}
	for _, f := range fc.Features {
		kinds[fmt.Sprint(f.Properties["category"])] += f.Geometry.Type + " "
		if f.Properties["id"] == id && (f.Properties["depth"] != 0.8 || f.Properties["crossing_type"] != "bridge" || f.Properties["category_name"] != "River crossing") {
			t.Errorf("the new observation in the export: %v", f.Properties)
		}
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 5 || kinds["logging-road"] != "MultiLineString " || kinds["river-crossing"] != "Point Point " {
		t.Errorf("the export: %s, %d features, %v", fc.Type, len(fc.Features), kinds)
	}
	// On a phone: the filter and the downloads wrap over the map; the
	// category tiles two or three a row.
	ph := newBrowser(t, 800, 900)
	ph.run(t, "open on a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch), chromedp.Navigate(url))
	ph.waitJS(t, "the phone's map", "window.fieldsync && window.fieldsync.markerCount() === 4 && window.fieldsync.trackCount() === 1", 20*time.Second)
	ph.screenshot(t, "ui-phone-fielddata")
	ph.js(t, `location.hash = '#/add'`)
	ph.waitJS(t, "the phone's picker", `document.querySelectorAll('#add-category .cat-choice').length === 4`, 20*time.Second)
	ph.run(t, "pick on the phone", chromedp.Click(chromedp.CSS(`#add-category .cat-choice[data-category="river-crossing"]`)))
	ph.waitJS(t, "the phone's fields", `document.querySelectorAll('#add-fields .field').length === 5`, 10*time.Second)
	ph.screenshot(t, "ui-phone-add")
	if errs := ph.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors on the phone: %q", errs)
	}

	// The creator imports the category file again from the Members view,
	// in Portuguese: the categories are renamed everywhere.
	b.js(t, `location.hash = '#/members'`)
	b.waitJS(t, "the categories listed", `document.querySelectorAll('#cats-list li').length === 4 && !document.querySelector('#cats-form').hidden &&
		document.querySelector('#cats-note').hidden`, 20*time.Second)
	catFile, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "categories", "rio-negro.comapeocat"))
	b.run(t, "choose the file", chromedp.SetUploadFiles(chromedp.CSS(`#cats-form input[name=file]`), []string{catFile}),
		chromedp.SendKeys(chromedp.CSS(`#cats-form input[name=lang]`), "pt"))
	b.js(t, `document.querySelector('#cats-submit').click()`)
	b.waitJS(t, "the import's result", `document.querySelector('#cats-status').className === 'ok' &&
		document.querySelector('#cats-status').textContent.includes('4 changed') &&
		(document.querySelector('#cats-list li[data-category="river-crossing"]') || {}).textContent.includes('Travessia de rio') &&
		[...document.querySelectorAll('#category-filter option')].some(o => o.textContent === 'Travessia de rio')`, 20*time.Second)
	b.js(t, `document.querySelector('#categories-section').scrollIntoView()`)
	b.screenshot(t, "ui-categories")
	r := fsRun(t, "categories", "--data", A)
	expectCode(t, r, 0, "categories")
	if !strings.Contains(r.stdout, "Travessia de rio") {
		t.Errorf("categories after the import from the page:\n%s", r.stdout)
	}

	// In Spanish: the app's words in Spanish, the category's in the
	// language of its set.
	es := newBrowser(t, 1280, 900, chromedp.Flag("lang", "es-PE"), chromedp.Flag("accept-lang", "es-PE,es"))
	es.run(t, "open in Spanish", chromedp.Navigate(url))
	es.js(t, `location.hash = '#/gallery'`)
	es.waitJS(t, "the gallery in Spanish", `window.fieldsync && window.fieldsync.lang() === 'es' && window.fieldsync.galleryCount() === 5 &&
		document.querySelector('#filter-label').textContent.trim().startsWith('Categoría') &&
		document.querySelector('#category-filter option').textContent === 'Todas las categorías' &&
		document.querySelector('#export-links').textContent.includes('Descargar:')`, 20*time.Second)
	es.js(t, `location.hash = '#/add'`)
	es.waitJS(t, "the add form in Spanish", `document.querySelector('#add-category legend').textContent === 'Categoría' &&
		document.querySelector('#add-category .cat-choice[data-category=""] .choice-name').textContent === 'Sin categoría'`, 20*time.Second)
	es.screenshot(t, "ui-spanish-add")
	if errs := es.pageErrors(); len(errs) > 0 {
		t.Errorf("page errors in Spanish: %q", errs)
	}

	// The one error answer the page got is the refusal above, which
	// Chromium logs as a failed load.
	var errs []string
	for _, e := range b.pageErrors() {
		if !strings.Contains(e, "status of 400") || !strings.Contains(e, "/api/observations/"+id+")") {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

func ptrTo[T any](v T) *T { return &v }
