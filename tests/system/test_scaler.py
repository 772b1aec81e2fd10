"""The scaler with the process and static providers (SPEC §5, §6), end to end:
the real olbd, a real redis-server, and real olb-listener processes that the
scaler itself launches on loopback ports.

Each test runs in its own cluster (conftest.Olbd), so it only ever sees its
own instance processes; the fixture kills any left at the end, and the tests
that promise a clean teardown check it themselves before that.
"""
import collections
import http.client
import json
import os
import random
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD, OLBCTL, answers, cluster_pids, free_port, pid_alive, wait_for

P = "loadbalancer:"
TOKEN = "t-scaler-token"
CREATE = "/api/v1/listener/create_user_listener"
LISTENER = os.path.join(BUILD, "olb-listener")


def port_block(size=60):
    """A block of loopback ports for the process provider (the provider skips
    any that are taken), below the kernel's ephemeral range: a port there can
    be taken by any outgoing connection between the provider's check and the
    listener's bind, and the listener then exits (and is replaced), which is
    right for olb but makes an exact count of launches wrong."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        first_ephemeral = int(f.read().split()[0])
    top = min(first_ephemeral, 60000)
    base = random.randrange(10000, top - size, size)
    return base, base + size - 1


def scaler_olbd(olbd_factory, extra=(), env=None, **kw):
    lo, hi = port_block()
    o = olbd_factory(workers=kw.pop("workers", 2), env=env, extra=[
        'proxy.auth_tokens=["%s"]' % TOKEN,
        "provider.type=process",
        'provider.process.command="%s --port {port} --name {name}"' % LISTENER,
        "provider.process.port_min=%d" % lo,
        "provider.process.port_max=%d" % hi,
        "health.pending_interval_ms=100",
        "health.timeout_ms=1000",
        "scaling.cooldown_ms=0",
        "scaling.drain_timeout_ms=2000",
        "daemon.lease_ms=3000",
    ] + list(extra), **kw)
    return o.start()


def ctl(olbd, *args, check=True):
    out = subprocess.run([OLBCTL, "-c", olbd.conf] + olbd.args() + list(args),
                         capture_output=True, text=True, timeout=10)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def records(r):
    return {k: json.loads(v) for k, v in r.hgetall(P + "instance_details").items()}


def fleet_of(r, role=None, states=("pending", "running", "unhealthy")):
    """Managed records by state filter and role ("master"/"client")."""
    out = {}
    for k, v in records(r).items():
        if v.get("provider") != "process" or v["state"] not in states:
            continue
        if role is not None and v["isMasterServer"] != (role == "master"):
            continue
        out[k] = v
    return out


def running(r, role):
    return fleet_of(r, role, states=("running",))


def place(port, actid, master=None, timeout=5.0):
    """create_user_listener for one account; (status, body)."""
    doc = {"actid": actid, "broker": "b", "access_token": "at",
           "master_actid": master or "",
           "services": {"master": master is None}}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", CREATE, body=json.dumps(doc), headers={
            "Content-Type": "application/json", "Authorization": "Bearer " + TOKEN})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def started_in_log(olbd):
    return re.findall(r"provider process: started (p-[0-9a-f]+) (\S+) on port (\d+)",
                      olbd.log_text())


def ports_free(ports):
    return all(not answers(p) for p in ports)


def test_fleet_up_scale_out_and_down(olbd_factory, redis_server, events):
    """fleet up brings up the initial fleet; placements past the thresholds
    launch exactly the instances the rules call for; fleet down stops every
    process and frees every port."""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=3",
        "scaling.master_threshold=2", "scaling.max_users_per_master=3",
        "scaling.client_threshold=4", "scaling.max_users_per_client=5",
    ])
    r = redis_server.client()
    # Nobody set the fleet yet: unset, not down.
    assert ctl(olbd, "fleet").stdout.startswith("fleet unset")
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 2,
             15, what="1 master and 2 clients running")
    names = sorted(v["serverName"] for v in fleet_of(r).values())
    assert names == ["Client_Listener-1", "Client_Listener-2", "Master_Listener-1"]
    for v in fleet_of(r).values():
        assert v["ip"] == "127.0.0.1" and answers(v["port"])
        assert v["cluster"] == olbd.cluster and v["launchToken"]
    assert len(cluster_pids(olbd.cluster)) == 3
    (changed,) = events.of_type("fleet.changed")
    assert (changed["role"], changed["state"], changed["masters"], changed["clients"]) == (
        "olbctl", "up", 1, 2)
    assert changed["level"] == "notify" and changed["pid"] > 0 and changed["ts"] > 0
    assert len(events.of_type("instance.launching")) == 3
    wait_for(lambda: len(events.of_type("instance.running")) == 3, 5,
             what="three instance.running events")

    # Two masters fill the first master up to the threshold: one more master.
    for i in range(2):
        assert place(olbd.port, "M%d" % i)[0] == 200
    wait_for(lambda: len(running(r, "master")) == 2, 15, what="a second master")
    # Nine clients: 9 > 4 x 2, so ceil(9 / 4) = 3 client instances.
    for i in range(9):
        status, body = place(olbd.port, "C%d" % i, master="M0")
        assert status == 200, body
    wait_for(lambda: len(running(r, "client")) == 3, 15, what="a third client")
    time.sleep(1.5)   # more passes: nothing more may come
    assert len(fleet_of(r, "master")) == 2 and len(fleet_of(r, "client")) == 3
    assert r.hgetall(P + "name_seq") == {"master": "2", "client": "3"}
    assert len(started_in_log(olbd)) == 5
    fleet = r.hgetall(P + "fleet")
    assert (fleet["state"], fleet["masters"], fleet["clients"]) == ("up", "2", "3")
    outs = [e for e in events.of_type("scale.out")]
    assert sorted((e["instanceRole"], e["to"]) for e in outs) == [
        ("client", 3), ("master", 2)]

    table = ctl(olbd, "fleet").stdout.splitlines()
    assert table[0].startswith("fleet up (provider process, cluster %s, deployment "
                               % olbd.cluster)
    assert re.search(r"deployment [0-9a-f]{16}\)", table[0]), table[0]
    assert table[2].split()[:4] == ["masters", "2", "0", "0"]
    assert table[3].split()[:4] == ["clients", "3", "0", "0"]

    ports = [v["port"] for v in fleet_of(r).values()]
    ctl(olbd, "fleet", "down")
    wait_for(lambda: not fleet_of(r, states=("pending", "running", "unhealthy",
                                             "draining", "terminating")),
             20, what="every instance terminated")
    assert len(fleet_of(r, states=("terminated",))) == 5
    wait_for(lambda: not cluster_pids(olbd.cluster), 5, what="no instance process")
    assert ports_free(ports)
    wait_for(lambda: len(events.of_type("instance.terminated")) >= 5, 5,
             what="five instance.terminated events")
    assert len(events.of_type("instance.terminated")) == 5
    assert len(events.of_type("instance.draining")) == 5


def test_no_storm(olbd_factory, redis_server):
    """2,000 new client accounts from 64 concurrent clients, threshold 100 per
    instance: exactly ceil(2000 / 100) = 20 client instances, launched once
    each, none over its maximum."""
    olbd = scaler_olbd(olbd_factory, workers=4, extra=[
        "scaling.initial_instances=2",
        "scaling.client_threshold=100", "scaling.max_users_per_client=120",
        "scaling.max_clients=50", "scaling.cooldown_ms=200",
    ])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1,
             15, what="the initial fleet")
    assert place(olbd.port, "MASTER")[0] == 200

    pending = collections.deque("C%04d" % i for i in range(2000))
    lock = threading.Lock()
    codes = collections.Counter()
    deadline = time.monotonic() + 120

    def worker():
        conn = None
        while time.monotonic() < deadline:
            with lock:
                if not pending:
                    return
                actid = pending.popleft()
            status, _ = place(olbd.port, actid, master="MASTER")
            with lock:
                codes[status] += 1
                if status != 200:
                    pending.append(actid)   # no capacity yet: again later
            if status != 200:
                time.sleep(0.05)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(130)
    assert not pending, "not placed in time: %d (answers %s)" % (len(pending), codes)
    assert set(codes) <= {200, 503}, codes
    time.sleep(2)     # a few more passes: no launch may follow
    clients = fleet_of(r, "client")
    assert len(clients) == 20
    assert all(int(r.hget(P + "instance_user_counts", k)) <= 120 for k in clients)
    assert sum(int(r.hget(P + "instance_user_counts", k)) for k in clients) == 2000
    started = started_in_log(olbd)
    # 1 master + 20 clients; on failure, say what the scaler did about them
    why = "\n".join(line for line in olbd.log_text().splitlines() if re.search(
        r" scaler (info|warn|error|notify)", line))
    assert len(started) == 21, why
    assert len({s[0] for s in started}) == 21
    assert r.hgetall(P + "name_seq") == {"master": "1", "client": "20"}
    assert r.hlen(P + "launches") == 0
    assert len(cluster_pids(olbd.cluster)) == 21


def test_hard_cap(olbd_factory, redis_server, events):
    """Demand past scaling.max_clients launches up to the cap and no more: the
    accounts beyond it get 503."""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=2",
        "scaling.client_threshold=2", "scaling.max_users_per_client=3",
        "scaling.max_clients=3",
    ])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1, 15,
             what="the initial fleet (a master places the next account)")
    assert place(olbd.port, "M")[0] == 200
    deadline = time.monotonic() + 20
    placed = set()
    while time.monotonic() < deadline and len(placed) < 9:
        for i in range(12):
            if "C%d" % i not in placed and place(olbd.port, "C%d" % i, "M")[0] == 200:
                placed.add("C%d" % i)
        time.sleep(0.2)
    assert len(placed) == 9                          # 3 instances x 3
    assert place(olbd.port, "C-over", "M")[0] == 503
    time.sleep(1.5)
    assert len(fleet_of(r, "client")) == 3
    assert r.hget(P + "fleet", "clients") == "3"
    assert len([s for s in started_in_log(olbd) if s[1].startswith("Client")]) == 3


def test_kill9_scaler_mid_launch(olbd_factory, redis_server):
    """The scaler dies after the process started but before it recorded it:
    the next scaler finds it by its launch token (no orphan, no duplicate)."""
    olbd = scaler_olbd(olbd_factory, env={"OLB_TEST_LAUNCH_DELAY_MS": "1500"},
                       extra=["scaling.initial_instances=1"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: started_in_log(olbd), 10, what="the launch started")
    assert r.hlen(P + "launches") == 1 and not records(r)
    scaler = olbd.worker_pids("olbd: scaler")[0]
    os.kill(scaler, signal.SIGKILL)
    wait_for(lambda: len(running(r, "master")) == 1, 20, what="the master recorded")
    time.sleep(1.5)
    recs = fleet_of(r)
    assert len(recs) == 1
    (rec,) = recs.values()
    assert rec["serverName"] == "Master_Listener-1"
    assert len(cluster_pids(olbd.cluster)) == 1
    assert len(started_in_log(olbd)) == 1
    assert "already runs as %s" % next(iter(recs)) in olbd.log_text()
    assert r.hlen(P + "launches") == 0
    assert r.hgetall(P + "name_seq") == {"master": "1"}


def test_two_hosts_share_one_redis(olbd_factory, redis_server, events):
    """Two olbd on one Redis: one scaler acts; when its olbd dies the other
    takes over within the lease time, and nothing is launched twice."""
    a = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    b = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"],
                    cluster=a.cluster)
    r = redis_server.client()
    wait_for(lambda: r.get(P + "lease:scaler"), 5, what="a scaler lease")
    holder = r.get(P + "lease:scaler")
    first, second = (a, b) if holder.split("#")[0].endswith(
        ":%d" % a.worker_pids("olbd: scaler")[0]) else (b, a)
    assert holder.split("#")[0].endswith(":%d" % first.worker_pids("olbd: scaler")[0])
    ctl(first, "fleet", "up")
    wait_for(lambda: len(running(r, None)) == 2, 15, what="the initial fleet")
    assert len(cluster_pids(a.cluster)) == 2
    assert started_in_log(second) == []

    # The leader's whole olbd dies at once.
    for pid in first.workers():
        os.kill(pid, signal.SIGKILL)
    first.proc.kill()
    first.proc.wait(5)
    t0 = time.monotonic()
    wait_for(lambda: r.get(P + "lease:scaler") and r.get(P + "lease:scaler").split("#")[0]
             .endswith(":%d" % second.worker_pids("olbd: scaler")[0]), 10,
             what="the other scaler takes the lease")
    assert time.monotonic() - t0 <= 3.0 + 1.5     # lease 3 s, renewed every 1 s
    assert int(r.get(P + "lease:scaler").split("#")[1]) == 2
    ctl(second, "fleet", "scale", "--clients", "2")
    wait_for(lambda: len(running(r, "client")) == 2, 15, what="one more client")
    time.sleep(1.5)
    assert len(fleet_of(r)) == 3
    assert len(cluster_pids(a.cluster)) == 3
    assert len(started_in_log(first)) == 2 and len(started_in_log(second)) == 1
    assert r.hgetall(P + "name_seq") == {"master": "1", "client": "2"}
    acquired = [e for e in events.of_type("leader.acquired") if e["duty"] == "scaler"]
    assert len(acquired) == 2 and all(e["role"] == "scaler" for e in acquired)


def test_drain_replaces_instance(olbd_factory, redis_server, events):
    """olbctl instance drain: no new accounts there, terminated when empty,
    and a replacement launched (the desired fleet is unchanged)."""
    olbd = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "client")) == 1, 15, what="the initial fleet")
    (cid, crec), = running(r, "client").items()
    out = ctl(olbd, "instance", "drain", cid)
    assert out.stdout == "%s: running -> draining\n" % cid
    by_ctl = events.wait("instance.draining", pred=lambda e: e["role"] == "olbctl")
    assert (by_ctl[0]["id"], by_ctl[0]["reason"]) == (cid, "olbctl")
    wait_for(lambda: records(r)[cid]["state"] == "terminated", 10, what="terminated")
    wait_for(lambda: len(running(r, "client")) == 1, 15, what="a replacement")
    (nid, nrec), = running(r, "client").items()
    assert nid != cid and nrec["serverName"] == "Client_Listener-2"
    assert not answers(crec["port"]) or crec["port"] == nrec["port"]
    assert r.hget(P + "fleet", "clients") == "1"
    assert len(cluster_pids(olbd.cluster)) == 2


def test_process_exit_is_replaced(olbd_factory, redis_server, events):
    """An instance process that exits is marked terminated and replaced."""
    olbd = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=1"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1, 15, what="the master")
    (mid, mrec), = running(r, "master").items()
    os.kill(mrec["pid"], signal.SIGKILL)
    wait_for(lambda: records(r)[mid]["state"] == "terminated", 10, what="marked gone")
    wait_for(lambda: len(running(r, "master")) == 1, 15, what="a replacement")
    assert next(iter(running(r, "master").values()))["serverName"] == "Master_Listener-2"


def test_static_provider(olbd_factory, redis_server, tmpdir_path):
    """provider static: the configured addresses become instances (running
    once they answer); nothing is launched or terminated."""
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([LISTENER, "--port", str(p), "--name", n],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for p, n in zip(ports, ["S-master", "S-client"])]
    try:
        olbd = olbd_factory(extra=[
            'proxy.auth_tokens=["%s"]' % TOKEN, "provider.type=static",
            'provider.static.masters=["127.0.0.1:%d"]' % ports[0],
            'provider.static.clients=["127.0.0.1:%d"]' % ports[1],
            "health.pending_interval_ms=100", "daemon.lease_ms=3000",
        ]).start()
        r = redis_server.client()

        def live():
            return {k: v for k, v in records(r).items()
                    if v["provider"] == "static" and v["state"] == "running"}
        wait_for(lambda: len(live()) == 2, 15, what="both static instances running")
        assert sorted(live()) == sorted("static-127.0.0.1:%d" % p for p in ports)
        assert place(olbd.port, "SM")[0] == 200
        assert place(olbd.port, "SC", master="SM")[0] == 200
        ctl(olbd, "fleet", "down")
        time.sleep(1.5)
        assert len(live()) == 2 and all(p.poll() is None for p in procs)
        assert "provider process: started" not in olbd.log_text()
    finally:
        for p in procs:
            p.kill()
            p.wait(5)


def test_unhealthy_instance_is_replaced(olbd_factory, redis_server, events):
    """An instance unhealthy for health.replace_after_ms is drained and
    replaced at once; the desired fleet stays the same.  It is terminated
    when no account is placed there any more: its account, placed again on
    its next call, moves to the replacement, and only then does it go."""
    olbd = scaler_olbd(olbd_factory, extra=[
        "scaling.initial_instances=2", "health.replace_after_ms=1500",
        "health.interval_ms=300", "health.timeout_ms=200", "health.fall=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1, 15,
             what="the initial fleet (a master places the next account)")
    (cid, crec), = running(r, "client").items()
    assert place(olbd.port, "UM")[0] == 200
    assert place(olbd.port, "UC", master="UM")[0] == 200
    os.kill(crec["pid"], signal.SIGSTOP)        # its health checks time out
    unhealthy = events.wait("instance.unhealthy", pred=lambda e: e["id"] == cid)
    t0 = time.monotonic()
    assert unhealthy[0]["role"] == "health"
    wait_for(lambda: records(r)[cid]["state"] == "draining", 15, what="drained")
    assert time.monotonic() - t0 >= 1.2
    wait_for(lambda: len(running(r, "client")) == 1, 15, what="a new client")
    (nid, nrec), = running(r, "client").items()
    assert nid != cid and nrec["serverName"] == "Client_Listener-2"
    assert r.hget(P + "fleet", "clients") == "1"
    drained = events.wait("instance.draining", pred=lambda e: e["id"] == cid)
    assert drained[0]["reason"] == "unhealthy too long"
    # Its account keeps it until the drain timeout tells the operator...
    events.wait("instance.drain_stuck", timeout=10, pred=lambda e: e["id"] == cid)
    assert records(r)[cid]["state"] == "draining" and pid_alive(crec["pid"])
    # ... and is placed again on its next call, on the new client: then the
    # old one is empty, and goes.
    status, body = place(olbd.port, "UC", master="UM")
    assert status == 200 and json.loads(body)["name"] == "Client_Listener-2"
    wait_for(lambda: records(r)[cid]["state"] == "terminated", 15, what="terminated")
