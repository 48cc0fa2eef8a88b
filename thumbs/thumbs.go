package thumbs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"io/fs"
	"time"

	ijpeg "github.com/fieldsync/fieldsync/thumbs/internal/jpeg"
	"golang.org/x/image/webp"
)

// Defaults of Options; a zero field in Options means its default.
const (
	DefaultThumbSize   = 400
	DefaultPreviewSize = 1200
	DefaultQuality     = 75
	DefaultMaxPixels   = 100_000_000
)

// Options says what variants to make. The zero value means the defaults.
type Options struct {
	ThumbSize   int   // the thumbnail fits ThumbSize×ThumbSize; default 400
	PreviewSize int   // the preview fits PreviewSize×PreviewSize; default 1200
	Quality     int   // JPEG quality of both variants, 1..100; default 75
	MaxPixels   int64 // larger originals are refused before decoding; default 100 M
}

// DefaultOptions returns the options every device uses unless told
// otherwise. Devices must agree on them for variant CIDs to agree.
func DefaultOptions() Options {
	return Options{
		ThumbSize:   DefaultThumbSize,
		PreviewSize: DefaultPreviewSize,
		Quality:     DefaultQuality,
		MaxPixels:   DefaultMaxPixels,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.ThumbSize <= 0 {
		o.ThumbSize = d.ThumbSize
	}
	if o.PreviewSize <= 0 {
		o.PreviewSize = d.PreviewSize
	}
	if o.Quality <= 0 {
		o.Quality = d.Quality
	}
	if o.Quality > 100 {
		o.Quality = 100
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = d.MaxPixels
	}
	return o
}

// Position is a point on the WGS 84 ellipsoid, in decimal degrees: north
// and east positive.
type Position struct {
	Lat, Lon float64
}

// Result is what Make makes of one original.
// VariantMediaType is the media type of every thumbnail and preview
// (baseline JPEG, whatever the original's type).
const VariantMediaType = "image/jpeg"

type Result struct {
	Thumbnail []byte // baseline JPEG that fits Options.ThumbSize, no metadata
	Preview   []byte // baseline JPEG that fits Options.PreviewSize, no metadata

	Width, Height int    // the original's size, upright (after orientation)
	MediaType     string // the original's type: "image/jpeg", "image/png", "image/gif", "image/webp"

	// From the original's EXIF, when present (JPEG, PNG eXIf, WebP EXIF):
	Orientation int       // EXIF orientation 1..8 that was applied; 1 when none
	Taken       time.Time // DateTimeOriginal; zero if absent. UTC wall clock unless OffsetTimeOriginal gives the zone
	GPS         *Position // nil if absent
}

// Errors that callers branch on.
var (
	// ErrUnsupported: the input is not an image type this package makes
	// variants of (HEIC, RAW, video, documents...). Import it as an
	// attachment with no variants.
	ErrUnsupported = errors.New("thumbs: no variants for this type")
	// ErrTooLarge: the image declares more pixels than Options.MaxPixels
	// (the error is then a *TooLargeError with the declared size), or the
	// file is larger than any supported image of that many pixels can be.
	ErrTooLarge = errors.New("thumbs: image too large")
	// ErrCorrupt: the data is of a supported type but cannot be decoded;
	// the error wraps the decoder's.
	ErrCorrupt = errors.New("thumbs: corrupt image")
)

// TooLargeError reports the size an image declared in its header.
type TooLargeError struct {
	MediaType     string
	Width, Height int
	MaxPixels     int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("thumbs: %s declares %d×%d pixels, more than the limit of %d", e.MediaType, e.Width, e.Height, e.MaxPixels)
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Sniff names the media type of data from its first bytes (12 are
// enough) and says whether Make makes variants of it. It knows the four
// supported types and a few common unsupported ones (HEIC/HEIF, AVIF,
// TIFF and camera RAW, MP4/MOV, PDF, BMP); anything else is
// "application/octet-stream".
func Sniff(header []byte) (mediaType string, ok bool) {
	h := header
	has := func(off int, s string) bool { return len(h) >= off+len(s) && string(h[off:off+len(s)]) == s }
	switch {
	case has(0, "\xff\xd8\xff"):
		return "image/jpeg", true
	case has(0, "\x89PNG\r\n\x1a\n"):
		return "image/png", true
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return "image/gif", true
	case has(0, "RIFF") && has(8, "WEBP"):
		return "image/webp", true
	case has(4, "ftyp"):
		switch {
		case has(8, "heic"), has(8, "heix"), has(8, "heim"), has(8, "heis"):
			return "image/heic", false
		case has(8, "mif1"), has(8, "msf1"):
			return "image/heif", false
		case has(8, "avif"), has(8, "avis"):
			return "image/avif", false
		case has(8, "qt  "):
			return "video/quicktime", false
		}
		return "video/mp4", false
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return "image/tiff", false
	case has(0, "%PDF-"):
		return "application/pdf", false
	case has(0, "BM"):
		return "image/bmp", false
	}
	return "application/octet-stream", false
}

// sniffSupported is Sniff with ErrUnsupported for a type Make does not take.
func sniffSupported(header []byte) (string, error) {
	mt, ok := Sniff(header)
	switch {
	case ok:
		return mt, nil
	case len(header) == 0:
		return "", fmt.Errorf("%w: empty file", ErrUnsupported)
	}
	return "", fmt.Errorf("%w: %s", ErrUnsupported, mt)
}

// maxFileBytes bounds what Make reads for one original: no supported
// format holds a MaxPixels image in more than 8 bytes a pixel plus headers.
func maxFileBytes(o Options) int64 {
	if o.MaxPixels > 1<<56 {
		return 1 << 59
	}
	return o.MaxPixels*8 + 1<<20
}

// Make reads one original from r and makes its thumbnail and preview.
//
// The image is refused with a *TooLargeError (ErrTooLarge) if its header
// declares more than opt.MaxPixels pixels, before any pixel buffer is
// allocated; data that is not JPEG, PNG, GIF or WebP gives ErrUnsupported;
// data that does not decode gives ErrCorrupt. Make never panics on bad
// input. The same bytes and options give the same variants, byte for byte,
// on every platform and GOMAXPROCS. It does not close r.
func Make(r io.Reader, opt Options) (*Result, error) {
	opt = opt.withDefaults()
	// Sniff first, so a video handed to Make costs a few bytes of reading,
	// not the whole file.
	var head [16]byte
	n, err := io.ReadFull(r, head[:])
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
	case err != nil:
		return nil, fmt.Errorf("read original: %w", err)
	}
	if _, err := sniffSupported(head[:n]); err != nil {
		return nil, err
	}
	limit := maxFileBytes(opt)
	var buf bytes.Buffer
	buf.Write(head[:n])
	if st, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		if fi, err := st.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() <= limit {
			buf.Grow(int(fi.Size()) + bytes.MinRead)
		}
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("read original: %w", err)
	}
	data := buf.Bytes()
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: file over %d bytes", ErrTooLarge, limit)
	}
	return makeBytes(data, opt)
}

// MakeBytes is Make on an original already in memory.
func MakeBytes(data []byte, opt Options) (*Result, error) {
	return makeBytes(data, opt.withDefaults())
}

func makeBytes(data []byte, opt Options) (res *Result, err error) {
	mt, err := sniffSupported(data)
	if err != nil {
		return nil, err
	}
	// The decoders are meant not to panic, but this is the trust boundary
	// for files from anywhere: turn a decoder bug into an error.
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrCorrupt, p)
		}
	}()

	if mt == "image/webp" && len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0 {
		// The VP8X animation flag: x/image/webp decodes single images only.
		return nil, fmt.Errorf("%w: animated image/webp", ErrUnsupported)
	}
	// PNG's declared size is checked before png.DecodeConfig, which on
	// 32-bit platforms refuses a huge one as corrupt: the error must not
	// depend on the platform.
	if mt == "image/png" && len(data) >= 24 && string(data[12:16]) == "IHDR" {
		w, h := binary.BigEndian.Uint32(data[16:]), binary.BigEndian.Uint32(data[20:])
		if w <= 1<<31-1 && h <= 1<<31-1 && uint64(w)*uint64(h) > uint64(opt.MaxPixels) {
			return nil, &TooLargeError{MediaType: mt, Width: int(w), Height: int(h), MaxPixels: opt.MaxPixels}
		}
	}
	cfg, err := decodeConfig(mt, data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s header: %w", ErrCorrupt, mt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s declares %d×%d pixels", ErrCorrupt, mt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > opt.MaxPixels {
		return nil, &TooLargeError{MediaType: mt, Width: cfg.Width, Height: cfg.Height, MaxPixels: opt.MaxPixels}
	}

	var ex exifInfo
	switch mt {
	case "image/jpeg":
		ex = parseExif(jpegExif(data))
	case "image/png":
		ex = parseExif(pngExif(data))
	case "image/webp":
		ex = parseExif(riffExif(data))
	}
	if ex.orientation == 0 {
		ex.orientation = 1
	}

	pic, err := decodePicture(mt, data, cfg, opt.PreviewSize)
	if err != nil {
		return nil, fmt.Errorf("%w: decode %s: %w", ErrCorrupt, mt, err)
	}

	res = &Result{
		Width: cfg.Width, Height: cfg.Height, MediaType: mt,
		Orientation: ex.orientation, Taken: ex.taken, GPS: ex.gps,
	}
	if ex.orientation >= 5 {
		res.Width, res.Height = cfg.Height, cfg.Width
	}

	// The preview from the decoded picture, the thumbnail from the preview:
	// one large reduction, one small.
	pw, ph := fit(cfg.Width, cfg.Height, opt.PreviewSize)
	prev := pic.resize(pw, ph)
	tw, th := fit(cfg.Width, cfg.Height, opt.ThumbSize)
	src := prev
	if tw > pw || th > ph { // a thumbnail box larger than the preview's
		src = pic
	}
	thumb := src.resize(tw, th)
	if res.Preview, err = prev.orient(ex.orientation).encode(opt.Quality); err != nil {
		return nil, err
	}
	if res.Thumbnail, err = thumb.orient(ex.orientation).encode(opt.Quality); err != nil {
		return nil, err
	}
	return res, nil
}

func decodeConfig(mt string, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch mt {
	case "image/jpeg":
		return ijpeg.DecodeConfig(r)
	case "image/png":
		return png.DecodeConfig(r)
	case "image/gif":
		return gif.DecodeConfig(r)
	case "image/webp":
		return webp.DecodeConfig(r)
	}
	return image.Config{}, ErrUnsupported
}

// picture is an image as planes: Y alone (gray), or Y, Cb, Cr with the
// chroma planes at their own (maybe subsampled) size.
type picture struct {
	y, cb, cr plane
	gray      bool
}

// decodePicture decodes data, at a reduced scale (n/8) for JPEGs large
// enough that the preview can be made from fewer pixels.
func decodePicture(mt string, data []byte, cfg image.Config, previewSize int) (picture, error) {
	// At scale n/8 the picture spans W·n/8 decoded samples, maybe a
	// fraction short of the plane.
	n := 8
	if mt == "image/jpeg" {
		n = jpegScale(cfg.Width, cfg.Height, previewSize)
	}
	r := bytes.NewReader(data)
	var img image.Image
	var err error
	switch mt {
	case "image/jpeg":
		img, err = ijpeg.DecodeScaled(r, n)
	case "image/png":
		img, err = png.Decode(r)
	case "image/gif":
		img, err = gif.Decode(r)
		if err == nil && img.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) {
			// A first frame smaller than the logical screen: place it on
			// a white screen, as a viewer shows it.
			canvas := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
			draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
			draw.Draw(canvas, img.Bounds(), img, img.Bounds().Min, draw.Over)
			img = canvas
		}
	case "image/webp":
		img, err = webp.Decode(r)
	default:
		err = ErrUnsupported
	}
	if err != nil {
		return picture{}, err
	}
	return toPicture(img, int64(cfg.Width)*int64(n)*extUnit/8, int64(cfg.Height)*int64(n)*extUnit/8), nil
}

// jpegScale picks the smallest DCT scaling n/8 (n = 1..8) that keeps the
// decoded long edge at least 1.5 × previewSize. The margin matters: the
// reduced IDCT filters each block on its own, and the resampler needs room
// to smooth the seams; at 1.1× the preview loses about 2 dB against the
// reference on noisy content, at 1.5× and more it stays above 34 dB.
func jpegScale(w, h, previewSize int) int {
	long := max(w, h)
	for n := 1; n < 8; n++ {
		if 2*((long*n+7)/8) >= 3*previewSize {
			return n
		}
	}
	return 8
}

// toPicture converts a decoded image to planes without copying when it
// already is planar YCbCr or gray, and otherwise through RGB, compositing
// any transparency onto white.
//
// ew, eh are the picture's extent in luma samples × extUnit.
func toPicture(img image.Image, ew, eh int64) picture {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		cw, ch := chromaSize(b, m.SubsampleRatio)
		hdiv, vdiv := subsampling(m.SubsampleRatio)
		return picture{
			y:  plane{w: b.Dx(), h: b.Dy(), stride: m.YStride, pix: m.Y[m.YOffset(b.Min.X, b.Min.Y):], ew: ew, eh: eh},
			cb: plane{w: cw, h: ch, stride: m.CStride, pix: m.Cb[m.COffset(b.Min.X, b.Min.Y):], ew: ew / hdiv, eh: eh / vdiv},
			cr: plane{w: cw, h: ch, stride: m.CStride, pix: m.Cr[m.COffset(b.Min.X, b.Min.Y):], ew: ew / hdiv, eh: eh / vdiv},
		}
	case *image.Gray:
		return picture{gray: true, y: plane{w: b.Dx(), h: b.Dy(), stride: m.Stride, pix: m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], ew: ew, eh: eh}}
	case *image.Gray16:
		p := newPlane(b.Dx(), b.Dy())
		for y := 0; y < p.h; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:2*p.w]
			for x := range p.w {
				p.pix[y*p.stride+x] = row[2*x] // the high byte: samples are big-endian
			}
		}
		p.ew, p.eh = ew, eh
		return picture{gray: true, y: p}
	}
	w, h := b.Dx(), b.Dy()
	pic := picture{y: newPlane(w, h), cb: newPlane(w, h), cr: newPlane(w, h)}
	for _, p := range []*plane{&pic.y, &pic.cb, &pic.cr} {
		p.ew, p.eh = ew, eh
	}
	rgb := func(r, g, b, a uint32) (uint8, uint8, uint8) {
		// Premultiplied 16-bit colour over white.
		r += 0xffff - a
		g += 0xffff - a
		b += 0xffff - a
		return uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)
	}
	if m, ok := img.(*image.Paletted); ok && paletteOK(m.Palette) {
		// One conversion per palette entry, not per pixel.
		lut := make([][3]uint8, len(m.Palette))
		for i, c := range m.Palette {
			lut[i][0], lut[i][1], lut[i][2] = color.RGBToYCbCr(rgb(c.RGBA()))
		}
		for y := 0; y < h; y++ {
			o := y * w
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, i := range row {
				c := lut[i] // an index past the palette panics, as At does
				pic.y.pix[o+x], pic.cb.pix[o+x], pic.cr.pix[o+x] = c[0], c[1], c[2]
			}
		}
		return pic
	}
	for y := 0; y < h; y++ {
		o := y * w
		switch m := img.(type) {
		case *image.RGBA:
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := 0; x < w; x++ {
				p := row[4*x:][:4]
				a := uint32(p[3]) * 0x101
				r, g, bl := rgb(uint32(p[0])*0x101, uint32(p[1])*0x101, uint32(p[2])*0x101, a)
				pic.y.pix[o+x], pic.cb.pix[o+x], pic.cr.pix[o+x] = color.RGBToYCbCr(r, g, bl)
			}
		case *image.NRGBA:
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := 0; x < w; x++ {
				p := row[4*x:][:4]
				a := uint32(p[3])
				// Over white: c·a + 255·(1-a), rounded.
				r := uint8((uint32(p[0])*a + 255*(255-a) + 127) / 255)
				g := uint8((uint32(p[1])*a + 255*(255-a) + 127) / 255)
				bl := uint8((uint32(p[2])*a + 255*(255-a) + 127) / 255)
				pic.y.pix[o+x], pic.cb.pix[o+x], pic.cr.pix[o+x] = color.RGBToYCbCr(r, g, bl)
			}
		default:
			for x := 0; x < w; x++ {
				r, g, bl := rgb(img.At(b.Min.X+x, b.Min.Y+y).RGBA())
				pic.y.pix[o+x], pic.cb.pix[o+x], pic.cr.pix[o+x] = color.RGBToYCbCr(r, g, bl)
			}
		}
	}
	return pic
}

// paletteOK says whether every entry of p is a colour, so that a
// look-up table of p converts its pixels as Paletted.At would.
func paletteOK(p color.Palette) bool {
	for _, c := range p {
		if c == nil {
			return false
		}
	}
	return len(p) > 0
}

// subsampling returns how many luma samples one chroma sample spans,
// across and down.
func subsampling(r image.YCbCrSubsampleRatio) (int64, int64) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

func chromaSize(b image.Rectangle, r image.YCbCrSubsampleRatio) (int, int) {
	w, h := b.Dx(), b.Dy()
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (b.Max.X+1)/2 - b.Min.X/2, h
	case image.YCbCrSubsampleRatio420:
		return (b.Max.X+1)/2 - b.Min.X/2, (b.Max.Y+1)/2 - b.Min.Y/2
	case image.YCbCrSubsampleRatio440:
		return w, (b.Max.Y+1)/2 - b.Min.Y/2
	case image.YCbCrSubsampleRatio411:
		return (b.Max.X+3)/4 - b.Min.X/4, h
	case image.YCbCrSubsampleRatio410:
		return (b.Max.X+3)/4 - b.Min.X/4, (b.Max.Y+1)/2 - b.Min.Y/2
	}
	return w, h
}

// resize makes a w×h picture with 4:2:0 chroma (what the JPEG encoder
// writes anyway): (w+1)/2 × (h+1)/2 chroma samples spanning w/2 × h/2.
func (p picture) resize(w, h int) picture {
	out := picture{gray: p.gray, y: resize(p.y, w, h, int64(w)*extUnit, int64(h)*extUnit)}
	if !p.gray {
		cw, ch := (w+1)/2, (h+1)/2
		ew, eh := int64(w)*extUnit/2, int64(h)*extUnit/2
		out.cb = resize(p.cb, cw, ch, ew, eh)
		out.cr = resize(p.cr, cw, ch, ew, eh)
	}
	return out
}

func (p picture) orient(o int) picture {
	out := picture{gray: p.gray, y: orient(p.y, o)}
	if !p.gray {
		out.cb, out.cr = orient(p.cb, o), orient(p.cr, o)
	}
	return out
}

// encode writes p as a baseline JPEG: no APPn segments, so no metadata at
// all; 4:2:0 chroma; the standard library's encoder (through the fork, which
// writes the same bytes faster), integer only and so deterministic.
func (p picture) encode(quality int) ([]byte, error) {
	var img image.Image
	if p.gray {
		img = &image.Gray{Pix: p.y.pix, Stride: p.y.stride, Rect: image.Rect(0, 0, p.y.w, p.y.h)}
	} else {
		img = &image.YCbCr{
			Y: p.y.pix, Cb: p.cb.pix, Cr: p.cr.pix,
			YStride: p.y.stride, CStride: p.cb.stride,
			SubsampleRatio: image.YCbCrSubsampleRatio420,
			Rect:           image.Rect(0, 0, p.y.w, p.y.h),
		}
	}
	var buf bytes.Buffer
	if err := ijpeg.Encode(&buf, img, &ijpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("encode variant: %w", err)
	}
	return buf.Bytes(), nil
}
