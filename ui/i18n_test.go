package ui

import (
	"encoding/json"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// catalogs reads every embedded message catalog, by language code.
func catalogs(t *testing.T) map[string]map[string]string {
	t.Helper()
	files, err := fs.Glob(staticFS, "static/i18n/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(staticFS, f)
		if err != nil {
			t.Fatal(err)
		}
		var cat map[string]string
		if err := json.Unmarshal(b, &cat); err != nil {
			t.Fatalf("%s: not a flat JSON object of strings: %v", f, err)
		}
		out[strings.TrimSuffix(path.Base(f), ".json")] = cat
	}
	return out
}

var placeholder = regexp.MustCompile(`\{(\w+)\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Every catalog has exactly the keys of en.json, none empty, each with
// the placeholders of its English text: a catalog cannot lack a word or
// drop a {name} the page fills in.
func TestCatalogs(t *testing.T) {
	cats := catalogs(t)
	en := cats["en"]
	if len(en) < 100 {
		t.Fatalf("en.json has %d keys", len(en))
	}
	for _, want := range []string{"en", "es", "pt"} {
		if cats[want] == nil {
			t.Errorf("no catalog %s.json", want)
		}
	}
	for code, cat := range cats {
		for k, v := range cat {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s.json: %q is empty", code, k)
			}
			ev, ok := en[k]
			if !ok {
				t.Errorf("%s.json: %q is not in en.json", code, k)
				continue
			}
			if got, want := placeholders(v), placeholders(ev); !slices.Equal(got, want) {
				t.Errorf("%s.json: %q has placeholders %v, en.json %v", code, k, got, want)
			}
		}
		for k := range en {
			if _, ok := cat[k]; !ok {
				t.Errorf("%s.json lacks %q", code, k)
			}
		}
		if code != "en" && cat[languageNameKey] == en[languageNameKey] {
			t.Errorf("%s.json: %s is still %q", code, languageNameKey, cat[languageNameKey])
		}
	}
}

// The page uses only keys en.json has, and en.json has no key the page
// does not use. app.js names every key as a literal, t('key', ...);
// index.html in data-i18n and data-i18n-ATTR attributes.
func TestCatalogKeysUsed(t *testing.T) {
	en := catalogs(t)["en"]
	js, err := fs.ReadFile(staticFS, "static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	html, err := fs.ReadFile(staticFS, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	literal := regexp.MustCompile(`(?:^|[^\w.$])t\(\s*'([^'\\]+)'`)
	for _, m := range literal.FindAllSubmatch(js, -1) {
		used[string(m[1])] = true
	}
	// Every call names its key as a literal; the only others are t's
	// definition and htmlWord, which passes index.html's keys (checked
	// below) through.
	for _, m := range regexp.MustCompile(`(?:^|[^\w.$])(t\(\s*)`).FindAllSubmatchIndex(js, -1) {
		rest := string(js[m[2]:min(m[2]+40, len(js))])
		arg := strings.TrimLeft(rest[2:], " \t\n")
		if strings.HasPrefix(arg, "'") || strings.HasPrefix(rest, "t(key, params) {") || strings.HasPrefix(rest, "t(key);") {
			continue
		}
		t.Errorf("app.js: a t( call whose key is not a literal string (%q): a test cannot check it", rest)
	}
	if len(used) < 100 {
		t.Errorf("found %d keys in app.js: the pattern misses them", len(used))
	}
	for _, m := range regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`).FindAllSubmatch(html, -1) {
		used[string(m[1])] = true
	}
	for k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("the page uses %q, which en.json lacks", k)
		}
	}
	for k := range en {
		if !used[k] && k != languageNameKey {
			t.Errorf("en.json has %q, which the page does not use", k)
		}
	}
}

// index.html holds no words of its own: every element with text takes
// it from the catalog (data-i18n), and so do its attributes that people
// read. Only the brand, fieldsync, is written out.
func TestIndexHasNoWords(t *testing.T) {
	b, err := fs.ReadFile(staticFS, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := regexp.MustCompile(`(?s)<!--.*?-->|<script.*?</script>|<head>.*?</head>`).ReplaceAllString(string(b), "")
	tag := regexp.MustCompile(`<[^>]*>`)
	locs := tag.FindAllStringIndex(html, -1)
	for i := 0; i+1 < len(locs); i++ {
		text := strings.TrimSpace(html[locs[i][1]:locs[i+1][0]])
		text = strings.Trim(text, "–· ")
		if text == "" || text == "fieldsync" {
			continue
		}
		t.Errorf("index.html: words %q after %s are not from the catalog", text, html[locs[i][0]:locs[i][1]])
	}
	if m := regexp.MustCompile(`\s(placeholder|aria-label|title|alt)="`).FindString(html); m != "" {
		t.Errorf("index.html: attribute%s…\" is not from the catalog (use data-i18n-…)", m)
	}
}

// GET /api/languages lists the embedded catalogs with their own names:
// adding a language is adding a file.
func TestLanguages(t *testing.T) {
	d := newDevice(t)
	_, c := serve(t, Config{Node: d})
	var got struct {
		Languages []struct{ Code, Name string }
		Default   string
	}
	c.getJSON(t, "/api/languages", 200, &got)
	want := map[string]string{"en": "English", "es": "Español", "pt": "Português (Brasil)"}
	if got.Default != "en" || len(got.Languages) != len(catalogs(t)) {
		t.Fatalf("languages %+v", got)
	}
	for _, l := range got.Languages {
		if w, ok := want[l.Code]; ok && l.Name != w {
			t.Errorf("language %s named %q, want %q", l.Code, l.Name, w)
		}
		delete(want, l.Code)
		r := c.get(t, "/static/i18n/"+l.Code+".json")
		if got := status(t, r); got != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("catalog %s: %d %s", l.Code, got, r.Header.Get("Content-Type"))
		}
	}
	if len(want) > 0 {
		t.Errorf("not listed: %v", want)
	}
	// A catalog that is not a flat object of strings, or has no name, is
	// refused when the server starts.
	bad := map[string]*staticFile{"i18n/en.json": {data: []byte(`{"language.name": "English"}`)}, "i18n/xx.json": {data: []byte(`{"a": {"b": "c"}}`)}}
	if _, err := languages(bad); err == nil || !strings.Contains(err.Error(), "xx.json") {
		t.Errorf("nested catalog: %v", err)
	}
	bad["i18n/xx.json"] = &staticFile{data: []byte(`{"a": "b"}`)}
	if _, err := languages(bad); err == nil || !strings.Contains(err.Error(), languageNameKey) {
		t.Errorf("catalog without a name: %v", err)
	}
}
