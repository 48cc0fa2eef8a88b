package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/node"
)

// Config configures a Server.
type Config struct {
	// Node is the device the app shows (required). Opened shared beside
	// another process that holds it, the app reads and refuses uploads;
	// with its network running (serve --ui), the sync view is live.
	Node *node.Node
	// Basemap is an MBTiles file of raster tiles to draw under the world
	// outline ("" for none).
	Basemap string
	// MaxUpload caps the bytes of one upload (default 256 MiB).
	MaxUpload int64
	Logger    *slog.Logger
}

// DefaultMaxUpload is the default cap on one upload.
const DefaultMaxUpload = 256 << 20

// maxSessions bounds the cookies remembered; the oldest is forgotten first.
const maxSessions = 64

// Server is the web app's HTTP server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	token string
	tiles *mbtiles
	hub   *hub
	recs  chan struct{} // records arrived: watchRecords tells the pages
	idx   indexCache
	mux   *http.ServeMux
	// static is the embedded front end by path under static/.
	static map[string]*staticFile
	langs  []language // the message catalogs in static/i18n

	mu       sync.Mutex
	sessions map[string]string // session ID → CSRF token
	order    []string          // session IDs, oldest first
	hosts    map[string]bool   // Host headers accepted
	uploadMu sync.Mutex

	// storedClasses' cache (`fieldsync ui`, no sync), by vectorKey.
	stored    map[string]classJSON
	storedKey int
	storedAt  time.Time
}

// New makes a server for cfg. It opens the basemap, if any, and fails
// clearly when it is not a raster MBTiles file.
func New(cfg Config) (*Server, error) {
	if cfg.Node == nil || !cfg.Node.HasProject() {
		return nil, errors.New("ui: no project")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		token:    randomHex(32),
		hub:      newHub(),
		recs:     make(chan struct{}, 1),
		sessions: map[string]string{},
		hosts:    map[string]bool{},
	}
	if cfg.Basemap != "" {
		t, err := openMBTiles(cfg.Basemap)
		if err != nil {
			return nil, err
		}
		s.tiles = t
	}
	static, err := loadStatic()
	if err != nil {
		return nil, fmt.Errorf("ui: embedded files: %w", err)
	}
	s.static = static
	if s.langs, err = languages(static); err != nil {
		return nil, fmt.Errorf("ui: embedded files: %w", err)
	}
	s.routes()
	return s, nil
}

// Token is the secret the URL carries.
func (s *Server) Token() string { return s.token }

// CheckAddr says whether addr may be listened on: HOST:PORT with an IP
// address (or localhost: a name could be rebound to another machine), and
// beyond loopback only when remote is true.
func CheckAddr(addr string, remote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: want HOST:PORT, e.g. 127.0.0.1:8080", addr)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && host != "" && ip == nil {
		return fmt.Errorf("--http %q: give an IP address (a name could be rebound to another machine)", addr)
	}
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) && !remote {
		return fmt.Errorf("--http %q listens beyond this machine, where anyone who gets the URL sees the project; add --http-remote if you mean it", addr)
	}
	return nil
}

// Listen opens addr ("127.0.0.1:0" picks a free port), if CheckAddr
// allows it. It returns the listener and the URLs to open (with the
// token), loopback first.
func (s *Server) Listen(addr string, remote bool) (net.Listener, []string, error) {
	if err := CheckAddr(addr, remote); err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ip := ln.Addr().(*net.TCPAddr).IP
	var hosts []string
	switch {
	case ip.IsUnspecified():
		hosts = append(hosts, "127.0.0.1", "localhost")
		if ifs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range ifs {
				if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
					hosts = append(hosts, n.IP.String())
				}
			}
		}
	case ip.IsLoopback():
		hosts = append(hosts, ip.String(), "localhost")
	default:
		hosts = append(hosts, ip.String())
	}
	s.mu.Lock()
	var urls []string
	for _, h := range hosts {
		hp := net.JoinHostPort(h, port)
		s.hosts[hp] = true
		if h != "localhost" {
			urls = append(urls, "http://"+hp+"/?token="+s.token)
		}
	}
	s.mu.Unlock()
	return ln, urls, nil
}

// Serve serves on ln until ctx ends, then shuts down (open event streams
// are closed).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	sub := s.cfg.Node.Subscribe()
	defer sub.Close()
	go s.tick(ctx)
	go s.watchRecords(ctx)
	go s.watchEvents(ctx, sub)
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		s.hub.close()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close releases the basemap.
func (s *Server) Close() error {
	if s.tiles != nil {
		return s.tiles.close()
	}
	return nil
}

// watchEvents forwards the node's events to the open pages until ctx
// ends.
func (s *Server) watchEvents(ctx context.Context, sub *node.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			switch e := e.(type) {
			case node.RoleEvent:
				// A role change can change what counts (a blocked
				// author's versions): pages are told to look again, and
				// the members view to list the members again.
				s.recordsChanged()
				s.hub.send("members", map[string]any{"peer": e.Peer.String(), "role": string(e.To)})
				s.hub.poke()
			case node.InviteEvent:
				if e.Err == nil {
					s.hub.send("members", map[string]any{"peer": e.Peer.String(), "role": string(e.Role)})
				}
				s.hub.poke()
			case node.RecordsEvent, node.ObservationsEvent:
				s.recordsChanged()
				s.hub.poke()
			case node.BlobEvent:
				s.hub.send("blob", map[string]any{"cid": e.CID.String(), "class": e.Class.String()})
				s.hub.poke()
			default:
				s.hub.poke()
			}
		}
	}
}

// securityHeaders go on every answer. The page may load nothing from
// another origin.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
	"media-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// ServeHTTP checks the Host, the session and CSRF, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")

	s.mu.Lock()
	hostOK := s.hosts[strings.ToLower(r.Host)]
	s.mu.Unlock()
	if !hostOK {
		httpError(w, http.StatusForbidden, "host %q is not the address this server listens on", r.Host)
		return
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		s.redeemToken(w, r, tok)
		return
	}
	csrf, ok := s.session(r)
	if !ok {
		if r.URL.Path == "/" {
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, unauthorizedPage)
			return
		}
		httpError(w, http.StatusUnauthorized, "no valid session: open the URL that fieldsync printed (it carries the token)")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if o := r.Header.Get("Origin"); o != "" && !s.originOK(o) {
			httpError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		got := r.Header.Get("X-CSRF-Token")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1 {
			httpError(w, http.StatusForbidden, "missing or wrong CSRF token (reload the page)")
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) originOK(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Scheme != "http" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[strings.ToLower(u.Host)]
}

const unauthorizedPage = `<!doctype html><meta charset="utf-8"><title>fieldsync</title>
<p>This page needs the link that <code>fieldsync ui</code> (or <code>fieldsync serve --ui</code>) printed when it started: it carries a secret token. Open that link.</p>`

const cookieName = "fieldsync_session"

// redeemToken exchanges the URL's token for a session cookie and redirects
// to the same page without the token, so it leaves the address bar.
func (s *Server) redeemToken(w http.ResponseWriter, r *http.Request, tok string) {
	if subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		httpError(w, http.StatusUnauthorized, "wrong token: open the URL that fieldsync printed")
		return
	}
	id := randomHex(32)
	s.mu.Lock()
	s.sessions[id] = randomHex(32)
	s.order = append(s.order, id)
	if len(s.order) > maxSessions {
		delete(s.sessions, s.order[0])
		s.order = s.order[1:]
	}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	q := r.URL.Query()
	q.Del("token")
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// session returns the CSRF token of the request's session.
func (s *Server) session(r *http.Request) (string, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	csrf, ok := s.sessions[c.Value]
	return csrf, ok
}

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { s.serveStatic(w, r, "index.html") })
	m.HandleFunc("GET /static/{path...}", func(w http.ResponseWriter, r *http.Request) { s.serveStatic(w, r, r.PathValue("path")) })
	m.HandleFunc("GET /api/session", s.handleSession)
	m.HandleFunc("GET /api/observations", s.handleObservations)
	m.HandleFunc("GET /api/observations/{id}", s.handleObservation)
	m.HandleFunc("POST /api/observations", s.handleUpload)
	m.HandleFunc("PATCH /api/observations/{id}", s.handleEdit)
	m.HandleFunc("DELETE /api/observations/{id}", s.handleDelete)
	m.HandleFunc("POST /api/observations/{id}/keep", s.handleKeep)
	m.HandleFunc("GET /api/observations/{id}/track", s.handleTrack)
	m.HandleFunc("GET /api/categories", s.handleCategories)
	m.HandleFunc("POST /api/categories", s.handleImportCategories)
	m.HandleFunc("GET /api/export/{format}", s.handleExport)
	m.HandleFunc("GET /api/members", s.handleMembers)
	m.HandleFunc("POST /api/members/{peer}/block", s.handleBlock)
	m.HandleFunc("POST /api/members/{peer}/role", s.handleRole)
	m.HandleFunc("GET /api/languages", s.handleLanguages)
	m.HandleFunc("GET /api/map", s.handleMap)
	m.HandleFunc("GET /api/blobs/{cid}", s.handleBlob)
	m.HandleFunc("GET /api/sync", s.handleSync)
	m.HandleFunc("GET /api/events", s.handleEvents)
	m.HandleFunc("GET /tiles/{z}/{x}/{y}", s.handleTile)
	s.mux = m
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
