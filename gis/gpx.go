package gis

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/fieldsync/fieldsync/view"
)

// WriteGPX writes GPX 1.1 (valid against the GPX 1.1 schema): the
// project's name and the export time as metadata; a waypoint (wpt) for
// each observation with a position: its time, a name (the category's
// name, else "Observation", and the observation's first six ID
// characters), its ID as the comment, its field values with their labels,
// tags and notes as the description, the category's name as its type;
// then a track (trk) for each track, a track segment (trkseg) per segment,
// each point with its elevation and time when it has them.
func WriteGPX(w io.Writer, d *Data) (*Report, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	rep := newReport()
	obs := d.sorted()
	bw.WriteString(xml.Header)
	bw.WriteString(`<gpx version="1.1" creator="fieldsync" xmlns="http://www.topografix.com/GPX/1/1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd">` + "\n")
	bw.WriteString("<metadata>")
	if d.ProjectName != "" {
		element(bw, "name", d.ProjectName)
	}
	if !d.Exported.IsZero() {
		element(bw, "time", timeText(d.Exported))
	}
	bw.WriteString("</metadata>\n")
	// Waypoints come first: the schema orders wpt, rte, trk.
	for i := range obs {
		o := &obs[i]
		rep.Observations++
		p := o.Position
		if p == nil {
			if len(tracksOf(o)) == 0 {
				rep.NoPosition++
			}
			continue
		}
		fmt.Fprintf(bw, `<wpt lat="%s" lon="%s">`, decimal(p.Lat, coordDigits), gpxLon(p.Lon))
		element(bw, "time", timeText(o.Created))
		element(bw, "name", d.gpxName(o))
		element(bw, "cmt", o.ID)
		if desc := d.description(o); desc != "" {
			element(bw, "desc", desc)
		}
		if n := d.categoryName(o); n != "" {
			element(bw, "type", n)
		}
		bw.WriteString("</wpt>\n")
		rep.Points++
	}
	for i := range obs {
		o := &obs[i]
		for _, a := range tracksOf(o) {
			tr := d.Tracks[a.Points.CID]
			if tr == nil {
				rep.MissingTracks = append(rep.MissingTracks, o.ID)
				continue
			}
			bw.WriteString("<trk>")
			name := a.Track.Name
			if name == "" {
				name = d.gpxName(o)
			}
			element(bw, "name", name)
			element(bw, "cmt", o.ID)
			if desc := d.description(o); desc != "" {
				element(bw, "desc", desc)
			}
			if n := d.categoryName(o); n != "" {
				element(bw, "type", n)
			}
			bw.WriteString("\n")
			for _, seg := range tr.Segments {
				bw.WriteString("<trkseg>\n")
				for _, pt := range seg {
					fmt.Fprintf(bw, `<trkpt lat="%s" lon="%s">`, decimal(pt.Lat, coordDigits), gpxLon(pt.Lon))
					if pt.HasEle {
						element(bw, "ele", decimal(pt.Ele, 2))
					}
					if !pt.Time.IsZero() {
						element(bw, "time", timeText(pt.Time))
					}
					bw.WriteString("</trkpt>\n")
				}
				bw.WriteString("</trkseg>\n")
			}
			bw.WriteString("</trk>\n")
			rep.Lines++
		}
	}
	bw.WriteString("</gpx>\n")
	return rep, bw.Flush()
}

// gpxLon writes a longitude as GPX takes it: -180 <= lon < 180 (180 is
// written as -180, the same meridian).
func gpxLon(lon float64) string {
	if round(lon, coordDigits) >= 180 {
		lon = -180
	}
	return decimal(lon, coordDigits)
}

// element writes <name>text</name>, the text escaped.
func element(w *bufio.Writer, name, text string) {
	w.WriteString("<" + name + ">")
	xml.EscapeText(w, []byte(text))
	w.WriteString("</" + name + ">")
}

// gpxName names an observation for a GPS: its category's name (else
// "Observation") and its ID's first six characters, so that waypoints of
// one category stay apart.
func (d *Data) gpxName(o *view.Observation) string {
	n := d.categoryName(o)
	if n == "" {
		n = "Observation"
	}
	return fmt.Sprintf("%s %s", n, o.ID[:min(6, len(o.ID))])
}

// description is an observation's field values with their labels, then
// its tags and notes, one per line.
func (d *Data) description(o *view.Observation) string {
	var lines []string
	var cat *view.Category
	if o.Category != nil {
		cat = d.category(o.Category.ID)
	}
	done := map[string]bool{}
	if cat != nil {
		for _, f := range cat.Fields {
			if v, ok := o.Fields[f.Key]; ok {
				text, _ := flat(v)
				lines = append(lines, f.Label+": "+strings.ReplaceAll(text, ";", "; "))
				done[f.Key] = true
			}
		}
	}
	for _, c := range d.fieldColumns([]view.Observation{*o}) {
		if v, ok := o.Fields[c.key]; ok && !done[c.key] {
			text, _ := flat(v)
			lines = append(lines, c.key+": "+text)
		}
	}
	if len(o.Tags) > 0 {
		lines = append(lines, "Tags: "+strings.Join(o.Tags, ", "))
	}
	if o.Notes != "" {
		lines = append(lines, o.Notes)
	}
	return strings.Join(lines, "\n")
}
