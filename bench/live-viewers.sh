#!/usr/bin/env bash
# Live HLS viewer benchmark: Atoll vs nginx + nginx-rtmp, fed the same 720p 2 Mbit/s stream
# over RTMP, loaded with atoll-load (real-pace players on keep-alive connections).
#
#   bench/live-viewers.sh                                # VIEWERS="1000 5000 10000 15000" DURATION=60
#   VIEWERS=50 DURATION=20 bench/live-viewers.sh         # quick check, about a minute
#
# Environment: VIEWERS (list), DURATION (measured seconds per run), RAMP (seconds; default
# viewers/500 clamped to 1..10), SERVERS ("atoll nginx"), ports ATOLL_HTTP_PORT,
# ATOLL_RTMP_PORT, NGINX_HTTP_PORT, NGINX_RTMP_PORT, SKIP_BUILD=1, KEEP_TMP=1,
# SERVER_CPUS / LOAD_CPUS (taskset lists; default: the server on CPU 0 — nginx's one worker, and
# Atoll sizes its worker threads to the CPUs it may use — and the load tool and the feeding
# ffmpegs on the others, so neither side steals the other's core; PIN=0 turns pinning off).
# Viewers come from 127.0.0.1..N, 1,000 per address (Atoll caps connections per address at
# http_max_connections_per_ip, 2,048 by default). ATOLL_TOML: settings for Atoll's config file
# (e.g. ATOLL_TOML='live_segment_dir = "/var/tmp"').
# ATOLL_BIN: another atoll binary (e.g. an older build). PERF_STAT: perf events counted on each
# server during its load (e.g. PERF_STAT='context-switches,syscalls:sys_enter_sendfile64').
# PERF_RECORD=N: sample each server during its load and print its samples by library (kernel,
# atoll, libc) and its N hottest symbols.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NCPU=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPUS=${SERVER_CPUS:-0}
    LOAD_CPUS=${LOAD_CPUS:-1-$((NCPU - 1))}
    ON_SERVER=(taskset -c "$SERVER_CPUS")
    ON_LOAD=(taskset -c "$LOAD_CPUS")
else
    ON_SERVER=()
    ON_LOAD=()
fi
VIEWERS=${VIEWERS:-1000 5000 10000 15000}
DURATION=${DURATION:-60}
SERVERS=${SERVERS:-atoll nginx}
ATOLL_HTTP_PORT=${ATOLL_HTTP_PORT:-18080}
ATOLL_RTMP_PORT=${ATOLL_RTMP_PORT:-11935}
NGINX_HTTP_PORT=${NGINX_HTTP_PORT:-18081}
NGINX_RTMP_PORT=${NGINX_RTMP_PORT:-11936}
CACHE=${CACHE:-$ROOT/bench/.cache}
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

exec 3>&2 # the terminal's stderr, for progress lines from inside redirected groups
log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
log "open-files limit: $NOFILE"

# Accept queues: both servers ask for a 65535 backlog (Atoll binds with it; nginx is told below),
# which the kernel caps at somaxconn; SYNs beyond tcp_max_syn_backlog are dropped. Raise both
# (when we may) so thousands of viewers arriving in a ramp are not refused by the defaults.
for kv in net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535; do
    k=${kv%=*} v=${kv#*=}
    cur=$(sysctl -n "$k" 2>/dev/null || echo 0)
    if [ "$cur" -lt "$v" ]; then
        sysctl -qw "$kv" 2>/dev/null || log "note: could not raise $k (now $cur)"
    fi
done
log "somaxconn=$(sysctl -n net.core.somaxconn 2>/dev/null) tcp_max_syn_backlog=$(sysctl -n net.ipv4.tcp_max_syn_backlog 2>/dev/null)"

# --- tools ------------------------------------------------------------------------------
command -v ffmpeg >/dev/null || die "ffmpeg is required (apt-get install -y ffmpeg)"
command -v curl >/dev/null || die "curl is required"
if ! command -v nginx >/dev/null || [ ! -f "$RTMP_MODULE" ]; then
    log "installing nginx and libnginx-mod-rtmp"
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx libnginx-mod-rtmp >/dev/null \
        || die "could not install nginx libnginx-mod-rtmp"
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building atoll and atoll-load (release)"
    (cd "$ROOT" && cargo build --release -q -p atoll-load -p atoll)
fi
ATOLL=${ATOLL_BIN:-$ROOT/target/release/atoll}
LOAD=$ROOT/target/release/atoll-load
[ -x "$ATOLL" ] && [ -x "$LOAD" ] || die "missing $ATOLL or $LOAD"

# --- feed: 60 s of 720p25 H.264 2 Mbit/s + AAC, 2 s GOPs, cached ---------------------------
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

# --- processes and cleanup -------------------------------------------------------------
TMP=$(mktemp -d /tmp/atoll-bench.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Atoll: fresh data dir, no demo channel (its test encoder would burn CPU), channel 'bench'
mkdir -p "$TMP/atoll-data"
printf '%s\n' "${ATOLL_TOML:-}" >"$TMP/atoll.toml"
ATOLL_ADMIN_PASSWORD=pw ATOLL_LOG=warn "${ON_SERVER[@]}" "$ATOLL" serve --config "$TMP/atoll.toml" --data "$TMP/atoll-data" \
    --http "127.0.0.1:$ATOLL_HTTP_PORT" --rtmp "127.0.0.1:$ATOLL_RTMP_PORT" \
    >"$TMP/atoll.log" 2>&1 &
ATOLL_PID=$!
PIDS+=("$ATOLL_PID")
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ATOLL_HTTP_PORT/healthz" >/dev/null && break
    kill -0 "$ATOLL_PID" 2>/dev/null || { cat "$TMP/atoll.log" >&2; die "atoll exited"; }
    sleep 0.1
done
API="http://127.0.0.1:$ATOLL_HTTP_PORT/api/channels"
curl -sf -u admin:pw -X DELETE "$API/demo" >/dev/null || log "note: could not delete the demo channel"
curl -sf -u admin:pw -X POST "$API" -H 'content-type: application/json' \
    -d '{"id":"bench","name":"Bench","sources":[]}' >/dev/null || die "creating the Atoll channel failed"

# nginx + nginx-rtmp, as in its README: HLS fragments on disk, served by the http module
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp" "$TMP/hls"
# when started as root, nginx workers run as an unprivileged user: let them in
chmod 755 "$TMP" && chmod 777 "$TMP/hls"
HARD=$(ulimit -Hn)
WCONN=$((NOFILE - 100))
[ "$WCONN" -gt 200000 ] && WCONN=200000
cat >"$TMP/nginx/nginx.conf" <<EOF
load_module $RTMP_MODULE;
daemon off;
worker_processes 1;
worker_rlimit_nofile $HARD;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections $WCONN; }
rtmp {
    server {
        listen 127.0.0.1:$NGINX_RTMP_PORT;
        application live {
            live on;
            hls on;
            hls_path $TMP/hls;
            hls_fragment 6s;
            hls_playlist_length 36s;
        }
    }
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    types {
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
    }
    server {
        listen 127.0.0.1:$NGINX_HTTP_PORT backlog=65535;
        location /live/ {
            alias $TMP/hls/;
            add_header Cache-Control no-cache;
        }
    }
}
EOF
"${ON_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
sleep 0.5
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/"* >&2; die "nginx exited"; }

# one ffmpeg per server, pushing the same file at real time
"${ON_LOAD[@]}" ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$FEED" -c copy -f flv \
    "rtmp://127.0.0.1:$ATOLL_RTMP_PORT/live/bench" >"$TMP/ffmpeg-atoll.log" 2>&1 &
PIDS+=("$!")
"${ON_LOAD[@]}" ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$FEED" -c copy -f flv \
    "rtmp://127.0.0.1:$NGINX_RTMP_PORT/live/bench" >"$TMP/ffmpeg-nginx.log" 2>&1 &
PIDS+=("$!")

url_of() {
    case $1 in
        atoll) echo "http://127.0.0.1:$ATOLL_HTTP_PORT/live/bench/index.m3u8" ;;
        nginx) echo "http://127.0.0.1:$NGINX_HTTP_PORT/live/bench.m3u8" ;;
    esac
}

log "waiting for both playlists to hold 3 segments"
for _ in $(seq 120); do
    ready=1
    for s in $SERVERS; do
        n=$(curl -sf "$(url_of "$s")" 2>/dev/null | grep -c '^#EXTINF' || true)
        [ "${n:-0}" -ge 3 ] || ready=0
    done
    [ "$ready" = 1 ] && break
    sleep 1
done
[ "$ready" = 1 ] || { tail -n 5 "$TMP"/*.log "$TMP/nginx/logs/error.log" >&2; die "playlists did not fill within 120 s"; }
for s in $SERVERS; do
    log "$s: $(url_of "$s") → $(curl -sf "$(url_of "$s")" | grep -m1 -A1 '^#EXTINF' | tr '\n' ' ')"
done

# --- measurement -----------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# utime+stime in clock ticks of the given processes and (for nginx) their children
cpu_ticks() {
    local total=0 p stat rest
    for p in "$@"; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # fields after "(comm) ": state is field 3; utime 14, stime 15 → index 11, 12 here
        read -r -a f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
pids_of() {
    case $1 in
        atoll) echo "$ATOLL_PID" ;;
        nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
    esac
}
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

RESULTS=$TMP/results.txt
: >"$RESULTS"
for n in $VIEWERS; do
    ramp=${RAMP:-$((n / 500))}
    [ "$ramp" -lt 1 ] && ramp=1
    [ -z "${RAMP:-}" ] && [ "$ramp" -gt 10 ] && ramp=10
    for s in $SERVERS; do
        log "$s: $n viewers, ${ramp} s ramp + ${DURATION} s"
        pids=$(pids_of "$s")
        # shellcheck disable=SC2086
        c0=$(cpu_ticks $pids)
        if [ -n "${PERF_STAT:-}" ]; then
            # shellcheck disable=SC2086
            perf stat -x, -e "$PERF_STAT" -p "$(tr ' ' ',' <<<"${pids% }")" -o "$TMP/perf-$s.txt" &
            PERF_PID=$!
        fi
        if [ -n "${PERF_RECORD:-}" ]; then
            perf record -q -F 499 -p "$(tr ' ' ',' <<<"${pids% }")" -o "$TMP/perf-$s.data" 2>/dev/null &
            REC_PID=$!
        fi
        TIMEFORMAT='%U %S'
        { time "${ON_LOAD[@]}" "$LOAD" --url "$(url_of "$s")" --viewers "$n" --duration "$DURATION" \
            --ramp "$ramp" --src-ips "$(( (n + 999) / 1000 ))" >"$TMP/load.out" 2> >(sed "s/^/[load $s] /" >&3) || true; } 2>"$TMP/load.time"
        # shellcheck disable=SC2086
        c1=$(cpu_ticks $pids)
        if [ -n "${PERF_RECORD:-}" ]; then
            kill -INT "$REC_PID"; wait "$REC_PID" || true
            # where the samples are (kernel, atoll, libc), then the hottest symbols
            { perf report -q -i "$TMP/perf-$s.data" --sort dso --percent-limit 0.5 2>/dev/null
              perf report -q -i "$TMP/perf-$s.data" --sort sym --percent-limit 0.7 2>/dev/null \
                | head -n "$PERF_RECORD"; } | grep -v '^\s*$' | sed "s/^/[perf $s] /" >&2
        fi
        if [ -n "${PERF_STAT:-}" ]; then
            kill -INT "$PERF_PID"; wait "$PERF_PID" || true
            awk -F, -v s="$s" '$1 ~ /^[0-9]+$/ && $1 > 0 {printf "[perf %s] %14s %s\n", s, $1, $3}' "$TMP/perf-$s.txt" >&2
        fi
        out=$(tail -1 "$TMP/load.out")
        read -r lu ls < <(tail -n 1 "$TMP/load.time") || { lu=0; ls=0; }
        vs=$(field viewer_s "$out")
        cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN{printf "%.1f", (b-a)/t}')
        per=$(awk -v c="$cpu" -v v="$vs" 'BEGIN{ if (v>0) printf "%.5f", c/(v/60); else print "-" }')
        lcpu=$(awk -v u="$lu" -v s="$ls" 'BEGIN{printf "%.1f", u+s}')
        echo "$out" | sed "s/^/[$s] /" >&2
        printf '%s %s %s %s %s %s %s %s %s %s %s %s\n' "$s" "$n" "$(field gbit_s "$out")" \
            "$(field stalls "$out")" "$(field stalled_s "$out")" "$(field seg_fetch_p50_ms "$out")" \
            "$(field seg_fetch_p99_ms "$out")" "$(field errors "$out")" "$cpu" "$per" "$lcpu" \
            "$(field segments "$out")" >>"$RESULTS"
        sleep 2
    done
done

# --- report ----------------------------------------------------------------------------
echo
echo "Live HLS viewers: 720p H.264 2 Mbit/s + AAC 128k, 6 s segments, ${DURATION} s per run"
if [ ${#ON_SERVER[@]} -gt 0 ]; then
    echo "(servers pinned to CPU $SERVER_CPUS, atoll-load and the feeds to CPU $LOAD_CPUS of $NCPU; load_cpu_s is the load tool's own CPU)"
else
    echo "(atoll-load and the server share this machine's $NCPU cores; load_cpu_s is the load tool's own CPU)"
fi
printf '%-6s %8s %7s %7s %9s %8s %8s %7s %8s %21s %10s\n' server viewers gbit_s stalls \
    stalled_s p50_ms p99_ms errors cpu_s cpu_s_per_viewer_min load_cpu_s
while read -r s n g st sts p50 p99 err cpu per lcpu segs; do
    printf '%-6s %8s %7s %7s %9s %8s %8s %7s %8s %21s %10s\n' "$s" "$n" "$g" "$st" "$sts" \
        "$p50" "$p99" "$err" "$cpu" "$per" "$lcpu"
done <"$RESULTS"
