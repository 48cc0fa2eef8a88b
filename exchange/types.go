package exchange

import (
	"context"
	"log/slog"
	"time"

	"github.com/fieldsync/fieldsync/blob"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Role is what a remote device may do in the project, as Access reports it.
type Role int

// Roles, weakest first. Only Member and above get project data.
const (
	RoleNone        Role = iota // not a member: invite protocol only, while an invite is open
	RoleBlocked                 // disconnected on sight
	RoleMember                  // records and blobs
	RoleCoordinator             // a member who may also invite and block (project/ decides)
	RoleCreator                 // the project's creator
)

// IsMember reports whether r may receive project data.
func (r Role) IsMember() bool { return r >= RoleMember }

func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleBlocked:
		return "blocked"
	case RoleMember:
		return "member"
	case RoleCoordinator:
		return "coordinator"
	case RoleCreator:
		return "creator"
	case RoleArchive:
		return "archive"
	}
	return "role?"
}

// Filter is a set of classes a device wants, declared to its peers.
type Filter uint32

// Common filters.
const (
	FilterArchive Filter = 1<<blob.ClassThumbnail | 1<<blob.ClassPreview | 1<<blob.ClassOriginal | 1<<blob.ClassAttachment
	FilterField   Filter = 1<<blob.ClassThumbnail | 1<<blob.ClassPreview
)

// FilterOf returns the filter holding cs.
func FilterOf(cs ...blob.Class) Filter {
	var f Filter
	for _, c := range cs {
		f |= 1 << c
	}
	return f
}

// Has reports whether c is in f.
func (f Filter) Has(c blob.Class) bool { return f&(1<<c) != 0 }

// Want is one blob this device wants, as project/ derives it from its
// records and this device's filter.
type Want struct {
	CID        cid.Cid
	Class      blob.Class
	Size       int64     // bytes, from the record (0 if unknown)
	ObservedAt time.Time // the observation's time; newer is fetched first
	// AltOf, if defined, names another wanted blob of which this one is
	// an alternative: either is enough (a blind archive's sealed copy of
	// a plain blob, which this device opens itself). The pair is fetched
	// once and counted once, as AltOf (alt.go): AltOf from the peers that
	// may have it, this one only from peers that lack AltOf; whichever
	// of the two is begun first is kept to, and once one is here the
	// other is no longer fetched.
	AltOf cid.Cid
}

// Access reports a remote device's role in the project. It is called on
// every stream and every connection, so it must be cheap and safe for
// concurrent use.
type Access interface {
	Role(p peer.ID) Role
}

// Records is the project's record log as the exchange sees it: opaque,
// signed dag-cbor blocks grouped by author, summarised by a version vector
// (author → highest sequence number held). Implementations must be safe for
// concurrent use.
type Records interface {
	// Vector returns this device's version vector.
	Vector(ctx context.Context) (map[peer.ID]uint64, error)
	// Missing returns up to limit blocks that a device with vector theirs
	// lacks, each author's log in sequence order, so that applying them in
	// the order given never leaves a gap.
	Missing(ctx context.Context, theirs map[peer.ID]uint64, limit int) ([][]byte, error)
	// Apply verifies (signatures, membership, sequence) and stores blocks
	// received from peer from, returning how many were new. Blocks already
	// held are skipped. A block that fails a check should be skipped (and
	// logged or quarantined by the implementation), not returned as an
	// error: an error means the batch could not be applied at all, stops
	// the pull from that peer, and keeps Sync from completing.
	Apply(ctx context.Context, from peer.ID, blocks [][]byte) (applied int, err error)
}

// Evidencer is the optional capability of Records to give a blocked peer
// the signed records that block it (so that it learns why, and by whom,
// from records it verifies itself), and to take those a peer gives this
// device.
type Evidencer interface {
	Evidence(ctx context.Context, p peer.ID) ([][]byte, error)
	AcceptEvidence(ctx context.Context, from peer.ID, blocks [][]byte) error
}

// Wants lists what this device wants under its filter.
type Wants interface {
	// Wanted returns every blob this device wants, present or not. The
	// exchange re-reads it when records are applied and when Node.Notify
	// is called.
	Wanted(ctx context.Context) ([]Want, error)
}

// WantsSince is a Wants that can list only what may be new: the exchange
// then reads just that while records stream in, and the whole list (mark
// 0) at start, on Node.Notify, on Sync and when a blob is wanted again.
type WantsSince interface {
	Wants
	// WantedSince returns at least every blob wanted that was not wanted
	// at mark, a value an earlier call returned (0: every blob wanted),
	// and the mark for the next call. It may list more, up to the whole
	// list: the exchange adds what it does not track yet and nothing else.
	WantedSince(ctx context.Context, mark int64) (ws []Want, next int64, err error)
}

// InviteHandler is project/'s side of the invite protocol. Messages are
// opaque to the exchange: one request from the joiner, one response.
type InviteHandler interface {
	// Handle answers a joiner's request. An error is sent as a code (see
	// wire.CodeOf); details stay local.
	Handle(ctx context.Context, from peer.ID, req []byte) (resp []byte, err error)
}

// Config configures a Node. Key, Store, Access, Records and Wants are
// required; ProjectID too when MDNS is on.
type Config struct {
	Key         crypto.PrivKey // this device's identity
	ListenAddrs []string       // multiaddrs; default TCP and QUIC on all interfaces, port 0
	ProjectID   string         // scopes mDNS discovery
	Store       blob.Store
	Access      Access
	Records     Records
	Wants       Wants
	Invites     InviteHandler // nil: the invite protocol is refused
	Filter      Filter        // declared to peers; 0 means FilterArchive
	MDNS        bool          // discover project peers on the LAN
	// InviteOnly: a device that is in no project yet, redeeming an
	// invite: it serves neither records nor blobs (so it refuses nobody).
	InviteOnly bool

	// Reach beyond the local network (reach.go).
	//
	// Relay: this device has a public address and relays for the
	// project's members only (an always-on peer).
	Relay bool
	// Relays are the project's always-on peers (Node.SetRelays changes
	// them): this device keeps them connected, holds a relay reservation
	// with them so that members anywhere reach it through them, reaches
	// the members it is not connected to through them, and hole-punches
	// to a direct connection where the NATs allow.
	Relays []peer.AddrInfo
	// Ledger keeps what the always-on peers confirmed they hold, across
	// runs (upload.go); nil keeps it in memory for this run.
	Ledger Ledger
	// AnnounceAddrs are addresses this device is reachable at that it
	// cannot see itself (a public address forwarded to it).
	AnnounceAddrs []ma.Multiaddr
	// HostOptions are extra libp2p options, after the node's own (tests:
	// a simulated network for QUIC, a forced reachability).
	HostOptions []libp2p.Option
	Logger      *slog.Logger // nil: discard

	// Tuning; zero means the default.
	FrameSize int // bytes of leaf data per frame (default 128 KiB, at most 256 KiB)
}
