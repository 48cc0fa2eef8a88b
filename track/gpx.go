package track

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// GPX is what ReadGPX takes from a GPX file.
type GPX struct {
	// Name is the track's name: the first named <trk> or <rte>, else the
	// file's own (<metadata><name>, or <name> in GPX 1.0).
	Name  string
	Track Track // every <trk> segment and every <rte>, in file order
	// Counts of what the file holds. Waypoints (<wpt>) are not taken:
	// the caller keeps the file itself, so nothing is lost.
	Tracks, Routes, Waypoints int
}

// Errors from ReadGPX, tested with errors.Is. A *GPXError gives the line.
var (
	// ErrNotGPX: the file is not GPX (not XML, or its root is not <gpx>).
	ErrNotGPX = errors.New("not a GPX file")
	// ErrNoPoints: a GPX file with no track or route point.
	ErrNoPoints = errors.New("no track or route points in the GPX file")
	// ErrTooLarge: over MaxGPXSize bytes, MaxPoints points or MaxSegments
	// segments.
	ErrTooLarge = errors.New("GPX file too large")
	// ErrBadValue: a point whose lat, lon, ele or time is not a value GPX
	// allows.
	ErrBadValue = errors.New("bad value in GPX file")
)

// GPXError is an error at a line of a GPX file.
type GPXError struct {
	Line int
	Err  error
}

func (e *GPXError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *GPXError) Unwrap() error { return e.Err }

// ReadGPX reads a GPX 1.0 or 1.1 file: the points of its tracks
// (trk/trkseg/trkpt) and routes (rte/rtept), with lat, lon, ele and time;
// elements of any namespace are matched by their local names, and what
// fieldsync does not use (extensions, waypoints, metadata other than the
// name) is skipped. It reads at most MaxGPXSize bytes and MaxPoints
// points. The file must be UTF-8 (or declare ISO-8859-1).
func ReadGPX(r io.Reader) (*GPX, error) {
	lr := &io.LimitedReader{R: r, N: MaxGPXSize + 1}
	p := &gpxParser{d: xml.NewDecoder(bufio.NewReaderSize(lr, 64<<10)), lr: lr}
	p.d.CharsetReader = charsetReader
	g, err := p.read()
	if lr.N <= 0 {
		return nil, fmt.Errorf("%w: over %d MiB", ErrTooLarge, MaxGPXSize>>20)
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

type gpxParser struct {
	d      *xml.Decoder
	lr     *io.LimitedReader
	points int
}

func (p *gpxParser) errorf(err error, format string, args ...any) error {
	line, _ := p.d.InputPos()
	return &GPXError{Line: line, Err: fmt.Errorf("%w: %s", err, fmt.Sprintf(format, args...))}
}

// syntax wraps an XML error as ErrNotGPX.
func (p *gpxParser) syntax(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends too soon", ErrNotGPX)
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &GPXError{Line: se.Line, Err: fmt.Errorf("%w: %s", ErrNotGPX, se.Msg)}
	}
	return fmt.Errorf("%w: %v", ErrNotGPX, err)
}

func (p *gpxParser) read() (*GPX, error) {
	// The root element.
	var root xml.StartElement
	for {
		tok, err := p.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: no XML element in it", ErrNotGPX)
			}
			return nil, p.syntax(err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			root = se
			break
		}
	}
	if root.Name.Local != "gpx" {
		return nil, fmt.Errorf("%w: its root element is <%s>, not <gpx>", ErrNotGPX, root.Name.Local)
	}
	g := &GPX{}
	var fileName string
	err := p.children(func(se xml.StartElement) error {
		switch se.Name.Local {
		case "metadata":
			return p.children(func(se xml.StartElement) error {
				if se.Name.Local == "name" {
					s, err := p.text()
					fileName = s
					return err
				}
				return p.d.Skip()
			})
		case "name": // GPX 1.0
			s, err := p.text()
			fileName = s
			return err
		case "wpt":
			g.Waypoints++
			return p.d.Skip()
		case "trk":
			g.Tracks++
			return p.trk(g)
		case "rte":
			g.Routes++
			return p.rte(g)
		}
		return p.d.Skip()
	})
	if err != nil {
		return nil, err
	}
	if len(g.Track.Segments) == 0 {
		if g.Waypoints > 0 {
			return nil, fmt.Errorf("%w (it has %d waypoints: fieldsync takes tracks and routes)", ErrNoPoints, g.Waypoints)
		}
		return nil, ErrNoPoints
	}
	if g.Name == "" {
		g.Name = fileName
	}
	return g, nil
}

// children calls fn for each child element of the element just started,
// until its end; fn must consume the child (Skip or read it).
func (p *gpxParser) children(fn func(xml.StartElement) error) error {
	for {
		tok, err := p.d.Token()
		if err != nil {
			return p.syntax(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// text reads the character data of the element just started, up to its
// end, cut to MaxNameLen bytes.
func (p *gpxParser) text() (string, error) {
	var b strings.Builder
	depth := 0
	for {
		tok, err := p.d.Token()
		if err != nil {
			return "", p.syntax(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len() < 4*MaxNameLen {
				b.Write(t[:min(len(t), 4*MaxNameLen)])
			}
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return cut(strings.TrimSpace(b.String()), MaxNameLen), nil
			}
			depth--
		}
	}
}

// cut shortens s to at most n bytes at a character boundary.
func cut(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (p *gpxParser) trk(g *GPX) error {
	return p.children(func(se xml.StartElement) error {
		switch se.Name.Local {
		case "name":
			s, err := p.text()
			if g.Name == "" {
				g.Name = s
			}
			return err
		case "trkseg":
			var seg []Point
			err := p.children(func(se xml.StartElement) error {
				if se.Name.Local != "trkpt" {
					return p.d.Skip()
				}
				pt, err := p.point(se)
				if err != nil {
					return err
				}
				seg = append(seg, pt)
				return nil
			})
			if err != nil {
				return err
			}
			return p.addSegment(g, seg)
		}
		return p.d.Skip()
	})
}

func (p *gpxParser) rte(g *GPX) error {
	var seg []Point
	err := p.children(func(se xml.StartElement) error {
		switch se.Name.Local {
		case "name":
			s, err := p.text()
			if g.Name == "" {
				g.Name = s
			}
			return err
		case "rtept":
			pt, err := p.point(se)
			if err != nil {
				return err
			}
			seg = append(seg, pt)
			return nil
		}
		return p.d.Skip()
	})
	if err != nil {
		return err
	}
	return p.addSegment(g, seg)
}

func (p *gpxParser) addSegment(g *GPX, seg []Point) error {
	if len(seg) == 0 {
		return nil // an empty <trkseg> draws nothing
	}
	if len(g.Track.Segments) >= MaxSegments {
		return fmt.Errorf("%w: over %d segments", ErrTooLarge, MaxSegments)
	}
	g.Track.Segments = append(g.Track.Segments, seg)
	return nil
}

// point reads a trkpt or rtept.
func (p *gpxParser) point(se xml.StartElement) (Point, error) {
	p.points++
	if p.points > MaxPoints {
		return Point{}, fmt.Errorf("%w: over %d points", ErrTooLarge, MaxPoints)
	}
	var pt Point
	var hasLat, hasLon bool
	for _, a := range se.Attr {
		switch a.Name.Local {
		case "lat":
			v, err := parseCoord(a.Value, 90)
			if err != nil {
				return pt, p.errorf(ErrBadValue, "<%s> lat %q %v", se.Name.Local, a.Value, err)
			}
			pt.Lat, hasLat = v, true
		case "lon":
			v, err := parseCoord(a.Value, 180)
			if err != nil {
				return pt, p.errorf(ErrBadValue, "<%s> lon %q %v", se.Name.Local, a.Value, err)
			}
			pt.Lon, hasLon = v, true
		}
	}
	if !hasLat || !hasLon {
		return pt, p.errorf(ErrBadValue, "<%s> without lat and lon", se.Name.Local)
	}
	err := p.children(func(c xml.StartElement) error {
		switch c.Name.Local {
		case "ele":
			s, err := p.text()
			if err != nil {
				return err
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.Abs(v*100) > maxEleCM {
				return p.errorf(ErrBadValue, "<ele> %q is not an elevation in metres", s)
			}
			pt.Ele, pt.HasEle = v, true
		case "time":
			s, err := p.text()
			if err != nil {
				return err
			}
			t, err := parseTime(s)
			if err != nil {
				return p.errorf(ErrBadValue, "<time> %q %v", s, err)
			}
			pt.Time = t
		default:
			return p.d.Skip()
		}
		return nil
	})
	return pt, err
}

func parseCoord(s string, limit float64) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errors.New("is not a number")
	}
	if !(v >= -limit && v <= limit) {
		return 0, fmt.Errorf("is outside -%g..%g", limit, limit)
	}
	return v, nil
}

// parseTime reads an xsd:dateTime: RFC 3339, or without a zone (taken as
// UTC, as GPX says times are).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02T15:04:05.999999999", s)
	}
	if err != nil {
		return time.Time{}, errors.New("is not a date and time (2006-01-02T15:04:05Z)")
	}
	if ms := t.UnixMilli(); ms < minTime || ms > maxTime {
		return time.Time{}, errors.New("is before 1970")
	}
	return t.UTC(), nil
}

// charsetReader accepts UTF-8 and ISO-8859-1 (Latin-1), the encodings
// GPX files declare in practice.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "latin1", "iso8859-1", "l1":
		return &latin1{r: bufio.NewReader(in)}, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported (save the file as UTF-8)", label)
}

// latin1 turns ISO-8859-1 bytes into UTF-8.
type latin1 struct {
	r   *bufio.Reader
	buf []byte
}

func (l *latin1) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.buf) > 0 {
			c := copy(p[n:], l.buf)
			l.buf = l.buf[c:]
			n += c
			continue
		}
		c, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c < 0x80 {
			p[n] = c
			n++
			continue
		}
		l.buf = utf8.AppendRune(l.buf[:0], rune(c))
	}
	return n, nil
}
