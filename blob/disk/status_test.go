package disk_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/disk"
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
	// The last, short leaf first: 10 bytes, durable when WriteLeaf
	// returns.
	if err := part.WriteLeaf(ctx, 2, data[2*chunk.ChunkSize:]); err != nil {
		t.Fatal(err)
	}
	if done, _, _ := s.PartialStatus(ctx, sk.Root); done != 10 {
		t.Errorf("one leaf, durable at once: %d", done)
	}
	// A leaf written with WriteLeafSoon is had at once and durable, and
	// counted here, within partSyncAfter (100 ms).
	durable := func(want int64) {
		t.Helper()
		start := time.Now()
		for {
			done, size, err := s.PartialStatus(ctx, sk.Root)
			if err == nil && done == want && size == int64(len(data)) {
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("durable after %s", d)
				}
				return
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("PartialStatus = %d, %d, %v; want %d, %d", done, size, err, want, len(data))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := part.(blob.SoonWriter).WriteLeafSoon(ctx, 0, data[:chunk.ChunkSize]); err != nil {
		t.Fatal(err)
	}
	if !part.Have(0) {
		t.Error("a leaf written with WriteLeafSoon is not had")
	}
	durable(chunk.ChunkSize + 10)
	// With partSyncAfter 0, WriteLeafSoon too is durable when it returns.
	disk.SetPartSyncAfter(s, 0)
	if err := part.(blob.SoonWriter).WriteLeafSoon(ctx, 1, data[chunk.ChunkSize:2*chunk.ChunkSize]); err != nil {
		t.Fatal(err)
	}
	if done, _, _ := s.PartialStatus(ctx, sk.Root); done != int64(len(data)) {
		t.Errorf("three leaves, durable at once: %d", done)
	}
}
