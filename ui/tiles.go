package ui

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // the MBTiles reader
)

// mbtiles reads raster tiles from an MBTiles file (a SQLite database with
// tables metadata(name, value) and tiles(zoom_level, tile_column, tile_row,
// tile_data), rows numbered from the south as in TMS).
type mbtiles struct {
	db   *sql.DB
	mime string
	meta basemapJSON
}

type basemapJSON struct {
	Name    string     `json:"name"`
	Format  string     `json:"format"`
	MinZoom int        `json:"minZoom"`
	MaxZoom int        `json:"maxZoom"`
	Bounds  [4]float64 `json:"bounds"` // west, south, east, north
}

func openMBTiles(path string) (*mbtiles, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--basemap: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"
	d, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("--basemap %s: %w", path, err)
	}
	t := &mbtiles{db: d, meta: basemapJSON{MinZoom: 0, MaxZoom: 18, Bounds: [4]float64{-180, -85.0511, 180, 85.0511}}}
	if err := t.load(); err != nil {
		d.Close()
		return nil, fmt.Errorf("--basemap %s is not a raster MBTiles file: %w", path, err)
	}
	return t, nil
}

func (t *mbtiles) load() error {
	rows, err := t.db.Query(`SELECT name, value FROM metadata`)
	if err != nil {
		return err
	}
	defer rows.Close()
	md := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		md[strings.ToLower(k)] = v
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var one int
	err = t.db.QueryRow(`SELECT 1 FROM tiles LIMIT 1`).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no tiles table: %w", err)
	}
	t.meta.Name = md["name"]
	switch f := strings.ToLower(md["format"]); f {
	case "png", "":
		t.meta.Format, t.mime = "png", "image/png"
	case "jpg", "jpeg":
		t.meta.Format, t.mime = "jpg", "image/jpeg"
	case "webp":
		t.meta.Format, t.mime = "webp", "image/webp"
	default:
		return fmt.Errorf("tiles of format %q (only png, jpg and webp raster tiles are drawn)", f)
	}
	if v, err := strconv.Atoi(md["minzoom"]); err == nil && v >= 0 && v <= 30 {
		t.meta.MinZoom = v
	}
	if v, err := strconv.Atoi(md["maxzoom"]); err == nil && v >= t.meta.MinZoom && v <= 30 {
		t.meta.MaxZoom = v
	}
	if b := strings.Split(md["bounds"], ","); len(b) == 4 {
		var f [4]float64
		ok := true
		for i, s := range b {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			ok = ok && err == nil
			f[i] = v
		}
		if ok && f[0] >= -180 && f[2] <= 180 && f[0] < f[2] && f[1] >= -90 && f[3] <= 90 && f[1] < f[3] {
			t.meta.Bounds = f
		}
	}
	return nil
}

func (t *mbtiles) close() error { return t.db.Close() }

// tile returns the tile z/x/y (XYZ numbering, from the north), or nil.
func (t *mbtiles) tile(z, x, y int) ([]byte, error) {
	row := (1 << z) - 1 - y
	var b []byte
	err := t.db.QueryRow(`SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?`, z, x, row).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

func (s *Server) handleTile(w http.ResponseWriter, r *http.Request) {
	if s.tiles == nil {
		httpError(w, http.StatusNotFound, "no basemap: start with --basemap FILE.mbtiles")
		return
	}
	var v [3]int
	for i, k := range []string{"z", "x", "y"} {
		raw := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(r.PathValue(k), ".png"), ".jpg"), ".webp")
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			httpError(w, http.StatusBadRequest, "tile %s %q: want a number", k, r.PathValue(k))
			return
		}
		v[i] = n
	}
	z, x, y := v[0], v[1], v[2]
	if z > 30 || x >= 1<<z || y >= 1<<z {
		httpError(w, http.StatusBadRequest, "no tile %d/%d/%d", z, x, y)
		return
	}
	b, err := s.tiles.tile(z, x, y)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "read tile: %v", err)
		return
	}
	if b == nil {
		httpError(w, http.StatusNotFound, "no tile %d/%d/%d in the basemap", z, x, y)
		return
	}
	w.Header().Set("Content-Type", s.tiles.mime)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
}
