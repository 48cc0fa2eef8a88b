package chunk

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// Split reads r to its end, cuts it into leaves and returns the blob's
// skeleton. If fn is not nil it is called for every leaf, in order, from one
// goroutine, with the leaf's bytes; the slice is reused after fn returns. An
// error from fn or from r stops the split and is returned.
//
// Leaves are hashed in parallel while r is read ahead, so memory is bounded
// by a few chunks (Depth of them) whatever the size of the stream:
//
//	reader ──buf──▶ hash workers (parallel) ──in order──▶ fn ──buf──▶ reader
func Split(ctx context.Context, r io.Reader, fn func(Leaf, []byte) error) (*Skeleton, error) {
	// Most blobs (thumbnails, previews, records' attachments) fit in one
	// leaf: read the first chunk and, if the stream ends there, hash it
	// here without the pipeline.
	first := bufPool.Get().(*[]byte)
	n, err := io.ReadFull(r, *first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		defer bufPool.Put(first)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data := (*first)[:n]
		l := Leaf{CID: RawCID(data), Size: n}
		if fn != nil {
			if err := fn(l, data); err != nil {
				return nil, err
			}
		}
		if n == 0 {
			return Build(nil)
		}
		return Build([]Leaf{l})
	case err != nil:
		bufPool.Put(first)
		return nil, err
	}
	// The pipeline notices a cancellation only where it waits; check
	// here so that a canceled context always fails the split.
	if err := ctx.Err(); err != nil {
		bufPool.Put(first)
		return nil, err
	}
	return split(ctx, r, first, fn)
}

// bufPool holds chunk buffers, so that many small Splits do not allocate
// and zero a megabyte each.
var bufPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// split is the pipeline for streams of more than one chunk. first is a
// pooled buffer already holding the stream's first chunk, read from r by
// Split; it is the first of the pipeline's buffers and goes back to the
// pool with the others when the split ends.
func split(ctx context.Context, r io.Reader, first *[]byte, fn func(Leaf, []byte) error) (*Skeleton, error) {
	depth := Depth()
	type slot struct {
		buf  []byte
		n    int
		leaf Leaf
		done chan struct{}
	}
	free := make(chan *slot, depth)
	bufs := make([]*[]byte, depth)
	bufs[0] = first
	for i := 1; i < depth; i++ {
		bufs[i] = bufPool.Get().(*[]byte)
		free <- &slot{buf: *bufs[i]}
	}
	// hashing counts the hash goroutines still reading a buffer: the reader
	// may stop (cancelled) holding a slot whose leaf is being hashed, and
	// no buffer may go back to the pool, for another Split to fill, while
	// one reads it.
	var hashing sync.WaitGroup
	defer func() {
		hashing.Wait()
		for _, b := range bufs {
			bufPool.Put(b)
		}
	}()
	ordered := make(chan *slot, depth)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ordered)
		var off int64
		next := &slot{buf: *first} // filled by Split
		for {
			s, n := next, ChunkSize
			if s != nil {
				next = nil
			} else {
				select {
				case s = <-free:
				case <-ctx.Done():
					readErr = ctx.Err()
					return
				}
				var err error
				n, err = io.ReadFull(r, s.buf)
				if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
					readErr = err
					return
				}
				if n == 0 {
					return
				}
			}
			s.n = n
			s.leaf = Leaf{Offset: off, Size: n}
			off += int64(n)
			if off > MaxSize {
				free <- s
				readErr = fmt.Errorf("read: stream longer than %d bytes, the largest blob fieldsync handles", int64(MaxSize))
				return
			}
			s.done = make(chan struct{})
			hashing.Add(1)
			go func(s *slot) {
				defer hashing.Done()
				s.leaf.CID = RawCID(s.buf[:s.n])
				close(s.done)
			}(s)
			select {
			case ordered <- s:
			case <-ctx.Done():
				readErr = ctx.Err()
				return
			}
			if n < ChunkSize {
				return
			}
		}
	}()

	var leaves []Leaf
	var fnErr error
	for s := range ordered {
		<-s.done
		if fnErr == nil {
			if fn != nil {
				fnErr = fn(s.leaf, s.buf[:s.n])
			}
			if fnErr != nil {
				cancel()
			}
			leaves = append(leaves, s.leaf)
		}
		free <- s
	}
	wg.Wait()
	if fnErr != nil {
		return nil, fnErr
	}
	if readErr != nil {
		return nil, readErr
	}
	return Build(leaves)
}

// Depth is how many chunk buffers Split keeps in flight: one per core
// hashing, plus one being read and one with fn.
func Depth() int { return min(runtime.GOMAXPROCS(0), 8) + 2 }

// Sum returns the skeleton of r's bytes without keeping them.
func Sum(ctx context.Context, r io.Reader) (*Skeleton, error) {
	return Split(ctx, r, nil)
}
