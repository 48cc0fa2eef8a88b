package thumbs

import "math/bits"

// Resampling of one 8-bit plane: separable, Catmull-Rom (the cubic with
// a = -0.5), its support stretched by the reduction factor so that it also
// low-pass filters when shrinking. Everything is fixed-point integer
// arithmetic, weights included: Go may fuse floating-point multiply-adds on
// some architectures (arm64, ppc64, s390x) and not on others, and a variant
// must have the same bytes on a phone and on a laptop.

// plane is one channel of 8-bit samples.
type plane struct {
	w, h   int
	stride int
	pix    []uint8
	// ew, eh: the width and height of the whole picture in this plane's
	// sample units, × extUnit; 0 means w, h. They differ from w, h when a
	// plane's samples do not tile the picture exactly: a JPEG decoded at
	// 7/8 scale is 1837.5 samples wide in a 1838-sample plane, chroma of an
	// odd-width picture is half a sample short of its plane. Resampling
	// maps extent to extent, so such planes stay aligned to the pixel.
	ew, eh int64
}

// extUnit is the fixed-point unit of plane extents.
const extUnit = 64

func newPlane(w, h int) plane {
	return plane{w: w, h: h, stride: w, pix: make([]uint8, w*h)}
}

func (p plane) extent() (int64, int64) {
	ew, eh := p.ew, p.eh
	if ew <= 0 {
		ew = int64(p.w) * extUnit
	}
	if eh <= 0 {
		eh = int64(p.h) * extUnit
	}
	return ew, eh
}

const (
	posBits    = 16 // fixed-point fraction bits of positions and kernel arguments
	weightBits = 14 // fixed-point fraction bits of the weights; they sum to 1<<weightBits
)

// taps is the filter of one resampling direction: output i is
// Σ_k weights[i*n+k] · src[start[i]+k], k < n.
type taps struct {
	n       int
	start   []int
	weights []int32
}

// catmullRom returns the kernel's value at t (Q16, t ≥ 0) in Q14.
func catmullRom(t int64) int64 {
	const one = int64(1) << posBits
	if t >= 2*one {
		return 0
	}
	// Evaluate in Q16 with int64; every product is rescaled at once.
	t2 := t * t >> posBits
	t3 := t2 * t >> posBits
	var v int64
	if t < one {
		// 1.5t³ - 2.5t² + 1
		v = (3*t3 - 5*t2 + 2*one) / 2
	} else {
		// -0.5t³ + 2.5t² - 4t + 2
		v = (-t3 + 5*t2 - 8*t + 4*one) / 2
	}
	return v >> (posBits - weightBits)
}

// makeTaps builds the filter that maps src samples spanning srcExt onto
// dst samples spanning dstExt (extents × extUnit), pixel centres aligned:
// output i sits at source (i+0.5)·srcExt/dstExt - 0.5. The reduction
// srcExt/dstExt must be small (resize pre-shrinks big ones), so the window
// stays a few dozen taps.
func makeTaps(src int, srcExt int64, dst int, dstExt int64) taps {
	const one = int64(1) << posBits
	// Kernel argument per source pixel: 1 when enlarging, dstExt/srcExt
	// when shrinking (the kernel is stretched by the reduction).
	num, den := int64(1), int64(1)
	if srcExt > dstExt {
		num, den = dstExt, srcExt
	}
	// Support radius in source pixels: 2·den/num, rounded up. The taps that
	// can be nonzero, |j-c| < 2·den/num, are the 2·radius from
	// floor(c)-radius+1 to floor(c)+radius.
	radius := int((2*den + num - 1) / num)
	n := 2 * radius
	if n > src {
		n = src
	}
	tp := taps{n: n, start: make([]int, dst), weights: make([]int32, dst*n)}
	raw := make([]int64, 2*radius)
	for i := 0; i < dst; i++ {
		// Centre in Q16 source pixels: (2i+1)·srcExt/(2·dstExt) - 0.5, in
		// 128-bit arithmetic so no extent can overflow it.
		hi, lo := bits.Mul64(uint64(2*i+1)*uint64(one), uint64(srcExt))
		q, _ := bits.Div64(hi, lo, uint64(2*dstExt))
		c := int64(q) - one/2
		first := int(c>>posBits) - radius + 1 // >> floors negative c too
		var sum int64
		for k := range raw {
			d := int64(first+k)*one - c
			if d < 0 {
				d = -d
			}
			w := catmullRom(d * num / den)
			raw[k] = w
			sum += w
		}
		// Fold taps that fall outside [0, src) onto the edge pixels, and
		// place the window [start, start+n) inside the source.
		start := first
		if start < 0 {
			start = 0
		}
		if start > src-n {
			start = src - n
		}
		ws := tp.weights[i*n : i*n+n]
		for k, w := range raw {
			j := first + k
			if j < 0 {
				j = 0
			}
			if j >= src {
				j = src - 1
			}
			ws[j-start] += int32(w)
		}
		// Normalise to exactly 1<<weightBits; the rounding rest goes to the
		// largest weight.
		if sum <= 0 {
			sum = 1
		}
		var total int32
		big := 0
		for k := range ws {
			ws[k] = int32(int64(ws[k]) << weightBits / sum)
			total += ws[k]
			if ws[k] > ws[big] {
				big = k
			}
		}
		ws[big] += 1<<weightBits - total
		tp.start[i] = start
	}
	return tp
}

// maxReduction is the largest reduction makeTaps is given; beyond it,
// resize first averages boxes of pixels.
const maxReduction = 6

// boxShrink averages kx×ky boxes of p (partial boxes at the right and
// bottom edges average what they have) and scales the extent with them.
func boxShrink(p plane, kx, ky int) plane {
	ew, eh := p.extent()
	out := newPlane((p.w+kx-1)/kx, (p.h+ky-1)/ky)
	out.ew, out.eh = ew/int64(kx), eh/int64(ky)
	sums := make([]int64, out.w)
	counts := make([]int64, out.w)
	for oy := 0; oy < out.h; oy++ {
		clear(sums)
		clear(counts)
		for y := oy * ky; y < min(p.h, (oy+1)*ky); y++ {
			row := p.pix[y*p.stride:][:p.w]
			for x, v := range row {
				sums[x/kx] += int64(v)
				counts[x/kx]++
			}
		}
		dst := out.pix[oy*out.stride:][:out.w]
		for x := range dst {
			dst[x] = uint8((sums[x] + counts[x]/2) / counts[x])
		}
	}
	return out
}

func clamp8(v int32) uint8 {
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resize resamples p to w×h samples spanning ew×eh (× extUnit).
func resize(p plane, w, h int, ew, eh int64) plane {
	sw, sh := p.extent()
	if p.w == w && p.h == h && sw == ew && sh == eh {
		return p
	}
	kx, ky := 1, 1
	if sw > maxReduction*ew {
		kx = int(sw / (3 * ew))
	}
	if sh > maxReduction*eh {
		ky = int(sh / (3 * eh))
	}
	if kx > 1 || ky > 1 {
		p = boxShrink(p, kx, ky)
		sw, sh = p.extent()
	}
	tx, ty := makeTaps(p.w, sw, w, ew), makeTaps(p.h, sh, h, eh)
	// Horizontal pass: p.w×p.h → w×p.h, only the rows the vertical pass
	// reads (all of them, for any reduction this package does).
	mid := newPlane(w, p.h)
	const round = 1 << (weightBits - 1)
	for y := 0; y < p.h; y++ {
		src := p.pix[y*p.stride : y*p.stride+p.w]
		dst := mid.pix[y*mid.stride : y*mid.stride+w]
		n := tx.n
		for x := range dst {
			s := src[tx.start[x]:][:n]
			ws := tx.weights[x*n:][:n]
			ws = ws[:len(s)] // lets the compiler drop the bounds checks
			var acc int32
			for k, v := range s {
				acc += int32(v) * ws[k]
			}
			dst[x] = clamp8((acc + round) >> weightBits)
		}
	}
	// Vertical pass: accumulate whole rows, one weight at a time, so the
	// inner loop runs along memory.
	out := newPlane(w, h)
	out.ew, out.eh = ew, eh
	acc := make([]int32, w)
	for y := 0; y < h; y++ {
		clear(acc)
		n := ty.n
		ws := ty.weights[y*n:][:n]
		for k, wt := range ws {
			if wt == 0 {
				continue
			}
			row := mid.pix[(ty.start[y]+k)*mid.stride:][:w]
			acc := acc[:len(row)]
			for x, v := range row {
				acc[x] += int32(v) * wt
			}
		}
		dst := out.pix[y*out.stride:][:w]
		for x, a := range acc {
			dst[x] = clamp8((a + round) >> weightBits)
		}
	}
	return out
}

// fit returns the size of a w×h image fitted into a box×box square, never
// enlarged: the long edge becomes box, the short edge keeps the aspect
// ratio, rounded down (as imaging.Fit does), at least 1.
func fit(w, h, box int) (int, int) {
	if w <= box && h <= box {
		return w, h
	}
	if w >= h {
		return box, max(1, int(int64(h)*int64(box)/int64(w)))
	}
	return max(1, int(int64(w)*int64(box)/int64(h))), box
}
