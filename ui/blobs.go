package ui

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
)

// inlineTypes are the media types a page may show inline. Anything else
// (HTML, SVG, scripts, unknown) is sent as a download, never rendered as a
// page of this origin.
func inlineType(mt string) bool {
	switch {
	case mt == "image/jpeg", mt == "image/png", mt == "image/gif", mt == "image/webp",
		mt == "image/avif", mt == "image/heic", mt == "image/heif":
		return true
	case strings.HasPrefix(mt, "audio/"), strings.HasPrefix(mt, "video/"):
		return true
	}
	return false
}

// handleBlob serves a blob by CID: strong ETag (the CID: the bytes can never
// change), immutable caching, byte ranges, and the content type the record
// gives, never sniffed.
func (s *Server) handleBlob(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("cid")
	c, err := cid.Decode(raw)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%q is not a CID: %v", raw, err)
		return
	}
	ctx := r.Context()
	etag := `"` + c.String() + `"`
	if r.Header.Get("If-None-Match") == etag {
		// The bytes under a CID never change: no need to look.
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	rc, err := s.cfg.Node.OpenBlob(ctx, c)
	if err != nil {
		if notExist(err) {
			st := s.cfg.Node.BlobState(ctx, c)
			msg := "not on this device"
			if st.State == "partial" {
				msg = "arriving: " + strconv.Itoa(st.Percent()) + " % here"
			}
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusNotFound, map[string]any{"error": "blob " + c.String() + " " + msg, "state": st.State, "percent": st.Percent()})
			return
		}
		httpError(w, http.StatusInternalServerError, "read blob %s: %v", c, err)
		return
	}
	defer rc.Close()
	mt := ""
	name := ""
	if ix, err := s.index(ctx); err == nil {
		mt, name = ix.media[c], ix.names[c]
	}
	if mt == "" {
		if in, err := s.cfg.Node.StatBlob(ctx, c); err == nil {
			mt = in.MediaType
		}
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	// A blob is data, never a document of this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if inlineType(mt) {
		h.Set("Content-Type", mt)
	} else {
		h.Set("Content-Type", "application/octet-stream")
		if name == "" {
			name = c.String()
		}
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	}
	if rs, ok := rc.(io.ReadSeeker); ok {
		http.ServeContent(w, r, "", time.Time{}, rs)
		return
	}
	_, _ = io.Copy(w, rc) // not seekable: no ranges, the whole blob
}
