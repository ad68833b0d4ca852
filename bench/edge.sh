#!/usr/bin/env bash
# Edge benchmark: one Atoll origin with CHANNELS channels, each fed a 720p 2 Mbit/s stream over
# RTMP and recorded, a catch-up archive of ARCHIVE_HOURS and a few films; and two edges side by
# side in front of it — an Atoll edge (`atoll serve --role edge`) and nginx set up exactly as
# docs/nginx-cache.conf says (only ORIGIN, LISTEN, CACHE_DIR, the pid file and
# `worker_processes auto` = the edge's CPUs filled in) — each loaded in turn with atoll-load's
# real-pace HLS viewers (README, Cluster: an edge must carry 3,000 concurrent viewers): MIX
# percent live (spread over the channels), catch-up (hour-long ranges at random points of the
# archive) and films (VOD, random titles and positions).
#
#   bench/edge.sh                                   # VIEWERS=3000 DURATION=60, 70/20/10 on 10 channels
#   VIEWERS=100 DURATION=15 bench/edge.sh           # quick check
#   CHANNELS=1 MIX=100/0/0 bench/edge.sh            # live only, one channel
#
# The archive: archive-seed (crates/archive, feature bench) indexes ARCHIVE_HOURS of 6 s segments
# per channel on the origin and on the Atoll edge before they start, every file of a channel a
# hard link to one real 6 s segment (the disk has no room for 72 h of 10 channels); the page
# cache is dropped before each run, so the first read of a channel's segment comes from the disk
# and later ones from the cache, for both edges alike (nginx's misses go to the origin's archive).
#
# Environment: VIEWERS (list; default 3000), DURATION (measured seconds per run; default 60),
# CHANNELS (default 10), MIX (live/catch-up/VOD percent; default 70/20/10), ARCHIVE_HOURS
# (default 72), TITLES (films; default 3),
# RAMP (seconds; default viewers/500 clamped to 1..10), EDGES ("atoll nginx"), RECORD (1: the
# channel records, as a new channel does by default, so the Atoll edge archives it too; 0: it
# does not), ports ORIGIN_HTTP_PORT, ORIGIN_RTMP_PORT, EDGE_HTTP_PORT, EDGE_RTMP_PORT,
# NGINX_HTTP_PORT, SKIP_BUILD=1, KEEP_TMP=1, SERVER_CPUS / LOAD_CPUS (taskset lists; default:
# both edges on CPU 0 — only the one under load is busy — and the origin, the feeding ffmpeg,
# the load tool and this script on the others; PIN=0 turns pinning off).
# Viewers come from 127.0.0.1..N, 1,000 per address (Atoll caps connections per address at
# http_max_connections_per_ip, 2,048 by default).
#
# Per edge and run: the viewers' stalls, segment fetch times, errors and Gbit/s (atoll-load);
# the edge's CPU seconds and peak RSS (sum over its processes, sampled every second) in the
# measured window (after the ramp); and the origin's egress to that edge in the same window:
# the bytes received on the edge's own connections to the origin, read from the kernel's
# per-socket counters (ss -ti bytes_received) every second, so a connection opened and closed
# between two samples would be missed (both edges keep their origin connections alive).
set -euo pipefail

case ${1:-} in
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    "") ;;
    *) echo "bench/edge.sh takes no arguments (environment variables; see --help)" >&2; exit 2 ;;
esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NCPU=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPUS=${SERVER_CPUS:-0}
    LOAD_CPUS=${LOAD_CPUS:-1-$((NCPU - 1))}
    ON_SERVER=(taskset -c "$SERVER_CPUS")
    ON_LOAD=(taskset -c "$LOAD_CPUS")
    # this script's samplers (ss, /proc reads) stay off the edge's core too
    taskset -pc "$LOAD_CPUS" $$ >/dev/null
else
    ON_SERVER=()
    ON_LOAD=()
fi
VIEWERS=${VIEWERS:-3000}
DURATION=${DURATION:-60}
CHANNELS=${CHANNELS:-10}
MIX=${MIX:-70/20/10}
ARCHIVE_HOURS=${ARCHIVE_HOURS:-72}
TITLES=${TITLES:-3}
IFS=/ read -r MIX_LIVE MIX_CATCHUP MIX_VOD <<<"$MIX"
[ $((MIX_LIVE + MIX_CATCHUP + MIX_VOD)) = 100 ] 2>/dev/null || { echo "MIX must be live/catch-up/VOD percent adding up to 100" >&2; exit 2; }
EDGES=${EDGES:-atoll nginx}
RECORD=${RECORD:-1}
ORIGIN_HTTP_PORT=${ORIGIN_HTTP_PORT:-18100}
ORIGIN_RTMP_PORT=${ORIGIN_RTMP_PORT:-11955}
EDGE_HTTP_PORT=${EDGE_HTTP_PORT:-18101}
EDGE_RTMP_PORT=${EDGE_RTMP_PORT:-11956}
NGINX_HTTP_PORT=${NGINX_HTTP_PORT:-18102}
CACHE=${CACHE:-$ROOT/bench/.cache}
KEY=bench-edge-cluster-key-0123456789

exec 3>&2 # the terminal's stderr, for progress lines from inside redirected groups
log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

case $RECORD in 0 | 1) ;; *) die "RECORD must be 0 or 1" ;; esac
for e in $EDGES; do
    case $e in atoll | nginx) ;; *) die "EDGES: unknown edge '$e' (atoll, nginx)" ;; esac
done

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
log "open-files limit: $NOFILE"

# Accept queues, as in live-viewers.sh: Atoll binds with a 65535 backlog, which the kernel caps
# at somaxconn; SYNs beyond tcp_max_syn_backlog are dropped. (docs/nginx-cache.conf's `listen`
# keeps nginx's own default backlog, 511.)
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
command -v ss >/dev/null || die "ss (iproute2) is required"
if ! command -v nginx >/dev/null; then
    log "installing nginx"
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null || die "could not install nginx"
fi
NGINX_CONF_TEMPLATE=$ROOT/docs/nginx-cache.conf
[ -f "$NGINX_CONF_TEMPLATE" ] || die "missing $NGINX_CONF_TEMPLATE"
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building atoll and atoll-load (release)"
    (cd "$ROOT" && cargo build --release -q -p atoll-load -p atoll \
        && cargo build --release -q -p archive --features bench --bin archive-seed)
fi
ATOLL=$ROOT/target/release/atoll
LOAD=$ROOT/target/release/atoll-load
SEED=$ROOT/target/release/archive-seed
[ -x "$ATOLL" ] && [ -x "$LOAD" ] && [ -x "$SEED" ] || die "missing $ATOLL, $LOAD or $SEED"

# --- feed: 60 s of 720p25 H.264 2 Mbit/s + AAC, 2 s GOPs, cached (shared with live-viewers.sh)
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
# one 6 s segment of it (the seeded archive's bytes)
SEG6=$CACHE/seg-6s.ts
if [ ! -s "$SEG6" ]; then
    ffmpeg -nostdin -loglevel error -y -i "$FEED" -t 6 -c copy -f mpegts "$SEG6.tmp" && mv "$SEG6.tmp" "$SEG6"
fi
CHANNEL_IDS=()
for k in $(seq "$CHANNELS"); do CHANNEL_IDS+=("ch$k"); done

# --- processes and cleanup -------------------------------------------------------------
TMP=$(mktemp -d /tmp/atoll-bench-edge.XXXXXX)
PIDS=()
NGINX_PID=
cleanup() {
    local p kids=() end
    # nginx's master stops its workers on SIGTERM; note them in case it cannot
    if [ -n "$NGINX_PID" ]; then
        mapfile -t kids < <(pgrep -P "$NGINX_PID" 2>/dev/null || true)
    fi
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    end=$((SECONDS + 5))
    for p in "${PIDS[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.1; done
    done
    for p in "${PIDS[@]}" "${kids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_healthz() { # port pid name
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { cat "$TMP/$3.log" >&2; die "$3 exited"; }
        sleep 0.1
    done
    cat "$TMP/$3.log" >&2
    die "$3 did not answer /healthz within 20 s"
}

# The archives (origin and Atoll edge, before they start) and the films (origin)
mkdir -p "$TMP/origin-data" "$TMP/edge-data"
if [ "$MIX_CATCHUP" -gt 0 ]; then
    for d in origin-data edge-data; do
        log "seeding $ARCHIVE_HOURS h of archive for $CHANNELS channel(s) in $d"
        "$SEED" --root "$TMP/$d/archive" --segment "$SEG6" --hours "$ARCHIVE_HOURS" \
            --channels "$(IFS=,; echo "${CHANNEL_IDS[*]}")" >"$TMP/seed-$d.log" 2>&1 \
            || { cat "$TMP/seed-$d.log" >&2; die "archive-seed failed"; }
    done
    SEEDED_END_S=$(($(date +%s) / 6 * 6))
fi
VOD_IDS=()
if [ "$MIX_VOD" -gt 0 ]; then
    for k in $(seq "$TITLES"); do
        id=$("$ATOLL" vod import --data "$TMP/origin-data" --title "Film $k" --category Bench "$FEED" 2>"$TMP/import.err" \
            | sed -n 's/.*imported as \([0-9]*\)$/\1/p')
        [ -n "$id" ] || { cat "$TMP/import.err" >&2; die "atoll vod import failed"; }
        VOD_IDS+=("$id")
    done
    log "films imported on the origin: ${VOD_IDS[*]}"
fi

# Origin: fresh data dir, the cluster key in its config file, no demo channel (its test encoder
# would burn CPU), the channels fed by ffmpeg over RTMP
printf 'cluster_key = "%s"\n' "$KEY" >"$TMP/origin.toml"
ATOLL_ADMIN_PASSWORD=pw ATOLL_LOG=warn "${ON_LOAD[@]}" "$ATOLL" serve --config "$TMP/origin.toml" \
    --data "$TMP/origin-data" --http "127.0.0.1:$ORIGIN_HTTP_PORT" \
    --rtmp "127.0.0.1:$ORIGIN_RTMP_PORT" >"$TMP/origin.log" 2>&1 &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
wait_healthz "$ORIGIN_HTTP_PORT" "$ORIGIN_PID" origin
API="http://127.0.0.1:$ORIGIN_HTTP_PORT/api/channels"
curl -sf -u admin:pw -X DELETE "$API/demo" >/dev/null || log "note: could not delete the demo channel"
REC=$([ "$RECORD" = 1 ] && echo true || echo false)
for ch in "${CHANNEL_IDS[@]}"; do
    curl -sf -u admin:pw -X POST "$API" -H 'content-type: application/json' \
        -d "{\"id\":\"$ch\",\"name\":\"Bench $ch\",\"sources\":[],\"record\":$REC}" >/dev/null \
        || die "creating the origin's channel $ch failed"
    "${ON_LOAD[@]}" ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$FEED" -c copy -f flv \
        "rtmp://127.0.0.1:$ORIGIN_RTMP_PORT/live/$ch" >"$TMP/ffmpeg-$ch.log" 2>&1 &
    PIDS+=("$!")
done

# Atoll edge: its own data dir (it archives a recording channel too), the lineup from the origin
ATOLL_ADMIN_PASSWORD=pw ATOLL_LOG=warn "${ON_SERVER[@]}" "$ATOLL" serve --role edge \
    --origin "http://127.0.0.1:$ORIGIN_HTTP_PORT" --cluster-key "$KEY" --node-name edge-bench \
    --data "$TMP/edge-data" --http "127.0.0.1:$EDGE_HTTP_PORT" --rtmp "127.0.0.1:$EDGE_RTMP_PORT" \
    >"$TMP/edge.log" 2>&1 &
EDGE_PID=$!
PIDS+=("$EDGE_PID")
wait_healthz "$EDGE_HTTP_PORT" "$EDGE_PID" edge

# nginx: docs/nginx-cache.conf with its three words filled in, a pid file of its own, and
# `worker_processes auto` resolved to the CPUs the edge may use (auto counts the machine's)
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/cache"
# when started as root, nginx workers run as an unprivileged user: let them in
chmod 755 "$TMP" && chmod 777 "$TMP/nginx/cache"
NGINX_WORKERS=$("${ON_SERVER[@]}" nproc)
sed -e "s|ORIGIN|127.0.0.1:$ORIGIN_HTTP_PORT|g" \
    -e "s|LISTEN|127.0.0.1:$NGINX_HTTP_PORT|g" \
    -e "s|CACHE_DIR|$TMP/nginx/cache|g" \
    -e "s|^worker_processes auto;|worker_processes $NGINX_WORKERS;\npid $TMP/nginx/nginx.pid;|" \
    "$NGINX_CONF_TEMPLATE" >"$TMP/nginx/nginx.conf"
grep -q "worker_processes $NGINX_WORKERS;" "$TMP/nginx/nginx.conf" \
    || die "docs/nginx-cache.conf changed shape (worker_processes auto;): update this script"
"${ON_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
    >"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
sleep 0.5
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/"* >&2; die "nginx exited"; }
for n in $VIEWERS; do
    [ "$n" -le 8000 ] || log "note: docs/nginx-cache.conf allows 8192 connections per worker; $n viewers will exceed it"
done

base_of() {
    case $1 in
        origin) echo "http://127.0.0.1:$ORIGIN_HTTP_PORT" ;;
        atoll) echo "http://127.0.0.1:$EDGE_HTTP_PORT" ;;
        nginx) echo "http://127.0.0.1:$NGINX_HTTP_PORT" ;;
    esac
}
# the first channel's live playlist on $1 (readiness and byte checks)
url_of() { echo "$(base_of "$1")/live/${CHANNEL_IDS[0]}/index.m3u8"; }

log "waiting for the origin's and the edges' playlists to hold 3 segments"
for _ in $(seq 120); do
    ready=1
    for s in origin $EDGES; do
        n=$(curl -sf "$(url_of "$s")" 2>/dev/null | grep -c '^#EXTINF' || true)
        [ "${n:-0}" -ge 3 ] || ready=0
    done
    [ "$ready" = 1 ] && break
    sleep 1
done
[ "$ready" = 1 ] || {
    tail -n 5 "$TMP"/*.log "$TMP/nginx/logs/error.log" >&2
    die "playlists did not fill within 120 s"
}
for s in origin $EDGES; do
    log "$s: $(url_of "$s") → $(curl -sf "$(url_of "$s")" | grep -m1 -A1 '^#EXTINF' | tr '\n' ' ')"
done
# the same bytes at the same URL on the origin and on each edge
seg=$(curl -sf "$(url_of origin)" | grep -v '^#' | tail -n 1)
want=$(curl -sf "http://127.0.0.1:$ORIGIN_HTTP_PORT/live/${CHANNEL_IDS[0]}/$seg" | sha256sum)
for s in $EDGES; do
    got=$(curl -sf "$(url_of "$s" | sed "s|index.m3u8|$seg|")" | sha256sum)
    [ "$got" = "$want" ] && log "$s: segment $seg is the origin's, byte for byte" \
        || log "WARNING: $s serves different bytes for segment $seg"
done

# --- measurement -----------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
pids_of() {
    case $1 in
        atoll) echo "$EDGE_PID" ;;
        nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
    esac
}
# "pid ticks" (utime+stime) per live process
cpu_ticks() {
    local p stat rest
    for p in "$@"; do
        stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        rest=${stat##*) }
        # fields after "(comm) ": state is field 3; utime 14, stime 15 → index 11, 12 here
        read -r -a f <<<"$rest"
        echo "$p $((f[11] + f[12]))"
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
# "local-address bytes_received" of each connection the given processes hold to the origin
origin_sockets() {
    ss -tinpH "( dport = :$ORIGIN_HTTP_PORT )" 2>/dev/null | awk -v pids=" $* " '
        /^[^ \t]/ { keep = 0
                    if (match($0, /pid=[0-9]+/)) {
                        p = substr($0, RSTART + 4, RLENGTH - 4)
                        if (index(pids, " " p " ")) { keep = 1; key = $4 }
                    }
                    next }
        keep && match($0, /bytes_received:[0-9]+/) {
            print key, substr($0, RSTART + 15, RLENGTH - 15); keep = 0 }'
}
now_us() { echo "${EPOCHREALTIME/./}"; }
sleep_until_us() {
    local d=$(($1 - $(now_us)))
    [ "$d" -gt 0 ] && sleep "$(awk -v d="$d" 'BEGIN{printf "%.3f", d/1e6}')"
    return 0
}
# sample $1's CPU, RSS and origin traffic from $2+$3 s (µs clock) for $4 s; result line to $5
sampler() {
    local edge=$1 w0=$(($2 + $3 * 1000000)) w1=$(($2 + ($3 + $4) * 1000000)) out=$5
    local pids peak=0 r
    sleep_until_us "$w0"
    pids=$(pids_of "$edge")
    # shellcheck disable=SC2086
    cpu_ticks $pids >"$out.cpu0"
    # shellcheck disable=SC2086
    origin_sockets $pids >"$out.ss0"
    : >"$out.ss"
    while [ "$(now_us)" -lt "$w1" ]; do
        # shellcheck disable=SC2086
        r=$(rss_kb $(pids_of "$edge"))
        [ "$r" -gt "$peak" ] && peak=$r
        # shellcheck disable=SC2086
        origin_sockets $pids >>"$out.ss"
        sleep_until_us "$(($(now_us) + 1000000 < w1 ? $(now_us) + 1000000 : w1))"
    done
    # shellcheck disable=SC2086
    cpu_ticks $pids >"$out.cpu1"
    # shellcheck disable=SC2086
    origin_sockets $pids >>"$out.ss"
    # shellcheck disable=SC2086
    r=$(rss_kb $(pids_of "$edge"))
    [ "$r" -gt "$peak" ] && peak=$r
    local cpu bytes
    # CPU of the processes alive at both ends of the window
    cpu=$(awk -v t="$TCK" 'NR == FNR { a[$1] = $2; next } ($1 in a) { s += $2 - a[$1] }
        END { printf "%.1f", s / t }' "$out.cpu0" "$out.cpu1")
    # per connection: its last count minus the count at the window's start (0 if opened later)
    bytes=$(awk 'NR == FNR { a[$1] = $2; next } { if ($2 > m[$1]) m[$1] = $2 }
        END { for (k in m) s += m[k] - ((k in a) ? a[k] : 0); printf "%.0f", s }' \
        "$out.ss0" "$out.ss")
    echo "cpu=$cpu peak_rss_kb=$peak origin_bytes=$bytes" >"$out"
}
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -n 1; }

# the films on the Atoll edge: mirrored from the origin in the background; wait for the copies,
# as on an edge that has run a while
if [ "${#VOD_IDS[@]}" -gt 0 ] && [[ " $EDGES " == *" atoll "* ]]; then
    log "waiting for the Atoll edge to mirror ${#VOD_IDS[@]} film(s)"
    for _ in $(seq 180); do
        have=0
        for id in "${VOD_IDS[@]}"; do
            [ -s "$TMP/edge-data/vod/$id/media.mp4" ] && have=$((have + 1))
        done
        [ "$have" = "${#VOD_IDS[@]}" ] && break
        sleep 1
    done
    log "films mirrored on the Atoll edge: $have of ${#VOD_IDS[@]}"
fi
# what the viewers watch: every channel live; hour-long catch-up ranges at random points of the
# seeded archive (the same list on both edges); every film
LIVE_PATHS=()
for ch in "${CHANNEL_IDS[@]}"; do LIVE_PATHS+=("/live/$ch/index.m3u8"); done
if [ "$MIX_CATCHUP" -gt 0 ]; then
    awk -v n=500 -v chs="${CHANNEL_IDS[*]}" -v end="$SEEDED_END_S" -v hours="$ARCHIVE_HOURS" 'BEGIN {
        srand(7); k = split(chs, c, " ")
        span = hours * 3600 - 3600 - 120
        for (i = 0; i < n; i++) {
            from = end - hours * 3600 + 60 + int(rand() * span)
            from -= from % 6
            printf "/live/%s/index-%d-3600.m3u8\n", c[1 + int(rand() * k)], from
        }
    }' >"$TMP/catchup.paths"
fi
VOD_PATHS=()
for id in "${VOD_IDS[@]}"; do VOD_PATHS+=("/vod/$id/index.m3u8"); done

RESULTS=$TMP/results.txt
CLASSES=$TMP/classes.txt
: >"$RESULTS"
: >"$CLASSES"
# one atoll-load per class of viewers: class count edge → result line in $TMP/load-$class.out
run_class() {
    local class=$1 count=$2 s=$3 base args=() u
    base=$(base_of "$s")
    case $class in
        live) for u in "${LIVE_PATHS[@]}"; do args+=(--url "$base$u"); done ;;
        catchup) sed "s|^|$base|" "$TMP/catchup.paths" >"$TMP/catchup-$s.txt"
                 args+=(--vod-list "$TMP/catchup-$s.txt" --buffer 30 --seed 11) ;;
        vod) for u in "${VOD_PATHS[@]}"; do args+=(--vod "$base$u"); done
             args+=(--buffer 30 --seed 13) ;;
    esac
    TIMEFORMAT='%U %S'
    { time "${ON_LOAD[@]}" "$LOAD" "${args[@]}" --viewers "$count" --duration "$DURATION" \
        --ramp "$ramp" --src-ips "$(( (count + 999) / 1000 ))" >"$TMP/load-$class.out" \
        2> >(sed "s/^/[load $s $class] /" >&3) || true; } 2>"$TMP/load-$class.time"
}
sum() { awk '{ s += $1 } END { printf "%s", (s == int(s)) ? s : sprintf("%.3f", s) }'; }
for n in $VIEWERS; do
    ramp=${RAMP:-$((n / 500))}
    [ "$ramp" -lt 1 ] && ramp=1
    [ -z "${RAMP:-}" ] && [ "$ramp" -gt 10 ] && ramp=10
    n_live=$((n * MIX_LIVE / 100))
    n_catchup=$((n * MIX_CATCHUP / 100))
    n_vod=$((n - n_live - n_catchup))
    for s in $EDGES; do
        sync
        if echo 3 2>/dev/null >/proc/sys/vm/drop_caches; then
            log "page cache dropped"
        else
            log "note: could not drop the page cache (not root?)"
        fi
        log "$s edge: $n viewers ($n_live live on $CHANNELS channel(s), $n_catchup catch-up, $n_vod films), ${ramp} s ramp + ${DURATION} s"
        start=$(now_us)
        sampler "$s" "$start" "$ramp" "$DURATION" "$TMP/sample" &
        SAMPLER=$!
        LOADS=()
        ran=()
        for c in live catchup vod; do
            case $c in live) k=$n_live ;; catchup) k=$n_catchup ;; vod) k=$n_vod ;; esac
            rm -f "$TMP/load-$c.out" "$TMP/load-$c.time"
            [ "$k" -gt 0 ] || continue
            run_class "$c" "$k" "$s" &
            LOADS+=("$!")
            ran+=("$c:$k")
        done
        for p in "${LOADS[@]}"; do wait "$p" || true; done
        wait "$SAMPLER" || true
        smp=$(cat "$TMP/sample" 2>/dev/null || echo "cpu=- peak_rss_kb=0 origin_bytes=0")
        echo "$smp" | sed "s/^/[$s sampler] /" >&2
        outs=()
        lcpu=0
        for ck in "${ran[@]}"; do
            c=${ck%%:*} k=${ck#*:}
            out=$(tail -1 "$TMP/load-$c.out" 2>/dev/null || true)
            outs+=("$out")
            echo "$out" | sed "s/^/[$s $c] /" >&2
            read -r lu ls < <(tail -n 1 "$TMP/load-$c.time" 2>/dev/null) || { lu=0; ls=0; }
            lcpu=$(awk -v a="$lcpu" -v u="${lu:-0}" -v t="${ls:-0}" 'BEGIN{printf "%.1f", a+u+t}')
            printf '%s %s %s %s %s %s %s %s\n' "$s" "$c" "$k" "$(field stalls "$out")" \
                "$(field stalled_viewers "$out")" "$(field seg_fetch_p99_ms "$out")" \
                "$(field errors "$out")" "$(field gbit_s "$out")" >>"$CLASSES"
        done
        all() { local o; for o in "${outs[@]}"; do field "$1" "$o"; echo; done | grep -v '^$'; }
        rss=$(awk -v k="$(field peak_rss_kb "$smp")" 'BEGIN{printf "%.0f", k/1024}')
        ob=$(field origin_bytes "$smp")
        omb=$(awk -v b="$ob" 'BEGIN{printf "%.1f", b/1e6}')
        ombps=$(awk -v b="$ob" -v d="$DURATION" 'BEGIN{printf "%.2f", b*8/1e6/d}')
        cpu=$(field cpu "$smp")
        cpuvm=$(awk -v c="$cpu" -v n="$n" -v d="$DURATION" 'BEGIN{ if (c == "-") print "-"; else printf "%.2f", c * 1000 / (n * d / 60) }')
        p99=$(all seg_fetch_p99_ms | sort -g | tail -n 1)
        mx=$(all seg_fetch_max_ms | sort -g | tail -n 1)
        printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$s" "$n" \
            "$(all stalls | sum)" "$(all stalled_viewers | sum)" "$(all stalled_s | sum)" \
            "$p99" "$mx" "$(all errors | sum)" "$(all gbit_s | sum)" \
            "$rss" "$cpu" "$cpuvm" "$omb" "$ombps" >>"$RESULTS"
        sleep 2
    done
done
grep -E " (WARN|ERROR) |panic" "$TMP/edge.log" | tail -n 5 | sed 's/^/[atoll edge log] /' >&2 || true
grep -v -E "^\s*$" "$TMP/nginx/logs/error.log" 2>/dev/null | tail -n 5 | sed 's/^/[nginx error.log] /' >&2 || true

# --- report ----------------------------------------------------------------------------
echo
echo "Edges: $CHANNELS channel(s) of 720p H.264 2 Mbit/s + AAC 128k from one Atoll origin; viewers $MIX_LIVE % live,"
echo "$MIX_CATCHUP % catch-up (hour-long ranges at random points of ${ARCHIVE_HOURS} h), $MIX_VOD % films ($TITLES); ${DURATION} s measured per run"
echo "(atoll = atoll serve --role edge; nginx = docs/nginx-cache.conf, $NGINX_WORKERS worker(s); channels record: $REC)"
if [ ${#ON_SERVER[@]} -gt 0 ]; then
    echo "(edges pinned to CPU $SERVER_CPUS; origin, ffmpeg and atoll-load on CPU $LOAD_CPUS of $NCPU)"
else
    echo "(everything shares this machine's $NCPU cores)"
fi
echo "(p99/max: segment fetches, worst class; rss_mb: the edge's peak RSS, all its processes; cpu_s: its"
echo " CPU in the measured window; cpu_ms_vmin: that per viewer-minute; origin_mb / origin_mbps: what the"
echo " origin sent that edge in the window, i.e. the backbone)"
printf '%-5s %7s %6s %8s %9s %8s %8s %6s %6s %6s %6s %11s %9s %11s\n' edge viewers stalls \
    stalled_v stalled_s p99_ms max_ms errors gbit_s rss_mb cpu_s cpu_ms_vmin origin_mb origin_mbps
while read -r s n st sv sts p99 mx err g rss cpu cvm omb ombps; do
    printf '%-5s %7s %6s %8s %9s %8s %8s %6s %6s %6s %6s %11s %9s %11s\n' "$s" "$n" "$st" \
        "$sv" "$sts" "$p99" "$mx" "$err" "$g" "$rss" "$cpu" "$cvm" "$omb" "$ombps"
done <"$RESULTS"
echo
echo "per class:"
printf '%-5s %-8s %7s %6s %8s %8s %6s %6s\n' edge class viewers stalls stalled_v p99_ms errors gbit_s
while read -r s c k st sv p99 err g; do
    printf '%-5s %-8s %7s %6s %8s %8s %6s %6s\n' "$s" "$c" "$k" "$st" "$sv" "$p99" "$err" "$g"
done <"$CLASSES"
