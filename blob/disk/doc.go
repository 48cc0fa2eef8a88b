// Package disk is the blob.Store of a device: complete blobs as plain files
// named by their CID, so an archivist can open them with any tool, and
// their metadata (size, media type, added time, skeleton), partial blobs'
// have-bitmaps and the fixity log in the project's SQLite database. The
// on-disk layout and the reasons behind it are in docs/storage.md; in
// short:
//
//	<dir>/blobs/<a>/<b>/<cid>   complete blobs (a, b: CID characters -2, -3)
//	<dir>/partial/<cid>         partial blobs, at their final size
//	<dir>/tmp/                  files being written (emptied at Open)
//	<dir>/quarantine/           files that failed a fixity check
//	blob_blobs, blob_partials, blob_leaf_parts,
//	blob_fixity, blob_fixity_events                           tables
//
// Words used here, beyond those of package blob:
//
//   - row: the blob's line in blob_blobs. The row is the commit point: a
//     blob is visible exactly when its row exists, and a row is only
//     written once its file is durable in place.
//   - orphan: a file under blobs/ without a row (a crash between a rename
//     and its transaction). Invisible; VerifyAll quarantines it.
//   - quarantine: moving a file that failed a check to quarantine/ and
//     deleting its row, so the blob can be fetched again and the bad bytes
//     stay for a person to look at.
//
// Every write is: temp file (or partial file), fsync, rename, fsync of the
// directory, then the database transaction. Put hashes and writes while the
// input streams (chunk.Split), in memory bounded by a few chunks. A Batch
// shares one syncfs and one transaction among many small blobs. On Linux,
// whole verified leaves of a partial blob are written with O_DIRECT where
// the file system allows it and the write is aligned (every leaf but a
// blob's last), and so is the aligned head of a one-leaf blob of 256 KiB
// or more in a batch: they skip the page cache, whose writeback and
// reclaim cost a receiver more CPU than the transfer itself; the fsync or
// syncfs that makes them durable before they count is the same.
//
// Only one Store may open a directory at a time (an flock on <dir>/lock,
// LockFileEx on Windows), so ErrBusy for partial blobs holds across
// processes too.
package disk
