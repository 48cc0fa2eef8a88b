package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"math/rand/v2"
	"os"
	"testing"

	xdraw "golang.org/x/image/draw"
)

// TestSameAsStdlib: at full scale the fork decodes exactly as image/jpeg.
func TestSameAsStdlib(t *testing.T) {
	var inputs [][]byte
	if b, err := os.ReadFile(os.Getenv("FORK_TEST_JPEG")); err == nil {
		inputs = append(inputs, b)
	}
	for _, name := range []string{"baseline", "progressive", "gray", "cmyk", "gps", "orient-6"} {
		b, err := os.ReadFile("../../../testdata/photos/" + name + ".jpg")
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, b)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, 333, 250))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.IntN(256))
	}
	for _, q := range []int{30, 75, 95, 100} {
		var buf bytes.Buffer
		stdjpeg.Encode(&buf, img, &stdjpeg.Options{Quality: q})
		inputs = append(inputs, buf.Bytes())
	}
	for i, data := range inputs {
		want, err := stdjpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("input %d: %v", i, err)
		}
		if !samePixels(want, got) {
			t.Errorf("input %d: pixels differ", i)
		}
	}
}

func samePixels(a, b image.Image) bool {
	switch w := a.(type) {
	case *image.YCbCr:
		g, ok := b.(*image.YCbCr)
		return ok && w.Rect == g.Rect && bytes.Equal(w.Y, g.Y) && bytes.Equal(w.Cb, g.Cb) && bytes.Equal(w.Cr, g.Cr)
	case *image.Gray:
		g, ok := b.(*image.Gray)
		return ok && w.Rect == g.Rect && bytes.Equal(w.Pix, g.Pix)
	case *image.CMYK:
		g, ok := b.(*image.CMYK)
		return ok && w.Rect == g.Rect && bytes.Equal(w.Pix, g.Pix)
	case *image.RGBA:
		g, ok := b.(*image.RGBA)
		return ok && w.Rect == g.Rect && bytes.Equal(w.Pix, g.Pix)
	}
	return false
}

// TestScaledSizes: a reduced decode has the documented size, and its
// pixels are close to the full decode averaged over the same cells.
func TestScaledSizes(t *testing.T) {
	for _, name := range []string{"baseline", "progressive", "gray", "cmyk"} {
		data, err := os.ReadFile("../../../testdata/photos/" + name + ".jpg")
		if err != nil {
			t.Fatal(err)
		}
		full, err := Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n < 8; n++ {
			img, err := DecodeScaled(bytes.NewReader(data), n)
			if err != nil {
				t.Fatalf("%s scale %d/8: %v", name, n, err)
			}
			fb := full.Bounds()
			want := image.Rect(0, 0, (fb.Dx()*n+7)/8, (fb.Dy()*n+7)/8)
			if img.Bounds() != want {
				t.Fatalf("%s scale %d/8: bounds %v, want %v", name, n, img.Bounds(), want)
			}
			k := 8 / n
			if k*n != 8 {
				// Cells of 8/n pixels do not tile the image: compare
				// against the full decode resampled instead.
				if m := meanDiffSampled(full, img, n); m > 5 {
					t.Errorf("%s scale %d/8: mean difference %.2f from the full decode", name, n, m)
				}
				continue
			}
			// Mean absolute difference against k×k box averages of the full
			// decode, on the first channel.
			var diff, n int
			for y := 0; y < want.Dy()-1; y++ {
				for x := 0; x < want.Dx()-1; x++ {
					var sum int
					for dy := 0; dy < k; dy++ {
						for dx := 0; dx < k; dx++ {
							r, _, _, _ := full.At(x*k+dx, y*k+dy).RGBA()
							sum += int(r >> 8)
						}
					}
					r, _, _, _ := img.At(x, y).RGBA()
					d := sum/(k*k) - int(r>>8)
					if d < 0 {
						d = -d
					}
					diff += d
					n++
				}
			}
			if mean := float64(diff) / float64(n); mean > 6 {
				t.Errorf("%s scale %d/8: mean difference %.2f from box averages", name, n, mean)
			}
		}
	}
}

// meanDiffSampled compares small with big scaled to small's size by
// Catmull-Rom, on the first channel.
func meanDiffSampled(big, small image.Image, n int) float64 {
	sb := small.Bounds()
	ref := image.NewRGBA(sb)
	xdraw.CatmullRom.Scale(ref, sb, big, big.Bounds(), xdraw.Src, nil)
	var diff, cnt int
	for y := 1; y < sb.Dy()-1; y++ {
		for x := 1; x < sb.Dx()-1; x++ {
			r1, _, _, _ := ref.At(x, y).RGBA()
			r2, _, _, _ := small.At(x, y).RGBA()
			d := int(r1>>8) - int(r2>>8)
			if d < 0 {
				d = -d
			}
			diff += d
			cnt++
		}
	}
	return float64(diff) / float64(cnt)
}
