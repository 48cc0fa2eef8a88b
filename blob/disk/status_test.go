package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/chunk"
)

func TestPartialStatus(t *testing.T) {
	s, _, _ := newStore(t)
	data := make([]byte, 2*chunk.ChunkSize+10)
	for i := range data {
		data[i] = byte(i * 31)
	}
	sk, err := chunk.Sum(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.PartialStatus(ctx, sk.Root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("not begun: %v", err)
	}
	part, err := s.Begin(ctx, sk, blob.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	// The last, short leaf first: 10 bytes.
	if err := part.WriteLeaf(ctx, 2, data[2*chunk.ChunkSize:]); err != nil {
		t.Fatal(err)
	}
	done, size, err := s.PartialStatus(ctx, sk.Root)
	if err != nil || done != 10 || size != int64(len(data)) {
		t.Errorf("PartialStatus = %d, %d, %v; want 10, %d", done, size, err, len(data))
	}
	if err := part.WriteLeaf(ctx, 0, data[:chunk.ChunkSize]); err != nil {
		t.Fatal(err)
	}
	if done, _, _ := s.PartialStatus(ctx, sk.Root); done != chunk.ChunkSize+10 {
		t.Errorf("two leaves: %d", done)
	}
}
