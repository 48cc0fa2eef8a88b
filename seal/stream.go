package seal

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// NewSealer returns a reader of the sealed form of the plain blob read from
// r: size bytes whose CID is plainCID. It reads exactly size bytes from r,
// one leaf at a time, and holds one leaf buffer (LeafSealed bytes) whatever
// the size. Its output is byte for byte the concatenation of SealLeaf over
// the blob's leaves, SealedSize(size) bytes.
//
// The caller vouches that r's bytes are the blob plainCID (read from a
// store that verified them): if they are not, the output is still sealed
// safely (the nonces depend on the bytes) but will not open as plainCID's
// bytes. A stream shorter than size fails with io.ErrUnexpectedEOF; an
// error from r is returned as is.
func NewSealer(k Key, plainCID cid.Cid, size int64, r io.Reader) io.Reader {
	s := &sealer{r: r, size: size}
	switch {
	case !plainCID.Defined():
		s.err = errors.New("seal: sealer: undefined CID")
	case size < 0 || size > MaxPlainSize:
		s.err = fmt.Errorf("seal: sealer: a plain blob of %d bytes cannot be sealed (0 to %d)", size, int64(MaxPlainSize))
	default:
		s.keys = newLeafKeys(&k)
		s.cid = plainCID
		s.leaves = Leaves(size)
	}
	return s
}

type sealer struct {
	keys   leafKeys
	cid    cid.Cid
	r      io.Reader
	size   int64
	leaves int
	i      int    // next leaf to seal
	buf    []byte // one sealed leaf, allocated at the first Read
	out    []byte // what is left of the sealed leaf in buf
	ad     []byte
	err    error
}

func (s *sealer) Read(p []byte) (int, error) {
	for len(s.out) == 0 {
		if s.err != nil {
			return 0, s.err
		}
		if s.i == s.leaves {
			s.err = io.EOF
			continue
		}
		s.err = s.next()
	}
	n := copy(p, s.out)
	s.out = s.out[n:]
	return n, nil
}

// next reads and seals leaf s.i into s.buf.
func (s *sealer) next() error {
	if s.buf == nil {
		s.buf = make([]byte, LeafSealed)
	}
	off := int64(s.i) * LeafPlain
	n := int(min(s.size-off, LeafPlain))
	last := s.i == s.leaves-1
	plain := s.buf[NonceSize : NonceSize+n]
	if got, err := io.ReadFull(s.r, plain); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("seal: sealer: the plain stream ends at byte %d of %d: %w", off+int64(got), s.size, io.ErrUnexpectedEOF)
		}
		return err
	}
	s.ad = leafContext(s.ad[:0], s.cid, s.i, last)
	s.out = s.keys.seal(s.buf[:0], plain, s.ad) // in place
	s.i++
	return nil
}

// NewOpener returns a reader of the plain bytes of the sealed blob read
// from r: sealedSize bytes, sealed for the blob plainCID. It reads exactly
// sealedSize bytes from r, one leaf at a time, with one leaf buffer, and
// gives out a leaf's plain bytes only once the leaf has authenticated.
//
// A leaf that does not open fails the read with a *LeafError naming it
// (errors.Is(err, ErrTampered)); a stream shorter than sealedSize fails
// with io.ErrUnexpectedEOF; an impossible sealedSize with ErrMalformed.
// Like any authenticated stream, its output is only the whole blob once
// Read has returned io.EOF: a caller that acts before then must be ready
// to undo.
func NewOpener(k Key, plainCID cid.Cid, sealedSize int64, r io.Reader) io.Reader {
	o := &opener{r: r, size: sealedSize}
	if _, err := PlainSize(sealedSize); err != nil {
		o.err = fmt.Errorf("seal: opener: %w", err)
		return o
	}
	o.keys = newLeafKeys(&k)
	o.cid = plainCID
	o.leaves = int((sealedSize + LeafSealed - 1) / LeafSealed)
	return o
}

type opener struct {
	keys   leafKeys
	cid    cid.Cid
	r      io.Reader
	size   int64
	leaves int
	i      int
	buf    []byte
	out    []byte
	ad     []byte
	err    error
}

func (o *opener) Read(p []byte) (int, error) {
	for len(o.out) == 0 {
		if o.err != nil {
			return 0, o.err
		}
		if o.i == o.leaves {
			o.err = io.EOF
			continue
		}
		o.err = o.next()
	}
	n := copy(p, o.out)
	o.out = o.out[n:]
	return n, nil
}

func (o *opener) next() error {
	if o.buf == nil {
		o.buf = make([]byte, LeafSealed)
	}
	off := int64(o.i) * LeafSealed
	n := int(min(o.size-off, LeafSealed))
	last := o.i == o.leaves-1
	sealed := o.buf[:n]
	if got, err := io.ReadFull(o.r, sealed); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("seal: opener: the sealed stream ends at byte %d of %d, in leaf %d: %w", off+int64(got), o.size, o.i, io.ErrUnexpectedEOF)
		}
		return err
	}
	o.ad = leafContext(o.ad[:0], o.cid, o.i, last)
	plain, err := o.keys.open(sealed[NonceSize:NonceSize], sealed, o.ad) // in place
	if err != nil {
		return &LeafError{Leaf: o.i, Reason: "does not authenticate (modified, moved, from another blob, or another key)"}
	}
	o.out = plain
	o.i++
	return nil
}

// SealedCID returns the CID of the sealed form of the plain blob read from
// r (size bytes, CID plainCID), computed by package chunk over the sealed
// stream: the name under which the archive keeps it and anyone, without
// the key, checks it (with Kubo or, leaf by leaf, sha256sum). It reads r
// once and keeps no more than the sealer's leaf and chunk.Sum's buffers.
func SealedCID(k Key, plainCID cid.Cid, size int64, r io.Reader) (cid.Cid, error) {
	s, err := chunk.Sum(context.Background(), NewSealer(k, plainCID, size, r))
	if err != nil {
		return cid.Undef, err
	}
	return s.Root, nil
}
