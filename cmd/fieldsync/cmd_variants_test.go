package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldsync/fieldsync/chunk"
)

const photoDir = "../../testdata/photos"

func TestVariants(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v")
	code, stdout, stderr := run(t, "", "variants",
		filepath.Join(photoDir, "gps.jpg"), filepath.Join(photoDir, "orient-6.jpg"), "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"gps.jpg  image/jpeg 480×360", "orient-6.jpg  image/jpeg 96×64", "thumbnail  bafk", "preview    bafk"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	for _, f := range []string{"gps.thumb.jpg", "gps.preview.jpg", "orient-6.thumb.jpg", "orient-6.preview.jpg"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		sk, err := chunk.Sum(context.Background(), bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stdout, sk.Root.String()+"  ") {
			t.Errorf("%s: CID %s not printed", f, sk.Root)
		}
		if bytes.Contains(b, []byte("Exif")) {
			t.Errorf("%s carries EXIF", f)
		}
	}
	left, _ := filepath.Glob(filepath.Join(out, ".*")) // writeFileAtomic's temporary files
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestVariantsJSONAndUnsupported(t *testing.T) {
	out := t.TempDir()
	code, stdout, stderr := run(t, "", "variants", "--json", "--out", out,
		filepath.Join(photoDir, "other.heic"), filepath.Join(photoDir, "lossy.webp"), filepath.Join(photoDir, "bad-truncated.jpg"))
	if code != exitFailure {
		t.Fatalf("exit %d, want 1: %s", code, stderr)
	}
	if !strings.Contains(stderr, "2 of 3 files got no variants") {
		t.Errorf("stderr: %s", stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 JSON lines, got:\n%s", stdout)
	}
	var heic, webp, bad map[string]any
	for i, v := range []*map[string]any{&heic, &webp, &bad} {
		if err := json.Unmarshal([]byte(lines[i]), v); err != nil {
			t.Fatal(err)
		}
	}
	if heic["unsupported"] != true || !strings.Contains(heic["error"].(string), "no variants for this type: image/heic") {
		t.Errorf("heic: %v", heic)
	}
	if bad["unsupported"] != false || !strings.Contains(bad["error"].(string), "corrupt") {
		t.Errorf("truncated: %v", bad)
	}
	if webp["media_type"] != "image/webp" || webp["width"] != 480.0 {
		t.Errorf("webp: %v", webp)
	}
	th := webp["thumbnail"].(map[string]any)
	if st, err := os.Stat(th["path"].(string)); err != nil || st.Size() != int64(th["size"].(float64)) {
		t.Errorf("thumbnail file %v: %v", th, err)
	}
	if _, err := os.Stat(filepath.Join(out, "other.thumb.jpg")); err == nil {
		t.Error("variants written for an unsupported file")
	}
}

func TestVariantsStdinAndUsage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(photoDir, "anim.gif"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if code, _, stderr := run(t, string(data), "variants", "-", "--out", out); code != exitOK {
		t.Fatalf("stdin: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "stdin.preview.jpg")); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{
		{"variants"},
		{"variants", "--quality", "0", "x.jpg"},
		{"variants", "a/x.jpg", "b/x.png"},
		{"variants", "--nosuch", "x.jpg"},
	} {
		if code, _, _ := run(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, stdout, _ := run(t, "", "variants", "--help"); code != exitOK || !strings.Contains(stdout, "Exit codes:") {
		t.Errorf("--help: exit %d\n%s", code, stdout)
	}
	if code, _, stderr := run(t, "", "variants", "--out", out, filepath.Join(photoDir, "nosuch.jpg")); code != exitFailure || !strings.Contains(stderr, "nosuch.jpg") {
		t.Errorf("missing file: exit %d: %s", code, stderr)
	}
}
