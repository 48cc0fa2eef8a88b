package track

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/tracks/river-walk.gpx")

// fixtureDir holds the GPX files the tests of several packages share.
const fixtureDir = "../testdata/tracks"

var t0 = time.Date(2026, 5, 17, 8, 0, 0, 0, time.UTC)

// walk makes a plausible walk: n fixes every step, at about 1.4 m/s with
// slow turns, a GPS error that wanders by a few metres (as a receiver's
// does: each fix's error is most of the last one's, plus 0.4 m of noise)
// and an elevation that drifts, starting beside the Rio Negro.
// Deterministic for a seed.
func walk(seed uint64, n int, step time.Duration) *Track {
	rng := rand.New(rand.NewPCG(seed, 1))
	lat, lon, ele := -0.1257, -67.0891, 62.0
	heading := 0.7
	mPerDegLat := 111_320.0
	mPerDegLon := mPerDegLat * math.Cos(lat*math.Pi/180)
	var errN, errE float64
	seg := make([]Point, n)
	for i := range seg {
		heading += rng.NormFloat64() * 0.05
		d := 1.4 * step.Seconds()
		lat += d * math.Cos(heading) / mPerDegLat
		lon += d * math.Sin(heading) / mPerDegLon
		ele += rng.NormFloat64() * 0.3
		errN = 0.95*errN + rng.NormFloat64()*0.4
		errE = 0.95*errE + rng.NormFloat64()*0.4
		noiseLat, noiseLon := errN/mPerDegLat, errE/mPerDegLon
		// As a GPS writes them: 7 decimals, elevation to 0.1 m, whole seconds.
		seg[i] = Point{Lat: math.Round((lat+noiseLat)*1e7) / 1e7, Lon: math.Round((lon+noiseLon)*1e7) / 1e7,
			Ele: math.Round(ele*10) / 10, HasEle: true, Time: t0.Add(time.Duration(i) * step)}
	}
	return &Track{Segments: [][]Point{seg}}
}

func sameTrack(t *testing.T, got, want *Track) {
	t.Helper()
	if len(got.Segments) != len(want.Segments) {
		t.Fatalf("%d segments, want %d", len(got.Segments), len(want.Segments))
	}
	for i := range want.Segments {
		if len(got.Segments[i]) != len(want.Segments[i]) {
			t.Fatalf("segment %d: %d points, want %d", i, len(got.Segments[i]), len(want.Segments[i]))
		}
		for j, w := range want.Segments[i] {
			g := got.Segments[i][j]
			if math.Abs(g.Lat-w.Lat) > 0.6e-7 || math.Abs(g.Lon-w.Lon) > 0.6e-7 || g.HasEle != w.HasEle ||
				math.Abs(g.Ele-w.Ele) > 0.006 || !g.Time.Equal(w.Time.Truncate(time.Millisecond)) {
				t.Fatalf("point %d/%d: %+v, want %+v", i, j, g, w)
			}
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	mixed := &Track{Segments: [][]Point{
		{{Lat: 1, Lon: 2}, {Lat: 1.5, Lon: 2.5, Time: t0}, {Lat: -90, Lon: 180, Ele: -12.34, HasEle: true}},
		{{Lat: 90, Lon: -180, Time: t0.Add(-time.Hour)}, {Lat: 0, Lon: 0, Ele: 8848.86, HasEle: true, Time: t0.Add(1500 * time.Microsecond)}},
	}}
	for name, tr := range map[string]*Track{
		"walk":      walk(1, 500, time.Second),
		"sparse":    walk(2, 50, 30*time.Second),
		"mixed":     mixed,
		"one point": {Segments: [][]Point{{{Lat: 0.1, Lon: 0.2}}}},
		"epoch":     {Segments: [][]Point{{{Lat: 0.1, Lon: 0.2, Time: time.UnixMilli(0)}}}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := Encode(tr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			sameTrack(t, got, tr)
			again, err := Encode(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs: %v", err)
			}
		})
	}
}

// TestCompactSize measures what a long walk costs on the wire; the
// figure is quoted in docs/fielddata.md.
func TestCompactSize(t *testing.T) {
	tr := walk(7, 10_000, time.Second)
	b, err := Encode(tr)
	if err != nil {
		t.Fatal(err)
	}
	var gpx bytes.Buffer
	writeGPX(&gpx, "walk", tr)
	t.Logf("10,000 points every 1 s: %d bytes (%.1f KiB, %.1f bytes a point); as GPX %d bytes (%.0f×)",
		len(b), float64(len(b))/1024, float64(len(b))/10_000, gpx.Len(), float64(gpx.Len())/float64(len(b)))
	if len(b) > 64<<10 {
		t.Fatalf("10,000 points take %d bytes, over 64 KiB", len(b))
	}
	sparse, _ := Encode(walk(7, 10_000, 5*time.Second))
	t.Logf("10,000 points every 5 s: %d bytes (%.1f KiB)", len(sparse), float64(len(sparse))/1024)
}

func TestEncodeRefuses(t *testing.T) {
	for name, tr := range map[string]*Track{
		"empty":         {},
		"empty segment": {Segments: [][]Point{{{Lat: 1, Lon: 1}}, {}}},
		"lat":           {Segments: [][]Point{{{Lat: 91, Lon: 1}}}},
		"lon nan":       {Segments: [][]Point{{{Lat: 1, Lon: math.NaN()}}}},
		"ele":           {Segments: [][]Point{{{Lat: 1, Lon: 1, Ele: 1e9, HasEle: true}}}},
		"time":          {Segments: [][]Point{{{Lat: 1, Lon: 1, Time: time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC)}}}},
	} {
		if _, err := Encode(tr); !errors.Is(err, ErrBadPoints) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, _ := Encode(walk(3, 20, time.Second))
	for name, b := range map[string][]byte{
		"empty":          nil,
		"other magic":    []byte("PK\x03\x04"),
		"version 2":      []byte("FSTK\x02\x00\x01\x01\x00\x00"),
		"truncated":      good[:len(good)-1],
		"trailing":       append(append([]byte{}, good...), 0),
		"unused flags":   []byte("FSTK\x01\x03\x01\x01\x02\x04\x00\x00"),
		"no segments":    []byte("FSTK\x01\x00\x00"),
		"zero points":    []byte("FSTK\x01\x00\x01\x00"),
		"overlong":       []byte("FSTK\x01\x80\x00\x01\x01\x02\x04"),
		"lat range":      []byte("FSTK\x01\x00\x01\x01\xff\xff\xff\xff\x0f\x00"),
		"claims 1M pts":  []byte("FSTK\x01\x00\x01\xc0\x84\x3d\x00\x00"),
		"too many flags": []byte("FSTK\x01\x04\x01\x01\x00\x00"),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrBadPoints) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestStats(t *testing.T) {
	// Two segments of one degree of latitude each: the gap does not count.
	tr := &Track{Segments: [][]Point{
		{{Lat: 0, Lon: 10, Time: t0}, {Lat: 1, Lon: 10}},
		{{Lat: 5, Lon: 11, Ele: 3, HasEle: true}, {Lat: 6, Lon: 11, Time: t0.Add(time.Hour)}},
	}}
	in := Stats(tr)
	if in.Points != 4 || in.Segments != 2 || !in.Start.Equal(t0) || !in.End.Equal(t0.Add(time.Hour)) || in.HasEle {
		t.Fatalf("%+v", in)
	}
	if in.Bounds != (Bounds{West: 10, South: 0, East: 11, North: 6}) {
		t.Fatalf("bounds %+v", in.Bounds)
	}
	if want := 2 * 111_195.0; math.Abs(in.Length-want) > 50 {
		t.Fatalf("length %.0f m, want about %.0f", in.Length, want)
	}
}

// writeGPX writes tr as GPX 1.1, as a GPS logger would (for the fixture
// and the size comparison; fieldsync's own GPX export is package gis's).
func writeGPX(w *bytes.Buffer, name string, tr *Track) {
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gpx version=\"1.1\" creator=\"fieldsync test fixture\" xmlns=\"http://www.topografix.com/GPX/1/1\">\n")
	fmt.Fprintf(w, " <metadata><name>%s</name></metadata>\n", name)
	fmt.Fprintf(w, " <wpt lat=\"-0.1250000\" lon=\"-67.0880000\"><name>Canoe landing</name></wpt>\n")
	fmt.Fprintf(w, " <trk>\n  <name>%s</name>\n", name)
	for _, seg := range tr.Segments {
		fmt.Fprintf(w, "  <trkseg>\n")
		for _, p := range seg {
			fmt.Fprintf(w, "   <trkpt lat=\"%.7f\" lon=\"%.7f\"><ele>%.1f</ele><time>%s</time></trkpt>\n", p.Lat, p.Lon, p.Ele, p.Time.Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  </trkseg>\n")
	}
	fmt.Fprintf(w, " </trk>\n</gpx>\n")
}

// TestFixtureGPX: testdata/tracks/river-walk.gpx is the walk this test
// makes (seed 11: 120 fixes every 5 s, cut in two segments) and
// logging-road.gpx another (seed 12: 60 fixes every 10 s, one segment),
// and ReadGPX reads them back. Rewrite them with -update.
func TestFixtureGPX(t *testing.T) {
	river := walk(11, 120, 5*time.Second)
	river.Segments = [][]Point{river.Segments[0][:70], river.Segments[0][75:]}
	road := walk(12, 60, 10*time.Second)
	for _, f := range []struct {
		file, name string
		tr         *Track
		points     int
	}{{"river-walk.gpx", "Morning walk to the river", river, 115}, {"logging-road.gpx", "Along the logging road", road, 60}} {
		var b bytes.Buffer
		writeGPX(&b, f.name, f.tr)
		path := filepath.Join(fixtureDir, f.file)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		g, err := ReadGPX(fh)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		if g.Name != f.name || g.Tracks != 1 || g.Waypoints != 1 || g.Track.Len() != f.points || len(g.Track.Segments) != len(f.tr.Segments) {
			t.Fatalf("%s: %+v", path, g)
		}
		sameTrack(t, &g.Track, f.tr)
	}
}

func TestReadGPX(t *testing.T) {
	gpx := func(body string) string {
		return `<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">` + body + `</gpx>`
	}
	// GPX 1.0 with a route and a track, ISO-8859-1, an extension and a
	// time without a zone.
	v10 := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<gpx version=\"1.0\" xmlns=\"http://www.topografix.com/GPX/1/0\"><name>Trilha S\xe3o Jo\xe3o</name>" +
		`<rte><rtept lat="1" lon="2"/><rtept lat="1.1" lon="2.1"><name>x</name></rtept></rte>` +
		`<trk><trkseg><trkpt lat="3" lon="4"><ele>10</ele><time>2026-05-17T08:00:00</time><extensions><x:hr xmlns:x="urn:x">90</x:hr></extensions></trkpt></trkseg><trkseg/></trk></gpx>`
	g, err := ReadGPX(strings.NewReader(v10))
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "Trilha São João" || g.Routes != 1 || g.Tracks != 1 || len(g.Track.Segments) != 2 || g.Track.Len() != 3 {
		t.Fatalf("%+v", g)
	}
	if p := g.Track.Segments[1][0]; !p.HasEle || p.Ele != 10 || !p.Time.Equal(t0) {
		t.Fatalf("track point %+v", p)
	}
	// The first named track names it.
	g, err = ReadGPX(strings.NewReader(gpx(`<metadata><name>file</name></metadata><trk><name>walk</name><trkseg><trkpt lat="1" lon="1"/></trkseg></trk>`)))
	if err != nil || g.Name != "walk" {
		t.Fatalf("%+v %v", g, err)
	}

	for _, c := range []struct {
		name, doc string
		want      error
		words     string
	}{
		{"empty", "", ErrNotGPX, "no XML element"},
		{"not xml", "lat,lon\n1,2\n", ErrNotGPX, "no XML element"},
		{"kml", `<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>`, ErrNotGPX, "root element is <kml>"},
		{"json", `{"type":"FeatureCollection"}`, ErrNotGPX, ""},
		{"truncated", gpx(`<trk><trkseg><trkpt lat="1" lon="1">`)[:60], ErrNotGPX, ""},
		{"waypoints only", gpx(`<wpt lat="1" lon="1"/><wpt lat="2" lon="2"/>`), ErrNoPoints, "2 waypoints"},
		{"nothing", gpx(``), ErrNoPoints, ""},
		{"bad lat", gpx(`<trk><trkseg><trkpt lat="north" lon="1"/></trkseg></trk>`), ErrBadValue, `lat "north" is not a number`},
		{"lat range", gpx(`<trk><trkseg><trkpt lat="91" lon="1"/></trkseg></trk>`), ErrBadValue, "outside -90..90"},
		{"no lon", gpx(`<trk><trkseg><trkpt lat="1"/></trkseg></trk>`), ErrBadValue, "without lat and lon"},
		{"bad time", gpx(`<trk><trkseg><trkpt lat="1" lon="1"><time>yesterday</time></trkpt></trkseg></trk>`), ErrBadValue, "not a date and time"},
		{"bad ele", gpx(`<trk><trkseg><trkpt lat="1" lon="1"><ele>high</ele></trkpt></trkseg></trk>`), ErrBadValue, "not an elevation"},
		{"charset", `<?xml version="1.0" encoding="EBCDIC"?><gpx/>`, ErrNotGPX, "not supported"},
		{"entity", gpx(`<trk><name>&bomb;</name></trk>`), ErrNotGPX, ""},
	} {
		_, err := ReadGPX(strings.NewReader(c.doc))
		if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.words) {
			t.Errorf("%s: %v; want %v with %q", c.name, err, c.want, c.words)
		}
	}
	var le *GPXError
	if _, err := ReadGPX(strings.NewReader("<gpx>\n<trk>\n<trkseg><trkpt lat=\"x\" lon=\"1\"/></trkseg></trk></gpx>")); !errors.As(err, &le) || le.Line != 3 {
		t.Errorf("line of a bad value: %v", err)
	}
}

func TestReadGPXLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	big := io64MiB()
	if _, err := ReadGPX(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("64 MiB + 1: %v", err)
	}
}

// io64MiB is a GPX file one byte over MaxGPXSize, made of comments.
func io64MiB() *bytes.Reader {
	var b bytes.Buffer
	b.WriteString(`<gpx><trk><trkseg><trkpt lat="1" lon="1"/></trkseg></trk>`)
	pad := strings.Repeat("x", 1<<20)
	for b.Len() < MaxGPXSize {
		b.WriteString("<!--" + pad + "-->")
	}
	b.WriteString("</gpx>")
	return bytes.NewReader(b.Bytes()[:MaxGPXSize+1])
}

func TestReadGPXPointLimit(t *testing.T) {
	// MaxPoints + 1 minimal points: about 30 MB of XML.
	if testing.Short() {
		t.Skip("builds a 30 MB GPX file")
	}
	var b bytes.Buffer
	b.WriteString(`<gpx><trk><trkseg>`)
	for range MaxPoints + 1 {
		b.WriteString(`<trkpt lat="1" lon="1"/>`)
	}
	b.WriteString(`</trkseg></trk></gpx>`)
	if _, err := ReadGPX(&b); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%v", err)
	}
}

func FuzzReadGPX(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join(fixtureDir, "river-walk.gpx")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`<gpx><rte><rtept lat="1" lon="2"><ele>3</ele><time>2026-01-01T00:00:00Z</time></rtept></rte></gpx>`))
	f.Add([]byte(`<gpx><trk><name>x</name><trkseg><trkpt lat="1" lon="1"/></trkseg><trkseg/></trk><wpt lat="0" lon="0"/></gpx>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ReadGPX(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever is read encodes, and decodes to itself.
		b, err := Encode(&g.Track)
		if err != nil {
			t.Fatalf("read a track Encode refuses: %v", err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		sameTrack(t, back, &g.Track)
		if len(g.Name) > MaxNameLen {
			t.Fatalf("name of %d bytes", len(g.Name))
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, tr := range []*Track{walk(1, 30, time.Second), {Segments: [][]Point{{{Lat: 1, Lon: 2}}, {{Lat: 3, Lon: 4, Ele: 5, HasEle: true}}}}} {
		b, _ := Encode(tr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Encode(tr)
		if err != nil {
			t.Fatalf("decoded a track Encode refuses: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a blob that does not re-encode to itself:\n%x\n%x", data, again)
		}
		_ = Stats(tr)
	})
}
