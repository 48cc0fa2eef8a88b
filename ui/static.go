package ui

import "embed"

// staticFS holds the front end: index.html, app.js, app.css and the
// vendored libraries (static/vendor, brought by vendor.sh).
//
//go:embed static
var staticFS embed.FS
