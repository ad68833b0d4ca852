#!/bin/sh
# Prepares the npm-built web files for an offline build of Atoll:
#   web/dist.sh DIR            (on a machine with Node.js and the npm registry)
#   ATOLL_WEB_DIST=DIR cargo build --release    (anywhere, no Node, no network)
# DIR gets hls.min.js (pinned by web/package-lock.json) and package-lock.json (for the record).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
web=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
command -v npm >/dev/null || { echo "error: npm is needed to prepare $out (install Node.js and npm)" >&2; exit 1; }
if [ ! -f "$web/node_modules/hls.js/dist/hls.min.js" ]; then
  (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
fi
cp "$web/node_modules/hls.js/dist/hls.min.js" "$out/hls.min.js"
cp "$web/package-lock.json" "$out/package-lock.json"
echo "$out: hls.min.js ready; build with ATOLL_WEB_DIST=$out"
