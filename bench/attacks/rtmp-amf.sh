#!/usr/bin/env bash
# Attack for bench/hostile.sh: see rtmp_attack.py (amf). Env: RTMP_ADDR, DURATION.
set -euo pipefail
exec timeout --kill-after=5 "$(( ${DURATION:-60} + 10 ))" python3 "$(dirname "$0")/rtmp_attack.py" amf
