package exchange_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/fieldsync/fieldsync/blob/mem"
	"github.com/fieldsync/fieldsync/exchange"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// members says every device is a member.
type members struct{}

func (members) Role(peer.ID) exchange.Role { return exchange.RoleMember }

// noRecords is a project without records.
type noRecords struct{}

func (noRecords) Vector(context.Context) (map[peer.ID]uint64, error) { return nil, nil }
func (noRecords) Missing(context.Context, map[peer.ID]uint64, int) ([][]byte, error) {
	return nil, nil
}
func (noRecords) Apply(context.Context, peer.ID, [][]byte) (int, error) { return 0, nil }

type wants []exchange.Want

func (w wants) Wanted(context.Context) ([]exchange.Want, error) { return w, nil }

func Example() {
	ctx := context.Background()
	// The field device has a thumbnail; the archive wants it.
	field := mem.New()
	info, _ := field.Put(ctx, bytes.NewReader([]byte("a tiny thumbnail")), blob.Meta{})
	want := wants{{CID: info.CID, Class: blob.ClassThumbnail, Size: info.Size, ObservedAt: time.Now()}}

	start := func(store blob.Store, w exchange.Wants) *exchange.Node {
		key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
		n, err := exchange.New(exchange.Config{
			Key: key, ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, ProjectID: "example",
			Store: store, Access: members{}, Records: noRecords{}, Wants: w,
		})
		if err != nil {
			panic(err)
		}
		n.Start(ctx)
		return n
	}
	a := start(field, wants{})
	defer a.Close()
	archive := mem.New()
	b := start(archive, want)
	defer b.Close()

	b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Host().Addrs()})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Sync(ctx); err != nil {
		panic(err)
	}
	p := b.Progress()
	_, err := archive.Stat(ctx, info.CID)
	fmt.Println("complete:", p.Complete, "thumbnails:", p.Classes[blob.ClassThumbnail].FilesDone, "stored:", err == nil)
	// Output: complete: true thumbnails: 1 stored: true
}
