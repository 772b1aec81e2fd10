"""A corpus of malformed and hostile requests against a running olbd (SPEC §3).

Table-driven: each case is raw bytes sent on a fresh connection, and the exact
outcome olb must give: a status with its JSON error body
{"status":false,"message":...}, or a closed connection without an answer.
Right after each case a normal GET /api/v1/healthCheck on another connection
must succeed, served by the same proxy worker process: olbd runs one proxy
worker here, so a crash (even one the supervisor repairs by a restart) shows
as a new worker pid.  No answer may carry the access_token of the body or the
bearer token of the request.

One redis-server and one olbd serve the whole module (every case hits the same
worker, one after the other); they are stopped by pid at the end of it.
"""
import json
import os
import socket
import tempfile
import time

import pytest

from conftest import Olbd, RedisServer, http_get, wait_for

TOKEN = "tok-hostile-3b1f9e0c"
OTHER_TOKEN = "tok-hostile-rotated-77aa"
ACCESS_TOKEN = "AT-hostile-secret-5d2c"
CREATE = b"/api/v1/listener/create_user_listener"
REMOVE = b"/api/v1/listener/remove_user_listener"
HEADER_TIMEOUT_MS = 500
BODY_TIMEOUT_MS = 500

CLOSED = "closed connection"


def msg(status, message):
    return (status, message)


# The exact texts olb answers with (common/http.c http_error_message,
# workers/proxy/payload.c); SPEC §3 fixes the status classes and the auth texts.
BAD_REQUEST = msg(400, "Bad request")
UNAUTHORIZED = msg(401, "Unauthorized: Bearer token required")
FORBIDDEN = msg(403, "Forbidden: Invalid token")
NOT_FOUND = msg(404, "Path not found")
TIMEOUT = msg(408, "Request timeout")
TOO_LARGE = msg(413, "Request body too large")
URI_TOO_LONG = msg(414, "Request target too long")
MEDIA_TYPE = msg(415, "Content-Type must be application/json")
HEADERS_TOO_LARGE = msg(431, "Request headers too large")
NOT_IMPLEMENTED = msg(501, "Not implemented")
VERSION = msg(505, "HTTP version not supported")
INVALID_JSON = msg(400, "Invalid JSON payload")
NOT_OBJECT = msg(400, "Request body must be a JSON object")
ACTID_TYPE = msg(400, "actid must be a string or an integer")
HEALTH_OK = msg(200, "Health is OK")


def good_body(**over):
    doc = {"actid": "h1", "broker": "b", "access_token": ACCESS_TOKEN,
           "master_actid": "", "services": {"master": True}}
    doc.update(over)
    return json.dumps(doc).encode()


def api(body, ctype=b"application/json", auth=b"Bearer " + TOKEN.encode(),
        path=CREATE, method=b"POST", extra=b"", length=None):
    """A listener API request, head and body as raw bytes."""
    head = method + b" " + path + b" HTTP/1.1\r\nHost: lb.test\r\n"
    if ctype is not None:
        head += b"Content-Type: " + ctype + b"\r\n"
    if auth is not None:
        head += b"Authorization: " + auth + b"\r\n"
    head += extra
    head += b"Content-Length: %d\r\n\r\n" % (len(body) if length is None else length)
    return head + body


def chunked(path, chunks, extra=b""):
    """A chunked POST with the chunk section given raw."""
    return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" +
            extra + b"\r\n" + chunks)


H = b"/api/v1/healthCheck"
CLIENT_HELLO = bytes.fromhex(
    "160301006a010000660303") + bytes(range(32)) + bytes.fromhex(
    "000006c02bc02f009c0100003700000013001100000e6c622e6578616d706c652e636f6d"
    "000a00080006001d00170018000d00140012040308040401050308050501080606010201")
NESTED = b'{"actid":' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"}"

# (id, bytes to send, mode, expected).  mode: "send" (send, then read the
# answer), "halfclose" (send, shut down our side, read), "stall" (send, then
# stay silent: the answer must come from a timeout).
CASES = [
    # --- request line ---------------------------------------------------------
    ("method only", b"GET\r\n\r\n", "send", BAD_REQUEST),
    ("no version", b"GET /api/v1/healthCheck\r\nHost: x\r\n\r\n", "send", BAD_REQUEST),
    ("two spaces", b"GET  /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     BAD_REQUEST),
    ("tabs in request line", b"GET\t/api/v1/healthCheck\tHTTP/1.1\r\nHost: x\r\n\r\n",
     "send", BAD_REQUEST),
    ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", "send", VERSION),
    ("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", "send", VERSION),
    ("version HTTP/1.10", b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", "send", BAD_REQUEST),
    ("lone CR ends request line", b"GET / HTTP/1.1\rHost: x\r\n\r\n", "send", BAD_REQUEST),
    ("lone CR before request", b"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", "send", BAD_REQUEST),
    ("lone CR in header", b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", "send", BAD_REQUEST),
    ("target too long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     URI_TOO_LONG),
    ("fragment in target", b"GET /api/v1/healthCheck#x HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     BAD_REQUEST),
    ("non-ASCII target", b"GET /api/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     BAD_REQUEST),
    ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "send", BAD_REQUEST),
    ("TLS ClientHello", CLIENT_HELLO, "send", BAD_REQUEST),
    # --- methods ----------------------------------------------------------------
    ("unknown method", b"FROB /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     NOT_IMPLEMENTED),
    ("lowercase method", b"get /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     NOT_IMPLEMENTED),
    ("TRACE", b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", "send", NOT_IMPLEMENTED),
    ("method of 40 letters", b"A" * 40 + b" / HTTP/1.1\r\nHost: x\r\n\r\n", "send",
     NOT_IMPLEMENTED),
    ("unknown method on listener API", api(good_body(), method=b"FROB"), "send",
     NOT_IMPLEMENTED),
    # --- header fields ----------------------------------------------------------
    ("header line of 9000 bytes", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 +
     b"\r\n\r\n", "send", HEADERS_TOO_LARGE),
    ("65 header fields", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 65 + b"\r\n",
     "send", HEADERS_TOO_LARGE),
    ("duplicate Host", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "send", BAD_REQUEST),
    ("duplicate Content-Type", api(good_body(), extra=b"Content-Type: text/plain\r\n"),
     "send", BAD_REQUEST),
    ("duplicate Authorization", api(good_body(), extra=b"Authorization: Bearer x\r\n"),
     "send", BAD_REQUEST),
    ("header without colon", b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", "send",
     BAD_REQUEST),
    ("NUL in header value", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", "send",
     BAD_REQUEST),
    ("NUL in header name", b"GET / HTTP/1.1\r\nHost: x\r\nX-\x00A: b\r\n\r\n", "send",
     BAD_REQUEST),
    ("tab in header name", b"GET / HTTP/1.1\r\nHost: x\r\nX\tA: b\r\n\r\n", "send",
     BAD_REQUEST),
    # --- body framing -----------------------------------------------------------
    ("CL then TE", b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "send", BAD_REQUEST),
    ("TE then CL", b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", "send", BAD_REQUEST),
    ("CL twice, same value", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 2\r\n\r\nab", "send", BAD_REQUEST),
    ("CL twice, other value", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
     b"Content-Length: 0\r\n\r\nab", "send", BAD_REQUEST),
    ("CL list", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nab", "send",
     BAD_REQUEST),
    ("CL negative", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\nab", "send",
     BAD_REQUEST),
    ("CL plus sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", "send",
     BAD_REQUEST),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\nab", "send",
     BAD_REQUEST),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", "send",
     BAD_REQUEST),
    ("CL 2^64", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
     "send", TOO_LARGE),
    ("CL over max_body", api(b"", length=102401), "send", TOO_LARGE),
    ("CL over max_body with Expect", api(b"", length=200000,
                                        extra=b"Expect: 100-continue\r\n"), "send", TOO_LARGE),
    ("TE gzip", chunked(H, b"0\r\n\r\n").replace(b"chunked", b"gzip"), "send",
     NOT_IMPLEMENTED),
    ("TE gzip, chunked", chunked(H, b"0\r\n\r\n").replace(b"chunked", b"gzip, chunked"),
     "send", NOT_IMPLEMENTED),
    ("TE twice", chunked(H, b"0\r\n\r\n", extra=b"Transfer-Encoding: chunked\r\n"), "send",
     BAD_REQUEST),
    ("TE in HTTP/1.0", b"POST /api/v1/healthCheck HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
     b"\r\n0\r\n\r\n", "send", BAD_REQUEST),
    ("chunk size not hex", chunked(H, b"zz\r\nabc\r\n0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk size 0x prefix", chunked(H, b"0x5\r\nhello\r\n0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk size negative", chunked(H, b"-5\r\nhello\r\n0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk size with space", chunked(H, b"5 \r\nhello\r\n0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk size empty", chunked(H, b"\r\nhello\r\n0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk size overflows 64 bits", chunked(H, b"10000000000000000\r\nx\r\n"), "send",
     BAD_REQUEST),
    ("chunk size 2^64-1", chunked(H, b"ffffffffffffffff\r\nx\r\n"), "send", TOO_LARGE),
    ("chunks over max_body", chunked(H, b"10000\r\n" + b"a" * 65536 + b"\r\n10000\r\n"),
     "send", TOO_LARGE),
    ("chunk size line without CRLF", chunked(H, b"5hello\r\n0\r\n\r\n"), "send",
     BAD_REQUEST),
    ("chunk size ended by bare LF", chunked(H, b"5\nhello\r\n0\r\n\r\n"), "send",
     BAD_REQUEST),
    ("chunk data without CRLF", chunked(H, b"5\r\nhelloXX0\r\n\r\n"), "send", BAD_REQUEST),
    ("chunk extension of 2000 bytes", chunked(H, b"5;" + b"e" * 2000 + b"\r\nhello\r\n"),
     "send", BAD_REQUEST),
    ("trailer section too large", chunked(H, b"0\r\n" + b"X-T: " + b"t" * 9000 + b"\r\n\r\n"),
     "send", HEADERS_TOO_LARGE),
    ("truncated CL body, half-close", api(good_body())[:-10], "halfclose", CLOSED),
    ("truncated chunked body, half-close",
     chunked(CREATE, b"40\r\n" + good_body()[:20],
             extra=b"Content-Type: application/json\r\nAuthorization: Bearer " +
             TOKEN.encode() + b"\r\n"), "halfclose", CLOSED),
    # --- slow clients -----------------------------------------------------------
    ("slowloris: partial head", b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\nX-Slow: a",
     "stall", TIMEOUT),
    ("partial request line", b"POST /api/v1/listener/create_us", "stall", TIMEOUT),
    ("lone CR then silence", b"GET / HTTP/1.1\r\nHost: x\r\n\r", "stall", TIMEOUT),
    ("slow body", api(good_body())[:-10], "stall", TIMEOUT),
    # --- pipelining -------------------------------------------------------------
    ("good request then garbage", b"GET /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n\r\n"
     b"\x16\x03\x01garbage\r\n\r\n", "send", [HEALTH_OK, BAD_REQUEST]),
    ("smuggled request after CL+TE", b"POST /api/v1/healthCheck HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
     b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\n\r\n", "send", [BAD_REQUEST]),
    # --- authorization ----------------------------------------------------------
    ("no Authorization", api(good_body(), auth=None), "send", UNAUTHORIZED),
    ("lowercase bearer", api(good_body(), auth=b"bearer " + TOKEN.encode()), "send",
     UNAUTHORIZED),
    ("uppercase BEARER", api(good_body(), auth=b"BEARER " + TOKEN.encode()), "send",
     UNAUTHORIZED),
    ("Bearer without space", api(good_body(), auth=b"Bearer" + TOKEN.encode()), "send",
     UNAUTHORIZED),
    ("Bearer alone", api(good_body(), auth=b"Bearer"), "send", UNAUTHORIZED),
    ("Bearer and empty token", api(good_body(), auth=b"Bearer "), "send", UNAUTHORIZED),
    ("Basic", api(good_body(), auth=b"Basic dXNlcjpwYXNz"), "send", UNAUTHORIZED),
    ("empty Authorization", api(good_body(), auth=b""), "send", UNAUTHORIZED),
    ("token with a tab", api(good_body(), auth=b"Bearer\t" + TOKEN.encode()), "send",
     UNAUTHORIZED),
    ("wrong token", api(good_body(), auth=b"Bearer nope-" + TOKEN.encode()), "send",
     FORBIDDEN),
    ("token prefix", api(good_body(), auth=b"Bearer " + TOKEN[:-1].encode()), "send",
     FORBIDDEN),
    ("token plus a byte", api(good_body(), auth=b"Bearer " + TOKEN.encode() + b"x"), "send",
     FORBIDDEN),
    ("two spaces before token", api(good_body(), auth=b"Bearer  " + TOKEN.encode()), "send",
     FORBIDDEN),
    ("two tokens", api(good_body(), auth=b"Bearer " + TOKEN.encode() + b", " +
                       OTHER_TOKEN.encode()), "send", FORBIDDEN),
    ("wrong token, remove", api(good_body(), path=REMOVE, auth=b"Bearer x"), "send",
     FORBIDDEN),
    ("GET on create with token", api(b"", method=b"GET"), "send", NOT_FOUND),
    ("unknown listener path", api(good_body(), path=b"/api/v1/listener/drop_all"), "send",
     NOT_FOUND),
    # --- Content-Type of the listener API -----------------------------------------
    ("no Content-Type", api(good_body(), ctype=None), "send", MEDIA_TYPE),
    ("text/plain", api(good_body(), ctype=b"text/plain"), "send", MEDIA_TYPE),
    ("form urlencoded", api(b"actid=1", ctype=b"application/x-www-form-urlencoded"),
     "send", MEDIA_TYPE),
    ("application/jsonp", api(good_body(), ctype=b"application/jsonp"), "send", MEDIA_TYPE),
    ("empty Content-Type", api(good_body(), ctype=b""), "send", MEDIA_TYPE),
    # --- JSON bodies --------------------------------------------------------------
    ("empty body", api(b""), "send", INVALID_JSON),
    ("truncated JSON", api(b'{"actid": '), "send", INVALID_JSON),
    ("trailing garbage", api(good_body() + b" x"), "send", INVALID_JSON),
    ("two objects", api(good_body() + good_body()), "send", INVALID_JSON),
    ("trailing comma", api(b'{"actid":"1",}'), "send", INVALID_JSON),
    ("single quotes", api(b"{'actid':'1'}"), "send", INVALID_JSON),
    ("comment", api(b'{"actid":"1" /* c */}'), "send", INVALID_JSON),
    ("NaN", api(b'{"actid":NaN}'), "send", INVALID_JSON),
    ("leading zero", api(b'{"actid":01}'), "send", INVALID_JSON),
    ("array body", api(b"[" + good_body() + b"]"), "send", NOT_OBJECT),
    ("string body", api(b'"actid"'), "send", NOT_OBJECT),
    ("null body", api(b"null"), "send", NOT_OBJECT),
    ("number body", api(b"12"), "send", NOT_OBJECT),
    ("NUL byte in a string", api(good_body(actid="h\x00").replace(b"\\u0000", b"\x00")),
     "send", INVALID_JSON),
    ("NUL byte between tokens", api(b"{\x00" + good_body()[1:]), "send", INVALID_JSON),
    ("\\u0000 in a key", api(good_body().replace(b'"actid"', b'"actid\\u0000x"')), "send",
     INVALID_JSON),
    ("\\u0000 in actid", api(good_body(actid="h\x00")), "send",
     msg(400, "actid contains control characters")),
    ("invalid UTF-8 byte", api(good_body(broker="B").replace(b'"B"', b'"\xff"')), "send",
     INVALID_JSON),
    ("overlong UTF-8", api(good_body(actid="A").replace(b'"A"', b'"\xc0\xaf"')), "send",
     INVALID_JSON),
    ("UTF-8 surrogate", api(good_body(actid="A").replace(b'"A"', b'"\xed\xa0\x80"')), "send",
     INVALID_JSON),
    ("truncated UTF-8", api(good_body(actid="A").replace(b'"A"', b'"\xe2\x82"')), "send",
     INVALID_JSON),
    ("latin-1 access_token", api(good_body().replace(ACCESS_TOKEN.encode(),
                                                    ACCESS_TOKEN.encode() + b"\xe9")),
     "send", INVALID_JSON),
    ("nested 200 deep", api(NESTED), "send", INVALID_JSON),
    ("10000 open brackets", api(b"[" * 10000), "send", INVALID_JSON),
    ("actid 2^64", api(good_body().replace(b'"h1"', b"18446744073709551616")), "send",
     ACTID_TYPE),
    ("actid INT64_MAX", api(good_body().replace(b'"h1"', b"9223372036854775807")), "send",
     ACTID_TYPE),
    ("actid below INT64_MIN", api(good_body().replace(b'"h1"', b"-99999999999999999999")),
     "send", ACTID_TYPE),
    ("actid 1e400", api(good_body().replace(b'"h1"', b"1e400")), "send", ACTID_TYPE),
    ("actid 1.5", api(good_body().replace(b'"h1"', b"1.5")), "send", ACTID_TYPE),
    ("actid of 1000 digits", api(good_body().replace(b'"h1"', b"9" * 1000)), "send",
     ACTID_TYPE),
    ("actid too long", api(good_body(actid="a" * 129)), "send",
     msg(400, "actid is too long")),
    ("actid object", api(good_body(actid={"x": 1})), "send", ACTID_TYPE),
    ("no fields", api(b"{}"), "send",
     msg(400, "Required fields missing: actid, broker, access_token, master_actid, services")),
    ("blank actid", api(good_body(actid=" \t")), "send",
     msg(400, "Required fields missing: actid")),
    ("services a string", api(good_body(services="master")), "send",
     msg(400, "services must be an object")),
    ("client without master", api(good_body(services={"master": False}), path=REMOVE),
     "send", msg(400, "master_actid is required when services.master is false")),
]

assert len(CASES) >= 45
assert len({c[0] for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.fixture(scope="module")
def env():
    """One redis-server and one olbd (a single proxy worker) for the module."""
    with tempfile.TemporaryDirectory(prefix="olbtest-hostile-") as tmp:
        r = RedisServer(tmp)
        r.start()
        d = os.path.join(tmp, "olbd")
        os.mkdir(d)
        o = Olbd(d, r.port, workers=1, extra=[
            'proxy.auth_tokens=["%s","%s"]' % (OTHER_TOKEN, TOKEN),
            "proxy.header_timeout_ms=%d" % HEADER_TIMEOUT_MS,
            "proxy.body_timeout_ms=%d" % BODY_TIMEOUT_MS,
            "proxy.idle_timeout_ms=5000",
        ])
        try:
            o.start()
            yield o
        finally:
            o.stop()
            r.stop()
        o.check_sanitizers()


def proxy_pid(o):
    pids = wait_for(lambda: o.worker_pids("olbd: proxy"), 5, what="the proxy worker")
    assert len(pids) == 1, pids
    return pids[0]


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body


def parse_answers(raw):
    """Every complete response in raw, in order (olb always sends Content-Length)."""
    out = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
        n = int(headers.get("content-length", "0"))
        if len(rest) < n:
            break
        out.append(Answer(status, headers, rest[:n]))
        raw = rest[n:]
    return out


def final_answers(raw):
    return [a for a in parse_answers(raw) if a.status >= 200]


def exchange(port, data, mode, nanswers):
    """Send data per mode; read until nanswers final answers arrived or the
    server closed.  Returns (raw bytes, whether the server closed, seconds
    from the end of sending to the last byte read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before reading everything
        sent = time.monotonic()
        if mode == "halfclose":
            s.shutdown(socket.SHUT_WR)
        raw, closed = b"", False
        while True:
            if nanswers and len(final_answers(raw)) >= nanswers:
                break
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
            if not chunk:
                closed = True
                break
            raw += chunk
        return raw, closed, time.monotonic() - sent


SECRETS = (ACCESS_TOKEN.encode(), TOKEN.encode(), OTHER_TOKEN.encode())


@pytest.mark.parametrize("name,data,mode,expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_request(env, name, data, mode, expected):
    pid = proxy_pid(env)
    want = expected if isinstance(expected, list) else [] if expected == CLOSED else [expected]
    # a pipeline is read to the close, so no answer to a smuggled request hides
    raw, closed, elapsed = exchange(env.port, data, mode,
                                    None if isinstance(expected, list) else len(want))

    for secret in SECRETS:
        assert secret not in raw, "a secret in the answer to %r: %r" % (name, raw[:400])
    if expected == CLOSED:
        assert raw == b"" and closed, "expected a closed connection, got %r" % raw[:400]
    else:
        answers = final_answers(raw)
        assert [(a.status, json.loads(a.body).get("message")) for a in answers] == want, raw
        for a in answers:
            doc = json.loads(a.body)
            assert set(doc) == {"status", "message"}, doc
            assert doc["status"] is (a.status < 400)
            assert a.headers.get("content-type") == "application/json"
            if a.status >= 400:
                assert isinstance(doc["message"], str) and doc["message"]
        # a 100 Continue must not precede a refusal of the body
        if expected == TOO_LARGE:
            assert not raw.startswith(b"HTTP/1.1 100"), raw[:200]
        if mode == "stall":
            # the head/body timeout, not the client's patience, ended it
            assert elapsed < HEADER_TIMEOUT_MS / 1000.0 + 1.5, elapsed
            assert elapsed >= min(HEADER_TIMEOUT_MS, BODY_TIMEOUT_MS) / 1000.0 - 0.05, elapsed

    # The same worker keeps serving, on another connection.
    status, _, body = http_get(env.port)
    assert (status, json.loads(body)) == (200, {"status": True, "message": "Health is OK"})
    assert proxy_pid(env) == pid, "the proxy worker was replaced (it crashed)"


def test_dribbled_head_times_out(env):
    """Slowloris proper: a byte every 100 ms does not extend the head timeout."""
    pid = proxy_pid(env)
    with socket.create_connection(("127.0.0.1", env.port), timeout=5) as s:
        t0 = time.monotonic()
        answer = b""
        s.settimeout(0.1)
        for byte in (b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 60)[:40]:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                break
            try:
                answer += s.recv(4096)
            except socket.timeout:
                pass
            if answer:
                break
        assert time.monotonic() - t0 < HEADER_TIMEOUT_MS / 1000.0 + 1.0
        answer = final_answers(answer)
        assert [(a.status, json.loads(a.body)) for a in answer] == [
            (408, {"status": False, "message": "Request timeout"})]
    assert http_get(env.port)[0] == 200
    assert proxy_pid(env) == pid


def test_secrets_never_logged(env):
    """SPEC §3: access_token and the bearer token never appear in any log (olbd
    runs with log.level=debug here, after the whole corpus above)."""
    for secret in (ACCESS_TOKEN, TOKEN, OTHER_TOKEN):
        assert secret not in env.log_text()
