#!/usr/bin/env bash
# Attack: 1,100 idle HTTP connections held for DURATION seconds — a third send nothing, a third
# half a request head (slowloris), a third one request and then sit idle — from 11 loopback
# addresses (127.0.0.2-12, 100 each). Connections the server closes are opened again at once.
# Env: HTTP_ADDR=host:port (loopback), DURATION (s); optional CONNS (1100).
set -euo pipefail
: "${HTTP_ADDR:?HTTP_ADDR=host:port}" "${DURATION:?DURATION seconds}"
exec python3 - "$HTTP_ADDR" "$DURATION" "${CONNS:-1100}" <<'PY'
import resource, selectors, socket, sys, time
host, port = sys.argv[1].rsplit(':', 1); port = int(port)
duration, total = float(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, total + 200)), hard))
if not host.startswith('127.') and host != 'localhost':
    sys.exit('http-idle: loopback only')
KINDS = [b'', b'GET /live/x/index.m3u8 HTTP/1.1\r\nHost: x\r\n', b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n']
sel = selectors.DefaultSelector()
opened = reopened = failed = 0
def open_one(i):
    global opened, failed
    s = socket.socket()
    try:
        s.bind(('127.0.0.%d' % (2 + (i // 100) % 250), 0))
        s.setblocking(False)
        s.connect_ex((host, port))
        sel.register(s, selectors.EVENT_READ, i)
        opened += 1
        if KINDS[i % 3]:
            try: s.send(KINDS[i % 3])
            except OSError: pass
    except OSError:
        failed += 1
        s.close()
end = time.monotonic() + duration
for i in range(total):
    open_one(i)
print(f'http-idle: {opened} connections open, {failed} failed', flush=True)
while time.monotonic() < end:
    for key, _ in sel.select(timeout=min(1.0, max(0.0, end - time.monotonic()))):
        s, i = key.fileobj, key.data
        try: data = s.recv(65536)
        except OSError: data = b''
        if not data:                       # closed by the server: come back
            sel.unregister(s); s.close(); reopened += 1
            if time.monotonic() < end: open_one(i)
print(f'http-idle: done; reopened {reopened} connections the server closed', flush=True)
PY
