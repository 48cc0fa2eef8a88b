package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// hub fans server-sent events out to the open pages. A page that does not
// keep up loses events rather than slowing the others; each `sync` event
// is a whole snapshot, so the next one repairs it, and a page that missed
// `observations` or `blob` events catches up on its next fetch.
type hub struct {
	mu      sync.Mutex
	clients map[chan []byte]struct{}
	closed  bool
	kick    chan struct{} // a sync snapshot is due now
}

func newHub() *hub {
	return &hub{clients: map[chan []byte]struct{}{}, kick: make(chan struct{}, 1)}
}

func frame(event string, v any) []byte {
	b, _ := json.Marshal(v)
	return fmt.Appendf(nil, "event: %s\ndata: %s\n\n", event, b)
}

func (h *hub) send(event string, v any) {
	f := frame(event, v)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c <- f:
		default:
		}
	}
}

// poke asks for a sync snapshot soon.
func (h *hub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *hub) add() (chan []byte, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	c := make(chan []byte, 64)
	h.clients[c] = struct{}{}
	return c, true
}

func (h *hub) remove(c chan []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// close ends every stream (at shutdown).
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c)
	}
}

// syncInterval is the most often a page gets a sync snapshot.
const syncInterval = 500 * time.Millisecond

// tick sends sync snapshots while pages are open: every syncInterval while
// syncing, and at once (but at most every syncInterval) when poked.
func (s *Server) tick(ctx context.Context) {
	t := time.NewTicker(syncInterval)
	defer t.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.hub.kick:
		}
		if s.hub.count() == 0 {
			continue
		}
		b, _ := json.Marshal(s.syncState())
		if string(b) == string(last) {
			continue
		}
		last = b
		s.hub.send("sync", json.RawMessage(b))
		select {
		case <-ctx.Done():
			return
		case <-time.After(syncInterval):
		}
	}
}

// maxEventIDs is the most observation IDs an `observations` event names;
// past it the event says "all" and pages list again.
const maxEventIDs = 200

// pollRecords is how often a server without a sync looks for records that
// another process stored.
const pollRecords = 2 * time.Second

// recordsChanged asks the watcher to tell pages which observations changed.
func (s *Server) recordsChanged() {
	select {
	case s.recs <- struct{}{}:
	default:
	}
}

// watchRecords sends an `observations` event after records arrive (a sync,
// an upload), at most every syncInterval, naming the observations that
// changed since the last event (project.ChangesSince), so that a page
// updates those alone; "all" when a membership changed or too many did.
func (s *Server) watchRecords(ctx context.Context) {
	_, _, mark, err := s.cfg.Node.ChangesSince(ctx, 0)
	if err != nil {
		s.log.Warn("watch records", "err", err)
	}
	// Without a sync in this process, records can still arrive through
	// another one (serve, holding the store): look now and then.
	var poll <-chan time.Time
	if !s.cfg.Node.Running() {
		t := time.NewTicker(pollRecords)
		defer t.Stop()
		poll = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.recs:
		case <-poll:
		}
		ids, all, next, err := s.cfg.Node.ChangesSince(ctx, mark)
		if err != nil {
			s.log.Warn("watch records", "err", err)
			continue
		}
		mark = next
		switch {
		case all || len(ids) > maxEventIDs:
			s.hub.send("observations", map[string]any{"changed": len(ids), "all": true})
		case len(ids) > 0:
			s.hub.send("observations", map[string]any{"changed": len(ids), "ids": ids})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(syncInterval):
		}
	}
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		httpError(w, http.StatusInternalServerError, "streaming not supported")
		return
	}
	c, ok := s.hub.add()
	if !ok {
		httpError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	defer s.hub.remove(c)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 2000\n\n"))
	_, _ = w.Write(frame("sync", s.syncState()))
	fl.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case f, ok := <-c:
			if !ok {
				return
			}
			if _, err := w.Write(f); err != nil {
				return
			}
			fl.Flush()
		case <-ping.C:
			if _, err := w.Write([]byte(": ping\n\n")); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
