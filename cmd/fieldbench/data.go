//go:build linux

package main

// The scenarios' files: random bytes, camera-like 12-MP photos (from
// internal/synth: sky, textured ground, hard edges, grain, EXIF time and
// GPS) and, for the scale scenario, many small photos drawn cheaply.
// Photos are deterministic in their seed and kept in a cache directory, so
// a second run does not draw them again.

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/internal/synth"
	"golang.org/x/sync/errgroup"
)

// fileSpec is N files of Size random bytes.
type fileSpec struct {
	N    int
	Size int64
}

// makeRandomFiles writes the files of specs into dir; file i of the set is
// seeded from seed and i, so every file differs.
func makeRandomFiles(dir string, specs []fileSpec, seed uint64) (int, int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	n, total := 0, int64(0)
	for si, s := range specs {
		for i := 0; i < s.N; i++ {
			var key [32]byte
			copy(key[:], fmt.Sprintf("fieldbench %d %d %d", seed, si, i))
			r := rand.NewChaCha8(key)
			p := filepath.Join(dir, fmt.Sprintf("random-%s-%05d.bin", strings.ReplaceAll(sizeString(s.Size), " ", ""), i))
			f, err := os.Create(p)
			if err != nil {
				return 0, 0, err
			}
			_, err = io.CopyN(f, r, s.Size)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return 0, 0, err
			}
			n++
			total += s.Size
		}
	}
	return n, total, nil
}

// photoSpec is N photos of W×H pixels, seeds Seed..Seed+N-1.
type photoSpec struct {
	N, W, H int
	Seed    uint64
}

func (p photoSpec) String() string {
	mp := float64(p.W*p.H) / 1e6
	if mp >= 10 {
		return fmt.Sprintf("%d × %.0f-MP JPEG", p.N, mp)
	}
	return fmt.Sprintf("%d × %.1f-MP JPEG (%d×%d)", p.N, mp, p.W, p.H)
}

// makePhotos puts the photos of spec into dir (hard links to the cache
// where possible), drawing the missing ones in parallel.
func makePhotos(ctx context.Context, cache, dir string, spec photoSpec, logf func(string, ...any)) error {
	what := fmt.Sprintf("photos of %d×%d", spec.W, spec.H)
	return cachedFiles(ctx, filepath.Join(cache, fmt.Sprintf("photos-%dx%d-q90", spec.W, spec.H)), dir, spec.N, what, logf,
		func(i int) string { return fmt.Sprintf("IMG_%05d.jpg", spec.Seed+uint64(i)) },
		func(i int) ([]byte, error) {
			seed := spec.Seed + uint64(i)
			return synth.JPEG(spec.W, spec.H, seed, 90, photoMeta(seed)), nil
		})
}

// cachedFiles puts n files named name(i) into dir, hard links to the ones
// in cdir where possible, first drawing (draw(i)) those cdir lacks, in
// parallel.
func cachedFiles(ctx context.Context, cdir, dir string, n int, what string, logf func(string, ...any),
	name func(int) string, draw func(int) ([]byte, error)) error {
	for _, d := range []string{cdir, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	drawn := 0
	for i := range n {
		cp := filepath.Join(cdir, name(i))
		if _, err := os.Stat(cp); err == nil {
			continue
		}
		drawn++
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			b, err := draw(i)
			if err != nil {
				return err
			}
			return writeAtomic(cp, b)
		})
	}
	if drawn > 0 {
		logf("drawing %d %s (cached in %s)", drawn, what, cdir)
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range n {
		if err := linkOrCopy(filepath.Join(cdir, name(i)), filepath.Join(dir, name(i))); err != nil {
			return err
		}
	}
	return nil
}

// photoMeta is a photo's EXIF: a minute apart, a few metres apart.
func photoMeta(seed uint64) synth.Meta {
	return synth.Meta{
		Taken: time.Date(2026, 3, 14, 7, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Minute),
		Lat:   -3.0674 + float64(seed%997)*1e-5,
		Lon:   37.3556 + float64(seed%991)*1e-5,
	}
}

// makeSmallPhotos puts n small photos (440×330, a gradient, a few shapes
// and some grain, with EXIF) into dir. Each gives three distinct blobs at
// import: the original, a 400-px thumbnail and a preview (not upscaled, so
// the original's size, re-encoded without metadata).
func makeSmallPhotos(ctx context.Context, cache, dir string, n int, logf func(string, ...any)) error {
	return cachedFiles(ctx, filepath.Join(cache, "small-440x330"), dir, n, "small photos", logf,
		func(i int) string { return fmt.Sprintf("small-%05d.jpg", i) },
		func(i int) ([]byte, error) { return smallPhoto(uint64(i)) })
}

func smallPhoto(seed uint64) ([]byte, error) {
	const w, h = 440, 330
	rng := rand.New(rand.NewPCG(seed, 0x5ca1e))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r0, g0, b0 := rng.IntN(200), rng.IntN(200), rng.IntN(200)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			g := uint8((r0 + x*55/w) & 0xff)
			img.SetRGBA(x, y, color.RGBA{g, uint8((g0 + y*55/h) & 0xff), uint8(b0 + (x+y)*50/(w+h)), 0xff})
		}
	}
	for k := 0; k < 8; k++ {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		c := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 0xff}
		for y := y0; y < min(h, y0+20+rng.IntN(80)); y++ {
			for x := x0; x < min(w, x0+20+rng.IntN(80)); x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	for k := 0; k < w*h/8; k++ {
		i := rng.IntN(len(img.Pix)/4) * 4
		d := uint8(rng.IntN(24))
		img.Pix[i] += d
		img.Pix[i+1] += d
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		return nil, err
	}
	return synth.WithExif(buf.Bytes(), photoMeta(seed)), nil
}

func writeAtomic(p string, b []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func linkOrCopy(from, to string) error {
	if err := os.Link(from, to); err == nil || os.IsExist(err) {
		return nil
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
