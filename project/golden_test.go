package project

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

var update = flag.Bool("update", false, "rewrite testdata/records golden files")

// TestGoldenRecords pins the record encoding: the seed records (fixed keys,
// times and content; Ed25519 signatures are deterministic) must encode to
// the bytes in testdata/records, made by go test -run TestGoldenRecords
// -update. docs/records.md shows the same records.
func TestGoldenRecords(t *testing.T) {
	for i, r := range seedRecords(t) {
		name := []string{"genesis", "membership", "observation"}[i]
		path := filepath.Join("testdata", "records", name+".hex")
		diag, err := cbor.DiagOptions{ByteStringEncoding: cbor.ByteStringBase16Encoding}.DiagMode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := diag.Diagnose(r.Block)
		if err != nil {
			t.Fatal(err)
		}
		got := "# " + r.CID.String() + "\n# " + d + "\n" + hex.EncodeToString(r.Block) + "\n"
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s changed:\n%s", name, got)
		}
		// The golden bytes decode and verify.
		lines := strings.Split(strings.TrimSpace(string(want)), "\n")
		b, _ := hex.DecodeString(lines[len(lines)-1])
		if _, err := DecodeRecord(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
