#!/usr/bin/env bash
# VOD HLS benchmark: Atoll (titles stored once as MP4, HLS cut on the fly) vs nginx serving the
# same titles pre-segmented by ffmpeg (master + video and audio renditions, ~6 s segments),
# loaded with atoll-load in VOD mode (real-pace players seeking to random positions, 30 s
# forward buffer, on keep-alive connections).
#
#   bench/vod.sh                                # VIEWERS=500 DURATION=60
#   VIEWERS=50 DURATION=20 bench/vod.sh         # quick check
#
# Environment: VIEWERS (list), DURATION (measured seconds per run), RAMP (seconds; default
# viewers/50 clamped to 1..10), BUFFER (player forward buffer, seconds; default 30), SEED (1),
# SERVERS ("atoll atoll-ts nginx": Atoll's fMP4 renditions, the web player's; its MPEG-TS ones;
# nginx serving ffmpeg's segmented copies), ports ATOLL_HTTP_PORT, ATOLL_RTMP_PORT, NGINX_HTTP_PORT,
# SKIP_BUILD=1, KEEP_TMP=1, SERVER_CPUS / LOAD_CPUS (taskset lists; default: the server on CPU 0
# — nginx's one worker, and Atoll sizes its worker threads to the CPUs it may use — and the load
# tool on the others; PIN=0 turns pinning off).
#
# The 20 titles (720p25 H.264 ~2 Mbit/s + AAC 128k, 2 s GOPs, 3-4 min) are cut with -c copy, at
# different offsets and lengths, from 4 distinct 5-minute sources, each a 40 s encode looped
# (encoding 20 minutes of 720p on 2 busy cores would take most of an hour); cached in
# bench/.cache/vod. CPU is
# the server's utime+stime (nginx: master + workers) over the measured window (after the ramp),
# per viewer-minute of that window.
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
VIEWERS=${VIEWERS:-500}
DURATION=${DURATION:-60}
BUFFER=${BUFFER:-30}
SEED=${SEED:-1}
SERVERS=${SERVERS:-atoll atoll-ts nginx}
ATOLL_HTTP_PORT=${ATOLL_HTTP_PORT:-18090}
ATOLL_RTMP_PORT=${ATOLL_RTMP_PORT:-11945}
NGINX_HTTP_PORT=${NGINX_HTTP_PORT:-18091}
CACHE=${CACHE:-$ROOT/bench/.cache}
NTITLES=20

exec 3>&2 # the terminal's stderr, for progress lines from inside redirected groups
log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
log "open-files limit: $NOFILE"

# Accept queues: as in live-viewers.sh, so viewers arriving in a ramp are not refused.
for kv in net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535; do
    k=${kv%=*} v=${kv#*=}
    cur=$(sysctl -n "$k" 2>/dev/null || echo 0)
    if [ "$cur" -lt "$v" ]; then
        sysctl -qw "$kv" 2>/dev/null || log "note: could not raise $k (now $cur)"
    fi
done

# --- tools ------------------------------------------------------------------------------
command -v ffmpeg >/dev/null || die "ffmpeg is required (apt-get install -y ffmpeg)"
command -v ffprobe >/dev/null || die "ffprobe is required (apt-get install -y ffmpeg)"
command -v curl >/dev/null || die "curl is required"
if ! command -v nginx >/dev/null; then
    log "installing nginx"
    DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >/dev/null || die "could not install nginx"
fi
if [ -z "${SKIP_BUILD:-}" ]; then
    log "building atoll and atoll-load (release)"
    (cd "$ROOT" && cargo build --release -q -p atoll -p atoll-load)
fi
ATOLL=$ROOT/target/release/atoll
LOAD=$ROOT/target/release/atoll-load
[ -x "$ATOLL" ] && [ -x "$LOAD" ] || die "missing $ATOLL or $LOAD"

# --- titles: 4 distinct 5-minute encodes, 20 titles cut from them, cached -----------------
mkdir -p "$CACHE/vod"
CLIP_SECONDS=40 # 20 GOPs: the loops stay on keyframes
SRC_SECONDS=300
sources=(
    "testsrc2=size=1280x720:rate=25"
    "smptehdbars=size=1280x720:rate=25,noise=alls=14:allf=t+u"
    "cellauto=size=1280x720:rate=25:rule=30:random_fill_ratio=0.5:seed=7:scroll=1,format=yuv420p"
    "testsrc=size=1280x720:rate=25,hue=H=2*PI*t/20,noise=alls=8:allf=t"
)
for j in "${!sources[@]}"; do
    src=$CACHE/vod/source-$j.mp4 clip=$CACHE/vod/clip-$j.mp4
    [ -s "$src" ] && continue
    if [ ! -s "$clip" ]; then
        log "encoding clip $((j + 1))/${#sources[@]}: ${sources[$j]%%=*}, ${CLIP_SECONDS} s (once)"
        ffmpeg -nostdin -loglevel error -y \
            -f lavfi -i "${sources[$j]}" -f lavfi -i "sine=frequency=$((330 + 110 * j)):sample_rate=48000" \
            -t "$CLIP_SECONDS" -c:v libx264 -preset veryfast -b:v 2M -maxrate 2M -bufsize 4M \
            -g 50 -keyint_min 50 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k \
            "$clip.tmp.mp4"
        mv "$clip.tmp.mp4" "$clip"
    fi
    ffmpeg -nostdin -loglevel error -y -stream_loop -1 -i "$clip" -t "$SRC_SECONDS" -map 0 -c copy \
        "$src.tmp.mp4"
    mv "$src.tmp.mp4" "$src"
done
TITLES=()
for i in $(seq 0 $((NTITLES - 1))); do
    t=$CACHE/vod/title-$(printf %02d "$i").mp4
    TITLES+=("$t")
    [ -s "$t" ] && continue
    # source i mod 4, from a keyframe at 0/14/28/42/56 s, 180..237 s long: every title differs
    j=$((i % 4)) off=$((i / 4 * 14)) len=$((180 + (i * 37) % 58))
    ffmpeg -nostdin -loglevel error -y -ss "$off" -i "$CACHE/vod/source-$j.mp4" -t "$len" \
        -map 0 -c copy -movflags +faststart "$t.tmp.mp4"
    mv "$t.tmp.mp4" "$t"
done
TITLES_BYTES=$(du -cb "${TITLES[@]}" | tail -1 | cut -f1)
log "$NTITLES titles ready: $(awk -v b="$TITLES_BYTES" 'BEGIN{printf "%.0f MB", b/1e6}')"

# --- processes and cleanup -------------------------------------------------------------
TMP=$(mktemp -d /tmp/atoll-vod-bench.XXXXXX)
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

# Atoll: fresh data dir, the titles imported with the CLI, no demo channel (its test encoder
# would burn CPU)
mkdir -p "$TMP/atoll-data"
log "importing the titles into Atoll"
"$ATOLL" vod import --data "$TMP/atoll-data" "${TITLES[@]}" >"$TMP/import.out" 2>"$TMP/import.err" \
    || { cat "$TMP/import.err" >&2; die "atoll vod import failed"; }
mapfile -t IDS < <(sed -n 's/.*: imported as \([^ ]*\)$/\1/p' "$TMP/import.out")
[ "${#IDS[@]}" = "$NTITLES" ] || { cat "$TMP/import.out" "$TMP/import.err" >&2; die "imported ${#IDS[@]} of $NTITLES titles"; }
ATOLL_DISK=$(du -sb "$TMP/atoll-data/vod" | cut -f1)

ATOLL_ADMIN_PASSWORD=pw ATOLL_LOG=warn "${ON_SERVER[@]}" "$ATOLL" --data "$TMP/atoll-data" \
    --http "127.0.0.1:$ATOLL_HTTP_PORT" --rtmp "127.0.0.1:$ATOLL_RTMP_PORT" \
    >"$TMP/atoll.log" 2>&1 &
ATOLL_PID=$!
PIDS+=("$ATOLL_PID")
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$ATOLL_HTTP_PORT/healthz" >/dev/null && break
    kill -0 "$ATOLL_PID" 2>/dev/null || { cat "$TMP/atoll.log" >&2; die "atoll exited"; }
    sleep 0.1
done
code=$(curl -s -o /dev/null -w '%{http_code}' -u admin:pw -X DELETE \
    "http://127.0.0.1:$ATOLL_HTTP_PORT/api/channels/demo" || true)
case $code in
    2?? | 404) ;; # gone, or never made (the import created the database first)
    *) log "note: could not delete the demo channel (HTTP $code)" ;;
esac

# nginx: the same titles segmented by ffmpeg into the same shape of HLS, served with sendfile
log "segmenting the titles for nginx"
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp" "$TMP/hls"
for i in "${!TITLES[@]}"; do
    d=$TMP/hls/t$(printf %02d "$i")
    mkdir -p "$d"
    ffmpeg -nostdin -loglevel error -y -i "${TITLES[$i]}" -map 0:v -map 0:a -c copy \
        -f hls -hls_time 6 -hls_playlist_type vod -master_pl_name index.m3u8 \
        -var_stream_map "v:0,agroup:aud a:0,agroup:aud,default:yes" \
        -hls_segment_filename "$d/%v/seg%d.ts" "$d/%v/index.m3u8" \
        || die "segmenting ${TITLES[$i]} failed"
    [ -s "$d/index.m3u8" ] || die "ffmpeg wrote no master playlist in $d"
done
HLS_DISK=$(du -sb "$TMP/hls" | cut -f1)
NGINX_DISK=$((TITLES_BYTES + HLS_DISK))
# when started as root, nginx workers run as an unprivileged user: let them in
chmod 755 "$TMP" && chmod -R a+rX "$TMP/hls"
HARD=$(ulimit -Hn)
WCONN=$((NOFILE - 100))
[ "$WCONN" -gt 200000 ] && WCONN=200000
cat >"$TMP/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
worker_rlimit_nofile $HARD;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections $WCONN; }
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
        location /vod/ {
            alias $TMP/hls/;
            add_header Cache-Control "public, max-age=3600";
        }
    }
}
EOF
"${ON_SERVER[@]}" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
sleep 0.5
kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/logs/"* >&2; die "nginx exited"; }

title_url() { # server, title number
    case $1 in
        # atoll: the fragmented-MP4 renditions the web player plays; atoll-ts: the MPEG-TS ones
        atoll) echo "http://127.0.0.1:$ATOLL_HTTP_PORT/vod/${IDS[$2]}/index-fmp4.m3u8" ;;
        atoll-ts) echo "http://127.0.0.1:$ATOLL_HTTP_PORT/vod/${IDS[$2]}/index.m3u8" ;;
        nginx) echo "http://127.0.0.1:$NGINX_HTTP_PORT/vod/t$(printf %02d "$2")/index.m3u8" ;;
    esac
}
for s in $SERVERS; do
    : >"$TMP/titles-$s.txt"
    for i in $(seq 0 $((NTITLES - 1))); do title_url "$s" "$i" >>"$TMP/titles-$s.txt"; done
    # both must play: a video and an audio stream through the master playlist
    u=$(title_url "$s" 0)
    streams=$(ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 "$u" 2>&1 | sort -u | tr '\n' ' ')
    case $streams in
        *video*audio* | *audio*video*) ;;
        *) die "$s: ffprobe does not find video and audio in $u: $streams" ;;
    esac
    log "$s: $u → $(curl -sf "$u" | grep -c '^#EXT-X-MEDIA:TYPE=AUDIO') audio rendition(s), ffprobe: $streams"
done

# --- measurement -----------------------------------------------------------------------
TCK=$(getconf CLK_TCK)
# utime+stime in clock ticks of the given processes
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
        atoll | atoll-ts) echo "$ATOLL_PID" ;;
        nginx) echo "$NGINX_PID $(pgrep -P "$NGINX_PID" | tr '\n' ' ')" ;;
    esac
}
disk_of() {
    case $1 in
        atoll | atoll-ts) echo "$ATOLL_DISK" ;;
        nginx) echo "$NGINX_DISK" ;;
    esac
}
field() { tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"; }

RESULTS=$TMP/results.txt
: >"$RESULTS"
for n in $VIEWERS; do
    ramp=${RAMP:-$((n / 50))}
    [ "$ramp" -lt 1 ] && ramp=1
    [ -z "${RAMP:-}" ] && [ "$ramp" -gt 10 ] && ramp=10
    for s in $SERVERS; do
        log "$s: $n VOD viewers over $NTITLES titles, ${ramp} s ramp + ${DURATION} s"
        pids=$(pids_of "$s")
        TIMEFORMAT='%U %S'
        { time "${ON_LOAD[@]}" "$LOAD" --vod-list "$TMP/titles-$s.txt" --viewers "$n" \
            --duration "$DURATION" --ramp "$ramp" --buffer "$BUFFER" --seed "$SEED" \
            --src-ips "$(( (n + 999) / 1000 ))" >"$TMP/load.out" 2> >(sed "s/^/[load $s] /" >&3) || true; } 2>"$TMP/load.time" &
        load=$!
        # the measured window: from the end of the ramp to the end of the run
        sleep "$ramp"
        # shellcheck disable=SC2086
        c0=$(cpu_ticks $pids)
        t0=$(date +%s.%N)
        wait "$load" || true
        # shellcheck disable=SC2086
        c1=$(cpu_ticks $pids)
        t1=$(date +%s.%N)
        out=$(tail -1 "$TMP/load.out")
        read -r lu ls < <(tail -n 1 "$TMP/load.time") || { lu=0; ls=0; }
        cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
        # viewer-minutes of the window (all viewers are in after the ramp)
        vmin=$(awk -v n="$n" -v d="$DURATION" 'BEGIN{printf "%.2f", n*d/60}')
        per=$(awk -v c="$cpu" -v v="$vmin" 'BEGIN{ if (v>0) printf "%.2f", 1000*c/v; else print "-" }')
        lcpu=$(awk -v u="$lu" -v s="$ls" 'BEGIN{printf "%.1f", u+s}')
        win=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
        echo "$out" | sed "s/^/[$s] /" >&2
        log "$s: server CPU ${cpu} s over a ${win} s window"
        printf '%s %s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$s" "$n" \
            "$(field stalls "$out")" "$(field stalled_viewers "$out")" \
            "$(field seg_fetch_p50_ms "$out")" "$(field seg_fetch_p99_ms "$out")" \
            "$(field seg_fetch_max_ms "$out")" "$(field errors "$out")" "$(field gbit_s "$out")" \
            "$cpu" "$per" "$(disk_of "$s")" "$lcpu" "$(field title_ends "$out")" >>"$RESULTS"
        sleep 2
    done
done

# --- report ----------------------------------------------------------------------------
echo
echo "VOD HLS viewers: $NTITLES titles, 720p H.264 2 Mbit/s + AAC 128k, 6 s segments, video and audio"
echo "renditions; random start positions, ${BUFFER} s forward buffer, ${DURATION} s measured per run"
if [ ${#ON_SERVER[@]} -gt 0 ]; then
    echo "(servers pinned to CPU $SERVER_CPUS, atoll-load to CPU $LOAD_CPUS of $NCPU; cpu_s is the server's over the"
    echo " measured window, cpu_ms/viewer_min = cpu_s / viewer-minutes; load_cpu_s is the load tool's own CPU)"
else
    echo "(atoll-load and the server share this machine's $NCPU cores; cpu_s is the server's over the measured window)"
fi
printf '%-8s %7s %6s %8s %7s %7s %8s %6s %6s %6s %18s %8s %10s %10s\n' server viewers stalls \
    stalled_v p50_ms p99_ms max_ms errors gbit_s cpu_s cpu_ms/viewer_min disk_GB load_cpu_s title_ends
while read -r s n st sv p50 p99 mx err g cpu per disk lcpu te; do
    printf '%-8s %7s %6s %8s %7s %7s %8s %6s %6s %6s %18s %8s %10s %10s\n' "$s" "$n" "$st" "$sv" \
        "$p50" "$p99" "$mx" "$err" "$g" "$cpu" "$per" \
        "$(awk -v b="$disk" 'BEGIN{printf "%.2f", b/1e9}')" "$lcpu" "$te"
done <"$RESULTS"
echo "atoll = the fragmented-MP4 renditions (index-fmp4.m3u8, what the web player plays); atoll-ts = the MPEG-TS ones (index.m3u8)"
echo "disk: Atoll = its library ($NTITLES MP4s as imported); nginx = the $NTITLES MP4 titles + their segmented copies"
for n in $VIEWERS; do
    a=$(awk -v n="$n" '$1=="atoll" && $2==n {print $11, $3}' "$RESULTS")
    x=$(awk -v n="$n" '$1=="nginx" && $2==n {print $11}' "$RESULTS")
    [ -n "$a" ] && [ -n "$x" ] || continue
    read -r ap ast <<<"$a"
    awk -v a="$ap" -v x="$x" -v st="$ast" -v n="$n" 'BEGIN{
        if (x <= 0) { printf "%s viewers: Atoll/nginx CPU per viewer-minute: n/a (nginx used no measurable CPU)\n", n; exit }
        r = a / x
        printf "%s viewers: Atoll/nginx CPU per viewer-minute = %.2fx (target <= 1.5x, 0 stalls): %s\n", n, r,
            (r <= 1.5 && st == 0) ? "met" : "NOT met"
    }'
done
