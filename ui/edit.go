package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/fieldsync/fieldsync/view"
	"github.com/ipfs/go-cid"
)

// maxJSONBody caps the JSON body of an edit, a keep or a role change
// (notes, the longest field, are at most 16 KiB).
const maxJSONBody = 256 << 10

// readJSON decodes the request's body, one JSON object with only the
// fields of v, or answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		if _, e := dec.Token(); e != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			httpError(w, http.StatusRequestEntityTooLarge, "body over %d KiB", maxJSONBody>>10)
			return false
		}
		httpError(w, http.StatusBadRequest, "want a JSON object: %v", err)
		return false
	}
	return true
}

// maxEditFields caps the field values of one edit (a category has at most
// 64 fields).
const maxEditFields = 64

// editBody is PATCH /api/observations/{id}: only the fields given change.
type editBody struct {
	Notes          *string   `json:"notes"`
	Tags           *[]string `json:"tags"`
	Lat            *float64  `json:"lat"`
	Lon            *float64  `json:"lon"`
	RemovePosition bool      `json:"remove_position"`
	// Deleted false restores a deleted observation (any edit does);
	// true is refused: DELETE deletes.
	Deleted *bool `json:"deleted"`
	// Category sets the observation's category ("" removes it); Fields
	// sets field values by key: a string as a person types it, a number,
	// or an array of option values (select many); "", null or [] removes
	// one. The node checks each against the category's field.
	Category *string                    `json:"category"`
	Fields   map[string]json.RawMessage `json:"fields"`
}

// fieldList reads one field value of an edit's JSON that is an array of
// strings (ok), as the node reads a list (node.Edit.FieldLists); [] is
// no item (remove).
func fieldList(key string, raw json.RawMessage) (list []string, ok bool, err error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '[' {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false, fmt.Errorf("field %q: a list holds strings only", key)
	}
	return list, true, nil
}

// fieldText turns one field value of an edit's JSON into the text the
// node reads (node.Edit.Fields): a string as it is, a number in its
// shortest form, an array of strings joined with "; "; null and [] are
// "" (remove).
func fieldText(key string, raw json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("field %q: %v", key, err)
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case []any:
		items := make([]string, 0, len(v))
		for _, it := range v {
			s, ok := it.(string)
			if !ok {
				return "", fmt.Errorf("field %q: a list holds strings only", key)
			}
			items = append(items, s)
		}
		return strings.Join(items, "; "), nil
	}
	return "", fmt.Errorf("field %q: want a string, a number or a list of strings", key)
}

// edit checks the body and turns it into the node's edit, or says what is
// wrong with it (a 400).
func (b *editBody) edit() (node.Edit, error) {
	var e node.Edit
	if b.Deleted != nil && *b.Deleted {
		return e, errors.New(`"deleted": true is not an edit: send DELETE /api/observations/ID to delete`)
	}
	if b.Notes == nil && b.Tags == nil && b.Lat == nil && b.Lon == nil && !b.RemovePosition && b.Deleted == nil && b.Category == nil && len(b.Fields) == 0 {
		return e, errors.New(`nothing to change: give notes, tags, lat and lon, remove_position, category or fields`)
	}
	if len(b.Fields) > maxEditFields {
		return e, fmt.Errorf("%d field values: at most %d", len(b.Fields), maxEditFields)
	}
	if b.Category != nil {
		c := strings.TrimSpace(*b.Category)
		e.Category = &c
	}
	for k, raw := range b.Fields {
		if list, ok, err := fieldList(k, raw); err != nil {
			return e, err
		} else if ok {
			// A select many's options, each whole: one holding ";"
			// stays one.
			if e.FieldLists == nil {
				e.FieldLists = map[string][]string{}
			}
			e.FieldLists[k] = list
			continue
		}
		s, err := fieldText(k, raw)
		if err != nil {
			return e, err
		}
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[k] = s
	}
	if (b.Lat == nil) != (b.Lon == nil) {
		return e, errors.New("give both lat and lon, or neither")
	}
	if b.Lat != nil {
		if b.RemovePosition {
			return e, errors.New("give a position (lat and lon) or remove_position, not both")
		}
		la, lo := *b.Lat, *b.Lon
		if math.IsNaN(la) || math.IsNaN(lo) || la < -90 || la > 90 || lo < -180 || lo > 180 {
			return e, fmt.Errorf("position %v, %v: want a latitude in [-90, 90] and a longitude in [-180, 180]", la, lo)
		}
		e.Position = &project.Position{Lat: la, Lon: lo}
	}
	e.RemovePosition = b.RemovePosition
	if b.Notes != nil {
		notes := strings.TrimSpace(*b.Notes)
		e.Notes = &notes
	}
	if b.Tags != nil {
		tags := []string{}
		seen := map[string]bool{}
		for _, t := range *b.Tags {
			if t = strings.TrimSpace(t); t != "" && !seen[t] {
				seen[t] = true
				tags = append(tags, t)
			}
		}
		e.Tags = &tags
	}
	return e, nil
}

// handleEdit signs a new version of an observation with the body's
// changes. An edit of a deleted observation restores it.
func (s *Server) handleEdit(w http.ResponseWriter, r *http.Request) {
	if code, why := s.writable("edit observations"); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	var b editBody
	if !readJSON(w, r, &b) {
		return
	}
	e, err := b.edit()
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	id := r.PathValue("id")
	st, ok := s.observationOr404(w, r, id)
	if !ok {
		return
	}
	if b.Deleted != nil && !st.Deleted && b.Notes == nil && b.Tags == nil && b.Lat == nil && !b.RemovePosition && b.Category == nil && len(b.Fields) == 0 {
		httpError(w, http.StatusConflict, "observation %s is not deleted: there is nothing to restore", id)
		return
	}
	if _, err := s.cfg.Node.Edit(r.Context(), id, e); err != nil {
		s.writeError(w, "edit", id, err)
		return
	}
	s.recordsChanged()
	s.writeDetail(w, r, id)
}

// handleDelete signs a version of the observation marked deleted.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	if code, why := s.writable("delete observations"); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	id := r.PathValue("id")
	st, ok := s.observationOr404(w, r, id)
	if !ok {
		return
	}
	if st.Deleted {
		httpError(w, http.StatusConflict, `observation %s is already deleted (PATCH with {"deleted": false} restores it)`, id)
		return
	}
	if _, err := s.cfg.Node.Delete(r.Context(), id); err != nil {
		s.writeError(w, "delete", id, err)
		return
	}
	s.recordsChanged()
	s.writeDetail(w, r, id)
}

// handleKeep signs a new version with the content of one of the
// observation's versions: "keep this one" in a fork, or a return to an
// older version.
func (s *Server) handleKeep(w http.ResponseWriter, r *http.Request) {
	if code, why := s.writable("edit observations"); why != "" {
		httpError(w, code, "%s", why)
		return
	}
	var b struct {
		Record string `json:"record"`
	}
	if !readJSON(w, r, &b) {
		return
	}
	if b.Record == "" {
		httpError(w, http.StatusBadRequest, `give "record": the CID of the version to keep`)
		return
	}
	c, err := cid.Decode(b.Record)
	if err != nil {
		httpError(w, http.StatusBadRequest, "record %q is not a CID: %v", b.Record, err)
		return
	}
	id := r.PathValue("id")
	st, ok := s.observationOr404(w, r, id)
	if !ok {
		return
	}
	hist, err := s.cfg.Node.History(r.Context(), id)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if !hasVersion(hist, c) {
		httpError(w, http.StatusNotFound, "observation %s has no version %s on this device", id, c)
		return
	}
	if c == st.Head && st.Heads == 1 {
		httpError(w, http.StatusConflict, "version %s is already the observation's state: there is nothing to keep", c)
		return
	}
	if _, err := s.cfg.Node.Keep(r.Context(), id, c); err != nil {
		s.writeError(w, "edit", id, err)
		return
	}
	s.recordsChanged()
	s.writeDetail(w, r, id)
}

func hasVersion(hist []project.Version, c cid.Cid) bool {
	for _, v := range hist {
		if v.CID == c {
			return true
		}
	}
	return false
}

// observationOr404 returns observation id, or answers 404 (or 500).
func (s *Server) observationOr404(w http.ResponseWriter, r *http.Request, id string) (*project.ObservationState, bool) {
	st, err := s.cfg.Node.Observation(r.Context(), id)
	if errors.Is(err, node.ErrNotFound) {
		httpError(w, http.StatusNotFound, "no observation %q on this device", id)
		return nil, false
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return nil, false
	}
	return st, true
}

// writeError answers a failed change of observation id with a status that
// fits.
func (s *Server) writeError(w http.ResponseWriter, what, id string, err error) {
	if fieldErrorJSON(w, what+" observation "+id+" refused", err) {
		return
	}
	switch {
	case errors.Is(err, node.ErrNotFound):
		httpError(w, http.StatusNotFound, "no observation %q on this device", id)
	case errors.Is(err, project.ErrMalformed):
		httpError(w, http.StatusBadRequest, "%s observation %s refused: %s", what, id, strings.ReplaceAll(err.Error(), "project: ", ""))
	case errors.Is(err, project.ErrBlocked), errors.Is(err, project.ErrNotMember):
		httpError(w, http.StatusForbidden, "this device may not %s observations: %s", what, strings.ReplaceAll(err.Error(), "project: ", ""))
	case errors.Is(err, node.ErrBusy):
		_, why := s.busy()
		httpError(w, http.StatusServiceUnavailable, "%s", why)
	default:
		httpError(w, http.StatusInternalServerError, "%s observation %s: %v", what, id, err)
	}
}

// writeDetail answers with observation id and its history, as GET
// /api/observations/{id} does.
func (s *Server) writeDetail(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	o, err := s.cfg.Node.Observation(ctx, id)
	if errors.Is(err, node.ErrNotFound) {
		httpError(w, http.StatusNotFound, "no observation %q on this device", id)
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	hist, err := s.cfg.Node.History(ctx, id)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	vs := make([]view.Version, 0, len(hist))
	for _, v := range hist {
		vs = append(vs, v.JSON())
	}
	j := s.cfg.Node.View(ctx, o, true)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"observation": j, "history": vs})
}
