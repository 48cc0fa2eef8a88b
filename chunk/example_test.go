package chunk_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/chunk"
)

func ExampleSum() {
	s, err := chunk.Sum(context.Background(), strings.NewReader("hello world"))
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Root, s.Size, len(s.Leaves))
	// Output: bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e 11 1
}

func ExampleParseSkeleton() {
	// A sender marshals the skeleton of a 3 MiB blob; the receiver checks it
	// against the root CID and learns every leaf before any leaf arrives.
	s, _ := chunk.Sum(context.Background(), strings.NewReader(strings.Repeat("x", 3<<20)))
	b, _ := s.MarshalBinary()
	got, err := chunk.ParseSkeleton(s.Root, b)
	if err != nil {
		panic(err)
	}
	for _, l := range got.Leaves {
		fmt.Println(l.Offset, l.Size)
	}
	// Output:
	// 0 1048576
	// 1048576 1048576
	// 2097152 1048576
}
