// Package ingest turns files into observations: a file enters through
// thumbs (sniffing, EXIF time and GPS, thumbnail and preview) and its blobs
// into a blob store, its observation record into a project.
//
// Words used here:
//
//   - file: a regular file on this device's disk (a photo, a voice note, a
//     GPX track, a PDF). Hidden files (a name starting with "."), empty
//     files and anything but a regular file are not ingested (ErrHidden,
//     ErrEmpty, ErrIrregular).
//   - observation: the project record a file becomes (project.Observation):
//     one per file (File, Dir), or one with an attachment per file (Files).
//   - attachment: one file in an observation, with its media type, its kind
//     (photo, audio, video or file) and its variants.
//   - media type: what the file is, from its first bytes (thumbs.Sniff),
//     else its extension (the system MIME table and a table of field
//     formats it may lack). The kind follows from it.
//   - original: the file's bytes, stored as they are, as one blob.
//   - variants: the thumbnail and the preview thumbs makes of a photo it can
//     decode, each its own blob. A photo thumbs cannot read (HEIC, RAW) is
//     an attachment with its original only; one too large or too damaged
//     for variants too, with a warning.
//   - time and position: the observation's Created time is the photo's EXIF
//     DateTimeOriginal, else the file's modification time; its position is
//     the photo's EXIF GPS, else Options.Position (always Options.Position
//     with ForcePosition).
//   - group: the files whose blobs share one blob batch (one fsync) and whose
//     records share one transaction (Options.GroupSize in Dir; all the files
//     of a File or Files call).
//   - skip: a file Dir left out, with the reason (Report.Skipped); a
//     warning is a file ingested with less than usual (Report.Warnings).
//
// # The pipeline
//
//	file ─ thumbs.Make (sniff, EXIF time and GPS, thumbnail, preview)
//	  │        └─ ErrUnsupported: an attachment with only its original
//	  ├─ blob store: original, preview, thumbnail (one batch per group)
//	  └─ observation record (signed, one transaction per group)
//
// Blobs are committed before the records that name them, so a crash
// leaves at worst blobs no record names, never a record whose blobs are
// missing on this device.
//
// The records are signed by the project's own device, as its next records
// (project.Project.AddObservations); tags, notes and position the record
// would refuse are refused before any blob is stored
// (project.Observation.Validate).
package ingest
