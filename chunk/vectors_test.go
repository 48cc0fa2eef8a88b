package chunk

import (
	"bufio"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// seedReader generates the test-vector content: sha256("<seed>:<i>") for
// i = 0, 1, ... concatenated and cut to size.
type seedReader struct {
	seed string
	i    int
	buf  []byte
	left int64
}

func newSeedReader(seed string, size int64) *seedReader {
	return &seedReader{seed: seed, left: size}
}

func (s *seedReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && s.left > 0 {
		if len(s.buf) == 0 {
			sum := sha256.Sum256([]byte(s.seed + ":" + strconv.Itoa(s.i)))
			s.i++
			s.buf = sum[:]
		}
		k := copy(p[n:], s.buf)
		if int64(k) > s.left {
			k = int(s.left)
		}
		s.buf = s.buf[k:]
		n += k
		s.left -= int64(k)
	}
	return n, nil
}

type vector struct {
	seed string
	size int64
	cid  string
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	path := filepath.Join("..", "testdata", "vectors", "unixfs-v1-2025.tsv")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open vectors: %v", err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Split(line, "\t")
		if len(fs) != 3 {
			t.Fatalf("bad vector line %q", line)
		}
		size, err := strconv.ParseInt(fs[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, vector{fs[0], size, fs[2]})
	}
	return vs
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(strconv.FormatInt(v.size, 10), func(t *testing.T) {
			if v.size > 64<<20 && testing.Short() {
				t.Skip("long vector: run without -short")
			}
			s, err := Sum(context.Background(), bufio.NewReaderSize(newSeedReader(v.seed, v.size), 1<<16))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Root.String(); got != v.cid {
				t.Fatalf("size %d: got %s, want %s", v.size, got, v.cid)
			}
			if s.Size != v.size {
				t.Fatalf("size %d, want %d", s.Size, v.size)
			}
			// The skeleton round-trips and verifies against its root.
			b, _ := s.MarshalBinary()
			p, err := ParseSkeleton(s.Root, b)
			if err != nil {
				t.Fatalf("parse own skeleton: %v", err)
			}
			if len(p.Leaves) != len(s.Leaves) || p.Size != s.Size {
				t.Fatalf("parsed %d leaves / %d bytes, want %d / %d", len(p.Leaves), p.Size, len(s.Leaves), s.Size)
			}
			for i := range p.Leaves {
				if p.Leaves[i] != s.Leaves[i] {
					t.Fatalf("leaf %d: %+v != %+v", i, p.Leaves[i], s.Leaves[i])
				}
			}
		})
	}
}

func TestHelloWorld(t *testing.T) {
	s, err := Sum(context.Background(), strings.NewReader("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Root.String(), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
