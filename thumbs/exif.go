package thumbs

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"time"
)

// A hand-written reader for the few EXIF tags this package needs
// (Orientation, DateTimeOriginal with its OffsetTimeOriginal, the GPS
// position). It reads only from the one EXIF block it is given (at most 64
// KiB in a JPEG), checks every offset against it, follows exactly two fixed
// pointers (IFD0 to the Exif IFD and to the GPS IFD) so it cannot loop, and
// allocates nothing in proportion to counts the file declares. General EXIF
// libraries do more than this needs and trust declared counts more than a
// decoder of untrusted input should (one allocates count×8 bytes before
// reading), so this one is kept small enough to read and is fuzzed.

// exifInfo is what this package takes from EXIF.
type exifInfo struct {
	orientation int // 1..8; 0 when absent or invalid
	taken       time.Time
	gps         *Position
}

const (
	tagOrientation        = 0x0112
	tagExifIFD            = 0x8769
	tagGPSIFD             = 0x8825
	tagDateTimeOriginal   = 0x9003
	tagOffsetTimeOriginal = 0x9011
	tagGPSLatitudeRef     = 1
	tagGPSLatitude        = 2
	tagGPSLongitudeRef    = 3
	tagGPSLongitude       = 4

	typeByte     = 1
	typeASCII    = 2
	typeShort    = 3
	typeLong     = 4
	typeRational = 5

	maxIFDEntries = 1000
)

// ifdEntry is one directory entry, its value still raw.
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte // count·size bytes, inline or at the offset; nil if out of range
}

type tiffReader struct {
	b     []byte
	order binary.ByteOrder
}

// parseExif reads a TIFF-structured EXIF block (what follows "Exif\0\0").
// It never fails: what it cannot read stays zero.
func parseExif(b []byte) exifInfo {
	var info exifInfo
	if len(b) < 8 {
		return info
	}
	t := tiffReader{b: b}
	switch string(b[:4]) {
	case "II*\x00":
		t.order = binary.LittleEndian
	case "MM\x00*":
		t.order = binary.BigEndian
	default:
		return info
	}
	ifd0 := t.entries(t.order.Uint32(b[4:8]))
	var exifOff, gpsOff uint32
	for _, e := range ifd0 {
		switch e.tag {
		case tagOrientation:
			if v, ok := t.uint(e); ok && v >= 1 && v <= 8 {
				info.orientation = int(v)
			}
		case tagExifIFD:
			exifOff, _ = t.uint(e)
		case tagGPSIFD:
			gpsOff, _ = t.uint(e)
		}
	}
	if exifOff != 0 {
		var dt, off string
		for _, e := range t.entries(exifOff) {
			switch e.tag {
			case tagDateTimeOriginal:
				dt = t.ascii(e)
			case tagOffsetTimeOriginal:
				off = t.ascii(e)
			}
		}
		info.taken = parseExifTime(dt, off)
	}
	if gpsOff != 0 {
		var latRef, lonRef string
		var lat, lon float64
		var haveLat, haveLon bool
		for _, e := range t.entries(gpsOff) {
			switch e.tag {
			case tagGPSLatitudeRef:
				latRef = t.ascii(e)
			case tagGPSLongitudeRef:
				lonRef = t.ascii(e)
			case tagGPSLatitude:
				lat, haveLat = t.degrees(e)
			case tagGPSLongitude:
				lon, haveLon = t.degrees(e)
			}
		}
		if haveLat && haveLon && lat <= 90 && lon <= 180 {
			if latRef == "S" {
				lat = -lat
			}
			if lonRef == "W" {
				lon = -lon
			}
			info.gps = &Position{Lat: lat, Lon: lon}
		}
	}
	return info
}

// entries reads the IFD at off; out-of-range parts are skipped.
func (t tiffReader) entries(off uint32) []ifdEntry {
	if off < 8 || uint64(off)+2 > uint64(len(t.b)) {
		return nil
	}
	n := int(t.order.Uint16(t.b[off:]))
	if n > maxIFDEntries {
		n = maxIFDEntries
	}
	var out []ifdEntry
	p := int(off) + 2
	for i := 0; i < n && p+12 <= len(t.b); i, p = i+1, p+12 {
		e := ifdEntry{
			tag:   t.order.Uint16(t.b[p:]),
			typ:   t.order.Uint16(t.b[p+2:]),
			count: t.order.Uint32(t.b[p+4:]),
		}
		size := uint64(0)
		switch e.typ {
		case typeByte, typeASCII:
			size = 1
		case typeShort:
			size = 2
		case typeLong:
			size = 4
		case typeRational:
			size = 8
		}
		total := size * uint64(e.count)
		switch {
		case total == 0:
		case total <= 4:
			e.value = t.b[p+8 : p+8+int(total)]
		default:
			vo := uint64(t.order.Uint32(t.b[p+8:]))
			if vo+total <= uint64(len(t.b)) {
				e.value = t.b[vo : vo+total]
			}
		}
		out = append(out, e)
	}
	return out
}

func (t tiffReader) uint(e ifdEntry) (uint32, bool) {
	switch {
	case e.typ == typeShort && len(e.value) >= 2:
		return uint32(t.order.Uint16(e.value)), true
	case e.typ == typeLong && len(e.value) >= 4:
		return t.order.Uint32(e.value), true
	}
	return 0, false
}

func (t tiffReader) ascii(e ifdEntry) string {
	if e.typ != typeASCII {
		return ""
	}
	v := e.value
	if i := bytes.IndexByte(v, 0); i >= 0 {
		v = v[:i]
	}
	return string(bytes.TrimSpace(v))
}

// degrees reads three rationals (degrees, minutes, seconds).
func (t tiffReader) degrees(e ifdEntry) (float64, bool) {
	if e.typ != typeRational || len(e.value) < 24 {
		return 0, false
	}
	var parts [3]float64
	for i := range parts {
		num := t.order.Uint32(e.value[8*i:])
		den := t.order.Uint32(e.value[8*i+4:])
		if den == 0 {
			if num != 0 {
				return 0, false
			}
			continue
		}
		parts[i] = float64(num) / float64(den)
	}
	d := parts[0] + parts[1]/60 + parts[2]/3600
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return 0, false
	}
	return d, true
}

// parseExifTime reads "2006:01:02 15:04:05" with an optional "+07:00"
// offset. Without an offset the camera's wall-clock time is returned in UTC
// (EXIF does not say the zone); the zero time when dt is missing or bad.
func parseExifTime(dt, off string) time.Time {
	tm, err := time.Parse("2006:01:02 15:04:05", dt)
	if err != nil {
		return time.Time{}
	}
	if len(off) == 6 && (off[0] == '+' || off[0] == '-') && off[3] == ':' {
		h, err1 := strconv.Atoi(off[1:3])
		m, err2 := strconv.Atoi(off[4:6])
		if err1 == nil && err2 == nil && h <= 14 && m < 60 {
			secs := h*3600 + m*60
			if off[0] == '-' {
				secs = -secs
			}
			tm = time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), 0, time.FixedZone(off, secs))
		}
	}
	return tm
}

// jpegExif returns the payload of a JPEG's first APP1 "Exif\0\0" segment,
// looking only at the markers before the first scan.
func jpegExif(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return nil
	}
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xff {
			return nil
		}
		m := b[p+1]
		if m == 0xff { // fill byte
			p++
			continue
		}
		if m == 0xda || m == 0xd9 { // SOS, EOI
			return nil
		}
		if m >= 0xd0 && m <= 0xd7 || m == 0x01 {
			p += 2
			continue
		}
		n := int(b[p+2])<<8 | int(b[p+3])
		if n < 2 || p+2+n > len(b) {
			return nil
		}
		seg := b[p+4 : p+2+n]
		if m == 0xe1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return seg[6:]
		}
		p += 2 + n
	}
	return nil
}

// riffExif returns the payload of a WebP's "EXIF" chunk.
func riffExif(b []byte) []byte {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil
	}
	for p := 12; p+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[p+4:]))
		if n < 0 || n > len(b)-p-8 {
			return nil
		}
		if string(b[p:p+4]) == "EXIF" {
			e := b[p+8 : p+8+n]
			// Some writers keep JPEG's "Exif\0\0" prefix.
			return bytes.TrimPrefix(e, []byte("Exif\x00\x00"))
		}
		p += 8 + n + n&1
	}
	return nil
}

// pngExif returns the payload of a PNG's "eXIf" chunk.
func pngExif(b []byte) []byte {
	const sig = "\x89PNG\r\n\x1a\n"
	if len(b) < 8 || string(b[:8]) != sig {
		return nil
	}
	for p := 8; p+12 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[p:]))
		if n < 0 || n > len(b)-p-12 {
			return nil
		}
		typ := string(b[p+4 : p+8])
		if typ == "eXIf" {
			return b[p+8 : p+8+n]
		}
		if typ == "IEND" {
			return nil
		}
		p += 12 + n
	}
	return nil
}
