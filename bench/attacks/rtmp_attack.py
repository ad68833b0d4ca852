#!/usr/bin/env python3
"""Hostile RTMP clients for bench/hostile.sh (python3 stdlib only, loopback).

  rtmp_attack.py chunkstreams|amf|idle|keys

Environment: RTMP_ADDR=host:port, DURATION (seconds; the attack stops by itself),
HTTP_ADDR and ADMIN_AUTH=user:password (keys: creates its own keyed channel), IDLE_CONNS.
Prints one summary line at the end.
"""
import base64, json, os, random, socket, struct, sys, time, urllib.request

HOST, PORT = os.environ.get("RTMP_ADDR", "127.0.0.1:1935").rsplit(":", 1)
PORT = int(PORT)
DURATION = float(os.environ.get("DURATION", "60"))
END = time.monotonic() + DURATION


def left():
    return END - time.monotonic()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise ConnectionError("closed")
        b += c
    return b


def handshake():
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(b"\x03" + struct.pack(">II", 0, 0) + os.urandom(1528))
    s1 = recv_exact(s, 1 + 1536 + 1536)[1:1537]
    s.sendall(s1)  # C2 echoes S1
    return s


def amf_str(v):
    b = v.encode()
    return b"\x02" + struct.pack(">H", len(b)) + b


def amf_num(v):
    return b"\x00" + struct.pack(">d", v)


def amf_obj(d):
    out = b"\x03"
    for k, v in d.items():
        kb = k.encode()
        out += struct.pack(">H", len(kb)) + kb + (amf_str(v) if isinstance(v, str) else amf_num(v))
    return out + b"\x00\x00\x09"


def chunk(csid, type_id, stream_id, payload, chunk_size=128):
    """fmt 0 then fmt 3 continuation chunks (csid < 64)."""
    out = bytes([csid]) + b"\x00\x00\x00" + struct.pack(">I", len(payload))[1:] + bytes([type_id]) + struct.pack("<I", stream_id)
    out += payload[:chunk_size]
    for i in range(chunk_size, len(payload), chunk_size):
        out += bytes([0xC0 | csid]) + payload[i:i + chunk_size]
    return out


def closed(s, wait):
    s.settimeout(wait)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


def chunkstreams():
    conns = dropped = 0
    one = []
    for i in range(16000):
        c = 320 + i - 64
        one.append(bytes([1, c & 0xFF, c >> 8]) + b"\x00\x00\x00" + struct.pack(">I", 1000)[1:] + b"\x09" + struct.pack("<I", 1) + b"\x17" * 128)
    while left() > 0:
        try:
            s = handshake()
        except OSError:
            time.sleep(0.05)
            continue
        conns += 1
        try:
            for c in one:
                if left() <= 0:
                    break
                s.sendall(c)
        except OSError:
            pass
        if closed(s, min(2, max(left(), 0.01))):
            dropped += 1
        s.close()
    print(f"rtmp-chunkstreams: {conns} connections of 16,000 unfinished chunk streams, {dropped} dropped by the server")


def amf():
    cmd = amf_str("connect") + amf_num(1.0)
    n = (16 << 20) - 1 - len(cmd) - 5
    payload = cmd + b"\x0a" + struct.pack(">I", n) + b"\x05" * n
    msg = chunk(2, 1, 0, struct.pack(">I", 1 << 24)) + chunk(3, 20, 0, payload, 1 << 24)
    conns = dropped = 0
    while left() > 0:
        try:
            s = handshake()
        except OSError:
            time.sleep(0.05)
            continue
        conns += 1
        try:
            s.sendall(msg)
        except OSError:
            pass
        if closed(s, min(2, max(left(), 0.01))):
            dropped += 1
        s.close()
    print(f"rtmp-amf: {conns} connections sent a 16 MiB command with a 16 M-element array, {dropped} dropped")


def idle():
    want = int(os.environ.get("IDLE_CONNS", "300"))
    conns, opened, samples = [], 0, []
    while left() > 0:
        alive = []
        for s in conns:
            s.setblocking(False)
            try:
                if s.recv(65536) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        conns = alive
        samples.append(len(conns))
        while len(conns) < want and left() > 0:
            try:
                conns.append(socket.create_connection((HOST, PORT), timeout=2))
                opened += 1
            except OSError:
                break
        time.sleep(0.2)
    for s in conns:
        s.close()
    avg = sum(samples) / max(len(samples), 1)
    print(f"rtmp-idle: opened {opened} never-publishing connections (target {want} open), {avg:.0f} open on average")


def keys():
    http = os.environ.get("HTTP_ADDR", "127.0.0.1:8080")
    auth = base64.b64encode(os.environ.get("ADMIN_AUTH", "admin:admin").encode()).decode()
    ch = f"attack-keys-{os.getpid()}"
    secret = base64.b32encode(os.urandom(10)).decode()
    body = json.dumps({"id": ch, "name": ch, "sources": [], "publish_key": secret}).encode()
    req = urllib.request.Request(f"http://{http}/api/channels", data=body, method="POST",
                                 headers={"Authorization": "Basic " + auth, "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=5).read()
    except Exception as e:  # the attack still runs against the (maybe unknown) channel
        print(f"rtmp-keys: could not create {ch}: {e}", file=sys.stderr)
    tries = refused = 0
    while left() > 0:
        try:
            s = handshake()
        except OSError:
            time.sleep(0.05)
            continue
        guess = base64.b32encode(os.urandom(10)).decode()
        tc = f"rtmp://{HOST}:{PORT}/live"
        msgs = (chunk(3, 20, 0, amf_str("connect") + amf_num(1) + amf_obj({"app": "live", "tcUrl": tc}))
                + chunk(3, 20, 0, amf_str("createStream") + amf_num(2) + b"\x05")
                + chunk(8, 20, 1, amf_str("publish") + amf_num(0) + b"\x05" + amf_str(f"{ch}?key={guess}") + amf_str("live")))
        tries += 1
        try:
            s.sendall(msgs)
            got = b""
            s.settimeout(5)
            while True:
                c = s.recv(65536)
                if not c:
                    break
                got += c
            if b"Unauthorized" in got:
                refused += 1
        except OSError:
            pass
        s.close()
    if tries:
        req = urllib.request.Request(f"http://{http}/api/channels/{ch}", method="DELETE",
                                     headers={"Authorization": "Basic " + auth})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except Exception:
            pass
    print(f"rtmp-keys: {tries} wrong publish keys tried, {refused} answered Unauthorized")


{"chunkstreams": chunkstreams, "amf": amf, "idle": idle, "keys": keys}[sys.argv[1]]()
