#!/usr/bin/env bash
# Attack: a publisher with a valid key sends one keyframe, then only P-frames (issue 11).
# Atoll must cut segments at segment_max_seconds anyway, keep its memory bounded, and put the
# channel on the slate after no_keyframe_seconds.
# Env (from bench/hostile.sh): HTTP_ADDR, RTMP_ADDR (host:port), ADMIN_AUTH (user:password),
# DURATION (seconds). It creates (or reuses) the publish channel "attack-nokey" for itself.
set -euo pipefail
: "${HTTP_ADDR:?}" "${RTMP_ADDR:?}" "${ADMIN_AUTH:?}" "${DURATION:?}"
channel="attack-nokey"
key="nokey-secret"
python3 - "$HTTP_ADDR" "$ADMIN_AUTH" "$channel" "$key" <<'PY'
import base64, json, sys, urllib.request, urllib.error
addr, auth, ch, key = sys.argv[1:5]
body = json.dumps({"id": ch, "name": "Attack: no keyframes", "sources": [],
                   "number": 9901, "publish_key": key}).encode()
req = urllib.request.Request(f"http://{addr}/api/channels", data=body, method="POST",
    headers={"Content-Type": "application/json",
             "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409:  # already there from an earlier run
        sys.exit(f"creating channel {ch}: HTTP {e.code} {e.read()[:200]!r}")
PY
# one keyframe (the first frame), then P-frames only, 8 Mbit/s, at real pace, for DURATION s
timeout --kill-after=5 "$((DURATION + 2))" ffmpeg -hide_banner -nostdin -loglevel error -re \
  -f lavfi -i "testsrc2=size=1280x720:rate=25" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" \
  -c:v libx264 -preset ultrafast -bf 0 -g 100000 \
  -x264-params keyint=100000:min-keyint=100000:scenecut=0 -b:v 8M \
  -c:a aac -b:a 64k -t "$DURATION" -f flv "rtmp://${RTMP_ADDR}/live/${channel}?key=${key}" || true
