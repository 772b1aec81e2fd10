"""olb-listener, the demo order listener (workers/demo/listener.c): one instance of the fleet.

Each test starts the real binary on a free loopback port and stops it by pid with
SIGTERM; the fixture then checks that it exited 0 and that its stderr holds no
sanitizer report (so the ASan build proves a clean, leak-free exit).
"""
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from conftest import BUILD, free_port, http_get, wait_for

LISTENER = os.path.join(BUILD, "olb-listener")
CREATE = "/api/v1/listener/create_user_listener"
REMOVE = "/api/v1/listener/remove_user_listener"
ACCOUNTS = "/api/v1/listener/accounts"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Listener:
    """One olb-listener process with its stderr in a file."""

    def __init__(self, name="L1", extra=()):
        self.name = name
        self.port = free_port()
        self.extra = list(extra)
        self.log = tempfile.NamedTemporaryFile(prefix="olb-listener-", suffix=".log",
                                               delete=False)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [LISTENER, "--port", str(self.port), "--name", self.name] + self.extra,
            stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for(self.serving, 5, what="olb-listener on %d" % self.port)
        return self

    def serving(self):
        """Answering HTTP (with any status: --health-status may be a 5xx)."""
        try:
            return http_get(self.port, timeout=0.5)[0] > 0
        except OSError:
            return False

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM by pid; returns the exit status (killed after 10 s)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def close(self):
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture
def listener_factory():
    started = []

    def make(name="L1", extra=()):
        lst = Listener(name, extra)
        started.append(lst)
        return lst.start()

    yield make
    failures = []
    for lst in started:
        rc = lst.stop()
        text = lst.stderr()
        lst.close()
        if rc != 0:
            failures.append("olb-listener %s exited %s:\n%s" % (lst.name, rc, text[-4000:]))
        for marker in SANITIZER_MARKERS:
            if marker in text:
                failures.append("sanitizer report:\n%s" % text[-4000:])
    assert not failures, "\n".join(failures)


@pytest.fixture
def lst(listener_factory):
    return listener_factory()


def call(port, path, payload=None, method="POST", headers=None, raw=None):
    """One request; returns (status, headers, parsed JSON body)."""
    body = raw if raw is not None else (
        json.dumps(payload).encode() if payload is not None else None)
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    hdrs.update(headers or {})
    status, h, data = http_get(port, path, method=method, headers=hdrs, body=body)
    assert h["content-type"] == "application/json"
    return status, h, json.loads(data) if data else None


def accounts(port):
    status, _, body = call(port, ACCOUNTS, method="GET")
    assert status == 200
    return body


class RawConn:
    """A raw client socket that reads HTTP/1.1 responses one at a time."""

    def __init__(self, port, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def response(self, head_only=False):
        """(status, headers dict with lower-case names, body bytes); head_only
        for the answer to a HEAD request."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status < 200 or head_only:
            return status, headers, b""
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed_by_peer(self):
        """True if the server closes the connection (after what was read)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def post(path, body, extra=b""):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def get(path, extra=b""):
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


# -- start-up and command line ------------------------------------------------

def test_prints_one_line_on_start(lst):
    assert lst.stderr() == "olb-listener L1 listening on 127.0.0.1:%d\n" % lst.port


def test_port_0_prints_the_bound_port():
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([LISTENER, "--port", "0", "--name", "Z"],
                             stdout=subprocess.DEVNULL, stderr=err)
        try:
            def line():
                err.seek(0)
                return err.read().decode()
            text = wait_for(line, 5, what="the start line")
            assert text.startswith("olb-listener Z listening on 127.0.0.1:")
            port = int(text.strip().rsplit(":", 1)[1])
            assert port > 0 and http_get(port)[0] == 200
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(10) == 0


def test_verbose_logs_each_answer(listener_factory):
    lst = listener_factory(extra=["--verbose"])
    call(lst.port, CREATE, {"actid": "V"})
    call(lst.port, "/nope", method="GET")
    text = wait_for(lambda: "GET /nope: 404" in lst.stderr() and lst.stderr(), 5,
                    what="the access lines")
    assert "POST %s: 200" % CREATE in text


@pytest.mark.parametrize("args", [
    [],
    ["--port", "1234"],
    ["--name", "x"],
    ["--port", "70000", "--name", "x"],
    ["--port", "abc", "--name", "x"],
    ["--port", "1234", "--name", "x", "--fail-status", "99"],
    ["--port", "1234", "--name", "x", "--delay-ms", "-1"],
    ["--port", "1234", "--name", "x", "--bogus"],
    ["--port", "1234", "--name", "x", "extra"],
])
def test_usage_errors_exit_2(args):
    p = subprocess.run([LISTENER] + args, capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "usage: olb-listener --port PORT --name NAME" in p.stderr


def test_port_in_use_exits_1():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        p = subprocess.run([LISTENER, "--port", str(port), "--name", "x"],
                           capture_output=True, text=True, timeout=10)
    assert p.returncode == 1
    assert "bind(127.0.0.1:%d): Address already in use" % port in p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_with_open_connections(listener_factory, sig):
    lst = listener_factory(extra=["--delay-ms", "5000"])
    idle = RawConn(lst.port)
    busy = RawConn(lst.port)
    busy.send(post(CREATE, b'{"actid":"a"}'))     # held by the delay
    call(lst.port, "/api/v1/healthCheck", method="GET")
    t0 = time.monotonic()
    os.kill(lst.pid, sig)
    assert lst.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2
    idle.close()
    busy.close()


# -- endpoints -----------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE", "OPTIONS"])
def test_health_any_method(lst, method):
    status, _, body = call(lst.port, "/api/v1/healthCheck?probe=1", method=method)
    assert status == 200
    assert body == {"status": True, "message": "Health is OK", "name": "L1"}


def test_health_head_has_no_body(lst):
    c = RawConn(lst.port)
    c.send(b"HEAD /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n\r\n" + get("/api/v1/healthCheck"))
    status, h, body = c.response(head_only=True)
    assert status == 200 and int(h["content-length"]) > 0
    status, _, body = c.response()        # the next answer starts right after the head
    assert status == 200 and json.loads(body)["status"] is True
    c.close()


@pytest.mark.parametrize("method,path", [
    ("GET", "/"),
    ("GET", "/api/v1/listener"),
    ("GET", CREATE),
    ("POST", ACCOUNTS),
    ("POST", "/api/v1/listener/nope"),
    ("GET", "/api/v1/healthCheckX"),
])
def test_not_found(lst, method, path):
    status, _, body = call(lst.port, path, method=method)
    assert status == 404
    assert body == {"status": False, "message": "Path not found"}


def test_create_remove_accounts_round_trip(lst):
    assert accounts(lst.port) == {"name": "L1", "accounts": []}
    status, _, body = call(lst.port, CREATE, {"actid": "A1", "broker": "x"})
    assert status == 200
    assert body == {"status": True, "message": "Listener created", "name": "L1",
                    "actid": "A1", "accounts": 1}
    status, _, body = call(lst.port, CREATE, {"actid": 42})
    assert status == 200 and body["actid"] == "42" and body["accounts"] == 2
    assert sorted(accounts(lst.port)["accounts"]) == ["42", "A1"]

    status, _, body = call(lst.port, REMOVE, {"actid": "A1"})
    assert status == 200
    assert body == {"status": True, "message": "Listener removed", "name": "L1",
                    "actid": "A1", "accounts": 1}
    status, _, body = call(lst.port, REMOVE, {"actid": "A1"})
    assert status == 404
    assert body["status"] is False and body["message"] == "Listener not found"
    status, _, body = call(lst.port, REMOVE, {"actid": "42"})   # string and number: one id
    assert status == 200 and body["accounts"] == 0
    assert accounts(lst.port)["accounts"] == []


def test_repeated_create_keeps_count(lst):
    call(lst.port, CREATE, {"actid": "A1"})
    status, _, body = call(lst.port, CREATE, {"actid": "A1"})
    assert status == 200
    assert body["status"] is True and body["message"] == "Listener already running"
    assert body["accounts"] == 1
    assert accounts(lst.port)["accounts"] == ["A1"]


def test_many_accounts(lst):
    """The set grows and shrinks (rehash, backward-shift deletion) without losing ids."""
    c = RawConn(lst.port)
    ids = ["acct-%d" % i for i in range(600)]
    c.send(b"".join(post(CREATE, json.dumps({"actid": a}).encode()) for a in ids))
    for _ in ids:
        assert c.response()[0] == 200
    c.send(b"".join(post(REMOVE, json.dumps({"actid": a}).encode()) for a in ids[::2]))
    for _ in ids[::2]:
        assert c.response()[0] == 200
    c.close()
    assert sorted(accounts(lst.port)["accounts"]) == sorted(ids[1::2])
    for a in ids[1::2]:
        assert call(lst.port, CREATE, {"actid": a})[2]["message"] == "Listener already running"


@pytest.mark.parametrize("raw", [
    b"",
    b"not json",
    b"{\"actid\":\"a\"",
    b"{\"actid\":\"a\"} trailing",
    b"[\"actid\"]",
    b"{}",
    b"{\"actid\":null}",
    b"{\"actid\":\"\"}",
    b"{\"actid\":\"   \"}",
    b"{\"actid\":1.5}",
    b"{\"actid\":{\"x\":1}}",
])
@pytest.mark.parametrize("path", [CREATE, REMOVE])
def test_actid_required(lst, raw, path):
    status, _, body = call(lst.port, path, raw=raw)
    assert status == 400
    assert body == {"status": False, "message": "actid is required", "name": "L1"}


def test_name_and_actid_are_json_escaped(listener_factory):
    lst = listener_factory(name='we"ird\\name')
    status, _, body = call(lst.port, CREATE, {"actid": 'a"b\\c\n\u00e9'})
    assert status == 200
    assert body["name"] == 'we"ird\\name' and body["actid"] == 'a"b\\c\n\u00e9'
    assert accounts(lst.port)["accounts"] == ['a"b\\c\n\u00e9']


def test_accounts_max(listener_factory):
    lst = listener_factory(extra=["--accounts-max", "1"])
    assert call(lst.port, CREATE, {"actid": "A"})[0] == 200
    status, _, body = call(lst.port, CREATE, {"actid": "B"})
    assert status == 503 and body["status"] is False and body["accounts"] == 1
    assert call(lst.port, CREATE, {"actid": "A"})[0] == 200     # hosted already
    assert call(lst.port, REMOVE, {"actid": "A"})[0] == 200
    assert call(lst.port, CREATE, {"actid": "B"})[0] == 200


# -- HTTP ----------------------------------------------------------------------

def test_request_id_echoed(lst):
    _, h, _ = call(lst.port, CREATE, {"actid": "A"}, headers={"X-Request-Id": "req-123"})
    assert h["x-request-id"] == "req-123"
    _, h, _ = call(lst.port, "/api/v1/healthCheck", method="GET",
                   headers={"x-request-id": "abc"})
    assert h["x-request-id"] == "abc"
    _, h, _ = call(lst.port, "/nope", method="GET", headers={"X-Request-Id": "nf"})
    assert h["x-request-id"] == "nf"
    _, h, _ = call(lst.port, "/api/v1/healthCheck", method="GET")
    assert "x-request-id" not in h


def test_pipelined_requests_answered_in_order(lst):
    c = RawConn(lst.port)
    c.send(get("/api/v1/healthCheck", b"X-Request-Id: r1\r\n") +
           post(CREATE, b'{"actid":"P1"}', b"X-Request-Id: r2\r\n") +
           post(CREATE, b'{"actid":"P2"}', b"X-Request-Id: r3\r\n") +
           get("/nope", b"X-Request-Id: r4\r\n") +
           get(ACCOUNTS, b"X-Request-Id: r5\r\n"))
    answers = [c.response() for _ in range(5)]
    assert [a[1]["x-request-id"] for a in answers] == ["r1", "r2", "r3", "r4", "r5"]
    assert [a[0] for a in answers] == [200, 200, 200, 404, 200]
    assert json.loads(answers[2][2])["accounts"] == 2
    assert sorted(json.loads(answers[4][2])["accounts"]) == ["P1", "P2"]
    # Still open: keep-alive.
    c.send(get("/api/v1/healthCheck"))
    assert c.response()[0] == 200
    c.close()


def test_pipelined_requests_split_anywhere(lst):
    data = (post(CREATE, b'{"actid":"S1"}') + get("/api/v1/healthCheck") +
            post(REMOVE, b'{"actid":"S1"}'))
    c = RawConn(lst.port)
    for i in range(0, len(data), 7):
        c.send(data[i:i + 7])
        time.sleep(0.001)
    assert [c.response()[0] for _ in range(3)] == [200, 200, 200]
    c.close()


def test_many_pipelined_requests_with_backed_up_output(lst):
    """More answers than the output high-water mark, read only at the end."""
    c = RawConn(lst.port, timeout=10)
    n = 3000
    c.send(get("/api/v1/healthCheck") * n)
    for _ in range(n):
        assert c.response()[0] == 200
    c.close()


def test_chunked_body(lst):
    c = RawConn(lst.port)
    body = b'{"actid":"CH1","pad":"' + b"x" * 5000 + b'"}'
    pieces = [body[:10], body[10:4000], body[4000:]]
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + \
        b"0\r\nX-Trailer: t\r\n\r\n"
    head = (b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\nX-Request-Id: ch\r\n\r\n")
    data = head + chunked + get("/api/v1/healthCheck")     # pipelined after the body
    for i in range(0, len(data), 1000):
        c.send(data[i:i + 1000])
        time.sleep(0.002)
    status, h, rbody = c.response()
    assert status == 200 and h["x-request-id"] == "ch"
    assert json.loads(rbody)["actid"] == "CH1"
    assert c.response()[0] == 200
    c.close()


def test_bad_chunk_size_is_400_and_closes(lst):
    c = RawConn(lst.port)
    c.send(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
    status, h, _ = c.response()
    assert status == 400 and h["connection"] == "close"
    assert c.closed_by_peer()
    c.close()


def test_body_up_to_1_mib(lst):
    pad = b"x" * (1024 * 1024 - 40)
    body = b'{"actid":"BIG","pad":"' + pad + b'"}'
    assert len(body) <= 1024 * 1024
    status, _, rbody = call(lst.port, CREATE, raw=body)
    assert status == 200 and rbody["actid"] == "BIG"

    c = RawConn(lst.port, timeout=10)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                       for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
    c.send(b"POST " + REMOVE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
    status, _, rbody = c.response()
    assert status == 200 and json.loads(rbody)["message"] == "Listener removed"
    c.close()


def test_body_over_1_mib_is_413(lst):
    c = RawConn(lst.port)
    c.send(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: 1048577\r\n\r\n")
    status, h, _ = c.response()
    assert status == 413 and h["connection"] == "close"
    c.close()

    c = RawConn(lst.port, timeout=10)
    chunk = b"y" * 65536
    try:
        c.send(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" +
               (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 17 + b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert c.response()[0] == 413
    c.close()


def test_expect_100_continue(lst):
    c = RawConn(lst.port)
    body = b'{"actid":"E1"}'
    c.send(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    assert c.response()[0] == 100
    c.send(body)
    status, _, rbody = c.response()
    assert status == 200 and json.loads(rbody)["actid"] == "E1"
    c.close()


def test_bad_request_is_400_then_closed(lst):
    c = RawConn(lst.port)
    c.send(b"GARBAGE\r\n\r\n")
    status, h, body = c.response()
    assert status == 400 and h["connection"] == "close"
    assert json.loads(body)["status"] is False
    assert c.closed_by_peer()
    c.close()
    assert lst.serving()


def test_http10(lst):
    c = RawConn(lst.port)
    c.send(b"GET /api/v1/healthCheck HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    status, h, _ = c.response()
    assert status == 200 and h["connection"].lower() == "keep-alive"
    c.send(b"GET /api/v1/healthCheck HTTP/1.0\r\n\r\n")
    status, h, _ = c.response()
    assert status == 200 and h["connection"] == "close"
    assert c.closed_by_peer()
    c.close()


def test_connection_close_request(lst):
    c = RawConn(lst.port)
    c.send(get("/api/v1/healthCheck", b"Connection: close\r\n") + get("/api/v1/healthCheck"))
    status, h, _ = c.response()
    assert status == 200 and h["connection"] == "close"
    assert c.closed_by_peer() and c.buf == b""      # the second request is not answered
    c.close()


def test_half_closed_client_still_gets_answers(lst):
    c = RawConn(lst.port)
    c.send(post(CREATE, b'{"actid":"H1"}') + get(ACCOUNTS))
    c.sock.shutdown(socket.SHUT_WR)
    assert c.response()[0] == 200
    status, _, body = c.response()
    assert status == 200 and json.loads(body)["accounts"] == ["H1"]
    assert c.closed_by_peer()
    c.close()


def test_head_too_large_is_431(lst):
    c = RawConn(lst.port)
    try:
        c.send(b"GET /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\nX-Big: " +
               b"b" * (70 * 1024) + b"\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, h, _ = c.response()
    assert status == 431 and h["connection"] == "close"
    c.close()
    assert lst.serving()


# -- test hooks ----------------------------------------------------------------

def test_fail_status(listener_factory):
    lst = listener_factory(extra=["--fail-status", "500"])
    for path in (CREATE, REMOVE):
        status, _, body = call(lst.port, path, {"actid": "A"})
        assert status == 500
        assert body == {"status": False, "message": "injected", "name": "L1"}
    assert call(lst.port, "/api/v1/healthCheck", method="GET")[0] == 200
    assert accounts(lst.port)["accounts"] == []


def test_health_status(listener_factory):
    lst = listener_factory(extra=["--health-status", "503"])
    status, _, body = call(lst.port, "/api/v1/healthCheck", method="GET")
    assert status == 503 and body["status"] is False and body["name"] == "L1"
    assert call(lst.port, CREATE, {"actid": "A"})[0] == 200


def test_delay(listener_factory):
    delay = 0.6
    lst = listener_factory(extra=["--delay-ms", str(int(delay * 1000))])
    result = {}

    def slow():
        t0 = time.monotonic()
        status, h, body = call(lst.port, CREATE, {"actid": "D1"},
                               headers={"X-Request-Id": "slow"})
        result["elapsed"] = time.monotonic() - t0
        result["answer"] = (status, h["x-request-id"], body["message"])

    t = threading.Thread(target=slow)
    t0 = time.monotonic()
    t.start()
    time.sleep(0.1)
    # Other connections are served meanwhile, health checks and reads undelayed.
    for _ in range(5):
        assert call(lst.port, "/api/v1/healthCheck", method="GET")[0] == 200
    assert accounts(lst.port)["accounts"] == ["D1"]
    assert time.monotonic() - t0 < delay
    assert "answer" not in result
    t.join(5)
    assert result["answer"] == (200, "slow", "Listener created")
    assert result["elapsed"] >= delay - 0.01


def test_delay_keeps_pipelined_order(listener_factory):
    lst = listener_factory(extra=["--delay-ms", "300"])
    c = RawConn(lst.port)
    t0 = time.monotonic()
    c.send(get("/api/v1/healthCheck") + post(CREATE, b'{"actid":"A"}') +
           get("/api/v1/healthCheck") + post(REMOVE, b'{"actid":"A"}'))
    assert c.response()[0] == 200
    assert time.monotonic() - t0 < 0.25          # the answer before the delayed one is not held
    statuses = [c.response()[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert time.monotonic() - t0 >= 0.59         # two delayed answers, one after the other
    c.close()
