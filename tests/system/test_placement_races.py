"""The placement path under races and blips (issue: no account lost, none
doubled, no request failed by our own hiccups).

Each test forces one interleaving that used to lose or misplace accounts, on
hundreds of accounts at once, against the real olbd, a real redis-server and
real olb-listener instances (some slow on purpose), and ends with olbctl
check (every count equals the accounts mapped to its instance, tracking and
states agree) plus the instances' own lists of the listeners they host.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import (BUILD, OLBCTL, TcpServer, answers, free_port, http_get,
                      olbctl_check, wait_for)

TOKEN = "t-races-token"
LISTENER = os.path.join(BUILD, "olb-listener")
CREATE = "/api/v1/listener/create_user_listener"
REMOVE = "/api/v1/listener/remove_user_listener"
P = "loadbalancer:"
UNAVAILABLE = "Placement store unavailable, retry later"


class Fleet:
    """olb-listener processes registered with olbctl; stopped by pid."""

    def __init__(self, olbd):
        self.olbd = olbd
        self.procs = {}     # name -> Popen
        self.ports = {}     # name -> port
        self.ids = {}       # name -> instance id

    def ctl(self, *args, check=True):
        out = subprocess.run([OLBCTL, "-c", self.olbd.conf] + self.olbd.args() + list(args),
                             capture_output=True, text=True, timeout=20)
        if check:
            assert out.returncode == 0, out
        return out

    def start(self, name, port, *opts):
        p = subprocess.Popen([LISTENER, "--port", str(port), "--name", name] + list(opts),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[name] = p
        wait_for(lambda: answers(port), 5, what="listener %s" % name)

    def add(self, role, name, *opts):
        port = free_port()
        self.ports[name] = port
        self.start(name, port, *opts)
        out = self.ctl("instance", "add", "--role", role, "--addr", "127.0.0.1:%d" % port,
                       "--name", name)
        self.ids[name] = out.stdout.strip().split()[-1]
        return self.ids[name]

    def restart(self, name, *opts):
        """The same instance, a new process: it hosts nothing now."""
        self.kill(name)
        self.start(name, self.ports[name], *opts)

    def kill(self, name):
        p = self.procs.pop(name)
        p.send_signal(signal.SIGTERM)
        p.wait(5)

    def state(self, name, state):
        self.ctl("instance", "state", self.ids[name], state)

    def hosted(self, name):
        status, _, body = http_get(self.ports[name], "/api/v1/listener/accounts", timeout=10)
        assert status == 200, body
        return set(json.loads(body)["accounts"])

    def stop(self):
        for name in list(self.procs):
            self.kill(name)


def body_of(actid, master=""):
    return json.dumps({"actid": actid, "broker": "b", "access_token": "at",
                       "master_actid": master,
                       "services": {"master": master == ""}})


def call(port, path, actid, master="", timeout=15):
    """One call on a fresh connection: (status, parsed body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body_of(actid, master), headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
        resp = conn.getresponse()
        data = resp.read()
        try:
            doc = json.loads(data)
        except ValueError:
            doc = data
        return resp.status, doc, {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def parallel(fn, items, threads=32, limit=60):
    """fn(item) for every item on a bounded pool of threads; the results in
    order.  Bounded in count (the items) and time (limit)."""
    results = [None] * len(items)
    lock = threading.Lock()
    todo = list(enumerate(items))
    deadline = time.monotonic() + limit

    def run():
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    return
                i, item = todo.pop()
            try:
                results[i] = fn(item)
            except Exception as e:      # kept: the test asserts on it
                results[i] = e
    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(limit + 10)
    assert not todo and not any(t.is_alive() for t in ts), "load loop did not finish"
    return results


def place(o, accounts, master_of=lambda a: "M1", threads=32):
    """create_user_listener for every account (clients of master_of(a), or
    masters where it gives ""), all at once; every answer must be 200."""
    res = parallel(lambda a: call(o.port, CREATE, a, master_of(a)), accounts, threads)
    bad = [(a, x) for a, x in zip(accounts, res) if isinstance(x, Exception) or x[0] != 200]
    assert not bad, "%d creates failed, first: %s" % (len(bad), bad[:3])


def settings(*extra):
    return ['proxy.auth_tokens=["%s"]' % TOKEN, "scaling.max_users_per_master=100000",
            "scaling.max_users_per_client=100000", "scaling.master_threshold=100000",
            "scaling.client_threshold=100000", "proxy.upstream_timeout_ms=10000",
            "log.level=info"] + list(extra)


@pytest.fixture
def fleet_of(olbd_factory):
    made = []

    def make(workers=2, extra=()):
        o = olbd_factory(workers=workers, extra=settings(*extra)).start()
        f = Fleet(o)
        made.append(f)
        return o, f
    yield make
    for f in made:
        f.stop()


def mapping(r, role="client"):
    """actid -> instance id (a client's mapping is '<id>\\n<master>')."""
    m = r.hgetall(P + ("master_mapping" if role == "master" else "client_mapping"))
    return {a: v.split("\n")[0] for a, v in m.items()}


# 1. A slow remove on a draining instance; a create of the same account is
#    placed elsewhere meanwhile; the late 2xx must free only the first place.
def test_late_remove_keeps_the_new_placement(fleet_of, redis_server):
    o, fleet = fleet_of()
    r = redis_server.client()
    i1 = fleet.add("client", "Client_Listener-1", "--delay-ms", "600")
    accounts = ["L%03d" % n for n in range(200)]
    place(o, accounts, threads=64)
    i2 = fleet.add("client", "Client_Listener-2")
    fleet.state("Client_Listener-1", "draining")

    def remove_then_create(a):
        got = {}
        t = threading.Thread(target=lambda: got.update(rm=call(o.port, REMOVE, a, "M1")))
        t.start()
        time.sleep(0.2)         # the remove is at the slow instance now
        got["create"] = call(o.port, CREATE, a, "M1")
        t.join(15)
        return got
    results = parallel(remove_then_create, accounts, threads=100)
    for a, got in zip(accounts, results):
        assert not isinstance(got, Exception), (a, got)
        assert got["rm"][0] == 200, (a, got)
        assert got["create"][0] == 200 and got["create"][1]["name"] == "Client_Listener-2", (
            a, got)
    m = mapping(r)
    wrong = [a for a in accounts if m.get(a) != i2]
    assert not wrong, "%d accounts not mapped to the instance hosting them, e.g. %s" % (
        len(wrong), wrong[:5])
    assert int(r.hget(P + "instance_user_counts", i2)) == len(accounts)
    assert fleet.hosted("Client_Listener-2") == set(accounts)
    assert fleet.hosted("Client_Listener-1") == set()
    olbctl_check(o)
    assert int(r.hget(P + "instance_user_counts", i1) or 0) == 0


# 2. Create, remove, create again on fresh connections, each waiting for the
#    previous answer: the remove's release is written before its answer, and
#    its routing message is in every worker's socket (see 2b).
def remove_then_create_again(o, fleet, r, accounts):
    iid = fleet.ids["Client_Listener-1"]

    def cycle(a):
        return [call(o.port, path, a, "M%d" % (hash(a) % 7))[0]
                for path in (CREATE, REMOVE, CREATE)]
    results = parallel(cycle, accounts, threads=16, limit=120)
    assert all(x == [200, 200, 200] for x in results), [
        (a, x) for a, x in zip(accounts, results) if x != [200, 200, 200]][:5]
    m = mapping(r)
    lost = [a for a in accounts if m.get(a) != iid]
    assert not lost, "%d accounts created again but not placed, e.g. %s" % (
        len(lost), lost[:5])


def test_remove_then_create_again(fleet_of, redis_server):
    o, fleet = fleet_of(workers=4)
    r = redis_server.client()
    iid = fleet.add("client", "Client_Listener-1")
    accounts = ["R%03d" % n for n in range(400)]
    remove_then_create_again(o, fleet, r, accounts)
    assert int(r.hget(P + "instance_user_counts", iid)) == len(accounts)
    assert fleet.hosted("Client_Listener-1") == set(accounts)
    olbctl_check(o)


# 2b. The same on a machine with no core to spare (two busy loops per
#     core, each ending by itself after 60 s, stopped by pid).  Redis writes a release's answer and its
#     routing message to each worker in one turn, but the scheduler can stop
#     it half way: the releasing worker has its message and answers, the
#     client calls again, and the worker that created the account has not
#     got the message yet, so it answered from its cache and nothing was
#     placed.  The release is now answered only after a later command of
#     its connection (that turn written whole).  Before, every run of this
#     test lost accounts.
def test_remove_then_create_again_on_a_busy_machine(fleet_of, redis_server):
    o, fleet = fleet_of(workers=4)
    r = redis_server.client()
    iid = fleet.add("client", "Client_Listener-1")
    spin = "import time\nend = time.time() + 60\nwhile time.time() < end: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin])
            for _ in range(2 * (os.cpu_count() or 2))]
    try:
        for rnd in range(8):
            remove_then_create_again(o, fleet, r, [
                "B%d-%03d" % (rnd, n) for n in range(300)])
    finally:
        for p in busy:
            p.kill()
            p.wait()
    assert int(r.hget(P + "instance_user_counts", iid)) == 2400
    olbctl_check(o)


# 2, made certain: two olb hosts on one Redis, host A's commands reach Redis
#    50 ms late.  Each account is created through B (B caches it), removed
#    through A, created again through B.  A answers the remove only once its
#    release is written, and B applies the release's routing message before
#    the create that follows it (the subscriber is read first): every
#    account ends placed, counted and hosted.
def test_remove_on_one_host_create_on_another(olbd_factory, redis_server):
    relay = Relay(redis_server.port, delay=0.05)
    try:
        a = olbd_factory(workers=1, extra=settings(
            "redis.port=%d" % relay.port, "provider.cluster=race-a")).start()
        b = olbd_factory(workers=1, extra=settings("provider.cluster=race-b")).start()
        fleet = Fleet(b)
        r = redis_server.client()
        iid = fleet.add("client", "Client_Listener-1")
        accounts = ["H%03d" % n for n in range(120)]

        def cycle(x):
            return [call(host.port, path, x, "M1")[0]
                    for host, path in ((b, CREATE), (b, CREATE), (a, REMOVE), (b, CREATE))]
        results = parallel(cycle, accounts, threads=24, limit=120)
        assert all(x == [200] * 4 for x in results), [
            (x, y) for x, y in zip(accounts, results) if y != [200] * 4][:5]
        m = mapping(r)
        lost = [x for x in accounts if m.get(x) != iid]
        assert not lost, "%d accounts hosted but not mapped, e.g. %s" % (len(lost), lost[:5])
        assert int(r.hget(P + "instance_user_counts", iid)) == len(accounts)
        assert fleet.hosted("Client_Listener-1") == set(accounts)
        a.overrides.append("redis.port=%d" % redis_server.port)   # for the final check
        olbctl_check(b)
        fleet.stop()
    finally:
        relay.stop()


# 3. A client that hangs up during a remove does not cancel the release.
def test_remove_of_a_client_gone(fleet_of, redis_server):
    o, fleet = fleet_of()
    r = redis_server.client()
    iid = fleet.add("master", "Master_Listener-1", "--delay-ms", "500")
    accounts = ["G%03d" % n for n in range(100)]
    place(o, accounts, master_of=lambda a: "", threads=100)

    def remove_and_hang_up(a):
        s = socket.create_connection(("127.0.0.1", o.port), timeout=5)
        body = body_of(a).encode()
        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                      REMOVE.encode(), TOKEN.encode(), len(body), body))
        time.sleep(0.2)         # at the instance, which answers in 0.5 s
        s.close()
    parallel(remove_and_hang_up, accounts, threads=100)
    wait_for(lambda: not fleet.hosted("Master_Listener-1"), 10, what="listeners removed")
    wait_for(lambda: not mapping(r, "master"), 5, what="releases written")
    assert int(r.hget(P + "instance_user_counts", iid)) == 0
    olbctl_check(o)


# 4. A remove answered 404 by a draining instance, or 500 by an unhealthy
#    one, leaves nothing cached: the next create goes to a running instance.
@pytest.mark.parametrize("state,answer", [("draining", None), ("unhealthy", "500")])
def test_failed_remove_caches_no_dead_instance(fleet_of, redis_server, state, answer):
    o, fleet = fleet_of(workers=1)
    fleet.add("client", "Client_Listener-1")
    accounts = ["F%03d" % n for n in range(150)]
    place(o, accounts)
    fleet.add("client", "Client_Listener-2")
    fleet.state("Client_Listener-1", state)
    # a new process: it hosts nothing, so a remove gets 404 (or the 500)
    fleet.restart("Client_Listener-1", *(["--fail-status", answer] if answer else []))
    want = int(answer) if answer else 404
    for a in accounts:
        assert call(o.port, REMOVE, a, "M1")[0] == want
        status, doc, _ = call(o.port, CREATE, a, "M1")
        assert (status, doc["name"]) == (200, "Client_Listener-2"), (a, status, doc)
    olbctl_check(o)


# 5. A placement answer and the invalidation that follows it in Redis,
#    forced into one Redis turn with CLIENT PAUSE: the answer is never cached
#    after the invalidation, so creates 0.3 s after a drain avoid the
#    drained instance.
def test_answer_older_than_invalidation_is_not_cached(fleet_of, redis_server):
    o, fleet = fleet_of(workers=1)
    r = redis_server.client()
    fleet.add("client", "Client_Listener-1")
    fleet.add("client", "Client_Listener-2")
    stale = 0
    for rnd in range(12):
        accounts = ["P%02d-%02d" % (rnd, n) for n in range(16)]
        r.execute_command("CLIENT", "PAUSE", 300, "ALL")
        ctl = threading.Thread(target=lambda: fleet.state("Client_Listener-1", "draining"))
        first = threading.Thread(target=lambda: parallel(
            lambda a: call(o.port, CREATE, a, "M1"), accounts, threads=16))
        first.start()
        time.sleep(0.1)
        ctl.start()
        first.join(20)
        ctl.join(20)
        time.sleep(0.3)
        for a in accounts:
            status, doc, _ = call(o.port, CREATE, a, "M1")
            assert status == 200, doc
            stale += doc["name"] == "Client_Listener-1"
        fleet.state("Client_Listener-1", "running")
    assert stale == 0, "%d creates went to a draining instance" % stale
    olbctl_check(o)


class Relay(TcpServer):
    """A TCP relay to Redis that delays what its clients send by delay
    seconds, and whose connections can be frozen: they stay open but
    forward nothing more, the way a stuck middlebox behaves (no FIN, no RST).
    Connections made after a freeze forward normally."""

    def __init__(self, target_port, delay=0.0):
        self.target = target_port
        self.delay = delay
        self.frozen = set()     # generation numbers that are frozen
        self.generation = 0
        self.socks = []
        super().__init__()

    def on_client(self, c):
        gen = self.generation
        u = socket.create_connection(("127.0.0.1", self.target))
        self.socks += [c, u]
        threading.Thread(target=self._pump, args=(u, c, gen, 0), daemon=True).start()
        self._pump(c, u, gen, self.delay)

    def _pump(self, a, b, gen, delay):
        while not self.stopping:
            try:
                data = a.recv(65536)
            except OSError:
                return
            if not data:
                return
            if delay:
                time.sleep(delay)
            while gen in self.frozen and not self.stopping:
                time.sleep(0.05)    # hold the bytes: nothing moves on
            try:
                b.sendall(data)
            except OSError:
                return

    def freeze(self):
        self.frozen.add(self.generation)
        self.generation += 1

    def stop(self):
        super().stop()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


# 6. A routing subscriber that stops receiving without FIN or RST is found
#    by its ping and replaced: cached accounts leave a drained instance.
def test_frozen_subscriber_is_replaced(olbd_factory, redis_server):
    relay = Relay(redis_server.port)
    try:
        o = olbd_factory(workers=1, extra=settings(
            "redis.port=%d" % relay.port, "redis.command_timeout_ms=1000")).start()
        fleet = Fleet(o)
        # olbctl talks to Redis directly
        direct = ["-o", "redis.port=%d" % redis_server.port]
        fleet.ctl = lambda *a, check=True: Fleet.ctl(fleet, *(direct + list(a)), check=check)
        try:
            fleet.add("client", "Client_Listener-1")
            accounts = ["Z%02d" % n for n in range(20)]
            for a in accounts:      # placed and cached
                assert call(o.port, CREATE, a, "M1")[1]["name"] == "Client_Listener-1"
            fleet.add("client", "Client_Listener-2")
            for a in accounts:      # still cached after the new instance
                assert call(o.port, CREATE, a, "M1")[1]["name"] == "Client_Listener-1"
            relay.freeze()
            fleet.state("Client_Listener-1", "draining")
            t0 = time.monotonic()

            def moved():
                return all(call(o.port, CREATE, a, "M1")[1]["name"] == "Client_Listener-2"
                           for a in accounts)
            wait_for(moved, 8, interval=0.2, what="creates off the draining instance")
            print("\nfrozen subscriber replaced, creates moved after %.1f s" % (
                time.monotonic() - t0))
            assert "ping not received" in o.log_text() or \
                "not subscribed on the server" in o.log_text()
            o.overrides.append("redis.port=%d" % redis_server.port)   # for the final check
        finally:
            fleet.stop()
    finally:
        relay.stop()


# 7. A cached client created again under another master moves to that
#    master's books, as an uncached one does.
def test_cached_client_changes_master(fleet_of, redis_server):
    o, fleet = fleet_of(workers=1)
    r = redis_server.client()
    fleet.add("client", "Client_Listener-1")
    for n in range(50):
        a = "K%02d" % n
        assert call(o.port, CREATE, a, "M1")[0] == 200
        assert call(o.port, CREATE, a, "M1")[0] == 200     # cached now
        assert call(o.port, CREATE, a, "M2")[0] == 200
        assert r.hget(P + "client_mapping", a).split("\n")[1] == "M2"
    olbctl_check(o)
    # the proxies apply the pending tracking changes every 100 ms
    want = ["K%02d" % n for n in range(50)]
    wait_for(lambda: json.loads(r.hget(P + "client_master_tracking", "M2") or "[]")
             == want and r.hget(P + "client_master_tracking", "M1") is None,
             5, what="tracking")


# 9. Accounts of an instance that was removed: the scaler's sweep frees
#    their keys, though they never call again.
def test_sweep_frees_accounts_of_removed_instances(fleet_of, redis_server):
    o, fleet = fleet_of()
    r = redis_server.client()
    i1 = fleet.add("client", "Client_Listener-1")
    fleet.add("master", "Master_Listener-1")
    accounts = ["S%03d" % n for n in range(300)]
    place(o, accounts, master_of=lambda a: "M%d" % (int(a[1:]) % 5))
    assert call(o.port, CREATE, "MA")[0] == 200
    fleet.ctl("instance", "remove", i1)
    wait_for(lambda: not mapping(r), 10, what="the sweep")
    assert r.hget(P + "instance_user_counts", i1) is None
    assert list(r.hkeys(P + "client_spread")) == ["\nlayout"]
    wait_for(lambda: not r.exists(P + "client_master_tracking") and
             not list(r.scan_iter(P + "tracking_pending:*")), 5, what="tracking")
    assert r.hget(P + "global_state", "clientCount") == "0"
    assert mapping(r, "master") != {}
    olbctl_check(o)


# 9b. While the desired fleet is down (a teardown), the sweep leaves the
#     accounts of terminated instances for daily_reset to archive (those of
#     removed ones go as always); once the fleet is no longer down, it frees
#     them.
def test_sweep_waits_while_the_fleet_is_down(fleet_of, redis_server):
    o, fleet = fleet_of()
    r = redis_server.client()
    i1 = fleet.add("client", "Client_Listener-1")
    i2 = fleet.add("client", "Client_Listener-2")
    accounts = ["W%03d" % n for n in range(60)]
    place(o, accounts, master_of=lambda a: "M1")
    on = {i: [a for a, v in mapping(r).items() if v == i] for i in (i1, i2)}
    assert on[i1] and on[i2]
    r.hset(P + "fleet", "state", "down")
    time.sleep(3)                       # the scaler's passes (1 s) read it
    fleet.ctl("instance", "state", i1, "terminated")
    fleet.ctl("instance", "remove", i2)
    wait_for(lambda: sorted(mapping(r)) == sorted(on[i1]), 10,
             what="the sweep of the removed instance's accounts")
    time.sleep(3)                       # three more sweeps
    assert sorted(mapping(r)) == sorted(on[i1])
    r.hdel(P + "fleet", "state")        # unset: neither up nor down
    wait_for(lambda: not mapping(r), 10, what="the sweep")
    assert r.hget(P + "global_state", "clientCount") == "0"
