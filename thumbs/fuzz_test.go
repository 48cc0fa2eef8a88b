package thumbs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzMake feeds arbitrary bytes to Make, seeded with every fixture in
// testdata/photos. Any result is fine except a panic, a hang, an error that
// is none of the documented ones, or a success without two JPEGs.
//
//	go test -run ^$ -fuzz FuzzMake -fuzztime 60s ./thumbs/
func FuzzMake(f *testing.F) {
	ents, err := os.ReadDir(photos)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(photos, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 64<<10 {
			f.Add(b)
		}
	}
	// Small limits keep each run cheap; a fuzzed header can declare any size.
	opt := Options{ThumbSize: 64, PreviewSize: 128, MaxPixels: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := MakeBytes(data, opt)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("undocumented error: %v", err)
			}
			if strings.Contains(err.Error(), "decoder panic") {
				t.Fatalf("a decoder panicked (recovered by Make): %v", err)
			}
			return
		}
		if len(res.Thumbnail) < 4 || len(res.Preview) < 4 || res.Width <= 0 || res.Height <= 0 {
			t.Fatalf("bad result %+v", res)
		}
	})
}

// FuzzExif feeds arbitrary bytes to the EXIF reader.
func FuzzExif(f *testing.F) {
	for _, name := range []string{"gps.jpg", "orient-6.jpg"} {
		b, err := os.ReadFile(filepath.Join(photos, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(jpegExif(b))
	}
	f.Add(littleEndianExif())
	f.Fuzz(func(t *testing.T, data []byte) {
		info := parseExif(data)
		if info.orientation < 0 || info.orientation > 8 {
			t.Fatalf("orientation %d", info.orientation)
		}
	})
}
