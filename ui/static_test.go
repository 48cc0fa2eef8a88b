package ui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The vendored libraries are the pinned ones, unmodified: every file
// matches the checksum vendor.sh wrote, and no file is unlisted.
func TestVendoredFiles(t *testing.T) {
	sums, err := fs.ReadFile(staticFS, "static/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		b, err := fs.ReadFile(staticFS, "static/vendor/"+name)
		if err != nil {
			t.Errorf("listed but missing: %s", name)
			continue
		}
		h := sha256.Sum256(b)
		if hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s differs from the pinned file (run ui/vendor.sh)", name)
		}
		listed[name] = true
	}
	fs.WalkDir(staticFS, "static/vendor", func(p string, d fs.DirEntry, err error) error {
		rel := strings.TrimPrefix(p, "static/vendor/")
		if err == nil && !d.IsDir() && !listed[rel] && rel != "SHA256SUMS" && rel != "README.md" {
			t.Errorf("%s is not in SHA256SUMS", rel)
		}
		return nil
	})
	if len(listed) < 8 {
		t.Errorf("only %d vendored files listed", len(listed))
	}
}

// Our own front-end files load nothing from another origin.
func TestNoRemoteURLs(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//|fetch\(\s*["'](https?:)?//|new\s+EventSource\(\s*["'](https?:)?//`)
	for _, name := range []string{"static/index.html", "static/app.js", "static/app.css"} {
		b, err := fs.ReadFile(staticFS, name)
		if err != nil {
			t.Fatal(err)
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s refers to another origin: %q", name, m)
		}
		if strings.HasSuffix(name, ".html") && (strings.Contains(string(b), "<script>") || strings.Contains(string(b), "style=")) {
			t.Errorf("%s has an inline script or style, which the CSP refuses", name)
		}
	}
}
