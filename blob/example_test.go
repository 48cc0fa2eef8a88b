package blob_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/chunk"
)

func Example() {
	ctx := context.Background()
	s := mem.New()
	in, err := s.Put(ctx, strings.NewReader("hello world"), blob.Meta{MediaType: "text/plain"})
	if err != nil {
		panic(err)
	}
	fmt.Println(in.CID, in.Size)
	b, _ := blob.ReadRange(ctx, s, in.CID, 6, 5)
	fmt.Printf("%s\n", b)
	// Output:
	// bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e 11
	// world
}

// A receiver gets the skeleton first, then leaves in any order; every leaf
// is verified before it counts, and the blob is visible only once whole.
func ExamplePartialReceiver() {
	ctx := context.Background()
	sender, receiver := mem.New(), mem.New()
	data := strings.Repeat("field notes ", 200000) // 2.4 MB: 3 leaves
	in, _ := sender.Put(ctx, strings.NewReader(data), blob.Meta{})
	sk, _ := sender.Skeleton(ctx, in.CID)

	p, err := receiver.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	fmt.Println("missing", p.Missing())
	if err := p.WriteLeaf(ctx, 1, []byte("not the leaf")); err != nil {
		fmt.Println("refused:", errors.Is(err, chunk.ErrMismatch))
	}
	for _, i := range []int{2, 0, 1} {
		l := sk.Leaves[i]
		b, _ := blob.ReadRange(ctx, sender, in.CID, l.Offset, l.Size)
		if err := p.WriteLeaf(ctx, i, b); err != nil {
			panic(err)
		}
	}
	got, err := p.Commit(ctx)
	fmt.Println(got.CID == in.CID, err)
	// Output:
	// missing [0 1 2]
	// refused: true
	// true <nil>
}
