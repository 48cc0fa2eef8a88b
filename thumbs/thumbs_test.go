package thumbs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/disintegration/imaging"
	"github.com/fieldsync/fieldsync/internal/synth"
)

const photos = "../testdata/photos"

func readPhoto(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(photos, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeJPEG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("variant does not decode: %v", err)
	}
	return img
}

// goodFixtures are the originals Make must handle, with their media type
// and upright size.
var goodFixtures = []struct {
	name      string
	mediaType string
	w, h      int
}{
	{"baseline.jpg", "image/jpeg", 480, 360},
	{"progressive.jpg", "image/jpeg", 480, 360},
	{"gray.jpg", "image/jpeg", 480, 360},
	{"cmyk.jpg", "image/jpeg", 480, 360},
	{"gps.jpg", "image/jpeg", 480, 360},
	{"alpha8.png", "image/png", 480, 360},
	{"deep16.png", "image/png", 240, 180},
	{"anim.gif", "image/gif", 240, 180},
	{"lossy.webp", "image/webp", 480, 360},
	{"alpha.webp", "image/webp", 480, 360},
	{"orient-1.jpg", "image/jpeg", 96, 64},
	{"orient-2.jpg", "image/jpeg", 96, 64},
	{"orient-3.jpg", "image/jpeg", 96, 64},
	{"orient-4.jpg", "image/jpeg", 96, 64},
	{"orient-5.jpg", "image/jpeg", 96, 64},
	{"orient-6.jpg", "image/jpeg", 96, 64},
	{"orient-7.jpg", "image/jpeg", 96, 64},
	{"orient-8.jpg", "image/jpeg", 96, 64},
	{"orient-6.png", "image/png", 96, 64},
	{"orient-6.webp", "image/webp", 96, 64},
}

// TestFormats: every supported kind gives two decodable variants of the
// right size, close (PSNR) to a golden thumbnail made by the reference
// pipeline (testdata/photos/gen/main.go: standard decoders, imaging's
// auto-orientation, Lanczos fit, onto white).
func TestFormats(t *testing.T) {
	for _, f := range goodFixtures {
		t.Run(f.name, func(t *testing.T) {
			res, err := MakeBytes(readPhoto(t, f.name), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.MediaType != f.mediaType || res.Width != f.w || res.Height != f.h {
				t.Errorf("got %s %d×%d, want %s %d×%d", res.MediaType, res.Width, res.Height, f.mediaType, f.w, f.h)
			}
			pw, ph := fit(f.w, f.h, DefaultPreviewSize)
			tw, th := fit(f.w, f.h, DefaultThumbSize)
			prev, thumb := decodeJPEG(t, res.Preview), decodeJPEG(t, res.Thumbnail)
			if got := prev.Bounds().Size(); got != image.Pt(pw, ph) {
				t.Errorf("preview is %v, want %d×%d", got, pw, ph)
			}
			if got := thumb.Bounds().Size(); got != image.Pt(tw, th) {
				t.Errorf("thumbnail is %v, want %d×%d", got, tw, th)
			}
			golden := decodeJPEG(t, readPhoto(t, "golden/"+f.name+".thumb.jpg"))
			if p := psnr(thumb, golden); p < 30 {
				t.Errorf("thumbnail PSNR vs golden %.1f dB, want ≥ 30", p)
			} else {
				t.Logf("thumbnail PSNR vs golden %.1f dB", p)
			}
		})
	}
}

// TestColourKinds: grayscale stays grayscale, CMYK is not inverted, alpha
// is composited on white.
func TestColourKinds(t *testing.T) {
	mk := func(name string) image.Image {
		res, err := MakeBytes(readPhoto(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return decodeJPEG(t, res.Thumbnail)
	}
	base := mk("baseline.jpg")
	if _, ok := mk("gray.jpg").(*image.Gray); !ok {
		t.Error("grayscale original gave a colour variant")
	}
	if p := psnr(mk("cmyk.jpg"), base); p < 20 {
		t.Errorf("CMYK variant PSNR vs the RGB one %.1f dB: colours wrong?", p)
	}
	if p := psnr(mk("progressive.jpg"), base); p < 30 {
		t.Errorf("progressive variant PSNR vs baseline %.1f dB", p)
	}
	// alpha8.png fades to fully transparent on the right: white there.
	a := mk("alpha8.png")
	r, g, b, _ := a.At(a.Bounds().Dx()-2, a.Bounds().Dy()/2).RGBA()
	if r>>8 < 240 || g>>8 < 240 || b>>8 < 240 {
		t.Errorf("transparent edge is (%d,%d,%d), want white", r>>8, g>>8, b>>8)
	}
	if !bytes.HasPrefix(readPhoto(t, "progressive.jpg"), []byte{0xff, 0xd8}) ||
		!bytes.Contains(readPhoto(t, "progressive.jpg"), []byte{0xff, 0xc2}) {
		t.Error("progressive.jpg fixture has no SOF2 marker")
	}
}

// TestOrientation: each of the 8 fixtures stores the same upright picture
// (red top-left, green top-right, blue bottom-left, white bottom-right) as a
// camera would for its orientation; every variant must come out upright.
func TestOrientation(t *testing.T) {
	want := []struct {
		x, y    int
		r, g, b uint32
		colour  string
	}{
		{24, 16, 220, 30, 30, "red"},
		{72, 16, 30, 200, 30, "green"},
		{24, 48, 30, 30, 220, "blue"},
		{72, 48, 240, 240, 240, "white"},
	}
	names := []string{"orient-6.png", "orient-6.webp"} // eXIf and EXIF chunks
	for o := 1; o <= 8; o++ {
		names = append(names, fmt.Sprintf("orient-%d.jpg", o))
	}
	for _, name := range names {
		o := int(name[len("orient-")] - '0')
		res, err := MakeBytes(readPhoto(t, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Orientation != o || res.Width != 96 || res.Height != 64 {
			t.Errorf("%s: Result says orientation %d, %d×%d", name, res.Orientation, res.Width, res.Height)
		}
		for _, v := range [][]byte{res.Thumbnail, res.Preview} {
			img := decodeJPEG(t, v)
			if img.Bounds().Dx() != 96 || img.Bounds().Dy() != 64 {
				t.Fatalf("%s: variant is %v, want 96×64", name, img.Bounds().Size())
			}
			for _, w := range want {
				r, g, b, _ := img.At(w.x, w.y).RGBA()
				if absDiff(r>>8, w.r) > 30 || absDiff(g>>8, w.g) > 30 || absDiff(b>>8, w.b) > 30 {
					t.Errorf("%s: at (%d,%d) got (%d,%d,%d), want %s", name, w.x, w.y, r>>8, g>>8, b>>8, w.colour)
				}
			}
		}
	}
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestNoMetadata: variants have no APPn or COM segment and none of the
// original's metadata strings, while Result carries time and position.
func TestNoMetadata(t *testing.T) {
	orig := readPhoto(t, "gps.jpg")
	for _, s := range []string{"Exif", "secret spring", "fieldsync fixture comment"} {
		if !bytes.Contains(orig, []byte(s)) {
			t.Fatalf("fixture gps.jpg lacks %q: remake it", s)
		}
	}
	for _, f := range goodFixtures {
		res, err := MakeBytes(readPhoto(t, f.name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range [][]byte{res.Thumbnail, res.Preview} {
			if segs := metadataSegments(v); len(segs) > 0 {
				t.Errorf("%s: variant has metadata segments %v", f.name, segs)
			}
			for _, s := range []string{"Exif", "GPS", "xap", "xmp", "secret", "fixture", "Field Team", "ICC_PROFILE"} {
				if bytes.Contains(v, []byte(s)) {
					t.Errorf("%s: variant contains %q", f.name, s)
				}
			}
		}
	}
	res, err := MakeBytes(orig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantTime := time.Date(2024, 5, 17, 9, 41, 23, 0, time.FixedZone("", -3*3600))
	if !res.Taken.Equal(wantTime) {
		t.Errorf("Taken = %v, want %v", res.Taken, wantTime)
	}
	if res.GPS == nil || math.Abs(res.GPS.Lat - -3.4653) > 1e-4 || math.Abs(res.GPS.Lon - -62.2159) > 1e-4 {
		t.Errorf("GPS = %+v, want -3.4653, -62.2159", res.GPS)
	}
	if r, _ := MakeBytes(readPhoto(t, "baseline.jpg"), Options{}); r.GPS != nil || !r.Taken.IsZero() {
		t.Errorf("baseline.jpg has no EXIF, got GPS %v time %v", r.GPS, r.Taken)
	}
}

// metadataSegments lists the APPn and COM markers before a JPEG's first scan.
func metadataSegments(b []byte) []string {
	var out []string
	for p := 2; p+4 <= len(b) && b[p] == 0xff; {
		m := b[p+1]
		if m == 0xda {
			break
		}
		if m >= 0xe0 && m <= 0xef || m == 0xfe {
			out = append(out, fmt.Sprintf("%#x", m))
		}
		p += 2 + int(b[p+2])<<8 | int(b[p+3])
	}
	return out
}

// pinned are the SHA-256 of baseline.jpg's variants with DefaultOptions.
// They pin determinism across platforms and Go versions: if they change,
// every device's variant CIDs change. Update deliberately, never casually.
const (
	pinnedThumb   = "c74774cf4824ae4ee34aeaeafa9c95f27b086b78fdb9a805b5b2c81495792a5d"
	pinnedPreview = "3b76b95a4cbcc2789e63ba7b660930834d4b7a4b778ba3bbb408351800ba45b3"

	pinnedPreview100 = "9023479ba6a0b21f74b7f0335c347444073d85a6fcd81016b0bb865cb2b8a34f"
	pinnedPreview150 = "e3520c334483580b9a5b381e47f43bc5a0855f051f3cb407f247a41dafef57af"
)

// TestDeterministic: the same bytes every time, under GOMAXPROCS 1 and 2,
// through Make, MakeBytes and MakeAll.
func TestDeterministic(t *testing.T) {
	data := readPhoto(t, "baseline.jpg")
	big := synthJPEG(t, 2100, 1400) // takes the scaled-decode path (7/8)
	for _, in := range [][]byte{data, big} {
		first, err := MakeBytes(in, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, procs := range []int{1, 2} {
			old := runtime.GOMAXPROCS(procs)
			again, err := Make(bytes.NewReader(in), Options{})
			runtime.GOMAXPROCS(old)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Thumbnail, again.Thumbnail) || !bytes.Equal(first.Preview, again.Preview) {
				t.Errorf("GOMAXPROCS=%d: variants differ between runs", procs)
			}
		}
	}
	res, _ := MakeBytes(data, Options{})
	th, pr := fmt.Sprintf("%x", sha256.Sum256(res.Thumbnail)), fmt.Sprintf("%x", sha256.Sum256(res.Preview))
	if th != pinnedThumb || pr != pinnedPreview {
		t.Errorf("variant bytes changed: thumbnail %s preview %s", th, pr)
	}
	t.Logf("thumbnail sha256 %s, preview sha256 %s", th, pr)
	// The reduced-IDCT paths, pinned the same way: small preview boxes make
	// baseline.jpg decode at 3/8 (general IDCT) and 4/8 (the 4×4 one).
	for _, c := range []struct {
		box, n int
		sum    string
	}{
		{100, 3, pinnedPreview100},
		{150, 4, pinnedPreview150},
	} {
		if n := jpegScale(480, 360, c.box); n != c.n {
			t.Fatalf("box %d: scale %d/8, want %d/8", c.box, n, c.n)
		}
		r, err := MakeBytes(data, Options{PreviewSize: c.box, ThumbSize: 50})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(r.Preview)); got != c.sum {
			t.Errorf("box %d (scale %d/8): preview sha256 %s, pinned %s", c.box, c.n, got, c.sum)
		}
	}
}

func TestMakeAll(t *testing.T) {
	names := []string{"baseline.jpg", "gray.jpg", "bad-empty.jpg", "anim.gif", "missing.jpg", "lossy.webp"}
	got := make([]*Result, len(names))
	errs := make([]error, len(names))
	calls := 0
	err := MakeAll(context.Background(), len(names), func(i int) (io.ReadCloser, error) {
		return os.Open(filepath.Join(photos, names[i]))
	}, Options{}, func(i int, r *Result, err error) {
		calls++
		got[i], errs[i] = r, err
	})
	if err != nil || calls != len(names) {
		t.Fatalf("MakeAll: %v after %d calls", err, calls)
	}
	for i, n := range names {
		switch n {
		case "bad-empty.jpg":
			if !errors.Is(errs[i], ErrUnsupported) {
				t.Errorf("%s: %v", n, errs[i])
			}
		case "missing.jpg":
			if !errors.Is(errs[i], os.ErrNotExist) {
				t.Errorf("%s: %v", n, errs[i])
			}
		default:
			want, _ := MakeBytes(readPhoto(t, n), Options{})
			if errs[i] != nil || !bytes.Equal(got[i].Thumbnail, want.Thumbnail) || !bytes.Equal(got[i].Preview, want.Preview) {
				t.Errorf("%s: MakeAll differs from Make (err %v)", n, errs[i])
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := MakeAll(ctx, 3, nil, Options{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled MakeAll: %v", err)
	}
}

// TestBadFiles: each bad input gives its error, no panic, and a bounded
// amount of memory (a declared 100000×100000 image is refused before its
// 40 GB buffer exists).
func TestBadFiles(t *testing.T) {
	for _, c := range []struct {
		name string
		want error
		text string
	}{
		{"bad-empty.jpg", ErrUnsupported, "empty"},
		{"bad-random.bin", ErrUnsupported, "application/octet-stream"},
		{"other.heic", ErrUnsupported, "image/heic"},
		{"bad-truncated.jpg", ErrCorrupt, "image/jpeg"},
		{"bad-noise.jpg", ErrCorrupt, "image/jpeg"},
		{"bad-huge.png", ErrTooLarge, "100000×100000"},
		{"bad-huge.jpg", ErrTooLarge, "65000×65000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := readPhoto(t, c.name)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := Make(bytes.NewReader(data), Options{})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, c.want) || res != nil {
				t.Fatalf("got %v, %v; want %v", res, err, c.want)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("allocated %d MB for a bad file", alloc>>20)
			}
			var tl *TooLargeError
			if errors.As(err, &tl) {
				if int64(tl.Width)*int64(tl.Height) <= DefaultMaxPixels || tl.MaxPixels != DefaultMaxPixels {
					t.Errorf("TooLargeError %+v", tl)
				}
			}
		})
	}
	// An animated WebP (VP8X with the animation flag) has no variants.
	anim := []byte("RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x0f\x00\x00\x0f\x00\x00")
	if _, err := MakeBytes(anim, Options{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "animated") {
		t.Errorf("animated WebP: %v", err)
	}
	// A thumbnail box larger than the preview's still gives its size.
	if r, err := MakeBytes(readPhoto(t, "baseline.jpg"), Options{ThumbSize: 300, PreviewSize: 100}); err != nil {
		t.Error(err)
	} else if b := decodeJPEG(t, r.Thumbnail).Bounds(); b.Dx() != 300 {
		t.Errorf("thumbnail box 300 over preview box 100: thumbnail %v", b)
	}
	// A lower limit refuses a normal photo.
	_, err := MakeBytes(readPhoto(t, "baseline.jpg"), Options{MaxPixels: 1000})
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Width != 480 || tl.Height != 360 {
		t.Errorf("MaxPixels 1000: %v", err)
	}
	// A reader that fails.
	if _, err := Make(io.MultiReader(bytes.NewReader([]byte{0xff, 0xd8}), errReader{}), Options{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("failing reader: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		in string
		mt string
		ok bool
	}{
		{"\xff\xd8\xff\xe0", "image/jpeg", true},
		{"\x89PNG\r\n\x1a\n....", "image/png", true},
		{"GIF89a..", "image/gif", true},
		{"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", true},
		{"\x00\x00\x00\x18ftypheic", "image/heic", false},
		{"\x00\x00\x00\x18ftypisom", "video/mp4", false},
		{"\x00\x00\x00\x14ftypqt  ", "video/quicktime", false},
		{"II*\x00", "image/tiff", false},
		{"%PDF-1.7", "application/pdf", false},
		{"", "application/octet-stream", false},
		{"\xff\xd8", "application/octet-stream", false},
	} {
		mt, ok := Sniff([]byte(c.in))
		if mt != c.mt || ok != c.ok {
			t.Errorf("Sniff(%q) = %q, %v; want %q, %v", c.in, mt, ok, c.mt, c.ok)
		}
	}
}

func TestFitAndShift(t *testing.T) {
	for _, c := range []struct{ w, h, box, fw, fh int }{
		{4000, 3000, 1200, 1200, 900},
		{3000, 4000, 400, 300, 400},
		{100, 50, 400, 100, 50},
		{10000, 1, 400, 400, 1},
		{1201, 1201, 1200, 1200, 1200},
	} {
		if w, h := fit(c.w, c.h, c.box); w != c.fw || h != c.fh {
			t.Errorf("fit(%d,%d,%d) = %d,%d; want %d,%d", c.w, c.h, c.box, w, h, c.fw, c.fh)
		}
	}
	for _, c := range []struct{ w, h, n int }{
		{4000, 3000, 4}, {4032, 3024, 4}, {2560, 1920, 6}, {1801, 1000, 8}, {1900, 1000, 8},
		{2057, 1000, 7}, {3600, 1000, 4}, {3597, 1000, 5}, {6000, 4000, 3}, {1000, 30000, 1}, {640, 480, 8},
	} {
		if n := jpegScale(c.w, c.h, 1200); n != c.n {
			t.Errorf("jpegScale(%d,%d) = %d, want %d", c.w, c.h, n, c.n)
		}
	}
}

// synthJPEG encodes a synthetic photo of w×h at quality 90.
func synthJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, synth.Photo(w, h, 2), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// naive is the reference pipeline: full decode, Lanczos fit to the preview
// box, Lanczos fit of that to the thumbnail box, two encodes.
func naive(tb testing.TB, data []byte, opt Options) (preview, thumb []byte) {
	opt = opt.withDefaults()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	p := imaging.Fit(img, opt.PreviewSize, opt.PreviewSize, imaging.Lanczos)
	th := imaging.Fit(p, opt.ThumbSize, opt.ThumbSize, imaging.Lanczos)
	var b1, b2 bytes.Buffer
	if err := jpeg.Encode(&b1, p, &jpeg.Options{Quality: opt.Quality}); err != nil {
		tb.Fatal(err)
	}
	if err := jpeg.Encode(&b2, th, &jpeg.Options{Quality: opt.Quality}); err != nil {
		tb.Fatal(err)
	}
	return b1.Bytes(), b2.Bytes()
}

// TestQualityVsNaive: on large synthetic photos (each DCT reduction), both
// variants are within 32 dB PSNR of the reference pipeline's.
func TestQualityVsNaive(t *testing.T) {
	sizes := [][2]int{{2560, 1920}}
	if !testing.Short() {
		sizes = append(sizes, [2]int{3600, 2400}, [2]int{4000, 3000}, [2]int{3000, 4000}, [2]int{6000, 4000})
	}
	for _, sz := range sizes {
		data := synthJPEG(t, sz[0], sz[1])
		res, err := MakeBytes(data, Options{})
		if err != nil {
			t.Fatal(err)
		}
		p, th := naive(t, data, Options{})
		pp, pt := psnrJPEG(t, p, res.Preview), psnrJPEG(t, th, res.Thumbnail)
		t.Logf("%d×%d (scale %d/8): preview %.2f dB (%d bytes), thumbnail %.2f dB (%d bytes)", sz[0], sz[1], jpegScale(sz[0], sz[1], DefaultPreviewSize), pp, len(res.Preview), pt, len(res.Thumbnail))
		if pp < 32 || pt < 32 {
			t.Errorf("%d×%d: PSNR preview %.2f thumbnail %.2f, want ≥ 32", sz[0], sz[1], pp, pt)
		}
	}
}

func ExampleMake() {
	f, err := os.Open("../testdata/photos/gps.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	res, err := Make(f, DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	th, _ := jpeg.DecodeConfig(bytes.NewReader(res.Thumbnail))
	fmt.Printf("%s %d×%d, thumbnail %d×%d\n", res.MediaType, res.Width, res.Height, th.Width, th.Height)
	fmt.Printf("taken %s at %.4f, %.4f\n", res.Taken.Format(time.RFC3339), res.GPS.Lat, res.GPS.Lon)

	_, err = Make(strings.NewReader("\x00\x00\x00\x18ftypheic"), DefaultOptions())
	fmt.Println(errors.Is(err, ErrUnsupported), err)
	// Output:
	// image/jpeg 480×360, thumbnail 400×300
	// taken 2024-05-17T09:41:23-03:00 at -3.4653, -62.2159
	// true thumbs: no variants for this type: image/heic
}

// TestGIFFrameOffset: a first frame smaller than the GIF's screen is
// placed on a white screen of the full size.
func TestGIFFrameOffset(t *testing.T) {
	pal := color.Palette{color.RGBA{200, 0, 0, 255}, color.RGBA{0, 0, 0, 0}}
	frame := image.NewPaletted(image.Rect(10, 10, 30, 30), pal)
	var buf bytes.Buffer
	err := gif.EncodeAll(&buf, &gif.GIF{
		Image: []*image.Paletted{frame}, Delay: []int{0},
		Config: image.Config{ColorModel: pal, Width: 40, Height: 40},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := MakeBytes(buf.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := decodeJPEG(t, res.Preview)
	if res.Width != 40 || res.Height != 40 || img.Bounds().Dx() != 40 {
		t.Fatalf("got %d×%d, variant %v", res.Width, res.Height, img.Bounds())
	}
	if r, g, _, _ := img.At(2, 2).RGBA(); r>>8 < 240 || g>>8 < 240 {
		t.Errorf("outside the frame: (%d,%d), want white", r>>8, g>>8)
	}
	if r, g, _, _ := img.At(20, 20).RGBA(); r>>8 < 150 || g>>8 > 60 {
		t.Errorf("inside the frame: (%d,%d), want red", r>>8, g>>8)
	}
}

// TestUnsupportedReadsLittle: Make decides on a video after its first
// bytes, without reading the rest.
func TestUnsupportedReadsLittle(t *testing.T) {
	cr := &countingReader{r: io.MultiReader(strings.NewReader("\x00\x00\x00\x18ftypisom"), bytes.NewReader(make([]byte, 10<<20)))}
	_, err := Make(cr, Options{})
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "video/mp4") {
		t.Fatalf("got %v", err)
	}
	if cr.n > 64 {
		t.Errorf("read %d bytes of a video", cr.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func ExampleSniff() {
	for _, head := range []string{"\xff\xd8\xff\xe1", "\x00\x00\x00\x18ftypheic", "%PDF-1.7"} {
		mt, ok := Sniff([]byte(head))
		fmt.Println(mt, ok)
	}
	// Output:
	// image/jpeg true
	// image/heic false
	// application/pdf false
}

// TestExtremeAspect: a long thin image makes thin variants without a
// filter as wide as the image (box pre-shrink keeps the taps few).
func TestExtremeAspect(t *testing.T) {
	for _, sz := range [][2]int{{200000, 3}, {3, 200000}} {
		img := image.NewGray(image.Rect(0, 0, sz[0], sz[1]))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := MakeBytes(buf.Bytes(), Options{})
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		p := decodeJPEG(t, res.Preview).Bounds().Size()
		if max(p.X, p.Y) != 1200 || min(p.X, p.Y) != 1 {
			t.Errorf("%v: preview %v", sz, p)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%v: allocated %d MB", sz, alloc>>20)
		}
	}
}

// TestAlignment: at a DCT scale that does not divide the width (7/8 of
// 2100 is 1837.5 samples), the preview stays aligned with the reference.
func TestAlignment(t *testing.T) {
	data := synthJPEG(t, 2100, 1400)
	if n := jpegScale(2100, 1400, DefaultPreviewSize); n != 7 {
		t.Fatalf("scale %d/8, want 7/8 for this test", n)
	}
	res, err := MakeBytes(data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := naive(t, data, Options{})
	if p := psnrJPEG(t, ref, res.Preview); p < 32 {
		t.Errorf("preview PSNR %.2f dB, want ≥ 32", p)
	}
}
