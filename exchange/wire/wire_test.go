package wire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   interface{ Marshal([]byte) []byte }
		out  interface{ Unmarshal([]byte) error }
	}{
		{"records request", &RecordsRequest{Vector: []VectorEntry{{Author: []byte("a"), Seq: 3}, {Author: []byte("bb"), Seq: 1 << 40}}, Limit: 100}, &RecordsRequest{}},
		{"records batch", &RecordsBatch{Blocks: [][]byte{[]byte("x"), []byte("yy")}, More: true, Code: Busy}, &RecordsBatch{}},
		{"blob want", &BlobRequest{Type: ReqWant, ID: 7, CID: []byte{1, 2}, Kind: KindLeaf, Leaf: 3, Offset: 65536, Class: 2, Observed: -5}, &BlobRequest{}},
		{"blob hello", &BlobRequest{Type: ReqHello, Filter: 0b111}, &BlobRequest{}},
		{"blob corrupt", &BlobRequest{Type: ReqCorrupt, CID: []byte{1, 2}, Kind: KindLeaf, Leaf: 3}, &BlobRequest{}},
		{"blob data", &BlobResponse{Type: RespData, ID: 9, Offset: 4, Data: []byte("data"), Last: true, Total: 8}, &BlobResponse{}},
		{"blob announce", &BlobResponse{Type: RespAnnounce, CIDs: [][]byte{{1}, {2, 3}}}, &BlobResponse{}},
		{"blob dont have", &BlobResponse{Type: RespDontHave, ID: 1, Code: NotFound}, &BlobResponse{}},
		{"invite", &InviteMessage{Payload: []byte("hi"), Code: Denied}, &InviteMessage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.in.Marshal(nil)
			if err := tt.out.Unmarshal(b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.in, tt.out) {
				t.Fatalf("got %+v, want %+v", tt.out, tt.in)
			}
		})
	}
}

func TestFrameCap(t *testing.T) {
	var b []byte
	b = AppendFrame(b, make([]byte, 100))
	b = AppendFrame(b, make([]byte, 10))
	r := bufio.NewReader(bytes.NewReader(b))
	if _, err := ReadFrame(r, 50, nil); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	r = bufio.NewReader(bytes.NewReader(b[:50]))
	if _, err := ReadFrame(r, 1000, nil); err == nil {
		t.Fatal("truncated frame accepted")
	}
}

func TestCodes(t *testing.T) {
	for c := OK; c <= Blocked; c++ {
		if got := CodeOf(c.Err()); got != c {
			t.Errorf("CodeOf(%v.Err()) = %v", c, got)
		}
	}
	if CodeOf(fmt.Errorf("x: %w", ErrDenied)) != Denied {
		t.Error("wrapped error not mapped")
	}
	if CodeOf(fmt.Errorf("fetch blob: %w", fs.ErrNotExist)) != NotFound {
		t.Error("a blob not stored here is not NotFound")
	}
	if CodeOf(errors.New("secret detail")) != Internal {
		t.Error("unknown error not Internal")
	}
}

// Each fuzz test checks that a decoder never panics and that what it
// accepts re-encodes to something it decodes to the same value.
func fuzzMsg[T any, P interface {
	*T
	Marshal([]byte) []byte
	Unmarshal([]byte) error
}](f *testing.F, seeds ...P) {
	for _, s := range seeds {
		f.Add(s.Marshal(nil))
	}
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m T
		if err := P(&m).Unmarshal(b); err != nil {
			return
		}
		var m2 T
		if err := P(&m2).Unmarshal(P(&m).Marshal(nil)); err != nil {
			t.Fatalf("re-encoded message rejected: %v", err)
		}
		if !reflect.DeepEqual(normalize(m), normalize(m2)) {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
	})
}

// normalize maps empty byte slices to nil so that DeepEqual compares values.
func normalize(v any) string { return fmt.Sprintf("%v", v) }

func FuzzRecordsRequest(f *testing.F) {
	fuzzMsg[RecordsRequest](f, &RecordsRequest{Vector: []VectorEntry{{Author: []byte("a"), Seq: 3}}, Limit: 10})
}

func FuzzRecordsBatch(f *testing.F) {
	fuzzMsg[RecordsBatch](f, &RecordsBatch{Blocks: [][]byte{[]byte("x")}, More: true})
}

func FuzzBlobRequest(f *testing.F) {
	fuzzMsg[BlobRequest](f, &BlobRequest{Type: ReqWant, ID: 7, CID: []byte{1, 2}, Kind: KindLeaf, Leaf: 3, Offset: 9, Class: 2, Observed: 1e12}, &BlobRequest{Type: ReqCorrupt, CID: []byte{1, 2}, Kind: KindSkeleton},
		&BlobRequest{Type: ReqHave, ID: 4, CIDs: [][]byte{{1, 2}, {3}}})
}

func FuzzBlobResponse(f *testing.F) {
	fuzzMsg[BlobResponse](f, &BlobResponse{Type: RespData, ID: 9, Data: []byte("data"), Last: true, Total: 8},
		&BlobResponse{Type: RespAnnounce, CIDs: [][]byte{{1}}}, &BlobResponse{Type: RespHave, ID: 4, CIDs: [][]byte{{1}}})
}

func FuzzInviteMessage(f *testing.F) {
	fuzzMsg[InviteMessage](f, &InviteMessage{Payload: []byte("hi")})
}

func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, []byte("abc")))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		for {
			m, err := ReadFrame(r, 1024, nil)
			if err != nil {
				return
			}
			if len(m) > 1024 {
				t.Fatalf("frame of %d bytes over the cap", len(m))
			}
		}
	})
}

func TestAppendResponseHead(t *testing.T) {
	for _, m := range []*BlobResponse{
		{Type: RespData, ID: 3, Offset: 131072, Data: bytes.Repeat([]byte{7}, 200), Last: true, Total: 1 << 20},
		{Type: RespData, ID: 1, Data: []byte{}},
		{Type: RespAnnounce, CIDs: [][]byte{{1}}},
	} {
		got := append(AppendResponseHead(nil, m), m.Data...)
		r := bufio.NewReader(bytes.NewReader(got))
		msg, err := ReadFrame(r, MaxBlobResponse, nil)
		if err != nil {
			t.Fatal(err)
		}
		var back BlobResponse
		if err := back.Unmarshal(msg); err != nil {
			t.Fatal(err)
		}
		if normalize(back) != normalize(*m) {
			t.Errorf("got %+v, want %+v", back, *m)
		}
	}
}
