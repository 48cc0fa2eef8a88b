package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/libp2p/go-libp2p/core/peer"
)

// smallWorld is a project of two records and three tiny blobs, for fuzz
// seeds.
func smallWorld(t testing.TB) *world {
	w := &world{t: t, creator: key(t), member: key(t), outsider: key(t), store: mem.New(), seq: map[peer.ID]uint64{}}
	g := signRecord(t, w.creator, &fakeRecord{Seq: 1, Name: "tiny"})
	w.proj = newFakeProject(g.CID)
	w.apply(g)
	w.seq[pid(w.creator)] = 1
	a := w.put([]byte("a thumbnail"), "image/jpeg")
	b := w.put([]byte("an original"), "image/jpeg")
	e := w.put(nil, "text/plain")
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	w.add(w.creator, &fakeRecord{Name: "o", Blobs: []fakeRef{
		{CID: a.CID.String(), Time: at, Class: int(blob.ClassThumbnail)},
		{CID: b.CID.String(), Time: at, Class: int(blob.ClassOriginal)},
		{CID: e.CID.String(), Time: at, Class: int(blob.ClassAttachment)},
	}})
	return w
}

func FuzzImport(f *testing.F) {
	w := smallWorld(f)
	ctx := context.Background()
	var exp bytes.Buffer
	if _, err := Export(ctx, &exp, w.proj, w.store, ExportOptions{Key: w.creator}); err != nil {
		f.Fatal(err)
	}
	m := &memParts{}
	if _, err := ExportAll(ctx, m.create, w.proj, w.store, ExportOptions{Key: w.creator}); err != nil {
		f.Fatal(err)
	}
	var v2 bytes.Buffer
	if err := carv2.WrapV1(bytes.NewReader(exp.Bytes()), &v2); err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{exp.Bytes(), m.parts[0].Bytes(), v2.Bytes(), exp.Bytes()[:exp.Len()/2], {0x0a, 0xa1}, encodeCARHeader(nil)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, in []byte, bundle bool) {
		dst := newFakeProject(w.proj.id)
		store := mem.New()
		rep, err := Import(ctx, bytes.NewReader(in), dst, store, ImportOptions{Bundle: bundle, TempDir: t.TempDir()})
		if err != nil {
			if rep != nil && rep.Blocks > 1 && !errors.Is(err, ErrNotMember) {
				t.Fatalf("error after %d blocks: %v", rep.Blocks, err)
			}
			return
		}
		// Whatever was stored is exactly what the project holds.
		store.Enumerate(ctx, func(in blob.Info) error {
			want, err := blob.ReadAll(ctx, w.store, in.CID)
			if err != nil {
				t.Fatalf("stored a blob the project does not have: %s", in.CID)
			}
			got, _ := blob.ReadAll(ctx, store, in.CID)
			if !bytes.Equal(got, want) {
				t.Fatalf("blob %s differs", in.CID)
			}
			return nil
		})
		for _, r := range rep.Blobs {
			if r.Status == BlobNew {
				if ok, _ := blob.Has(ctx, store, r.CID); !ok {
					t.Fatalf("blob %s reported new, not stored", r.CID)
				}
			}
		}
	})
}

func FuzzParseState(f *testing.F) {
	w := smallWorld(f)
	st, err := StateOf(context.Background(), w.proj, pid(w.member), w.store, FieldSet)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := st.MarshalBinary()
	f.Add(b)
	st.Sign(w.member)
	b, _ = st.MarshalBinary()
	f.Add(b)
	empty, _ := NewState(w.proj.id, "", nil, 0).MarshalBinary()
	f.Add(empty)
	f.Add([]byte("fsst"))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, err := ParseState(in)
		if err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error not wrapping ErrBadState: %v", err)
			}
			return
		}
		out, err := st.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, in) {
			t.Fatalf("not canonical:\n in  %x\n out %x", in, out)
		}
		for _, c := range st.Blobs() {
			if c.Prefix().Codec != cid.Raw && c.Prefix().Codec != cid.DagProtobuf {
				t.Fatalf("blob %s", c)
			}
		}
	})
}

// TestFlipEveryByte flips each byte of a small CAR in turn: every change is
// noticed (an error, a refused block, broken framing or a cut), and nothing
// that is stored differs from the project's own blobs.
func TestFlipEveryByte(t *testing.T) {
	w := smallWorld(t)
	ctx := context.Background()
	var exp bytes.Buffer
	if _, err := Export(ctx, &exp, w.proj, w.store, ExportOptions{Key: w.creator}); err != nil {
		t.Fatal(err)
	}
	b := exp.Bytes()
	// Roots after the first (the manifest) only tell an IPFS node what to
	// pin; the import trusts nothing in them, so changing them changes
	// nothing.
	hlen, n := binary.Uvarint(b)
	firstRootEnd, headerEnd := n+1+6+1+2+2+36, n+int(hlen)
	for i := range b {
		if i >= firstRootEnd && i < headerEnd-9 {
			continue
		}
		bad := bytes.Clone(b)
		bad[i] ^= 0x20
		dst := newFakeProject(w.proj.id)
		store := mem.New()
		rep, err := Import(ctx, bytes.NewReader(bad), dst, store, ImportOptions{})
		if err == nil && len(rep.Refused) == 0 && rep.Broken == nil && !rep.Truncated {
			t.Fatalf("byte %d flipped: not noticed", i)
		}
		if err != nil && !errors.Is(err, ErrNotCAR) && !errors.Is(err, ErrOtherProject) && !errors.Is(err, ErrNotMember) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		store.Enumerate(ctx, func(in blob.Info) error {
			want, err := blob.ReadAll(ctx, w.store, in.CID)
			got, _ := blob.ReadAll(ctx, store, in.CID)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("byte %d flipped: stored %s", i, in.CID)
			}
			return nil
		})
	}
}
