package ui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
	"github.com/ipfs/go-cid"
)

// index is every observation as it stands, newest first, kept in memory so
// that paging, the map and media types cost no database round trip. An
// index is never changed once published (pages read it without a lock);
// when records arrive the next request gets a new one, made by updating
// only the observations that changed (project.ChangesSince), or rebuilt
// whole after a membership change.
type index struct {
	mark   int64
	all    []*project.ObservationState // not deleted; by Created desc, then ID
	placed []*project.ObservationState
	other  []*project.ObservationState // without a position (tracks among them)
	tracks []*project.ObservationState // those with a track
	media  map[cid.Cid]string          // variant CID → media type from the record
	names  map[cid.Cid]string          // original CID → file name
}

type indexCache struct {
	mu  sync.Mutex
	cur *index
}

// maxIncremental is the most changed observations applied one by one;
// beyond it the index is rebuilt whole.
const maxIncremental = 2000

// index returns the current index, updated if records arrived.
func (s *Server) index(ctx context.Context) (*index, error) {
	c := &s.idx
	c.mu.Lock()
	defer c.mu.Unlock()
	mark := int64(0)
	if c.cur != nil {
		mark = c.cur.mark
	}
	ids, all, next, err := s.cfg.Node.ChangesSince(ctx, mark)
	if err != nil {
		return nil, err
	}
	switch {
	case c.cur != nil && !all && len(ids) == 0:
		return c.cur, nil
	case c.cur == nil || all || len(ids) > maxIncremental:
		obs, err := s.cfg.Node.Observations(ctx, project.ObservationQuery{})
		if err != nil {
			return nil, err
		}
		ix := &index{mark: next, media: map[cid.Cid]string{}, names: map[cid.Cid]string{}}
		ix.all = make([]*project.ObservationState, len(obs))
		for i := range obs {
			ix.all[i] = &obs[i]
			ix.addMedia(&obs[i])
		}
		ix.split()
		c.cur = ix
		return ix, nil
	}
	ix := &index{mark: next, media: maps.Clone(c.cur.media), names: maps.Clone(c.cur.names)}
	changed := map[string]bool{}
	for _, id := range ids {
		changed[id] = true
	}
	ix.all = slices.DeleteFunc(slices.Clone(c.cur.all), func(o *project.ObservationState) bool { return changed[o.ID] })
	for _, id := range ids {
		o, err := s.cfg.Node.Observation(ctx, id)
		if errors.Is(err, node.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if o.Deleted {
			continue
		}
		i, _ := slices.BinarySearchFunc(ix.all, o, newestFirst)
		ix.all = slices.Insert(ix.all, i, o)
		ix.addMedia(o)
	}
	ix.split()
	c.cur = ix
	return ix, nil
}

// newestFirst is the index's order: Created descending, then ID.
func newestFirst(a, b *project.ObservationState) int {
	if c := b.Created.Compare(a.Created); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

func (ix *index) split() {
	for _, o := range ix.all {
		if o.Position != nil {
			ix.placed = append(ix.placed, o)
		} else {
			ix.other = append(ix.other, o)
		}
		if o.IsTrack() {
			ix.tracks = append(ix.tracks, o)
		}
	}
}

func (ix *index) addMedia(o *project.ObservationState) {
	for _, a := range o.Attachments {
		for _, v := range a.Variants() {
			ix.media[v.CID] = a.MediaTypeOf(v.Name)
		}
		if a.Original != nil {
			ix.names[a.Original.CID] = a.Name
		}
	}
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	csrf, _ := s.session(r)
	n := s.cfg.Node
	info, _ := n.Project()
	_, readOnly := s.writable("add or edit observations")
	_, busy := s.busy()
	out := map[string]any{
		"project": map[string]any{"id": info.ID, "name": info.Name},
		"device": map[string]any{"id": n.ID().String(), "role": string(info.Role), "canWrite": readOnly == "", "readOnly": readOnly,
			"canManage": info.Role.CanManage() && busy == "", "blocked": n.Blocked(r.Context())},
		"csrf":    csrf,
		"basemap": nil,
		"syncing": n.Running(),
	}
	if s.tiles != nil {
		out["basemap"] = s.tiles.meta
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// Paging: the cursor is the last item's Created (Unix ms) and ID; the next
// page starts after it in the index's order (Created desc, then ID asc).
func cursorOf(o *project.ObservationState) string {
	return strconv.FormatInt(o.Created.UnixMilli(), 10) + "." + o.ID
}

func after(list []*project.ObservationState, cursor string) (int, error) {
	msStr, id, ok := strings.Cut(cursor, ".")
	ms, err := strconv.ParseInt(msStr, 10, 64)
	if !ok || err != nil {
		return 0, fmt.Errorf("bad cursor %q", cursor)
	}
	probe := &project.ObservationState{}
	probe.ID, probe.Created = id, time.UnixMilli(ms)
	i, found := slices.BinarySearchFunc(list, probe, newestFirst)
	if found {
		i++
	}
	return i, nil
}

const (
	defaultPage = 60
	maxPage     = 500
)

func (s *Server) handleObservations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			httpError(w, http.StatusBadRequest, "limit %q: want a positive number", v)
			return
		}
		limit = min(n, maxPage)
	}
	ix, err := s.index(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, "list observations: %v", err)
		return
	}
	if v := q.Get("ids"); v != "" {
		s.observationsByID(w, r, ix, strings.Split(v, ","))
		return
	}
	list := ix.all
	switch q.Get("placed") {
	case "":
	case "0":
		list = ix.other
	case "1":
		list = ix.placed
	default:
		httpError(w, http.StatusBadRequest, "placed %q: want 0 or 1", q.Get("placed"))
		return
	}
	f, err := listFilter(q)
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	list = f.apply(list)
	start := 0
	if c := q.Get("cursor"); c != "" {
		if start, err = after(list, c); err != nil {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	end := min(start+limit, len(list))
	next := ""
	if end < len(list) {
		next = cursorOf(list[end-1])
	}
	s.writePage(w, r, list[start:end], next, len(list))
}

// writePage answers a list of observations: {"items", "next", "total"}.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, list []*project.ObservationState, next string, total int) {
	items := s.cfg.Node.Views(r.Context(), list, false)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next": next, "total": total})
}

// observationsByID answers ?ids=: those of the observations that exist and
// are not deleted, in the index's order (an ID missing from the answer is
// gone). An `observations` event names the IDs to ask for.
func (s *Server) observationsByID(w http.ResponseWriter, r *http.Request, ix *index, ids []string) {
	if len(ids) > maxPage {
		httpError(w, http.StatusBadRequest, "%d ids: at most %d at a time", len(ids), maxPage)
		return
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var list []*project.ObservationState
	for _, o := range ix.all {
		if want[o.ID] {
			list = append(list, o)
		}
	}
	s.writePage(w, r, list, "", len(list))
}

func (s *Server) handleObservation(w http.ResponseWriter, r *http.Request) {
	s.writeDetail(w, r, r.PathValue("id"))
}

func (s *Server) handleMap(w http.ResponseWriter, r *http.Request) {
	ix, err := s.index(r.Context())
	if err != nil {
		httpError(w, http.StatusInternalServerError, "map: %v", err)
		return
	}
	f, err := listFilter(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	placed := f.apply(ix.placed)
	pts := make([][4]any, len(placed))
	for i, o := range placed {
		pts[i] = [4]any{o.Position.Lat, o.Position.Lon, o.ID, o.Category}
	}
	tracks := []trackJSON{}
	for _, o := range f.apply(ix.tracks) {
		tracks = append(tracks, trackOf(o))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"points": pts, "unplaced": len(ix.other), "tracks": tracks})
}

// Sync view.

type classJSON struct {
	FilesDone   int   `json:"filesDone"`
	FilesWanted int   `json:"filesWanted"`
	BytesDone   int64 `json:"bytesDone"`
	BytesWanted int64 `json:"bytesWanted"`
}

type peerJSON struct {
	ID       string  `json:"id"`
	State    string  `json:"state"`
	Reason   string  `json:"reason,omitempty"`
	Rate     float64 `json:"rate"`
	Received int64   `json:"received"`
	Sent     int64   `json:"sent"`
	InFlight int     `json:"inFlight"`
	Path     string  `json:"path,omitempty"` // lan, direct, relayed; "" when not connected
}

// archiveJSON is what one of the project's always-on devices holds of
// the files this device holds: live while syncing with it, else what it
// confirmed at the last sync.
type archiveJSON struct {
	ID           string `json:"id"`
	Held         int    `json:"held"`
	Lacking      int    `json:"lacking"`
	BytesLacking int64  `json:"bytesLacking"`
	Live         bool   `json:"live"`    // connected now (else: as of the last sync)
	Checked      bool   `json:"checked"` // live: asked since the sync began (before, the counts are not known yet)
}

type syncJSON struct {
	Running  bool                 `json:"running"`
	Complete bool                 `json:"complete"`
	Idle     bool                 `json:"idle"`
	Rate     float64              `json:"rate"`
	ETA      float64              `json:"eta"`
	Records  map[string]uint64    `json:"records"`
	Classes  map[string]classJSON `json:"classes"`
	Peers    []peerJSON           `json:"peers"`
	Archives []archiveJSON        `json:"archives"`
	// Reach is whether this device can be reached from the internet,
	// while its network runs here or in a serve (node.Reachability):
	// state (reachable, behind-nat, unknown), the addresses of each, the
	// always-on devices that relay for it.
	Reach *node.Reachability `json:"reach,omitempty"`
}

func (s *Server) syncState() (out syncJSON) {
	out = syncJSON{
		ETA:      -1,
		Records:  map[string]uint64{},
		Classes:  map[string]classJSON{},
		Peers:    []peerJSON{},
		Archives: []archiveJSON{},
	}
	n := s.cfg.Node
	live := map[string]bool{}
	defer func() {
		// The always-on devices not connected now: as they were at the
		// last sync with them.
		as, err := n.Archives(context.Background())
		if err != nil {
			return
		}
		for _, a := range as {
			if !live[a.Peer.String()] {
				out.Archives = append(out.Archives, archiveJSON{ID: a.Peer.String(), Held: a.Held, Lacking: a.Held - a.Confirmed, BytesLacking: a.Bytes, Checked: true})
			}
		}
	}()
	if c, err := n.RecordCount(context.Background()); err == nil {
		out.Records["present"] = uint64(c)
	}
	if !n.Running() {
		out.Classes = s.storedClasses()
		if sv := n.RunningServe(); sv != nil {
			out.Reach = sv.Reach
		}
		return out
	}
	if r, err := n.Reachability(); err == nil {
		out.Reach = &r
	}
	snap := n.Progress()
	out.Running, out.Complete, out.Idle, out.Rate = true, snap.Complete, snap.Idle, snap.Rate
	if snap.ETA >= 0 {
		out.ETA = snap.ETA.Seconds()
	}
	out.Records["applied"] = uint64(snap.RecordsApplied)
	for c := blob.ClassThumbnail; c < blob.NumClasses; c++ {
		p := snap.Classes[c]
		out.Classes[c.String()] = classJSON{p.FilesDone, p.FilesWanted, p.BytesDone, p.BytesWanted}
	}
	for _, p := range snap.Peers {
		out.Peers = append(out.Peers, peerJSON{
			ID: p.ID.String(), State: p.State.String(), Reason: p.Reason, Rate: p.Rate,
			Received: p.BytesReceived, Sent: p.BytesSent, InFlight: p.InFlight, Path: p.Path,
		})
	}
	for _, a := range snap.Archives {
		live[a.Peer.String()] = true
		out.Archives = append(out.Archives, archiveJSON{ID: a.Peer.String(), Held: a.Held, Lacking: a.Lacking, BytesLacking: a.LackingBytes, Live: true, Checked: a.Checked})
	}
	return out
}

// storedTTL bounds how long storedClasses is kept: blobs can arrive
// without a new record when another process (serve) fetches them.
const storedTTL = 5 * time.Second

// storedClasses counts, per class, the blobs this device wants (its filter)
// against those present (node.Status), for the sync view of a device that
// does not sync (`fieldsync ui`). It is kept until records change or
// storedTTL passes.
func (s *Server) storedClasses() map[string]classJSON {
	ctx := context.Background()
	key, _ := s.cfg.Node.RecordCount(ctx)
	s.mu.Lock()
	if s.stored != nil && s.storedKey == key && time.Since(s.storedAt) < storedTTL {
		defer s.mu.Unlock()
		return s.stored
	}
	s.mu.Unlock()
	out := map[string]classJSON{}
	st, err := s.cfg.Node.Status(ctx)
	if err != nil {
		return out
	}
	for _, c := range st.Classes {
		out[c.Name] = classJSON{c.FilesPresent, c.FilesWanted, c.BytesPresent, c.BytesWanted}
	}
	s.mu.Lock()
	s.stored, s.storedKey, s.storedAt = out, key, time.Now()
	s.mu.Unlock()
	return out
}

func (s *Server) handleSync(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.syncState())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// notExist reports whether err says a thing is not stored.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
