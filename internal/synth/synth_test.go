package synth

import (
	"bytes"
	"image/jpeg"
	"math"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/thumbs"
)

func TestJPEGWithExif(t *testing.T) {
	taken := time.Date(2026, 5, 17, 9, 41, 7, 0, time.UTC)
	b := JPEG(320, 240, 7, 85, Meta{Taken: taken, Lat: -3.46521, Lon: -62.21587})
	if _, err := jpeg.Decode(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	r, err := thumbs.MakeBytes(b, thumbs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Taken.Equal(taken) {
		t.Errorf("taken %v, want %v", r.Taken, taken)
	}
	if r.GPS == nil || math.Abs(r.GPS.Lat+3.46521) > 1e-5 || math.Abs(r.GPS.Lon+62.21587) > 1e-5 {
		t.Errorf("gps %+v", r.GPS)
	}
	if r.Width != 320 || r.Height != 240 {
		t.Errorf("size %dx%d", r.Width, r.Height)
	}
	if !bytes.Equal(b, JPEG(320, 240, 7, 85, Meta{Taken: taken, Lat: -3.46521, Lon: -62.21587})) {
		t.Error("not deterministic")
	}
}
