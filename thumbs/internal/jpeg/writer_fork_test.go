package jpeg

import (
	"bytes"
	"image"
	"image/color"
	stdjpeg "image/jpeg"
	"math/rand/v2"
	"testing"
)

// TestEncodeSameAsStdlib: the fork's encoder writes exactly image/jpeg's
// bytes, for 4:2:0 YCbCr (its fast path) of many sizes, other subsampling,
// a sub-image, gray and RGBA, at several qualities.
func TestEncodeSameAsStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	var imgs []image.Image
	for _, sz := range [][2]int{{1, 1}, {7, 5}, {16, 16}, {17, 33}, {250, 131}, {400, 300}} {
		for _, r := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422} {
			m := image.NewYCbCr(image.Rect(0, 0, sz[0], sz[1]), r)
			for i := range m.Y {
				m.Y[i] = uint8(rng.IntN(256))
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
			}
			imgs = append(imgs, m)
			if sz[0] > 20 {
				imgs = append(imgs, m.SubImage(image.Rect(3, 5, sz[0]-1, sz[1]-2)))
			}
		}
		g := image.NewGray(image.Rect(0, 0, sz[0], sz[1]))
		for i := range g.Pix {
			g.Pix[i] = uint8(rng.IntN(256))
		}
		imgs = append(imgs, g)
		c := image.NewRGBA(image.Rect(0, 0, sz[0], sz[1]))
		for i := range c.Pix {
			c.Pix[i] = uint8(rng.IntN(256))
		}
		imgs = append(imgs, c)
	}
	u := image.NewUniform(color.RGBA{10, 200, 30, 255})
	imgs = append(imgs, &image.NRGBA{Pix: make([]uint8, 4*9*9), Stride: 36, Rect: image.Rect(0, 0, 9, 9)}, image.NewRGBA(u.Bounds().Intersect(image.Rect(0, 0, 5, 5))))
	for i, m := range imgs {
		for _, q := range []int{1, 30, 75, 90, 100} {
			var want, got bytes.Buffer
			if err := stdjpeg.Encode(&want, m, &stdjpeg.Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			if err := Encode(&got, m, &Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want.Bytes(), got.Bytes()) {
				t.Fatalf("image %d (%T %v) quality %d: bytes differ from image/jpeg", i, m, m.Bounds(), q)
			}
		}
	}
}
