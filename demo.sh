#!/usr/bin/env bash
# The demo, saying what it does from the first second: build fieldsync into
# ./bin (the first build compiles go-libp2p and takes a couple of minutes;
# later ones take seconds), then run two devices on this machine.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { echo "demo.sh: Go 1.26 or newer is needed (https://go.dev/dl/)" >&2; exit 1; }
echo "== building fieldsync into ./bin/fieldsync (the first build compiles go-libp2p: about 2 minutes; then seconds) ..."
start=$(date +%s)
go build -o bin/fieldsync ./cmd/fieldsync
echo "   built in $(( $(date +%s) - start )) s"
echo "== running: bin/fieldsync demo $*"
exec bin/fieldsync demo "$@"
