"""The listener API end to end (SPEC §3, §4): real olbd, real redis-server, real
olb-listener instances registered with olbctl."""
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import http.client

import pytest

from conftest import BUILD, OLBCTL, answers, free_port, http_get, wait_for

TOKEN = "t-system-test-token"
LISTENER = os.path.join(BUILD, "olb-listener")
CREATE = "/api/v1/listener/create_user_listener"
REMOVE = "/api/v1/listener/remove_user_listener"


class Fleet:
    """olb-listener processes registered as instances in olbd's Redis."""

    def __init__(self, olbd):
        self.olbd = olbd
        self.procs = []
        self.ids = {}

    def ctl(self, *args, check=True):
        out = subprocess.run([OLBCTL, "-c", self.olbd.conf] + self.olbd.args() + list(args),
                             capture_output=True, text=True, timeout=10)
        if check:
            assert out.returncode == 0, out
        return out

    def add(self, role, name, *opts):
        port = free_port()
        p = subprocess.Popen([LISTENER, "--port", str(port), "--name", name] + list(opts),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_for(lambda: answers(port), 5, what="listener %s" % name)
        out = self.ctl("instance", "add", "--role", role, "--addr", "127.0.0.1:%d" % port,
                       "--name", name)
        self.ids[name] = out.stdout.strip().split()[-1]
        return port

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(5)


def call(port, path, body, token=TOKEN, headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        h = {"Content-Type": "application/json"}
        if token is not None:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        conn.request("POST", path, body=raw if raw is not None else json.dumps(body), headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def master(actid):
    return {"actid": actid, "broker": "b", "access_token": "secret-at",
            "master_actid": "", "services": {"master": True}}


def client(actid, master_actid):
    return {"actid": actid, "broker": "b", "access_token": "secret-at",
            "master_actid": master_actid, "services": {"master": False}}


@pytest.fixture
def api(olbd_factory):
    o = olbd_factory(extra=["proxy.auth_tokens=[\"other-token-x\",\"%s\"]" % TOKEN,
                            "scaling.max_users_per_master=2", "scaling.master_threshold=2",
                            "scaling.max_users_per_client=4", "scaling.client_threshold=4",
                            "proxy.upstream_timeout_ms=800"]).start()
    fleet = Fleet(o)
    yield o, fleet
    fleet.stop()


def test_auth(api):
    o, _ = api
    assert call(o.port, CREATE, master("m1"), token=None)[::2] == (
        401, b'{"status":false,"message":"Unauthorized: Bearer token required"}')
    assert call(o.port, CREATE, master("m1"), token=None,
                headers={"Authorization": "Basic abc"})[0] == 401
    assert call(o.port, CREATE, master("m1"), token="wrong")[::2] == (
        403, b'{"status":false,"message":"Forbidden: Invalid token"}')
    assert call(o.port, "/api/v1/listener/other", master("m1"))[0] == 404


def test_validation_messages(api):
    o, _ = api
    status, _, body = call(o.port, CREATE, {"actid": "1", "services": {"master": True}})
    assert (status, json.loads(body)["message"]) == (
        400, "Required fields missing: broker, access_token, master_actid")
    status, _, body = call(o.port, CREATE, client("c1", ""))
    assert (status, json.loads(body)["message"]) == (
        400, "master_actid is required when services.master is false")
    status, _, body = call(o.port, CREATE, None, raw='{"actid": ')
    assert status == 400 and json.loads(body)["status"] is False
    assert b"secret-at" not in body


def test_master_placement_and_capacity(api):
    o, fleet = api
    fleet.add("master", "Master_Listener-1")
    status, headers, body = call(o.port, CREATE, master("m1"))
    assert status == 200, body
    assert json.loads(body)["name"] == "Master_Listener-1"
    assert "x-request-id" in headers
    assert call(o.port, CREATE, master("m1"))[0] == 200          # re-login
    assert call(o.port, CREATE, master("m2"))[0] == 200
    status, headers, body = call(o.port, CREATE, master("m3"))     # cap 2
    assert status == 503 and headers["retry-after"]
    assert json.loads(body) == {"status": False, "message": "No instance available"}
    fleet.add("master", "Master_Listener-2")
    status, _, body = call(o.port, CREATE, master("m3"))
    assert status == 200 and json.loads(body)["name"] == "Master_Listener-2"


def test_clients_spread_and_release(api):
    o, fleet = api
    for n in range(3):
        fleet.add("client", "Client_Listener-%d" % (n + 1))
    names = [json.loads(call(o.port, CREATE, client("c%d" % i, "M"))[2])["name"]
             for i in range(6)]
    assert sorted(names.count(n) for n in set(names)) == [2, 2, 2], names
    status, _, body = call(o.port, REMOVE, client("c0", "M"))
    assert status == 200, body
    out = fleet.ctl("placement", "c0")
    assert "Client_Listener" not in out.stdout


def test_unhealthy_instance_is_replaced(api):
    o, fleet = api
    fleet.add("client", "Client_Listener-1")
    fleet.add("client", "Client_Listener-2")
    first = json.loads(call(o.port, CREATE, client("c1", "M"))[2])["name"]
    fleet.ctl("instance", "state", fleet.ids[first], "unhealthy")
    time.sleep(0.2)
    again = json.loads(call(o.port, CREATE, client("c1", "M"))[2])["name"]
    assert again != first


def test_upstream_status_relayed_and_failures(api):
    o, fleet = api
    fleet.add("master", "Master_Listener-1", "--fail-status", "409")
    status, _, body = call(o.port, CREATE, master("m1"))
    assert status == 409 and json.loads(body)["message"] == "injected"


def test_dead_instance_502_silent_504(api):
    o, fleet = api
    port = fleet.add("master", "Master_Listener-1", "--delay-ms", "3000")
    t0 = time.monotonic()
    status, _, body = call(o.port, CREATE, master("m1"))
    assert status == 504 and time.monotonic() - t0 < 2.5
    fleet.procs[0].kill()
    fleet.procs[0].wait(5)
    status, _, body = call(o.port, CREATE, master("m2"))
    assert status == 502 and json.loads(body)["status"] is False


def test_access_log_and_secrets(olbd_factory, tmpdir_path):
    access = os.path.join(tmpdir_path, "access.log")
    o = olbd_factory(extra=["proxy.auth_tokens=[\"%s\"]" % TOKEN, "log.format=json",
                            "log.access_log=%s" % access]).start()
    fleet = Fleet(o)
    try:
        fleet.add("master", "Master_Listener-1")
        body = master("acc-1")
        body["access_token"] = "very-secret-access-token"
        status, headers, _ = call(o.port, CREATE, body, headers={"X-Request-Id": "rid-123"})
        assert status == 200 and headers["x-request-id"] == "rid-123"
        assert http_get(o.port, "/api/v1/test")[0] == 200

        def lines():
            with open(access) as f:
                return [json.loads(line) for line in f if line.strip()]
        got = wait_for(lambda: [l for l in lines() if l["path"] == CREATE], 3, what="access line")
        line = got[0]
        assert (line["request_id"], line["method"], line["status"], line["actid"]) == (
            "rid-123", "POST", 200, "acc-1")
        assert line["instance"] == fleet.ids["Master_Listener-1"]
        assert line["bytes"] > 0 and line["duration_ms"] >= 0
        assert [l for l in lines() if l["path"] == "/api/v1/test"][0]["status"] == 200
    finally:
        fleet.stop()
    with open(access) as f:
        text = f.read()
    for secret in ("very-secret-access-token", TOKEN):
        assert secret not in text
        assert secret not in o.log_text()


class _Backend:
    """A tiny instance that answers every POST with a fixed status, headers and
    body, and remembers the last request it got (to check what olb forwards)."""

    def __init__(self, status, headers, body):
        import http.server
        import socketserver
        backend = self
        self.last = None

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                backend.last = (self.command, self.path, dict(self.headers), self.rfile.read(n))
                self.send_response(status, "Custom Reason")
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [201, 409, 500])
def test_upstream_answer_relayed_faithfully(api, status):
    o, fleet = api
    body = b'{"ok":"\xc3\xa9t\xc3\xa9","n":1}'
    backend = _Backend(status, [("X-Instance-Header", "kept"), ("Set-Cookie", "a=b"),
                                ("Connection", "X-Hop"), ("X-Hop", "dropped")], body)
    try:
        fleet.ctl("instance", "add", "--role", "master", "--addr",
                  "127.0.0.1:%d" % backend.port, "--name", "py")
        raw = '{"actid":"m-%d","broker":"b","access_token":"t","master_actid":"",' \
              '"services":{"master":true},"extra":[1, 2.50,  "x"]}' % status
        got, headers, data = call(o.port, CREATE + "?q=1&r=%2F", None, raw=raw,
                                  headers={"X-Custom": "c1", "X-Request-Id": "rid-9"})
        assert (got, data) == (status, body)
        assert headers["x-instance-header"] == "kept" and headers["set-cookie"] == "a=b"
        assert "x-hop" not in headers
        method, path, fwd, fwd_body = backend.last
        assert (method, path) == ("POST", CREATE + "?q=1&r=%2F")
        assert fwd_body == raw.encode()                     # byte for byte
        assert fwd["X-Custom"] == "c1" and fwd["X-Request-Id"] == "rid-9"
        assert fwd["X-Forwarded-For"] == "127.0.0.1" and fwd["X-Forwarded-Proto"] == "http"
    finally:
        backend.close()


def test_forwarded_for_appended(api):
    """A client's X-Forwarded-For reaches the instance with the client's address
    after it; a request without one gets the address alone (above)."""
    o, fleet = api
    backend = _Backend(200, [], b'{"status":true}')
    try:
        fleet.ctl("instance", "add", "--role", "master", "--addr",
                  "127.0.0.1:%d" % backend.port, "--name", "xff")
        raw = '{"actid":"m-xff","broker":"b","access_token":"t","master_actid":"",' \
              '"services":{"master":true}}'
        got = call(o.port, CREATE, None, raw=raw,
                   headers={"X-Forwarded-For": "10.1.2.3, 10.4.5.6"})[0]
        assert got == 200
        fwd = backend.last[2]
        assert fwd["X-Forwarded-For"] == "10.1.2.3, 10.4.5.6, 127.0.0.1"
        assert fwd["X-Forwarded-Proto"] == "http" and len(fwd["X-Request-Id"]) == 32
    finally:
        backend.close()


def _http10(sock, body):
    """One HTTP/1.0 keep-alive create on sock: the answer's head and body."""
    sock.sendall(b"POST " + CREATE.encode() + b" HTTP/1.0\r\nConnection: keep-alive\r\n"
                 b"Content-Type: application/json\r\nAuthorization: Bearer " +
                 TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, rest = data.split(b"\r\n\r\n", 1)
    length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")][0])
    while len(rest) < length:
        rest += sock.recv(4096)
    return head, rest


def test_http10_client_relayed(api):
    """An HTTP/1.0 client sends no Host; olb forwards as HTTP/1.1, so it names
    the instance in one (else the instance answers 400); the answer tells the
    client the connection stays open (as olb's own answers do), and it takes a
    second request."""
    o, fleet = api
    fleet.add("master", "Master_Listener-1")
    with socket.create_connection(("127.0.0.1", o.port), timeout=5) as s:
        for actid in ("m10a", "m10b"):
            head, body = _http10(s, json.dumps(master(actid)).encode())
            assert head.startswith(b"HTTP/1.1 200"), (head, body)
            assert b"\r\nConnection: keep-alive" in head, head
            assert json.loads(body)["actid"] == actid


def test_remove_when_instance_is_gone(api):
    """An account whose instance left the registry is released by remove (404:
    there is no listener to call) and can be placed again elsewhere."""
    o, fleet = api
    fleet.add("client", "Client_Listener-1")
    assert call(o.port, CREATE, client("c1", "M"))[0] == 200
    fleet.add("client", "Client_Listener-2")
    fleet.ctl("instance", "remove", fleet.ids["Client_Listener-1"])
    status, _, body = call(o.port, REMOVE, client("c1", "M"))
    assert (status, json.loads(body)["message"]) == (404, "Listener not found")
    assert "not placed" in fleet.ctl("placement", "c1").stdout
    status, _, body = call(o.port, CREATE, client("c1", "M"))
    assert status == 200 and json.loads(body)["name"] == "Client_Listener-2"


class _ClosingBackend:
    """An instance that answers with keep-alive (answer: the whole answer, by
    default a 200 with a JSON body), then closes the idle connection after
    close_ms (as Node.js does after its keepAliveTimeout)."""

    def __init__(self, close_ms, answer=None):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.close_ms = close_ms
        self.answer = answer
        self.connections = 0
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        with conn:
            conn.settimeout(5)
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")][0])
            while len(body) < length:
                body += conn.recv(65536)
            out = b'{"status":true}'
            conn.sendall(self.answer or
                         b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(out), out))
            time.sleep(self.close_ms / 1000.0)

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_answer_relayed(api, status):
    """An instance's 204 or 304 reaches the client without Content-Length (a
    204 must not carry one; a 304's would describe the representation, and
    the instance's own 42 is not this empty body's), and the client's
    connection takes the next request.  The instance closes each connection
    once it has answered, and says so (Connection: close): a connection
    pooled while it closes could meet the next request, a race no proxy
    can win for a POST (test_upstream_resend)."""
    o, fleet = api
    backend = _ClosingBackend(close_ms=0, answer=(
        b"HTTP/1.1 %d X\r\nX-Listener: yes\r\nConnection: close\r\n%s\r\n" %
        (status, b"Content-Length: 42\r\n" if status == 304 else b"")))
    try:
        fleet.ctl("instance", "add", "--role", "master", "--addr",
                  "127.0.0.1:%d" % backend.port, "--name", "bodiless")
        with socket.create_connection(("127.0.0.1", o.port), timeout=5) as s:
            for actid in ("mb1", "mb2"):
                body = json.dumps(master(actid)).encode()
                s.sendall(b"POST " + CREATE.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nAuthorization: Bearer " +
                          TOKEN.encode() + b"\r\nContent-Length: %d\r\n\r\n" %
                          len(body) + body)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    assert chunk, data
                    data += chunk
                head, rest = data.split(b"\r\n\r\n", 1)
                assert head.startswith(b"HTTP/1.1 %d" % status), head
                assert b"\r\nX-Listener: yes" in head, head
                assert b"content-length" not in head.lower(), head
                assert rest == b"", rest
    finally:
        backend.close()


def test_pooled_connection_closed_by_instance(api):
    """A pooled connection the instance closed while idle is never used: the
    next call opens a new one and succeeds (no 502, no retry of a POST)."""
    o, fleet = api
    backend = _ClosingBackend(close_ms=100)
    try:
        fleet.ctl("instance", "add", "--role", "master", "--addr",
                  "127.0.0.1:%d" % backend.port, "--name", "closing")
        for i in range(5):
            status, _, body = call(o.port, CREATE, master("m1"))
            assert (status, body) == (200, b'{"status":true}'), i
            time.sleep(0.3)
        assert backend.connections == 5
    finally:
        backend.close()
