package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync/node"
	"github.com/fieldsync/fieldsync/project"
)

// How ls and show write categories, field values and tracks.

// trackSummary is one line about a track: its name, points, length and
// time span.
func trackSummary(t *project.TrackInfo) string {
	var b strings.Builder
	b.WriteString("track")
	if t.Name != "" {
		fmt.Fprintf(&b, " %q", t.Name)
	}
	fmt.Fprintf(&b, ", %d points", t.Points)
	if t.Segments > 1 {
		fmt.Fprintf(&b, " in %d segments", t.Segments)
	}
	fmt.Fprintf(&b, ", %s", km(t.Length))
	if !t.Start.IsZero() {
		fmt.Fprintf(&b, ", %s", span(t.Start, t.End))
	}
	return b.String()
}

// km writes a length in kilometres.
func km(m float64) string {
	if m < 10_000 {
		return fmt.Sprintf("%.2f km", m/1000)
	}
	return fmt.Sprintf("%.1f km", m/1000)
}

// span writes a time span in local time, the day once when it is one.
func span(a, b time.Time) string {
	a, b = a.Local(), b.Local()
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		return a.Format("2006-01-02 15:04") + "–" + b.Format("15:04")
	}
	return a.Format("2006-01-02 15:04") + " – " + b.Format("2006-01-02 15:04")
}

// fieldsSummary is an observation's field values as key=value, in its
// category's order (keys it does not define after, sorted), cut to about
// max characters.
func fieldsSummary(o *project.Observation, c *project.CategoryState, max int) string {
	var parts []string
	for _, k := range fieldOrder(o, c) {
		v := o.Fields[k]
		text := v.String()
		if v.Kind == project.ValueList {
			text = strings.Join(v.List, ";")
		}
		parts = append(parts, k+"="+text)
	}
	s := strings.Join(parts, " ")
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		s = string(r[:max-1]) + "…"
	}
	return s
}

// fieldOrder lists o's field keys in c's order, then the others sorted.
func fieldOrder(o *project.Observation, c *project.CategoryState) []string {
	var keys []string
	if c != nil {
		for _, f := range c.Fields {
			if _, ok := o.Fields[f.Key]; ok {
				keys = append(keys, f.Key)
			}
		}
	}
	var rest []string
	for k := range o.Fields {
		if !slices.Contains(keys, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	return append(keys, rest...)
}

// categoryIndex finds categories by ID.
type categoryIndex map[string]*project.CategoryState

func indexCategories(cs []project.CategoryState) categoryIndex {
	m := categoryIndex{}
	for i := range cs {
		m[cs[i].ID] = &cs[i]
	}
	return m
}

// name is category id's name, or its ID when this device does not know it.
func (m categoryIndex) name(id string) string {
	if c := m[id]; c != nil {
		return c.Name
	}
	return id
}

// printFields writes an observation's category and its field values with
// their labels, in the category's order.
func printFields(ctx context.Context, w io.Writer, n *node.Node, o *project.Observation) {
	c, err := n.Category(ctx, o.Category)
	if err != nil {
		fmt.Fprintf(w, "  category  %s (not known on this device yet: sync to get the project's categories)\n", o.Category)
		for _, k := range fieldOrder(o, nil) {
			fmt.Fprintf(w, "    %s: %s\n", k, o.Fields[k])
		}
		return
	}
	removed := ""
	if c.Deleted {
		removed = ", since removed from the project's categories"
	}
	fmt.Fprintf(w, "  category  %s (%s%s)\n", c.Name, c.ID, removed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range fieldOrder(o, c) {
		v := o.Fields[k]
		label := k
		text := v.String()
		if f, ok := c.FieldByKey(k); ok {
			label = f.Label
			labelOf := func(val string) string {
				for _, opt := range f.Options {
					if opt.Value == val && opt.Label != opt.Value {
						return fmt.Sprintf("%s (%s)", opt.Label, opt.Value)
					}
				}
				return val
			}
			switch v.Kind {
			case project.ValueText:
				text = labelOf(v.Text)
			case project.ValueList:
				var ls []string
				for _, val := range v.List {
					ls = append(ls, labelOf(val))
				}
				text = strings.Join(ls, "; ")
			}
		} else {
			label += " (not a field of the category now)"
		}
		fmt.Fprintf(tw, "    %s\t%s\n", label, text)
	}
	tw.Flush()
}
