package ui

import (
	"errors"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/thumbs"
)

// maxFormField caps a text field of the upload form (notes are the longest).
const maxFormField = 64 << 10

// maxUploadFiles caps the photos of one observation.
const maxUploadFiles = 64

// uploadError is a refusal with its HTTP status.
type uploadError struct {
	code int
	msg  string
}

func (e *uploadError) Error() string { return e.msg }

func refuse(code int, format string, args ...any) error {
	return &uploadError{code, fmt.Sprintf(format, args...)}
}

// upload is a parsed upload form: photos spooled to files in dir.
type upload struct {
	dir      string
	paths    []string
	tags     string // comma-separated
	notes    string
	lat, lon string
	mtimes   string // comma-separated Unix ms, one per file (the browser's File.lastModified)
	category string
	// fields are the values of the category's fields by key, from the
	// form's "field.KEY" parts: several parts of one key (select many)
	// in their order.
	fields map[string][]string
}

// maxFieldParts caps the "field.KEY" parts of one form.
const maxFieldParts = 1024

// fieldValues is the form's field values as the node reads them
// (node.ImportOptions.FieldLists): the parts of one key as a list, each
// whole (a select many's options: one holding ";" stays one), empty ones
// left out (a field left empty is not answered).
func (up *upload) fieldValues() map[string][]string {
	out := map[string][]string{}
	for k, vs := range up.fields {
		var keep []string
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			out[k] = keep
		}
	}
	return out
}

// tagList is the form's tags, trimmed, without empty ones.
func (up *upload) tagList() []string {
	var out []string
	for _, t := range strings.Split(up.tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// handleUpload makes one observation from the photos of a multipart form,
// through the same import path as `fieldsync add`, with its category and
// field values if the form gives them; without photos, an observation of
// records only (a category, a note, a position). The whole form is read
// and checked before anything is stored: a file that is not a photo, a
// form over the size cap, a bad field or a field value its category does
// not take stores nothing.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if code, why := s.writable("add observations"); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	up, err := s.readUpload(w, r)
	if up != nil && up.dir != "" {
		defer os.RemoveAll(up.dir)
	}
	if err != nil {
		var ue *uploadError
		if errors.As(err, &ue) {
			httpError(w, ue.code, "%s", ue.msg)
			return
		}
		// The photos are spooled in the data directory, then stored
		// there: about twice the form's size.
		if diskFull(w, s.cfg.Node.NoSpace(err, 2*max(r.ContentLength, 0))) {
			return
		}
		httpError(w, http.StatusBadRequest, "read upload: %v", err)
		return
	}
	opts := node.ImportOptions{Tags: up.tagList(), Notes: up.notes, RequireVariants: true, Category: up.category, FieldLists: up.fieldValues()}
	if len(up.paths) == 0 && up.category == "" && up.notes == "" && len(opts.Tags) == 0 && up.lat == "" && up.lon == "" {
		httpError(w, http.StatusBadRequest, "nothing to add: choose one or more photos, or give a category, a note, tags or a position")
		return
	}
	if up.lat != "" || up.lon != "" {
		pos, err := parsePosition(up.lat, up.lon)
		if err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		opts.Position = pos
	}
	rec, err := s.cfg.Node.Add(r.Context(), up.paths, opts)
	if err != nil {
		if fieldErrorJSON(w, "observation refused", err) || diskFull(w, err) {
			return
		}
		var ue *uploadError
		if errors.As(noVariants(err), &ue) {
			httpError(w, ue.code, "%s", ue.msg)
			return
		}
		code := http.StatusInternalServerError
		if errors.Is(err, project.ErrMalformed) {
			code = http.StatusBadRequest
		}
		httpError(w, code, "%v", err)
		return
	}
	s.recordsChanged()
	st := &project.ObservationState{Observation: *rec.Observation, Head: rec.CID, Author: rec.Author, Heads: 1}
	writeJSON(w, http.StatusCreated, map[string]any{"observation": s.cfg.Node.View(r.Context(), st, false)})
}

// writable says whether this device may add or change observations from
// the browser, in words about what (e.g. "add observations"): "" if so,
// else the HTTP status and the reason: its role (403), or a store this
// process may not write (503: another process holds it).
func (s *Server) writable(what string) (int, string) {
	if info, _ := s.cfg.Node.Project(); !info.Role.CanWrite() {
		return http.StatusForbidden, fmt.Sprintf("this device may not %s: its role in the project is %s (the creator, coordinators and members may)", what, roleWord(info.Role))
	}
	return s.busy()
}

// busy is 503 and the reason when another process holds the data
// directory, so that this web app only reads it.
func (s *Server) busy() (int, string) {
	if errors.Is(s.cfg.Node.Writable(), node.ErrBusy) {
		return http.StatusServiceUnavailable, "another fieldsync process (serve?) holds this data directory, so this web app only reads it; to add or change anything from the browser, stop it and run 'fieldsync serve --ui'"
	}
	return 0, ""
}

// roleWord names a role in a sentence.
func roleWord(r project.Role) string {
	if r == project.RoleNone {
		return "not a member"
	}
	return string(r)
}

func parsePosition(lat, lon string) (*project.Position, error) {
	la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	if err1 != nil || err2 != nil || math.IsNaN(la) || math.IsNaN(lo) || la < -90 || la > 90 || lo < -180 || lo > 180 {
		return nil, fmt.Errorf("position %q, %q: want a latitude in [-90, 90] and a longitude in [-180, 180], or neither", lat, lon)
	}
	return &project.Position{Lat: la, Lon: lo}, nil
}

// readUpload spools the form's files into a new directory, checking each
// one's first bytes, and reads its fields.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (*upload, error) {
	limit := s.cfg.MaxUpload
	if r.ContentLength > limit+maxFormField*4 {
		return nil, refuse(http.StatusRequestEntityTooLarge, "upload of %d bytes is over the limit of %d MiB", r.ContentLength, limit>>20)
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+maxFormField*4)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "want a multipart form: %v", err)
	}
	dir, err := os.MkdirTemp(s.cfg.Node.TempDir(), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool upload: %w", err)
	}
	up := &upload{dir: dir, fields: map[string][]string{}}
	fields := map[string]*string{"tags": &up.tags, "notes": &up.notes, "lat": &up.lat, "lon": &up.lon, "mtimes": &up.mtimes, "category": &up.category}
	var total int64
	parts := 0
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return up, tooLarge(err, limit)
		}
		switch name := part.FormName(); {
		case name == "files":
			if part.FileName() == "" {
				continue // an empty file input
			}
			if len(up.paths) == maxUploadFiles {
				return up, refuse(http.StatusBadRequest, "more than %d files in one observation", maxUploadFiles)
			}
			n, path, err := s.spool(part, dir, len(up.paths), limit-total)
			if err != nil {
				return up, tooLarge(err, limit)
			}
			total += n
			up.paths = append(up.paths, path)
		case fields[name] != nil:
			b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
			if err != nil {
				return up, tooLarge(err, limit)
			}
			if len(b) > maxFormField || !utf8.Valid(b) {
				return up, refuse(http.StatusBadRequest, "field %s: over %d KiB or not UTF-8", name, maxFormField>>10)
			}
			*fields[name] = strings.TrimSpace(string(b))
		case strings.HasPrefix(name, "field."):
			if parts++; parts > maxFieldParts {
				return up, refuse(http.StatusBadRequest, "more than %d field values in one form", maxFieldParts)
			}
			b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
			if err != nil {
				return up, tooLarge(err, limit)
			}
			if len(b) > maxFormField || !utf8.Valid(b) {
				return up, refuse(http.StatusBadRequest, "field %s: over %d KiB or not UTF-8", name, maxFormField>>10)
			}
			key := strings.TrimPrefix(name, "field.")
			up.fields[key] = append(up.fields[key], string(b))
		default:
			_, _ = io.Copy(io.Discard, part)
		}
	}
	up.setTimes()
	return up, nil
}

// setTimes gives each spooled file the modification time the browser
// reported for it, so that a photo without an EXIF time is dated as the
// file was, not as the upload. Times that are missing or not plausible
// (before 1990, or more than a day ahead) are left alone.
func (up *upload) setTimes() {
	if up.mtimes == "" {
		return
	}
	lo, hi := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(24*time.Hour)
	for i, f := range strings.Split(up.mtimes, ",") {
		if i >= len(up.paths) {
			return
		}
		ms, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil {
			continue
		}
		if t := time.UnixMilli(ms); t.After(lo) && t.Before(hi) {
			_ = os.Chtimes(up.paths[i], t, t)
		}
	}
}

// spool writes one uploaded file into dir, refusing it at its first bytes
// if it is not a photo fieldsync can make variants of.
func (s *Server) spool(part *multipart.Part, dir string, i int, room int64) (int64, string, error) {
	name := safeName(part.FileName(), i)
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return 0, "", err
	}
	head = head[:n]
	if n == 0 {
		// The words of 'fieldsync import' for the file it skips.
		return 0, "", refuse(http.StatusBadRequest, "%s: %s; nothing was stored", name, strings.TrimPrefix(node.ErrSkipEmpty.Error(), "ingest: "))
	}
	mt, ok := thumbs.Sniff(head)
	if !ok {
		if mt == "application/octet-stream" {
			mt = http.DetectContentType(head)
		}
		return 0, "", refuse(http.StatusUnsupportedMediaType,
			"%s is not a photo fieldsync can show (it looks like %s); nothing was stored (the browser takes JPEG, PNG, GIF and WebP photos; add other files with 'fieldsync add')", name, mt)
	}
	// One directory per file keeps the uploaded name (the attachment's
	// name) even when two files share it.
	sub := filepath.Join(dir, strconv.Itoa(i))
	if err := os.Mkdir(sub, 0o700); err != nil {
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	path := filepath.Join(sub, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	defer f.Close()
	if int64(n) > room {
		return 0, "", &http.MaxBytesError{}
	}
	if _, err := f.Write(head); err != nil {
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	m, err := io.Copy(f, io.LimitReader(part, room-int64(n)+1))
	if err != nil {
		return 0, "", err
	}
	if int64(n)+m > room {
		return 0, "", &http.MaxBytesError{}
	}
	if err := f.Close(); err != nil {
		return 0, "", fmt.Errorf("spool upload: %w", err)
	}
	return int64(n) + m, path, nil
}

// noVariants turns the refusal of a photo that cannot have variants
// (node.ImportOptions.RequireVariants) into the upload's words: a photo
// whose header declares more pixels than the limit (a decompression bomb,
// thumbs.ErrTooLarge) or that does not decode (thumbs.ErrCorrupt) gets
// 422, a type fieldsync cannot show 415; nothing is stored. The import
// would keep such a file as an attachment without variants, a photo the
// browser can never show; the web app takes photos only.
func noVariants(err error) error {
	why := err.Error()
	for _, p := range []string{"thumbs: ", "ingest: "} {
		why = strings.ReplaceAll(why, p, "")
	}
	why = strings.TrimPrefix(why, "import ")
	if i := strings.LastIndex(why[:max(0, strings.Index(why, ": "))], "/"); i >= 0 {
		why = why[i+1:] // the spooled file's path: its name is enough
	}
	switch {
	case errors.Is(err, thumbs.ErrTooLarge), errors.Is(err, thumbs.ErrCorrupt):
		return refuse(http.StatusUnprocessableEntity,
			"%s; nothing was stored (the browser takes photos fieldsync can make a thumbnail of; 'fieldsync add' keeps any file as it is, without one)", why)
	case errors.Is(err, thumbs.ErrUnsupported):
		return refuse(http.StatusUnsupportedMediaType,
			"%s; nothing was stored (the browser takes JPEG, PNG, GIF and WebP photos; add other files with 'fieldsync add')", why)
	}
	return err
}

// diskFull answers 507 Insufficient Storage if err is a full disk
// (*node.SpaceError), in the words of 'fieldsync add': which disk, about
// how much more is needed and how much is free, that nothing was stored,
// and what to do. It reports whether it answered.
func diskFull(w http.ResponseWriter, err error) bool {
	var se *node.SpaceError
	if !errors.As(err, &se) {
		return false
	}
	msg := fmt.Sprintf("the disk holding %s is full: this upload needs about %s more", se.Dir, humanBytes(max(se.Need, 0)))
	if se.Free >= 0 {
		msg += fmt.Sprintf(" and %s is free", humanBytes(se.Free))
	}
	httpError(w, http.StatusInsufficientStorage, "%s; nothing was stored. Free some space on it, then add the observation again", msg)
	return true
}

// humanBytes formats a byte count as the command does: "512 B", "1.5 MiB".
func humanBytes(n int64) string { return node.Bytes(n) }

func tooLarge(err error, limit int64) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return refuse(http.StatusRequestEntityTooLarge, "upload is over the limit of %d MiB; nothing was stored", limit>>20)
	}
	return err
}

// safeName keeps the base of an uploaded file's name, for the attachment's
// name: valid UTF-8, no path separators or control characters, not hidden,
// at most maxName bytes (cut at the front, so the extension stays).
func safeName(name string, i int) string {
	const maxName = 200
	name = strings.ToValidUTF8(name, "_")
	name = filepath.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' {
			return -1
		}
		return r
	}, name)
	for len(name) > maxName {
		_, n := utf8.DecodeRuneInString(name)
		name = name[n:]
	}
	if name == "" || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		ext := filepath.Ext(name)
		if len(ext) > 10 || ext == name {
			ext = ""
		}
		name = fmt.Sprintf("photo-%d%s", i+1, ext)
	}
	return name
}
