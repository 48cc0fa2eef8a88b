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
//   - session: this device fetching from one member over one blobs
//     stream; the scheduler hands each piece (a skeleton, a leaf, a small
//     blob) to the least busy session that may have it.
//   - window: the bytes a session may have requested and not yet
//     received: twice the measured bandwidth × round trip, at least four
//     leaves.
//   - frame: one DATA message, 128 KiB of a leaf by default; the serving
//     side re-prioritises between frames.
//   - complete: every wanted blob present and verified in the store, and
//     records pulled from every connected member since their last change.
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
