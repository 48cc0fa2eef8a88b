// Package ui serves fieldsync's local web app: the project on a map, its
// photos in a gallery, each observation's history and variants (edit,
// delete and undo, a fork's versions side by side with "keep this one"),
// the sync live, the members (and blocking one), and a form to add
// observations from the browser. Field data (fielddata.go): the project's
// categories on the map and in the lists (icons, colors, a filter), an
// observation's category and field values added and edited (the node
// checks each value against its field), tracks drawn as lines, and the
// GeoJSON, CSV and GPX exports as downloads. Its words come from message catalogs,
// one file per language (static/i18n/CODE.json): adding a language is
// adding a file.
//
// The server is plain net/http. The front end is static files embedded in
// the binary (static/): our own small JavaScript, and Leaflet,
// leaflet.markercluster, topojson-client and world-atlas used unmodified,
// pinned and brought from the npm registry by vendor.sh. Nothing the page
// loads comes from another origin, and its Content-Security-Policy says so.
//
// Access: the URL printed at start carries a random token; the first
// request with it gets a session cookie. Every request needs that cookie
// (401 otherwise) and a Host header naming the address served (403
// otherwise, against DNS rebinding); a request that changes state also needs
// the CSRF token of /api/session. docs/ui.md has the whole HTTP API.
//
// Written by hand, because no well-kept library does it for this store: the
// MBTiles reader (a few SQL queries over modernc.org/sqlite) and the
// server-sent events hub.
package ui
