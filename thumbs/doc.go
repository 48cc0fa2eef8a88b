// Package thumbs makes the two derived variants of a photo that travel
// ahead of the original: a thumbnail and a preview.
//
// Words used here:
//
//   - original: the file as the camera or phone wrote it. This package only
//     reads it; it is stored and hashed byte for byte elsewhere.
//   - variant: a JPEG made from an original, with its own CID. There are two.
//   - thumbnail: the variant that fits a 400×400 box (Options.ThumbSize),
//     for lists and grids; under 30 KB for a typical 12-MP photo.
//   - preview: the variant that fits a 1200×1200 box (Options.PreviewSize),
//     for looking at one photo; under 250 KB for a typical 12-MP photo.
//   - fit: scale to the largest size whose long edge is the box's edge,
//     keeping the aspect ratio; never enlarge.
//   - orientation: the EXIF Orientation tag (1..8). Variants are turned
//     upright by it and carry no tag, so every viewer shows them the same.
//   - metadata: EXIF, XMP, ICC, comments. Variants have none: the encoder
//     writes no APPn segment, so no GPS position can leak through a
//     variant. What the project needs (time, position, size) is returned
//     in Result instead.
//   - deterministic: the same original and Options give the same variant
//     bytes on every run, platform and GOMAXPROCS, so two devices that make
//     variants of one photo get the same CIDs. All pixel arithmetic is
//     integer; one image is processed by one goroutine.
//   - limits: an original whose header declares more than
//     Options.MaxPixels pixels is refused with a *TooLargeError before any
//     pixel buffer is allocated.
//
// Supported originals: JPEG (baseline, progressive, grayscale, CMYK/YCCK),
// PNG (8 and 16 bit, alpha composited onto white), GIF (first frame, on
// white) and WebP. Anything else gives ErrUnsupported: the caller imports
// it as an attachment with no variants.
//
// # The pipeline
//
//	bytes ─ Sniff ─ DecodeConfig ─ limit check ─ EXIF (orientation, time, GPS)
//	          │
//	          └─ decode (JPEG: at n/8 scale by a reduced IDCT)
//	               └─ planes Y, Cb, Cr ─ resample to preview ─ orient ─ encode
//	                                         └─ resample to thumbnail ─ orient ─ encode
//
// The work stays on YCbCr planes from the JPEG decoder to the JPEG
// encoder: no RGB conversion, and chroma is resampled at its own
// (subsampled) size.
//
// # What is hand-written, and why
//
//   - internal/jpeg is the standard library's JPEG codec with scaled
//     decoding added (libjpeg's trick: an N×N inverse DCT of each block's
//     N×N lowest frequencies, N = 1..7) and a faster entropy decoder (64-bit
//     bit buffer, 10-bit look-up, whole-coefficient table, inlined AC loop),
//     and an encoder that writes upstream's exact bytes with less work
//     (direct 4:2:0 planes, division by reciprocal). Entropy decoding
//     and the 8×8 IDCT are most of the cost of a 12-MP photo; decoding the
//     half-size image a 1200-pixel preview needs skips most of the IDCT and
//     of the memory traffic. The fork is a few small, marked changes, so
//     upstream fixes can be carried over by diffing.
//   - resize.go: a fixed-point Catmull-Rom resampler on 8-bit planes.
//     Libraries (imaging, x/image/draw) work in floating point on RGBA;
//     Go may fuse float multiply-adds on arm64 and not on amd64, which
//     would give a phone and a laptop different variant bytes.
//   - exif.go: a small EXIF reader for the four tags needed, bounded by the
//     EXIF block and fuzzed; general EXIF libraries trust declared counts.
//
// # Speed
//
// MakeAll spreads many originals over all cores; each original is made on
// one goroutine, which keeps its bytes independent of scheduling.
// docs/thumbs.md and docs/benchmarks.md give the reasons and the
// figures.
package thumbs
