"""A fake AWS EC2 endpoint (Query API, version 2016-11-15) and a fake instance
metadata service (IMDSv2) for olb's system tests, on 127.0.0.1 only.

Two classes, two ports:

  FakeEC2   the EC2 Query API: form-encoded POST (or GET) requests to "/",
            XML answers in the namespace http://ec2.amazonaws.com/doc/2016-11-15/,
            errors in EC2's <Response><Errors>... format.  Every request's SigV4
            signature is verified with botocore.  Actions: RunInstances,
            DescribeInstances, TerminateInstances.
  FakeIMDS  IMDSv2: PUT /latest/api/token, then GET /latest/meta-data/... with
            the token; role credentials that rotate, and that FakeEC2 accepts
            while they are valid.  Made by FakeEC2.start_imds(), or standalone
            with FakeIMDS(ec2=None).

    fake = FakeEC2(launch_delay=0.2).start()      # fake.url = "http://127.0.0.1:P"
    imds = fake.start_imds(lifetime=20)            # imds.url, stopped with fake
    ... olbd with provider.ec2.endpoint = fake.url,
                 provider.ec2.metadata_endpoint = imds.url ...
    fake.throttle(2)                               # the next 2 requests: 503
    assert len(fake.live()) == 2
    fake.stop()

Instances get loopback private addresses only (127.0.1.1, 127.0.1.2, ...),
so a listener started for each (listener_cmd) is reachable on the same port
(instance_port) at every instance's own address.

Run as a script for manual use (prints the URLs, serves until SIGINT/SIGTERM):

    /usr/bin/python3 tests/system/fake_ec2.py --port 8700 --imds-port 8701 \
        --listener-cmd "build/test/olb-listener --host {ip} --port {port} --name {name}"

API in short (see each docstring):

  FakeEC2(region, access_key, secret_key, listener_cmd, instance_port,
          launch_delay, terminate_delay, terminated_ttl, temp_grace, port,
          chunked, max_live, max_terminate_batch, listener_log)
    start() stop() start_imds(**kw) .url .port .imds .clock_offset
    credentials: add_credentials() revoke_credentials() set_static_accepted()
    faults:      throttle() insufficient_capacity() internal_error()
                 unavailable() error() html_error() malformed_xml()
                 drop_connection() delay() delay_visibility() hold_pending()
                 inject() clear_faults() fault_counts() pending_faults()
    instances:   instances(states) live() instance(id) wait_instances()
                 release() set_state() terminate_externally() kill_listener()
                 listener_pids()
    records:     requests(action) runs() counts() count(action)
                 reset_records() internal_errors
  FakeIMDS(ec2, role, lifetime, rotate_before, region, port, instance_id)
    start() stop() .url current() rotate() expire_now() expire_tokens()
    issued() fetches() fetch_count(kind) fail_next() delay_next() requests()

Checks that are stricter than nothing but not than EC2: a parameter the
action does not know is UnknownParameter, a Version other than 2016-11-15 is
NoSuchVersion; the fake alone refuses a parameter given twice
(MalformedQueryString), requires X-Amz-Date (not Date) and requires host and
x-amz-date among the signed headers.

The fault-injection methods are also reachable over HTTP on the EC2 port:
POST /_fake/<method> with a JSON object of keyword arguments (for example
POST /_fake/throttle {"count": 3}), and GET /_fake/state for a JSON summary.
These paths are not signed and never touch the EC2 state machine otherwise.
"""
import argparse
import base64
import calendar
import collections
import copy
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shlex
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

API_VERSION = "2016-11-15"
XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/"
OWNER_ID = "123456789012"
DEFAULT_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # AWS's documentation example

# EC2's instance state codes.
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
               "stopping": 64, "stopped": 80}
LIVE_STATES = ("pending", "running")

# HTTP status of each error code the fake sends; any other code is 400.
# SignatureDoesNotMatch is 403 as on AWS (AuthFailure, the unknown or invalid
# credentials, is 401).
ERROR_STATUS = {
    "AuthFailure": 401,
    "MissingAuthenticationToken": 401,
    "SignatureDoesNotMatch": 403,
    "UnauthorizedOperation": 403,
    "DryRunOperation": 412,
    "InsufficientInstanceCapacity": 500,
    "InternalError": 500,
    "RequestLimitExceeded": 503,
    "Unavailable": 503,
}

ID_RE = re.compile(r"i-[0-9a-f]{8,17}$")
AMI_RE = re.compile(r"ami-[0-9a-f]{8,17}$")
AMZ_DATE_RE = re.compile(r"\d{8}T\d{6}Z$")
MAX_SKEW = 300          # seconds between X-Amz-Date and the fake's clock
MAX_BODY = 1 << 20      # bytes of one request body

# The parameters each action recognizes (anything else is UnknownParameter,
# as on EC2, which catches a misspelt name in the daemon's requests).
_COMMON_PARAMS = [r"Action", r"Version", r"DryRun"]
_ALLOWED = {
    "RunInstances": _COMMON_PARAMS + [
        r"ImageId", r"InstanceType", r"MinCount", r"MaxCount", r"KeyName", r"ClientToken",
        r"UserData", r"EbsOptimized", r"DisableApiTermination",
        r"InstanceInitiatedShutdownBehavior", r"SubnetId", r"PrivateIpAddress",
        r"SecurityGroupId\.\d+", r"SecurityGroup\.\d+", r"IamInstanceProfile\.(Name|Arn)",
        r"Monitoring\.Enabled", r"Placement\.(AvailabilityZone|GroupName|Tenancy)",
        r"NetworkInterface\.\d+\.(DeviceIndex|SubnetId|AssociatePublicIpAddress|"
        r"DeleteOnTermination|Description|PrivateIpAddress|NetworkInterfaceId|"
        r"SecurityGroupId\.\d+|Ipv6AddressCount|SecondaryPrivateIpAddressCount)",
        r"TagSpecification\.\d+\.(ResourceType|Tag\.\d+\.(Key|Value))",
        r"BlockDeviceMapping\.\d+\.(DeviceName|VirtualName|NoDevice|Ebs\.(VolumeSize|"
        r"VolumeType|DeleteOnTermination|Encrypted|Iops|SnapshotId|KmsKeyId|Throughput))",
        r"MetadataOptions\.(HttpTokens|HttpPutResponseHopLimit|HttpEndpoint|"
        r"InstanceMetadataTags)",
        r"CreditSpecification\.CpuCredits",
    ],
    "DescribeInstances": _COMMON_PARAMS + [
        r"InstanceId\.\d+", r"Filter\.\d+\.Name", r"Filter\.\d+\.Value\.\d+",
        r"MaxResults", r"NextToken"],
    "TerminateInstances": _COMMON_PARAMS + [r"InstanceId\.\d+"],
}
_ALLOWED = {a: re.compile("(%s)$" % "|".join(p)) for a, p in _ALLOWED.items()}

TAG_RESOURCE_TYPES = ("instance", "volume", "network-interface", "spot-instances-request",
                      "elastic-gpu")

HTML_PAGE = (b"<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
             b"<center><h1>%d %s</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")


# ---------------------------------------------------------------------------
# Small helpers


class EC2Error(Exception):
    """An error answer: code, message and HTTP status (from ERROR_STATUS)."""

    def __init__(self, code, message, status=None):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status or ERROR_STATUS.get(code, 400)


def iso_time(t, millis=True):
    """Wall time t as EC2 writes it: 2016-11-15T10:20:30.000Z (or ...:30Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + (".000Z" if millis else "Z")


def _hex_id(prefix):
    return prefix + secrets.token_hex(9)[:17]


def _xml(tag, value, depth):
    """One element, indented by depth: value is a list of (tag, value) children,
    text (str, int, bool), or None / "" / [] for an empty element."""
    pad = "    " * depth
    if isinstance(value, list):
        if not value:
            return "%s<%s/>" % (pad, tag)
        inner = "\n".join(_xml(t, v, depth + 1) for t, v in value)
        return "%s<%s>\n%s\n%s</%s>" % (pad, tag, inner, pad, tag)
    if value is None or value == "":
        return "%s<%s/>" % (pad, tag)
    if isinstance(value, bool):
        value = "true" if value else "false"
    return "%s<%s>%s</%s>" % (pad, tag, escape(str(value)), tag)


def xml_document(root, request_id, children):
    """A successful answer: <root xmlns=...><requestId>..</requestId>children</root>."""
    inner = "\n".join(_xml(t, v, 1) for t, v in [("requestId", request_id)] + children)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<%s xmlns="%s">\n%s\n</%s>\n'
            % (root, XMLNS, inner, root)).encode()


def xml_error(code, message, request_id):
    """EC2's error answer, byte for byte in its layout."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>%s</Code>'
            '<Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>'
            % (escape(code), escape(message), request_id)).encode()


def _members(params, prefix):
    """Indexed members: {n: {rest: value}} for every "prefix.n.rest" (rest is ""
    for "prefix.n" itself), n ascending."""
    pat = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.(.+))?$")
    out = {}
    for key, value in params.items():
        m = pat.match(key)
        if m:
            out.setdefault(int(m.group(1)), {})[m.group(2) or ""] = value
    return dict(sorted(out.items()))


def _list(params, prefix):
    """The values of "prefix.1", "prefix.2", ... in index order."""
    return [m[""] for m in _members(params, prefix).values() if "" in m]


def _bool(name, value):
    if value is None:
        return None
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise EC2Error("InvalidParameterValue",
                   "Invalid value '%s' for %s; expected true or false" % (value, name))


def _int(name, value, lo=None, hi=None):
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise EC2Error("InvalidParameterValue",
                       "Value (%s) for parameter %s is invalid." % (value, name)) from None
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise EC2Error("InvalidParameterValue",
                       "Value (%s) for parameter %s is invalid." % (value, name))
    return n


def _wildcard(pattern):
    """An EC2 filter value as a regex: * any run, ? one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c)
                              for c in pattern) + r"\Z", re.S)


def _not_found(ids):
    if len(ids) == 1:
        return EC2Error("InvalidInstanceID.NotFound",
                        "The instance ID '%s' does not exist" % ids[0])
    return EC2Error("InvalidInstanceID.NotFound",
                    "The instance IDs '%s' do not exist" % ", ".join(ids))


def _check_ids(ids):
    for i in ids:
        if not ID_RE.match(i):
            raise EC2Error("InvalidInstanceID.Malformed",
                           'Invalid id: "%s" (expecting "i-...")' % i)


def _read_body(h):
    """The request body of handler h (Content-Length or chunked), or None if bad."""
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        out = b""
        while True:
            line = h.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while h.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return out
            if len(out) + size > MAX_BODY:
                return None
            out += h.rfile.read(size)
            h.rfile.readline(1024)
    try:
        n = int(h.headers.get("Content-Length", "0"))
    except ValueError:
        return None
    if n < 0 or n > MAX_BODY:
        return None
    return h.rfile.read(n) if n else b""


def _send(h, status, body, ctype, headers=(), chunked=False, short=False):
    """Write one answer on handler h.  short: announce the whole body but send
    half of it and close the connection (a connection cut mid-answer)."""
    try:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for k, v in headers:
            h.send_header(k, v)
        if chunked and not short:
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if short:
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            _cut(h)
        elif chunked:
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            h.wfile.write(b"0\r\n\r\n")
        else:
            h.wfile.write(body)
    except OSError:
        h.close_connection = True


def _cut(h):
    """Close handler h's connection now, without (more of) an answer."""
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer on 127.0.0.1 that remembers its open connections so
    that stop() can close the idle keep-alive ones too."""
    daemon_threads = True

    def __init__(self, owner, port, handler):
        self.owner = owner
        self.conns = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), handler)

    def close_all(self):
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the owner's _handle(handler)."""
    protocol_version = "HTTP/1.1"
    timeout = 60

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY,
        # Nagle's algorithm and the client's delayed ACK add 40 ms to each answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conns_lock:
                self.server.conns.discard(self.connection)

    def version_string(self):
        return self.server.owner.server_header

    def log_message(self, fmt, *args):
        pass

    def date_time_string(self, timestamp=None):
        # The Date header on the owner's clock (clock_offset), as a client
        # correcting its clock from it would see a server whose clock is right.
        if timestamp is None:
            timestamp = time.time() + getattr(self.server.owner, "clock_offset", 0.0)
        return super().date_time_string(timestamp)

    def _dispatch(self):
        self.server.owner._handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class _Loopback:
    """start()/stop() of one _Server in a thread; .port and .url once started."""
    server_header = "fake"

    def __init__(self, port=0):
        self.port = port
        self._server = None
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _start_server(self):
        self._server = _Server(self, self.port, _Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="%s:%d" % (type(self).__name__, self.port),
                                        daemon=True)
        self._thread.start()

    def _stop_server(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_all()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# SigV4 verification, by botocore


class _SigV4AtTime(SigV4Auth):
    """botocore's SigV4 signer, with the request's own X-Amz-Date as the time
    (add_auth would take the current clock).  Every step is botocore's."""

    def __init__(self, credentials, service, region, timestamp):
        super().__init__(credentials, service, region)
        self._timestamp = timestamp
        self.canonical = None
        self.string_to_sign_text = None

    def add_auth(self, request):
        request.context["timestamp"] = self._timestamp
        self._modify_request_before_signing(request)
        self.canonical = self.canonical_request(request)
        self.string_to_sign_text = self.string_to_sign(request, self.canonical)
        self._inject_signature_to_request(
            request, self.signature(self.string_to_sign_text, request))


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..' as a dict,
    or None when it is not that shape."""
    prefix = "AWS4-HMAC-SHA256 "
    if not value or not value.startswith(prefix):
        return None
    out = {}
    for part in value[len(prefix):].split(","):
        k, eq, v = part.strip().partition("=")
        if not eq or k in out:
            return None
        out[k] = v
    if set(out) != {"Credential", "SignedHeaders", "Signature"}:
        return None
    return out


@dataclass
class _Cred:
    secret: str
    token: Optional[str] = None
    expiration: Optional[float] = None    # wall time; None = never
    source: str = "static"                # "static", "imds" or "extra"


# ---------------------------------------------------------------------------
# Records


@dataclass
class Instance:
    """One instance.  FakeEC2.instances() returns copies."""
    id: str
    reservation_id: str
    image_id: str
    instance_type: str
    private_ip: str
    subnet_id: str
    vpc_id: str
    security_groups: list
    key_name: Optional[str]
    iam_instance_profile: Optional[dict]   # {"arn": .., "id": ..}
    tags: dict
    client_token: str
    launch_index: int
    launch_time: float                     # wall time
    eni_id: str
    state: str = "pending"
    state_reason: Optional[tuple] = None   # (code, message)
    reason: str = ""
    next_state_at: Optional[float] = None  # monotonic; None = stays
    visible_at: float = 0.0                # monotonic; before: InvalidInstanceID.NotFound
    vanish_at: Optional[float] = None      # monotonic, once terminated
    vanished: bool = False                 # gone from Describe/Terminate
    listener_wanted: bool = True
    listener_pid: Optional[int] = None
    listener_exit: Optional[int] = None

    @property
    def name(self):
        return self.tags.get("Name", self.id)

    @property
    def launch_time_iso(self):
        return iso_time(self.launch_time)


@dataclass
class RequestRecord:
    """One request to the EC2 port."""
    time: float
    method: str
    path: str
    action: Optional[str] = None
    params: dict = field(default_factory=dict)
    access_key: Optional[str] = None
    signature_ok: Optional[bool] = None    # None: not checked (bad request shape)
    auth_error: Optional[str] = None
    status: Optional[int] = None
    code: Optional[str] = None             # error code of the answer, None on success
    fault: Optional[str] = None            # injected fault kind(s), "+"-joined
    duration: float = 0.0
    canonical_request: Optional[str] = None  # the fake's, when the signature mismatched
    string_to_sign: Optional[str] = None


@dataclass
class RunRecord:
    """One authenticated RunInstances: raw and parsed parameters, outcome."""
    time: float
    params: dict
    parsed: Optional[dict] = None
    client_token: Optional[str] = None
    reservation_id: Optional[str] = None
    instance_ids: list = field(default_factory=list)
    replay: bool = False                   # answered from an earlier ClientToken
    error: Optional[str] = None            # error code (also injected ones)
    fault: Optional[str] = None


@dataclass
class Fault:
    kind: str
    remaining: int
    action: Optional[str] = None
    opts: dict = field(default_factory=dict)
    fired: int = 0


# ---------------------------------------------------------------------------
# EC2


class FakeEC2(_Loopback):
    """The fake EC2 Query API on 127.0.0.1.

    region, access_key, secret_key: the static credentials (access_key None:
    none).  listener_cmd: a list of arguments with {ip} {port} {name} {id}
    substituted, started for each instance when it becomes running and killed
    (by pid) when it leaves running; instance_port is {port}.  Delays are
    seconds: launch_delay pending -> running, terminate_delay shutting-down
    -> terminated, terminated_ttl terminated -> gone.  temp_grace: how long
    expired temporary credentials are still accepted (default 0).  chunked:
    answer with Transfer-Encoding: chunked, as EC2 does (default
    Content-Length).  max_live: at most this many pending+running instances
    (more: InstanceLimitExceeded).  max_terminate_batch: at most this many ids
    in one TerminateInstances.
    """
    server_header = "AmazonEC2"

    def __init__(self, region="us-east-1", access_key="AKIDEXAMPLE",
                 secret_key=DEFAULT_SECRET, listener_cmd=None, instance_port=3000,
                 launch_delay=0.5, terminate_delay=0.5, terminated_ttl=10.0,
                 temp_grace=0.0, port=0, chunked=False, max_live=None,
                 max_terminate_batch=1000, listener_log=None):
        super().__init__(port)
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self.listener_cmd = list(listener_cmd) if listener_cmd else None
        self.instance_port = instance_port
        self.launch_delay = launch_delay
        self.terminate_delay = terminate_delay
        self.terminated_ttl = terminated_ttl
        self.temp_grace = temp_grace
        self.chunked = chunked
        self.max_live = max_live
        self.max_terminate_batch = max_terminate_batch
        self.listener_log = listener_log
        self.clock_offset = 0.0      # added to the fake's clock (X-Amz-Date check, Date)
        self.static_accepted = access_key is not None
        self.visibility_delay = 0.0
        self.visibility_terminate = True
        self.imds = None
        self.internal_errors = []    # tracebacks of the fake's own bugs

        self._lock = threading.RLock()
        self._creds = {}
        if access_key is not None:
            self._creds[access_key] = _Cred(secret_key)
        self._instances = {}         # id -> Instance, in launch order (also vanished)
        self._tokens = {}            # ClientToken -> (fingerprint, reservation id, ids)
        self._ip_seq = 0
        self._hold = 0               # the next N instances stay pending
        self._faults = []
        self._fault_counts = collections.Counter()
        self._requests = []
        self._runs = []
        self._procs = {}             # instance id -> Popen (the ticker's own)
        self._stopping = threading.Event()
        self._ticker = None

    # -- start / stop

    def start(self):
        """Bind 127.0.0.1 (a free port unless one was given) and serve."""
        self._stopping.clear()
        self._start_server()
        self._ticker = threading.Thread(target=self._tick_loop, daemon=True,
                                        name="FakeEC2-ticker")
        self._ticker.start()
        if self.imds is not None and self.imds._server is None:
            self.imds.start()       # start_imds's, after a stop()
        return self

    def stop(self):
        """Stop serving, kill every listener, stop the IMDS if start_imds made it.
        The instances, records and faults stay: start() serves them again on
        the same port (an endpoint that was unreachable for a while)."""
        self._stopping.set()
        if self.imds is not None:
            self.imds.stop()
        self._stop_server()
        if self._ticker is not None:
            self._ticker.join(10)
            self._ticker = None
        with self._lock:
            procs, self._procs = list(self._procs.items()), {}
        for iid, proc in procs:
            self._kill(iid, proc)
        with self._lock:
            for iid, _ in procs:    # a start() again starts them again
                self._instances[iid].listener_pid = None
                self._instances[iid].listener_exit = None

    def start_imds(self, **kw):
        """A FakeIMDS issuing credentials to this fake (kw: FakeIMDS's), started;
        stopped by stop()."""
        kw.setdefault("region", self.region)
        self.imds = FakeIMDS(ec2=self, **kw).start()
        return self.imds

    # -- credentials

    def add_credentials(self, access_key, secret_key, token=None, expiration=None,
                        source="extra"):
        """Accept one more credential set; expiration is a wall time (None: never)."""
        with self._lock:
            self._creds[access_key] = _Cred(secret_key, token, expiration, source)

    def revoke_credentials(self, access_key):
        with self._lock:
            self._creds.pop(access_key, None)

    def set_static_accepted(self, accepted):
        """Whether the static access_key / secret_key are accepted (for a test
        that the daemon uses the instance metadata's)."""
        self.static_accepted = bool(accepted)

    # -- fault injection

    def inject(self, kind, count=1, action=None, **opts):
        """Queue a fault for the next count EC2 requests (of action, or any).
        kind: "error" (opts code, message, status), "html" (status, after),
        "malformed" (mode, after), "drop" (after), "delay" (seconds).  Faults
        fire only on requests that pass the signature check; the first queued
        matching fault fires (a delay fault in addition to one other)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.append(Fault(kind, count, action, opts))

    def throttle(self, count=1, action=None):
        """503 RequestLimitExceeded for the next count requests (of action)."""
        self.error("RequestLimitExceeded", "Request limit exceeded.", count=count,
                   action=action, kind="throttle")

    def insufficient_capacity(self, count=1):
        """500 InsufficientInstanceCapacity for the next count RunInstances."""
        self.error("InsufficientInstanceCapacity", None, count=count,
                   action="RunInstances", kind="capacity")

    def internal_error(self, count=1, action=None):
        """500 InternalError for the next count requests (of action)."""
        self.error("InternalError", "An internal error has occurred", count=count,
                   action=action, kind="internal")

    def unavailable(self, count=1, action=None):
        """503 Unavailable for the next count requests (of action)."""
        self.error("Unavailable", "The server is overloaded and can't handle the request.",
                   count=count, action=action, kind="unavailable")

    def error(self, code, message, status=None, count=1, action=None, kind=None):
        """Any EC2 error answer for the next count requests (of action)."""
        self.inject("error", count, action, code=code, message=message,
                    status=status or ERROR_STATUS.get(code, 400), name=kind or code)

    def html_error(self, count=1, action=None, status=502, after=False):
        """An HTML page (text/html, status) for the next count requests, as a
        proxy in between would answer.  after: the action is performed first."""
        self.inject("html", count, action, status=status, after=after)

    def malformed_xml(self, count=1, action=None, mode="truncated", after=True):
        """A 200 answer that is not acceptable XML for the next count requests.
        mode: "truncated" (the real answer cut in half), "garbage" (not
        well-formed), "doctype" (a DOCTYPE with an entity), "empty", "json",
        "short" (Content-Length of the whole answer, half sent, connection
        closed).  after (default): the action is performed, only its answer
        is spoilt (a RunInstances did launch)."""
        if mode not in ("truncated", "garbage", "doctype", "empty", "json", "short"):
            raise ValueError("unknown mode %r" % mode)
        self.inject("malformed", count, action, mode=mode, after=after)

    def drop_connection(self, count=1, action=None, after=False):
        """Close the connection without an answer for the next count requests."""
        self.inject("drop", count, action, after=after)

    def delay(self, seconds, count=1, action=None):
        """Sleep seconds before answering the next count requests (of action)."""
        self.inject("delay", count, action, seconds=seconds)

    def delay_visibility(self, seconds, terminate=True):
        """Instances launched from now on are unknown for seconds after their
        RunInstances (EC2's eventual consistency): DescribeInstances by id
        answers InvalidInstanceID.NotFound, filters do not list them, and (if
        terminate) TerminateInstances answers InvalidInstanceID.NotFound.  0: off."""
        with self._lock:
            self.visibility_delay = float(seconds)
            self.visibility_terminate = bool(terminate)

    def hold_pending(self, count=1):
        """The next count launched instances stay pending until release() or
        set_state() (for launch timeouts)."""
        with self._lock:
            self._hold += count

    def clear_faults(self):
        """Forget every queued fault (not the counts), visibility delay and holds."""
        with self._lock:
            self._faults = []
            self.visibility_delay = 0.0
            self._hold = 0

    def fault_counts(self):
        """{kind: times fired}: throttle, capacity, internal, unavailable, html,
        malformed, drop, delay, invisible (a NotFound because of
        delay_visibility), or an error()'s code."""
        with self._lock:
            return dict(self._fault_counts)

    def pending_faults(self):
        with self._lock:
            return [copy.deepcopy(f) for f in self._faults]

    # -- instance control

    def release(self, instance_id):
        """A held pending instance becomes running now."""
        self.set_state(instance_id, "running")

    def set_state(self, instance_id, state, reason=None):
        """Force an instance's state (for instances that die outside the
        daemon: set_state(id, "terminated")).  pending stays pending;
        shutting-down goes on to terminated after terminate_delay."""
        if state not in STATE_CODES:
            raise ValueError("unknown state %r" % state)
        with self._lock:
            inst = self._instances[instance_id]
            now = time.monotonic()
            inst.state = state
            inst.next_state_at = None
            if state == "shutting-down":
                inst.next_state_at = now + self.terminate_delay
                inst.state_reason = reason or ("Server.InternalError",
                                               "Server.InternalError: Internal error on launch")
            elif state == "terminated":
                inst.vanish_at = now + self.terminated_ttl
                inst.state_reason = reason or ("Server.InternalError",
                                               "Server.InternalError: Internal error on launch")

    def terminate_externally(self, instance_id):
        """As if someone else (the console, a spot interruption) terminated it."""
        self.set_state(instance_id, "shutting-down",
                       ("Client.UserInitiatedShutdown",
                        "Client.UserInitiatedShutdown: User initiated shutdown"))

    def kill_listener(self, instance_id):
        """Kill the instance's listener (the application crashed, the instance
        stays running); it is not restarted."""
        with self._lock:
            self._instances[instance_id].listener_wanted = False

    # -- observability

    def requests(self, action=None):
        """Every request to the EC2 port (RequestRecord copies), oldest first."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._requests
                    if action is None or r.action == action]

    def runs(self):
        """Every authenticated RunInstances (RunRecord copies), oldest first."""
        with self._lock:
            return [copy.deepcopy(r) for r in self._runs]

    def counts(self):
        """{action: requests received}, whatever their answer."""
        with self._lock:
            return dict(collections.Counter(r.action for r in self._requests if r.action))

    def count(self, action):
        return self.counts().get(action, 0)

    def instances(self, states=None, include_vanished=False):
        """The instances (Instance copies) in launch order, optionally only those
        in states (a state or a list)."""
        if isinstance(states, str):
            states = (states,)
        with self._lock:
            self._advance()
            return [copy.deepcopy(i) for i in self._instances.values()
                    if (include_vanished or not i.vanished)
                    and (states is None or i.state in states)]

    def live(self):
        """The pending and running instances."""
        return self.instances(LIVE_STATES)

    def instance(self, instance_id):
        with self._lock:
            self._advance()
            return copy.deepcopy(self._instances[instance_id])

    def listener_pids(self):
        """{instance id: pid} of the listeners running now."""
        with self._lock:
            return {iid: p.pid for iid, p in self._procs.items()}

    def reset_records(self):
        """Forget the request and run records (not the instances)."""
        with self._lock:
            self._requests = []
            self._runs = []

    def wait_instances(self, n, states="running", timeout=5.0):
        """Wait until exactly n instances are in states; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.instances(states)
            if len(got) == n:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1fs waiting for %d instances in %s "
                                     "(have %d)" % (timeout, n, states, len(got)))
            time.sleep(0.02)

    def state(self):
        """A JSON-able summary (GET /_fake/state)."""
        insts = self.instances(include_vanished=True)
        return {"url": self.url, "region": self.region,
                "imds": self.imds.url if self.imds else None,
                "counts": self.counts(), "faults": self.fault_counts(),
                "pending_faults": [f.__dict__ for f in self.pending_faults()],
                "instances": [{"id": i.id, "state": i.state, "ip": i.private_ip,
                               "name": i.name, "tags": i.tags, "vanished": i.vanished,
                               "listener_pid": i.listener_pid} for i in insts]}

    # -- the state machine

    def _advance(self):
        """Move every instance along its lifecycle up to now (under the lock)."""
        now = time.monotonic()
        for inst in self._instances.values():
            if inst.vanished:
                continue
            if (inst.state == "pending" and inst.next_state_at is not None
                    and now >= inst.next_state_at):
                inst.state, inst.next_state_at = "running", None
                inst.state_reason = None
            if (inst.state == "shutting-down" and inst.next_state_at is not None
                    and now >= inst.next_state_at):
                inst.state, inst.next_state_at = "terminated", None
                inst.vanish_at = now + self.terminated_ttl
            if inst.state == "terminated" and inst.vanish_at is not None \
                    and now >= inst.vanish_at:
                inst.vanished = True

    def _tick_loop(self):
        """Advance the states and keep one listener per running instance."""
        while not self._stopping.wait(0.02):
            try:
                self._reconcile_listeners()
            except Exception:
                self.internal_errors.append(traceback.format_exc())

    def _reconcile_listeners(self):
        with self._lock:
            self._advance()
            if not self.listener_cmd:
                return
            want = {i.id: i for i in self._instances.values()
                    if i.state == "running" and i.listener_wanted and not i.vanished}
            start = [copy.deepcopy(want[i]) for i in want
                     if i not in self._procs and want[i].listener_pid is None]
            stop = [(iid, p) for iid, p in self._procs.items() if iid not in want]
            for iid, _ in stop:
                del self._procs[iid]
            for iid, p in self._procs.items():    # exited by itself
                if p.poll() is not None and self._instances[iid].listener_exit is None:
                    self._instances[iid].listener_exit = p.returncode
        for iid, proc in stop:
            self._kill(iid, proc)
        for inst in start:
            args = [a.format(ip=inst.private_ip, port=self.instance_port, name=inst.name,
                             id=inst.id) for a in self.listener_cmd]
            out = subprocess.DEVNULL
            if self.listener_log:
                out = open(os.path.join(self.listener_log, inst.id + ".log"), "ab")
            try:
                proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT)
            except OSError:
                # Not startable (a wrong path): say so once, do not retry.
                self.internal_errors.append("listener %r: %s" % (args, traceback.format_exc()))
                with self._lock:
                    self._instances[inst.id].listener_wanted = False
                    self._instances[inst.id].listener_exit = -1
                continue
            finally:
                if out is not subprocess.DEVNULL:
                    out.close()
            with self._lock:
                self._procs[inst.id] = proc
                self._instances[inst.id].listener_pid = proc.pid

    def _kill(self, iid, proc):
        """Stop one listener by its pid: SIGTERM, then SIGKILL after 2 s."""
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(2)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        with self._lock:
            inst = self._instances.get(iid)
            if inst is not None and inst.listener_exit is None:
                inst.listener_exit = proc.returncode

    def _visible(self, inst, now):
        return not inst.vanished and now >= inst.visible_at

    # -- HTTP

    def _handle(self, h):
        try:
            if urlsplit(h.path).path.startswith("/_fake/"):
                self._control(h)
            else:
                self._handle_ec2(h)
        except Exception:
            self.internal_errors.append(traceback.format_exc())
            _send(h, 500, xml_error("InternalError", "An internal error has occurred",
                                    str(uuid.uuid4())), "text/xml;charset=UTF-8")

    def _handle_ec2(self, h):
        t0 = time.time()
        rid = str(uuid.uuid4())
        rec = RequestRecord(time=t0, method=h.command, path=h.path)
        with self._lock:
            self._requests.append(rec)
        split = urlsplit(h.path)
        body = _read_body(h)
        if h.command not in ("GET", "POST") or split.path != "/" or body is None:
            # Not an EC2 API request at all: a bare HTTP error, no XML.
            if h.command not in ("GET", "POST"):
                status = 405
            else:
                status = 400 if body is None else 404
            rec.status = status
            _send(h, status, b"", "text/plain")
            rec.duration = time.time() - t0
            return

        answer = None        # (status, body, content type)
        faults = []
        short = drop = False
        run = None
        try:
            params = parse_error = None
            try:
                params = self._params(h, split.query, body)
            except EC2Error as e:
                parse_error = e
            rec.params = dict(params or {})
            rec.action = (params or {}).get("Action")
            self._authenticate(h, body, rec)
            if parse_error:
                raise parse_error
            action = self._check_request(params)
            if action == "RunInstances":
                run = RunRecord(time=t0, params=dict(params),
                                client_token=params.get("ClientToken"))
                with self._lock:
                    self._runs.append(run)
            delay, fault = self._take_faults(action)
            if delay:
                faults.append("delay")
                self._stopping.wait(delay.opts["seconds"])
            if fault:
                faults.append(fault.opts.get("name", fault.kind))
                if run:
                    run.fault = faults[-1]
            if fault and not fault.opts.get("after"):
                answer, short, drop = self._fault_answer(fault, action, params, rid, None)
                if run:     # the launch did not happen
                    run.error = fault.opts.get("code") or "fault:" + fault.kind
            else:
                try:
                    xml = getattr(self, "_action_" + action)(params, rid, run)
                    answer = (200, xml, "text/xml;charset=UTF-8")
                except EC2Error as e:
                    answer = (e.status, xml_error(e.code, e.message, rid),
                              "text/xml;charset=UTF-8")
                    if run:
                        run.error = e.code
                if fault:
                    answer, short, drop = self._fault_answer(fault, action, params, rid, answer)
        except EC2Error as e:
            answer = (e.status, xml_error(e.code, e.message, rid), "text/xml;charset=UTF-8")
            if run and not run.error:
                run.error = e.code
        rec.fault = "+".join(faults) or None
        if drop:
            rec.status = None
            _cut(h)
        else:
            status, payload, ctype = answer
            rec.status = status
            if ctype.startswith("text/xml") and status >= 300:
                m = re.search(rb"<Code>([^<]*)</Code>", payload)
                rec.code = m.group(1).decode() if m else None
            _send(h, status, payload, ctype, chunked=self.chunked, short=short)
        rec.duration = time.time() - t0

    def _params(self, h, query, body):
        """The request's parameters: the query string and a form-encoded body."""
        sources = [query]
        ctype = h.headers.get("Content-Type", "")
        if h.command == "POST" and body and ctype.lower().startswith(
                "application/x-www-form-urlencoded"):
            sources.append(body.decode("utf-8", "replace"))
        params = {}
        for src in sources:
            try:
                pairs = parse_qsl(src, keep_blank_values=True, errors="strict")
            except (UnicodeDecodeError, ValueError):
                raise EC2Error("MalformedQueryString",
                               "The query string contains a syntax error.") from None
            for k, v in pairs:
                if k in params:
                    raise EC2Error("MalformedQueryString",
                                   "The parameter %s appears more than once." % k)
                params[k] = v
        return params

    def _check_request(self, params):
        """Version and Action; the action's name."""
        if "Version" not in params:
            raise EC2Error("MissingParameter", "The request must contain the parameter Version")
        if params["Version"] != API_VERSION:
            raise EC2Error("NoSuchVersion", "The requested version (%s) of service AmazonEC2 "
                           "does not exist" % params["Version"])
        action = params.get("Action")
        if not action:
            raise EC2Error("MissingParameter", "The request must contain the parameter Action")
        if action not in _ALLOWED:
            raise EC2Error("InvalidAction",
                           "The action %s is not valid for this web service." % action)
        for k in params:
            if not _ALLOWED[action].match(k):
                raise EC2Error("UnknownParameter", "The parameter %s is not recognized" % k)
        return action

    def _authenticate(self, h, body, rec):
        """Verify the request's SigV4 signature with botocore; raise EC2Error."""
        rec.signature_ok = False
        authz = h.headers.get("Authorization")
        if authz is None:
            rec.auth_error = "MissingAuthenticationToken"
            raise EC2Error("MissingAuthenticationToken", "Request is missing Authentication Token")
        auth = parse_authorization(authz)
        if auth is None:
            rec.auth_error = "IncompleteSignature"
            raise EC2Error("IncompleteSignature",
                           "Authorization header requires 'Credential', 'Signature' and "
                           "'SignedHeaders' parameters. Authorization=%s" % authz)
        scope = auth["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            rec.auth_error = "IncompleteSignature"
            raise EC2Error("IncompleteSignature",
                           "Credential should be scoped correctly: '%s'" % auth["Credential"])
        key, day, region, service, _ = scope
        rec.access_key = key
        token = h.headers.get("X-Amz-Security-Token")
        now = time.time()

        with self._lock:
            cred = self._creds.get(key)
            if cred is not None and cred.source == "static" and not self.static_accepted:
                cred = None
            cred = copy.copy(cred)
        fail = None
        if cred is None:
            fail = ("AuthFailure", "AWS was not able to validate the provided access credentials")
        elif cred.token is None and token is not None:
            fail = ("AuthFailure", "The security token included in the request is invalid.")
        elif cred.token is not None and token != cred.token:
            fail = ("AuthFailure", "The security token included in the request is invalid.")
        elif cred.expiration is not None and now > cred.expiration + self.temp_grace:
            fail = ("ExpiredToken", "The security token included in the request is expired")
        elif region != self.region:
            fail = ("AuthFailure", "Credential should be scoped to a valid region, not '%s'. "
                    % region)
        elif service != "ec2":
            fail = ("AuthFailure", "Credential should be scoped to correct service: 'ec2'. ")
        if fail:
            rec.auth_error = fail[0]
            raise EC2Error(*fail)

        amz_date = h.headers.get("X-Amz-Date")
        signed = auth["SignedHeaders"].split(";")
        if amz_date is None or not AMZ_DATE_RE.match(amz_date):
            rec.auth_error = "IncompleteSignature"
            raise EC2Error("IncompleteSignature",
                           "Authorization header requires existence of either a "
                           "'X-Amz-Date' or a 'Date' header. Authorization=%s" % authz)
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            rec.auth_error = "IncompleteSignature"
            raise EC2Error("IncompleteSignature", "Invalid X-Amz-Date: %s" % amz_date) from None
        if abs(now + self.clock_offset - t) > MAX_SKEW:
            rec.auth_error = "RequestTimeTooSkewed"
            raise EC2Error("RequestTimeTooSkewed", "The difference between the request "
                           "time and the current time is too large.")
        if "host" not in signed or "x-amz-date" not in signed:
            rec.auth_error = "SignatureDoesNotMatch"
            raise EC2Error("SignatureDoesNotMatch",
                           "The host and x-amz-date headers must be signed. SignedHeaders=%s"
                           % auth["SignedHeaders"])
        if day != amz_date[:8]:
            rec.auth_error = "SignatureDoesNotMatch"
            raise EC2Error("SignatureDoesNotMatch",
                           "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                           "version of date from HTTP: '%s' != '%s'" % (day, amz_date[:8]))
        content_sha = h.headers.get("X-Amz-Content-SHA256")
        if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
            rec.auth_error = "XAmzContentSHA256Mismatch"
            raise EC2Error("XAmzContentSHA256Mismatch",
                           "The provided 'x-amz-content-sha256' header does not match what "
                           "was computed.")

        # The request again, with only the headers the client signed, signed by
        # botocore with the secret the fake knows, at the client's X-Amz-Date.
        headers = {}
        for name in signed:
            values = h.headers.get_all(name)
            if values is None:
                rec.auth_error = "SignatureDoesNotMatch"
                raise EC2Error("SignatureDoesNotMatch",
                               "The request signs the header %s, which it does not carry."
                               % name)
            headers[name] = ",".join(values)
        request = AWSRequest(method=h.command,
                             url="http://%s%s" % (h.headers.get("Host", ""), h.path),
                             headers=headers, data=body)
        signer = _SigV4AtTime(
            Credentials(key, cred.secret, token if "x-amz-security-token" in signed else None),
            "ec2", self.region, amz_date)
        signer.add_auth(request)
        expected = parse_authorization(request.headers["Authorization"])
        if (expected["Credential"] != auth["Credential"]
                or expected["SignedHeaders"] != auth["SignedHeaders"]
                or not hmac.compare_digest(expected["Signature"], auth["Signature"])):
            rec.auth_error = "SignatureDoesNotMatch"
            rec.canonical_request = signer.canonical
            rec.string_to_sign = signer.string_to_sign_text
            raise EC2Error("SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature "
                           "you provided. Check your AWS Secret Access Key and signing method. "
                           "Consult the service documentation for details.")
        rec.signature_ok = True

    def _take_faults(self, action):
        """The delay fault and the other fault that fire for this request."""
        picked = {}
        with self._lock:
            for f in self._faults:
                slot = "delay" if f.kind == "delay" else "fault"
                if slot in picked or (f.action is not None and f.action != action):
                    continue
                picked[slot] = f
                f.remaining -= 1
                f.fired += 1
                self._fault_counts[f.opts.get("name", f.kind)] += 1
            self._faults = [f for f in self._faults if f.remaining > 0]
        return picked.get("delay"), picked.get("fault")

    def _fault_answer(self, fault, action, params, rid, answer):
        """(answer, short, drop) for an injected fault; answer is the real one
        when the action ran first (after=True), else None."""
        if fault.kind == "drop":
            return None, False, True
        if fault.kind == "html":
            st = fault.opts.get("status", 502)
            phrase = BaseHTTPRequestHandler.responses.get(st, ("Error",))[0].encode()
            return (st, HTML_PAGE % (st, phrase, st, phrase), "text/html"), False, False
        if fault.kind == "error":
            message = fault.opts.get("message")
            if message is None and fault.opts["code"] == "InsufficientInstanceCapacity":
                itype, az = params.get("InstanceType", "m1.small"), self.region + "a"
                message = ("We currently do not have sufficient %s capacity in the "
                           "Availability Zone you requested (%s). Our system will be working "
                           "on provisioning additional capacity. You can currently get %s "
                           "capacity by not specifying an Availability Zone in your request "
                           "or choosing %sb." % (itype, az, itype, self.region))
            return (fault.opts["status"], xml_error(fault.opts["code"], message or "", rid),
                    "text/xml;charset=UTF-8"), False, False
        if fault.kind == "malformed":
            body = answer[1] if answer else xml_document(action + "Response", rid, [])
            mode = fault.opts.get("mode", "truncated")
            if mode == "truncated":
                body = body[:len(body) // 2]
            elif mode == "garbage":
                body = (b'<?xml version="1.0" encoding="UTF-8"?>\n<' + action.encode()
                        + b'Response xmlns="' + XMLNS.encode() + b'">\n<requestId>'
                        + rid.encode() + b"</requestId><instancesSet><item><<&>></item>\n")
            elif mode == "doctype":
                decl, _, rest = body.partition(b"\n")
                body = decl + b'\n<!DOCTYPE r [<!ENTITY x "i-0123456789abcdef0">]>\n' + rest
            elif mode == "empty":
                body = b""
            elif mode == "json":
                body = b'{"message": "not xml"}'
            return (200, body, "text/xml;charset=UTF-8"), mode == "short", False
        raise ValueError("unknown fault kind %r" % fault.kind)

    # -- actions

    def _action_RunInstances(self, params, rid, run):
        p = self._parse_run(params)
        run.parsed = p
        if p["dry_run"]:
            raise EC2Error("DryRunOperation",
                           "Request would have succeeded, but DryRun flag is set.")
        token = p["client_token"]
        fingerprint = tuple(sorted((k, v) for k, v in params.items()
                                   if k not in ("Action", "Version", "ClientToken")))
        with self._lock:
            self._advance()
            if token and token in self._tokens:
                fp, resv, ids = self._tokens[token]
                if fp != fingerprint:
                    raise EC2Error("IdempotentParameterMismatch",
                                   "Arguments on this idempotent request are inconsistent "
                                   "with arguments used in previous request(s).")
                run.replay, run.reservation_id, run.instance_ids = True, resv, list(ids)
                return self._run_answer(rid, resv, [self._instances[i] for i in ids])
            live = sum(1 for i in self._instances.values() if i.state in LIVE_STATES)
            n = p["max_count"]
            if self.max_live is not None:
                n = min(n, self.max_live - live)
                if n < p["min_count"]:
                    raise EC2Error("InstanceLimitExceeded",
                                   "You have requested more instances (%d) than your current "
                                   "instance limit of %d allows for the specified instance "
                                   "type. Please visit http://aws.amazon.com/contact-us/ec2-"
                                   "request to request an adjustment to this limit."
                                   % (p["min_count"], self.max_live))
            resv = _hex_id("r-")
            now, wall = time.monotonic(), time.time()
            launched = []
            for k in range(n):
                inst = self._new_instance(p, resv, k, now, wall)
                self._instances[inst.id] = inst
                launched.append(inst)
            ids = [i.id for i in launched]
            if token:
                self._tokens[token] = (fingerprint, resv, ids)
            run.reservation_id, run.instance_ids = resv, list(ids)
            return self._run_answer(rid, resv, launched)

    def _new_instance(self, p, resv, k, now, wall):
        self._ip_seq += 1
        idx = self._ip_seq - 1
        if idx >= 254 * 255:
            raise EC2Error("InsufficientInstanceCapacity", "The fake ran out of addresses.")
        ip = "127.0.%d.%d" % (1 + idx // 254, 1 + idx % 254)
        iid = _hex_id("i-")
        while iid in self._instances:
            iid = _hex_id("i-")
        nic = p["network_interfaces"][0] if p["network_interfaces"] else {}
        subnet = nic.get("subnet_id") or p["subnet_id"] or "subnet-0fa4e3b1c2d3e4f50"
        groups = nic.get("security_group_ids") or p["security_group_ids"] or ["sg-0default0000"]
        profile = None
        if p["iam_instance_profile"]:
            arn = p["iam_instance_profile"].get("arn") or (
                "arn:aws:iam::%s:instance-profile/%s"
                % (OWNER_ID, p["iam_instance_profile"].get("name")))
            profile = {"arn": arn, "id": "AIPA" + secrets.token_hex(8).upper()[:17]}
        hold = self._hold > 0
        if hold:
            self._hold -= 1
        return Instance(
            id=iid, reservation_id=resv, image_id=p["image_id"],
            instance_type=p["instance_type"], private_ip=ip, subnet_id=subnet,
            vpc_id="vpc-0c0ffee0c0ffee000", security_groups=list(groups),
            key_name=p["key_name"], iam_instance_profile=profile, tags=dict(p["tags"]),
            client_token=p["client_token"] or "", launch_index=k, launch_time=wall,
            eni_id=_hex_id("eni-"), state="pending", state_reason=("pending", "pending"),
            next_state_at=None if hold else now + self.launch_delay,
            visible_at=now + self.visibility_delay)

    def _parse_run(self, params):
        """RunInstances' parameters, validated as EC2 does, as a plain dict."""
        image = params.get("ImageId")
        if image is None:
            raise EC2Error("MissingParameter", "The request must contain the parameter ImageId")
        if not AMI_RE.match(image):
            raise EC2Error("InvalidAMIID.Malformed",
                           'Invalid id: "%s" (expecting "ami-...")' % image)
        for name in ("MinCount", "MaxCount"):
            if name not in params:
                raise EC2Error("MissingParameter",
                               "The request must contain the parameter %s" % name)
        lo = _int("minCount", params["MinCount"], 1)
        hi = _int("maxCount", params["MaxCount"], 1)
        if lo > hi:
            raise EC2Error("InvalidParameterValue",
                           "MinCount (%d) must be less than or equal to MaxCount (%d)" % (lo, hi))
        token = params.get("ClientToken")
        if token is not None and (len(token) > 64 or not token.isascii()):
            raise EC2Error("InvalidParameterValue",
                           "Value (%s) for parameter clientToken is invalid." % token)
        profile = None
        if "IamInstanceProfile.Name" in params or "IamInstanceProfile.Arn" in params:
            profile = {"name": params.get("IamInstanceProfile.Name"),
                       "arn": params.get("IamInstanceProfile.Arn")}
        nics = []
        for n, m in _members(params, "NetworkInterface").items():
            if "DeviceIndex" not in m:
                raise EC2Error("InvalidParameterValue",
                               "Each network interface requires a device index.")
            nics.append({
                "index": n,
                "device_index": _int("deviceIndex", m["DeviceIndex"], 0),
                "subnet_id": m.get("SubnetId"),
                "security_group_ids": _list(m, "SecurityGroupId"),
                "associate_public_ip": _bool("AssociatePublicIpAddress",
                                             m.get("AssociatePublicIpAddress")),
                "delete_on_termination": _bool("DeleteOnTermination",
                                               m.get("DeleteOnTermination")),
                "raw": dict(m),
            })
        groups = _list(params, "SecurityGroupId")
        if nics and params.get("SubnetId"):
            raise EC2Error("InvalidParameterCombination", "Network interfaces and an "
                           "instance-level subnet ID may not be specified on the same request")
        if nics and groups:
            raise EC2Error("InvalidParameterCombination", "Network interfaces and an "
                           "instance-level security groups may not be specified on the same "
                           "request")
        for nic in nics:
            if nic["associate_public_ip"] is not None and nic["device_index"] != 0:
                raise EC2Error("InvalidParameterCombination", "The associatePublicIPAddress "
                               "parameter can only be specified for the network interface "
                               "with DeviceIndex 0.")
        nics.sort(key=lambda x: x["device_index"])
        specs, tags = [], {}
        for n, m in _members(params, "TagSpecification").items():
            rtype = m.get("ResourceType")
            if rtype not in TAG_RESOURCE_TYPES:
                raise EC2Error("InvalidParameterValue",
                               "'%s' is not a valid taggable resource type for this "
                               "operation." % rtype)
            spec_tags = {}
            for _, t in _members(m, "Tag").items():
                k, v = t.get("Key"), t.get("Value", "")
                if not k:
                    raise EC2Error("InvalidParameterValue", "Tag keys must not be empty")
                if k.lower().startswith("aws:"):
                    raise EC2Error("InvalidParameterValue",
                                   "Tag keys starting with 'aws:' are reserved for internal use")
                if len(k) > 128 or len(v) > 256:
                    raise EC2Error("InvalidParameterValue",
                                   "Tag key or value too long: '%s'" % k[:140])
                if k in spec_tags:
                    raise EC2Error("InvalidParameterValue", "Duplicate tag key '%s'" % k)
                spec_tags[k] = v
            if len(spec_tags) > 50:
                raise EC2Error("TagLimitExceeded",
                               "The maximum number of tags per resource is 50")
            specs.append({"resource_type": rtype, "tags": spec_tags})
            if rtype == "instance":
                tags.update(spec_tags)
        return {
            "image_id": image,
            "instance_type": params.get("InstanceType", "m1.small"),
            "min_count": lo,
            "max_count": hi,
            "key_name": params.get("KeyName"),
            "iam_instance_profile": profile,
            "subnet_id": params.get("SubnetId"),
            "security_group_ids": groups,
            "network_interfaces": nics,
            "tag_specifications": specs,
            "tags": tags,
            "client_token": token,
            "user_data": params.get("UserData"),
            "dry_run": _bool("DryRun", params.get("DryRun")) or False,
        }

    def _describe_item(self, inst):
        """One instancesSet item, as DescribeInstances and RunInstances write it."""
        code = STATE_CODES[inst.state]
        gone = inst.state == "terminated"
        dns = "" if gone else "ip-%s.%s" % (inst.private_ip.replace(".", "-"),
                                            "ec2.internal" if self.region == "us-east-1"
                                            else self.region + ".compute.internal")
        groups = [("item", [("groupId", g), ("groupName", "olb-" + g[3:])])
                  for g in inst.security_groups]
        c = [("instanceId", inst.id), ("imageId", inst.image_id),
             ("instanceState", [("code", code), ("name", inst.state)]),
             ("privateDnsName", dns), ("dnsName", ""), ("reason", inst.reason)]
        if inst.key_name:
            c.append(("keyName", inst.key_name))
        c += [("amiLaunchIndex", inst.launch_index), ("productCodes", []),
              ("instanceType", inst.instance_type), ("launchTime", inst.launch_time_iso),
              ("placement", [("availabilityZone", self.region + "a"), ("groupName", ""),
                             ("tenancy", "default")]),
              ("monitoring", [("state", "disabled")])]
        if not gone:   # a terminated instance has lost its network interface
            c += [("subnetId", inst.subnet_id), ("vpcId", inst.vpc_id),
                  ("privateIpAddress", inst.private_ip)]
        c += [("sourceDestCheck", True), ("groupSet", groups)]
        if inst.state_reason:
            c.append(("stateReason", [("code", inst.state_reason[0]),
                                      ("message", inst.state_reason[1])]))
        c += [("architecture", "x86_64"), ("rootDeviceType", "ebs"),
              ("rootDeviceName", "/dev/xvda"), ("blockDeviceMapping", []),
              ("virtualizationType", "hvm"), ("clientToken", inst.client_token)]
        if inst.tags:
            c.append(("tagSet", [("item", [("key", k), ("value", v)])
                                 for k, v in inst.tags.items()]))
        c.append(("hypervisor", "xen"))
        if not gone:
            attach = iso_time(inst.launch_time)
            c.append(("networkInterfaceSet", [("item", [
                ("networkInterfaceId", inst.eni_id), ("subnetId", inst.subnet_id),
                ("vpcId", inst.vpc_id), ("description", ""), ("ownerId", OWNER_ID),
                ("status", "in-use"), ("macAddress", "0a:%s" % ":".join(
                    inst.eni_id[4 + 2 * i:6 + 2 * i] for i in range(5))),
                ("privateIpAddress", inst.private_ip), ("privateDnsName", dns),
                ("sourceDestCheck", True), ("groupSet", groups),
                ("attachment", [("attachmentId", "eni-attach-" + inst.eni_id[4:]),
                                ("deviceIndex", 0), ("status", "attached"),
                                ("attachTime", attach), ("deleteOnTermination", True),
                                ("networkCardIndex", 0)]),
                ("privateIpAddressesSet", [("item", [
                    ("privateIpAddress", inst.private_ip), ("privateDnsName", dns),
                    ("primary", True)])]),
                ("ipv6AddressesSet", []), ("interfaceType", "interface")])]))
        if inst.iam_instance_profile:
            c.append(("iamInstanceProfile", [("arn", inst.iam_instance_profile["arn"]),
                                             ("id", inst.iam_instance_profile["id"])]))
        c += [("ebsOptimized", False), ("enaSupport", True),
              ("cpuOptions", [("coreCount", 1), ("threadsPerCore", 2)]),
              ("hibernationOptions", [("configured", False)]),
              ("metadataOptions", [("state", "applied"), ("httpTokens", "required"),
                                   ("httpPutResponseHopLimit", 2),
                                   ("httpEndpoint", "enabled")]),
              ("platformDetails", "Linux/UNIX"), ("usageOperation", "RunInstances")]
        return ("item", c)

    def _run_answer(self, rid, resv, insts):
        return xml_document("RunInstancesResponse", rid, [
            ("reservationId", resv), ("ownerId", OWNER_ID), ("groupSet", []),
            ("instancesSet", [self._describe_item(i) for i in insts])])

    def _filters(self, params):
        """[(name, [compiled values])] of Filter.N.Name / Filter.N.Value.M."""
        out = []
        for n, m in _members(params, "Filter").items():
            name = m.get("Name")
            if not name:
                raise EC2Error("InvalidParameterValue", "The filter Filter.%d has no name" % n)
            values = _list(m, "Value")
            if not values:
                raise EC2Error("InvalidParameterValue",
                               "The filter '%s' must have at least one value" % name)
            if not name.startswith("tag:") and name not in _FILTER_FIELDS:
                raise EC2Error("InvalidParameterValue", "The filter '%s' is invalid" % name)
            out.append((name, [_wildcard(v) for v in values]))
        return out

    def _action_DescribeInstances(self, params, rid, run):
        ids = _list(params, "InstanceId")
        _check_ids(ids)
        filters = self._filters(params)
        page = None
        if "MaxResults" in params:
            if ids:
                raise EC2Error("InvalidParameterCombination", "The parameter instancesSet "
                               "cannot be used with the parameter maxResults")
            page = _int("maxResults", params["MaxResults"], 5, 1000)
        after = -1
        if params.get("NextToken"):
            try:
                after = int(json.loads(base64.urlsafe_b64decode(
                    params["NextToken"].encode()))["after"])
            except (ValueError, KeyError, TypeError):
                raise EC2Error("InvalidParameterValue", "Invalid value '%s' for nextToken"
                               % params["NextToken"]) from None
            page = page or 1000
        if _bool("DryRun", params.get("DryRun")):
            raise EC2Error("DryRunOperation",
                           "Request would have succeeded, but DryRun flag is set.")
        with self._lock:
            self._advance()
            now = time.monotonic()
            order = list(self._instances)
            if ids:
                missing = [i for i in dict.fromkeys(ids)
                           if i not in self._instances
                           or not self._visible(self._instances[i], now)]
                if missing:
                    if any(i in self._instances and not self._instances[i].vanished
                           for i in missing):
                        self._fault_counts["invisible"] += 1
                    raise _not_found(missing)
                chosen = [self._instances[i] for i in order if i in set(ids)]
            else:
                chosen = [i for i in self._instances.values() if self._visible(i, now)]
            chosen = [i for i in chosen if all(
                any(v.match(x) for v in values for x in _filter_values(i, name))
                for name, values in filters)]
            seqs = {iid: n for n, iid in enumerate(order)}
            chosen = [i for i in chosen if seqs[i.id] > after]
            more = None
            if page is not None and len(chosen) > page:
                chosen = chosen[:page]
                more = base64.urlsafe_b64encode(json.dumps(
                    {"after": seqs[chosen[-1].id]}).encode()).decode()
            reservations = collections.OrderedDict()
            for i in chosen:
                reservations.setdefault(i.reservation_id, []).append(i)
            items = [("item", [("reservationId", r), ("ownerId", OWNER_ID), ("groupSet", []),
                               ("instancesSet", [self._describe_item(i) for i in insts])])
                     for r, insts in reservations.items()]
            children = [("reservationSet", items)]
            if more:
                children.append(("nextToken", more))
            return xml_document("DescribeInstancesResponse", rid, children)

    def _action_TerminateInstances(self, params, rid, run):
        ids = _list(params, "InstanceId")
        if not ids:
            raise EC2Error("MissingParameter",
                           "The request must contain the parameter InstanceId")
        _check_ids(ids)
        if len(ids) > self.max_terminate_batch:
            raise EC2Error("InvalidParameterValue", "Too many instance IDs (%d); at most %d "
                           "in one request" % (len(ids), self.max_terminate_batch))
        if _bool("DryRun", params.get("DryRun")):
            raise EC2Error("DryRunOperation",
                           "Request would have succeeded, but DryRun flag is set.")
        with self._lock:
            self._advance()
            now = time.monotonic()
            missing = []
            for i in dict.fromkeys(ids):
                inst = self._instances.get(i)
                if inst is None or inst.vanished:
                    missing.append(i)
                elif self.visibility_terminate and not self._visible(inst, now):
                    missing.append(i)
                    self._fault_counts["invisible"] += 1
            if missing:
                raise _not_found(missing)
            items = []
            for i in dict.fromkeys(ids):
                inst = self._instances[i]
                prev = inst.state
                if prev not in ("shutting-down", "terminated"):
                    inst.state = "shutting-down"
                    inst.next_state_at = now + self.terminate_delay
                    inst.reason = "User initiated (%s)" % time.strftime(
                        "%Y-%m-%d %H:%M:%S GMT", time.gmtime())
                    inst.state_reason = ("Client.UserInitiatedShutdown",
                                         "Client.UserInitiatedShutdown: User initiated "
                                         "shutdown")
                items.append(("item", [
                    ("instanceId", i),
                    ("currentState", [("code", STATE_CODES[inst.state]), ("name", inst.state)]),
                    ("previousState", [("code", STATE_CODES[prev]), ("name", prev)])]))
            return xml_document("TerminateInstancesResponse", rid, [("instancesSet", items)])

    # -- the control path

    _CONTROL = ("throttle", "insufficient_capacity", "internal_error", "unavailable", "error",
                "html_error", "malformed_xml", "drop_connection", "delay", "delay_visibility",
                "hold_pending", "clear_faults", "release", "set_state", "terminate_externally",
                "kill_listener", "set_static_accepted", "reset_records")

    def _control(self, h):
        """POST /_fake/<method> {kwargs} runs one of _CONTROL; GET /_fake/state."""
        name = urlsplit(h.path).path[len("/_fake/"):]
        body = _read_body(h) or b""
        if h.command == "GET" and name == "state":
            out = (200, self.state())
        elif h.command == "POST" and name in self._CONTROL:
            try:
                kw = json.loads(body or b"{}")
                if not isinstance(kw, dict):
                    raise ValueError("the body must be a JSON object")
                getattr(self, name)(**kw)
                out = (200, {"ok": True})
            except (TypeError, ValueError, KeyError) as e:
                out = (400, {"ok": False, "error": str(e)})
        else:
            out = (404, {"ok": False, "error": "no such control %s %s" % (h.command, name)})
        _send(h, out[0], json.dumps(out[1], default=str).encode(), "application/json")


# What each DescribeInstances filter name compares with.
_FILTER_FIELDS = {
    "instance-id": lambda i: [i.id],
    "instance-state-name": lambda i: [i.state],
    "instance-state-code": lambda i: [str(STATE_CODES[i.state])],
    "instance-type": lambda i: [i.instance_type],
    "image-id": lambda i: [i.image_id],
    "private-ip-address": lambda i: [i.private_ip] if i.state != "terminated" else [],
    "subnet-id": lambda i: [i.subnet_id] if i.state != "terminated" else [],
    "vpc-id": lambda i: [i.vpc_id] if i.state != "terminated" else [],
    "key-name": lambda i: [i.key_name] if i.key_name else [],
    "client-token": lambda i: [i.client_token],
    "reservation-id": lambda i: [i.reservation_id],
    "instance.group-id": lambda i: list(i.security_groups),
    "iam-instance-profile.arn": lambda i: ([i.iam_instance_profile["arn"]]
                                           if i.iam_instance_profile else []),
    "tag-key": lambda i: list(i.tags),
    "tag-value": lambda i: list(i.tags.values()),
}


def _filter_values(inst, name):
    if name.startswith("tag:"):
        key = name[4:]
        return [inst.tags[key]] if key in inst.tags else []
    return _FILTER_FIELDS[name](inst)


# ---------------------------------------------------------------------------
# IMDSv2


class FakeIMDS(_Loopback):
    """The instance metadata service, IMDSv2 only (every GET needs a token).

    ec2: the FakeEC2 that must accept the credentials issued here (None:
    standalone).  role: the role name listed under
    /latest/meta-data/iam/security-credentials/.  lifetime: seconds from
    issue to Expiration (rounded up to a whole second, as Expiration has no
    fraction).  A fetch gets the current set until rotate_before seconds
    before its Expiration, then a new set; the old one stays valid on the EC2
    side until its own Expiration (plus the FakeEC2's temp_grace).
    """
    server_header = "EC2ws"

    def __init__(self, ec2=None, role="olb-role", lifetime=20.0, rotate_before=0.0,
                 region="us-east-1", port=0, instance_id="i-0fa4e0000000000a1"):
        super().__init__(port)
        self.ec2 = ec2
        self.role = role
        self.lifetime = lifetime
        self.rotate_before = rotate_before
        self.region = region
        self.instance_id = instance_id
        self._lock = threading.Lock()
        self._tokens = {}              # token -> expiry (monotonic)
        self._issued = []              # every credential set, oldest first
        self._fetches = collections.Counter()
        self._requests = []
        self._fail = []                # [remaining, status, path or None]
        self._delays = []              # [remaining, seconds]

    def start(self):
        self._start_server()
        return self

    def stop(self):
        self._stop_server()

    # -- credentials

    def _issue(self, now):
        """A new credential set, registered with the FakeEC2 (under the lock)."""
        alnum = string.ascii_uppercase + string.digits
        cred = {
            "Code": "Success",
            "LastUpdated": iso_time(now, millis=False),
            "Type": "AWS-HMAC",
            "AccessKeyId": "ASIA" + "".join(secrets.choice(alnum) for _ in range(16)),
            "SecretAccessKey": base64.b64encode(os.urandom(30)).decode(),
            # Real session tokens are long and use the whole base64 alphabet.
            "Token": "IQoJb3JpZ2luX2VjE" + base64.b64encode(os.urandom(600)).decode(),
            "Expiration": None,
        }
        expiration = math.ceil(now + self.lifetime)
        cred["Expiration"] = iso_time(expiration, millis=False)
        cred["_expiration"] = expiration
        self._issued.append(cred)
        if self.ec2 is not None:
            self.ec2.add_credentials(cred["AccessKeyId"], cred["SecretAccessKey"],
                                     cred["Token"], expiration, source="imds")
        return cred

    def current(self):
        """The set a fetch would return now (issuing a new one when due)."""
        now = time.time()
        with self._lock:
            if not self._issued or now >= self._issued[-1]["_expiration"] - self.rotate_before:
                self._issue(now)
            return self._public(self._issued[-1])

    def rotate(self):
        """Issue a new set now (the old one stays valid until its Expiration)."""
        with self._lock:
            return self._public(self._issue(time.time()))

    def expire_now(self):
        """The current set expires now: the FakeEC2 refuses it (ExpiredToken,
        after temp_grace) and the next fetch gets a new one."""
        with self._lock:
            if self._issued:
                cur = self._issued[-1]
                cur["_expiration"] = time.time() - 0.001
                if self.ec2 is not None:
                    self.ec2.add_credentials(cur["AccessKeyId"], cur["SecretAccessKey"],
                                             cur["Token"], cur["_expiration"], source="imds")

    def expire_tokens(self):
        """Every session token issued so far expires now (GETs with it: 401)."""
        with self._lock:
            self._tokens = {}

    def issued(self):
        """Every credential set issued, oldest first (dicts as served)."""
        with self._lock:
            return [self._public(c) for c in self._issued]

    @staticmethod
    def _public(cred):
        return {k: v for k, v in cred.items() if not k.startswith("_")}

    # -- faults and observability

    def fail_next(self, count=1, status=500, path=None):
        """Answer status (empty body) to the next count requests (to path)."""
        with self._lock:
            self._fail.append([count, status, path])

    def delay_next(self, seconds, count=1):
        """Sleep seconds before answering the next count requests."""
        with self._lock:
            self._delays.append([count, seconds])

    def fetches(self):
        """{"token": PUTs answered with a token, "role": role listings,
        "credentials": credential fetches}."""
        with self._lock:
            return dict(self._fetches)

    def fetch_count(self, kind="credentials"):
        return self.fetches().get(kind, 0)

    def requests(self):
        """[(wall time, method, path, status)], oldest first."""
        with self._lock:
            return list(self._requests)

    # -- HTTP

    def _handle(self, h):
        path = urlsplit(h.path).path
        _read_body(h)
        with self._lock:
            delay = fail = None
            for d in self._delays:
                delay = d[1]
                d[0] -= 1
                break
            self._delays = [d for d in self._delays if d[0] > 0]
            for f in self._fail:
                if f[2] is None or f[2] == path:
                    fail = f[1]
                    f[0] -= 1
                    break
            self._fail = [f for f in self._fail if f[0] > 0]
        if delay:
            time.sleep(delay)
        if fail:
            status, body, headers = fail, b"", ()
        else:
            status, body, headers = self._answer(h, path)
        with self._lock:
            self._requests.append((time.time(), h.command, h.path, status))
        _send(h, status, body, "text/plain", headers)

    def _answer(self, h, path):
        """(status, body, headers) for one metadata request."""
        if path == "/latest/api/token":
            if h.command != "PUT":
                return 405, b"", ()
            if h.headers.get("X-Forwarded-For"):
                return 403, b"", ()
            ttl = h.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return 400, b"", ()
            token = base64.b64encode(os.urandom(42)).decode()
            with self._lock:
                self._tokens[token] = time.monotonic() + int(ttl)
                self._fetches["token"] += 1
            return 200, token.encode(), (("X-aws-ec2-metadata-token-ttl-seconds", ttl),)
        if h.command != "GET":
            return 405, b"", ()
        token = h.headers.get("X-aws-ec2-metadata-token")
        with self._lock:
            expiry = self._tokens.get(token) if token else None
        if expiry is None or time.monotonic() >= expiry:
            return 401, b"", ()
        creds = "/latest/meta-data/iam/security-credentials/"
        if path in ("/latest/meta-data/iam/security-credentials", creds):
            with self._lock:
                self._fetches["role"] += 1
            return 200, self.role.encode(), ()
        if path in (creds + self.role, creds + self.role + "/"):
            cur = self.current()
            with self._lock:
                self._fetches["credentials"] += 1
            return 200, json.dumps(cur, indent=2, separators=(",", " : ")).encode(), ()
        static = {
            "/latest/meta-data/": "iam/\ninstance-id\nplacement/",
            "/latest/meta-data/iam/": "info\nsecurity-credentials/",
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/placement/region": self.region,
            "/latest/meta-data/placement/availability-zone": self.region + "a",
        }
        if path in static:
            return 200, static[path].encode(), ()
        return 404, b"", ()


# ---------------------------------------------------------------------------
# Script


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="A fake EC2 Query API (and IMDSv2) on 127.0.0.1 for olb's tests.")
    ap.add_argument("--port", type=int, default=0, help="EC2 port (default: a free one)")
    ap.add_argument("--imds-port", type=int, default=None,
                    help="also serve IMDSv2 on this port (0: a free one)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key", default="AKIDEXAMPLE")
    ap.add_argument("--secret-key", default=DEFAULT_SECRET)
    ap.add_argument("--no-static", action="store_true",
                    help="accept only the metadata service's credentials")
    ap.add_argument("--launch-delay", type=float, default=1.0)
    ap.add_argument("--terminate-delay", type=float, default=1.0)
    ap.add_argument("--terminated-ttl", type=float, default=60.0)
    ap.add_argument("--listener-cmd", default=None,
                    help='e.g. "build/test/olb-listener --host {ip} --port {port} '
                         '--name {name}"')
    ap.add_argument("--instance-port", type=int, default=3000)
    ap.add_argument("--role", default="olb-role")
    ap.add_argument("--credential-lifetime", type=float, default=3600.0)
    ap.add_argument("--chunked", action="store_true",
                    help="answer with Transfer-Encoding: chunked")
    args = ap.parse_args(argv)

    fake = FakeEC2(region=args.region, access_key=args.access_key,
                   secret_key=args.secret_key,
                   listener_cmd=shlex.split(args.listener_cmd) if args.listener_cmd else None,
                   instance_port=args.instance_port, launch_delay=args.launch_delay,
                   terminate_delay=args.terminate_delay, terminated_ttl=args.terminated_ttl,
                   port=args.port, chunked=args.chunked)
    fake.set_static_accepted(not args.no_static)
    fake.start()
    print("ec2 %s" % fake.url, flush=True)
    if args.imds_port is not None:
        imds = fake.start_imds(role=args.role, lifetime=args.credential_lifetime,
                               port=args.imds_port)
        print("imds %s" % imds.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
