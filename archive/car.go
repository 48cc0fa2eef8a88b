package archive

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fieldsync/fieldsync/internal/dagcbor"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// CAR framing (https://ipld.io/specs/transport/car/carv1/ and carv2/):
//
//	CARv1: uvarint(len) dag-cbor{"roots": [CID...], "version": 1}
//	       then sections: uvarint(len(CID)+len(data)) CID data
//	CARv2: 11-byte pragma (a CARv1 header saying version 2), a 40-byte
//	       header (characteristics, data offset, data size, index offset,
//	       little-endian), then a CARv1 payload at the data offset.
//
// The reader and writer are written by hand (a hundred lines) rather than
// through go-car: the importer must keep going past a block whose bytes do
// not match its CID (go-car's BlockReader stops at the first), must tell a
// cut-short file from a malformed one, and must never buffer more than one
// section; the writer must stream leaves read from the store one at a time.
// The tests read what we write with go-car, as an independent check.

// Limits on what the reader accepts.
const (
	// MaxHeaderSize bounds a CARv1 header (the list of roots).
	MaxHeaderSize = 16 << 20
	// MaxBlockSize bounds one section (CID and block). The largest block
	// fieldsync writes is a 1 MiB leaf.
	MaxBlockSize = 4 << 20
)

// Errors about the CAR file as a whole.
var (
	// ErrNotCAR means the input does not start with a CARv1 or CARv2 header.
	ErrNotCAR = errors.New("archive: not a CAR file")
	// ErrTruncated means the file ends in the middle of a section: it was
	// cut short. Everything before the cut is usable.
	ErrTruncated = errors.New("archive: CAR cut short")
	// ErrFraming means a section length is impossible (larger than
	// MaxBlockSize, or not a uvarint): the rest of the file cannot be
	// found.
	ErrFraming = errors.New("archive: CAR framing broken")
)

// carPragma is the CARv2 pragma: a CARv1 header of length 10 saying
// {"version": 2}.
var carPragma = []byte{0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02}

// carWriter writes a CARv1 stream and counts the bytes it wrote.
type carWriter struct {
	w *bufio.Writer
	n int64
}

func newCARWriter(w io.Writer) *carWriter { return &carWriter{w: bufio.NewWriterSize(w, 64<<10)} }

// encodeCARHeader returns the dag-cbor CARv1 header for roots.
func encodeCARHeader(roots []cid.Cid) []byte {
	b := []byte{0xa2} // map of 2
	b = append(b, 0x65)
	b = append(b, "roots"...)
	b = cborHead(b, 4, uint64(len(roots)))
	for _, r := range roots {
		b = append(b, 0xd8, 42) // tag 42: CID link
		cb := r.Bytes()
		b = cborHead(b, 2, uint64(len(cb)+1))
		b = append(b, 0)
		b = append(b, cb...)
	}
	b = append(b, 0x67)
	b = append(b, "version"...)
	return append(b, 0x01)
}

// cborHead appends a CBOR head of major type major and argument v, in its
// shortest form.
func cborHead(b []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(b, m|byte(v))
	case v <= 0xff:
		return append(b, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), v)
}

func (cw *carWriter) writeHeader(roots []cid.Cid) error {
	h := encodeCARHeader(roots)
	return cw.write(binary.AppendUvarint(nil, uint64(len(h))), h)
}

// sectionSize is the number of bytes writeBlock writes for a block.
func sectionSize(c cid.Cid, n int) int64 {
	l := uint64(c.ByteLen() + n)
	return int64(len(binary.AppendUvarint(nil, l))) + int64(l)
}

func (cw *carWriter) writeBlock(c cid.Cid, data []byte) error {
	cb := c.Bytes()
	return cw.write(binary.AppendUvarint(nil, uint64(len(cb)+len(data))), cb, data)
}

func (cw *carWriter) write(parts ...[]byte) error {
	for _, p := range parts {
		n, err := cw.w.Write(p)
		cw.n += int64(n)
		if err != nil {
			return fmt.Errorf("write CAR: %w", err)
		}
	}
	return nil
}

func (cw *carWriter) flush() error {
	if err := cw.w.Flush(); err != nil {
		return fmt.Errorf("write CAR: %w", err)
	}
	return nil
}

// carReader reads the sections of a CARv1 or CARv2 stream without
// verifying them.
type carReader struct {
	r       *bufio.Reader
	version int
	roots   []cid.Cid
	off     int64 // offset of the next section in the CARv1 payload
}

type carHeader struct {
	Roots   []cbor.RawTag `cbor:"roots"`
	Version uint64        `cbor:"version"`
}

// countingReader lets binary.ReadUvarint count bytes and tells a read
// error from a malformed varint.
type countingReader struct {
	r   *bufio.Reader
	n   int64
	err error
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	c.err = err
	return b, err
}

func newCARReader(r io.Reader) (*carReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := readCARHeader(br)
	if err != nil {
		return nil, err
	}
	if h.Version == 2 {
		var v2 [40]byte
		if _, err := io.ReadFull(br, v2[:]); err != nil {
			return nil, fmt.Errorf("%w: CARv2 header: %v", ErrNotCAR, err)
		}
		dataOff := binary.LittleEndian.Uint64(v2[16:])
		dataSize := binary.LittleEndian.Uint64(v2[24:])
		const consumed = 11 + 40
		if dataOff < consumed || dataOff > 1<<40 || dataSize > 1<<50 {
			return nil, fmt.Errorf("%w: CARv2 data offset %d, size %d", ErrNotCAR, dataOff, dataSize)
		}
		if _, err := io.CopyN(io.Discard, br, int64(dataOff-consumed)); err != nil {
			return nil, fmt.Errorf("%w: CARv2 padding: %v", ErrNotCAR, err)
		}
		br = bufio.NewReaderSize(io.LimitReader(br, int64(dataSize)), 64<<10)
		h, err = readCARHeader(br)
		if err != nil {
			return nil, fmt.Errorf("CARv2 payload: %w", err)
		}
		if h.Version != 1 {
			return nil, fmt.Errorf("%w: CARv2 payload is version %d", ErrNotCAR, h.Version)
		}
		h.Version = 2
	} else if h.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrNotCAR, h.Version)
	}
	cr := &carReader{r: br, version: int(h.Version)}
	for _, t := range h.Roots {
		c, err := linkFromTag(t)
		if err != nil {
			return nil, fmt.Errorf("%w: root: %v", ErrNotCAR, err)
		}
		cr.roots = append(cr.roots, c)
	}
	return cr, nil
}

func readCARHeader(br *bufio.Reader) (*carHeader, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: header length: %v", ErrNotCAR, err)
	}
	if n == 0 || n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrNotCAR, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrNotCAR, err)
	}
	var h carHeader
	if err := carDecMode.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrNotCAR, err)
	}
	return &h, nil
}

var carDecMode = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		MaxArrayElements: 1 << 20,
		MaxNestedLevels:  4,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		// "roots" and "version" exactly, as dag-cbor keys are.
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}()

func linkFromTag(t cbor.RawTag) (cid.Cid, error) {
	if t.Number != 42 {
		return cid.Undef, fmt.Errorf("tag %d, want 42", t.Number)
	}
	var b []byte
	if err := carDecMode.Unmarshal(t.Content, &b); err != nil {
		return cid.Undef, err
	}
	return dagcbor.LinkCID(b)
}

// section is one raw CAR section: a CID and the bytes claimed for it. Err
// is set (and CID may be undefined) when the CID itself cannot be parsed;
// the reader has skipped the section and can go on.
type section struct {
	CID    cid.Cid
	Data   []byte
	Offset int64 // of the section in the CARv1 payload (after the header)
	Err    error
}

// next returns the next section, io.EOF at a clean end, an error wrapping
// ErrTruncated if the stream ends inside a section, one wrapping ErrFraming
// if a length is impossible, or the reader's own error.
func (cr *carReader) next() (section, error) {
	cnt := &countingReader{r: cr.r}
	l, err := binary.ReadUvarint(cnt)
	if err != nil {
		switch {
		case err == io.EOF && cnt.n == 0:
			return section{}, io.EOF
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return section{}, fmt.Errorf("%w: at offset %d", ErrTruncated, cr.off)
		case cnt.err != nil:
			return section{}, fmt.Errorf("read CAR at offset %d: %w", cr.off, err)
		}
		return section{}, fmt.Errorf("%w: at offset %d: %v", ErrFraming, cr.off, err)
	}
	if l == 0 {
		// Some writers pad with zeros; a zero-length section ends the
		// payload (go-car's ZeroLengthSectionAsEOF).
		return section{}, io.EOF
	}
	if l > MaxBlockSize {
		return section{}, fmt.Errorf("%w: at offset %d: section of %d bytes", ErrFraming, cr.off, l)
	}
	buf := make([]byte, l)
	if n, err := io.ReadFull(cr.r, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return section{}, fmt.Errorf("%w: at offset %d: %d of %d bytes", ErrTruncated, cr.off, n, l)
		}
		return section{}, fmt.Errorf("read CAR at offset %d: %w", cr.off, err)
	}
	s := section{Offset: cr.off}
	cr.off += cnt.n + int64(l)
	n, c, err := cid.CidFromBytes(buf)
	if err != nil {
		s.Err = err
		return s, nil
	}
	s.CID = c
	s.Data = buf[n:]
	return s, nil
}
