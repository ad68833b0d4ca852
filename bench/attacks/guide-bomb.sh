#!/usr/bin/env bash
# Attack: hostile guide sources, added through the API by a signed-in account and synced over and
# over for DURATION seconds: a ~2 MiB gzip that expands to 1 GiB and an http source whose body is zeros without end (/dev/zero).
# Atoll must refuse both (guide_max_xml_bytes; zeros: guide_max_element_bytes or _fetch_bytes) and
# keep its memory flat. Loopback only; stops by itself.
# Env: HTTP_ADDR=host:port ADMIN_AUTH=user:password DURATION=seconds
set -euo pipefail
: "${HTTP_ADDR:?}" "${ADMIN_AUTH:?}" "${DURATION:=60}"
exec python3 - "$HTTP_ADDR" "$ADMIN_AUTH" "$DURATION" <<'PY'
import base64, gzip, http.server, json, sys, threading, time, urllib.error, urllib.request

addr, auth, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
deadline = time.monotonic() + duration
hdr = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
       "Content-Type": "application/json"}

# the bomb: <tv> + 1 GiB of spaces and empty comments (small XML events, so only the size caps
# stop it) + </tv> as 1026 concatenated gzip members (one readable gzip stream, about 2 MiB),
# made in a moment from one compressed MiB
spaces = gzip.compress((b" " * 57 + b"<!---->") * (1 << 14), compresslevel=9)
bomb = (gzip.compress(b'<?xml version="1.0"?>\n<tv>') + spaces * 1024 + gzip.compress(b"</tv>\n"))

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        if self.path.startswith("/bomb"):
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)
        else:  # /zero: an endless body
            self.end_headers()
            zeros = b"\0" * (1 << 16)
            try:
                while time.monotonic() < deadline:
                    self.wfile.write(zeros)
            except OSError:
                pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()

def api(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request("http://%s%s" % (addr, path), data=data if method != "GET" else None,
                                 method=method, headers=hdr)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            t = r.read()
            return r.status, (json.loads(t) if t else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")

ids = []
for name, path in (("attack bomb", "/bomb.xml.gz"), ("attack zero", "/zero.xml")):
    s, v = api("POST", "/api/epg/sources", {"name": name, "url": "http://127.0.0.1:%d%s" % (port, path)})
    if s != 201:
        print("guide-bomb: could not add %s: %s %s" % (name, s, v), file=sys.stderr)
        sys.exit(1)
    ids.append(v["id"])

syncs = 0
while time.monotonic() < deadline:
    for i in ids:
        api("POST", "/api/epg/sources/%d/sync" % i)
        syncs += 1
    time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))

errors = []
for i in ids:
    s, v = api("GET", "/api/epg/sources/%d" % i)
    errors.append(v.get("last_error") if isinstance(v, dict) else v)
    api("DELETE", "/api/epg/sources/%d" % i)
srv.shutdown()
print("guide-bomb: %d sync requests; last errors: %s" % (syncs, errors))
PY
