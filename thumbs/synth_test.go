package thumbs

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
)

// synthPhoto draws a deterministic stand-in for a camera photo: a sky
// gradient over textured ground (fractal value noise), a few hundred
// hard-edged blobs with their own texture (stones, leaves), thin dark
// strokes (grass, twigs) and per-pixel grain. It has the mix of smooth
// areas, fine texture and sharp edges that makes JPEG decoding, resampling
// and encoding cost what they cost on real photos; flat colour would not.
func synthPhoto(w, h int, seed uint64) *image.RGBA {
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

var (
	bigOnce sync.Once
	bigJPEG []byte
)

// bigPhoto returns a 4000×3000 (12-megapixel) camera-like JPEG at quality
// 90, made once per test binary; or, when $FIELDSYNC_BENCH_PHOTO names a
// JPEG file, that file, to measure on a real photo.
func bigPhoto(tb testing.TB) []byte {
	tb.Helper()
	if p := os.Getenv("FIELDSYNC_BENCH_PHOTO"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	bigOnce.Do(func() {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, synthPhoto(4000, 3000, 1), &jpeg.Options{Quality: 90}); err != nil {
			panic(err)
		}
		bigJPEG = buf.Bytes()
	})
	return bigJPEG
}
