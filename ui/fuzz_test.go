package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/project"
)

// The parsers of what a browser sends: the paging cursor, the position
// fields, uploaded file names, an edit's field values; and the export's
// file name.

func FuzzCursor(f *testing.F) {
	list := make([]*project.ObservationState, 50)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range list {
		o := &project.ObservationState{}
		o.ID = strings.Repeat(string(rune('a'+i%26)), 3) + string(rune('a'+i/26))
		o.Created = base.Add(-time.Duration(i/2) * time.Second)
		list[i] = o
	}
	f.Add(cursorOf(list[10]))
	f.Add("")
	f.Add("1.")
	f.Add("-1.x")
	f.Add("99999999999999999999.a")
	f.Fuzz(func(t *testing.T, c string) {
		i, err := after(list, c)
		if err != nil {
			return
		}
		if i < 0 || i > len(list) {
			t.Fatalf("after(%q) = %d", c, i)
		}
		// A cursor of an item resumes right after it.
		for j, o := range list {
			if cursorOf(o) == c && i != j+1 {
				t.Fatalf("after(cursor of %d) = %d", j, i)
			}
		}
	})
}

func FuzzPosition(f *testing.F) {
	f.Add("48.5", "2.25")
	f.Add("NaN", "0")
	f.Add("1e400", "-0")
	f.Add(" 90 ", "-180")
	f.Fuzz(func(t *testing.T, lat, lon string) {
		p, err := parsePosition(lat, lon)
		if err != nil {
			return
		}
		if p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 || p.Lat != p.Lat || p.Lon != p.Lon {
			t.Fatalf("parsePosition(%q, %q) = %+v", lat, lon, p)
		}
	})
}

func FuzzSafeName(f *testing.F) {
	for _, s := range []string{"IMG_0001.JPG", "../../etc/passwd", `C:\Users\a\b.jpg`, ".hidden.jpg", "", "a\x00b\nc.jpg", "..", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := safeName(name, 3)
		if got == "" || got == "." || got == ".." || strings.ContainsAny(got, "/\x00\n") || strings.HasPrefix(got, ".") ||
			!utf8.ValidString(got) || len(got) > 200 {
			t.Fatalf("safeName(%q) = %q", name, got)
		}
	})
}

// FuzzFileSlug: an export's file name part is letters, digits and single
// dashes between them, at most 60 runes, never empty: nothing that a
// Content-Disposition or a file system could read as a path.
func FuzzFileSlug(f *testing.F) {
	for _, s := range []string{"River survey 2026", "Río Negro / 2026", "../../etc/passwd", "", "\"; filename=x.html", "日本語 プロジェクト"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got := fileSlug(name)
		if got == "" || strings.HasPrefix(got, "-") || strings.HasSuffix(got, "-") || strings.Contains(got, "--") || utf8.RuneCountInString(got) > 60 {
			t.Fatalf("fileSlug(%q) = %q", name, got)
		}
		for _, r := range got {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				t.Fatalf("fileSlug(%q) = %q: %q", name, got, r)
			}
		}
	})
}

// FuzzFieldText: an edit's field value (any JSON) becomes the text the
// node reads, or a refusal; a string comes through as it is.
func FuzzFieldText(f *testing.F) {
	for _, s := range []string{`"ford"`, `1.5`, `["fishing","school"]`, `null`, `[]`, `{"a":1}`, `[1]`, `1e400`, `"`, `true`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := fieldText("k", json.RawMessage(raw))
		if err != nil {
			return
		}
		var s string
		if json.Unmarshal([]byte(raw), &s) == nil && got != s {
			t.Fatalf("fieldText(%q) = %q, want the string %q", raw, got, s)
		}
	})
}
