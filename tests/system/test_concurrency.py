"""Exactly-once placement under concurrency (SPEC §4 acceptance).

olbd with 4 proxy workers in front of 3 master and 6 client olb-listener
instances, capped so that the fleet holds every account with little room to
spare.  64 client threads, each on its own keep-alive connection, send 20,000
create_user_listener calls over 5,000 accounts (a fixed random seed: masters
and clients mixed, most accounts called several times, in random order).
Then Redis is read directly and every instance asked which accounts it hosts:
each account has exactly one placement, counts equal the mappings, no
instance is over its cap, the tracking arrays match, the global counters
match, and each account is hosted by exactly the instance its mapping names.
The second test releases half of the accounts concurrently (while the other
half log in again) and checks the same invariants.
"""
import collections
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD, OLBCTL, answers, free_port, http_get, wait_for

TOKEN = "t-concurrency-token"
ACCESS_TOKEN = "at-concurrency"
LISTENER = os.path.join(BUILD, "olb-listener")
CREATE = "/api/v1/listener/create_user_listener"
REMOVE = "/api/v1/listener/remove_user_listener"
PREFIX = "loadbalancer:"

SEED = 20240611
WORKERS = 4
THREADS = 64
REQUESTS = 20000
N_MASTERS = 500          # master accounts
N_CLIENTS = 4500         # client accounts (5,000 accounts in all)
N_MASTER_INSTANCES = 3
N_CLIENT_INSTANCES = 6
MAX_PER_MASTER = 167     # 3 x 167 = 501 >= 500: full but for one place
MAX_PER_CLIENT = 750     # 6 x 750 = 4500: every place taken
TIME_LIMIT_S = 120.0


class Fleet:
    """olb-listener processes registered as instances with olbctl; stopped by pid."""

    def __init__(self, olbd):
        self.olbd = olbd
        self.procs = []
        self.ports = {}     # instance id -> port
        self.roles = {}     # instance id -> "master" | "client"

    def ctl(self, *args):
        out = subprocess.run([OLBCTL, "-c", self.olbd.conf] + self.olbd.args() + list(args),
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out
        return out

    def add(self, role, name):
        port = free_port()
        p = subprocess.Popen([LISTENER, "--port", str(port), "--name", name],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_for(lambda: answers(port), 5, what="listener %s" % name)
        out = self.ctl("instance", "add", "--role", role, "--addr", "127.0.0.1:%d" % port,
                       "--name", name)
        iid = out.stdout.strip().split()[-1]
        self.ports[iid] = port
        self.roles[iid] = role
        return iid

    def hosted(self, iid):
        """The accounts the instance says it hosts (GET /api/v1/listener/accounts)."""
        status, _, body = http_get(self.ports[iid], "/api/v1/listener/accounts", timeout=10)
        assert status == 200, body
        accounts = json.loads(body)["accounts"]
        assert len(accounts) == len(set(accounts)), "an instance lists an account twice"
        return set(accounts)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


class Accounts:
    """The 5,000 accounts: id -> (role, master actid of a client or "")."""

    def __init__(self, rng):
        masters = ["M%04d" % i for i in range(N_MASTERS)]
        self.role = {m: "master" for m in masters}
        self.master_of = {m: "" for m in masters}
        for i in range(N_CLIENTS):
            c = "C%04d" % i
            self.role[c] = "client"
            # skewed: a few masters have many copiers
            self.master_of[c] = masters[min(int(rng.expovariate(1 / 60.0)), N_MASTERS - 1)]
        self.ids = sorted(self.role)

    def body(self, actid):
        if self.role[actid] == "master":
            doc = {"actid": actid, "broker": "b", "access_token": ACCESS_TOKEN,
                   "master_actid": "", "services": {"master": True}}
        else:
            doc = {"actid": actid, "broker": "b", "access_token": ACCESS_TOKEN,
                   "master_actid": self.master_of[actid], "services": {"master": False}}
        return json.dumps(doc)


@pytest.fixture
def setup(olbd_factory, redis_server):
    o = olbd_factory(workers=WORKERS, extra=[
        'proxy.auth_tokens=["%s"]' % TOKEN,
        "scaling.max_users_per_master=%d" % MAX_PER_MASTER,
        "scaling.master_threshold=%d" % MAX_PER_MASTER,
        "scaling.max_users_per_client=%d" % MAX_PER_CLIENT,
        "scaling.client_threshold=%d" % MAX_PER_CLIENT,
        "proxy.upstream_timeout_ms=10000",
        "log.level=info",
    ]).start()
    fleet = Fleet(o)
    try:
        for n in range(N_MASTER_INSTANCES):
            fleet.add("master", "Master_Listener-%d" % (n + 1))
        for n in range(N_CLIENT_INSTANCES):
            fleet.add("client", "Client_Listener-%d" % (n + 1))
        yield o, fleet, redis_server.client()
    finally:
        fleet.stop()


class Load:
    """Run calls [(path, actid)] on THREADS threads, each with one keep-alive
    connection, bounded in count (the list) and in time (TIME_LIMIT_S).  Every
    answer is kept: (path, actid, status, parsed body or raw bytes)."""

    def __init__(self, port, accounts, calls):
        self.port = port
        self.accounts = accounts
        self.calls = calls
        self.next = 0
        self.lock = threading.Lock()
        self.results = []
        self.errors = []
        self.deadline = None

    def _take(self):
        with self.lock:
            if self.next >= len(self.calls) or time.monotonic() > self.deadline:
                return None
            self.next += 1
            return self.calls[self.next - 1]

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
        out = []
        try:
            while True:
                call = self._take()
                if call is None:
                    break
                path, actid = call
                try:
                    conn.request("POST", path, body=self.accounts.body(actid), headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException) as e:
                    # no retry: an error is a failure of the run
                    with self.lock:
                        self.errors.append((path, actid, repr(e)))
                    conn.close()
                    continue
                try:
                    doc = json.loads(data)
                except ValueError:
                    doc = data
                out.append((path, actid, resp.status, doc))
        finally:
            conn.close()
            with self.lock:
                self.results.extend(out)

    def run(self):
        t0 = time.monotonic()
        self.deadline = t0 + TIME_LIMIT_S
        threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIME_LIMIT_S + 30)
        elapsed = time.monotonic() - t0
        assert not any(t.is_alive() for t in threads), "client threads still running"
        assert not self.errors, "%d transport errors, first: %s" % (
            len(self.errors), self.errors[:5])
        assert len(self.results) == len(self.calls), (
            "only %d of %d calls in %.0f s" % (len(self.results), len(self.calls), elapsed))
        assert elapsed < TIME_LIMIT_S, elapsed
        print("\n%d calls on %d threads in %.2f s: %.0f requests/s" % (
            len(self.calls), THREADS, elapsed, len(self.calls) / elapsed))
        return self.results


def check_answers(results, expect_status=200):
    """Every answer is expect_status from an instance, and every answer for one
    account names the same instance."""
    names = collections.defaultdict(set)
    bad = [r for r in results if r[2] != expect_status or not isinstance(r[3], dict)]
    assert not bad, "%d unexpected answers, first: %s" % (len(bad), bad[:5])
    for path, actid, _, doc in results:
        assert doc["actid"] == actid, doc
        assert ACCESS_TOKEN not in json.dumps(doc)
        names[actid].add(doc["name"])
    moved = {a: n for a, n in names.items() if len(n) != 1}
    assert not moved, "accounts answered by several instances: %s" % list(moved.items())[:5]
    return {a: n.pop() for a, n in names.items()}


def check_invariants(r, fleet, accounts, placed):
    """The SPEC §4 invariants in Redis and on the instances, for the set of
    accounts that must be placed (every other account must be absent)."""
    details = {k: json.loads(v) for k, v in r.hgetall(PREFIX + "instance_details").items()}
    counts = r.hgetall(PREFIX + "instance_user_counts")
    mm = r.hgetall(PREFIX + "master_mapping")
    # a client's mapping: '<instance>\n<master>'
    cmv = r.hgetall(PREFIX + "client_mapping")
    cm = {a: v.split("\n")[0] for a, v in cmv.items()}
    assert all(v.split("\n")[1] == accounts.master_of[a] for a, v in cmv.items())
    # the proxies apply the pending tracking changes every 250 ms (each
    # master's in one script call: once none is pending, the arrays are written)
    deadline = time.monotonic() + 5
    while list(r.scan_iter(PREFIX + "tracking_pending:*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    tracking_raw = r.hgetall(PREFIX + "client_master_tracking")
    gs = r.hgetall(PREFIX + "global_state")

    want_masters = {a for a in placed if accounts.role[a] == "master"}
    want_clients = placed - want_masters
    # exactly one placement per account, in the mapping of its role
    assert set(mm) == want_masters, (sorted(set(mm) ^ want_masters)[:10])
    assert set(cm) == want_clients, (sorted(set(cm) ^ want_clients)[:10])
    assert not set(mm) & set(cm)

    # each placement on an instance of the right role
    assert set(details) == set(fleet.ports)
    for a, iid in mm.items():
        assert iid in details and details[iid]["isMasterServer"] is True, (a, iid)
    for a, iid in cm.items():
        assert iid in details and details[iid]["isMasterServer"] is False, (a, iid)

    # counts equal the mappings, and no instance is over its cap
    mapped = collections.Counter(list(mm.values()) + list(cm.values()))
    for iid in details:
        assert int(counts.get(iid, 0)) == mapped[iid], (iid, counts.get(iid), mapped[iid])
        cap = MAX_PER_MASTER if fleet.roles[iid] == "master" else MAX_PER_CLIENT
        assert mapped[iid] <= cap, (iid, mapped[iid], cap)
    assert set(counts) <= set(details), counts

    # client_master_tracking: no duplicates, exactly the placed clients of each master
    tracking = {m: json.loads(v) for m, v in tracking_raw.items()}
    want_tracking = collections.defaultdict(set)
    for c in want_clients:
        want_tracking[accounts.master_of[c]].add(c)
    for m, lst in tracking.items():
        lst = [str(v) for v in lst]
        assert len(lst) == len(set(lst)), ("duplicates in tracking", m)
        assert set(lst) == want_tracking.get(m, set()), m
    assert set(tracking) == set(want_tracking)

    # global state counters equal the mapping sizes
    assert int(gs.get("masterCount", 0)) == len(mm), gs
    assert int(gs.get("clientCount", 0)) == len(cm), gs

    # each account hosted by exactly the instance its mapping names
    hosted = {iid: fleet.hosted(iid) for iid in fleet.ports}
    for iid, got in hosted.items():
        want = {a for a, i in list(mm.items()) + list(cm.items()) if i == iid}
        assert got == want, (iid, sorted(got ^ want)[:10])
    every = collections.Counter(a for got in hosted.values() for a in got)
    assert set(every) == placed and max(every.values() or [1]) == 1
    return mm, cm, mapped


def spread_report(mapped, fleet):
    return ", ".join("%s:%s=%d" % (fleet.roles[i][0], i, mapped[i]) for i in sorted(fleet.ports))


def test_exactly_once_under_concurrency(setup):
    o, fleet, r = setup
    rng = random.Random(SEED)
    accounts = Accounts(rng)
    # every account at least once, the rest repeats of random accounts
    order = list(accounts.ids) + [rng.choice(accounts.ids)
                                  for _ in range(REQUESTS - len(accounts.ids))]
    rng.shuffle(order)
    assert len(order) == REQUESTS and len(set(order)) == N_MASTERS + N_CLIENTS

    results = Load(o.port, accounts, [(CREATE, a) for a in order]).run()
    names = check_answers(results)
    assert set(names) == set(accounts.ids)

    mm, cm, mapped = check_invariants(r, fleet, accounts, set(accounts.ids))
    # the name each answer gave is the instance of the mapping
    name_of = {iid: json.loads(v)["serverName"]
               for iid, v in r.hgetall(PREFIX + "instance_details").items()}
    for a, iid in list(mm.items()) + list(cm.items()):
        assert names[a] == name_of[iid], (a, names[a], name_of[iid])
    print("placements per instance: " + spread_report(mapped, fleet))
    assert o.proc.poll() is None


def test_release_under_concurrency(setup):
    o, fleet, r = setup
    rng = random.Random(SEED + 1)
    accounts = Accounts(rng)
    first = list(accounts.ids)
    rng.shuffle(first)
    check_answers(Load(o.port, accounts, [(CREATE, a) for a in first]).run())
    check_invariants(r, fleet, accounts, set(accounts.ids))

    # half the accounts removed (each once) while the other half log in again
    released = set(rng.sample(accounts.ids, len(accounts.ids) // 2))
    kept = set(accounts.ids) - released
    calls = [(REMOVE, a) for a in released] + [(CREATE, a) for a in kept]
    rng.shuffle(calls)
    results = Load(o.port, accounts, calls).run()
    bad = [x for x in results if x[2] != 200 or not isinstance(x[3], dict) or
           x[3].get("message") != ("Listener removed" if x[0] == REMOVE
                                   else "Listener already running")]
    assert not bad, "%d unexpected answers, first: %s" % (len(bad), bad[:5])

    _, _, mapped = check_invariants(r, fleet, accounts, kept)
    print("placements per instance after the release: " + spread_report(mapped, fleet))

    # a second remove of a released account finds nothing to remove, changes nothing
    again = rng.sample(sorted(released), 200)
    results = Load(o.port, accounts, [(REMOVE, a) for a in again]).run()
    bad = [x for x in results if (x[2], x[3]) != (
        404, {"status": False, "message": "Listener not found"})]
    assert not bad, "%d unexpected answers, first: %s" % (len(bad), bad[:5])
    check_invariants(r, fleet, accounts, kept)

    # released places are free again: the released accounts come back
    check_answers(Load(o.port, accounts, [(CREATE, a) for a in sorted(released)]).run())
    check_invariants(r, fleet, accounts, set(accounts.ids))
    assert o.proc.poll() is None
