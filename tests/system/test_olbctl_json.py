"""olbctl's commands (SPEC §10), each as a table for people and with --json
for scripts, against a real olbd and real instances."""
import json
import queue
import subprocess
import threading

import pytest

from conftest import OLBCTL, wait_for
from test_listener_api import TOKEN, Fleet, call, client, master

CREATE = "/api/v1/listener/create_user_listener"


@pytest.fixture
def ctl(olbd_factory):
    o = olbd_factory(extra=['proxy.auth_tokens=["%s"]' % TOKEN,
                            "health.interval_ms=300", "health.timeout_ms=200"]).start()
    fleet = Fleet(o)
    fleet.add("master", "Master_Listener-1")
    fleet.add("client", "Client_Listener-1")

    def run(*args, rc=0):
        out = subprocess.run([OLBCTL, "-c", o.conf] + o.args() + list(args),
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == rc, out
        return out.stdout

    def js(*args, rc=0):
        text = run(*(list(args) + ["--json"]), rc=rc)
        assert text.count("\n") == 1, text       # one line of JSON
        return json.loads(text)

    yield o, fleet, run, js
    fleet.stop()


def test_status(ctl):
    o, fleet, run, js = ctl
    table = run("status")
    assert "ROLE" in table and "proxy-1" in table and "scheduler" in table
    assert "fleet unset" in table and "leases: scaler " in table
    doc = js("status")
    roles = sorted(w["role"] for w in doc["workers"])
    assert roles == ["health", "proxy", "proxy", "scaler", "scheduler", "supervisor"]
    assert all(w["pid"] > 0 for w in doc["workers"])
    assert doc["fleet"]["state"] is None
    wait_for(lambda: js("status")["fleet"]["scalerLease"], 10, what="a scaler lease")
    assert "#" in js("status")["fleet"]["scalerLease"]    # <host>:<pid>#<fence>
    assert doc["fleet"]["otherProviders"] == 2   # the two manual instances
    assert set(doc["leases"]) == {"scaler", "health", "scheduler"}


def test_instances(ctl):
    o, fleet, run, js = ctl
    table = run("instance", "list")
    assert table.splitlines()[0].split()[:3] == ["ID", "ROLE", "NAME"]
    assert "Master_Listener-1" in table and "Client_Listener-1" in table
    doc = js("instance", "list")
    assert [(x["role"], x["name"], x["state"]) for x in doc] == [
        ("master", "Master_Listener-1", "running"),
        ("client", "Client_Listener-1", "running")]
    added = js("instance", "add", "--role", "client", "--addr", "127.0.0.1:9",
               "--name", "Spare", "--state", "pending")
    new = added["id"]
    assert new in run("instance", "list")
    assert js("instance", "state", new, "running") == {
        "id": new, "from": "pending", "to": "running"}
    assert run("instance", "state", new, "unhealthy").strip() == \
        "%s: running -> unhealthy" % new
    assert js("instance", "drain", new) == {"id": new, "from": "unhealthy",
                                            "to": "draining"}
    assert js("instance", "remove", new) == {"id": new, "from": None, "to": "removed"}
    assert new not in run("instance", "list")
    assert "Spare" not in json.dumps(js("instance", "list"))


def test_placement_and_health(ctl):
    o, fleet, run, js = ctl
    assert call(o.port, CREATE, master("m1"))[0] == 200
    assert call(o.port, CREATE, client("c1", "m1"))[0] == 200
    assert run("placement", "m1").splitlines()[1].split()[2] == "Master_Listener-1"
    doc = js("placement", "c1")
    assert doc["client"]["name"] == "Client_Listener-1" and doc["master"] is None
    assert doc["masterActid"] == "m1" and doc["client"]["accounts"] == 1
    assert js("placement", "nobody") == {"actid": "nobody", "master": None,
                                         "client": None, "masterActid": None}
    assert run("placement", "nobody").strip() == "nobody is not placed"

    mid = fleet.ids["Master_Listener-1"]
    wait_for(lambda: js("health")["instances"][0]["successes"] >= 2, 10,
             what="probes recorded")
    doc = js("health")
    assert [x["id"] for x in doc["instances"]] == [mid, fleet.ids["Client_Listener-1"]]
    assert doc["instances"][0]["streak"] >= 2 and doc["panic"] == {}
    one = js("health", mid)
    assert len(one["instances"]) == 1 and one["history"]
    assert one["history"][0]["healthy"] is True
    assert one["history"][0]["instanceId"] == mid
    table = run("health", mid)
    assert table.splitlines()[0].split()[:3] == ["ID", "ROLE", "STATE"]
    assert '"healthy":true' in table
    out = subprocess.run([OLBCTL, "-c", o.conf] + o.args() + ["health", "inst-404",
                         "--json"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1 and out.stdout == "" and "no instance" in out.stderr


def test_fleet(ctl):
    o, fleet, run, js = ctl
    doc = js("fleet")
    assert doc["state"] is None and doc["provider"] == "process"
    assert doc["roles"]["master"]["desired"] == 0 and doc["blocked"] == []
    doc = js("fleet", "scale", "--masters", "0", "--clients", "0")
    assert doc["roles"]["client"]["desired"] == 0
    doc = js("fleet", "down")
    assert doc["state"] == "down"
    table = run("fleet")
    assert table.startswith("fleet down") and "masters" in table
    assert js("fleet", "unblock") == {"unblocked": 0}
    doc = js("fleet", "up")      # scaling.initial_instances = 2
    assert doc["state"] == "up"
    assert (doc["roles"]["master"]["desired"], doc["roles"]["client"]["desired"]) == (1, 1)
    assert run("fleet", "down").startswith("fleet down")


def test_events(ctl):
    o, fleet, run, js = ctl
    base = [OLBCTL, "-c", o.conf] + o.args() + ["events"]
    procs = [subprocess.Popen(base, stdout=subprocess.PIPE, text=True),
             subprocess.Popen(base + ["--json"], stdout=subprocess.PIPE, text=True)]
    lines = [queue.Queue(), queue.Queue()]
    for p, q in zip(procs, lines):
        threading.Thread(target=lambda p=p, q=q: [q.put(l) for l in p.stdout],
                         daemon=True).start()
    try:
        def seen(q, want):
            try:
                while True:
                    line = q.get(timeout=0.2)
                    if want in line:
                        return line
            except queue.Empty:
                return None

        got = [None, None]

        def both():
            run("fleet", "scale", "--clients", "0")
            for i in (0, 1):
                got[i] = got[i] or seen(lines[i], "fleet.changed")
            return all(got)

        wait_for(both, 15, interval=0.3, what="fleet.changed on both")
        assert "notify" in got[0] and "fleet.changed" in got[0] and "clients=0" in got[0]
        ev = json.loads(got[1])
        assert ev["type"] == "fleet.changed" and ev["clients"] == 0
        assert ev["role"] == "olbctl" and ev["level"] == "notify"
    finally:
        for p in procs:
            p.terminate()
            p.wait(5)


def test_reload(ctl):
    o, fleet, run, js = ctl
    old = set(o.worker_pids("olbd: proxy"))
    assert js("reload") == {"reloaded": True, "pid": o.pid}
    wait_for(lambda: not old & set(o.worker_pids("olbd: proxy")), 15,
             what="a new generation")
    assert run("reload").startswith("configuration OK; reload signalled")
