package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// staticFS holds the front end: index.html, app.js, app.css and the
// vendored libraries (static/vendor, brought by vendor.sh).
//
//go:embed static
var staticFS embed.FS

// staticFile is an embedded file with its strong ETag (a hash of its bytes).
type staticFile struct {
	data []byte
	etag string
	mime string
}

// loadStatic reads every embedded file once, so each answer can carry an
// ETag and the browser revalidates (304) instead of downloading again.
func loadStatic() (map[string]*staticFile, error) {
	files := map[string]*staticFile{}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		mt := mime.TypeByExtension(path.Ext(p))
		if mt == "" {
			mt = "application/octet-stream"
		}
		files[p[len("static/"):]] = &staticFile{data: b, etag: `"` + hex.EncodeToString(sum[:16]) + `"`, mime: mt}
		return nil
	})
	return files, err
}

// serveStatic answers with the embedded file name, or 404.
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request, name string) {
	f := s.static[name]
	if f == nil {
		httpError(w, http.StatusNotFound, "no file %s", name)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.mime)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache") // revalidate: the files change with the binary
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}
