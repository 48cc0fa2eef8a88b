//go:build linux

package main

// A small line plotter: enough for one timeline (a few series of a few
// hundred points) with axes, ticks, labels and a legend, drawn with the
// standard library and basicfont, so the bench needs no plotting module.

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line: points (X[i], Y[i]), X ascending.
type Series struct {
	Name  string
	Color color.RGBA
	X, Y  []float64
}

// Marker is a vertical dashed line at X with a label.
type Marker struct {
	X     float64
	Label string
	Color color.RGBA
	Row   int // label row from the top of the plot, so labels do not collide
}

// Chart is a line chart. XMax and YMax fix the axes' ends; zero means the
// data's largest value.
type Chart struct {
	Title, Subtitle string
	XLabel, YLabel  string
	YUnit           string // appended to Y tick labels, e.g. "%"
	XMax, YMax      float64
	Series          []Series
	Markers         []Marker
}

var (
	colText  = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colAxis  = color.RGBA{0x40, 0x40, 0x40, 0xff}
	colGrid  = color.RGBA{0xe2, 0xe2, 0xe2, 0xff}
	colWhite = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// Class colours: records dark, thumbnails first in a strong colour, and so on.
var classColors = map[string]color.RGBA{
	"records":     {0x33, 0x33, 0x33, 0xff},
	"thumbnails":  {0xd6, 0x27, 0x28, 0xff},
	"previews":    {0xff, 0x7f, 0x0e, 0xff},
	"originals":   {0x1f, 0x77, 0xb4, 0xff},
	"attachments": {0x2c, 0xa0, 0x2c, 0xff},
}

const (
	charW = 7  // basicfont.Face7x13 advance
	lineH = 13 // and height
)

// Render draws the chart on a w×h image.
func (c *Chart) Render(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(colWhite), image.Point{}, draw.Src)

	legendW := 0
	for _, s := range c.Series {
		legendW = max(legendW, len(s.Name)*charW+34)
	}
	left, right, top, bottom := 70, legendW+30, 52, 48
	if c.Subtitle != "" {
		top += lineH + 4
	}
	pw, ph := w-left-right, h-top-bottom
	if pw < 50 || ph < 50 {
		return img
	}
	xmax, ymax := c.XMax, c.YMax
	for _, s := range c.Series {
		for i := range s.X {
			if c.XMax == 0 {
				xmax = max(xmax, s.X[i])
			}
			if c.YMax == 0 {
				ymax = max(ymax, s.Y[i])
			}
		}
	}
	for _, m := range c.Markers {
		if c.XMax == 0 {
			xmax = max(xmax, m.X)
		}
	}
	if xmax <= 0 {
		xmax = 1
	}
	if ymax <= 0 {
		ymax = 1
	}
	xstep := niceStep(xmax, 8)
	ystep := niceStep(ymax, 5)
	xmax = math.Ceil(xmax/xstep-1e-9) * xstep
	ymax = math.Ceil(ymax/ystep-1e-9) * ystep
	px := func(x float64) int { return left + int(math.Round(x/xmax*float64(pw))) }
	py := func(y float64) int { return top + ph - int(math.Round(y/ymax*float64(ph))) }

	// Title and subtitle.
	drawText(img, c.Title, w/2-len(c.Title)*charW/2, 22, colText)
	if c.Subtitle != "" {
		drawText(img, c.Subtitle, w/2-len(c.Subtitle)*charW/2, 22+lineH+4, colAxis)
	}

	// Grid and ticks.
	for v := 0.0; v <= xmax+xstep/2; v += xstep {
		x := px(v)
		vline(img, x, top, top+ph, colGrid)
		vline(img, x, top+ph, top+ph+5, colAxis)
		l := tickLabel(v, xstep, "")
		drawText(img, l, x-len(l)*charW/2, top+ph+18, colText)
	}
	for v := 0.0; v <= ymax+ystep/2; v += ystep {
		y := py(v)
		hline(img, left, left+pw, y, colGrid)
		hline(img, left-5, left, y, colAxis)
		l := tickLabel(v, ystep, c.YUnit)
		drawText(img, l, left-8-len(l)*charW, y+4, colText)
	}
	// Axes.
	hline(img, left, left+pw, top+ph, colAxis)
	vline(img, left, top, top+ph, colAxis)
	drawText(img, c.XLabel, left+pw/2-len(c.XLabel)*charW/2, h-12, colText)
	drawTextUp(img, c.YLabel, 14, top+ph/2+len(c.YLabel)*charW/2, colText)

	// Markers, under the lines.
	for _, m := range c.Markers {
		if m.X < 0 || m.X > xmax {
			continue
		}
		x := px(m.X)
		for y := top; y < top+ph; y += 8 {
			vline(img, x, y, min(y+4, top+ph), m.Color)
		}
	}

	// Lines, 2 px wide, clipped to the plot area.
	clip := image.Rect(left, top-1, left+pw+1, top+ph+1)
	for _, s := range c.Series {
		for i := 1; i < len(s.X); i++ {
			thickLine(img, clip, px(s.X[i-1]), py(s.Y[i-1]), px(s.X[i]), py(s.Y[i]), s.Color)
		}
		// A dot at each sample, so the reader sees where the data are.
		for i := range s.X {
			x, y := px(s.X[i]), py(s.Y[i])
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					if p := image.Pt(x+dx, y+dy); p.In(clip) {
						img.SetRGBA(p.X, p.Y, s.Color)
					}
				}
			}
		}
	}

	// Marker labels over the lines, on a white ground.
	for _, m := range c.Markers {
		if m.X < 0 || m.X > xmax {
			continue
		}
		x := px(m.X)
		lx := x + 5
		if lx+len(m.Label)*charW > left+pw {
			lx = x - 5 - len(m.Label)*charW
		}
		ly := top + ph/3 + m.Row*(lineH+8)
		draw.Draw(img, image.Rect(lx-2, ly-lineH+1, lx+len(m.Label)*charW+2, ly+4), image.NewUniform(colWhite), image.Point{}, draw.Src)
		drawText(img, m.Label, lx, ly, m.Color)
	}

	// Legend, right of the plot.
	lx, ly := left+pw+16, top+8
	for _, s := range c.Series {
		for d := -1; d <= 1; d++ {
			hline(img, lx, lx+20, ly-4+d, s.Color)
		}
		drawText(img, s.Name, lx+26, ly, colText)
		ly += lineH + 8
	}
	return img
}

// WritePNG renders c at w×h and encodes it.
func (c *Chart) WritePNG(out io.Writer, w, h int) error {
	return png.Encode(out, c.Render(w, h))
}

// niceStep returns a step of 1, 2 or 5 × 10^k that cuts [0, max] into
// about n intervals.
func niceStep(maxv float64, n int) float64 {
	raw := maxv / float64(n)
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func tickLabel(v, step float64, unit string) string {
	var s string
	if step >= 1 {
		s = fmt.Sprintf("%.0f", v)
	} else {
		d := int(math.Ceil(-math.Log10(step)))
		s = fmt.Sprintf("%.*f", d, v)
	}
	return s + unit
}

func drawText(img *image.RGBA, s string, x, y int, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(ascii(s))
}

// ascii replaces what basicfont (ASCII only) cannot draw.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x80:
			return r
		case r == '×':
			return 'x'
		case r == '–' || r == '—' || r == '−':
			return '-'
		case r == '÷':
			return '/'
		}
		return '?'
	}, strings.NewReplacer("↔", "<->", "…", "...").Replace(s))
}

// drawTextUp draws s rotated 90° anticlockwise with its baseline start at
// (x, y), reading upwards.
func drawTextUp(img *image.RGBA, s string, x, y int, c color.Color) {
	tw := len(s) * charW
	tmp := image.NewRGBA(image.Rect(0, 0, tw, lineH+3))
	drawText(tmp, s, 0, lineH-2, c)
	for ty := 0; ty < tmp.Rect.Dy(); ty++ {
		for tx := 0; tx < tw; tx++ {
			p := tmp.RGBAAt(tx, ty)
			if p.A == 0 {
				continue
			}
			// (tx, ty) → (x + ty - lineH, y - tx)
			img.Set(x+ty-lineH+2, y-tx, p)
		}
	}
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) {
	for x := x0; x <= x1; x++ {
		img.SetRGBA(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) {
	for y := y0; y <= y1; y++ {
		img.SetRGBA(x, y, c)
	}
}

// thickLine draws a 2-pixel-wide line (Bresenham, with the pixel below and
// right of each point also set), clipped to clip.
func thickLine(img *image.RGBA, clip image.Rectangle, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		for _, p := range [...]image.Point{{x0, y0}, {x0 + 1, y0}, {x0, y0 - 1}, {x0 + 1, y0 - 1}} {
			if p.In(clip) {
				img.SetRGBA(p.X, p.Y, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// timelineChart turns a fieldsync run's timeline into a chart: for each
// class the share of its bytes arrived, and for records the share applied,
// over time. idealThumbs, if positive, marks thumbnail bytes ÷ link rate;
// thumbsAt, if positive, when every thumbnail was present.
func timelineChart(title, subtitle string, tl *Timeline, idealThumbs, thumbsAt float64) *Chart {
	c := &Chart{
		Title: title, Subtitle: subtitle,
		XLabel: "seconds since sync started",
		YLabel: "% of class arrived (bytes; records: count)",
		YUnit:  "%", YMax: 100,
	}
	if tl == nil {
		return c
	}
	if tl.Records > 0 {
		s := Series{Name: fmt.Sprintf("records (%d)", tl.Records), Color: classColors["records"]}
		s.X, s.Y = append(s.X, 0), append(s.Y, 0)
		for _, p := range tl.Points {
			s.X = append(s.X, p.T)
			s.Y = append(s.Y, 100*float64(p.Records)/float64(tl.Records))
		}
		c.Series = append(c.Series, s)
	}
	for _, cl := range classes {
		want := tl.Wanted[cl]
		if want <= 0 {
			continue
		}
		s := Series{Name: fmt.Sprintf("%s (%s)", cl, mib(want)), Color: classColors[cl]}
		s.X, s.Y = append(s.X, 0), append(s.Y, 0)
		for _, p := range tl.Points {
			s.X = append(s.X, p.T)
			s.Y = append(s.Y, 100*float64(p.Done[cl])/float64(want))
		}
		c.Series = append(c.Series, s)
	}
	if idealThumbs > 0 {
		c.Markers = append(c.Markers, Marker{X: idealThumbs, Label: fmt.Sprintf("thumbnail bytes / link rate: %.2f s", idealThumbs), Color: colAxis})
	}
	if thumbsAt > 0 {
		c.Markers = append(c.Markers, Marker{X: thumbsAt, Label: fmt.Sprintf("every thumbnail present: %.2f s", thumbsAt), Color: classColors["thumbnails"], Row: 1})
	}
	return c
}

// zoomEnd returns where a close-up of the start of tl should end: half as
// long again as the thumbnails and previews took, or 0 when the whole run
// is short enough to read without one.
func zoomEnd(tl *Timeline) float64 {
	if tl == nil || len(tl.Points) == 0 {
		return 0
	}
	total := tl.Points[len(tl.Points)-1].T
	early := 0.0
	for _, cl := range []string{"thumbnails", "previews"} {
		want := tl.Wanted[cl]
		if want <= 0 {
			continue
		}
		for _, p := range tl.Points {
			if p.Done[cl] >= want {
				early = max(early, p.T)
				break
			}
		}
	}
	end := max(3, math.Ceil(early*1.5))
	if early == 0 || end > total*0.4 {
		return 0
	}
	return end
}

// stack draws images one under the other on a white ground.
func stack(imgs ...*image.RGBA) *image.RGBA {
	w, h := 0, 0
	for _, m := range imgs {
		w = max(w, m.Rect.Dx())
		h += m.Rect.Dy()
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(colWhite), image.Point{}, draw.Src)
	y := 0
	for _, m := range imgs {
		draw.Draw(out, image.Rect(0, y, m.Rect.Dx(), y+m.Rect.Dy()), m, m.Rect.Min, draw.Src)
		y += m.Rect.Dy()
	}
	return out
}

// timelineImage is the timeline PNG: the whole run and, when the first
// classes arrive in a small part of it, a close-up of that part below.
func timelineImage(title, subtitle string, tl *Timeline, idealThumbs, thumbsAt float64) *image.RGBA {
	whole := timelineChart(title, subtitle, tl, idealThumbs, thumbsAt)
	end := zoomEnd(tl)
	if end == 0 {
		return whole.Render(1100, 560)
	}
	zoom := timelineChart(fmt.Sprintf("the first %.0f s, closer", end), "", tl, idealThumbs, thumbsAt)
	zoom.XMax = end
	return stack(whole.Render(1100, 520), zoom.Render(1100, 420))
}
