package ui

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/node"
)

// semicolonPresets is a presets file whose select-many field has options
// holding ";" (a value and a label), besides plain ones.
const semicolonPresets = `{
	"fields": {
		"catch": {"key": "catch", "label": "Catch", "type": "select_multiple",
			"options": ["fish;shrimp", {"value": "crab", "label": "Crab; small"}, "eel"]}
	},
	"presets": {
		"landing": {"name": "Landing", "geometry": ["point"], "fields": ["catch"], "tags": {"landing": "yes"}}
	}
}`

// TestSelectManySemicolon: the web app sends a select many's options one
// by one (a form part each on upload, a JSON array on edit); an option
// holding ";" arrives whole, beside others, and round-trips.
func TestSelectManySemicolon(t *testing.T) {
	ctx := context.Background()
	d := newDevice(t)
	presets := filepath.Join(t.TempDir(), "presets.json")
	os.WriteFile(presets, []byte(semicolonPresets), 0o600)
	if _, err := d.ImportCategories(ctx, presets, node.CategoryImportOptions{}); err != nil {
		t.Fatal(err)
	}
	_, c := serve(t, Config{Node: d})
	code, out := c.multiUpload(t, [][2]string{{"category", "landing"}, {"notes", "n"},
		{"field.catch", "fish;shrimp"}, {"field.catch", "crab"}, {"field.catch", "eel"}}, nil)
	if code != 201 {
		t.Fatalf("upload: %d %v", code, out)
	}
	o := out["observation"].(map[string]any)
	if got := toStrings(o["fields"].(map[string]any)["catch"]); !slices.Equal(got, []string{"fish;shrimp", "crab", "eel"}) {
		t.Fatalf("uploaded catch %q", got)
	}
	id := o["id"].(string)
	code, out = c.do(t, "PATCH", "/api/observations/"+id, map[string]any{"fields": map[string]any{"catch": []string{"eel", "Crab; small", "fish;shrimp"}}})
	if code != 200 {
		t.Fatalf("edit: %d %v", code, out)
	}
	if got := toStrings(out["observation"].(map[string]any)["fields"].(map[string]any)["catch"]); !slices.Equal(got, []string{"fish;shrimp", "crab", "eel"}) {
		t.Fatalf("edited catch %q", got)
	}
	// One part separated by ";", as the API has always taken it.
	code, out = c.multiUpload(t, [][2]string{{"category", "landing"}, {"field.catch", "eel; crab"}}, nil)
	if code != 201 || !slices.Equal(toStrings(out["observation"].(map[string]any)["fields"].(map[string]any)["catch"]), []string{"crab", "eel"}) {
		t.Fatalf("one part separated by ;: %d %v", code, out)
	}
	// An option the field does not have is still refused, by its name.
	code, out = c.do(t, "PATCH", "/api/observations/"+id, map[string]any{"fields": map[string]any{"catch": []string{"eel", "fish"}}})
	if msg, _ := out["error"].(string); code != 400 || !strings.Contains(msg, `"fish" is not one of its options`) {
		t.Fatalf("bad option: %d %v", code, out)
	}
}
