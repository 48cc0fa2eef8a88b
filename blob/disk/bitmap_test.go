package disk

import (
	"bytes"
	"testing"
)

func TestBitmap(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 2048, 2049} {
		b := newBitmap(n)
		for i := 0; i < n; i += 3 {
			b.set(i)
		}
		d, err := decodeBitmap(b, n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		for i := 0; i < n; i++ {
			if d.has(i) != (i%3 == 0) {
				t.Fatalf("n=%d: bit %d wrong", n, i)
			}
		}
		if d.count() != (n+2)/3 {
			t.Fatalf("n=%d: count %d", n, d.count())
		}
	}
	for _, c := range []struct {
		p []byte
		n int
	}{{nil, 1}, {[]byte{0}, 0}, {[]byte{0, 0}, 8}, {[]byte{0x02}, 1}, {[]byte{0x80}, 7}, {nil, -1}} {
		if _, err := decodeBitmap(c.p, c.n); err == nil {
			t.Errorf("decodeBitmap(%x, %d): no error", c.p, c.n)
		}
	}
}

func FuzzBitmap(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add([]byte{0xff}, 8)
	f.Add([]byte{0x7f}, 7)
	f.Add([]byte{0xff, 0x01}, 9)
	f.Fuzz(func(t *testing.T, p []byte, n int) {
		if n > 1<<20 {
			return
		}
		b, err := decodeBitmap(p, n)
		if err != nil {
			return
		}
		if !bytes.Equal(b, p) {
			t.Fatal("decoded bitmap differs from its encoding")
		}
		c := 0
		for i := 0; i < n; i++ {
			if b.has(i) {
				c++
			}
		}
		if c != b.count() {
			t.Fatalf("count %d, %d bits set", b.count(), c)
		}
	})
}
