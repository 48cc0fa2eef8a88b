// Package chunk implements the unixfs-v1-2025 content-addressing profile
// (IPIP-499) that names every fieldsync blob.
//
// Words used here:
//
//   - leaf: one chunk of a blob, at most ChunkSize bytes, stored as a raw
//     block (CIDv1, codec raw, sha2-256). A leaf is the unit of verification.
//   - node: a dag-pb block holding UnixFS File data and links to its children
//     (leaves or other nodes), at most MaxLinks of them, in a balanced tree.
//   - skeleton: all the nodes of a blob. From the skeleton and the root CID a
//     receiver knows every leaf's CID, offset and size before it has any
//     leaf, so leaves can arrive in any order from any peer.
//   - root: the blob's CID. A blob of at most ChunkSize bytes is a single raw
//     leaf and its skeleton has no nodes.
//
// The profile's parameters are the exported constants below; they are pinned
// by the golden vectors in testdata/vectors (produced by Kubo), which the
// tests reproduce byte for byte.
//
// The dag-pb and UnixFS encoders and the skeleton parser are written by hand
// here (a few hundred lines of protobuf wire format): the maintained IPFS
// libraries (boxo) build DAGs through a blockstore and a DAG service, which
// would force every leaf through an extra copy and an in-memory block store,
// and they do not expose "verify a skeleton and list leaf offsets" at all.
// Encoding follows boxo's output exactly (links before data, an empty link
// name written, blocksizes unpacked), which the vectors check.
//
// The package is pure: it does no I/O beyond the io.Reader it is given.
package chunk
