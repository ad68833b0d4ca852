#!/usr/bin/env bash
# Times a large guide import through the running binary: 100 channels x 14 days of 30-minute
# programmes (67,200 programmes with Chinese text, +0800 offsets), first import and re-import.
# Usage: bench/epg-import.sh   (builds the release binary unless SKIP_BUILD=1)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release -q -p atoll
BIN=${ATOLL_BIN:-target/release/atoll}
TMP=$(mktemp -d)
PORT=${PORT:-18297}
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$TMP"' EXIT
# file guide sources are read from the guide directory only (default {data}/guides)
mkdir -p "$TMP/data/guides"
python3 - "$TMP/data/guides/guide.xml" <<'PY'
import sys, time, datetime
start = int(time.time()) // 1800 * 1800 - 86400
def t(s): return datetime.datetime.fromtimestamp(s + 8 * 3600, datetime.timezone.utc).strftime('%Y%m%d%H%M%S') + ' +0800'
out = ['<?xml version="1.0" encoding="UTF-8"?>', '<tv>']
out += [f'<channel id="ch{c}.cn"><display-name>频道 {c}</display-name></channel>' for c in range(100)]
for c in range(100):
    for k in range(14 * 48):
        a = start + k * 1800
        out.append(f'<programme start="{t(a)}" stop="{t(a + 1800)}" channel="ch{c}.cn"><title lang="zh">节目 {k} 第{c}频道</title>'
                   f'<desc lang="zh">这是一个很长的节目描述，用来测试大型指南的导入速度。Episode {k}.</desc><category>News</category></programme>')
out.append('</tv>')
open(sys.argv[1], 'w').write('\n'.join(out))
PY
ATOLL_ADMIN_PASSWORD=pw "$BIN" --data "$TMP/data" --http 127.0.0.1:$PORT --rtmp 127.0.0.1:$((PORT + 1)) >"$TMP/log" 2>&1 &
PID=$!
api() { curl -sf -u admin:pw -H 'Content-Type: application/json' "$@"; }
for _ in $(seq 50); do curl -sf -o /dev/null localhost:$PORT/healthz && break; sleep 0.2; done
for c in $(seq 0 99); do
  api -o /dev/null -X POST localhost:$PORT/api/channels -d "{\"id\":\"c$c\",\"name\":\"C $c\",\"sources\":[],\"active\":false,\"epg_id\":\"ch$c.cn\"}"
done
status() { api localhost:$PORT/api/epg/sources/1; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[sys.argv[1]])" "$1"; }
t0=$(date +%s.%N)
api -o /dev/null -X POST localhost:$PORT/api/epg/sources -d "{\"name\":\"big\",\"url\":\"guide.xml\"}"
until [ "$(status | field last_success)" != None ]; do sleep 0.05; done
t1=$(date +%s.%N)
first=$(status | field last_success)
api -o /dev/null -X POST localhost:$PORT/api/epg/sources/1/sync
until [ "$(status | field last_success)" != "$first" ]; do sleep 0.05; done
t2=$(date +%s.%N)
printf 'guide: %s bytes, %s programmes imported\n' "$(stat -c %s "$TMP/data/guides/guide.xml")" "$(status | field programmes_imported)"
printf 'first import: %.2f s   re-import (merge): %.2f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
