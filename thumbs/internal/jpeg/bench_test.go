package jpeg

import (
	"bytes"
	stdjpeg "image/jpeg"
	"os"
	"testing"
)

// BenchmarkDecode compares image/jpeg with this fork at full and reduced
// scale on the JPEG named by $FORK_TEST_JPEG (skipped when unset).
func BenchmarkDecode(b *testing.B) {
	data, err := os.ReadFile(os.Getenv("FORK_TEST_JPEG"))
	if err != nil {
		b.Skip("set FORK_TEST_JPEG to a large JPEG")
	}
	b.Run("stdlib", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := stdjpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, n := range []int{8, 6, 4, 2, 1} {
		b.Run("scale"+string(rune('0'+n))+"of8", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := DecodeScaled(bytes.NewReader(data), n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
