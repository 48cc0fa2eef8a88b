//go:build linux

package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"
)

func TestNiceStep(t *testing.T) {
	for _, c := range []struct {
		max  float64
		n    int
		want float64
	}{
		{17.7, 8, 5}, {100, 5, 20}, {1, 5, 0.2}, {0.3, 8, 0.05}, {1234, 8, 200}, {0, 5, 1},
	} {
		if got := niceStep(c.max, c.n); got != c.want {
			t.Errorf("niceStep(%g, %d) = %g, want %g", c.max, c.n, got, c.want)
		}
	}
}

func countColor(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				n++
			}
		}
	}
	return n
}

func TestTimelinePNG(t *testing.T) {
	tl := sampleReport().Scenarios[1].Runs[0].Timeline
	ch := timelineChart("fieldsync over a weak link", "3 × 2-MP photos; 2 Mbit/s", tl, 0.36, 0.9)
	if len(ch.Series) != 4 { // records, thumbnails, previews, originals (no attachments wanted)
		t.Fatalf("%d series", len(ch.Series))
	}
	if len(ch.Markers) != 2 {
		t.Fatalf("%d markers", len(ch.Markers))
	}
	var buf bytes.Buffer
	if err := ch.WritePNG(&buf, 1100, 560); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds() != image.Rect(0, 0, 1100, 560) {
		t.Fatalf("bounds %v", img.Bounds())
	}
	// Each class's colour is drawn: its line and its legend swatch.
	for _, cl := range []string{"records", "thumbnails", "previews", "originals"} {
		if n := countColor(img, img.Bounds(), classColors[cl]); n < 60 {
			t.Errorf("%s: %d pixels of its colour", cl, n)
		}
	}
	if n := countColor(img, img.Bounds(), classColors["attachments"]); n != 0 {
		t.Errorf("attachments drawn (%d pixels) though none were wanted", n)
	}
	// The thumbnails reach 100 % at the first sample (t = 1 of 12 s), so
	// the top-left of the plot holds thumbnail red; the originals reach it
	// only at the end.
	if n := countColor(img, image.Rect(70, 40, 200, 90), classColors["thumbnails"]); n == 0 {
		t.Error("no thumbnail line near 100 % early on")
	}
	// Text was drawn (axis labels are dark grey or near-black).
	if n := countColor(img, image.Rect(0, 500, 1100, 560), colText); n < 50 {
		t.Errorf("x axis labels: %d text pixels", n)
	}
}

func TestChartDegenerate(t *testing.T) {
	// No data, a single point, a zero-sized image: no panic, an image.
	(&Chart{Title: "empty"}).Render(400, 300)
	(&Chart{Series: []Series{{Name: "one", Color: colText, X: []float64{0}, Y: []float64{0}}}}).Render(400, 300)
	(&Chart{}).Render(10, 10)
	if got := ascii("3 × 2 – 1 ÷ x ↔ y é"); got != "3 x 2 - 1 / x <-> y ?" {
		t.Errorf("ascii: %q", got)
	}
}

func TestZoom(t *testing.T) {
	tl := sampleReport().Scenarios[1].Runs[0].Timeline
	if z := zoomEnd(tl); z != 0 {
		t.Errorf("short run zoomed to %g s", z)
	}
	// Previews done at 6 s of a 100 s run: a close-up of the first 9 s.
	long := *tl
	long.Points = append(append([]Point(nil), tl.Points...), Point{T: 100, Done: map[string]int64{"originals": 2500000}})
	if z := zoomEnd(&long); z != 9 {
		t.Errorf("zoomEnd = %g, want 9", z)
	}
	img := timelineImage("t", "s", &long, 0.36, 0.9)
	if img.Rect.Dy() != 520+420 {
		t.Errorf("zoomed image %v, want two panels", img.Rect)
	}
}
