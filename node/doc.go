// Package node is one fieldsync device, for programs that embed sync: a
// field app on a phone, a desktop app, an archive service. The fieldsync
// command, its web app (package ui) and the mobile binding (package
// mobile) are built on it alone, and an app embeds it the same way.
//
// A Node is an open data directory. It composes the packages below it:
//
//	           ┌──────────── Node ─────────────┐
//	files ──▶  import (thumbs, chunk) ──▶ blob store (blob/disk)
//	           records, members, invites (project) ──▶ SQLite
//	peers ◀─▶  exchange (libp2p) ──▶ events ──▶ Subscribe
//	           exports (archive): CAR, bundles, BagIt
//	           └───────────────────────────────┘
//
// Words used here:
//
//   - device: one data directory, with its own key (its peer ID). A device
//     holds at most one project.
//   - data directory: the key, the SQLite database (fieldsync.db), the
//     blob store's files (blobs/, partial/, quarantine/, tmp/), the peers
//     met before (peers.json) and, while Serve runs, serve.json
//     (docs/storage.md).
//   - project: a signed genesis record and the membership records after
//     it; its ID is the genesis CID. Create one (CreateProject) or join one
//     with an invite code (Join).
//   - observation: a place, a time, tags, notes and attachments (photos
//     with their thumbnail and preview, audio, any file), kept as signed
//     versions: Add, Import, Edit, Keep, Delete never erase a version.
//   - filter: what this device wants of the project's blobs (everything,
//     as an archive; thumbnails and previews, as a field phone).
//   - class: a blob's place in the transfer order (blob.Class): records,
//     then thumbnails, previews, originals, other attachments.
//   - network: Start listens and keeps the project's peers connected;
//     Sync fetches what is wanted and returns; Serve runs until stopped.
//   - shared: a node opened beside another process (a running serve) that
//     holds the data directory; it reads everything and writes no blob,
//     but it may check them (Verify): that process fetches again what the
//     check quarantined.
//
// Everything that happens reaches the program as typed events
// (Subscribe): peers coming and going, records and blobs arriving, invites
// redeemed or refused and why, roles changing (a block is a RoleEvent to
// RoleBlocked). Progress and Status are typed snapshots. Errors are typed
// too: sentinel values for conditions a program branches on (ErrNoDevice,
// ErrBusy, ErrNoProject, ErrNoPeer, the ErrInvite* values) and error types
// that carry data (*DirError, *InviteError, *ProjectError); the text of an
// error says what happened, and what to do next is the program's to say in
// its own words.
//
// The node prints nothing, reads no flags and leaves the Go runtime's
// settings to the program. The fieldsync command and the mobile binding
// call UseGCPercent, which sets the garbage collector's target to
// GCPercent (50) unless GOGC is set: a device receiving tens of thousands
// of small files then peaks under 100 MiB, for a few per cent more CPU
// (docs/benchmarks.md). Another program may call it too.
package node
