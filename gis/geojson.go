package gis

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync/track"
	"github.com/fieldsync/fieldsync/view"
)

// WriteGeoJSON writes a FeatureCollection (RFC 7946): a Point feature for
// each observation with a position, and a LineString (MultiLineString for
// a track of several segments) for each track, [lon, lat] or [lon, lat,
// elevation] when every point has one, to 7 decimals. Every feature has
// the same properties, in the same order, null where a feature has no
// value: id, kind (observation or track), created, updated, category,
// category_name, one property per field (its key), tags, notes,
// accuracy_m, attachments, attachment_cids, track_name, track_points,
// track_length_m, track_start, track_end, author, device, record. The
// collection's "name" is the project's (GDAL takes it as the layer name).
func WriteGeoJSON(w io.Writer, d *Data) (*Report, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	rep := newReport()
	obs := d.sorted()
	cols := d.fieldColumns(obs)
	name, _ := json.Marshal(d.ProjectName)
	fmt.Fprintf(bw, `{"type":"FeatureCollection","name":%s,"features":[`, name)
	first := true
	feature := func(id string, geom []byte, props *object) {
		if !first {
			bw.WriteString(",")
		}
		first = false
		bw.WriteString("\n")
		idj, _ := json.Marshal(id)
		fmt.Fprintf(bw, `{"type":"Feature","id":%s,"geometry":%s,"properties":`, idj, geom)
		props.writeTo(bw)
		bw.WriteString("}")
	}
	for i := range obs {
		o := &obs[i]
		rep.Observations++
		wrote := false
		if p := o.Position; p != nil {
			geom := fmt.Sprintf(`{"type":"Point","coordinates":[%s,%s]}`, decimal(p.Lon, coordDigits), decimal(p.Lat, coordDigits))
			feature(o.ID, []byte(geom), d.properties(o, cols, "observation", nil))
			rep.Points++
			wrote = true
		}
		for k, a := range tracksOf(o) {
			tr := d.Tracks[a.Points.CID]
			if tr == nil {
				rep.MissingTracks = append(rep.MissingTracks, o.ID)
				wrote = true
				continue
			}
			geom := lineGeometry(tr)
			if geom == nil {
				continue
			}
			id := o.ID + "/track"
			if k > 0 {
				id += strconv.Itoa(k + 1)
			}
			feature(id, geom, d.properties(o, cols, "track", &a))
			rep.Lines++
			wrote = true
		}
		if !wrote {
			rep.NoPosition++
		}
	}
	bw.WriteString("\n]}\n")
	return rep, bw.Flush()
}

// lineGeometry is a track's geometry: a LineString of its one segment, a
// MultiLineString of several; segments of a single point are left out
// (a line needs two), and a track of single points only is a MultiPoint.
func lineGeometry(tr *track.Track) []byte {
	withEle := track.Stats(tr).HasEle
	pos := func(b []byte, p track.Point) []byte {
		b = append(b, '[')
		b = append(b, decimal(p.Lon, coordDigits)...)
		b = append(b, ',')
		b = append(b, decimal(p.Lat, coordDigits)...)
		if withEle {
			b = append(b, ',')
			b = append(b, decimal(p.Ele, 2)...)
		}
		return append(b, ']')
	}
	line := func(b []byte, seg []track.Point) []byte {
		b = append(b, '[')
		for i, p := range seg {
			if i > 0 {
				b = append(b, ',')
			}
			b = pos(b, p)
		}
		return append(b, ']')
	}
	var segs [][]track.Point
	for _, s := range tr.Segments {
		if len(s) >= 2 {
			segs = append(segs, s)
		}
	}
	var b []byte
	switch len(segs) {
	case 0:
		b = append(b, `{"type":"MultiPoint","coordinates":[`...)
		n := 0
		for _, s := range tr.Segments {
			for _, p := range s {
				if n > 0 {
					b = append(b, ',')
				}
				b = pos(b, p)
				n++
			}
		}
		if n == 0 {
			return nil
		}
		return append(b, "]}"...)
	case 1:
		b = append(b, `{"type":"LineString","coordinates":`...)
		b = line(b, segs[0])
		return append(b, '}')
	}
	b = append(b, `{"type":"MultiLineString","coordinates":[`...)
	for i, s := range segs {
		if i > 0 {
			b = append(b, ',')
		}
		b = line(b, s)
	}
	return append(b, "]}"...)
}

// object is a JSON object that keeps its keys' order.
type object struct {
	keys []string
	vals []any
}

func (o *object) set(k string, v any) { o.keys, o.vals = append(o.keys, k), append(o.vals, v) }

func (o *object) writeTo(w *bufio.Writer) {
	w.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			w.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		w.Write(kb)
		w.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			vb = []byte("null")
		}
		w.Write(vb)
	}
	w.WriteByte('}')
}

// properties are a feature's properties (see WriteGeoJSON).
func (d *Data) properties(o *view.Observation, cols []column, kind string, trk *view.Attachment) *object {
	p := &object{}
	p.set("id", o.ID)
	p.set("kind", kind)
	p.set("created", timeText(o.Created))
	p.set("updated", timeText(o.Updated))
	if o.Category != nil {
		p.set("category", o.Category.ID)
		p.set("category_name", nullIfEmpty(d.categoryName(o)))
	} else {
		p.set("category", nil)
		p.set("category_name", nil)
	}
	for _, c := range cols {
		v, ok := o.Fields[c.key]
		if !ok {
			p.set(c.name, nil)
			continue
		}
		text, num := flat(v)
		if num != nil {
			p.set(c.name, *num)
		} else {
			p.set(c.name, text)
		}
	}
	p.set("tags", joinTags(o.Tags))
	p.set("notes", o.Notes)
	if o.Position != nil && o.Position.AccuracyM > 0 && kind == "observation" {
		p.set("accuracy_m", o.Position.AccuracyM)
	} else {
		p.set("accuracy_m", nil)
	}
	p.set("attachments", attachmentNames(o))
	p.set("attachment_cids", attachmentCIDs(o))
	if trk != nil {
		t := trk.Track
		p.set("track_name", t.Name)
		p.set("track_points", t.Points)
		p.set("track_length_m", round(t.LengthM, 1))
		p.set("track_start", timePtr(t.Start))
		p.set("track_end", timePtr(t.End))
	} else {
		for _, k := range []string{"track_name", "track_points", "track_length_m", "track_start", "track_end"} {
			p.set(k, nil)
		}
	}
	p.set("author", o.Author)
	p.set("device", nullIfEmpty(d.Devices[o.Author]))
	p.set("record", o.Record)
	return p
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func timePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return timeText(*t)
}

func joinTags(tags []string) string { return strings.Join(tags, ";") }
