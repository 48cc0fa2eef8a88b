// Copyright 2026 The fieldsync Authors. BSD-style license, as the rest of
// this package.

package jpeg

// Reduced inverse DCTs for DecodeScaled. Sampling the 8-point IDCT
//
//	f(x) = Σ_u C(u)/2 · F(u) · cos((2x+1)uπ/16)
//
// at the centre of each group of 8/N pixels, x = (8/N)x' + (8/N-1)/2, gives
// f(x') = Σ_{u<N} C(u)/2 · F(u) · cos((2x'+1)uπ/2N): an N-point IDCT of the
// N lowest frequencies with the 8-point normalisation (libjpeg's jidctred.c
// does the same). The higher frequencies are dropped, which low-pass filters
// the block before it is subsampled.

// blockSize is the decoded size of an 8×8 block.
func (d *decoder) blockSize() int {
	if d.scale == 0 {
		return 8
	}
	return d.scale
}

// idctN[n] (and idct4, idct2) hold C(u)/2 · cos((2x+1)uπ/2N) × 2048,
// rounded, for x, u < N; written out rather than computed so that no
// floating point is involved.
var idctN = [8][][]int32{
	3: {
		{724, 887, 512},
		{724, 0, -1024},
		{724, -887, 512},
	},
	5: {
		{724, 974, 828, 602, 316},
		{724, 602, -316, -974, -828},
		{724, 0, -1024, 0, 1024},
		{724, -602, -316, 974, -828},
		{724, -974, 828, -602, 316},
	},
	6: {
		{724, 989, 887, 724, 512, 265},
		{724, 724, 0, -724, -1024, -724},
		{724, 265, -887, -724, 512, 989},
		{724, -265, -887, 724, 512, -989},
		{724, -724, 0, 724, -1024, 724},
		{724, -989, 887, -724, 512, -265},
	},
	7: {
		{724, 998, 923, 801, 638, 444, 228},
		{724, 801, 228, -444, -923, -998, -638},
		{724, 444, -638, -998, -228, 801, 923},
		{724, 0, -1024, 0, 1024, 0, -1024},
		{724, -444, -638, 998, -228, -801, 923},
		{724, -801, 228, 444, -923, 998, -638},
		{724, -998, 923, -801, 638, -444, 228},
	},
}

var idct4 = [4][4]int32{
	{724, 946, 724, 392},
	{724, 392, -724, -946},
	{724, -392, -724, 946},
	{724, -946, 724, -392},
}

var idct2 = [2][2]int32{
	{724, 724},
	{724, -724},
}

// zigOf maps a natural-order coefficient index to its zig-zag index, to find
// its quantiser.
var zigOf = func() (z [blockSize]int) {
	for zig, nat := range unzig {
		z[nat] = zig
	}
	return z
}()

// idctScaled dequantises the low N×N corner of b (natural order, quantised)
// with qt (zig-zag order), runs the N×N reduced IDCT, level shifts, clips,
// and writes the N×N pixels to dst. N is 1 to 7.
func idctScaled(b *block, qt *block, n int, dst []byte, stride int) {
	switch n {
	case 3, 5, 6, 7:
		idctGeneral(b, qt, n, dst, stride)
		return
	case 1:
		dc := b[0] * qt[0]
		dst[0] = clip((dc+4)>>3 + 128)
		return
	case 2:
		var f [2][2]int32
		for v := 0; v < 2; v++ {
			for u := 0; u < 2; u++ {
				k := v*8 + u
				f[v][u] = b[k] * qt[zigOf[k]]
			}
		}
		var t [2][2]int32 // t[v][x], scale 2^3
		for v := 0; v < 2; v++ {
			for x := 0; x < 2; x++ {
				t[v][x] = (f[v][0]*idct2[x][0] + f[v][1]*idct2[x][1] + 1<<7) >> 8
			}
		}
		for y := 0; y < 2; y++ {
			row := dst[y*stride : y*stride+2]
			for x := 0; x < 2; x++ {
				s := t[0][x]*idct2[y][0] + t[1][x]*idct2[y][1]
				row[x] = clip((s+1<<13)>>14 + 128)
			}
		}
		return
	}
	// Dequantise the low 4×4 corner, row by row, noting which rows have
	// any coefficient: high-frequency rows are often all zero.
	var f [4][4]int32
	var rowNZ [4]bool
	anyAC := false
	for v := 0; v < 4; v++ {
		k := v * 4
		r := &f[v]
		r[0] = b[nat4[k]&63] * qt[zig4[k]&63]
		r[1] = b[nat4[k+1]&63] * qt[zig4[k+1]&63]
		r[2] = b[nat4[k+2]&63] * qt[zig4[k+2]&63]
		r[3] = b[nat4[k+3]&63] * qt[zig4[k+3]&63]
		rowNZ[v] = r[0]|r[1]|r[2]|r[3] != 0
		if v > 0 && rowNZ[v] || r[1]|r[2]|r[3] != 0 {
			anyAC = true
		}
	}
	if !anyAC {
		// A flat block: every pixel is the same, rounded as the general
		// path rounds.
		s := ((f[0][0]*724 + 1<<7) >> 8) * 724
		p := clip((s+1<<13)>>14 + 128)
		for y := 0; y < 4; y++ {
			row := dst[y*stride : y*stride+4]
			row[0], row[1], row[2], row[3] = p, p, p, p
		}
		return
	}
	var t [4][4]int32 // t[v][x]: rows transformed, scale 2^3
	nv := 0           // rows 0..nv-1 hold every nonzero row
	for v := 0; v < 4; v++ {
		if !rowNZ[v] {
			continue
		}
		nv = v + 1
		r := &f[v]
		for x := 0; x < 4; x++ {
			c := &idct4[x]
			t[v][x] = (r[0]*c[0] + r[1]*c[1] + r[2]*c[2] + r[3]*c[3] + 1<<7) >> 8
		}
	}
	for y := 0; y < 4; y++ {
		c := &idct4[y]
		row := dst[y*stride : y*stride+4]
		for x := 0; x < 4; x++ {
			var s int32
			switch nv {
			case 1:
				s = t[0][x] * c[0]
			case 2:
				s = t[0][x]*c[0] + t[1][x]*c[1]
			default:
				s = t[0][x]*c[0] + t[1][x]*c[1] + t[2][x]*c[2] + t[3][x]*c[3]
			}
			row[x] = clip((s+1<<13)>>14 + 128)
		}
	}
}

//go:generate go run gen_idct.go

// idctGeneral is idctScaled for N = 3, 5, 6, 7: dequantisation, the flat
// block shortcut, then the generated unrolled transform.
func idctGeneral(b *block, qt *block, n int, dst []byte, stride int) {
	var f [8][8]int32
	var rowLen [8]int // 1 + the index of the row's last nonzero coefficient
	anyAC := false
	for v := 0; v < n; v++ {
		r := &f[v]
		for u := 0; u < n; u++ {
			k := (v*8 + u) & 63
			if c := b[k]; c != 0 {
				r[u] = c * qt[zigOf[k]&63]
				rowLen[v] = u + 1
				if k != 0 {
					anyAC = true
				}
			}
		}
	}
	if !anyAC {
		s := ((f[0][0]*724 + 1<<7) >> 8) * 724
		p := clip((s+1<<13)>>14 + 128)
		for y := 0; y < n; y++ {
			row := dst[y*stride : y*stride+n]
			for x := range row {
				row[x] = p
			}
		}
		return
	}
	var rows [8]bool
	for v := range rows {
		rows[v] = rowLen[v] != 0
	}
	switch n {
	case 3:
		idct3(&f, &rows, dst, stride)
	case 5:
		idct5(&f, &rows, dst, stride)
	case 6:
		idct6(&f, &rows, dst, stride)
	case 7:
		idct7(&f, &rows, dst, stride)
	default:
		idctLoops(&f, &rowLen, n, dst, stride)
	}
}

// idctLoops is the reduced IDCT for any N in plain loops: the reference the
// generated, unrolled idct3, idct5, idct6 and idct7 are tested against.
func idctLoops(f *[8][8]int32, rowLen *[8]int, n int, dst []byte, stride int) {
	tab := &idctFixed[n&7]
	var t [8][8]int32 // t[v][x]: rows transformed, scale 2^3
	nv := 0
	for v := 0; v < n; v++ {
		nu := rowLen[v]
		if nu == 0 {
			continue
		}
		nv = v + 1
		r := &f[v]
		tv := &t[v]
		// Even-odd split: basis u at x and at n-1-x differ by (-1)^u, so
		// out[x] = E+O and out[n-1-x] = E-O with E, O the sums over even
		// and odd u. Same integers as the plain sum, half the products.
		for x := 0; x < (n+1)/2; x++ {
			c := &tab[x]
			var e, o int32
			for u := 0; u < nu; u += 2 {
				e += r[u] * c[u]
			}
			for u := 1; u < nu; u += 2 {
				o += r[u] * c[u]
			}
			tv[x] = (e + o + 1<<7) >> 8
			tv[(n-1-x)&7] = (e - o + 1<<7) >> 8
		}
	}
	for x := 0; x < n; x++ {
		for y := 0; y < (n+1)/2; y++ {
			c := &tab[y]
			var e, o int32
			for v := 0; v < nv; v += 2 {
				e += t[v][x] * c[v]
			}
			for v := 1; v < nv; v += 2 {
				o += t[v][x] * c[v]
			}
			dst[y*stride+x] = clip((e+o+1<<13)>>14 + 128)
			dst[(n-1-y)*stride+x] = clip((e-o+1<<13)>>14 + 128)
		}
	}
}

// idctFixed is idctN in fixed-size arrays, for bounds-check-free loops.
var idctFixed = func() (a [8][8][8]int32) {
	for n, tab := range idctN {
		for x, row := range tab {
			copy(a[n][x][:], row)
		}
	}
	return a
}()

// nat4 lists the natural-order indices of the low 4×4 corner, row by row;
// zig4 their zig-zag indices (where their quantisers are).
var nat4, zig4 = func() (n, z [16]uint8) {
	for v := 0; v < 4; v++ {
		for u := 0; u < 4; u++ {
			n[v*4+u] = uint8(v*8 + u)
			z[v*4+u] = uint8(zigOf[v*8+u])
		}
	}
	return n, z
}()

func clip(c int32) uint8 {
	if c < 0 {
		return 0
	}
	if c > 255 {
		return 255
	}
	return uint8(c)
}
