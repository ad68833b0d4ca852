#!/usr/bin/env bash
# Attack: the archive disk fills up while channels record (issue 11).
# Fills the archive's filesystem with one filler file for the first half of $DURATION, then frees
# it. Expected: live keeps serving, the channel's recording shows state "error" / reason
# "disk_full" while full, and "recording" again after the filler is gone.
#
# Env: HTTP_ADDR, ADMIN_AUTH (user:password), CHANNEL, DATA_DIR, DURATION (seconds);
#      ARCHIVE_DIR (default $DATA_DIR/archive), MAX_FILL_GB (default 4).
# Safety: it refuses to fill a filesystem with more than MAX_FILL_GB free (it would fill the
# host's disk): run the server with `archive_dir` on a small tmpfs or loop mount, e.g.
#   mount -t tmpfs -o size=512m tmpfs /srv/atoll-archive
set -euo pipefail
: "${HTTP_ADDR:?}" "${ADMIN_AUTH:?}" "${CHANNEL:?}" "${DURATION:?}"
ARCHIVE_DIR="${ARCHIVE_DIR:-${DATA_DIR:?}/archive}"
MAX_FILL_GB="${MAX_FILL_GB:-4}"
FILLER="$ARCHIVE_DIR/.attack-filler"
cleanup() { rm -f "$FILLER"; }
trap cleanup EXIT

free_kb=$(df -Pk "$ARCHIVE_DIR" | awk 'NR==2 {print $4}')
if (( free_kb > MAX_FILL_GB * 1024 * 1024 )); then
    echo "archive-diskfull: $ARCHIVE_DIR has $((free_kb / 1024)) MiB free (> ${MAX_FILL_GB} GiB): not filling the host disk; put archive_dir on a small tmpfs" >&2
    sleep "$DURATION"
    exit 0
fi

state() {
    python3 - "$HTTP_ADDR" "$ADMIN_AUTH" "$CHANNEL" <<'PY'
import base64, json, sys, urllib.request
addr, auth, ch = sys.argv[1:4]
req = urllib.request.Request(f"http://{addr}/api/channels/{ch}/recording",
    headers={"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
try:
    r = json.load(urllib.request.urlopen(req, timeout=5))
    print(r.get("state"), r.get("reason"), r.get("segments"))
except Exception as e:
    print("unreachable", type(e).__name__, "-")
PY
}

start=$(date +%s)
half=$(( DURATION / 2 ))
# fill: one file until ENOSPC (dd stops with "No space left on device")
dd if=/dev/zero of="$FILLER" bs=1M status=none 2>/dev/null || true
echo "archive-diskfull: filled $ARCHIVE_DIR ($(du -m "$FILLER" | cut -f1) MiB)"
seen_full=no
while (( $(date +%s) - start < half )); do
    s=$(state)
    [[ "$s" == "error disk_full"* ]] && seen_full=yes
    sleep 2
done
echo "archive-diskfull: while full: $(state) (disk_full seen: $seen_full)"
rm -f "$FILLER"
resumed=no
while (( $(date +%s) - start < DURATION )); do
    s=$(state)
    [[ "$s" == recording* ]] && resumed=yes
    sleep 2
done
echo "archive-diskfull: after freeing: $(state) (resumed: $resumed)"
