package thumbs

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

// littleEndianExif builds a little-endian ("II") TIFF block by hand:
// orientation 8, DateTimeOriginal without an offset, GPS 47.5 N 8.25 E.
// (exiftool writes big-endian, which the fixtures cover.)
func littleEndianExif() []byte {
	le := binary.LittleEndian
	b := []byte("II*\x00")
	b = le.AppendUint32(b, 8)
	entry := func(tag, typ uint16, count, value uint32) {
		b = le.AppendUint16(b, tag)
		b = le.AppendUint16(b, typ)
		b = le.AppendUint32(b, count)
		b = le.AppendUint32(b, value)
	}
	// IFD0 at 8 (42 bytes), Exif IFD at 50 (18), GPS IFD at 68 (54),
	// then the date at 122, latitude at 142, longitude at 166.
	b = le.AppendUint16(b, 3)
	entry(tagOrientation, typeShort, 1, 8)
	entry(tagExifIFD, typeLong, 1, 50)
	entry(tagGPSIFD, typeLong, 1, 68)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 1)
	entry(tagDateTimeOriginal, typeASCII, 20, 122)
	b = le.AppendUint32(b, 0)
	b = le.AppendUint16(b, 4)
	entry(tagGPSLatitudeRef, typeASCII, 2, uint32('N'))
	entry(tagGPSLatitude, typeRational, 3, 142)
	entry(tagGPSLongitudeRef, typeASCII, 2, uint32('E'))
	entry(tagGPSLongitude, typeRational, 3, 166)
	b = le.AppendUint32(b, 0)
	b = append(b, "2023:01:02 03:04:05\x00"...)
	for _, r := range [][2]uint32{{47, 1}, {30, 1}, {0, 1}, {8, 1}, {15, 1}, {0, 100}} {
		b = le.AppendUint32(b, r[0])
		b = le.AppendUint32(b, r[1])
	}
	return b
}

func TestExifLittleEndian(t *testing.T) {
	b := littleEndianExif()
	if len(b) != 190 {
		t.Fatalf("built %d bytes, layout wants 190", len(b))
	}
	info := parseExif(b)
	if info.orientation != 8 {
		t.Errorf("orientation %d", info.orientation)
	}
	if want := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC); !info.taken.Equal(want) {
		t.Errorf("taken %v, want %v", info.taken, want)
	}
	if info.gps == nil || math.Abs(info.gps.Lat-47.5) > 1e-9 || math.Abs(info.gps.Lon-8.25) > 1e-9 {
		t.Errorf("gps %+v", info.gps)
	}
	// Every truncation reads what it can and never panics.
	for n := 0; n < len(b); n++ {
		_ = parseExif(b[:n])
	}
}

func TestExifRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func([]byte)
	}{
		{"orientation 9", func(b []byte) { b[8+2+8] = 9 }},
		{"latitude over 90", func(b []byte) { binary.LittleEndian.PutUint32(b[142:], 95) }},
		{"zero denominator", func(b []byte) { binary.LittleEndian.PutUint32(b[142+4:], 0) }},
		{"IFD0 offset out of range", func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 5000) }},
	} {
		b := littleEndianExif()
		c.edit(b)
		info := parseExif(b)
		switch c.name {
		case "orientation 9":
			if info.orientation != 0 {
				t.Errorf("%s: orientation %d", c.name, info.orientation)
			}
		case "latitude over 90", "zero denominator":
			if info.gps != nil {
				t.Errorf("%s: gps %+v", c.name, info.gps)
			}
		default:
			if info.orientation != 0 || info.gps != nil || !info.taken.IsZero() {
				t.Errorf("%s: %+v", c.name, info)
			}
		}
	}
	if got := parseExifTime("2024:05:17 09:41:23", "+05:30"); got.Format(time.RFC3339) != "2024-05-17T09:41:23+05:30" {
		t.Errorf("offset time %v", got)
	}
	if got := parseExifTime("0000:00:00 00:00:00", ""); !got.IsZero() {
		t.Errorf("blank date gave %v", got)
	}
}
