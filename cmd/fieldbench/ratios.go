//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
)

// The loopback ratios table (issue 18): for each loopback scenario,
// fieldsync against the reference measured in the same run, as the median
// and range over the repeats (--repeat).

// spread is a set of ratios from repeated runs.
type spread []float64

func (s spread) String() string {
	if len(s) == 0 {
		return "–"
	}
	v := slices.Clone(s)
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	if len(v) == 1 {
		return fmtRatio(med)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtRatio(med), strings.TrimSuffix(fmtRatio(v[0]), "×"), fmtRatio(v[len(v)-1]))
}

func receiver(ps []ProcUsage) *ProcUsage {
	for i := range ps {
		if strings.HasPrefix(ps[i].Role, "receiver") {
			return &ps[i]
		}
	}
	return nil
}

// loopbackRow is one scenario's ratios over its repeats.
type loopbackRow struct {
	title                   string
	runs                    int
	time, cpu, rssX, rawP2P spread
	rawCPU                  spread
	rss                     []int64
}

// loopbackRatios collects the rows, in loopbackIDs order.
func (r *Report) loopbackRatios() []*loopbackRow {
	var out []*loopbackRow
	for _, id := range loopbackIDs {
		row := &loopbackRow{}
		for _, s := range r.Scenarios {
			if s.ID != id {
				continue
			}
			row.title = s.Title
			f, rs := s.find(ToolFieldsync, ""), s.find(ToolRsync, "")
			if f == nil || rs == nil || f.Status != StatusOK || rs.Status != StatusOK {
				continue
			}
			row.runs++
			row.time = append(row.time, f.Seconds/rs.Seconds)
			if c := totalCPU(rs.Procs); c > 0 {
				row.cpu = append(row.cpu, totalCPU(f.Procs)/c)
			}
			fr, rr := receiver(f.Procs), receiver(rs.Procs)
			if fr != nil {
				row.rss = append(row.rss, fr.MaxRSS)
				if rr != nil && rr.MaxRSS > 0 {
					row.rssX = append(row.rssX, float64(fr.MaxRSS)/float64(rr.MaxRSS))
				}
			}
			if p := s.find(ToolRawP2P, ""); p != nil && p.Status == StatusOK {
				row.rawP2P = append(row.rawP2P, p.Seconds/f.Seconds)
				if c := totalCPU(p.Procs); c > 0 {
					row.rawCPU = append(row.rawCPU, totalCPU(f.Procs)/c)
				}
			}
		}
		if row.title != "" {
			out = append(out, row)
		}
	}
	return out
}

// writeLoopbackRatios writes the table, if any loopback scenario ran.
func (r *Report) writeLoopbackRatios(b *strings.Builder) {
	rows := r.loopbackRatios()
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n### Loopback ratios (issue 18)\n\n")
	b.WriteString("fieldsync ÷ the reference in the same run: rsync daemon pulled by rsync, and for one large blob a raw libp2p stream (TCP, Noise, yamux) through the same forwarder. ")
	b.WriteString("Time is the receiving process's life; CPU is user + system of the sender and the receiver; RSS is the receiver's peak. ")
	b.WriteString("With repeats: median (min–max). Goals: time ≤ 1.0× rsync's (bulk), ≤ 1.2× (small blobs); ≥ 0.85× raw libp2p's throughput (large); CPU ≤ 1.5× rsync's; receiver RSS ≤ 100 MiB.\n\n")
	b.WriteString("| scenario | runs | time ÷ rsync | CPU ÷ rsync | receiver peak RSS | ÷ rsync's | throughput ÷ raw libp2p | CPU ÷ raw libp2p |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		rss := "–"
		if len(row.rss) > 0 {
			v := slices.Clone(row.rss)
			slices.Sort(v)
			rss = mib(v[len(v)/2])
			if len(v) > 1 {
				rss = fmt.Sprintf("%s (%s–%s)", rss, mib(v[0]), mib(v[len(v)-1]))
			}
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", cell(row.title), row.runs, row.time, row.cpu, rss, row.rssX, row.rawP2P, row.rawCPU)
	}
}
