package seal

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/chunk"
)

// TestSealedCID checks that the sealed blob's leaves, as package chunk
// cuts them, are exactly its sealed leaves: each one is then checked by its
// CID on arrival, before any key is at hand, and opens alone.
func TestSealedCID(t *testing.T) {
	k := testKey(11)
	for _, n := range sizes {
		data := pseudo(uint64(n)+1, n)
		c := plainCID(t, data)
		sealed := sealAll(t, k, c, data)
		got, err := SealedCID(k, c, int64(n), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		sk, err := chunk.Sum(context.Background(), bytes.NewReader(sealed))
		if err != nil {
			t.Fatal(err)
		}
		if got != sk.Root {
			t.Fatalf("%d bytes: SealedCID %s, chunk.Sum of the sealed bytes %s", n, got, sk.Root)
		}
		if got == c {
			t.Fatalf("%d bytes: the sealed CID is the plain CID", n)
		}
		ls := sealedLeaves(sealed)
		if len(sk.Leaves) != len(ls) {
			t.Fatalf("%d bytes: chunk cuts %d leaves, the format %d", n, len(sk.Leaves), len(ls))
		}
		for i, l := range sk.Leaves {
			if l.Offset != int64(i)*LeafSealed || err != nil {
				t.Fatalf("leaf %d at %d", i, l.Offset)
			}
			if err := chunk.VerifyLeaf(l, ls[i]); err != nil {
				t.Fatalf("leaf %d: %v", i, err)
			}
		}
	}
}

// TestSha256sum checks what an auditor without our code or Kubo can do: a
// sealed blob of one leaf (every thumbnail, most previews) is named by
// the SHA-256 of its file, as sha256sum prints it; a larger one, leaf by
// leaf (split -b 1048576), by the SHA-256 of each leaf, listed in its
// skeleton.
func TestSha256sum(t *testing.T) {
	sum, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("no sha256sum on the PATH")
	}
	dir := t.TempDir()
	k := testKey(12)
	for _, n := range []int{0, 1000, LeafPlain, 2*LeafPlain + 5} {
		data := pseudo(uint64(n)+2, n)
		c := plainCID(t, data)
		sealed := sealAll(t, k, c, data)
		sk, err := chunk.Sum(context.Background(), bytes.NewReader(sealed))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range sealedLeaves(sealed) {
			path := filepath.Join(dir, fmt.Sprintf("leaf%d", i))
			if err := os.WriteFile(path, l, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(sum, path).Output()
			if err != nil {
				t.Fatal(err)
			}
			digest := sk.Leaves[i].CID.Hash()[2:] // sha2-256 multihash: 0x12 0x20 digest
			if got := strings.Fields(string(out))[0]; got != hex.EncodeToString(digest) {
				t.Fatalf("%d bytes, leaf %d: sha256sum %s, CID digest %x", n, i, got, digest)
			}
			if len(sk.Leaves) == 1 && sk.Root != sk.Leaves[0].CID {
				t.Fatalf("%d bytes: one leaf but the root is not the leaf", n)
			}
		}
	}
}

// TestKubo checks sealed CIDs against Kubo's `ipfs add --only-hash` under
// the unixfs-v1-2025 profile, as chunk's TestKubo does, when an `ipfs`
// binary is on the PATH (skipped otherwise).
func TestKubo(t *testing.T) {
	ipfs, err := exec.LookPath("ipfs")
	if err != nil {
		t.Skip("no ipfs (Kubo) on the PATH: sealed CIDs not checked against Kubo")
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
	dir := t.TempDir()
	k := testKey(13)
	for _, n := range sizes {
		data := pseudo(uint64(n)+3, n)
		c := plainCID(t, data)
		path := filepath.Join(dir, "sealed")
		if err := os.WriteFile(path, sealAll(t, k, c, data), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(ipfs, "add", "-Q", "--only-hash", "--offline", path)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ipfs add: %v", err)
		}
		got, err := SealedCID(k, c, int64(n), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSpace(string(out)); got.String() != want {
			t.Errorf("%d plain bytes: sealed CID %s, Kubo says %s", n, got, want)
		}
	}
}
