//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sampleReport is a small report with the shapes the bench produces: a
// scenario where fieldsync is behind rsync on time, one where it is ahead,
// a failed run, interruptions and a timeline.
func sampleReport() *Report {
	return &Report{
		Schema: SchemaVersion, Mode: "quick", Started: time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), Seconds: 200,
		Host: Host{CPUs: 2, GoVersion: "go1.26", Rsync: "rsync 3.4.1"},
		Scenarios: []*Scenario{
			{
				ID: "bulk", Title: "bulk, loopback", Link: "127.0.0.1", Data: "2 × 1 MiB", Scaled: "full mode: 200 × 1 MiB",
				Blobs: 2, BlobBytes: 2 << 20, Status: StatusOK,
				Import: &Import{Files: 2, Seconds: 0.5, Usage: ProcUsage{Role: "source: fieldsync import", CPUSeconds: 0.4, MaxRSS: 40 << 20}},
				Runs: []*Run{
					{Tool: ToolFieldsync, Status: StatusOK, Seconds: 3, WireDown: 2<<20 + 5000, WireUp: 100,
						Procs: []ProcUsage{{Role: "sender: fieldsync serve", CPUSeconds: 1, MaxRSS: 30 << 20}, {Role: "receiver: fieldsync sync", CPUSeconds: 1, MaxRSS: 35 << 20}}},
					{Tool: ToolRsync, Status: StatusOK, Seconds: 1, WireDown: 2 << 20, WireUp: 100,
						Procs: []ProcUsage{{Role: "sender: rsync --daemon", CPUSeconds: 0.1, MaxRSS: 5 << 20}, {Role: "receiver: rsync", CPUSeconds: 0.1, MaxRSS: 6 << 20}}},
					{Tool: ToolRaw, Status: StatusOK, Seconds: 0.5, WireDown: 2 << 20},
				},
			},
			{
				ID: "weak-2mbit", Title: "weak link 2 Mbit/s", Link: "toxiproxy", LinkRate: 250000, Data: "3 photos",
				Blobs: 9, BlobBytes: 3 << 20, ThumbFiles: 3, ThumbBytes: 90000, Status: StatusOK,
				Runs: []*Run{
					{Tool: ToolFieldsync, Status: StatusOK, Seconds: 12, ThumbsSeconds: 0.9, WireDown: 3 << 20,
						Timeline: &Timeline{Wanted: map[string]int64{"thumbnails": 90000, "previews": 500000, "originals": 2500000}, Records: 4,
							Points: []Point{
								{T: 1, Records: 4, Done: map[string]int64{"thumbnails": 90000, "previews": 100000}},
								{T: 6, Records: 4, Done: map[string]int64{"thumbnails": 90000, "previews": 500000, "originals": 1000000}},
								{T: 12, Records: 4, Done: map[string]int64{"thumbnails": 90000, "previews": 500000, "originals": 2500000}},
							}}},
					{Tool: ToolRsync, Status: StatusOK, Seconds: 13, WireDown: 3<<20 + 10},
					{Tool: ToolRaw, Status: StatusOK, Seconds: 11.8, WireDown: 3 << 20},
				},
			},
			{
				ID: "interrupt", Title: "cuts and kills", Link: "toxiproxy", Status: StatusFailed, BlobBytes: 10 << 20,
				Runs: []*Run{
					{Tool: ToolFieldsync, Phase: "cuts", Status: StatusFailed, Error: "sync exit 1: boom", Cuts: 5, Attempts: 3, WireDown: 12 << 20},
					{Tool: ToolRsync, Phase: "cuts", Status: StatusOK, Seconds: 9, Cuts: 5, Attempts: 6, WireDown: 11 << 20},
					{Tool: ToolFieldsync, Phase: "kills", Status: StatusOK, Seconds: 8, Kills: 2, Attempts: 3, Refetched: 1, WireDown: 10<<20 + 1<<19},
					{Tool: ToolRsync, Phase: "kills", Status: StatusOK, Seconds: 8.5, Kills: 2, Attempts: 3, WireDown: 13 << 20},
				},
			},
		},
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"**Quick mode: the scenarios are scaled down**",
		"*quick: full mode: 200 × 1 MiB*",
		// behind on time and bytes, said plainly in the table and the list
		"**behind rsync on time: 3.00× rsync's**",
		"**behind rsync on bytes: 1.002× rsync's**",
		"- bulk, loopback: fieldsync took 3.00 s, rsync 1.00 s (3.00× rsync's time)",
		"- bulk, loopback: fieldsync used 2.00 s CPU (both devices), rsync 0.20 s (10.0×)",
		"- bulk, loopback: fieldsync's largest process peaked at 35.0 MiB RSS",
		"- cuts and kills (cuts): fieldsync failed (sync exit 1: boom) where rsync finished in 9.00 s",
		// ahead where it is ahead
		"ahead on time: 0.92× rsync's",
		// thumbnails against bytes ÷ rate: 90000 / 250000 = 0.36 s
		"| weak link 2 Mbit/s | 3 files, 87.9 KiB | 0.90 s | 0.36 s | 2.50× | 12.0 s |",
		// interruptions: bytes per blob byte
		"| cuts and kills | fieldsync (kills) | 0 | 2 | 3 | 8.00 s | 1.050 | 1 |",
		"| cuts and kills | rsync (cuts) | 5 | 0 | 6 | 9.00 s | 1.100 | – |",
		"| bulk, loopback | fieldsync | source: fieldsync import | 0.50 s | 0.40 s | 40.0 MiB |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "weak link 2 Mbit/s: fieldsync took") {
		t.Error("fieldsync was ahead on the weak link but is listed as behind")
	}
	// Every table row has as many cells as its header.
	var cols int
	for _, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "|") {
			cols = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|")
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("row has %d separators, header %d: %s", n, cols, l)
		}
	}
}

func TestNothingBehind(t *testing.T) {
	r := sampleReport()
	r.Scenarios = r.Scenarios[1:2]
	var b bytes.Buffer
	r.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "### Where fieldsync is behind rsync\n\nNowhere in this run.") {
		t.Errorf("no 'nowhere' line:\n%s", b.String())
	}
}

// TestJSONSchema pins the JSON field names scripts read.
func TestJSONSchema(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["schema"] != "fieldbench/1" {
		t.Errorf("schema %v", m["schema"])
	}
	for _, k := range []string{"mode", "started", "seconds", "host", "scenarios"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	sc := m["scenarios"].([]any)[1].(map[string]any)
	for _, k := range []string{"id", "title", "link", "link_rate_bytes_per_s", "data", "blobs", "blob_bytes", "thumbnail_files", "thumbnail_bytes", "status", "runs"} {
		if _, ok := sc[k]; !ok {
			t.Errorf("scenario lacks %q", k)
		}
	}
	run := sc["runs"].([]any)[0].(map[string]any)
	for _, k := range []string{"tool", "status", "seconds", "wire_bytes_down", "wire_bytes_up", "thumbnails_s", "timeline"} {
		if _, ok := run[k]; !ok {
			t.Errorf("run lacks %q", k)
		}
	}
	tl := run["timeline"].(map[string]any)
	p := tl["points"].([]any)[0].(map[string]any)
	for _, k := range []string{"t", "records", "bytes_done"} {
		if _, ok := p[k]; !ok {
			t.Errorf("timeline point lacks %q", k)
		}
	}
	proc := m["scenarios"].([]any)[0].(map[string]any)["runs"].([]any)[0].(map[string]any)["procs"].([]any)[0].(map[string]any)
	for _, k := range []string{"role", "wall_s", "cpu_s", "max_rss_bytes", "rusage_max_rss_bytes"} {
		if _, ok := proc[k]; !ok {
			t.Errorf("proc lacks %q", k)
		}
	}
	// And it reads back as the same report.
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Scenarios[1].Runs[0].Timeline.Points[2].Done["originals"] != 2500000 {
		t.Error("timeline did not survive the round trip")
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtRatio(1.001), "1.001×"}, {fmtRatio(1.0002), "1.0002×"}, {fmtRatio(1), "1.000×"}, {fmtRatio(2), "2.00×"}, {fmtRatio(12.34), "12.3×"}, {fmtRatio(250), "250×"},
		{ratio(1, 0), "–"}, {secs(0.123), "0.12 s"}, {secs(12.34), "12.3 s"}, {secs(123.4), "123 s"},
		{mib(512), "0.5 KiB"}, {mib(3 << 20), "3.0 MiB"}, {mib(512 << 20), "512 MiB"},
		{bitRate(250000), "2 Mbit/s"}, {bitRate(62500), "500 kbit/s"}, {cell("a|b\nc"), `a\|b c`},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// TestIssue18Tables: the large blob's ratios to the raw streams (TCP,
// durable, verified, QUIC) and of the raw stream to rsync, the weak link's first
// original and the import against the naive pipeline.
func TestIssue18Tables(t *testing.T) {
	r := sampleReport()
	w := r.Scenarios[1]
	w.Runs[0].PreviewsSeconds, w.Runs[0].FirstOriginalSeconds, w.Runs[0].FirstOriginalBytes = 4, 7, 500000 // 2 s at 250 kB/s
	r.Scenarios = append(r.Scenarios,
		&Scenario{ID: "large", Title: "one large blob, loopback", Status: StatusOK, Runs: []*Run{
			{Tool: ToolFieldsync, Status: StatusOK, Seconds: 2, Procs: []ProcUsage{{Role: "receiver: fieldsync sync", CPUSeconds: 1}}},
			{Tool: ToolRsync, Status: StatusOK, Seconds: 1, Procs: []ProcUsage{{Role: "receiver: rsync", CPUSeconds: 0.5}}},
			{Tool: ToolRsync, Phase: PhaseDurable, Status: StatusOK, Seconds: 1.6, Procs: []ProcUsage{{Role: "receiver: rsync", CPUSeconds: 0.5}}},
			{Tool: ToolRawP2P, Status: StatusOK, Seconds: 1, Procs: []ProcUsage{{Role: "receiver: raw-p2p-recv", CPUSeconds: 0.5}}},
			{Tool: ToolRawP2P, Phase: PhaseDurable, Status: StatusOK, Seconds: 1.6, Procs: []ProcUsage{{Role: "receiver: raw-p2p-recv", CPUSeconds: 0.7}}},
			{Tool: ToolRawP2P, Phase: PhaseVerified, Status: StatusOK, Seconds: 1.5, Procs: []ProcUsage{{Role: "receiver: raw-p2p-recv", CPUSeconds: 0.8}}},
			{Tool: ToolFieldsync, Phase: PhaseQUIC, Status: StatusOK, Seconds: 4, Procs: []ProcUsage{{Role: "receiver: fieldsync sync", CPUSeconds: 2}}},
			{Tool: ToolRawP2P, Phase: PhaseQUIC, Status: StatusOK, Seconds: 3, Procs: []ProcUsage{{Role: "receiver: raw-p2p-recv", CPUSeconds: 1}}},
		}},
		&Scenario{ID: "import", Title: "import of small photos", Data: "10 photos", Blobs: 30, Status: StatusOK,
			Import:          &Import{Files: 10, Seconds: 2, Usage: ProcUsage{CPUSeconds: 1}},
			ImportReference: &Import{Files: 10, Seconds: 4, Usage: ProcUsage{CPUSeconds: 4}}},
	)
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| one large blob, loopback | 1 | 2.00× | 1.25× | 2.00× | 0.0 KiB | – | 0.50× | 2.00× | 0.80× | 0.75× | 1.25× | 0.75× | 2.00× | 1.000× | 1.000× | 1.50× | 1.60× | 0.67× |",
		"| weak link 2 Mbit/s | 4.00 s | 7.00 s | 488.3 KiB | 2.00 s | 1.50× | 0.92× (12.0 s; rsync 13.0 s) |",
		"| 10 photos | 10 | 30 | 15 | 100.0 ms | 400.0 ms | 0.25× | 0.50× |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
