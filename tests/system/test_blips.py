"""Our own blips cost no request: a proxy worker killed (kill -9) and
respawned, Redis restarted, under keep-alive load.  Placed accounts are
served throughout (from the workers' memory, or by a worker that waits for
Redis before it accepts); a new account during an outage longer than
proxy.redis_wait_ms gets 503 with its own message, never "No instance
available", and one asked shortly before Redis returns is placed, however
long the outage was.  Each fault is repeated: races show up on the second
one.
"""
import http.client
import os
import signal
import subprocess
import tempfile
import threading
import time


from conftest import Olbd, RedisServer, olbctl_check, wait_for
from test_placement_races import (CREATE, TOKEN, UNAVAILABLE, Fleet, body_of, call,
                                  parallel, place, settings)


class KeepAliveLoad:
    """THREADS threads, each on one keep-alive connection (a new one after an
    error), calling create for placed accounts until stopped or the time
    limit; every failure is kept with its time."""

    def __init__(self, port, accounts, threads=8, limit=60):
        self.port = port
        self.accounts = accounts
        self.threads = threads
        self.limit = limit
        self.ok = 0
        self.failures = []
        self.lock = threading.Lock()
        self.stopping = False
        self.ts = []

    def _run(self, n):
        conn = None
        i = n
        deadline = time.monotonic() + self.limit
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
        while not self.stopping and time.monotonic() < deadline:
            a = self.accounts[i % len(self.accounts)]
            i += self.threads
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", CREATE, body=body_of(a, "M1"), headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    raise AssertionError("%d %s" % (resp.status, data[:200]))
                with self.lock:
                    self.ok += 1
            except Exception as e:
                with self.lock:
                    self.failures.append((time.monotonic(), a, repr(e)))
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()

    def start(self):
        self.ts = [threading.Thread(target=self._run, args=(n,), daemon=True)
                   for n in range(self.threads)]
        for t in self.ts:
            t.start()
        return self

    def stop(self):
        self.stopping = True
        for t in self.ts:
            t.join(self.limit + 15)
        assert not any(t.is_alive() for t in self.ts)


def test_proxy_worker_killed_twice_per_slot(olbd_factory, redis_server):
    o = olbd_factory(workers=2, extra=settings()).start()
    fleet = Fleet(o)
    try:
        fleet.add("client", "Client_Listener-1")
        accounts = ["W%03d" % n for n in range(200)]
        place(o, accounts)
        timings = []
        for rnd in range(2):
            for slot in (1, 2):
                victim = o.worker_pids("olbd: proxy %d" % slot)
                assert len(victim) == 1
                os.kill(victim[0], signal.SIGKILL)
                t0 = time.monotonic()
                # 20 connections opened at the kill, one request each
                res = parallel(lambda a: call(o.port, CREATE, a, "M1"),
                               accounts[:20], threads=20, limit=30)
                bad = [x for x in res if isinstance(x, Exception) or x[0] != 200]
                assert not bad, "round %d slot %d: %d failed: %s" % (
                    rnd, slot, len(bad), bad[:3])
                wait_for(lambda: o.worker_pids("olbd: proxy %d" % slot) and
                         o.worker_pids("olbd: proxy %d" % slot) != victim, 10,
                         what="proxy %d respawned" % slot)
                timings.append(time.monotonic() - t0)
                time.sleep(0.3)
        print("\nkill -9 to 20 good answers: %s s" % ", ".join("%.2f" % t for t in timings))
    finally:
        fleet.stop()


class PersistentRedis(RedisServer):
    """A redis-server whose data survives a restart (AOF, fsync always)."""

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--daemonize", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, 5, what="redis-server on %d" % self.port)

    def restart(self, down_s):
        self.proc.send_signal(signal.SIGTERM)      # writes the AOF and exits
        self.proc.wait(10)
        time.sleep(down_s)
        self.start()


def test_redis_restarted_three_times_under_load(olbd_factory, tmpdir_path):
    rs = PersistentRedis(tmpdir_path)
    rs.start()
    try:
        o = Olbd(tempfile.mkdtemp(dir=tmpdir_path), rs.port, workers=2,
                 extra=settings("proxy.redis_wait_ms=1000")).start()
        fleet = Fleet(o)
        try:
            fleet.add("client", "Client_Listener-1")
            accounts = ["B%03d" % n for n in range(300)]
            place(o, accounts)
            # every worker has every account in memory
            for _ in range(3):
                place(o, accounts)
            load = KeepAliveLoad(o.port, accounts).start()
            back = []
            try:
                for n in range(3):
                    time.sleep(1.0)
                    t_down = time.monotonic()
                    rs.proc.send_signal(signal.SIGTERM)
                    rs.proc.wait(10)
                    if n == 0:
                        # longer than the wait: a new account gets the 503 of
                        # its own, with Retry-After
                        status, doc, headers = call(o.port, CREATE, "NEW-%d" % n, "M1")
                        assert (status, doc["message"]) == (503, UNAVAILABLE), doc
                        assert headers.get("retry-after")
                    # by now every connection's backoff is at its cap: 1 to 2 s
                    # between attempts
                    time.sleep(max(0.0, t_down + 3.7 - time.monotonic()))
                    # new accounts asked 0.3 s before Redis returns, on 8
                    # connections (both workers): each worker must reconnect
                    # within the 0.7 s left of their wait, not at its next
                    # backoff attempt
                    waiters = {}
                    ts = [threading.Thread(target=lambda k=k: waiters.update(
                        {k: call(o.port, CREATE, "WAIT-%d-%d" % (n, k), "M1")}))
                        for k in range(8)]
                    for t in ts:
                        t.start()
                    time.sleep(0.3)
                    rs.start()
                    t_up = time.monotonic()
                    for t in ts:
                        t.join(20)
                    bad = {k: w for k, w in waiters.items() if w[0] != 200}
                    assert len(waiters) == 8 and not bad, (n, bad)
                    back.append((time.monotonic() - t_up, t_up - t_down))
            finally:
                load.stop()
            assert load.failures == [], "%d requests failed (of %d), first: %s" % (
                len(load.failures), load.ok + len(load.failures), load.failures[:3])
            assert load.ok > 100
            print("\n%d requests, none failed; Redis down / its return to the last waiter placed: %s" % (
                load.ok, ", ".join("%.1f s/%.3f s" % (d, b) for b, d in back)))
            olbctl_check(o)
        finally:
            fleet.stop()
            o.stop()
            o.check_sanitizers()
    finally:
        rs.stop()
