// Package exchange syncs a fieldsync project between devices over libp2p:
// records first, then skeletons, thumbnails, previews, photo originals and
// other attachments, from every member peer that has them, over links that
// are slow and that drop. The wire protocol is described in
// docs/protocol.md; the messages live in exchange/wire.
//
// Words used here:
//
//   - node: this device's end of the exchange (a libp2p host, the three
//     protocol handlers and the scheduler); see New.
//   - member: a peer whose Role is Member or above. Only members get
//     records or blob bytes; blocked devices are disconnected; other
//     devices may only use the invite protocol while an invite is open.
//   - want: a blob this device wants under its filter (Wants), with a
//     Class and an observation time that set its priority.
//   - alternative: a want that names another (Want.AltOf) of which it is
//     an alternative, as a blob's sealed copy is of the blob: either is
//     enough, the pair is fetched once and counted once (alt.go).
//   - session: this device fetching from one member over one blobs
//     stream; the scheduler hands each piece (a skeleton, a leaf, a small
//     blob) to the least busy session that may have it.
//   - window: the bytes a session may have requested and not yet
//     received: twice the measured bandwidth × round trip, at least four
//     leaves.
//   - frame: one DATA message, 128 KiB of a leaf by default; the serving
//     side re-prioritises between frames.
//   - complete: every wanted blob (of a pair of alternatives, either)
//     present and verified in the store, and records pulled from every
//     connected member since their last change.
//
// The exchange does not know the project's formats: records are opaque
// signed blocks behind Records, roles come from Access, wants from Wants,
// invite messages go to an InviteHandler. project/ implements them; tests
// use small in-memory versions.
//
// Shape, after boxo's bitswap and Syncthing's puller: one priority queue
// of missing pieces per node, one request window per peer, one serving
// queue per incoming stream; verification at the trust boundary (chunk's
// skeleton parser, the store's leaf check) and nothing a peer says taken
// on its word. Unlike bitswap there is no want-list broadcast: peers are
// few and all of the same project, so a want goes to one peer, and a
// don't-have moves it to the next.
package exchange

// Files, requester side first (sched.go draws how they fit together):
//
//   - sched.go: the scheduler: the pieces it orders (blobState, task,
//     request), the pending queue, refresh (re-reading the wants),
//     schedLoop, fill, and the complete and idle checks.
//   - session.go: a session: its blobs stream, window and books; the wants
//     and cancels it sends.
//   - receive.go: a session's DATA frames: items received whole and
//     verified in memory, leaves written frame by frame to partial blobs.
//   - batch.go: verified small blobs stored many to a store batch.
//   - blobs.go: a wanted blob opened (partial blob begun or resumed),
//     committed and marked done.
//   - alt.go: alternative pairs: which peers may be asked for each, the
//     one under way kept to, the other dropped once one is here, and
//     their progress counted once.
//   - endgame.go: duplicate requests to idle peers once nothing is left to
//     request.
//   - sync.go: Sync and SyncAvailable.
//   - report.go: bad data told to both sides: the requester reports a
//     peer's bad bytes to it before dropping it; the responder checks its
//     copy, quarantines a damaged one and fetches it again (CorruptEvent).
//   - serve.go: the responder side of the blobs protocol (a priority queue
//     of wants per incoming stream, served a frame at a time).
//   - records.go: the records protocol, serving and pulling; admit (the
//     role check of an incoming stream).
//   - invite.go: the invite protocol.
//   - node.go: Node: New and Start (the libp2p host, its protocols, mDNS),
//     Connect and the keepers that redial, the connection gater, a
//     member's connection starting its session, Close.
//   - autonat.go: AutoNAT v2: the always-on devices answer the members'
//     reachability checks; every device asks them (Reachability).
//   - progress.go: Progress snapshots and Events.
//   - rate.go: the rate (measured between arrivals of payload) and the
//     smoothed ETA that progress reports.
//   - types.go: Role, Filter, Want, Config and the interfaces project/
//     implements (Access, Records, Wants, InviteHandler).
