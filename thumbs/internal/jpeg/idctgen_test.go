package jpeg

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestGeneratedIDCT checks the generated, unrolled reduced IDCTs (idct3,
// idct5, idct6, idct7) against idctLoops, the plain-loop reference, byte
// for byte on random coefficient blocks with random empty rows.
func TestGeneratedIDCT(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	gen := map[int]func(*[8][8]int32, *[8]bool, []byte, int){3: idct3, 5: idct5, 6: idct6, 7: idct7}
	for n, fn := range gen {
		for iter := 0; iter < 2000; iter++ {
			var f [8][8]int32
			var rowLen [8]int
			var rows [8]bool
			for v := 0; v < 8; v++ {
				if rng.IntN(3) == 0 {
					continue
				}
				rowLen[v] = 1 + rng.IntN(8)
				for u := 0; u < rowLen[v]; u++ {
					f[v][u] = rng.Int32N(4001) - 2000
				}
				rows[v] = true
			}
			const stride = 8
			want := make([]byte, 8*stride)
			got := make([]byte, 8*stride)
			g := f
			idctLoops(&f, &rowLen, n, want, stride)
			fn(&g, &rows, got, stride)
			if !bytes.Equal(got, want) {
				t.Fatalf("idct%d differs from idctLoops on %v:\n got %v\nwant %v", n, f, got, want)
			}
		}
	}
}
