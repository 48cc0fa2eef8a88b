package jpeg

import (
	"bytes"
	stdjpeg "image/jpeg"
	"os"
	"path/filepath"
	"testing"
)

// FuzzSameAsStdlib: on any input, the fork at full scale agrees with
// image/jpeg (same pixels, or both fail), its encoder writes the same bytes
// for the decoded image, and the reduced decodes do not panic. Seeded with
// the JPEG fixtures.
//
//	go test -run '^$' -fuzz FuzzSameAsStdlib -fuzztime 60s ./thumbs/internal/jpeg/
func FuzzSameAsStdlib(f *testing.F) {
	files, _ := filepath.Glob("../../../testdata/photos/*.jpg")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := stdjpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || int64(cfg.Width)*int64(cfg.Height) > 1<<20 {
			return
		}
		want, werr := stdjpeg.Decode(bytes.NewReader(data))
		got, gerr := Decode(bytes.NewReader(data))
		if werr == nil && gerr != nil && gerr.Error() == FormatError("bad Huffman table").Error() {
			return // stricter than upstream on purpose
		}
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("image/jpeg: %v; fork: %v", werr, gerr)
		}
		if werr == nil && !samePixels(want, got) {
			t.Fatal("pixels differ from image/jpeg")
		}
		if werr == nil {
			// And the encoder: the same bytes as image/jpeg's.
			var eb, gb bytes.Buffer
			e1 := stdjpeg.Encode(&eb, want, &stdjpeg.Options{Quality: 80})
			e2 := Encode(&gb, want, &Options{Quality: 80})
			if (e1 == nil) != (e2 == nil) || !bytes.Equal(eb.Bytes(), gb.Bytes()) {
				t.Fatalf("encoder differs from image/jpeg (%v, %v)", e1, e2)
			}
		}
		for n := 1; n < 8; n++ {
			_, _ = DecodeScaled(bytes.NewReader(data), n)
		}
	})
}
