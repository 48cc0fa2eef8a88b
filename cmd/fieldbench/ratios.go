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
	// The raw libp2p stream (TCP) ÷ rsync, time and CPU: what the
	// encrypted transport alone costs against rsync's unencrypted one,
	// writing nothing; no sync over it can do better.
	floor, floorCPU spread
	// fieldsync's throughput ÷ the raw libp2p stream's whose receiver
	// writes to a file and fsyncs it (PhaseDurable).
	durable spread
	// fieldsync's throughput and CPU ÷ the raw libp2p stream's whose
	// receiver hashes every leaf and writes it straight to the disk
	// (PhaseVerified): what fieldsync's protocol, store and records add
	// to the work any verifying, durable receiver does.
	verified, verifiedCPU spread
	// That verified stream ÷ rsync (time, CPU) and its throughput ÷ the
	// raw stream's: the floor under any sync that checks and keeps every
	// leaf, against each reference.
	vFloor, vFloorCPU, vRaw spread
	// fieldsync's time ÷ rsync --fsync's.
	rsyncFsync spread
	// Over QUIC (the large blob): fieldsync's throughput and CPU ÷ a raw
	// libp2p stream's over QUIC.
	quicP2P, quicCPU spread
	rss              []int64
}

// cpuRatio appends a's CPU (both ends) ÷ b's to sp, if b's is known.
func cpuRatio(sp spread, a, b *Run) spread {
	if c := totalCPU(b.Procs); c > 0 {
		return append(sp, totalCPU(a.Procs)/c)
	}
	return sp
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
			f, rs := s.ok(ToolFieldsync, ""), s.ok(ToolRsync, "")
			if f == nil || rs == nil {
				continue
			}
			row.runs++
			row.time = append(row.time, f.Seconds/rs.Seconds)
			row.cpu = cpuRatio(row.cpu, f, rs)
			fr, rr := receiver(f.Procs), receiver(rs.Procs)
			if fr != nil {
				row.rss = append(row.rss, fr.MaxRSS)
				if rr != nil && rr.MaxRSS > 0 {
					row.rssX = append(row.rssX, float64(fr.MaxRSS)/float64(rr.MaxRSS))
				}
			}
			if p := s.ok(ToolRawP2P, ""); p != nil {
				row.rawP2P = append(row.rawP2P, p.Seconds/f.Seconds)
				row.rawCPU = cpuRatio(row.rawCPU, f, p)
				row.floor = append(row.floor, p.Seconds/rs.Seconds)
				row.floorCPU = cpuRatio(row.floorCPU, p, rs)
			}
			if d := s.ok(ToolRsync, PhaseDurable); d != nil {
				row.rsyncFsync = append(row.rsyncFsync, f.Seconds/d.Seconds)
			}
			if p := s.ok(ToolRawP2P, PhaseDurable); p != nil {
				row.durable = append(row.durable, p.Seconds/f.Seconds)
			}
			if p := s.ok(ToolRawP2P, PhaseVerified); p != nil {
				row.verified = append(row.verified, p.Seconds/f.Seconds)
				row.verifiedCPU = cpuRatio(row.verifiedCPU, f, p)
				row.vFloor = append(row.vFloor, p.Seconds/rs.Seconds)
				row.vFloorCPU = cpuRatio(row.vFloorCPU, p, rs)
				if raw := s.ok(ToolRawP2P, ""); raw != nil {
					row.vRaw = append(row.vRaw, raw.Seconds/p.Seconds)
				}
			}
			if fq, pq := s.ok(ToolFieldsync, PhaseQUIC), s.ok(ToolRawP2P, PhaseQUIC); fq != nil && pq != nil {
				row.quicP2P = append(row.quicP2P, pq.Seconds/fq.Seconds)
				row.quicCPU = cpuRatio(row.quicCPU, fq, pq)
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
	b.WriteString("fieldsync ÷ the reference in the same run: rsync daemon pulled by rsync, and a raw libp2p stream (TCP, Noise, yamux) of the same bytes through the same forwarder, and for one large blob also the two over QUIC (fieldsync's serve and sync on /udp/…/quic-v1 against a raw libp2p stream over QUIC, both direct on 127.0.0.1). ")
	b.WriteString("Time is the receiving process's life; CPU is user + system of the sender and the receiver; RSS is the receiver's peak. ")
	b.WriteString("With repeats: median (min–max). Goals: time ≤ 1.0× rsync's (bulk), ≤ 1.2× (small blobs); ≥ 0.85× raw libp2p's throughput (large, TCP and QUIC); CPU ≤ 1.5× rsync's; receiver RSS ≤ 100 MiB. ")
	b.WriteString("rsync --fsync is rsync making every file durable, as fieldsync does with every leaf it keeps. The last two columns are the raw libp2p stream ÷ rsync: what the encrypted transport alone costs, writing nothing to disk, against rsync's unencrypted one, the floor under any sync over it. For the large blob, ÷ durable is fieldsync's throughput ÷ the raw libp2p stream's whose receiver writes to a file and fsyncs it: the floor for a receiver that keeps what it gets, as fieldsync does and rsync does not. For bulk and the large blob, ÷ verified is against the raw stream whose receiver also hashes every 1 MiB leaf (SHA-256) and writes it straight to the disk (O_DIRECT) beside the reading, then fsyncs once: the least a receiver that checks every leaf before it keeps it must do, so what fieldsync takes beyond it is its protocol, its store and its records; the last three columns are that verified stream against rsync and against the raw stream: the floor under any sync that checks and keeps every leaf.\n\n")
	b.WriteString("| scenario | runs | time ÷ rsync | time ÷ rsync --fsync | CPU ÷ rsync | receiver peak RSS | ÷ rsync's | throughput ÷ raw libp2p (TCP) | CPU ÷ raw libp2p (TCP) | ÷ durable (TCP) | ÷ verified (TCP) | CPU ÷ verified (TCP) | throughput ÷ raw libp2p (QUIC) | CPU ÷ raw libp2p (QUIC) | raw libp2p time ÷ rsync | raw libp2p CPU ÷ rsync | verified time ÷ rsync | verified CPU ÷ rsync | verified ÷ raw libp2p (throughput) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
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
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(row.title), row.runs, row.time, row.rsyncFsync, row.cpu, rss, row.rssX, row.rawP2P, row.rawCPU, row.durable, row.verified, row.verifiedCPU, row.quicP2P, row.quicCPU, row.floor, row.floorCPU, row.vFloor, row.vFloorCPU, row.vRaw)
	}
}

// writeFirstOriginal writes the weak links' first-original table (issue
// 18), if any fieldsync run measured it.
func (r *Report) writeFirstOriginal(b *strings.Builder) {
	var rows []string
	for _, s := range r.Scenarios {
		f := s.find(ToolFieldsync, "")
		if f == nil || f.Status != StatusOK || f.FirstOriginalSeconds <= 0 || s.LinkRate <= 0 {
			continue
		}
		own := float64(f.FirstOriginalBytes) / s.LinkRate
		after := f.FirstOriginalSeconds - f.PreviewsSeconds
		tot := "–"
		if rs := s.ok(ToolRsync, ""); rs != nil {
			tot = fmt.Sprintf("%s (%s; rsync %s)", ratio(f.Seconds, rs.Seconds), secs(f.Seconds), secs(rs.Seconds))
		}
		name := s.Title
		if s.Repeat > 0 {
			name += fmt.Sprintf(" (repeat %d)", s.Repeat)
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s |\n", cell(name), secs(f.PreviewsSeconds), secs(f.FirstOriginalSeconds), mib(f.FirstOriginalBytes), secs(own), fmtRatio(after/own), tot))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n### First original on a weak link (issue 18)\n\n")
	b.WriteString("From the receiver's store (polled every 20 ms; a blob file appears only complete and verified), seconds since sync started: when every thumbnail and preview was present, and when the first original was complete. ")
	b.WriteString("The ratio is (first original − previews all in) ÷ (that original's bytes ÷ the link rate); goal ≤ 1.5×. ")
	b.WriteString("Total is fieldsync's time ÷ rsync's in the same scenario (rsync moves the same files: the originals and the variants' bytes); goal ≤ 1.02×.\n\n")
	b.WriteString("| scenario | previews all in | first original complete | its size | its bytes ÷ link rate | ratio | total ÷ rsync |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range rows {
		b.WriteString(l)
	}
}

// writeImport writes the import table (issue 18), if the import scenario
// ran.
func (r *Report) writeImport(b *strings.Builder) {
	var rows []string
	for _, s := range r.Scenarios {
		im, ref := s.Import, s.ImportReference
		if im == nil || ref == nil || im.Files == 0 || ref.Files == 0 || im.Seconds <= 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %d | %.0f | %.1f ms | %.1f ms | %s | %s | %s |\n", cell(s.Data), im.Files, s.Blobs,
			float64(s.Blobs)/im.Seconds, 1000*im.Usage.CPUSeconds/float64(im.Files), 1000*ref.Usage.CPUSeconds/float64(ref.Files),
			ratio(im.Usage.CPUSeconds/float64(im.Files), ref.Usage.CPUSeconds/float64(ref.Files)), ratio(im.Seconds, ref.Seconds), mib(im.Usage.MaxRSS)))
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n### Import (issue 18)\n\n")
	b.WriteString("'fieldsync import' of the photos into a new project (variants, CIDs, the store, records), against the naive per-photo pipeline in the same run on the same files ")
	b.WriteString("(full image/jpeg decode, Lanczos fits to the preview and thumbnail boxes, two encodes, sha256 of the original; nothing stored), one worker per CPU. CPU is user + system.\n\n")
	b.WriteString("| data | photos | blobs | blobs/s | CPU per photo | naive CPU per photo | CPU ÷ naive | time ÷ naive | import peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range rows {
		b.WriteString(l)
	}
}
