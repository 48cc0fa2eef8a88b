package disk

import (
	"errors"
	"fmt"
)

// errBitmap wraps every reason a stored have-bitmap is refused.
var errBitmap = errors.New("bad have-bitmap")

// bitmap is the have-bitmap of a partial blob: bit i (byte i/8, bit i%8,
// least significant first) is set when leaf i is verified and durable.
// Stored as is in blob_partials.have: (leaves+7)/8 bytes, unused high bits
// of the last byte zero.
type bitmap []byte

func newBitmap(n int) bitmap { return make(bitmap, (n+7)/8) }

func (b bitmap) has(i int) bool { return b[i/8]&(1<<(i%8)) != 0 }

func (b bitmap) set(i int) { b[i/8] |= 1 << (i % 8) }

func (b bitmap) count() int {
	n := 0
	for _, x := range b {
		for ; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

// decodeBitmap checks a stored bitmap for a blob of n leaves.
func decodeBitmap(p []byte, n int) (bitmap, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: %d leaves", errBitmap, n)
	}
	if len(p) != (n+7)/8 {
		return nil, fmt.Errorf("%w: %d bytes for %d leaves", errBitmap, len(p), n)
	}
	if n%8 != 0 && p[len(p)-1]>>(n%8) != 0 {
		return nil, fmt.Errorf("%w: bits set past leaf %d", errBitmap, n-1)
	}
	return bitmap(append([]byte(nil), p...)), nil
}
