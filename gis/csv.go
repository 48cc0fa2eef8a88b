package gis

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync/view"
)

// CSVOptions shape a CSV export.
type CSVOptions struct {
	// BOM starts the file with a UTF-8 byte order mark, so that Excel
	// reads accents and other non-ASCII letters right (GIS tools, pandas
	// with encoding="utf-8-sig" and R's readr skip it).
	BOM bool
}

// CSVHeader is the CSV's first columns, before the fields; the field
// columns follow, then CSVTrailer.
var (
	CSVHeader  = []string{"id", "kind", "created", "updated", "time_guessed", "lat", "lon", "accuracy_m", "category", "category_name"}
	CSVTrailer = []string{"tags", "notes", "attachments", "attachment_cids", "track_name", "track_points", "track_length_m",
		"track_start", "track_end", "author", "device", "record"}
)

// WriteCSV writes one row per observation, tracks and observations
// without a position included (lat and lon empty), after a header row:
// CSVHeader, one column per field (its key; "field_KEY" where a key is one
// of fieldsync's own column names), CSVTrailer. RFC 4180: comma
// separated, fields quoted where needed, CRLF line ends, UTF-8. A track's
// row has its summary (points, length, first and last time); its line is
// in the GeoJSON and GPX exports, not here. Text that a spreadsheet would
// run as a formula (starting with =, +, -, @, a tab or a carriage return)
// gets a leading apostrophe; numbers, times, IDs and coordinates never
// do.
func WriteCSV(w io.Writer, d *Data, opts CSVOptions) (*Report, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if opts.BOM {
		bw.WriteString("\uFEFF")
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	rep := newReport()
	obs := d.sorted()
	cols := d.fieldColumns(obs)
	header := append([]string{}, CSVHeader...)
	for _, c := range cols {
		header = append(header, c.name)
	}
	header = append(header, CSVTrailer...)
	if err := cw.Write(header); err != nil {
		return rep, err
	}
	for i := range obs {
		o := &obs[i]
		row := d.csvRow(o, cols)
		if err := cw.Write(row); err != nil {
			return rep, err
		}
		rep.Observations++
		if o.Position != nil {
			rep.Points++
		}
		if len(tracksOf(o)) > 0 {
			rep.Lines++
		} else if o.Position == nil {
			rep.NoPosition++
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return rep, err
	}
	return rep, bw.Flush()
}

func (d *Data) csvRow(o *view.Observation, cols []column) []string {
	kind := "observation"
	trks := tracksOf(o)
	if len(trks) > 0 {
		kind = "track"
	}
	guessed := ""
	if o.TimeGuessed {
		guessed = "true"
	}
	var lat, lon, acc string
	if p := o.Position; p != nil {
		lat, lon = decimal(p.Lat, coordDigits), decimal(p.Lon, coordDigits)
		if p.AccuracyM > 0 {
			acc = strconv.FormatFloat(p.AccuracyM, 'f', -1, 64)
		}
	}
	cat, catName := "", ""
	if o.Category != nil {
		cat, catName = o.Category.ID, d.categoryName(o)
	}
	row := []string{o.ID, kind, timeText(o.Created), timeText(o.Updated), guessed, lat, lon, acc, safe(cat), safe(catName)}
	for _, c := range cols {
		v, ok := o.Fields[c.key]
		if !ok {
			row = append(row, "")
			continue
		}
		text, num := flat(v)
		if num == nil {
			text = safe(text)
		}
		row = append(row, text)
	}
	var tname, tpoints, tlen, tstart, tend []string
	for _, a := range trks {
		t := a.Track
		tname = append(tname, t.Name)
		tpoints = append(tpoints, strconv.Itoa(t.Points))
		tlen = append(tlen, decimal(t.LengthM, 1))
		if t.Start != nil {
			tstart = append(tstart, timeText(*t.Start))
			tend = append(tend, timeText(*t.End))
		}
	}
	row = append(row, safe(joinTags(o.Tags)), safe(o.Notes), safe(attachmentNames(o)), attachmentCIDs(o),
		safe(strings.Join(tname, ";")), strings.Join(tpoints, ";"), strings.Join(tlen, ";"), strings.Join(tstart, ";"), strings.Join(tend, ";"),
		o.Author, safe(d.Devices[o.Author]), o.Record)
	return row
}

// safe keeps a spreadsheet from running text as a formula (OWASP's "CSV
// injection"): text starting with =, +, -, @, a tab or a carriage return
// gets a leading apostrophe, which spreadsheets show as text.
func safe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
