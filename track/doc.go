// Package track reads GPS tracks from GPX files and keeps their points in
// a compact binary form that travels between devices as one small blob.
//
// Words, as used here and in docs/fielddata.md:
//
//   - track: a walk someone wants to keep, as GPS points in order. A GPX
//     file becomes one Track: every <trk> (its <trkseg> segments) and
//     every <rte> (one segment each), in file order.
//   - segment: points that are connected, in order; a new segment starts
//     where the receiver lost its fix or was switched off. A line is not
//     drawn between segments.
//   - point: a position (WGS 84 degrees), optionally an elevation (metres)
//     and a time.
//   - points blob: the compact form (Encode, Decode): lat and lon as
//     integers of 1e-7 degree (about 1 cm), time in milliseconds,
//     elevation in centimetres, in variable-length integers: position and
//     time as the change of their difference from the point before (a
//     walker's steady pace and a logger's steady interval cost a byte or
//     two), elevation as a difference. A 10,000-point walk logged every
//     second is about 44 KiB, against about 1 MiB of GPX (TestCompactSize).
//   - info: what a record says of a track without its points (Stats):
//     number of points and segments, first and last time, bounds, length.
//
// The package is pure: it reads from an io.Reader and imports nothing of
// fieldsync. Every parser and decoder has limits (MaxGPXSize, MaxPoints,
// MaxSegments) and a fuzz test; anything Decode accepts, Encode writes
// back byte for byte.
package track
