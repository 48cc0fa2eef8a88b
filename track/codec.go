package track

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// The points blob, version 1:
//
//	"FSTK" 0x01                  magic and version
//	uvarint flags                1: points carry times, 2: points carry elevations
//	uvarint segments             1 .. MaxSegments
//	uvarint points, per segment  each >= 1; MaxPoints in all
//	then, per point, in order:
//	  varint  lat: d - previous d    d = lat - previous lat, lat in units of 1e-7 degree
//	  varint  lon: d - previous d    the same for lon
//	  uvarint time code              flags & 1 only: 0 no time; else zigzag(d - previous d) + 1,
//	                                 d = time (Unix ms) - previous time (of points with a time)
//	  uvarint elevation code         flags & 2 only: 0 no elevation; else
//	                                 zigzag(ele - previous ele) + 1, ele in centimetres
//
// Before the first point every previous value and difference is 0.
// Position and time are written as the change of their difference from
// the point before (a second difference): a walker's steady pace and a
// logger's steady interval cost a byte or two; elevation, noisier, as a
// plain difference. Differences chain across segments. A flag is set only
// when some point uses it, and the blob ends with the last point: Decode
// refuses anything Encode would not write, so a track has one encoding.

// MediaType is the media type of a points blob.
const MediaType = "application/x.fieldsync-track"

const magic = "FSTK\x01"

const (
	flagTime = 1 << iota
	flagEle
)

// Ranges of what a point may hold.
const (
	e7       = 1e7
	minTime  = 0               // 1970-01-01T00:00:00Z, in Unix ms
	maxTime  = 253402300799999 // 9999-12-31T23:59:59.999Z
	maxEleCM = 100_000_00      // ±100 km, in centimetres
)

// ErrBadPoints means a points blob does not decode.
var ErrBadPoints = errors.New("track: not a valid points blob")

func badPoints(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPoints, fmt.Sprintf(format, args...))
}

// Encode returns t's points blob. It fails on a track Decode would
// refuse: no points, an empty segment, too many points or segments, a
// position out of range, a time before 1970 or after 9999, an elevation
// beyond ±100 km.
func Encode(t *Track) ([]byte, error) {
	if err := check(t); err != nil {
		return nil, err
	}
	flags := uint64(0)
	for _, seg := range t.Segments {
		for _, p := range seg {
			if !p.Time.IsZero() {
				flags |= flagTime
			}
			if p.HasEle {
				flags |= flagEle
			}
		}
	}
	n := t.Len()
	b := make([]byte, 0, len(magic)+16+3*len(t.Segments)+n*(6+2*bits(flags)))
	b = append(b, magic...)
	b = binary.AppendUvarint(b, flags)
	b = binary.AppendUvarint(b, uint64(len(t.Segments)))
	for _, seg := range t.Segments {
		b = binary.AppendUvarint(b, uint64(len(seg)))
	}
	var lat, lon, dlat, dlon, tm, dt, ele int64
	for _, seg := range t.Segments {
		for _, p := range seg {
			la, lo := int64(math.Round(p.Lat*e7)), int64(math.Round(p.Lon*e7))
			b = binary.AppendVarint(b, (la-lat)-dlat)
			b = binary.AppendVarint(b, (lo-lon)-dlon)
			lat, lon, dlat, dlon = la, lo, la-lat, lo-lon
			if flags&flagTime != 0 {
				if p.Time.IsZero() {
					b = append(b, 0)
				} else {
					ms := p.Time.UnixMilli()
					d := ms - tm
					b = binary.AppendUvarint(b, zigzag(d-dt)+1)
					tm, dt = ms, d
				}
			}
			if flags&flagEle != 0 {
				if !p.HasEle {
					b = append(b, 0)
				} else {
					e := int64(math.Round(p.Ele * 100))
					b = binary.AppendUvarint(b, zigzag(e-ele)+1)
					ele = e
				}
			}
		}
	}
	return b, nil
}

func bits(f uint64) int {
	n := 0
	for ; f != 0; f &= f - 1 {
		n++
	}
	return n
}

// check refuses a track that Encode cannot write.
func check(t *Track) error {
	if len(t.Segments) == 0 {
		return badPoints("no points")
	}
	if len(t.Segments) > MaxSegments {
		return badPoints("%d segments, over the %d limit", len(t.Segments), MaxSegments)
	}
	n := 0
	for i, seg := range t.Segments {
		if len(seg) == 0 {
			return badPoints("segment %d is empty", i+1)
		}
		n += len(seg)
		if n > MaxPoints {
			return badPoints("over %d points", MaxPoints)
		}
		for _, p := range seg {
			if !validLatLon(p.Lat, p.Lon) {
				return badPoints("position %v, %v out of range", p.Lat, p.Lon)
			}
			if !p.Time.IsZero() {
				if ms := p.Time.UnixMilli(); ms < minTime || ms > maxTime {
					return badPoints("time %v out of range", p.Time)
				}
			}
			if p.HasEle && !(math.Abs(p.Ele*100) <= maxEleCM) {
				return badPoints("elevation %v m out of range", p.Ele)
			}
		}
	}
	return nil
}

func validLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// Decode parses a points blob. It refuses anything Encode would not have
// written (ErrBadPoints).
func Decode(b []byte) (*Track, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		if len(b) >= len(magic) && bytes.HasPrefix(b, []byte("FSTK")) {
			return nil, badPoints("version %d", b[len(magic)-1])
		}
		return nil, badPoints("no FSTK header")
	}
	r := &reader{b: b[len(magic):]}
	flags := r.uvarint()
	if flags > flagTime|flagEle {
		return nil, badPoints("flags %d", flags)
	}
	nseg := r.uvarint()
	if r.err != nil || nseg == 0 || nseg > MaxSegments {
		return nil, badPoints("segment count")
	}
	sizes := make([]int, nseg)
	total := 0
	for i := range sizes {
		n := r.uvarint()
		if r.err != nil || n == 0 || n > MaxPoints || total+int(n) > MaxPoints {
			return nil, badPoints("segment %d size", i+1)
		}
		sizes[i] = int(n)
		total += int(n)
	}
	// Every point takes at least two bytes (one per flag more): a short
	// blob cannot claim many points.
	if len(r.b) < total*(2+bits(flags)) {
		return nil, badPoints("%d points in %d bytes", total, len(r.b))
	}
	t := &Track{Segments: make([][]Point, nseg)}
	pts := make([]Point, total)
	var lat, lon, dlat, dlon, tm, dt, ele int64
	var usedTime, usedEle bool
	k := 0
	for si, n := range sizes {
		t.Segments[si] = pts[k : k+n : k+n]
		for range n {
			dlat += r.varint()
			dlon += r.varint()
			// Positions stay within ±1.8e9 and so differences within
			// ±3.6e9: anything beyond is refused before it can overflow.
			if r.err != nil || dlat < -180*e7 || dlat > 180*e7 || dlon < -360*e7 || dlon > 360*e7 {
				return nil, badPoints("position of point %d", k+1)
			}
			lat += dlat
			lon += dlon
			if lat < -90*e7 || lat > 90*e7 || lon < -180*e7 || lon > 180*e7 {
				return nil, badPoints("position of point %d", k+1)
			}
			p := &pts[k]
			p.Lat, p.Lon = float64(lat)/e7, float64(lon)/e7
			if flags&flagTime != 0 {
				if u := r.uvarint(); u != 0 {
					d := dt + unzigzag(u-1)
					ms := tm + d
					if r.err != nil || d < minTime-maxTime || d > maxTime-minTime || ms < minTime || ms > maxTime {
						return nil, badPoints("time of point %d", k+1)
					}
					p.Time = time.UnixMilli(ms).UTC()
					tm, dt, usedTime = ms, d, true
				}
			}
			if flags&flagEle != 0 {
				if u := r.uvarint(); u != 0 {
					e := ele + unzigzag(u-1)
					if r.err != nil || e < -maxEleCM || e > maxEleCM {
						return nil, badPoints("elevation of point %d", k+1)
					}
					p.Ele, p.HasEle = float64(e)/100, true
					ele, usedEle = e, true
				}
			}
			k++
		}
	}
	if r.err != nil {
		return nil, badPoints("%v", r.err)
	}
	if len(r.b) != 0 {
		return nil, badPoints("%d bytes after the last point", len(r.b))
	}
	if usedTime != (flags&flagTime != 0) || usedEle != (flags&flagEle != 0) {
		return nil, badPoints("flags %d not what the points use", flags)
	}
	return t, nil
}

// reader reads varints, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("truncated or overlong varint")
		return 0
	}
	// The shortest form only: one encoding per value.
	if n > 1 && r.b[n-1] == 0 {
		r.err = errors.New("varint not in its shortest form")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	return unzigzag(r.uvarint())
}
