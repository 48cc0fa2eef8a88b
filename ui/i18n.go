package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
)

// The web app's words are in message catalogs, one file per language:
// static/i18n/CODE.json, a flat JSON object of keys to texts with
// {placeholders}. en.json is the reference every other catalog has the
// keys of. Adding a language is adding one file: the server lists the
// catalogs it embeds (GET /api/languages) and the page offers them.

// i18nDir is where the catalogs are, under static/.
const i18nDir = "i18n/"

// defaultLanguage is the catalog used when the browser asks for none of
// the others, and the one whose keys every catalog must have.
const defaultLanguage = "en"

// languageNameKey is the key of a catalog's language's own name
// ("Español"), shown in the page's language menu.
const languageNameKey = "language.name"

// language is one catalog: its code (the file's name, a BCP 47 tag such
// as "es" or "pt") and the language's own name.
type language struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// languages reads the embedded catalogs, sorted by code. Each must be a
// flat JSON object of strings with a language name.
func languages(static map[string]*staticFile) ([]language, error) {
	var out []language
	for p, f := range static {
		if !strings.HasPrefix(p, i18nDir) || path.Ext(p) != ".json" || strings.Contains(p[len(i18nDir):], "/") {
			continue
		}
		var cat map[string]string
		if err := json.Unmarshal(f.data, &cat); err != nil {
			return nil, fmt.Errorf("catalog %s: want a flat JSON object of strings: %w", p, err)
		}
		name := cat[languageNameKey]
		if name == "" {
			return nil, fmt.Errorf("catalog %s has no %q", p, languageNameKey)
		}
		out = append(out, language{Code: strings.TrimSuffix(p[len(i18nDir):], ".json"), Name: name})
	}
	slices.SortFunc(out, func(a, b language) int { return strings.Compare(a.Code, b.Code) })
	if !slices.ContainsFunc(out, func(l language) bool { return l.Code == defaultLanguage }) {
		return nil, fmt.Errorf("no catalog %s%s.json", i18nDir, defaultLanguage)
	}
	return out, nil
}

// handleLanguages lists the catalogs: {"languages": [{"code", "name"}…],
// "default": "en"}. The page loads /static/i18n/CODE.json.
func (s *Server) handleLanguages(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{"languages": s.langs, "default": defaultLanguage})
}
