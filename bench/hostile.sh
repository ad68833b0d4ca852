#!/usr/bin/env bash
# Hostile-client benchmark: each attack in bench/attacks/ runs for DURATION seconds against a
# fresh Atoll while 1,000 real-pace HLS viewers watch a recording channel fed over RTMP.
# Prints, per attack: the viewers' stalls, the server's peak RSS, its peak open descriptors,
# and whether the channel's archive got a gap during the attack.
#
#   bench/hostile.sh                              # every attack, VIEWERS=1000 DURATION=60
#   ATTACKS="http-idle rtmp-amf" DURATION=20 bench/hostile.sh
#
# Environment: ATTACKS (names of bench/attacks/*.sh, default all; "baseline" = no attack),
# VIEWERS, DURATION, RAMP, ports HTTP_PORT / RTMP_PORT, SKIP_BUILD=1, KEEP_TMP=1, PIN=0.
# Each attack script gets HTTP_ADDR, RTMP_ADDR, ADMIN_AUTH, CHANNEL, DATA_DIR, DURATION and
# must stop by itself after DURATION seconds. Target: 0 stalls, RSS < 300 MB, no gap (except
# archive-diskfull, which runs with the archive on a DISKFULL_MB tmpfs, 300 by default, and must
# show a disk_full gap and recover).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NCPU=$(nproc)
if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
    ON_SERVER=(taskset -c 0)
    ON_LOAD=(taskset -c "1-$((NCPU - 1))")
else
    ON_SERVER=()
    ON_LOAD=()
fi
VIEWERS=${VIEWERS:-1000}
DURATION=${DURATION:-60}
RAMP=${RAMP:-5}
HTTP_PORT=${HTTP_PORT:-18090}
RTMP_PORT=${RTMP_PORT:-11945}
CACHE=${CACHE:-$ROOT/bench/.cache}
ATTACK_DIR=$ROOT/bench/attacks
if [ -z "${ATTACKS:-}" ]; then
    ATTACKS="baseline"
    for f in "$ATTACK_DIR"/*.sh; do
        [ -e "$f" ] && ATTACKS="$ATTACKS $(basename "$f" .sh)"
    done
fi

log() { echo "[hostile] $*" >&2; }
die() { echo "[hostile] error: $*" >&2; exit 1; }

# the load tool's own descriptors; the server's limit is whatever Atoll makes of the hard limit
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
command -v ffmpeg >/dev/null || die "ffmpeg is required (apt-get install -y ffmpeg)"
command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building atoll and atoll-load (release)"
    (cd "$ROOT" && cargo build --release -q -p atoll-load -p atoll)
fi
ATOLL=$ROOT/target/release/atoll
LOAD=$ROOT/target/release/atoll-load
[ -x "$ATOLL" ] && [ -x "$LOAD" ] || die "missing $ATOLL or $LOAD"

mkdir -p "$CACHE"
FEED=$CACHE/feed-720p-2M.mp4
if [ ! -s "$FEED" ]; then
    log "encoding the feed file $FEED (once)"
    ffmpeg -nostdin -loglevel error -y \
        -f lavfi -i testsrc2=size=1280x720:rate=25 -f lavfi -i sine=frequency=1000:sample_rate=48000 \
        -t 60 -c:v libx264 -preset veryfast -b:v 2M -maxrate 2M -bufsize 4M \
        -g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k \
        "$FEED.tmp.$$.mp4"
    mv "$FEED.tmp.$$.mp4" "$FEED"
fi

TMP=$(mktemp -d /tmp/atoll-hostile.XXXXXX)
PIDS=()
stop_all() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    PIDS=()
}
MOUNTS=()
cleanup() {
    stop_all
    local m
    for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done
    if [ -n "${KEEP_TMP:-}" ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

HTTP_ADDR=127.0.0.1:$HTTP_PORT
RTMP_ADDR=127.0.0.1:$RTMP_PORT
ADMIN_AUTH=admin:hostile-bench-pw
CHANNEL=bench
PLAYLIST=http://$HTTP_ADDR/live/$CHANNEL/index.m3u8

# samples the server's RSS (kB) and open descriptors every 0.5 s into $1 until killed
sample() {
    local pid=$1 out=$2 rss fds
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
        echo "${rss:-0} $fds" >>"$out"
        sleep 0.5
    done
}

# gaps (and their reasons) of the channel's archive between two unix times
archive_gaps() {
    curl -sf -u "$ADMIN_AUTH" "http://$HTTP_ADDR/api/channels/$CHANNEL/archive?from=$1&to=$2" |
        python3 -c '
import json, sys
d = json.load(sys.stdin)
gaps = d.get("gaps", [])
ivals = d.get("intervals", [])
reasons = sorted({g.get("reason", "?") for g in gaps})
# more than one recorded interval inside the window is a hole, whatever its reason
if not gaps and len(ivals) > 1:
    reasons = ["hole"]
print("no" if not reasons else "yes:" + ",".join(reasons))' 2>/dev/null || echo "unknown"
}

RESULTS=$TMP/results.txt
: >"$RESULTS"
for attack in $ATTACKS; do
    script=$ATTACK_DIR/$attack.sh
    [ "$attack" = baseline ] || [ -f "$script" ] || die "no attack script $script"
    run=$TMP/$attack
    mkdir -p "$run/data"
    if [ "$attack" = archive-diskfull ]; then
        # the attack fills the archive's filesystem: give it a small one of its own
        mkdir -p "$run/data/archive"
        mount -t tmpfs -o size=${DISKFULL_MB:-300}m tmpfs "$run/data/archive" ||
            die "archive-diskfull needs root to mount a tmpfs for the archive"
        MOUNTS+=("$run/data/archive")
    fi
    log "$attack: starting Atoll"
    ATOLL_ADMIN_PASSWORD=${ADMIN_AUTH#admin:} ATOLL_LOG=warn "${ON_SERVER[@]}" "$ATOLL" \
        --data "$run/data" --http "$HTTP_ADDR" --rtmp "$RTMP_ADDR" >"$run/atoll.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 100); do
        curl -sf "http://$HTTP_ADDR/healthz" >/dev/null && break
        kill -0 "$pid" 2>/dev/null || { cat "$run/atoll.log" >&2; die "atoll exited"; }
        sleep 0.1
    done
    curl -sf -u "$ADMIN_AUTH" -X DELETE "http://$HTTP_ADDR/api/channels/demo" >/dev/null || true
    curl -sf -u "$ADMIN_AUTH" -X POST "http://$HTTP_ADDR/api/channels" \
        -H 'content-type: application/json' \
        -d "{\"id\":\"$CHANNEL\",\"name\":\"Bench\",\"sources\":[],\"record\":true}" >/dev/null ||
        die "creating the channel failed"
    "${ON_LOAD[@]}" ffmpeg -nostdin -loglevel error -re -stream_loop -1 -i "$FEED" -c copy -f flv \
        "rtmp://$RTMP_ADDR/live/$CHANNEL" >"$run/ffmpeg.log" 2>&1 &
    PIDS+=("$!")
    ready=0
    for _ in $(seq 120); do
        n=$(curl -sf "$PLAYLIST" 2>/dev/null | grep -c '^#EXTINF' || true)
        [ "${n:-0}" -ge 3 ] && { ready=1; break; }
        sleep 1
    done
    [ "$ready" = 1 ] || { tail -n 5 "$run"/*.log >&2; die "$attack: playlist did not fill"; }

    sample "$pid" "$run/samples" &
    PIDS+=("$!")
    t0=$(date +%s)
    "${ON_LOAD[@]}" "$LOAD" --url "$PLAYLIST" --viewers "$VIEWERS" --duration "$DURATION" \
        --ramp "$RAMP" --src-ips 8 >"$run/load.out" 2>"$run/load.err" &
    load_pid=$!
    PIDS+=("$load_pid")
    sleep "$RAMP"
    if [ "$attack" != baseline ]; then
        log "$attack: attacking for $DURATION s"
        HTTP_ADDR=$HTTP_ADDR RTMP_ADDR=$RTMP_ADDR ADMIN_AUTH=$ADMIN_AUTH CHANNEL=$CHANNEL \
            DATA_DIR=$run/data DURATION=$DURATION ROOT=$ROOT \
            timeout $((DURATION + 30)) "${ON_LOAD[@]}" bash "$script" >"$run/attack.log" 2>&1 ||
            log "$attack: the attack script exited with $? (see $run/attack.log)"
    fi
    wait "$load_pid" || true
    t1=$(date +%s)
    alive=yes
    kill -0 "$pid" 2>/dev/null || alive=no
    # let the recorder write the segment in progress before asking for gaps
    sleep 8
    gap=$(archive_gaps "$t0" "$t1")
    out=$(tail -n 1 "$run/load.out")
    stalls=$(tr ' ' '\n' <<<"$out" | sed -n 's/^stalls=//p')
    read -r rss_kb fds < <(sort -n -k1 "$run/samples" | tail -n 1)
    max_fds=$(sort -n -k2 "$run/samples" | tail -n 1 | cut -d' ' -f2)
    printf '%s %s %s %s %s %s\n' "$attack" "${stalls:-?}" "$((rss_kb / 1024))" "${max_fds:-?}" \
        "$gap" "$alive" >>"$RESULTS"
    log "$attack: stalls=${stalls:-?} peak_rss_mb=$((rss_kb / 1024)) peak_fds=$max_fds gap=$gap alive=$alive"
    stop_all
    sleep 1
done

echo
echo "Hostile clients: $VIEWERS real-pace HLS viewers of a recording 720p 2 Mbit/s RTMP channel, ${DURATION} s per attack"
printf '%-22s %8s %12s %9s %-24s %6s\n' attack stalls peak_rss_mb peak_fds archive_gap alive
while read -r a s r f g al; do
    printf '%-22s %8s %12s %9s %-24s %6s\n' "$a" "$s" "$r" "$f" "$g" "$al"
done <"$RESULTS"
