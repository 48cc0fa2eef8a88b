// Package archive moves a fieldsync project through standard formats: CAR
// files (an archival export any IPFS node can import, and sneakernet
// bundles carried on a USB stick where there is no network) and BagIt bags
// (RFC 8493) for archives that check sha256 sums with their own tools.
//
// Words used here:
//
//   - CAR: a content-addressed archive (CARv1 or CARv2): a header naming
//     root CIDs, then blocks, each a CID and its bytes. Every CAR written
//     here is CARv1, the most widely importable; CARv1 and CARv2 are read.
//   - block: one IPLD block: a record (dag-cbor), a skeleton node (dag-pb)
//     or a leaf (raw). The blocks of a CAR written here are exactly the
//     project's blocks: nothing is re-encoded.
//   - manifest: the first block and first root of every CAR written here,
//     a small dag-cbor map naming the project, the kind (export or bundle),
//     the part number and, for bundles, the signing device and its
//     signature (Manifest).
//   - export: a CAR of the project (Export) for archives and for
//     `ipfs dag import`: its roots also name every blob written, so an IPFS
//     node pins them.
//   - bundle: a CAR for a device that cannot sync over a network: every
//     record and blob (ExportAll), or exactly what one device lacks
//     (ExportFor). Ordered records, skeletons, thumbnails, previews,
//     originals, other attachments, so that a bundle cut short is useful as
//     far as it goes; signed by the device that made it; optionally split
//     into several files, each a complete CAR (a part).
//   - state: what a device holds, written to a small file and carried to
//     the device that makes a bundle for it: project, version vector,
//     complete blobs, wanted classes; signed by the device, so that only
//     members get bundles (State).
//   - wanted: a blob this device keeps: a record of the project refers to
//     it and the device's filter takes its class (ClassSet; WithHistory
//     for the blobs of replaced and deleted versions).
//   - class: what a block is for (Class), in export order: record,
//     skeleton, thumbnail, preview, original (photos), other (audio, video,
//     files).
//   - refused: a block an import did not store, with the reason (Refusal):
//     bytes that do not match the CID, a record the project refuses, a blob
//     no record refers to. One refused block never stops an import.
//   - bag: a BagIt directory: payload under data/ (the originals under
//     readable names, the observations as JSON and GeoJSON), sha256
//     manifests, and cid-manifest.txt giving each original's CID beside its
//     path (ExportBag).
//
// Trust: an import verifies every block against its CID before anything
// from it is stored; records then pass every check a network sync runs
// (Sink.Apply), and a blob is stored only if a record of the project refers
// to it, leaf by leaf through a partial blob (so a CAR cut short leaves
// partial blobs that a later bundle or sync completes). A bundle must be
// signed by a member's device and name this project, or nothing in it is
// stored.
//
// The project side is reached through small interfaces (Source, Sink,
// Observations) so this package does not depend on how records are stored;
// the store side through the blob role interfaces (BlobSource, BlobSink).
// docs/archive.md describes the formats and the reasons behind them.
package archive
