package track

import (
	"math"
	"time"
)

// Limits on a track, for GPX files and points blobs alike.
const (
	// MaxGPXSize is the largest GPX file read (64 MiB: some 500,000
	// points of a verbose logger).
	MaxGPXSize = 64 << 20
	// MaxPoints is the most points a track may have.
	MaxPoints = 1_000_000
	// MaxSegments is the most segments a track may have.
	MaxSegments = 10_000
	// MaxNameLen is the longest track name kept, in bytes; longer names
	// are cut at a character boundary.
	MaxNameLen = 256
)

// Point is one GPS fix.
type Point struct {
	Lat, Lon float64 // WGS 84, decimal degrees
	// Ele is the elevation in metres (GPX <ele>), when HasEle.
	Ele    float64
	HasEle bool
	// Time is when the fix was taken (GPX <time>), UTC; zero when the
	// point has none (a route's points usually have none).
	Time time.Time
}

// Track is a track's points, by segment. Every segment has at least one
// point.
type Track struct {
	Segments [][]Point
}

// Len returns the number of points.
func (t *Track) Len() int {
	n := 0
	for _, s := range t.Segments {
		n += len(s)
	}
	return n
}

// Bounds is a bounding box in degrees.
type Bounds struct {
	West, South, East, North float64
}

// Info is what is known of a track without its points.
type Info struct {
	Points, Segments int
	// Start and End are the first and last point times, in track order
	// (zero when no point has a time).
	Start, End time.Time
	Bounds     Bounds
	// Length is the distance along each segment, in metres (great
	// circle, mean Earth radius); the gaps between segments do not count.
	Length float64
	// HasEle: every point has an elevation.
	HasEle bool
}

// Stats returns t's info.
func Stats(t *Track) Info {
	in := Info{Segments: len(t.Segments), HasEle: true}
	first := true
	for _, seg := range t.Segments {
		for i, p := range seg {
			in.Points++
			if first {
				in.Bounds = Bounds{p.Lon, p.Lat, p.Lon, p.Lat}
				first = false
			} else {
				in.Bounds.West = min(in.Bounds.West, p.Lon)
				in.Bounds.East = max(in.Bounds.East, p.Lon)
				in.Bounds.South = min(in.Bounds.South, p.Lat)
				in.Bounds.North = max(in.Bounds.North, p.Lat)
			}
			if !p.Time.IsZero() {
				if in.Start.IsZero() {
					in.Start = p.Time
				}
				in.End = p.Time
			}
			in.HasEle = in.HasEle && p.HasEle
			if i > 0 {
				in.Length += Distance(seg[i-1], p)
			}
		}
	}
	if in.Points == 0 {
		in.HasEle = false
	}
	return in
}

// earthRadius is the mean Earth radius in metres (IUGG).
const earthRadius = 6371008.8

// Distance returns the great-circle distance between a and b in metres
// (haversine).
func Distance(a, b Point) float64 {
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLon := (b.Lon - a.Lon) * rad
	s := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(s)))
}
