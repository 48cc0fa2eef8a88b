// Package deps pins the module versions the project builds on while its
// packages are being written. It is removed once every dependency is imported
// by real code.
package deps

import (
	_ "github.com/Shopify/toxiproxy/v2"
	_ "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/disintegration/imaging"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/ipfs/go-block-format"
	_ "github.com/ipfs/go-cid"
	_ "github.com/ipld/go-car/v2"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p/core/host"
	_ "github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	_ "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	_ "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	_ "github.com/libp2p/go-libp2p/p2p/security/noise"
	_ "github.com/libp2p/go-libp2p/p2p/security/tls"
	_ "github.com/libp2p/go-libp2p/p2p/transport/quic"
	_ "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	_ "github.com/multiformats/go-multiaddr"
	_ "github.com/multiformats/go-multihash"
	_ "github.com/multiformats/go-varint"
	_ "github.com/rwcarlsen/goexif/exif"
	_ "github.com/skip2/go-qrcode"
	_ "golang.org/x/image/webp"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sync/semaphore"
	_ "google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite"
)
