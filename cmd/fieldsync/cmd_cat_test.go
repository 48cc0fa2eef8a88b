package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
)

// TestCatRecordFields: cat of an observation's record prints its field
// values as they are written (a text, a number, a list), not as Go's
// inner form of a value.
func TestCatRecordFields(t *testing.T) {
	data := filepath.Join(t.TempDir(), "d")
	if code, _, errOut := run(t, "", "init", "--data", data, "--project", "p"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := run(t, "", "categories", "import", "--data", data, categoryFile); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := run(t, "", "add", "--data", data, "--json", "--category", "river-crossing", "--field", "depth=1.2",
		"--field", "crossing_type=Canoe", "--field", "uses=fishing;school", "--field", "who=Ana", "--lat", "-0.1", "--lon", "-67")
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	var added map[string]string
	json.Unmarshal([]byte(out), &added)
	code, out, errOut = run(t, "", "cat", "--data", data, added["record"])
	if code != 0 {
		t.Fatalf("cat: %d %s", code, errOut)
	}
	var rec struct {
		Observation struct{ Fields map[string]any }
	}
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("cat: %v\n%s", err, out)
	}
	want := map[string]any{"depth": 1.2, "crossing_type": "canoe", "uses": []any{"fishing", "school"}, "who": "Ana"}
	got, _ := json.Marshal(rec.Observation.Fields)
	wantJ, _ := json.Marshal(want)
	if string(got) != string(wantJ) {
		t.Fatalf("cat's fields %s, want %s\n%s", got, wantJ, out)
	}
}
