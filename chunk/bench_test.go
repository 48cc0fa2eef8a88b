package chunk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSum reports chunk.Sum throughput over 256 MiB in memory as a
// ratio against crypto/sha256 over the same bytes in the same run
// (x_sha256 ≥ 1 means faster than one plain sha256 pass).
func BenchmarkSum(b *testing.B) {
	data, _ := io.ReadAll(newSeedReader("bench", 256<<20))
	b.SetBytes(int64(len(data)))
	var ref, ours time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		_ = sha256.Sum256(data)
		ref += time.Since(t0)
		t0 = time.Now()
		if _, err := Sum(context.Background(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
	}
	b.ReportMetric(float64(ref)/float64(ours), "x_sha256")
	b.ReportMetric(float64(len(data))*float64(b.N)/ours.Seconds()/1e6, "MB/s")
}

// TestSumMemoryBound hashes a 2 GiB stream in a child process and checks
// its peak RSS stays under 64 MiB.
func TestSumMemoryBound(t *testing.T) {
	if os.Getenv("CHUNK_MEM_CHILD") == "1" {
		s, err := Sum(context.Background(), newSeedReader("mem", 2<<30))
		if err != nil {
			t.Fatal(err)
		}
		status, _ := os.ReadFile("/proc/self/status")
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				os.Stdout.WriteString("HWM " + strings.Fields(line)[1] + " " + s.Root.String() + "\n")
			}
		}
		return
	}
	if testing.Short() {
		t.Skip("hashes 2 GiB: run without -short")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSumMemoryBound$", "-test.v")
	cmd.Env = append(os.Environ(), "CHUNK_MEM_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "HWM" {
			kb, _ := strconv.Atoi(f[1])
			t.Logf("peak RSS hashing 2 GiB: %d KiB", kb)
			if kb > 64<<10 {
				t.Fatalf("peak RSS %d KiB > 64 MiB", kb)
			}
			return
		}
	}
	t.Fatalf("no HWM line in child output:\n%s", out)
}
