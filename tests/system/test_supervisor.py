"""The supervisor: workers, restarts, the breaker, liveness, reloads, Redis outages."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import redis

from conftest import (CONF, OLBCTL, Events, children_of, free_port, http_get, pid_alive,
                      wait_for)


def server_pid_of(conn, candidates):
    """The pid among candidates that holds the server side of conn."""
    local_port = conn.getsockname()[1]
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            rem_port = int(parts[2].split(":")[1], 16)
            if rem_port == local_port and parts[3] == "01":
                inodes.add(parts[9])
    for pid in candidates:
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return pid
        except (FileNotFoundError, ProcessLookupError):
            continue
    return None


def test_process_titles(olbd):
    titles = sorted(olbd.workers().values())
    assert titles == ["olbd: health", "olbd: proxy 1", "olbd: proxy 2",
                      "olbd: scaler", "olbd: scheduler"]
    with open("/proc/%d/cmdline" % olbd.pid, "rb") as f:
        assert f.read().startswith(b"olbd: supervisor")


def test_health_and_test_routes(olbd):
    status, headers, body = http_get(olbd.port, "/api/v1/healthCheck")
    assert (status, json.loads(body)) == (200, {"status": True, "message": "Health is OK"})
    assert headers["content-type"] == "application/json"
    status, _, body = http_get(olbd.port, "/api/v1/healthCheck/deep", method="POST")
    assert (status, json.loads(body)) == (200, {"status": True, "message": "Health is OK"})
    status, _, body = http_get(olbd.port, "/api/v1/test")
    assert (status, json.loads(body)) == (200, {"status": True, "message": "success"})
    status, _, body = http_get(olbd.port, "/api/v1/test", method="HEAD")
    assert (status, body) == (200, b"")
    status, _, body = http_get(olbd.port, "/nope")
    assert (status, json.loads(body)) == (404, {"status": False, "message": "Path not found"})


def test_keep_alive_and_pipelining(olbd):
    with socket.create_connection(("127.0.0.1", olbd.port), timeout=2) as s:
        req = b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req * 3 + b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.count(b"HTTP/1.1 404 Not Found") == 1
    assert data.endswith(b'{"status":false,"message":"Path not found"}')


def test_several_proxy_workers_share_the_port(olbd_factory):
    o = olbd_factory(workers=4).start()
    proxies = set(o.worker_pids("olbd: proxy"))
    assert len(proxies) == 4
    seen = set()
    conns = []
    try:
        for _ in range(64):
            s = socket.create_connection(("127.0.0.1", o.port), timeout=2)
            s.sendall(b"GET /api/v1/test HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
            conns.append(s)
        for s in conns:
            seen.add(server_pid_of(s, proxies))
    finally:
        for s in conns:
            s.close()
    seen.discard(None)
    assert len(seen) >= 2, seen


def test_killed_worker_is_restarted(olbd, redis_server, events):
    for title in ("olbd: proxy 1", "olbd: scaler", "olbd: health", "olbd: scheduler"):
        old = olbd.worker_pids(title)
        assert len(old) == 1
        os.kill(old[0], signal.SIGKILL)
        t0 = time.monotonic()
        new = wait_for(lambda: [p for p in olbd.worker_pids(title) if p != old[0]], 1.0,
                       what="a new " + title)
        assert time.monotonic() - t0 < 1.0
        exited = events.wait("worker.exited", pred=lambda e: e["worker_pid"] == old[0])
        assert "signal 9" in exited[0]["status"]
        events.wait("worker.restarted", pred=lambda e: e["worker_pid"] == new[0])
        if title.startswith("olbd: proxy"):
            wait_for(olbd.serving, 1.0, what="proxy serving")
    # The heartbeat of the replaced scaler shows one restart.
    r = redis_server.client()
    beat = wait_for(lambda: [json.loads(r.get(k)) for k in r.keys("loadbalancer:worker:*:scaler")
                             if json.loads(r.get(k))["restarts"] == 1], 3, what="heartbeat")
    assert beat[0]["role"] == "scaler"


def test_crash_loop_trips_the_breaker(olbd_factory, events):
    o = olbd_factory(env={"OLB_TEST_CRASH": "scheduler"},
                     extra=["daemon.breaker_deaths=4", "daemon.breaker_window_ms=10000"]
                     ).start(wait=False)
    wait_for(o.serving, 10, what="serving")
    trip = events.wait("worker.crashloop", timeout=8)
    assert trip[0]["worker"] == "scheduler"
    delays = [e["delay_ms"] for e in events.of_type("worker.restarted") if e["worker"] == "scheduler"]
    # Exponential backoff from 100 ms, never a tight loop.
    assert delays[:3] == [100, 200, 400], delays
    n = len(events.of_type("worker.exited"))
    time.sleep(2)
    assert len(events.of_type("worker.exited")) == n  # capped at 30 s now
    assert o.serving()


def test_exit_status_2_is_not_respawned(olbd_factory, events):
    o = olbd_factory(env={"OLB_TEST_EXIT2": "health"}).start(wait=False)
    wait_for(o.serving, 10, what="serving")
    events.wait("worker.exited", pred=lambda e: e["worker"] == "health")
    time.sleep(1)
    assert not o.worker_pids("olbd: health")
    assert not events.of_type("worker.restarted")
    assert "not restarting" in o.log_text()


def test_supervisor_killed_ends_everything(olbd_factory, tmpdir_path):
    rport = free_port()
    o = olbd_factory(extra=["redis.embedded=true", "redis.port=%d" % rport,
                            "redis.embedded_dir=%s/redis" % tmpdir_path])
    o.start()
    kids = o.workers()
    assert any(c.startswith("olbd: redis") for c in kids.values()), kids
    assert len(kids) == 6
    o.proc.kill()
    o.proc.wait(5)
    wait_for(lambda: not any(pid_alive(p) for p in kids), 2.0, what="children to exit")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", o.port))


def test_embedded_redis_persists_and_rewrites_late(olbd_factory, tmpdir_path):
    """The embedded Redis logs every write (appendonly, fsync each second) and
    compacts its file only past 256 MB, so a burst of logins does not meet
    the fork and the child of a rewrite (docs/DECISIONS.md)."""
    rport = free_port()
    o = olbd_factory(extra=["redis.embedded=true", "redis.port=%d" % rport,
                            "redis.embedded_dir=%s/redis" % tmpdir_path])
    o.start()
    r = redis.Redis(port=rport, decode_responses=True)
    got = {k: r.config_get(k)[k] for k in
           ("appendonly", "appendfsync", "save", "auto-aof-rewrite-min-size")}
    assert got == {"appendonly": "yes", "appendfsync": "everysec", "save": "",
                   "auto-aof-rewrite-min-size": str(256 << 20)}, got


def test_reload_with_broken_then_fixed_file(olbd_factory, events, tmpdir_path):
    conf = os.path.join(tmpdir_path, "olbd.conf")
    with open(CONF) as f:
        good = f.read()
    with open(conf, "w") as f:
        f.write(good)
    o = olbd_factory(conf=conf).start()
    old = set(o.worker_pids("olbd: proxy"))
    with open(conf, "w") as f:
        f.write(good + "\nproxy: { workers = \"many\"; };\n")
    o.signal(signal.SIGHUP)
    failed = events.wait("config.reload_failed")
    assert any(conf in err for err in failed[0]["errors"]), failed
    assert set(o.worker_pids("olbd: proxy")) == old
    assert o.serving()
    with open(conf, "w") as f:
        f.write(good)
    o.signal(signal.SIGHUP)
    done = events.wait("config.reloaded")
    assert done[0]["generation"] == 2
    wait_for(lambda: len(set(o.worker_pids("olbd: proxy")) - old) == 2, 3, what="new generation")
    wait_for(lambda: not (set(o.worker_pids("olbd: proxy")) & old), 5, what="old generation gone")
    assert o.serving()


def test_reload_under_load_loses_nothing(olbd_factory):
    o = olbd_factory(extra=["daemon.drain_timeout_ms=5000"]).start()
    stop = time.monotonic() + 20
    counts = {"ok": 0, "failed": 0}
    errors = []
    lock = threading.Lock()

    def client(keep_alive):
        import http.client
        conn = None
        while time.monotonic() < stop:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", o.port, timeout=5)
                conn.request("GET", "/api/v1/test")
                resp = conn.getresponse()
                body = resp.read()
                ok = resp.status == 200 and body == b'{"status":true,"message":"success"}'
                with lock:
                    counts["ok" if ok else "failed"] += 1
                if not keep_alive or resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as exc:  # any failure or reset counts
                with lock:
                    counts["failed"] += 1
                    errors.append(repr(exc))
                if conn is not None:
                    conn.close()
                conn = None

    threads = [threading.Thread(target=client, args=(i % 2 == 0,)) for i in range(50)]
    for t in threads:
        t.start()
    for _ in range(20):
        time.sleep(1)
        o.signal(signal.SIGHUP)
    for t in threads:
        t.join(30)
    assert counts["failed"] == 0, (counts, errors[:5])
    assert counts["ok"] > 1000, counts


def test_redis_outage(olbd, redis_server, events, tmpdir_path):
    r = redis_server.client()
    wait_for(lambda: len(r.keys("loadbalancer:worker:*")) == 6, 3, what="heartbeats")
    before = dict(olbd.workers())
    events.close()
    redis_server.stop()
    time.sleep(1)
    # While Redis is down: a worker dies and is replaced; the events queue up.
    victim = olbd.worker_pids("olbd: health")[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: [p for p in olbd.worker_pids("olbd: health") if p != victim], 2,
             what="health restarted")
    assert olbd.serving()
    # The supervisor publishes what it queued as soon as it reconnects: hold
    # it until this test listens, or a quick reconnect beats the subscriber.
    olbd.signal(signal.SIGSTOP)
    try:
        redis_server.start()
        ev = Events(redis_server.port)
    finally:
        olbd.signal(signal.SIGCONT)
    try:
        r = redis_server.client()
        # Heartbeats come back within the reconnect backoff cap (2 s) plus a period.
        wait_for(lambda: len(r.keys("loadbalancer:worker:*")) == 6, 4, what="heartbeats back")
        got = ev.wait("worker.exited", timeout=4, pred=lambda e: e["worker_pid"] == victim)
        assert got
        ev.wait("worker.restarted", timeout=4)
    finally:
        ev.close()
    after = olbd.workers()
    survivors = {p for p in before if p != victim}
    assert survivors <= set(after), "a worker exited during the Redis outage"


def test_olbctl_status_and_events(olbd, redis_server):
    args = [OLBCTL, "-c", olbd.conf] + olbd.args()
    r = redis_server.client()
    wait_for(lambda: len(r.keys("loadbalancer:worker:*")) == 6, 3, what="heartbeats")
    wait_for(lambda: r.get("loadbalancer:lease:scaler"), 3, what="the scaler lease")
    out = subprocess.run(args + ["status"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    workers, leases, fleet = out.stdout.split("\n\n")
    lines = workers.splitlines()
    assert lines[0].split()[:3] == ["ROLE", "PID", "HOST"]
    names = sorted(line.split()[0] for line in lines[1:])
    assert names == ["health", "proxy-1", "proxy-2", "scaler", "scheduler", "supervisor"]
    # Then the fleet, with the scaler lease's holder (the scaler of this olbd).
    head = fleet.splitlines()[0]
    scaler = olbd.worker_pids("olbd: scaler")[0]
    # Between them, the holders of the three duties' leases.
    assert re.match(r"leases: scaler \S+:%d#\d+ health \S+ scheduler \S+$" % scaler,
                    leases), leases
    assert head.startswith("fleet unset (provider process, cluster %s, deployment "
                           % olbd.cluster)
    assert re.search(r"scaler lease \S+:%d#\d+$" % scaler, head), head
    ev = subprocess.Popen(args + ["events"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        victim = olbd.worker_pids("olbd: scaler")[0]
        os.kill(victim, signal.SIGKILL)
        line = ev.stdout.readline()
        assert "worker.exited" in line and "worker_pid=%d" % victim in line, line
    finally:
        ev.kill()
        ev.wait(5)


def test_olbctl_reload(olbd, events):
    args = [OLBCTL, "-c", olbd.conf] + olbd.args()
    out = subprocess.run(args + ["reload"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    events.wait("config.reloaded")
    bad = subprocess.run(args + ["-o", "proxy.workers=-1", "reload"], capture_output=True,
                         text=True, timeout=10)
    assert bad.returncode != 0
    assert "proxy.workers" in bad.stderr
