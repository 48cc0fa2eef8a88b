package chunk

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubo compares CIDs with Kubo's `ipfs add --only-hash` under the
// unixfs-v1-2025 profile on random sizes, when an `ipfs` binary is on the
// PATH (skipped otherwise). The fixed vectors in testdata/vectors come from
// the same tool; this covers sizes nobody chose.
func TestKubo(t *testing.T) {
	ipfs, err := exec.LookPath("ipfs")
	if err != nil {
		t.Skip("no ipfs (Kubo) on the PATH")
	}
	repo := t.TempDir()
	env := append(os.Environ(), "IPFS_PATH="+repo)
	for _, args := range [][]string{{"init", "--profile=test", "-e"}, {"config", "profile", "apply", "unixfs-v1-2025"}} {
		cmd := exec.Command(ipfs, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ipfs %v: %v\n%s", args, err, out)
		}
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	sizes := []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + rng.IntN(ChunkSize)}
	for i := 0; i < 4; i++ {
		sizes = append(sizes, rng.IntN(12*ChunkSize))
	}
	dir := t.TempDir()
	for _, n := range sizes {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		path := filepath.Join(dir, "f")
		os.WriteFile(path, data, 0o644)
		cmd := exec.Command(ipfs, "add", "-Q", "--only-hash", "--offline", path)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipfs add: %v", err)
		}
		s, err := Sum(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); s.Root.String() != want {
			t.Errorf("%d bytes: %s, Kubo says %s", n, s.Root, want)
		}
	}
}
