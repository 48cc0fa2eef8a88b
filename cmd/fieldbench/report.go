//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// SchemaVersion names the JSON file's shape. Bump it when a field changes
// meaning or goes away; adding fields keeps it.
const SchemaVersion = "fieldbench/1"

// Report is the JSON file fieldbench writes (results.json): one run of the
// bench, every scenario, every tool.
type Report struct {
	Schema    string      `json:"schema"`
	Mode      string      `json:"mode"` // "quick" or "full"
	Started   time.Time   `json:"started"`
	Seconds   float64     `json:"seconds"`
	Host      Host        `json:"host"`
	Notes     []string    `json:"notes,omitempty"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Host describes the machine and the software under test.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
	Kernel    string `json:"kernel,omitempty"`
	Rsync     string `json:"rsync,omitempty"`
	Commit    string `json:"fieldsync_commit,omitempty"`
	// Load is /proc/loadavg's first three fields at the start and the end:
	// the machine may be shared, and timings move with its load.
	LoadStart string `json:"load_start,omitempty"`
	LoadEnd   string `json:"load_end,omitempty"`
}

// Scenario statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Scenario is one situation (a data set on a link), run with each tool.
type Scenario struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Repeat numbers the runs of a scenario under --repeat (from 1; 0 when
	// it ran once).
	Repeat int    `json:"repeat,omitempty"`
	Link   string `json:"link"`
	// LinkRate is the link's rate in bytes per second; 0 means unlimited
	// (loopback).
	LinkRate float64 `json:"link_rate_bytes_per_s"`
	Data     string  `json:"data"`
	// Scaled says what --quick changed from the full scenario, if anything.
	Scaled string `json:"scaled,omitempty"`
	// Blobs and BlobBytes count what the receiver wants: every blob of the
	// project (originals and variants), each once.
	Blobs      int     `json:"blobs"`
	BlobBytes  int64   `json:"blob_bytes"`
	ThumbFiles int     `json:"thumbnail_files,omitempty"`
	ThumbBytes int64   `json:"thumbnail_bytes,omitempty"`
	Status     string  `json:"status"`
	Note       string  `json:"note,omitempty"`
	Runs       []*Run  `json:"runs"`
	Import     *Import `json:"import,omitempty"`
	// ImportReference is the naive variants pipeline over the same files
	// (the import scenario).
	ImportReference *Import `json:"import_reference,omitempty"`
}

// Import is the source device's 'fieldsync import' of the scenario's files.
type Import struct {
	Files   int       `json:"files"`
	Seconds float64   `json:"seconds"`
	Usage   ProcUsage `json:"usage"`
}

// Tools.
const (
	ToolFieldsync = "fieldsync"
	ToolRsync     = "rsync"
	ToolRaw       = "raw TCP"
	ToolRawP2P    = "raw libp2p"
)

// PhaseQUIC is the large blob's runs over QUIC.
const PhaseQUIC = "quic"

// PhaseDurable is a reference that keeps what it receives durably, as
// fieldsync does and plain rsync does not: rsync with --fsync, and the raw
// libp2p stream (TCP) whose receiver writes to one file and fsyncs it at
// the end.
const PhaseDurable = "durable"

// PhaseVerified is the raw libp2p stream (TCP) whose receiver does the
// least that verifying and keeping every leaf needs: SHA-256 of each 1 MiB
// leaf as it arrives, the leaf written straight to the disk (O_DIRECT), one
// fsync at the end; fieldsync's receiver does that and also its protocol,
// its store's bookkeeping and its records.
const PhaseVerified = "verified"

const quicNote = "QUIC on 127.0.0.1 directly (the forwarder is TCP only): wire bytes not counted"

// Run is one tool moving the scenario's files once (possibly over several
// attempts: restarts after cuts or kills count in the same run).
type Run struct {
	Tool string `json:"tool"`
	// Phase tells runs of one tool apart within a scenario: "" for the
	// transfer, "nothing new" for the repeat with nothing to move, "cuts",
	// "kills", "2 sources". fieldsync is compared with rsync of the same
	// phase.
	Phase  string `json:"phase,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Seconds from the first start of the receiving side until it had
	// everything (for fieldsync: sync exited 0).
	Seconds float64 `json:"seconds"`
	// WireDown and WireUp are the bytes that crossed the link (TCP payload
	// counted by the bench's forwarder; on the netns link, veth frames).
	WireDown int64 `json:"wire_bytes_down"`
	WireUp   int64 `json:"wire_bytes_up"`
	// AppReceived is what the tool itself reports having received
	// (fieldsync's bytes_received, summed over attempts).
	AppReceived int64 `json:"app_bytes_received,omitempty"`
	// ThumbsSeconds is when every thumbnail was present (complete and
	// verified in the receiver's store), from the first start.
	ThumbsSeconds float64 `json:"thumbnails_s,omitempty"`
	// PreviewsSeconds is when every thumbnail and preview was present,
	// FirstOriginalSeconds when the first original was complete (of
	// FirstOriginalBytes), from the first start; fieldsync runs with a
	// timeline only.
	PreviewsSeconds      float64 `json:"previews_s,omitempty"`
	FirstOriginalSeconds float64 `json:"first_original_s,omitempty"`
	FirstOriginalBytes   int64   `json:"first_original_bytes,omitempty"`
	Cuts                 int     `json:"cuts,omitempty"`
	Kills                int     `json:"kills,omitempty"`
	Attempts             int     `json:"attempts,omitempty"`
	Refetched            int     `json:"leaves_refetched,omitempty"`
	// PeerBytes is, with several sources, the bytes received from each.
	PeerBytes map[string]int64 `json:"peer_bytes,omitempty"`
	Procs     []ProcUsage      `json:"procs,omitempty"`
	Timeline  *Timeline        `json:"timeline,omitempty"`
	Note      string           `json:"note,omitempty"`
}

// ProcUsage is one device process's cost: CPU from wait4's rusage (which
// includes the children it reaped, e.g. rsync's forks), peak memory from
// /proc.
type ProcUsage struct {
	Role       string  `json:"role"`
	WallS      float64 `json:"wall_s"`
	CPUSeconds float64 `json:"cpu_s"` // user + system
	// MaxRSS is the peak resident set of the device's largest process,
	// sampled from /proc (VmHWM) every 50 ms; RusageMaxRSS is wait4's
	// maxrss, which on Linux also counts the RSS of the process that
	// exec'ed the device (the bench), so it can be too high.
	MaxRSS       int64 `json:"max_rss_bytes"`
	RusageMaxRSS int64 `json:"rusage_max_rss_bytes"`
}

// Timeline is a fieldsync receiver's progress over time, from its
// 'sync --json' snapshots (one a second, plus the final one).
type Timeline struct {
	Wanted  map[string]int64 `json:"bytes_wanted"` // per class
	Records int              `json:"records"`      // records applied at the end
	Points  []Point          `json:"points"`
}

// Point is one snapshot: seconds since the first start, records applied,
// bytes done per class.
type Point struct {
	T       float64          `json:"t"`
	Records int              `json:"records"`
	Done    map[string]int64 `json:"bytes_done"`
}

// Classes, in the order fieldsync moves them.
var classes = []string{"thumbnails", "previews", "originals", "attachments"}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// find returns the run of tool and phase in s, or nil.
func (s *Scenario) find(tool, phase string) *Run {
	for _, r := range s.Runs {
		if r.Tool == tool && r.Phase == phase {
			return r
		}
	}
	return nil
}

// ok is s's run of tool in phase, if it succeeded.
func (s *Scenario) ok(tool, phase string) *Run {
	if r := s.find(tool, phase); r != nil && r.Status == StatusOK {
		return r
	}
	return nil
}

// behind lists, in plain words, every figure of s on which fieldsync did
// worse than rsync (time, bytes on the wire, bytes per blob byte, CPU,
// memory). Runs that failed are compared too: a failed fieldsync run
// beside a good rsync run is behind.
func (s *Scenario) behind() []string {
	var out []string
	for _, f := range s.Runs {
		if f.Tool != ToolFieldsync {
			continue
		}
		r := s.find(ToolRsync, f.Phase)
		if r == nil || r.Status != StatusOK {
			continue
		}
		what := s.Title
		if f.Phase != "" {
			what += " (" + f.Phase + ")"
		}
		if f.Status != StatusOK {
			out = append(out, fmt.Sprintf("%s: fieldsync failed (%s) where rsync finished in %s", what, f.Error, secs(r.Seconds)))
			continue
		}
		if f.Seconds > r.Seconds {
			out = append(out, fmt.Sprintf("%s: fieldsync took %s, rsync %s (%s rsync's time)", what, secs(f.Seconds), secs(r.Seconds), ratio(f.Seconds, r.Seconds)))
		}
		fw, rw := f.WireDown+f.WireUp, r.WireDown+r.WireUp
		if fw > rw && rw > 0 {
			out = append(out, fmt.Sprintf("%s: fieldsync put %s on the wire, rsync %s (%s)", what, mib(fw), mib(rw), ratio(float64(fw), float64(rw))))
		}
		fc, fm := totalCPU(f.Procs), maxRSS(f.Procs)
		rc, rm := totalCPU(r.Procs), maxRSS(r.Procs)
		if fc > rc && rc > 0 {
			out = append(out, fmt.Sprintf("%s: fieldsync used %s CPU (both devices), rsync %s (%s)", what, secs(fc), secs(rc), ratio(fc, rc)))
		}
		if fm > rm && rm > 0 {
			out = append(out, fmt.Sprintf("%s: fieldsync's largest process peaked at %s RSS, rsync's at %s (%s)", what, mib(fm), mib(rm), ratio(float64(fm), float64(rm))))
		}
	}
	return out
}

func totalCPU(ps []ProcUsage) float64 {
	var t float64
	for _, p := range ps {
		t += p.CPUSeconds
	}
	return t
}

func maxRSS(ps []ProcUsage) int64 {
	var m int64
	for _, p := range ps {
		m = max(m, p.MaxRSS)
	}
	return m
}

// WriteMarkdown renders the report's tables.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## fieldbench results (%s mode)\n\n", r.Mode)
	fmt.Fprintf(&b, "Run %s, %s; %d CPUs, %s", r.Started.UTC().Format("2006-01-02 15:04 MST"), secs(r.Seconds), r.Host.CPUs, r.Host.GoVersion)
	if r.Host.Kernel != "" {
		fmt.Fprintf(&b, ", Linux %s", r.Host.Kernel)
	}
	if r.Host.Rsync != "" {
		fmt.Fprintf(&b, ", %s", r.Host.Rsync)
	}
	if r.Host.Commit != "" {
		fmt.Fprintf(&b, ", fieldsync %s", r.Host.Commit)
	}
	b.WriteString(".")
	if r.Host.LoadStart != "" {
		fmt.Fprintf(&b, " Load average %s at the start", r.Host.LoadStart)
		if r.Host.LoadEnd != "" {
			fmt.Fprintf(&b, ", %s at the end", r.Host.LoadEnd)
		}
		b.WriteString(" (other work shares this machine; timings move with it).")
	}
	b.WriteString("\n")
	if r.Mode == "quick" {
		b.WriteString("**Quick mode: the scenarios are scaled down** (each says how in the scenario list); run without --quick for the full sizes.\n")
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}

	r.writeLoopbackRatios(&b)
	r.writeFirstOriginal(&b)
	r.writeImport(&b)

	b.WriteString("\n### Scenarios\n\n| scenario | link | data | status |\n|---|---|---|---|\n")
	for _, s := range r.Scenarios {
		data := s.Data
		if s.Scaled != "" {
			data += " — *quick: " + s.Scaled + "*"
		}
		st := s.Status
		if s.Note != "" {
			st += ": " + s.Note
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(s.Title), cell(s.Link), cell(data), cell(st))
	}

	b.WriteString("\n### Time to sync and bytes on the wire\n\n")
	b.WriteString("Wire bytes are both directions; ÷ blob is wire bytes over the bytes of the blobs the receiver wanted. ")
	b.WriteString("The last column compares fieldsync with rsync in the same scenario and says plainly where fieldsync is behind.\n\n")
	b.WriteString("| scenario | tool | time | on the wire (down + up) | ÷ blob | vs raw TCP | vs rsync |\n|---|---|---:|---:|---:|---:|---|\n")
	for _, s := range r.Scenarios {
		raw := s.find(ToolRaw, "")
		for _, run := range s.Runs {
			name := run.Tool
			if run.Phase != "" {
				name += " (" + run.Phase + ")"
			}
			t := secs(run.Seconds)
			if run.Status != StatusOK {
				t = "**" + run.Status + "**"
				if run.Error != "" {
					t += ": " + run.Error
				}
			}
			wire := fmt.Sprintf("%s + %s", mib(run.WireDown), mib(run.WireUp))
			per := "–"
			if s.BlobBytes > 0 && run.Phase != "nothing new" && run.WireDown+run.WireUp > 0 {
				per = fmt.Sprintf("%.3f", float64(run.WireDown+run.WireUp)/float64(s.BlobBytes))
			}
			vsRaw := "–"
			if raw != nil && raw != run && raw.Status == StatusOK && run.Status == StatusOK && run.Phase == "" {
				vsRaw = ratio(run.Seconds, raw.Seconds)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", cell(s.Title), cell(name), cell(t), wire, per, vsRaw, cell(versus(s, run)))
		}
	}

	var thumbs []*Scenario
	for _, s := range r.Scenarios {
		if f := s.find(ToolFieldsync, ""); f != nil && s.ThumbFiles > 0 && f.ThumbsSeconds > 0 {
			thumbs = append(thumbs, s)
		}
	}
	if len(thumbs) > 0 {
		b.WriteString("\n### Thumbnails first\n\n")
		b.WriteString("When every thumbnail was present on the receiver (complete and verified), from the start of sync, against the thumbnail bytes ÷ the link rate (the least time the link allows for them alone).\n\n")
		b.WriteString("| scenario | thumbnails | all present after | thumbnail bytes ÷ link rate | ratio | whole sync |\n|---|---:|---:|---:|---:|---:|\n")
		for _, s := range thumbs {
			f := s.find(ToolFieldsync, "")
			ideal, rat := "– (unlimited)", "–"
			if s.LinkRate > 0 {
				id := float64(s.ThumbBytes) / s.LinkRate
				ideal, rat = secs(id), ratio(f.ThumbsSeconds, id)
			}
			fmt.Fprintf(&b, "| %s | %d files, %s | %s | %s | %s | %s |\n", cell(s.Title), s.ThumbFiles, mib(s.ThumbBytes), secs(f.ThumbsSeconds), ideal, rat, secs(f.Seconds))
		}
	}

	var pngs []string
	for _, s := range r.Scenarios {
		if f := s.find(ToolFieldsync, ""); f != nil && f.Timeline != nil && len(f.Timeline.Points) > 0 {
			pngs = append(pngs, fmt.Sprintf("`timeline-%s.png` (%s)", s.ID, s.Title))
		}
	}
	if len(pngs) > 0 {
		fmt.Fprintf(&b, "\nTimelines (bytes arrived by class over time, from the receiver's `sync --json`), beside this file: %s; `timeline.png` is the 2 Mbit/s one.\n", strings.Join(pngs, ", "))
	}

	var intr []string
	for _, s := range r.Scenarios {
		for _, run := range s.Runs {
			if run.Cuts == 0 && run.Kills == 0 && run.Phase != "cuts" && run.Phase != "kills" {
				continue
			}
			name := run.Tool
			if run.Phase != "" {
				name += " (" + run.Phase + ")"
			}
			per := "–"
			if s.BlobBytes > 0 {
				per = fmt.Sprintf("%.3f", float64(run.WireDown)/float64(s.BlobBytes))
			}
			t := secs(run.Seconds)
			if run.Status != StatusOK {
				t = "**" + run.Status + "**"
			}
			ref := "–"
			if run.Tool == ToolFieldsync {
				ref = fmt.Sprint(run.Refetched)
			}
			intr = append(intr, fmt.Sprintf("| %s | %s | %d | %d | %d | %s | %s | %s |\n", cell(s.Title), cell(name), run.Cuts, run.Kills, run.Attempts, t, per, ref))
		}
	}
	if len(intr) > 0 {
		b.WriteString("\n### Interruptions\n\n")
		b.WriteString("Bytes received per byte of blob: downstream wire bytes over the blob bytes wanted (1.000 would be no overhead and nothing fetched twice).\n\n")
		b.WriteString("| scenario | tool | cuts | kills | attempts | time | bytes received per blob byte | leaves refetched |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range intr {
			b.WriteString(l)
		}
	}

	b.WriteString("\n### CPU and peak memory per device process\n\n")
	b.WriteString("CPU is user + system seconds from wait4's rusage (rsync's forked children included in their parent's). Peak RSS is the largest VmHWM of the process and its children, sampled every 50 ms: rusage's maxrss is in the JSON too, but on Linux it starts from the RSS of the process that exec'ed the device (the bench), so it overstates small processes.\n\n")
	b.WriteString("| scenario | tool | process | wall | CPU | peak RSS |\n|---|---|---|---:|---:|---:|\n")
	for _, s := range r.Scenarios {
		if s.Import != nil {
			fmt.Fprintf(&b, "| %s | fieldsync | %s | %s | %s | %s |\n", cell(s.Title), cell(s.Import.Usage.Role), secs(s.Import.Seconds), secs(s.Import.Usage.CPUSeconds), mib(s.Import.Usage.MaxRSS))
		}
		if ref := s.ImportReference; ref != nil {
			fmt.Fprintf(&b, "| %s | naive pipeline | %s | %s | %s | %s |\n", cell(s.Title), cell(ref.Usage.Role), secs(ref.Seconds), secs(ref.Usage.CPUSeconds), mib(ref.Usage.MaxRSS))
		}
		for _, run := range s.Runs {
			name := run.Tool
			if run.Phase != "" {
				name += " (" + run.Phase + ")"
			}
			for _, p := range run.Procs {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(s.Title), cell(name), cell(p.Role), secs(p.WallS), secs(p.CPUSeconds), mib(p.MaxRSS))
			}
		}
	}

	b.WriteString("\n### Where fieldsync is behind rsync\n\n")
	var all []string
	for _, s := range r.Scenarios {
		all = append(all, s.behind()...)
	}
	if len(all) == 0 {
		b.WriteString("Nowhere in this run.\n")
	}
	for _, l := range all {
		fmt.Fprintf(&b, "- %s\n", l)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// versus is the "vs rsync" cell for run.
func versus(s *Scenario, run *Run) string {
	if run.Tool != ToolFieldsync {
		return run.Note
	}
	r := s.find(ToolRsync, run.Phase)
	if r == nil {
		var parts []string
		if run.Note != "" {
			parts = append(parts, run.Note)
		} else {
			parts = append(parts, "no rsync run (rsync has no multi-source mode)")
		}
		for _, k := range sortedKeys(run.PeerBytes) {
			parts = append(parts, fmt.Sprintf("%s from %s", mib(run.PeerBytes[k]), k))
		}
		return strings.Join(parts, "; ")
	}
	if r.Status != StatusOK {
		return "rsync " + r.Status
	}
	if run.Status != StatusOK {
		return "**behind rsync: fieldsync " + run.Status + "**"
	}
	var parts []string
	tr := run.Seconds / r.Seconds
	switch {
	case run.Seconds > r.Seconds:
		parts = append(parts, fmt.Sprintf("**behind rsync on time: %s rsync's**", ratio(run.Seconds, r.Seconds)))
	default:
		parts = append(parts, fmt.Sprintf("ahead on time: %s rsync's", fmtRatio(tr)))
	}
	fw, rw := run.WireDown+run.WireUp, r.WireDown+r.WireUp
	if rw > 0 {
		if fw > rw {
			parts = append(parts, fmt.Sprintf("**behind rsync on bytes: %s rsync's**", ratio(float64(fw), float64(rw))))
		} else {
			parts = append(parts, fmt.Sprintf("bytes %s rsync's", ratio(float64(fw), float64(rw))))
		}
	}
	if run.Note != "" {
		parts = append(parts, run.Note)
	}
	return strings.Join(parts, "; ")
}

func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmtRatio(a / b)
}

func fmtRatio(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case x >= 100:
		return fmt.Sprintf("%.0f×", x)
	case x >= 10:
		return fmt.Sprintf("%.1f×", x)
	case x > 0.95 && x < 1.05:
		if s := fmt.Sprintf("%.3f", x); s != "1.000" || x == 1 {
			return s + "×"
		}
		return fmt.Sprintf("%.4f×", x) // not 1.000 when it is not 1
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func secs(s float64) string {
	switch {
	case s >= 100:
		return fmt.Sprintf("%.0f s", s)
	case s >= 10:
		return fmt.Sprintf("%.1f s", s)
	default:
		return fmt.Sprintf("%.2f s", s)
	}
}

func mib(n int64) string {
	switch {
	case n >= 100<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}

// cell escapes a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
