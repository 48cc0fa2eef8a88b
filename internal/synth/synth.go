// Package synth makes deterministic stand-ins for camera photos, for the
// demo, the benchmarks and tests: images with the mix of smooth sky, fine
// texture, hard edges and grain that makes decoding, resampling and
// encoding cost what they cost on real photos (flat colour would not), and
// JPEGs carrying the EXIF a camera writes (DateTimeOriginal, GPS).
//
// The EXIF writer is hand-written (a few dozen lines of TIFF): the Go EXIF
// libraries read, and none that is maintained writes GPS tags.
package synth

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"time"
)

// Photo draws a deterministic stand-in for a camera photo: a sky
// gradient over textured ground (fractal value noise), a few hundred
// hard-edged blobs with their own texture (stones, leaves), thin dark
// strokes (grass, twigs) and per-pixel grain. It has the mix of smooth
// areas, fine texture and sharp edges that makes JPEG decoding, resampling
// and encoding cost what they cost on real photos; flat colour would not.
func Photo(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	type octave struct {
		cell    int
		gw, gh  int
		lattice []float32
		amp     float32
	}
	var octs []octave
	amp := float32(1)
	for _, cell := range []int{512, 128, 32, 8, 3} {
		gw, gh := w/cell+2, h/cell+2
		l := make([]float32, gw*gh)
		for i := range l {
			l[i] = rng.Float32()*2 - 1
		}
		octs = append(octs, octave{cell, gw, gh, l, amp})
		amp *= 0.55
	}
	noise := func(x, y int) float32 {
		var s float32
		for i := range octs {
			o := &octs[i]
			cx, cy := (x/o.cell)%(o.gw-1), (y/o.cell)%(o.gh-1)
			fx := float32(x%o.cell) / float32(o.cell)
			fy := float32(y%o.cell) / float32(o.cell)
			fx = fx * fx * (3 - 2*fx)
			fy = fy * fy * (3 - 2*fy)
			r0 := o.lattice[cy*o.gw+cx:]
			r1 := o.lattice[(cy+1)*o.gw+cx:]
			a := r0[0] + (r0[1]-r0[0])*fx
			b := r1[0] + (r1[1]-r1[0])*fx
			s += (a + (b-a)*fy) * o.amp
		}
		return s
	}
	horizon := h * 3 / 10
	clamp := func(v float32) uint8 {
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			n := noise(x, y)
			grain := float32(rng.IntN(13) - 6)
			var r, g, b float32
			if y < horizon+int(n*40) {
				t := float32(y) / float32(horizon)
				r, g, b = 90+60*t+10*n, 140+50*t+10*n, 230-20*t+8*n
			} else {
				r, g, b = 95+70*n, 110+80*n, 50+40*n
			}
			row[4*x+0] = clamp(r + grain)
			row[4*x+1] = clamp(g + grain)
			row[4*x+2] = clamp(b + grain)
			row[4*x+3] = 255
		}
	}
	// Blobs: ellipses with hard edges and a textured fill.
	for i := 0; i < 400; i++ {
		cx, cy := rng.IntN(w), horizon+rng.IntN(h-horizon)
		rx, ry := 10+rng.IntN(w/25), 5+rng.IntN(h/30)
		base := color.RGBA{uint8(60 + rng.IntN(150)), uint8(50 + rng.IntN(150)), uint8(30 + rng.IntN(120)), 255}
		for y := max(0, cy-ry); y < min(h, cy+ry); y++ {
			dy := float32(y-cy) / float32(ry)
			for x := max(0, cx-rx); x < min(w, cx+rx); x++ {
				dx := float32(x-cx) / float32(rx)
				if dx*dx+dy*dy > 1 {
					continue
				}
				shade := 1 - 0.35*(dx+dy) + 0.4*noise(x*3, y*3)
				o := y*img.Stride + 4*x
				img.Pix[o+0] = clamp(float32(base.R) * shade)
				img.Pix[o+1] = clamp(float32(base.G) * shade)
				img.Pix[o+2] = clamp(float32(base.B) * shade)
			}
		}
	}
	// Strokes: thin dark lines, one to three pixels wide.
	for i := 0; i < 3000; i++ {
		x0, y0 := rng.IntN(w), horizon+rng.IntN(h-horizon)
		length := 20 + rng.IntN(h/10)
		dx := rng.Float32()*0.6 - 0.3
		width := 1 + rng.IntN(3)
		v := uint8(20 + rng.IntN(60))
		for k := 0; k < length; k++ {
			y := y0 - k
			x := x0 + int(dx*float32(k))
			if y < 0 || x < 0 || x+width > w {
				break
			}
			for j := 0; j < width; j++ {
				o := y*img.Stride + 4*(x+j)
				img.Pix[o], img.Pix[o+1], img.Pix[o+2] = v, v+20, v/2
			}
		}
	}
	return img
}

// Meta is the EXIF a synthetic camera writes.
type Meta struct {
	Taken    time.Time // DateTimeOriginal (wall clock); zero: none
	Lat, Lon float64   // GPS position; both zero: none
}

// JPEG encodes Photo(w, h, seed) at quality q with an EXIF APP1 segment
// carrying m.
func JPEG(w, h int, seed uint64, q int, m Meta) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, Photo(w, h, seed), &jpeg.Options{Quality: q}); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return WithExif(buf.Bytes(), m)
}

// WithExif inserts an EXIF APP1 segment carrying m right after the SOI
// marker of a JPEG.
func WithExif(jpg []byte, m Meta) []byte {
	if m.Taken.IsZero() && m.Lat == 0 && m.Lon == 0 {
		return jpg
	}
	tiff := exifTIFF(m)
	seg := make([]byte, 0, len(tiff)+10)
	seg = append(seg, 0xFF, 0xE1)
	seg = binary.BigEndian.AppendUint16(seg, uint16(2+6+len(tiff)))
	seg = append(seg, "Exif\x00\x00"...)
	seg = append(seg, tiff...)
	out := make([]byte, 0, len(jpg)+len(seg))
	out = append(out, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// ifdEntry is one TIFF directory entry; values longer than 4 bytes go to
// the data area.
type ifdEntry struct {
	tag, typ uint16
	count    uint32
	value    []byte
}

// exifTIFF builds a big-endian TIFF structure: IFD0 pointing to an Exif
// IFD (DateTimeOriginal) and a GPS IFD.
func exifTIFF(m Meta) []byte {
	be := binary.BigEndian
	ascii := func(s string) []byte { return append([]byte(s), 0) }
	rational := func(vals ...[2]uint32) []byte {
		var b []byte
		for _, v := range vals {
			b = be.AppendUint32(b, v[0])
			b = be.AppendUint32(b, v[1])
		}
		return b
	}
	dms := func(deg float64) []byte {
		deg = math.Abs(deg)
		d := math.Floor(deg)
		mnt := math.Floor((deg - d) * 60)
		sec := ((deg-d)*60 - mnt) * 60
		return rational([2]uint32{uint32(d), 1}, [2]uint32{uint32(mnt), 1}, [2]uint32{uint32(math.Round(sec * 10000)), 10000})
	}
	var exif, gps []ifdEntry
	if !m.Taken.IsZero() {
		exif = append(exif, ifdEntry{0x9003, 2, 20, ascii(m.Taken.Format("2006:01:02 15:04:05"))})
	}
	if m.Lat != 0 || m.Lon != 0 {
		latRef, lonRef := "N", "E"
		if m.Lat < 0 {
			latRef = "S"
		}
		if m.Lon < 0 {
			lonRef = "W"
		}
		gps = append(gps,
			ifdEntry{0x0000, 1, 4, []byte{2, 3, 0, 0}},
			ifdEntry{0x0001, 2, 2, ascii(latRef)},
			ifdEntry{0x0002, 5, 3, dms(m.Lat)},
			ifdEntry{0x0003, 2, 2, ascii(lonRef)},
			ifdEntry{0x0004, 5, 3, dms(m.Lon)},
		)
	}
	// Layout: header(8) | IFD0 | Exif IFD | GPS IFD | data.
	ifdSize := func(n int) int { return 2 + 12*n + 4 }
	n0 := 0
	if len(exif) > 0 {
		n0++
	}
	if len(gps) > 0 {
		n0++
	}
	off0 := 8
	offExif := off0 + ifdSize(n0)
	offGPS := offExif
	if len(exif) > 0 {
		offGPS += ifdSize(len(exif))
	}
	dataOff := offGPS
	if len(gps) > 0 {
		dataOff += ifdSize(len(gps))
	}
	var data []byte
	writeIFD := func(b []byte, es []ifdEntry) []byte {
		b = be.AppendUint16(b, uint16(len(es)))
		for _, e := range es {
			b = be.AppendUint16(b, e.tag)
			b = be.AppendUint16(b, e.typ)
			b = be.AppendUint32(b, e.count)
			if len(e.value) <= 4 {
				v := make([]byte, 4)
				copy(v, e.value)
				b = append(b, v...)
			} else {
				b = be.AppendUint32(b, uint32(dataOff+len(data)))
				data = append(data, e.value...)
				if len(data)%2 == 1 {
					data = append(data, 0)
				}
			}
		}
		return be.AppendUint32(b, 0)
	}
	var ifd0 []ifdEntry
	if len(exif) > 0 {
		ifd0 = append(ifd0, ifdEntry{0x8769, 4, 1, be.AppendUint32(nil, uint32(offExif))})
	}
	if len(gps) > 0 {
		ifd0 = append(ifd0, ifdEntry{0x8825, 4, 1, be.AppendUint32(nil, uint32(offGPS))})
	}
	b := []byte{'M', 'M', 0, 42}
	b = be.AppendUint32(b, uint32(off0))
	b = writeIFD(b, ifd0)
	if len(exif) > 0 {
		b = writeIFD(b, exif)
	}
	if len(gps) > 0 {
		b = writeIFD(b, gps)
	}
	return append(b, data...)
}
