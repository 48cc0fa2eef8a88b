package ui

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

// Field data in the web app: the project's categories (GET
// /api/categories), the category filter of the lists and the map, a
// track's line (GET /api/observations/{id}/track) and the exports a GIS
// opens (GET /api/export/{geojson,csv,gpx}). Adding and editing with a
// category and field values go through the upload and the edit (upload.go,
// edit.go); the node checks every value against the category's field
// definitions before anything is written.

// noCategory is the filter value for observations without a category.
const noCategory = "-"

// filter is the category and kind filter of a list or the map.
type filter struct {
	category string // "" any, noCategory none, else that category's ID
	track    string // "" any, "0" no tracks, "1" tracks only
}

// listFilter reads ?category=ID (or "-" for none) and ?track=0|1.
func listFilter(q url.Values) (filter, error) {
	f := filter{category: q.Get("category"), track: q.Get("track")}
	if len(f.category) > 200 {
		return f, fmt.Errorf("category %.20q…: too long for a category ID", f.category)
	}
	if f.track != "" && f.track != "0" && f.track != "1" {
		return f, fmt.Errorf("track %q: want 0 or 1", f.track)
	}
	return f, nil
}

// apply returns the observations of list that pass f, in their order; list
// itself when f passes everything.
func (f filter) apply(list []*project.ObservationState) []*project.ObservationState {
	if f.category == "" && f.track == "" {
		return list
	}
	out := []*project.ObservationState{}
	for _, o := range list {
		if f.pass(o) {
			out = append(out, o)
		}
	}
	return out
}

func (f filter) pass(o *project.ObservationState) bool {
	switch f.category {
	case "":
	case noCategory:
		if o.Category != "" {
			return false
		}
	default:
		if o.Category != f.category {
			return false
		}
	}
	if f.track != "" && o.IsTrack() != (f.track == "1") {
		return false
	}
	return true
}

// trackJSON is a track as /api/map lists it: enough to list it and to ask
// for its line.
type trackJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Category string     `json:"category"`
	Points   int        `json:"points"`
	LengthM  float64    `json:"length_m"`
	Start    *time.Time `json:"start"`
	End      *time.Time `json:"end"`
	BBox     [4]float64 `json:"bbox"` // west, south, east, north
	Created  time.Time  `json:"created"`
}

// trackOf sums up the track attachments of o (usually one).
func trackOf(o *project.ObservationState) trackJSON {
	t := trackJSON{ID: o.ID, Category: o.Category, Created: o.Created.UTC()}
	first := true
	for _, a := range o.Attachments {
		if a.Kind != project.AttachTrack || a.Track == nil {
			continue
		}
		in := a.Track
		if t.Name == "" {
			t.Name = in.Name
		}
		t.Points += in.Points
		t.LengthM += in.Length
		if !in.Start.IsZero() && (t.Start == nil || in.Start.Before(*t.Start)) {
			s := in.Start.UTC()
			t.Start = &s
		}
		if !in.End.IsZero() && (t.End == nil || in.End.After(*t.End)) {
			e := in.End.UTC()
			t.End = &e
		}
		b := in.Bounds
		if first {
			t.BBox, first = b, false
		} else {
			t.BBox = [4]float64{min(t.BBox[0], b[0]), min(t.BBox[1], b[1]), max(t.BBox[2], b[2]), max(t.BBox[3], b[3])}
		}
	}
	return t
}

// handleCategories lists the project's categories: {"categories":
// [Category…]} in their order, icons as data: URLs; with ?all=1 the
// removed ones too (marked "removed"), whose observations keep them.
func (s *Server) handleCategories(w http.ResponseWriter, r *http.Request) {
	cs, err := s.cfg.Node.CategoryViews(r.Context(), r.URL.Query().Get("all") == "1")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "categories: %v", err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"categories": cs})
}

// geoFeature is a GeoJSON Feature (RFC 7946) of a track's line.
type geoFeature struct {
	Type       string         `json:"type"`
	Geometry   *geoGeometry   `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

type geoGeometry struct {
	Type        string `json:"type"`
	Coordinates any    `json:"coordinates"`
}

// handleTrack answers the line of observation id's track as a GeoJSON
// Feature: a LineString of its one segment, a MultiLineString of several
// (segments of a single point are left out; none left: a null geometry),
// positions as [lon, lat]. Its points blob not here yet gives 404 with
// its state, as a blob does.
func (s *Server) handleTrack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	o, ok := s.observationOr404(w, r, id)
	if !ok {
		return
	}
	var points []cid.Cid
	for _, a := range o.Attachments {
		if a.Kind == project.AttachTrack && a.Points != nil {
			points = append(points, a.Points.CID)
		}
	}
	if len(points) == 0 {
		httpError(w, http.StatusNotFound, "observation %s has no track", id)
		return
	}
	// The line changes only with the points blobs it is drawn from.
	sum := sha256.New()
	for _, c := range points {
		sum.Write(c.Bytes())
	}
	etag := `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var lines [][][2]float64
	for _, c := range points {
		t, err := s.cfg.Node.TrackPoints(r.Context(), c)
		if notExist(err) {
			st := s.cfg.Node.BlobState(r.Context(), c)
			w.Header().Del("ETag")
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "the points of track " + id + " are not on this device yet", "state": st.State, "percent": st.Percent()})
			return
		}
		if err != nil {
			w.Header().Del("ETag")
			httpError(w, http.StatusInternalServerError, "track %s: %v", id, err)
			return
		}
		for _, seg := range t.Segments {
			if len(seg) < 2 {
				continue
			}
			line := make([][2]float64, len(seg))
			for i, p := range seg {
				line[i] = [2]float64{p.Lon, p.Lat}
			}
			lines = append(lines, line)
		}
	}
	tr := trackOf(o)
	f := geoFeature{Type: "Feature", Properties: map[string]any{
		"id": id, "name": tr.Name, "category": tr.Category, "points": tr.Points, "length_m": tr.LengthM, "start": tr.Start, "end": tr.End,
	}}
	switch len(lines) {
	case 0:
	case 1:
		f.Geometry = &geoGeometry{Type: "LineString", Coordinates: lines[0]}
	default:
		f.Geometry = &geoGeometry{Type: "MultiLineString", Coordinates: lines}
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(f)
}

// exportFormats are the exports: the file's extension and media type, and
// the node's writer.
var exportFormats = map[string]struct {
	ext, mediaType string
	write          func(n *node.Node, ctx context.Context, w io.Writer, opts node.ExportOptions) (*node.ExportReport, error)
}{
	"geojson": {".geojson", "application/geo+json", (*node.Node).ExportGeoJSON},
	"csv":     {".csv", "text/csv; charset=utf-8; header=present", (*node.Node).ExportCSV},
	"gpx":     {".gpx", "application/gpx+xml", (*node.Node).ExportGPX},
}

// handleExport streams the project's observations and tracks as a file a
// GIS opens (package gis, through the node): GeoJSON, CSV or GPX, as a
// download named after the project and the day. ?category=ID exports that
// category's only; ?bom=1 starts a CSV with a byte order mark (for
// Excel). Nothing is written before the node has read what it exports,
// so a refusal (an unknown category) is a JSON error; a failure after the
// first byte aborts the response, so a download is never cut short
// silently.
func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	format := r.PathValue("format")
	ef, ok := exportFormats[format]
	if !ok {
		httpError(w, http.StatusNotFound, "no export %q: geojson, csv or gpx", format)
		return
	}
	q := r.URL.Query()
	opts := node.ExportOptions{Category: q.Get("category"), BOM: q.Get("bom") == "1"}
	info, _ := s.cfg.Node.Project()
	name := fileSlug(info.Name)
	if opts.Category != "" {
		name += "-" + fileSlug(opts.Category)
	}
	name += "-" + time.Now().UTC().Format("2006-01-02") + ef.ext
	lw := &lazyWriter{w: w, start: func() {
		h := w.Header()
		h.Set("Content-Type", ef.mediaType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
		h.Set("Cache-Control", "no-store")
	}}
	_, err := ef.write(s.cfg.Node, r.Context(), lw, opts)
	switch {
	case err == nil:
		if !lw.started {
			lw.Write(nil) // an empty file is still a file
		}
	case lw.started:
		s.log.Warn("export cut short", "format", format, "err", err)
		panic(http.ErrAbortHandler)
	case errors.Is(err, node.ErrUnknownCategory):
		httpError(w, http.StatusNotFound, "export: %s", strings.ReplaceAll(err.Error(), "project: ", ""))
	default:
		httpError(w, http.StatusInternalServerError, "export: %v", err)
	}
}

// lazyWriter sets the headers of a 200 at its first write, so that an
// error before any byte can still be answered with its own status.
type lazyWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
		l.w.WriteHeader(http.StatusOK)
	}
	return l.w.Write(p)
}

// fileSlug makes a project's name part of a file name: letters and digits
// kept (any script), runs of anything else one "-", at most 60 runes.
func fileSlug(s string) string {
	var b strings.Builder
	dash := false
	n := 0
	for _, r := range strings.ToLower(s) {
		if n >= 60 {
			break
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			dash = false
			n++
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
			n++
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	if out == "" {
		return "fieldsync"
	}
	return out
}

// fieldErrorJSON answers a refused category or field value with 400 and
// the node's words; a refused value also names its field ("field": key),
// so the page can point at it.
func fieldErrorJSON(w http.ResponseWriter, what string, err error) bool {
	if !errors.Is(err, node.ErrUnknownCategory) && !errors.Is(err, node.ErrCategoryKind) &&
		!errors.Is(err, node.ErrUnknownField) && !errors.Is(err, node.ErrFieldValue) {
		return false
	}
	out := map[string]any{"error": what + ": " + strings.ReplaceAll(err.Error(), "project: ", "") + "; nothing was stored"}
	var fe *node.FieldError
	if errors.As(err, &fe) {
		out["field"] = fe.Key
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusBadRequest, out)
	return true
}

// maxCategoryFile caps an uploaded category file.
const maxCategoryFile = 16 << 20

// handleImportCategories imports a category file uploaded from the page
// (multipart: "file", a .comapeocat or a presets JSON file; "lang", a
// translation to take; "merge" = "1" keeps the categories the file
// lacks), as `fieldsync categories import` does, with the same rule:
// only the creator and coordinators may (403 otherwise, before the file is
// read). It answers {"import": what was done, "categories": [...]}; a
// file that is not a category file gets 415, one that breaks its format
// 400, each with the reason, and nothing is written.
func (s *Server) handleImportCategories(w http.ResponseWriter, r *http.Request) {
	info, _ := s.cfg.Node.Project()
	if !info.Role.CanManage() {
		httpError(w, http.StatusForbidden, "this device may not change the categories: its role in the project is %s (the creator and coordinators may)", roleWord(info.Role))
		return
	}
	if code, why := s.busy(); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxCategoryFile+maxFormField*4)
	mr, err := r.MultipartReader()
	if err != nil {
		httpError(w, http.StatusBadRequest, "want a multipart form: %v", err)
		return
	}
	dir, err := os.MkdirTemp(s.cfg.Node.TempDir(), "categories-*")
	if err != nil {
		httpError(w, http.StatusInternalServerError, "spool the file: %v", err)
		return
	}
	defer os.RemoveAll(dir)
	var path, name string
	opts := node.CategoryImportOptions{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			httpError(w, http.StatusBadRequest, "read the form: %v", tooLarge(err, maxCategoryFile))
			return
		}
		switch part.FormName() {
		case "file":
			if part.FileName() == "" || path != "" {
				continue
			}
			name = safeName(part.FileName(), 0)
			path = filepath.Join(dir, name)
			f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				httpError(w, http.StatusInternalServerError, "spool the file: %v", err)
				return
			}
			n, err := io.Copy(f, io.LimitReader(part, maxCategoryFile+1))
			f.Close()
			if err == nil && n > maxCategoryFile {
				err = &http.MaxBytesError{Limit: maxCategoryFile}
			}
			if err != nil {
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					httpError(w, http.StatusRequestEntityTooLarge, "%s is over %d MiB: not a category file", name, maxCategoryFile>>20)
					return
				}
				httpError(w, http.StatusBadRequest, "read %s: %v", name, err)
				return
			}
		case "lang", "merge":
			b, err := io.ReadAll(io.LimitReader(part, 64))
			if err != nil {
				httpError(w, http.StatusBadRequest, "read the form: %v", err)
				return
			}
			if part.FormName() == "lang" {
				opts.Lang = strings.TrimSpace(string(b))
			} else {
				opts.Merge = strings.TrimSpace(string(b)) == "1"
			}
		default:
			_, _ = io.Copy(io.Discard, part)
		}
	}
	if path == "" {
		httpError(w, http.StatusBadRequest, "no file: choose a category file (.comapeocat, or a presets .json)")
		return
	}
	rep, err := s.cfg.Node.ImportCategories(r.Context(), path, opts)
	switch {
	case err == nil:
	case errors.Is(err, node.ErrNotAuthorized):
		httpError(w, http.StatusForbidden, "%v", err)
		return
	case errors.Is(err, node.ErrNotCategoryFile):
		httpError(w, http.StatusUnsupportedMediaType, "%v; nothing was imported", err)
		return
	case errors.Is(err, node.ErrInvalidCategoryFile), errors.Is(err, project.ErrMalformed):
		httpError(w, http.StatusBadRequest, "%v; nothing was imported", err)
		return
	default:
		httpError(w, http.StatusInternalServerError, "import categories: %v", err)
		return
	}
	rep.Path = name
	s.recordsChanged()
	cs, err := s.cfg.Node.CategoryViews(r.Context(), false)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "categories: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"import": rep, "categories": cs})
}
