// Copyright 2009 The Go Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package jpeg

import (
	"io"
)

// maxCodeLength is the maximum (inclusive) number of bits in a Huffman code.
const maxCodeLength = 16

// maxNCodes is the maximum (inclusive) number of codes in a Huffman tree.
const maxNCodes = 256

// lutSize is the log-2 size of the Huffman decoder's look-up table.
const lutSize = 10 // 8 upstream: 10 catches nearly every AC code in one look-up

// huffman is a Huffman decoder, specified in section C.
type huffman struct {
	// length is the number of codes in the tree.
	nCodes int32
	// lut is the look-up table for the next lutSize bits in the bit-stream.
	// The high 8 bits of the uint16 are the encoded value. The low 8 bits
	// are 1 plus the code length, or 0 if the value is too large to fit in
	// lutSize bits.
	lut [1 << lutSize]uint16
	// fast is, not upstream, for AC tables: for the next lutSize bits, a
	// whole coefficient when its code and extra bits fit in them: the
	// coefficient (extended) in the high 16 bits, the zero run in bits 8-15,
	// the code length plus the extra bits' count in the low 8; 0 if not.
	fast [1 << lutSize]int32
	// vals are the decoded values, sorted by their encoding.
	vals [maxNCodes]uint8
	// minCodes[i] is the minimum code of length i, or -1 if there are no
	// codes of that length.
	minCodes [maxCodeLength]int32
	// maxCodes[i] is the maximum code of length i, or -1 if there are no
	// codes of that length.
	maxCodes [maxCodeLength]int32
	// valsIndices[i] is the index into vals of minCodes[i].
	valsIndices [maxCodeLength]int32
}

// errShortHuffmanData means that an unexpected EOF occurred while decoding
// Huffman data.
var errShortHuffmanData = FormatError("short Huffman data")

// ensureNBits reads bytes from the byte buffer to ensure that d.bits.n is at
// least n. For best performance (avoiding function calls inside hot loops),
// the caller is the one responsible for first checking that d.bits.n < n.
func (d *decoder) ensureNBits(n int32) error {
	// Not upstream: take whole runs of plain (and 0xff 0x00 stuffed) bytes
	// straight from the buffer first, up to 64 bits, so the hot loop calls
	// here once per several symbols rather than once per byte. It never
	// consumes a marker, so every byte it takes belongs to the current
	// entropy-coded segment; nUnreadable keeps "unread the last byte" right.
	d.fillFast()
	for d.bits.n < n {
		c, err := d.readByteStuffedByte()
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				return errShortHuffmanData
			}
			return err
		}
		d.bits.a = d.bits.a<<8 | uint64(c)
		d.bits.n += 8
		if d.bits.m == 0 {
			d.bits.m = 1 << 7
		} else {
			d.bits.m <<= 8
		}
	}
	return nil
}

// fillFast adds buffered entropy-coded bytes to d.bits while it has room
// and the bytes are not a marker. Not upstream.
func (d *decoder) fillFast() {
	a, nb := d.bits.a, d.bits.n
	i, j := d.bytes.i, d.bytes.j
	unread := d.bytes.nUnreadable
	for nb <= 56 && i+2 <= j {
		c := d.bytes.buf[i]
		if c != 0xff {
			i++
			unread = 1
		} else if d.bytes.buf[i+1] == 0x00 {
			i += 2
			unread = 2
		} else {
			break
		}
		a = a<<8 | uint64(c)
		nb += 8
	}
	if nb != d.bits.n {
		d.bits.a, d.bits.n = a, nb
		d.bits.m = 1 << uint32(nb-1)
		d.bytes.i, d.bytes.nUnreadable = i, unread
	}
}

// receiveExtend is the composition of RECEIVE and EXTEND, specified in section
// F.2.2.1.
func (d *decoder) receiveExtend(t uint8) (int32, error) {
	if d.bits.n < int32(t) {
		if err := d.ensureNBits(int32(t)); err != nil {
			return 0, err
		}
	}
	d.bits.n -= int32(t)
	d.bits.m >>= t
	s := int32(1) << t
	x := int32(d.bits.a>>uint8(d.bits.n)) & (s - 1)
	if x < s>>1 {
		x += ((-1) << t) + 1
	}
	return x, nil
}

// processDHT processes a Define Huffman Table marker, and initializes a huffman
// struct from its contents. Specified in section B.2.4.2.
func (d *decoder) processDHT(n int) error {
	for n > 0 {
		if n < 17 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(d.tmp[:17]); err != nil {
			return err
		}
		tc := d.tmp[0] >> 4
		if tc > maxTc {
			return FormatError("bad Tc value")
		}
		th := d.tmp[0] & 0x0f
		// The baseline th <= 1 restriction is specified in table B.5.
		if th > maxTh || (d.baseline && th > 1) {
			return FormatError("bad Th value")
		}
		h := &d.huff[tc][th]

		// Read nCodes and h.vals (and derive h.nCodes).
		// nCodes[i] is the number of codes with code length i.
		// h.nCodes is the total number of codes.
		h.nCodes = 0
		var nCodes [maxCodeLength]int32
		for i := range nCodes {
			nCodes[i] = int32(d.tmp[i+1])
			h.nCodes += nCodes[i]
		}
		if h.nCodes == 0 {
			return FormatError("Huffman table has zero length")
		}
		if h.nCodes > maxNCodes {
			return FormatError("Huffman table has excessive length")
		}
		n -= int(h.nCodes) + 17
		if n < 0 {
			return FormatError("DHT has wrong length")
		}
		if err := d.readFull(h.vals[:h.nCodes]); err != nil {
			return err
		}

		// Derive the look-up table.
		clear(h.lut[:])
		var x, code uint32
		for i := uint32(0); i < lutSize; i++ {
			code <<= 1
			for j := int32(0); j < nCodes[i]; j++ {
				if code >= 1<<(i+1) {
					// Not upstream: an over-subscribed table (more codes of
					// this length than there are bit patterns). Upstream's
					// 8-bit table silently wraps; libjpeg refuses it too.
					return FormatError("bad Huffman table")
				}
				// The codeLength is 1+i, so shift code by lutSize-(1+i) to
				// calculate the high bits for every lutSize-bit sequence
				// whose codeLength's high bits matches code.
				// The high 8 bits of lutValue are the encoded value.
				// The low 8 bits are 1 plus the codeLength.
				base := code << (lutSize - 1 - i)
				lutValue := uint16(h.vals[x])<<8 | uint16(2+i)
				for k := uint32(0); k < 1<<(lutSize-1-i); k++ {
					h.lut[base|k] = lutValue
				}
				code++
				x++
			}
		}

		// Not upstream: derive the whole-coefficient table.
		for idx := range h.fast {
			v := h.lut[idx]
			h.fast[idx] = 0
			if v == 0 {
				continue
			}
			l := uint32(v&0xff) - 1
			size := uint32(v>>8) & 0x0f
			run := int32(v>>8) >> 4
			if size == 0 || l+size > lutSize {
				continue
			}
			x := int32(uint32(idx)>>(lutSize-l-size)) & (1<<size - 1)
			if x < 1<<(size-1) {
				x += (-1 << size) + 1
			}
			h.fast[idx] = x<<16 | run<<8 | int32(l+size)
		}

		// Derive minCodes, maxCodes, and valsIndices.
		var c, index int32
		for i, n := range nCodes {
			if n == 0 {
				h.minCodes[i] = -1
				h.maxCodes[i] = -1
				h.valsIndices[i] = -1
			} else {
				h.minCodes[i] = c
				h.maxCodes[i] = c + n - 1
				h.valsIndices[i] = index
				c += n
				index += n
			}
			c <<= 1
		}
	}
	return nil
}

// decodeHuffman returns the next Huffman-coded value from the bit-stream,
// decoded according to h.
func (d *decoder) decodeHuffman(h *huffman) (uint8, error) {
	if h.nCodes == 0 {
		return 0, FormatError("uninitialized Huffman table")
	}

	if d.bits.n < lutSize {
		if err := d.ensureNBits(lutSize); err != nil {
			if err != errMissingFF00 && err != errShortHuffmanData {
				return 0, err
			}
			// There are no more bytes of data in this segment, but we may still
			// be able to read the next symbol out of the previously read bits.
			// First, undo the readByte that the ensureNBits call made.
			// Not upstream: that failed read added no bits, so only the byte
			// position is restored. (Upstream also drops 8 bits when it holds
			// 8 or more, which cannot happen with its 8-bit look-up; with a
			// 10-bit one the previous, good byte would be lost.)
			d.bytes.i -= d.bytes.nUnreadable
			d.bytes.nUnreadable = 0
			goto slowPath
		}
	}
	if v := h.lut[(d.bits.a>>uint32(d.bits.n-lutSize))&(1<<lutSize-1)]; v != 0 {
		n := (v & 0xff) - 1
		d.bits.n -= int32(n)
		d.bits.m >>= n
		return uint8(v >> 8), nil
	}

slowPath:
	for i, code := 0, int32(0); i < maxCodeLength; i++ {
		if d.bits.n == 0 {
			if err := d.ensureNBits(1); err != nil {
				return 0, err
			}
		}
		if d.bits.a&d.bits.m != 0 {
			code |= 1
		}
		d.bits.n--
		d.bits.m >>= 1
		if code <= h.maxCodes[i] {
			return h.vals[h.valsIndices[i]+code-h.minCodes[i]], nil
		}
		code <<= 1
	}
	return 0, FormatError("bad Huffman code")
}

func (d *decoder) decodeBit() (bool, error) {
	if d.bits.n == 0 {
		if err := d.ensureNBits(1); err != nil {
			return false, err
		}
	}
	ret := d.bits.a&d.bits.m != 0
	d.bits.n--
	d.bits.m >>= 1
	return ret, nil
}

func (d *decoder) decodeBits(n int32) (uint32, error) {
	if d.bits.n < n {
		if err := d.ensureNBits(n); err != nil {
			return 0, err
		}
	}
	ret := d.bits.a >> uint32(d.bits.n-n)
	ret &= (1 << uint32(n)) - 1
	d.bits.n -= n
	d.bits.m >>= uint32(n)
	return uint32(ret), nil
}

// refill tops the bit buffer up to 32 bits, and reports whether the
// segment had them. Not upstream: it lets decodeACFast decode a symbol and
// its extra bits without a call or a check per step. A failed read added no
// bits, so undoing it is restoring the byte position.
func (d *decoder) refill() bool {
	if err := d.ensureNBits(32); err != nil {
		d.bytes.i -= d.bytes.nUnreadable
		d.bytes.nUnreadable = 0
		return false
	}
	return true
}

// decodeACFast decodes the AC coefficients of b from zig on, as the general
// loop in processSOS does, while the bit buffer holds 32 bits (a 10-bit
// look-up code plus up to 15 extra bits always fit). It returns where it
// stopped and whether the block is complete; when it is not, the general
// loop continues from zig, with nothing of the next symbol consumed. Not
// upstream.
func (d *decoder) decodeACFast(b *block, h *huffman, zig, zigEnd int32, al uint32) (int32, bool) {
	for zig <= zigEnd {
		if d.bits.n < 32 && !d.refill() {
			return zig, false
		}
		idx := (d.bits.a >> uint32(d.bits.n-lutSize)) & (1<<lutSize - 1)
		if f := h.fast[idx]; f != 0 && zig+(f>>8)&0xff <= zigEnd {
			// Code and extra bits in one look-up.
			n := uint32(f & 0xff)
			d.bits.n -= int32(n)
			d.bits.m >>= n
			zig += (f >> 8) & 0xff
			b[unzig[zig&63]] = (f >> 16) << al
			zig++
			continue
		}
		v := h.lut[idx]
		if v == 0 {
			return zig, false // a code longer than lutSize bits
		}
		value := uint8(v >> 8)
		val0, val1 := value>>4, value&0x0f
		if val1 == 0 && val0 != 0 && val0 != 0x0f {
			return zig, false // EOBn (progressive): the general loop sets eobRun
		}
		n := uint32(v&0xff) - 1
		d.bits.n -= int32(n)
		d.bits.m >>= n
		if val1 == 0 {
			if val0 == 0 {
				return zig, true // EOB: the general loop's eobRun ends at 0
			}
			zig += 16 // ZRL
			continue
		}
		zig += int32(val0)
		if zig > zigEnd {
			return zig, true
		}
		t := uint32(val1)
		d.bits.n -= int32(t)
		d.bits.m >>= t
		s := int32(1) << t
		x := int32(d.bits.a>>uint32(d.bits.n)) & (s - 1)
		if x < s>>1 {
			x += ((-1) << t) + 1
		}
		b[unzig[zig&63]] = x << al
		zig++
	}
	return zig, true
}
