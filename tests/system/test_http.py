"""The proxy workers' HTTP/1.x server: bodies, limits, bad requests, slow clients.

Each bad request gets its 4xx/5xx with a JSON body (or a closed connection), and
the worker keeps serving: a normal request on a new connection succeeds after it.
"""
import json
import socket
import time

import pytest

from conftest import http_get


def exchange(port, data, timeout=3.0, pause=None):
    """Send raw bytes, read until the server closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if pause is None:
            s.sendall(data)
        else:
            for piece in data:
                s.sendall(piece)
                time.sleep(pause)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def status_and_body(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


BAD = [
    ("bad request line", b"GARBAGE\r\n\r\n", 400),
    ("lowercase version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("no Host in 1.1", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400),
    ("bare LF", b"GET / HTTP/1.1\nHost: x\n\n", 400),
    ("NUL in target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("CL and TE", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("duplicate CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
     b"Content-Length: 1\r\n\r\nx", 400),
    ("negative CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("TE gzip", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("bad chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"zz\r\nabc\r\n0\r\n\r\n", 400),
    ("body too large", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n", 413),
    ("huge CL", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     413),
    ("headers too large", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
     431),
    ("too many headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 70 + b"\r\n", 431),
    ("unknown method", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
    ("absolute-form", b"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
]


@pytest.mark.parametrize("name,raw,status", BAD, ids=[b[0] for b in BAD])
def test_bad_request_gets_its_status(olbd, name, raw, status):
    got, body = status_and_body(exchange(olbd.port, raw))
    assert got == status
    doc = json.loads(body)
    assert doc["status"] is False and doc["message"]
    assert http_get(olbd.port)[0] == 200


def test_chunked_body_then_next_request(olbd):
    raw = (b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
           b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = exchange(olbd.port, raw)
    assert out.count(b"HTTP/1.1 200 OK") == 2
    assert out.endswith(b'{"status":true,"message":"success"}')


def test_content_length_body_split(olbd):
    body = b'{"actid":"1"}'
    parts = [b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
             b"Content-Length: %d\r\n\r\n" % len(body), body[:5], body[5:]]
    status, _ = status_and_body(exchange(olbd.port, parts, pause=0.05))
    assert status == 200


def test_http10_closes_unless_keep_alive(olbd):
    out = exchange(olbd.port, b"GET /api/v1/test HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in out
    with socket.create_connection(("127.0.0.1", olbd.port), timeout=3) as s:
        s.sendall(b"GET /api/v1/test HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in first
        s.sendall(b"GET /api/v1/test HTTP/1.0\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_expect_continue(olbd):
    with socket.create_connection(("127.0.0.1", olbd.port), timeout=3) as s:
        s.sendall(b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        assert s.recv(4096) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"{}")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")


def test_slow_header_gets_408(olbd_factory):
    o = olbd_factory(extra=["proxy.header_timeout_ms=500"]).start()
    t0 = time.monotonic()
    out = exchange(o.port, b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\n", timeout=5)
    assert time.monotonic() - t0 < 3
    status, body = status_and_body(out)
    assert status == 408 and json.loads(body)["status"] is False
    assert o.serving()


def test_idle_keep_alive_is_closed(olbd_factory):
    o = olbd_factory(extra=["proxy.idle_timeout_ms=300"]).start()
    with socket.create_connection(("127.0.0.1", o.port), timeout=3) as s:
        s.sendall(b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
        t0 = time.monotonic()
        assert s.recv(4096) == b""  # closed by the server, without an answer
        assert time.monotonic() - t0 < 2


def test_dribbling_header_still_times_out(olbd_factory):
    """The head timeout counts from the first byte: a byte every 200 ms does not
    extend it (slowloris)."""
    o = olbd_factory(extra=["proxy.header_timeout_ms=600"]).start()
    with socket.create_connection(("127.0.0.1", o.port), timeout=5) as s:
        t0 = time.monotonic()
        answer = b""
        for byte in b"GET /api/v1/test HTTP/1.1\r\nX-Slow: " + b"a" * 40:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
            s.setblocking(False)
            try:
                answer += s.recv(4096)
            except BlockingIOError:
                pass
            s.setblocking(True)
            if answer:
                break
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert time.monotonic() - t0 < 2.0
    assert o.serving()
