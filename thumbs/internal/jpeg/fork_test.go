package jpeg

import (
	"bytes"
	"image"
	stdjpeg "image/jpeg"
	"math/rand/v2"
	"os"
	"testing"
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
		for shift := uint(1); shift <= 3; shift++ {
			img, err := DecodeScaled(bytes.NewReader(data), shift)
			if err != nil {
				t.Fatalf("%s shift %d: %v", name, shift, err)
			}
			k := 1 << shift
			fb := full.Bounds()
			want := image.Rect(0, 0, (fb.Dx()+k-1)/k, (fb.Dy()+k-1)/k)
			if img.Bounds() != want {
				t.Fatalf("%s shift %d: bounds %v, want %v", name, shift, img.Bounds(), want)
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
				t.Errorf("%s shift %d: mean difference %.2f from box averages", name, shift, mean)
			}
		}
	}
}
