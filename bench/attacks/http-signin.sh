#!/usr/bin/env bash
# Attack: password guessing for DURATION seconds — bursts of 100 parallel POST /api/session
# with wrong passwords for one account, and as many HTTP Basic guesses on /api/channels.
# Prints how many guesses were checked (answer other than 429); with the limiter that is at
# most 5 per account per 5 minutes.
# Env: HTTP_ADDR=host:port (loopback), DURATION (s); ATTACK_USER (default "victim": an unknown
# name costs the server the same argon2 check, and the admin account the bench uses stays usable;
# set ATTACK_USER=admin to lock the real one for 5 minutes).
set -euo pipefail
: "${HTTP_ADDR:?HTTP_ADDR=host:port}" "${DURATION:?DURATION seconds}"
USER_NAME="${ATTACK_USER:-victim}"
exec python3 - "$HTTP_ADDR" "$DURATION" "$USER_NAME" <<'PY'
import base64, json, socket, sys, threading, time
host, port = sys.argv[1].rsplit(':', 1); port = int(port)
duration, user = float(sys.argv[2]), sys.argv[3]
# guesses come from 127.0.0.200-250 (one address locks after 10 failures)
def req(src, raw):
    try:
        s = socket.create_connection((host, port), timeout=10, source_address=(src, 0))
        s.sendall(raw); got = s.recv(64); s.close()
        return int(got.split()[1])
    except Exception:
        return 0
def session(src, n):
    body = json.dumps({'user': user, 'password': f'guess-{n}'}).encode()
    return req(src, b'POST /api/session HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' % (host.encode(), len(body), body))
def basic(src, n):
    tok = base64.b64encode(f'{user}:guess-{n}'.encode())
    return req(src, b'GET /api/channels HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nAuthorization: Basic %s\r\n\r\n' % (host.encode(), tok))
counts, lock, n = {}, threading.Lock(), 0
end = time.monotonic() + duration
while time.monotonic() < end:
    threads = []
    for k in range(100):
        n += 1
        src = '127.0.0.%d' % (200 + n % 50)
        f = session if k % 2 else basic
        def run(f=f, src=src, n=n):
            st = f(src, n)
            with lock: counts[st] = counts.get(st, 0) + 1
        t = threading.Thread(target=run); t.start(); threads.append(t)
    for t in threads: t.join()
    time.sleep(min(1.0, max(0.0, end - time.monotonic())))
checked = sum(v for k, v in counts.items() if k not in (429, 0))
print(f'http-signin: {sum(counts.values())} guesses, answers {dict(sorted(counts.items()))}, checked {checked}', flush=True)
PY
