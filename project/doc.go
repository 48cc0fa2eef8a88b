// Package project holds what a device knows of a project: who may take
// part, and the signed records of what they observed.
//
// Words, as used in this package and its docs:
//
//   - project: a set of devices that sync with each other and no one else.
//     It starts with a genesis record; its ID is the genesis CID.
//   - device: a phone or laptop, identified by its Ed25519 key, which is
//     also its libp2p peer ID (Identity).
//   - member: a device the project has granted a role. The creator is the
//     device that signed the genesis.
//   - role: creator, coordinator, member or blocked. The creator and
//     coordinators sign membership records; members add observations; a
//     blocked device's records after the seq its block names do not count.
//   - record: one signed version of something (genesis, membership or an
//     observation), a canonical dag-cbor block named by its CID.
//     docs/records.md has the formats.
//   - log: one device's records in a project, numbered 1, 2, ... by seq,
//     each naming the CID of the one before (prev).
//   - seq: a record's position in its author's log.
//   - head: a version of an observation that no counted version replaces
//     (links). Usually one; several after concurrent edits.
//   - fork: an observation with more than one head. The winner is the head
//     with the latest Updated time, then the greatest CID; the others stay
//     in the history until an edit links them all.
//   - vector: a version vector, author → highest seq held. Two devices
//     compare vectors and send each other the rest of each log (Missing,
//     Apply).
//   - invite: a one-time code that lets a new device join through the
//     device that made it (Invite, ParseInviteCode, Redeem on the joiner,
//     InviteHandler on the inviter, then Join).
//   - filter: what a device wants of the project's blobs: archive (all),
//     field (thumbnails and previews) or custom (WantedBlobs).
//
// Authority is decided from the records known, never from arrival order:
// the roster (who has which role for which seqs of their log) is a pure
// function of the set of membership records, so two devices that hold the
// same records agree on every record's standing. docs/trust.md has the
// rules and what they protect against.
//
// What is not here: turning files into observations (sniffing, variants,
// EXIF time and GPS, the blob store) is package ingest, which gives this
// package the observations to sign (AddObservations). Invites stay: an
// invite code's secret, its invite ID (a hash of the secret) and the MAC key
// of the redemption handshake (derived from the secret) are one security
// protocol with the membership record they yield (the grant names the
// invite ID, and is signed only after the proof), so the code's format
// (binary layout, base32 text, checksum), the handshake and the records are
// defined and tested in one package. The code's presentation, a QR code on
// a terminal, lives with the command (cmd/fieldsync).
//
// Storage is the project's SQLite database (internal/db), in tables named
// project_*; one database holds one project. Nothing here touches the
// network: the exchange carries vectors, record blocks and invite messages
// as bytes.
package project
