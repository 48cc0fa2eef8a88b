package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/fieldsync/fieldsync/chunk"
	"github.com/ipfs/go-cid"
)

// More errors callers branch on.
var (
	// ErrNotRegular means a path given as a file is a directory, a device,
	// a pipe or anything else that is not a regular file.
	ErrNotRegular = errors.New("blob: not a regular file")
	// ErrSourceChanged means a source file changed size while it was read.
	ErrSourceChanged = errors.New("blob: source changed while reading")
)

// ReadRangeInto fills p with the bytes of blob c from offset off, using f's
// RangeReaderInto if it has one and otherwise ReadRange. Errors are those of
// ReadRange.
func ReadRangeInto(ctx context.Context, f Fetcher, c cid.Cid, off int64, p []byte) error {
	if off < 0 {
		return fmt.Errorf("read range %s [%d,+%d): negative offset", c, off, len(p))
	}
	if rr, ok := f.(RangeReaderInto); ok {
		return rr.ReadRangeInto(ctx, c, off, p)
	}
	b, err := ReadRange(ctx, f, c, off, len(p))
	if err != nil {
		return err
	}
	copy(p, b)
	return nil
}

// ReadRange returns n bytes of blob c from offset off, using f's RangeReader
// if it has one and otherwise reading through Fetch. A missing blob gives an
// error wrapping fs.ErrNotExist; a range past the end of the blob is an error
// wrapping io.ErrUnexpectedEOF.
func ReadRange(ctx context.Context, f Fetcher, c cid.Cid, off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("read range %s [%d,+%d): negative offset or length", c, off, n)
	}
	if rr, ok := f.(RangeReader); ok {
		return rr.ReadRange(ctx, c, off, n)
	}
	rc, err := f.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if s, ok := rc.(io.Seeker); ok {
		if _, err := s.Seek(off, io.SeekStart); err != nil {
			return nil, fmt.Errorf("read range %s: %w", c, err)
		}
	} else if _, err := io.CopyN(io.Discard, rc, off); err != nil {
		return nil, fmt.Errorf("read range %s [%d,+%d): %w", c, off, n, eofToUnexpected(err))
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("read range %s [%d,+%d): %w", c, off, n, eofToUnexpected(err))
	}
	return buf, nil
}

func eofToUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadAll returns the whole blob c.
func ReadAll(ctx context.Context, f Fetcher, c cid.Cid) ([]byte, error) {
	rc, err := f.Fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", c, err)
	}
	return b, nil
}

// Has reports whether the complete blob c is stored.
func Has(ctx context.Context, s Statter, c cid.Cid) (bool, error) {
	_, err := s.Stat(ctx, c)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// PutFile stores the regular file at path through r. Directories, devices,
// pipes and sockets are refused with ErrNotRegular (before anything is read),
// a missing file with an error wrapping fs.ErrNotExist, and a file whose size
// changes while it is read (truncated, appended to or vanished under us)
// with ErrSourceChanged; in every error case nothing is stored.
func PutFile(ctx context.Context, r Receiver, path string, meta Meta) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("put file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("put file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("put file %s (%s): %w", path, st.Mode().Type(), ErrNotRegular)
	}
	info, err := r.Put(ctx, &exactReader{r: f, left: st.Size(), path: path}, meta)
	if err != nil {
		return Info{}, fmt.Errorf("put file %s: %w", path, err)
	}
	return info, nil
}

// exactReader reads exactly left bytes and fails if the source has fewer or
// more, so a file that changes size under the reader never becomes a blob.
type exactReader struct {
	r    io.Reader
	left int64
	path string
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		var one [1]byte
		n, err := e.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%s grew: %w", e.path, ErrSourceChanged)
		}
		if err == nil || err == io.EOF {
			return 0, io.EOF
		}
		return 0, err
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		return n, fmt.Errorf("%s shrank: %w", e.path, ErrSourceChanged)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// VerifySkeleton checks sk again, whole: its nodes must hash to the tree
// under sk.Root in the profile's exact layout (chunk.ParseSkeleton) and its
// leaves must be the ones those nodes list. Stores call it in Begin, so a
// skeleton built or altered by hand is refused like one from a peer. Errors
// wrap chunk.ErrMalformed or chunk.ErrMismatch.
func VerifySkeleton(sk *chunk.Skeleton) error {
	if sk == nil {
		return fmt.Errorf("verify skeleton: %w: nil", chunk.ErrMalformed)
	}
	b, err := sk.MarshalBinary()
	if err != nil {
		return fmt.Errorf("verify skeleton of %s: %w", sk.Root, err)
	}
	p, err := chunk.ParseSkeleton(sk.Root, b)
	if err != nil {
		return fmt.Errorf("verify skeleton of %s: %w", sk.Root, err)
	}
	if len(p.Leaves) != len(sk.Leaves) {
		return fmt.Errorf("verify skeleton of %s: %w: %d leaves, its nodes list %d", sk.Root, chunk.ErrMalformed, len(sk.Leaves), len(p.Leaves))
	}
	for i := range p.Leaves {
		if p.Leaves[i] != sk.Leaves[i] {
			return fmt.Errorf("verify skeleton of %s: %w: leaf %d is not the one its nodes list", sk.Root, chunk.ErrMalformed, i)
		}
	}
	return nil
}

// VerifiedPutter is the optional capability of a Receiver (a batch, most
// usefully) to store a one-leaf blob whose bytes the caller has just
// verified against its raw CID (chunk.VerifyBlock), without hashing them
// again: a receiver of many small blobs from peers then hashes each once.
// PutVerified must not be given bytes that were not verified.
type VerifiedPutter interface {
	PutVerified(ctx context.Context, c cid.Cid, data []byte, meta Meta) (Info, error)
}

// PutVerified stores data, which the caller has verified hashes to the raw
// CID c, through r: with r's PutVerified if it has one, else with Put,
// which hashes it again, and a check that Put found the same CID.
func PutVerified(ctx context.Context, r Receiver, c cid.Cid, data []byte, meta Meta) (Info, error) {
	if c.Prefix().Codec != cid.Raw || len(data) > chunk.ChunkSize {
		return Info{}, fmt.Errorf("put verified blob %s: not a one-leaf raw blob", c)
	}
	if vp, ok := r.(VerifiedPutter); ok {
		return vp.PutVerified(ctx, c, data, meta)
	}
	info, err := r.Put(ctx, bytes.NewReader(data), meta)
	if err == nil && info.CID != c {
		err = fmt.Errorf("put verified blob %s: stored as %s", c, info.CID)
	}
	return info, err
}
