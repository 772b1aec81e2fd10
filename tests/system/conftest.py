"""Fixtures for olb's system tests: a real redis-server, the real olbd, on loopback.

Every process a test starts is stopped by its pid at the end of the test.
OLB_BUILD names the build directory (default build/test, the variant with the
fault-injection switches).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("OLB_BUILD", "build/test"))
OLBD = os.path.join(BUILD, "olbd")
OLBCTL = os.path.join(BUILD, "olbctl")
CONF = os.path.join(ROOT, "etc", "olbd.conf")


_PORTS_GIVEN = set()


def free_port():
    """A loopback port no process holds now, and that this session has not
    handed out before.  The kernel may give the same free port to two binds
    in a row: an olbd given one port for its proxy and its admin listeners
    would then bind both (olbd's listeners use SO_REUSEPORT), and the kernel
    would share the connections between them."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port
    raise AssertionError("no loopback port left that was not handed out")


def wait_for(predicate, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def cluster_pids(cluster):
    """Live processes started by the process provider for cluster (found by
    the OLB_CLUSTER of their environment, as the provider finds them)."""
    want = b"OLB_CLUSTER=" + cluster.encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if want in env and pid_alive(int(entry)):
            out.append(int(entry))
    return out


def kill_cluster(cluster):
    for pid in cluster_pids(cluster):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def children_of(pid):
    """Pids whose parent is pid, with their command lines."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            fields = stat.rsplit(") ", 1)[1].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                out[int(entry)] = f.read().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return out


def http_get(port, path="/api/v1/healthCheck", timeout=2.0, method="GET", headers=None, body=None):
    """One request on a new connection; returns (status, headers dict, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def answers(port):
    """True when port answers GET /api/v1/healthCheck with 200."""
    try:
        return http_get(port)[0] == 200
    except OSError:
        return False


class TcpServer:
    """A threaded TCP server on a loopback port (0: a free one): on_client(sock)
    runs in a thread of its own for each connection; stop() closes the
    listening socket."""

    def __init__(self, port=0):
        self.stopping = False
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.on_client, args=(c,), daemon=True).start()

    def on_client(self, sock):
        raise NotImplementedError

    def stop(self):
        self.stopping = True
        self.lsock.close()


class RedisServer:
    def __init__(self, tmp, port=None, extra=()):
        self.port = port or free_port()
        self.dir = tmp
        self.extra = list(extra)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--daemonize", "no",
             "--dir", self.dir, "--loglevel", "warning"] + self.extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, 5, what="redis-server on %d" % self.port)

    def ping(self):
        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.exceptions.ConnectionError:
            return False

    def client(self):
        return redis.Redis(port=self.port, decode_responses=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class SentinelGroup:
    """A master, its replicas and three real redis-sentinel processes on
    loopback, monitoring the master as NAME with a quorum of 2.  Fast
    settings: the master is down after 500 ms without an answer."""

    NAME = "olbm"
    SERVER = ["--repl-diskless-sync-delay", "0"]

    def __init__(self, tmp, replicas=1):
        self.dir = tmp
        # A replica's full sync starts at once (no diskless delay), as
        # after a failover the demoted master needs one.
        self.servers = [RedisServer(self._mkdir("r0"), extra=self.SERVER)]
        for i in range(replicas):
            self.servers.append(RedisServer(self._mkdir("r%d" % (i + 1)), extra=self.SERVER + [
                "--replicaof", "127.0.0.1", str(self.servers[0].port)]))
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels = []

    def _mkdir(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def start(self):
        for r in self.servers:
            r.start()
        for i, port in enumerate(self.sentinel_ports):
            d = self._mkdir("s%d" % i)
            conf = os.path.join(d, "sentinel.conf")
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\n"
                        "sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s 500\n"
                        "sentinel failover-timeout %s 4000\n"
                        "sentinel parallel-syncs %s 1\n" % (
                            port, d, self.NAME, self.servers[0].port,
                            self.NAME, self.NAME, self.NAME))
            self.sentinels.append(subprocess.Popen(
                ["redis-sentinel", conf, "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.sentinel_ports:
            wait_for(lambda: self._sentinel_sees_replica(port), 15,
                     what="sentinel on %d to see the replica" % port)
        return self

    def _sentinel_sees_replica(self, port):
        try:
            s = redis.Redis(port=port, socket_timeout=0.5, decode_responses=True)
            return any(r.get("master-link-status") == "ok" and
                       "s_down" not in r.get("flags", "")
                       for r in s.sentinel_slaves(self.NAME))
        except redis.exceptions.RedisError:
            return False

    def sentinel(self, i=0):
        return redis.Redis(port=self.sentinel_ports[i], decode_responses=True)

    def master_port(self):
        """The master's port as a majority of the sentinels name it."""
        ports = []
        for port in self.sentinel_ports:
            try:
                addr = redis.Redis(port=port, socket_timeout=0.5).sentinel_get_master_addr_by_name(
                    self.NAME)
                ports.append(int(addr[1]))
            except (redis.exceptions.RedisError, TypeError):
                pass
        best = max(set(ports), key=ports.count) if ports else None
        return best if ports.count(best) >= 2 else None

    def server(self, port):
        return [r for r in self.servers if r.port == port][0]

    def bring_back(self, old, master):
        """Start the server that was on port old again, as a replica of the
        master on port master (as an operator brings a failed master back);
        returns it."""
        back = RedisServer(self.server(old).dir, port=old, extra=self.SERVER + [
            "--replicaof", "127.0.0.1", str(master)])
        self.servers = [r for r in self.servers if r.port != old] + [back]
        back.start()
        return back

    def overrides(self):
        nodes = ", ".join('"127.0.0.1:%d"' % p for p in self.sentinel_ports)
        return ["redis.sentinel.master=%s" % self.NAME,
                "redis.sentinel.nodes=[%s]" % nodes,
                "redis.sentinel.check_ms=500"]

    def stop(self):
        for p in self.sentinels:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        for r in self.servers:
            r.stop()


class Events:
    """Collects every message of the monitoring channel in a thread."""

    def __init__(self, port, channel="loadbalancer:events"):
        self.items = []
        self.lock = threading.Lock()
        self.stopping = False
        self.client = redis.Redis(port=port, decode_responses=True)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=1)  # the subscribe confirmation
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                msg = self.pubsub.get_message(timeout=0.1)
            except Exception:
                time.sleep(0.1)
                continue
            if msg and msg["type"] == "message":
                with self.lock:
                    self.items.append(json.loads(msg["data"]))

    def of_type(self, type_):
        with self.lock:
            return [e for e in self.items if e["type"] == type_]

    def wait(self, type_, timeout=5, pred=lambda e: True):
        return wait_for(lambda: [e for e in self.of_type(type_) if pred(e)], timeout,
                        what="event %s" % type_)

    def close(self):
        self.stopping = True
        self.thread.join(2)
        try:
            self.pubsub.close()
        except Exception:
            pass


class Olbd:
    """One olbd supervisor in the foreground (-d) with its own port and pidfile."""

    def __init__(self, tmp, redis_port, workers=2, extra=(), env=None, conf=CONF,
                 cluster=None, daily_jobs=False, admin=False):
        self.tmp = tmp
        # Instances of the process provider carry their cluster in their
        # environment; one per test, so no test ever adopts another's.
        self.cluster = cluster or "t-" + os.path.basename(os.path.dirname(tmp))
        self.nworkers = workers
        self.port = free_port()
        self.redis_port = redis_port
        # The admin listener only where a test asks for it (its own port).
        self.admin_port = free_port() if admin else 0
        self.pidfile = os.path.join(tmp, "olbd.pid")
        self.log = os.path.join(tmp, "olbd.log")
        self.conf = conf
        self.overrides = [
            "proxy.listen=127.0.0.1:%d" % self.port,
            "proxy.workers=%d" % workers,
            "redis.port=%d" % redis_port,
            "redis.embedded=false",
            "daemon.pidfile=%s" % self.pidfile,
            "daemon.drain_timeout_ms=3000",
            "log.level=debug",
            "provider.cluster=%s" % self.cluster,
            "admin.listen=127.0.0.1:%d" % self.admin_port,
        ] + ([] if daily_jobs else [
            # No daily jobs unless a test asks (test_scheduler.py): a catch-up
            # teardown at start would race every test's own fleet up.
            "scheduler.jobs=()",
        ]) + list(extra)
        self.env = dict(os.environ, **(env or {}))
        self.proc = None

    def uses_redis(self, port):
        """True if this olbd's Redis is the server on port (the last
        override wins, as in olbd)."""
        ports = [o.split("=", 1)[1] for o in self.overrides if o.startswith("redis.port=")]
        embedded = [o for o in self.overrides if o.startswith("redis.embedded=")]
        return ports[-1:] == [str(port)] and embedded[-1:] == ["redis.embedded=false"]

    def args(self):
        out = []
        for o in self.overrides:
            out += ["-o", o]
        return out

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen([OLBD, "-d", "-c", self.conf] + self.args(),
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     env=self.env, cwd=ROOT)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def workers(self):
        return children_of(self.pid)

    def worker_pids(self, title):
        return [p for p, c in self.workers().items() if c.startswith(title)]

    def serving(self):
        try:
            return http_get(self.port, timeout=0.5)[0] == 200
        except OSError:
            return False

    def settled(self):
        """Every worker forked and named (a fresh child still shows the parent's title)."""
        titles = list(self.workers().values())
        return len(titles) >= self.nworkers + 3 + (self.admin_port != 0) and not any(
            t.startswith("olbd: supervisor") for t in titles)

    def wait_ready(self, timeout=10):
        wait_for(self.serving, timeout, what="olbd serving on %d" % self.port)
        wait_for(self.settled, timeout, what="every worker started")

    def signal(self, sig):
        os.kill(self.pid, sig)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                for p in self.workers():
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.logf.close()

    def check_sanitizers(self):
        """Fail on any AddressSanitizer, LeakSanitizer or UBSan report in the log
        (every olbd process writes its stderr there)."""
        text = self.log_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in text, "sanitizer report in %s:\n%s" % (
                self.log, text[text.index(marker) - 200:][:4000])

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()


def olbctl_check(olbd, timeout=6.0):
    """Run `olbctl check --json` until it reports no difference (tracking
    arrays are rebuilt about once a second, the scaler sweeps accounts of
    removed instances once a second); fail with the differences of the last
    run.  Returns the last report."""
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run([OLBCTL, "-c", olbd.conf] + olbd.args() + ["check", "--json"],
                             capture_output=True, text=True, timeout=30, env=olbd.env)
        assert out.returncode in (0, 1), out
        report = json.loads(out.stdout)
        assert report["ok"] == (out.returncode == 0), report
        if report["ok"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert report["ok"], "olbctl check: %d differences, first: %s" % (
        len(report["differences"]), report["differences"][:10])
    return report


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item, for fixtures that keep what a
    failed test leaves behind."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def keep_failed(d, name):
    """A failed test's directory (olbd logs, Redis' log, instance logs) is
    copied to $TMPDIR/olbtest-failed/<test>, and the end of every olbd log
    printed, so a rare failure can be read where it happened (CI included)."""
    dest = os.path.join(tempfile.gettempdir(), "olbtest-failed",
                        re.sub(r"[^A-Za-z0-9_.-]", "_", name))
    shutil.rmtree(dest, ignore_errors=True)
    def skipped(root, names):   # sockets, fifos and Redis' data files
        return [n for n in names if n.endswith((".rdb", ".aof")) or not (
            os.path.isdir(os.path.join(root, n)) or
            os.path.isfile(os.path.join(root, n)))]
    shutil.copytree(d, dest, symlinks=False, ignore=skipped)
    print("\n== kept in %s" % dest)
    for root, _, files in sorted(os.walk(dest)):
        for f in sorted(files):
            if f == "olbd.log":
                with open(os.path.join(root, f), errors="replace") as fh:
                    tail = fh.readlines()[-80:]
                print("== %s (last %d lines)\n%s" % (
                    os.path.join(root, f), len(tail), "".join(tail)))


@pytest.fixture
def tmpdir_path(request):
    with tempfile.TemporaryDirectory(prefix="olbtest-") as d:
        yield d
        rep = getattr(request.node, "rep_call", None)
        if (rep is not None and rep.failed) or getattr(request.node, "olb_failed", False):
            try:
                keep_failed(d, request.node.name)
            except OSError as e:
                print("== could not keep %s: %s" % (d, e))


@pytest.fixture
def redis_server(tmpdir_path):
    r = RedisServer(tmpdir_path)
    r.start()
    yield r
    r.stop()


@pytest.fixture
def events(redis_server):
    e = Events(redis_server.port)
    yield e
    e.close()


@pytest.fixture
def olbd_factory(request, tmpdir_path, redis_server):
    started = []

    def make(**kw):
        d = tempfile.mkdtemp(dir=tmpdir_path)
        o = Olbd(d, redis_server.port, **kw)
        started.append(o)
        return o

    yield make
    # Every test ends with the placement invariants holding (olbctl check),
    # unless it said the state is not meant to (o.check = False) or Redis
    # is gone.  A failed check still stops every olbd and instance.
    try:
        for o in started:
            if getattr(o, "check", True) and o.uses_redis(redis_server.port) and \
                    redis_server.ping():
                olbctl_check(o)
    except BaseException:
        request.node.olb_failed = True     # tmpdir_path keeps the logs
        raise
    finally:
        for o in started:
            o.stop()
        for o in started:
            kill_cluster(o.cluster)
    for o in started:
        o.check_sanitizers()


@pytest.fixture
def olbd(olbd_factory):
    return olbd_factory().start()
