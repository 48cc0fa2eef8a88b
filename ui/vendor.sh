#!/usr/bin/env bash
# ui/vendor.sh: bring the pinned third-party front-end libraries of the web
# app from the npm registry into ui/static/vendor/, unmodified, each with its
# licence and its package.json, and write ui/static/vendor/SHA256SUMS.
#
# Run from anywhere: bash ui/vendor.sh   (needs npm and sha256sum)
# To change a version: edit PINS below, re-run, review the diff, commit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dest="$here/static/vendor"

# package@version  files to copy (paths inside the package, globs allowed)
PINS=(
  "leaflet@1.9.4|dist/leaflet.js dist/leaflet.css dist/images/*"
  "leaflet.markercluster@1.5.3|dist/leaflet.markercluster.js dist/MarkerCluster.css dist/MarkerCluster.Default.css"
  "topojson-client@3.1.0|dist/topojson-client.min.js"
  "world-atlas@2.0.2|countries-110m.json"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for pin in "${PINS[@]}"; do
  spec=${pin%%|*}
  files=${pin#*|}
  name=${spec%@*}
  version=${spec##*@}
  echo "vendor: $spec" >&2
  work="$tmp/$name"
  mkdir -p "$work"
  tarball=$(cd "$work" && npm pack --silent "$spec")
  tar -xzf "$work/$tarball" -C "$work"
  pkg="$work/package"
  got=$(node -p "require(process.argv[1]).version" "$pkg/package.json" 2>/dev/null ||
        sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -1)
  if [ "$got" != "$version" ]; then
    echo "vendor: $name: package.json says $got, pinned $version" >&2
    exit 1
  fi
  out="$dest/$name"
  rm -rf "$out"
  mkdir -p "$out"
  for pattern in $files; do
    found=0
    for f in "$pkg"/$pattern; do
      [ -f "$f" ] || continue
      rel=${f#"$pkg"/}
      mkdir -p "$out/$(dirname "$rel")"
      install -m 644 "$f" "$out/$rel"
      found=1
    done
    if [ "$found" = 0 ]; then
      echo "vendor: $spec has no $pattern" >&2
      exit 1
    fi
  done
  lic=""
  for l in LICENSE LICENSE.md LICENSE.txt LICENCE LICENCE.txt MIT-LICENCE.txt license; do
    if [ -f "$pkg/$l" ]; then lic=$l; break; fi
  done
  if [ -z "$lic" ]; then
    echo "vendor: $spec has no licence file" >&2
    exit 1
  fi
  install -m 644 "$pkg/$lic" "$out/$lic"
  install -m 644 "$pkg/package.json" "$out/package.json"
done

# Checksums of every vendored file (README.md and SHA256SUMS themselves excluded),
# paths relative to ui/static/vendor, sorted, so a Go test can check them.
(cd "$dest" && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' |
  LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
echo "vendor: wrote $dest/SHA256SUMS" >&2
