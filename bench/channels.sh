#!/usr/bin/env bash
# Lean-channels benchmark (issue 17): N channels without viewers, fed by ONE light feeder process
# (`atoll-load feed`: one recorded 720p 2 Mbit/s stream replayed at real pace to every channel,
# looping with continuous timestamps), against Atoll and against nginx + nginx-rtmp (`hls on`)
# in the same run. Prints each server's CPU % (of one core) and RSS per N.
#
#   bench/channels.sh                        # N="20 50 100" DURATION=60
#   N=20 DURATION=20 WARMUP=10 bench/channels.sh     # quick check
#   SOAK=3600 bench/channels.sh              # Atoll only, at the largest N: RSS every minute
#   RESTART=1 N=100 bench/channels.sh        # Atoll only: restart with a 72 h archive index
#
# Atoll: a fresh data dir, the demo channel deleted, N channels created through the API — half
# `udp://127.0.0.1:PORT` sources (u1.., ports UDP_BASE..), half RTMP push with a publish key
# (r1.. with key k1..) — recording on or off per RECORD. nginx: libnginx-mod-rtmp (installed
# with apt-get when missing), 1 worker, `live on; hls on; hls_fragment 6s`, all N channels
# pushed over RTMP (nginx-rtmp takes no UDP). Each server is measured once every channel is
# live (Atoll: state "live" in /api/channels; nginx: every channel's HLS playlist written),
# after WARMUP seconds, over DURATION seconds: CPU % = its CPU time / wall time × 100 (all its
# processes: nginx master + worker), RSS = VmRSS at the end of the window (summed).
#
# RESTART=1 (Atoll only, at the largest N, recording on): once every channel is live, Atoll is
# stopped (SIGTERM), `archive-seed` (crates/archive, feature bench) indexes ARCHIVE_HOURS
# (default 72) of 6 s segments for every channel, ending a minute before the channels were
# created, and Atoll is started again on the same data while the feeder goes on. Printed: the
# seconds from the restart until /healthz answers, until every channel's catch-up playlist of
# the seeded last hour answers with segments, and until every channel is live again.
#
# After the table: Atoll's CPU over the same window by thread name (the archive writer, the
# segment-file writer, the async workers).
#
# Environment: N (list; default "20 50 100"), DURATION (default 60), WARMUP (default 20),
# RECORD (0/1; default 0), SERVERS ("atoll nginx"), SOAK (seconds; 0 = off), SEGMENT_SECONDS
# (Atoll's segment_seconds; default 6 as nginx's hls_fragment), ATOLL_TOML (more settings for
# Atoll's config file, e.g. ATOLL_TOML='archive_max_bytes = 20000000000' for a long recorded soak), ports HTTP_PORT, RTMP_PORT,
# NGINX_RTMP_PORT, UDP_BASE, SKIP_BUILD=1, ATOLL / LOAD (binaries; default target/release), KEEP_TMP=1, SERVER_CPUS / LOAD_CPUS (taskset lists;
# default: the server on CPU 0, the feeder and this script on the others; PIN=0 turns pinning
# off). PERF_RECORD=N: sample each server over the measured window and print its N hottest
# symbols (with their library).
set -euo pipefail

case ${1:-} in
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    "") ;;
    *) echo "bench/channels.sh takes no arguments (environment variables; see --help)" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NCPU=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPUS=${SERVER_CPUS:-0}
    LOAD_CPUS=${LOAD_CPUS:-1-$((NCPU - 1))}
    ON_SERVER=(taskset -c "$SERVER_CPUS")
    ON_LOAD=(taskset -c "$LOAD_CPUS")
    taskset -pc "$LOAD_CPUS" $$ >/dev/null
else
    ON_SERVER=()
    ON_LOAD=()
fi
NS=${N:-20 50 100}
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-20}
RECORD=${RECORD:-0}
SERVERS=${SERVERS:-atoll nginx}
SOAK=${SOAK:-0}
RESTART=${RESTART:-0}
ARCHIVE_HOURS=${ARCHIVE_HOURS:-72}
SEGMENT_SECONDS=${SEGMENT_SECONDS:-6}
HTTP_PORT=${HTTP_PORT:-18200}
RTMP_PORT=${RTMP_PORT:-11965}
NGINX_RTMP_PORT=${NGINX_RTMP_PORT:-11966}
UDP_BASE=${UDP_BASE:-23000}
CACHE=${CACHE:-$ROOT/bench/.cache}

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

case $RECORD in 0 | 1) ;; *) die "RECORD must be 0 or 1" ;; esac
for s in $SERVERS; do
    case $s in atoll | nginx) ;; *) die "SERVERS: unknown server '$s' (atoll, nginx)" ;; esac
done
for n in $NS; do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] || die "N: '$n' is not a channel count >= 2"
done
if [ "$SOAK" != 0 ] || [ "$RESTART" != 0 ]; then
    NS=$(tr ' ' '\n' <<<"$NS" | sort -n | tail -n 1)
    SERVERS=atoll
fi
[ "$RESTART" != 0 ] && RECORD=1
ulimit -n 65536 2>/dev/null || true

# --- tools ------------------------------------------------------------------------------
command -v ffmpeg >/dev/null || die "ffmpeg is required (apt-get install -y ffmpeg)"
command -v curl >/dev/null || die "curl is required"
command -v jq >/dev/null || die "jq is required (apt-get install -y jq)"
if [[ " $SERVERS " == *" nginx "* ]]; then
    command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || {
        log "installing nginx and libnginx-mod-rtmp"
        DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-rtmp >/dev/null \
            || die "could not install libnginx-mod-rtmp"
    }
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building atoll and atoll-load (release)"
    (cd "$ROOT" && cargo build --release -q -p atoll-load -p atoll)
    if [ "$RESTART" != 0 ]; then
        (cd "$ROOT" && cargo build --release -q -p archive --features bench --bin archive-seed)
    fi
fi
SEED=$ROOT/target/release/archive-seed
[ "$RESTART" = 0 ] || [ -x "$SEED" ] || die "missing $SEED"

ATOLL=${ATOLL:-$ROOT/target/release/atoll}
LOAD=${LOAD:-$ROOT/target/release/atoll-load}
[ -x "$ATOLL" ] && [ -x "$LOAD" ] || die "missing $ATOLL or $LOAD"

# --- feed: 60 s of 720p25 H.264 2 Mbit/s + AAC, 2 s GOPs (the file live-viewers.sh and edge.sh
# use), remuxed once to MPEG-TS for the feeder
mkdir -p "$CACHE"
FEED=$CACHE/feed-720p-2M.mp4
if [ ! -s "$FEED" ]; then
    log "encoding the feed file $FEED (once)"
    ffmpeg -nostdin -loglevel error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 \
        -t 60 -c:v libx264 -preset veryfast -b:v 2M -maxrate 2M -bufsize 4M \
        -g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k \
        "$FEED.tmp.mp4"
    mv "$FEED.tmp.mp4" "$FEED"
fi
FEED_TS=$CACHE/feed-720p-2M.ts
if [ ! -s "$FEED_TS" ] || [ "$FEED_TS" -ot "$FEED" ]; then
    ffmpeg -nostdin -loglevel error -y -i "$FEED" -c copy -f mpegts "$FEED_TS.tmp" \
        && mv "$FEED_TS.tmp" "$FEED_TS" || die "could not remux $FEED to MPEG-TS"
fi

# --- processes and cleanup -------------------------------------------------------------
TMP=$(mktemp -d /tmp/atoll-bench-channels.XXXXXX)
PIDS=()
SERVER_PID=
FEED_PID=
stop() { # pids…: TERM, wait up to 5 s, KILL
    local p end=$((SECONDS + 5))
    for p in "$@"; do kill "$p" 2>/dev/null || true; done
    for p in "$@"; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
}
cleanup() {
    local kids=()
    [ -n "$SERVER_PID" ] && mapfile -t kids < <(pgrep -P "$SERVER_PID" 2>/dev/null || true)
    stop $FEED_PID $SERVER_PID "${PIDS[@]}"
    for p in "${kids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TCK=$(getconf CLK_TCK)
pids_of() { echo "$SERVER_PID $(pgrep -P "$SERVER_PID" | tr '\n' ' ')"; }
cpu_ticks() { # sum of utime+stime
    local p stat rest total=0
    for p in "$@"; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
thread_ticks() { # PID: "tid name ticks" (utime+stime) per thread
    local t stat rest comm
    for t in /proc/"$1"/task/*; do
        stat=$(cat "$t/stat" 2>/dev/null) || continue
        comm=$(cat "$t/comm" 2>/dev/null) || continue
        rest=${stat##*) }
        read -r -a f <<<"$rest"
        echo "${t##*/} ${comm// /_} $((f[11] + f[12]))"
    done
}
rss_kb() { # sum of VmRSS
    local p total=0 kb
    for p in "$@"; do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

window_kb() { # NAME: the live window the server keeps outside its heap (Atoll: segment files,
    # memfd or live_segment_dir, from /metrics; nginx: its HLS directory on disk)
    case $1 in
        atoll) curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" |
            awk '/^atoll_channel_live_file_bytes\{/ {b += $2} END {printf "%d\n", b / 1024}' ;;
        nginx) du -sk "$TMP/nginx/hls" 2>/dev/null | awk '{print $1}' ;;
    esac
}

start_feeder() { # n_udp n_rtmp rtmp_url_template
    local args=(--file "$FEED_TS")
    [ "$1" -gt 0 ] && args+=(--udp "127.0.0.1:$UDP_BASE" --udp-count "$1")
    [ "$2" -gt 0 ] && args+=(--rtmp "$3" --rtmp-count "$2")
    "${ON_LOAD[@]}" "$LOAD" feed "${args[@]}" >"$TMP/feed.out" 2>"$TMP/feed.log" &
    FEED_PID=$!
}

# measure NAME N: CPU % and RSS over DURATION s after WARMUP s; appends a result row
measure() {
    local name=$1 n=$2 t0 t1 w0 w1 rss pids win
    log "$name, $n channels: warm-up ${WARMUP} s, then ${DURATION} s measured"
    sleep "$WARMUP"
    pids=$(pids_of)
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    thread_ticks "$SERVER_PID" >"$TMP/threads0"
    w0=${EPOCHREALTIME/./}
    if [ -n "${PERF_RECORD:-}" ]; then
        perf record -q -F 499 -p "$(tr ' ' ',' <<<"${pids% }")" -o "$TMP/perf-$name-$n.data" 2>/dev/null &
        local rec=$!
    fi
    sleep "$DURATION"
    if [ -n "${PERF_RECORD:-}" ]; then
        kill -INT "$rec"; wait "$rec" || true
        perf report -q -i "$TMP/perf-$name-$n.data" --sort dso,sym --percent-limit 0.5 2>/dev/null \
            | head -n "$PERF_RECORD" | sed "s/^/[perf $name $n] /" >&2
    fi
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    thread_ticks "$SERVER_PID" >"$TMP/threads1"
    w1=${EPOCHREALTIME/./}
    # shellcheck disable=SC2086
    rss=$(rss_kb $(pids_of))
    win=$(window_kb "$name")
    kill -0 "$FEED_PID" 2>/dev/null || { cat "$TMP/feed.log" >&2; die "the feeder exited"; }
    awk -v s="$name" -v n="$n" -v r="$RECORD" -v t="$((t1 - t0))" -v tck="$TCK" \
        -v us="$((w1 - w0))" -v kb="$rss" -v wkb="${win:-0}" 'BEGIN {
            printf "%-6s %8d %6s %8.1f %7.0f %19.2f %15.0f\n", s, n, (r == 1 ? "on" : "off"),
                100 * t / tck / (us / 1e6), kb / 1024, kb / 1024 / n, wkb / 1024 }' >>"$RESULTS"
    tail -n 1 "$RESULTS" | sed 's/^/[result] /' >&2
    # Atoll's CPU by thread name over the same window (threads that lived through it)
    [ "$name" = atoll ] && awk -v s="$name" -v n="$n" -v tck="$TCK" -v us="$((w1 - w0))" '
        NR == FNR { t0[$1] = $3; next }
        ($1 in t0) { by[$2] += $3 - t0[$1] }
        END {
            line = sprintf("%-6s %8d", s, n)
            for (k in by) line = line sprintf("  %s %.1f", k, 100 * by[k] / tck / (us / 1e6))
            print line
        }' "$TMP/threads0" "$TMP/threads1" >>"$THREADS"
    log "feeder: $(tail -n 1 "$TMP/feed.log")"
}

start_atoll() { # sets SERVER_PID
    ATOLL_ADMIN_PASSWORD=pw ATOLL_LOG=warn "${ON_SERVER[@]}" "$ATOLL" serve --config "$TMP/atoll.toml" \
        --data "$TMP/atoll-data" --http "127.0.0.1:$HTTP_PORT" --rtmp "127.0.0.1:$RTMP_PORT" \
        >>"$TMP/atoll.log" 2>&1 &
    SERVER_PID=$!
}

# restart_atoll N CREATED_S: stop, seed the archive, start, time the way back (see RESTART)
restart_atoll() {
    local n=$1 created_s=$2 end_ms ids t0 t_http= t_catchup= t_live= now ok id live body
    log "restart: stopping Atoll"
    stop "$SERVER_PID"
    SERVER_PID=
    end_ms=$(((created_s - 60) / 6 * 6 * 1000))
    ids=$( (seq "$((n / 2))" | sed 's/^/u/'; seq "$((n - n / 2))" | sed 's/^/r/') | paste -sd, -)
    log "restart: seeding $ARCHIVE_HOURS h of 6 s segments for $n channels (until $((end_ms / 1000)))"
    ffmpeg -nostdin -loglevel error -y -i "$FEED_TS" -t 6 -c copy -f mpegts "$TMP/seg6.ts"
    "$SEED" --root "$TMP/atoll-data/archive" --segment "$TMP/seg6.ts" --channels "$ids" \
        --hours "$ARCHIVE_HOURS" --end-ms "$end_ms" >"$TMP/seed.log" 2>&1 \
        || { cat "$TMP/seed.log" >&2; die "archive-seed failed"; }
    log "restart: $(tail -n 1 "$TMP/seed.log")"
    t0=${EPOCHREALTIME/./}
    start_atoll
    while :; do
        now=${EPOCHREALTIME/./}
        [ $((now - t0)) -gt 120000000 ] && { tail -n 20 "$TMP/atoll.log" >&2; die "not back within 120 s"; }
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$TMP/atoll.log" >&2; die "atoll exited"; }
        if [ -z "$t_http" ]; then
            curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && t_http=$((now - t0))
        fi
        if [ -n "$t_http" ] && [ -z "$t_catchup" ]; then
            ok=1
            for id in ${ids//,/ }; do
                body=$(curl -sf "http://127.0.0.1:$HTTP_PORT/live/$id/index-$((end_ms / 1000 - 3600))-3600.m3u8") || { ok=0; break; }
                [ "$(grep -c '^#EXTINF' <<<"$body")" -ge 590 ] || { ok=0; break; }
            done
            [ "$ok" = 1 ] && t_catchup=$((${EPOCHREALTIME/./} - t0))
        fi
        if [ -n "$t_http" ] && [ -z "$t_live" ]; then
            live=$(curl -sf -u admin:pw "http://127.0.0.1:$HTTP_PORT/api/channels" | jq '[.[] | select(.state == "live")] | length' 2>/dev/null || echo 0)
            [ "${live:-0}" -ge "$n" ] && t_live=$((now - t0))
        fi
        [ -n "$t_catchup" ] && [ -n "$t_live" ] && break
        sleep 0.05
    done
    awk -v n="$n" -v h="$ARCHIVE_HOURS" -v a="$t_http" -v c="$t_catchup" -v l="$t_live" 'BEGIN {
        printf "restart with %d channels and %d h of archive index each (%d segments):\n", n, h, n * h * 600
        printf "  /healthz answers after %.2f s\n", a / 1e6
        printf "  every channel serves the seeded last hour (catch-up playlist) after %.2f s\n", c / 1e6
        printf "  every channel live again (its source kept sending) after %.2f s\n", l / 1e6 }'
}

run_atoll() { # N
    local n=$1 nu=$(($1 / 2)) nr=$(($1 - $1 / 2)) i live api rec
    rm -rf "$TMP/atoll-data"
    mkdir -p "$TMP/atoll-data"
    printf 'segment_seconds = %s\n' "$SEGMENT_SECONDS" >"$TMP/atoll.toml"
    [ -z "${ATOLL_TOML:-}" ] || printf '%s\n' "$ATOLL_TOML" >>"$TMP/atoll.toml"
    : >"$TMP/atoll.log"
    start_atoll
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/atoll.log" >&2; die "atoll exited"; }
        sleep 0.1
    done
    api="http://127.0.0.1:$HTTP_PORT/api/channels"
    curl -sf -u admin:pw -X DELETE "$api/demo" >/dev/null || log "note: could not delete the demo channel"
    rec=$([ "$RECORD" = 1 ] && echo true || echo false)
    CREATED_S=$(date +%s)
    for i in $(seq "$nu"); do
        curl -sf -u admin:pw -X POST "$api" -H 'content-type: application/json' -d \
            "{\"id\":\"u$i\",\"name\":\"UDP $i\",\"sources\":[\"udp://127.0.0.1:$((UDP_BASE + i - 1))\"],\"record\":$rec}" \
            >/dev/null || die "creating channel u$i failed"
    done
    for i in $(seq "$nr"); do
        curl -sf -u admin:pw -X POST "$api" -H 'content-type: application/json' -d \
            "{\"id\":\"r$i\",\"name\":\"RTMP $i\",\"sources\":[],\"publish_key\":\"k$i\",\"record\":$rec}" \
            >/dev/null || die "creating channel r$i failed"
    done
    start_feeder "$nu" "$nr" "rtmp://127.0.0.1:$RTMP_PORT/live/r{n}?key=k{n}"
    log "atoll: $nu UDP + $nr RTMP channels created; waiting for all of them to be live"
    for _ in $(seq 120); do
        live=$(curl -sf -u admin:pw "$api" | jq '[.[] | select(.state == "live")] | length' 2>/dev/null || echo 0)
        [ "${live:-0}" -ge "$n" ] && break
        sleep 1
    done
    [ "${live:-0}" -ge "$n" ] || { tail -n 20 "$TMP/atoll.log" "$TMP/feed.log" >&2; die "only $live of $n channels live after 120 s"; }
    log "atoll: all $n channels live"
    if [ "$RESTART" != 0 ]; then
        restart_atoll "$n" "$CREATED_S"
    elif [ "$SOAK" != 0 ]; then
        log "soak: Atoll's RSS every minute for $SOAK s"
        echo "minute rss_mb"
        local m
        for m in $(seq 0 $((SOAK / 60))); do
            printf '%6d %6.0f\n' "$m" "$(awk -v k="$(rss_kb "$SERVER_PID")" 'BEGIN{print k/1024}')"
            [ "$m" -lt $((SOAK / 60)) ] && sleep 60
        done
    else
        measure atoll "$n"
    fi
    grep -E " (WARN|ERROR) |panic" "$TMP/atoll.log" | tail -n 3 | sed 's/^/[atoll log] /' >&2 || true
    stop "$FEED_PID" "$SERVER_PID"
    FEED_PID= SERVER_PID=
}

run_nginx() { # N
    local n=$1 ready i
    rm -rf "$TMP/nginx"
    mkdir -p "$TMP/nginx/logs" "$TMP/nginx/hls"
    chmod 755 "$TMP" && chmod 777 "$TMP/nginx/hls"
    cat >"$TMP/nginx/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_RTMP_PORT;
        chunk_size 4096;
        application live {
            live on;
            record off;
            hls on;
            hls_path $TMP/nginx/hls;
            hls_fragment 6s;
            hls_playlist_length 60s;
        }
    }
}
EOF
    "${ON_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
        >"$TMP/nginx/logs/stdout.log" 2>&1 &
    SERVER_PID=$!
    sleep 0.5
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/nginx/logs/"* >&2; die "nginx exited"; }
    start_feeder 0 "$n" "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/r{n}"
    log "nginx: $n RTMP channels; waiting for every channel's HLS playlist"
    for _ in $(seq 120); do
        ready=0
        for i in $(seq "$n"); do
            grep -qs '^#EXTINF' "$TMP/nginx/hls/r$i.m3u8" && ready=$((ready + 1))
        done
        [ "$ready" -ge "$n" ] && break
        sleep 1
    done
    [ "$ready" -ge "$n" ] || { tail -n 20 "$TMP/nginx/logs/error.log" "$TMP/feed.log" >&2; die "only $ready of $n nginx playlists after 120 s"; }
    log "nginx: all $n playlists written"
    measure nginx "$n"
    stop "$FEED_PID" "$SERVER_PID"
    FEED_PID= SERVER_PID=
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
THREADS=$TMP/threads.txt
: >"$THREADS"
for n in $NS; do
    for s in $SERVERS; do
        "run_$s" "$n"
        sleep 2
    done
done
{ [ "$SOAK" != 0 ] || [ "$RESTART" != 0 ]; } && exit 0

# --- report ----------------------------------------------------------------------------
echo
echo "Channels without viewers: 720p H.264 2 Mbit/s + AAC 128k, fed by one atoll-load feed process;"
echo "Atoll: half UDP, half RTMP push, segment_seconds $SEGMENT_SECONDS; nginx-rtmp: all RTMP, hls on, hls_fragment 6s, 1 worker;"
echo "recording: $([ "$RECORD" = 1 ] && echo on || echo off); ${DURATION} s measured after a ${WARMUP} s warm-up"
if [ ${#ON_SERVER[@]} -gt 0 ]; then
    echo "(server pinned to CPU $SERVER_CPUS; the feeder on CPU $LOAD_CPUS of $NCPU)"
else
    echo "(everything shares this machine's $NCPU cores)"
fi
echo "(live_window_mb: the live HLS window kept outside the process's memory — Atoll's segment files"
echo " (sealed memfds, or page cache with live_segment_dir), nginx-rtmp's hls_path — not in rss_mb)"
printf '%-6s %8s %6s %8s %7s %19s %15s\n' server channels record cpu_pct rss_mb rss_per_channel_mb live_window_mb
cat "$RESULTS"
echo
echo "Atoll's cpu_pct of a core by thread name (same window):"
cat "$THREADS"
