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
		w, g := want.(*image.YCbCr), got.(*image.YCbCr)
		if !bytes.Equal(w.Y, g.Y) || !bytes.Equal(w.Cb, g.Cb) || !bytes.Equal(w.Cr, g.Cr) {
			t.Errorf("input %d: pixels differ", i)
		}
	}
}
