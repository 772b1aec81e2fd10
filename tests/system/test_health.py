"""The health worker (SPEC §7): active probes of real olb-listener instances,
the earlier service's history and stats, and the state changes that route
(health.fall failures: unhealthy; health.rise successes: running again).
"""
import json
import os
import signal
import time

import pytest

from conftest import wait_for
from test_listener import Listener
from test_scaler import P, TOKEN, ctl, place, records, running, scaler_olbd

FALL, RISE = 3, 2
FAST = ["health.interval_ms=300", "health.timeout_ms=200", "health.fall=%d" % FALL,
        "health.rise=%d" % RISE, "health.history=5", "daemon.lease_ms=3000"]
HISTORY = "OrderListenerHealthManager:history:"
STATS = "OrderListenerHealthManager:stats:"


class Instance(Listener):
    """One olb-listener on its own port, which a test may stop, kill and
    start again; always ended by pid."""

    def start(self, extra=None):
        if extra is not None:
            self.extra = list(extra)
        return super().start()

    def signal(self, sig):
        os.kill(self.pid, sig)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def instances():
    made = []

    def make(name, extra=()):
        inst = Instance(name, extra)
        made.append(inst)
        return inst.start()

    yield make
    for inst in made:
        inst.kill()
        inst.close()


def health_olbd(olbd_factory, extra=()):
    return olbd_factory(extra=['proxy.auth_tokens=["%s"]' % TOKEN] + FAST +
                        list(extra)).start()


def register(olbd, role, inst):
    out = ctl(olbd, "instance", "add", "--role", role, "--addr",
              "127.0.0.1:%d" % inst.port, "--name", inst.name)
    return out.stdout.strip()


def state(r, iid):
    return records(r)[iid]["state"]


def placed_on(port, actid, master):
    status, body = place(port, actid, master=master)
    assert status == 200, body
    return json.loads(body)["name"]


def test_unhealthy_after_fall_and_recovered_after_rise(olbd_factory, redis_server, events,
                                                       instances):
    """An instance answering 500, one stopped (timeouts) and one killed
    (connection refused) are each unhealthy after exactly health.fall failed
    probes, with one notify event each; no account is placed on them and the
    accounts that were are placed elsewhere on their next call; health.rise
    successes bring each back with one instance.recovered.  Three of four
    clients failing at once would be a panic: health.panic_percent = 100
    turns it off, and they are marked unhealthy as usual."""
    olbd = health_olbd(olbd_factory, ["health.panic_percent=100"])
    r = redis_server.client()
    master = instances("HM")
    ok, stopped, killed = instances("H-ok"), instances("H-stop"), instances("H-kill")
    register(olbd, "master", master)
    ids = {i.name: register(olbd, "client", i) for i in (ok, stopped, killed)}
    wait_for(lambda: all(int(r.hget(P + "health:streak", i) or 0) >= RISE
                         for i in ids.values()), 10, what="healthy streaks")
    assert placed_on(olbd.port, "HMA", None) == "HM"
    spread = {a: placed_on(olbd.port, a, "HMA") for a in ("HA%d" % i for i in range(9))}
    assert set(spread.values()) == {"H-ok", "H-stop", "H-kill"}

    bad = instances("H-500", ["--health-status", "500"])
    ids[bad.name] = register(olbd, "client", bad)
    stopped.signal(signal.SIGSTOP)
    killed.kill()
    down = {ids["H-500"], ids["H-stop"], ids["H-kill"]}
    wait_for(lambda: {e["id"] for e in events.of_type("instance.unhealthy")} == down, 15,
             what="three instances unhealthy")
    time.sleep(1)       # more failed rounds: no second event
    events_down = events.of_type("instance.unhealthy")
    assert len(events_down) == 3
    assert all(e["level"] == "notify" and e["failures"] == FALL and e["role"] == "health"
               for e in events_down)
    assert all(state(r, i) == "unhealthy" for i in down)
    assert state(r, ids["H-ok"]) == "running"
    # Routing: nothing new lands on them, and their accounts move.
    assert {placed_on(olbd.port, "HN%d" % i, "HMA") for i in range(6)} == {"H-ok"}
    assert {placed_on(olbd.port, a, "HMA") for a in spread} == {"H-ok"}

    stopped.signal(signal.SIGCONT)
    killed.start()
    bad.kill()
    bad.start(extra=[])
    wait_for(lambda: {e["id"] for e in events.of_type("instance.recovered")} == down, 15,
             what="three instances recovered")
    time.sleep(1)
    assert len(events.of_type("instance.recovered")) == 3
    assert all(state(r, i) == "running" for i in down)
    assert int(r.hget(P + "health:streak", ids["H-stop"])) >= RISE


def test_history_and_stats_as_the_earlier_service_kept_them(olbd_factory, redis_server,
                                                           instances):
    """history:<id> holds the probe records newest first, trimmed to
    health.history; stats:<id> counts successes and failures and the time of
    the last check, which is the newest record's."""
    olbd = health_olbd(olbd_factory)
    r = redis_server.client()
    good = instances("HS-good")
    bad = instances("HS-bad", ["--health-status", "503"])
    gid, bid = register(olbd, "client", good), register(olbd, "client", bad)
    wait_for(lambda: int(r.hget(STATS + gid, "totalSuccesses") or 0) >= 7, 15,
             what="seven rounds")
    for iid, healthy, status in ((gid, True, 200), (bid, False, 503)):
        assert r.llen(HISTORY + iid) == 5            # health.history
        recs = [json.loads(x) for x in r.lrange(HISTORY + iid, 0, -1)]
        for rec in recs:
            assert sorted(rec) == ["error", "healthy", "instanceId", "responseTimeMs",
                                   "statusCode", "timestamp"]
            assert rec["instanceId"] == iid and rec["healthy"] is healthy
            assert rec["statusCode"] == status and rec["error"] is None
            assert isinstance(rec["timestamp"], int) and rec["timestamp"] > 1.7e12
            assert isinstance(rec["responseTimeMs"], int) and 0 <= rec["responseTimeMs"] < 200
        stamps = [rec["timestamp"] for rec in recs]
        assert stamps == sorted(stamps, reverse=True)     # newest first
        stats = r.hgetall(STATS + iid)
        assert sorted(stats) == ["lastCheckedAt", "totalFailures", "totalSuccesses"] or \
            sorted(stats) == ["lastCheckedAt", "totalSuccesses"] or \
            sorted(stats) == ["lastCheckedAt", "totalFailures"]
        assert abs(int(stats["lastCheckedAt"]) - stamps[0]) <= 1000
    assert int(r.hget(STATS + gid, "totalSuccesses")) >= 7
    assert r.hget(STATS + gid, "totalFailures") is None
    assert int(r.hget(STATS + bid, "totalFailures")) >= 7
    # olbctl health: a line per instance, and one instance's last records.
    table = ctl(olbd, "health").stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "ROLE", "STATE"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert rows[gid][2:5] == ["running", rows[gid][3], "successes"] and int(rows[gid][3]) >= 7
    assert rows[bid][2] == "unhealthy" and rows[bid][4] == "failures"
    assert int(rows[bid][6]) >= 7 and rows[bid][5] == "-"
    one = ctl(olbd, "health", gid).stdout.splitlines()
    assert len(one) == 2 + 5 and one[1].split()[0] == gid
    assert json.loads(one[2].strip())["instanceId"] == gid
    missing = ctl(olbd, "health", "inst-404", check=False)
    assert missing.returncode == 1 and "no instance inst-404" in missing.stderr
    # A killed listener is a failure with the reason, no status.
    good.kill()
    wait_for(lambda: json.loads(r.lindex(HISTORY + gid, 0))["healthy"] is False, 5,
             what="a failed probe recorded")
    rec = json.loads(r.lindex(HISTORY + gid, 0))
    assert rec["statusCode"] == 0 and rec["error"]
    # Gone instances' keys expire.
    ctl(olbd, "instance", "remove", bid)
    wait_for(lambda: r.ttl(HISTORY + bid) > 0 and r.ttl(STATS + bid) > 0, 5,
             what="the removed instance's keys given a TTL")
    assert r.hget(P + "health:streak", bid) is None


def test_kill9_mid_streak_continues_from_redis(olbd_factory, redis_server, events,
                                              instances):
    """kill -9 of the health worker in the middle of a failure streak: the
    streak lives in Redis, so the next health worker continues it: one event,
    at exactly health.fall failures."""
    olbd = health_olbd(olbd_factory, extra=["health.fall=8"])
    r = redis_server.client()
    inst = instances("HK")
    iid = register(olbd, "client", inst)
    wait_for(lambda: state(r, iid) == "running" and
             int(r.hget(P + "health:streak", iid) or 0) >= 1, 10, what="healthy")
    inst.signal(signal.SIGSTOP)
    wait_for(lambda: int(r.hget(P + "health:streak", iid) or 0) <= -3, 10,
             what="three failures")
    (pid,) = olbd.worker_pids("olbd: health")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: events.of_type("instance.unhealthy"), 20, what="unhealthy")
    time.sleep(1)
    (e,) = events.of_type("instance.unhealthy")
    assert e["id"] == iid and e["failures"] == 8
    assert olbd.worker_pids("olbd: health") != [pid]


def test_one_prober_across_hosts(olbd_factory, redis_server, instances):
    """Two olbd on one Redis: only the holder of the health lease probes and
    writes (one record per round, not two); when it stops, the other takes
    over within the lease time."""
    first = health_olbd(olbd_factory)
    second = health_olbd(olbd_factory)
    r = redis_server.client()
    inst = instances("H2")
    iid = register(first, "client", inst)
    wait_for(lambda: int(r.hget(STATS + iid, "totalSuccesses") or 0) >= 2, 10,
             what="probed")
    n0, t0 = int(r.hget(STATS + iid, "totalSuccesses")), time.monotonic()
    time.sleep(3)
    n1, t1 = int(r.hget(STATS + iid, "totalSuccesses")), time.monotonic()
    rounds = (t1 - t0) / 0.3
    assert n1 - n0 <= rounds + 2, (n1 - n0, rounds)    # one prober, not two
    holder = r.get(P + "lease:health")             # "<host>:<pid>#<fence>"
    (owner,) = [o for o in (first, second)
                if any(holder.split("#")[0].endswith(":%d" % p)
                       for p in o.worker_pids("olbd: health"))]
    owner.stop()
    before = int(r.hget(STATS + iid, "lastCheckedAt"))
    wait_for(lambda: int(r.hget(STATS + iid, "lastCheckedAt")) > before + 1000, 10,
             what="probes from the other host")
    assert r.get(P + "lease:health") != holder


def test_passive_signal_takes_a_dead_instance_out_fast(olbd_factory, redis_server, events,
                                                      instances):
    """With health.interval_ms at 30 s, an instance that dies while carrying
    traffic is unhealthy within a few seconds: the proxy that cannot connect
    reports it (instance.suspect), and the health worker probes it at once
    and every health.suspect_interval_ms until it decides."""
    olbd = health_olbd(olbd_factory, extra=["health.interval_ms=30000",
                                            "health.timeout_ms=1000"])
    r = redis_server.client()
    master, client = instances("PM"), instances("PC")
    register(olbd, "master", master)
    cid = register(olbd, "client", client)
    assert placed_on(olbd.port, "PMA", None) == "PM"
    assert placed_on(olbd.port, "PCA", "PMA") == "PC"
    client.kill()
    t0 = time.monotonic()
    status, _ = place(olbd.port, "PCA", master="PMA")
    assert status == 502
    wait_for(lambda: state(r, cid) == "unhealthy", 10, what="unhealthy")
    took = time.monotonic() - t0
    print("dead instance carrying traffic to unhealthy: %.2f s" % took)
    assert took < 8.0         # fall x 500 ms, not fall x 30 s
    suspect = events.wait("instance.suspect", pred=lambda e: e["id"] == cid)
    assert suspect[0]["role"].startswith("proxy") and suspect[0]["reason"] == "unreachable"
    # The state is in Redis before the event reaches this subscriber.
    (down,) = events.wait("instance.unhealthy", pred=lambda e: e["id"] == cid)
    assert down["id"] == cid and down["failures"] == FALL


def test_panic_keeps_routing_and_replaces_nothing(olbd_factory, redis_server, events):
    """Three of four clients stop answering at once: olb suspects itself
    (health.panic_percent, 50): one health.panic event, none of them is marked
    unhealthy or replaced, new accounts are still placed; when they answer
    again, health.panic_cleared."""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=5", "health.replace_after_ms=1000",
        "health.interval_ms=300", "health.timeout_ms=200", "health.fall=%d" % FALL,
        "proxy.upstream_timeout_ms=1000"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 4, 20,
             what="the fleet")
    clients = running(r, "client")
    assert placed_on(olbd.port, "PNM", None).startswith("Master")
    stopped = sorted(clients)[:3]
    try:
        for iid in stopped:
            os.kill(clients[iid]["pid"], signal.SIGSTOP)
        (panic,) = events.wait("health.panic", timeout=10)
        assert panic["level"] == "notify" and panic["instanceRole"] == "client"
        assert panic["failing"] == 3 and panic["instances"] == 4
        # Well past fall rounds and replace_after: still routed, none replaced.
        for i in range(8):
            status, body = place(olbd.port, "PNC%d" % i, master="PNM")
            assert status != 503 and b"No instance available" not in body, body
        time.sleep(FALL * 0.3 + 1.5)
        assert events.of_type("instance.unhealthy") == []
        assert events.of_type("instance.draining") == []
        assert {i: v["state"] for i, v in records(r).items() if i in clients} == \
            {i: "running" for i in clients}
        assert r.hget(P + "health:panic", "client") is not None
        assert "panic: client instances fail at once" in ctl(olbd, "health").stdout
        assert len(events.of_type("health.panic")) == 1
    finally:
        for iid in stopped:
            try:
                os.kill(clients[iid]["pid"], signal.SIGCONT)
            except ProcessLookupError:
                pass
    (cleared,) = events.wait("health.panic_cleared", timeout=10)
    assert cleared["instanceRole"] == "client"
    assert r.hget(P + "health:panic", "client") is None
    assert len(events.of_type("health.panic")) == 1


def test_probing_continues_after_fleet_down_and_up(olbd_factory, redis_server, events):
    """The earlier service stopped probing after the first daily teardown:
    after fleet down and fleet up, the new instances are probed (running at
    their first answer, history written) and a dead one is still found."""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=2", "health.interval_ms=300", "health.timeout_ms=200",
        "health.fall=%d" % FALL])
    r = redis_server.client()
    for day in range(2):
        ctl(olbd, "fleet", "up")
        wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1,
                 20, what="the fleet up (day %d)" % day)
        ids = set(running(r, "master")) | set(running(r, "client"))
        wait_for(lambda: all(int(r.hget(STATS + i, "totalSuccesses") or 0) >= 3 for i in ids),
                 10, what="probes of day %d's instances" % day)
        ctl(olbd, "fleet", "down")
        wait_for(lambda: all(records(r).get(i, {}).get("state", "terminated") == "terminated"
                             for i in ids), 20, what="the fleet down (day %d)" % day)
        # The health worker drops them at its next read of the targets.
        wait_for(lambda: all(r.ttl(HISTORY + i) > 0 for i in ids), 10,
                 what="the history of day %d's instances expiring" % day)
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "client")) == 1, 20, what="the third day's fleet")
    (cid, crec), = running(r, "client").items()
    os.kill(crec["pid"], signal.SIGKILL)
    events.wait("instance.unhealthy", timeout=10, pred=lambda e: e["id"] == cid)


class Hostile:
    """A loopback server answering every connection in one hostile way."""

    def __init__(self, mode):
        import socket
        import threading
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.recv(4096)
            m = self.mode
            if m == "huge":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (10 << 20))
                c.sendall(b"x" * (10 << 20))
            elif m == "endless":
                c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                for _ in range(100000):
                    c.sendall(b"1000\r\n" + b"y" * 4096 + b"\r\n")
            elif m == "redirect":
                c.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/\r\n"
                          b"Content-Length: 0\r\n\r\n")
            elif m == "garbage":
                c.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n" * 50)
            elif m == "trickle":
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
                for _ in range(1000):
                    c.sendall(b"z")
                    time.sleep(0.05)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


def test_hostile_health_answers_are_failures(olbd_factory, redis_server, events):
    """A 10 MiB body, a body that never ends, a redirect, garbage instead of
    HTTP and a slow trickle are each a failed probe at a bounded cost: each
    instance is unhealthy after health.fall rounds, the health worker never
    exits, and its memory stays small."""
    olbd = health_olbd(olbd_factory, ["health.panic_percent=100"])
    r = redis_server.client()
    servers = {m: Hostile(m) for m in ("huge", "endless", "redirect", "garbage", "trickle")}
    try:
        (pid,) = olbd.worker_pids("olbd: health")
        ids = {}
        for m, srv in servers.items():
            out = ctl(olbd, "instance", "add", "--role", "client", "--addr",
                      "127.0.0.1:%d" % srv.port, "--name", "hostile-" + m)
            ids[out.stdout.strip()] = m
            ctl(olbd, "instance", "state", out.stdout.strip(), "running")
        wait_for(lambda: {e["id"] for e in events.of_type("instance.unhealthy")} == set(ids),
                 20, what="every hostile instance unhealthy")
        for iid, m in ids.items():
            rec = json.loads(r.lindex(HISTORY + iid, 0))
            assert rec["healthy"] is False, (m, rec)
            if m == "redirect":
                assert rec["statusCode"] == 302
            if m in ("huge", "endless"):
                assert "answer over" in rec["error"], (m, rec)
            if m == "trickle":
                assert rec["error"] == "timeout", rec
        time.sleep(1)
        assert olbd.worker_pids("olbd: health") == [pid]
        with open("/proc/%d/status" % pid) as f:
            rss = int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])
        assert rss < 64 * 1024, rss      # KiB: no 10 MiB answer kept
        assert all(e["id"] in ids for e in events.of_type("instance.unhealthy"))
    finally:
        for srv in servers.values():
            srv.close()


def test_passive_signal_and_replacement_with_no_operator(olbd_factory, redis_server, events):
    """With health.interval_ms at 30 s, an instance of the process provider
    that hangs (SIGSTOP: alive to its provider, dead to the network) while it
    carries traffic is unhealthy within a few seconds of the first request
    that times out on it, and the scaler drains and replaces it after
    health.replace_after_ms with no operator command.  (A killed process is
    the provider's to notice: test_scaler.test_process_exit_is_replaced.)"""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=2", "health.interval_ms=30000",
        "health.timeout_ms=300", "health.replace_after_ms=2000",
        "proxy.upstream_timeout_ms=1000"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1, 20,
             what="the fleet")
    (cid, crec), = running(r, "client").items()
    assert placed_on(olbd.port, "PSM", None).startswith("Master")
    assert placed_on(olbd.port, "PSC", "PSM") == crec["serverName"]
    os.kill(crec["pid"], signal.SIGSTOP)
    t0 = time.monotonic()
    status, _ = place(olbd.port, "PSC", master="PSM")
    assert status == 504
    wait_for(lambda: records(r)[cid]["state"] != "running", 10, what="unhealthy")
    took = time.monotonic() - t0
    print("hung process instance carrying traffic to unhealthy: %.2f s" % took)
    assert took < 8.0         # fall x (suspect probes), not fall x 30 s
    suspect = events.wait("instance.suspect", pred=lambda e: e["id"] == cid)
    assert suspect[0]["reason"] == "timeout"
    drained = events.wait("instance.draining", timeout=10, pred=lambda e: e["id"] == cid)
    assert drained[0]["reason"] == "unhealthy too long"
    wait_for(lambda: len(running(r, "client")) == 1 and cid not in running(r, "client"),
             20, what="a replacement client")
    assert r.hget(P + "fleet", "clients") == "1"
