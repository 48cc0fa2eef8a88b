//go:build ignore

// Command gen writes the pixel sources of the thumbs fixtures and, once
// make.sh has turned them into the final files, the golden variants.
//
//	go run gen/main.go sources DIR   # DIR/src-*.png, *.jpg, *.gif, bad files
//	go run gen/main.go golden DIR    # DIR/golden/*.thumb.jpg from the fixtures
//
// The goldens are made by the reference pipeline, independent of package
// thumbs: the standard library's decoders, alpha composited onto white,
// orientation applied with imaging, imaging.Fit with Lanczos to 400×400,
// image/jpeg at quality 90; for the orientation fixtures, from the upright
// picture they were made from. Tests compare thumbs' thumbnails to them by
// PSNR.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/disintegration/imaging"
	_ "golang.org/x/image/webp"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen sources|golden DIR")
		os.Exit(2)
	}
	dir := os.Args[2]
	var err error
	switch os.Args[1] {
	case "sources":
		err = sources(dir)
	case "golden":
		err = golden(dir)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// texture draws a w×h photo-like picture: gradient sky, noisy ground, a few
// hard-edged discs.
func texture(w, h int, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := rng.IntN(31) - 15
			var r, g, b int
			if y < h/3 {
				r, g, b = 90+y*60/h, 140+y*50/h, 230
			} else {
				r, g, b = 100+(x*7%40), 120+(y*5%50), 60
			}
			img.SetNRGBA(x, y, color.NRGBA{c8(r + n), c8(g + n), c8(b + n), 255})
		}
	}
	for i := 0; i < 12; i++ {
		cx, cy, rad := rng.IntN(w), h/3+rng.IntN(h*2/3), 5+rng.IntN(h/6)
		col := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
		for y := max(0, cy-rad); y < min(h, cy+rad); y++ {
			for x := max(0, cx-rad); x < min(w, cx+rad); x++ {
				if (x-cx)*(x-cx)+(y-cy)*(y-cy) < rad*rad {
					img.SetNRGBA(x, y, col)
				}
			}
		}
	}
	return img
}

func c8(v int) uint8 { return uint8(min(255, max(0, v))) }

// quadrants is the upright orientation test picture: red top-left, green
// top-right, blue bottom-left, white bottom-right, 96×64.
func quadrants() *image.NRGBA {
	w, h := 96, 64
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cols := [4]color.NRGBA{{220, 30, 30, 255}, {30, 200, 30, 255}, {30, 30, 220, 255}, {240, 240, 240, 255}}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			img.SetNRGBA(x, y, cols[q])
		}
	}
	return img
}

// stored returns what a camera stores for an upright picture when it writes
// orientation o: the inverse of the transform a viewer applies.
func stored(up image.Image, o int) *image.NRGBA {
	switch o {
	case 2:
		return imaging.FlipH(up)
	case 3:
		return imaging.Rotate180(up)
	case 4:
		return imaging.FlipV(up)
	case 5:
		return imaging.Transpose(up)
	case 6:
		return imaging.Rotate90(up) // viewer turns it 90° clockwise back
	case 7:
		return imaging.Transverse(up)
	case 8:
		return imaging.Rotate270(up)
	}
	return imaging.Clone(up)
}

func writeJPEG(path string, img image.Image, q int) error {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func sources(dir string) error {
	photo := texture(480, 360, 1)
	for o := 1; o <= 8; o++ {
		if err := writeJPEG(filepath.Join(dir, fmt.Sprintf("orient-%d.jpg", o)), stored(quadrants(), o), 90); err != nil {
			return err
		}
	}
	// Orientation 6 once more, losslessly, for the PNG and WebP fixtures.
	if err := writePNG(filepath.Join(dir, "src-orient-6.png"), stored(quadrants(), 6)); err != nil {
		return err
	}
	if err := writeJPEG(filepath.Join(dir, "baseline.jpg"), photo, 85); err != nil {
		return err
	}
	if err := writeJPEG(filepath.Join(dir, "gps.jpg"), photo, 85); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(dir, "src-photo.png"), photo); err != nil {
		return err
	}
	gray := image.NewGray(photo.Bounds())
	draw.Draw(gray, gray.Bounds(), photo, image.Point{}, draw.Src)
	if err := writeJPEG(filepath.Join(dir, "gray.jpg"), gray, 85); err != nil {
		return err
	}
	// PNG, 8-bit with an alpha ramp from opaque (left) to clear (right).
	rgba := imaging.Clone(photo)
	b := rgba.Bounds()
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			rgba.Pix[rgba.PixOffset(x, y)+3] = uint8(255 - x*255/(b.Dx()-1))
		}
	}
	if err := writePNG(filepath.Join(dir, "alpha8.png"), rgba); err != nil {
		return err
	}
	if err := writePNG(filepath.Join(dir, "src-alpha.png"), rgba); err != nil {
		return err
	}
	// PNG, 16-bit, opaque top half, half-transparent bottom half.
	small := imaging.Resize(photo, 240, 180, imaging.Box)
	n16 := image.NewNRGBA64(small.Bounds())
	for y := 0; y < 180; y++ {
		for x := 0; x < 240; x++ {
			c := small.NRGBAAt(x, y)
			a := uint16(0xffff)
			if y >= 90 {
				a = 0x8000
			}
			n16.SetNRGBA64(x, y, color.NRGBA64{uint16(c.R)*0x101 + uint16(x), uint16(c.G) * 0x101, uint16(c.B) * 0x101, a})
		}
	}
	if err := writePNG(filepath.Join(dir, "deep16.png"), n16); err != nil {
		return err
	}
	// GIF, two frames, transparent background in the first.
	pal := append(color.Palette{color.RGBA{}}, palette.Plan9[1:]...)
	f1 := image.NewPaletted(small.Bounds(), pal)
	draw.Draw(f1, f1.Bounds(), small, image.Point{}, draw.Src)
	for y := 0; y < 20; y++ {
		for x := 0; x < 240; x++ {
			f1.SetColorIndex(x, y, 0)
		}
	}
	f2 := image.NewPaletted(small.Bounds(), pal)
	draw.Draw(f2, f2.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	var gb bytes.Buffer
	if err := gif.EncodeAll(&gb, &gif.GIF{Image: []*image.Paletted{f1, f2}, Delay: []int{50, 50}}); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "anim.gif"), gb.Bytes(), 0o644); err != nil {
		return err
	}
	return badFiles(dir)
}

// badFiles writes the inputs that must fail cleanly.
func badFiles(dir string) error {
	base, err := os.ReadFile(filepath.Join(dir, "baseline.jpg"))
	if err != nil {
		return err
	}
	write := func(name string, b []byte) error { return os.WriteFile(filepath.Join(dir, name), b, 0o644) }
	if err := write("bad-truncated.jpg", base[:len(base)/2]); err != nil {
		return err
	}
	if err := write("bad-empty.jpg", nil); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(3, 3))
	junk := make([]byte, 1024)
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	junk[0] = 'x' // not by chance a signature
	if err := write("bad-random.bin", junk); err != nil {
		return err
	}
	// A JPEG header followed by noise instead of entropy-coded data.
	sos := bytes.Index(base, []byte{0xff, 0xda})
	corrupt := append([]byte(nil), base[:sos+14]...)
	for i := 0; i < 2000; i++ {
		b := byte(rng.Uint32())
		if b == 0xff {
			b = 0xfe
		}
		corrupt = append(corrupt, b)
	}
	corrupt = append(corrupt, 0xff, 0xd9)
	if err := write("bad-noise.jpg", corrupt); err != nil {
		return err
	}
	// A JPEG whose SOF claims 65000×65000 (4.2 G pixels).
	huge := append([]byte(nil), base...)
	sof := bytes.Index(huge, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(huge[sof+5:], 65000)
	binary.BigEndian.PutUint16(huge[sof+7:], 65000)
	if err := write("bad-huge.jpg", huge); err != nil {
		return err
	}
	// A PNG whose IHDR claims 100000×100000, CRC correct, then IEND.
	var p bytes.Buffer
	p.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&p, binary.BigEndian, uint32(len(data)))
		c := append([]byte(typ), data...)
		p.Write(c)
		binary.Write(&p, binary.BigEndian, crc32.ChecksumIEEE(c))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA
	chunk("IHDR", ihdr)
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	if err := write("bad-huge.png", p.Bytes()); err != nil {
		return err
	}
	// Not a photo this package handles: the start of a HEIC file.
	return write("other.heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"))
}

// golden writes golden/NAME.thumb.jpg for each good fixture.
func golden(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "golden"), 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, "bad-") || strings.HasPrefix(name, "src-") ||
			strings.HasSuffix(name, ".sh") || strings.HasSuffix(name, ".heic") || strings.HasSuffix(name, ".md") {
			continue
		}
		var img image.Image
		if strings.HasPrefix(name, "orient-") {
			// The orientation fixtures' golden is the upright truth itself
			// (imaging reads EXIF orientation from JPEGs only).
			img = quadrants()
		} else {
			f, err := os.Open(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			img, err = imaging.Decode(f, imaging.AutoOrientation(true))
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		flat := imaging.New(img.Bounds().Dx(), img.Bounds().Dy(), color.White)
		flat = imaging.Overlay(flat, img, image.Point{}, 1)
		th := imaging.Fit(flat, 400, 400, imaging.Lanczos)
		if err := writeJPEG(filepath.Join(dir, "golden", name+".thumb.jpg"), th, 90); err != nil {
			return err
		}
	}
	return nil
}
