package blob_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
)

func TestVerifyDue(t *testing.T) {
	ctx := context.Background()
	s := mem.New()
	for _, d := range []string{"a", "b", "c"} {
		if _, err := s.Put(ctx, strings.NewReader(d), blob.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(olderThan time.Time) int {
		n := 0
		if err := blob.VerifyDue(ctx, s, olderThan, func(r blob.FixityReport) error {
			if !r.OK() {
				t.Errorf("%+v", r)
			}
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(time.Now().Add(-time.Hour)); n != 3 {
		t.Fatalf("first run checked %d, want 3 (never checked)", n)
	}
	if n := count(time.Now().Add(-time.Hour)); n != 0 {
		t.Fatalf("second run checked %d, want 0 (all checked just now)", n)
	}
	if n := count(time.Now().Add(time.Hour)); n != 3 {
		t.Fatalf("run with a future cut-off checked %d, want 3", n)
	}
}
