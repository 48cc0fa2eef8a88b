package thumbs

import (
	"bytes"
	"image/jpeg"
	"os"
	"sync"
	"testing"

	"github.com/fieldsync/fieldsync/internal/synth"
)

var (
	bigOnce sync.Once
	bigJPEG []byte
)

// bigPhoto returns a 4000×3000 (12-megapixel) camera-like JPEG
// (internal/synth's Photo: sky, textured ground, blobs, strokes and grain,
// the mix that makes decoding cost what it costs on real photos) at quality
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
		if err := jpeg.Encode(&buf, synth.Photo(4000, 3000, 1), &jpeg.Options{Quality: 90}); err != nil {
			panic(err)
		}
		bigJPEG = buf.Bytes()
	})
	return bigJPEG
}
