"""olbctl instance and placement commands (SPEC §10) against a real redis-server:
their output, the records and sets they leave in Redis, and their exit codes
(0 done, 1 failed with a message on stderr, 2 usage)."""
import json
import subprocess

import pytest

from conftest import CONF, OLBCTL, free_port

P = "loadbalancer:"


@pytest.fixture
def ctl(redis_server):
    def run(*args, port=None):
        return subprocess.run(
            [OLBCTL, "-c", CONF, "-o", "redis.port=%d" % (port or redis_server.port),
             "-o", "redis.embedded=false"] + list(args),
            capture_output=True, text=True, timeout=10)
    return run


def table(out):
    """The rows of a table printed by olbctl, as lists of columns."""
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["ID", "ROLE", "NAME", "ADDRESS", "STATE", "COUNT"]
    return [line.split() for line in lines[1:]]


def test_add_list_state_remove(ctl, redis_server):
    r = redis_server.client()
    out = ctl("instance", "add", "--role", "master", "--addr", "127.0.0.1:8001",
              "--name", "Master_Listener-1")
    assert (out.returncode, out.stdout, out.stderr) == (0, "inst-1\n", "")
    out = ctl("instance", "add", "--role=client", "--addr=10.1.2.3:9000", "--state",
              "pending", "--id", "i-0abc")
    assert (out.returncode, out.stdout) == (0, "i-0abc\n")

    rec = json.loads(r.hget(P + "instance_details", "inst-1"))
    assert rec["isMasterServer"] is True and rec["serverName"] == "Master_Listener-1"
    assert (rec["ip"], rec["port"], rec["state"], rec["launchOrder"]) == (
        "127.0.0.1", 8001, "running", 1)
    assert r.zrange(P + "live:master", 0, -1) == ["inst-1"]
    assert r.zrange(P + "live:client", 0, -1) == []

    out = ctl("instance", "list")
    assert out.returncode == 0, out.stderr
    assert table(out) == [
        ["inst-1", "master", "Master_Listener-1", "127.0.0.1:8001", "running", "0"],
        ["i-0abc", "client", "i-0abc", "10.1.2.3:9000", "pending", "0"]]

    out = ctl("instance", "state", "i-0abc", "running")
    assert (out.returncode, out.stdout) == (0, "i-0abc: pending -> running\n")
    assert r.zscore(P + "live:client", "i-0abc") == 2
    out = ctl("instance", "state", "inst-1", "unhealthy")
    assert out.returncode == 0
    assert r.zrange(P + "live:master", 0, -1) == []

    out = ctl("instance", "remove", "inst-1")
    assert (out.returncode, out.stdout) == (0, "inst-1 removed\n")
    assert [row[0] for row in table(ctl("instance", "list"))] == ["i-0abc"]
    assert not r.hexists(P + "instance_details", "inst-1")


def test_unknown_instance_is_an_error(ctl):
    for args in (["instance", "remove", "inst-9"],
                 ["instance", "state", "inst-9", "running"]):
        out = ctl(*args)
        assert out.returncode == 1, out
        assert out.stdout == ""
        assert "no such instance: inst-9" in out.stderr


def test_placement(ctl, redis_server):
    r = redis_server.client()
    assert ctl("instance", "add", "--role", "master", "--addr", "127.0.0.1:8001",
               "--name", "M-1").returncode == 0
    assert ctl("instance", "add", "--role", "client", "--addr", "127.0.0.1:8002",
               "--name", "C-1").returncode == 0
    out = ctl("placement", "acct-1")
    assert (out.returncode, out.stdout) == (0, "acct-1 is not placed\n")

    # The keys a proxy's placement scripts leave (placing itself is covered by
    # tests/unit/test_placement.c and the listener API tests).
    r.hset(P + "master_mapping", "acct-1", "inst-1")
    r.hset(P + "instance_user_counts", "inst-1", 1)
    r.hset(P + "client_mapping", "acct-1", "inst-2\nacct-0")
    r.hset(P + "instance_user_counts", "inst-2", 1)
    out = ctl("placement", "acct-1")
    assert out.returncode == 0, out.stderr
    rows = table(out)
    assert rows[0] == ["inst-1", "master", "M-1", "127.0.0.1:8001", "running", "1"]
    assert rows[1] == ["inst-2", "client", "C-1", "127.0.0.1:8002", "running", "1",
                       "master=acct-0"]
    # as an earlier olb wrote it: the id alone, the master in client_master
    r.hset(P + "client_mapping", "acct-1", "inst-2")
    r.hset(P + "client_master", "acct-1", "acct-9")
    assert table(ctl("placement", "acct-1"))[1][-1] == "master=acct-9"
    r.hset(P + "client_mapping", "acct-1", "inst-2\nacct-0")
    r.hdel(P + "client_master", "acct-1")
    rows = table(ctl("instance", "list"))
    assert [row[5] for row in rows] == ["1", "1"]

    # The instance went away: the account still points at it until it moves.
    assert ctl("instance", "remove", "inst-1").returncode == 0
    rows = table(ctl("placement", "acct-1"))
    assert rows[0][:2] == ["inst-1", "master"] and rows[0][4] == "removed"


def test_routing_messages(ctl, redis_server):
    sub = redis_server.client().pubsub()
    sub.subscribe(P + "routing")
    assert sub.get_message(timeout=1)["type"] == "subscribe"
    assert ctl("instance", "add", "--role", "client", "--addr", "127.0.0.1:8002"
               ).returncode == 0
    assert ctl("instance", "state", "inst-1", "draining").returncode == 0
    assert ctl("instance", "remove", "inst-1").returncode == 0
    seen = []
    for _ in range(3):
        msg = sub.get_message(timeout=2)
        assert msg and msg["type"] == "message"
        seen.append(json.loads(msg["data"]))
    # numbered by the routing sequence, which proxies compare with the
    # sequence their placement answers carry
    assert seen == [{"op": "instance", "id": "inst-1", "state": s, "seq": n}
                    for n, s in enumerate(("running", "draining", "removed"), 1)]
    assert redis_server.client().get(P + "routing:seq") == "3"
    sub.close()


@pytest.mark.parametrize("args", [
    ["instance"],
    ["instance", "frob"],
    ["instance", "add"],
    ["instance", "add", "--role", "master"],
    ["instance", "add", "--addr", "127.0.0.1:80"],
    ["instance", "add", "--role", "boss", "--addr", "127.0.0.1:80"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:0"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:65536"],
    ["instance", "add", "--role", "master", "--addr", "localhost:80"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80x"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80", "--state", "asleep"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80", "--colour", "red"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80", "--name"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80", "stray"],
    ["instance", "remove"],
    ["instance", "remove", "a", "b"],
    ["instance", "state", "inst-1"],
    ["instance", "state", "inst-1", "sleeping"],
    ["instance", "list", "extra"],
    ["placement"],
    ["placement", "a", "b"],
    ["frobnicate"],
])
def test_bad_arguments_exit_2(ctl, redis_server, args):
    out = ctl(*args)
    assert out.returncode == 2, out
    assert "usage: olbctl" in out.stderr
    assert redis_server.client().keys("*") == []


def test_redis_down_exits_1(ctl):
    port = free_port()
    for args in (["instance", "list"], ["placement", "a"],
                 ["instance", "add", "--role", "master", "--addr", "127.0.0.1:80"]):
        out = ctl(*args, port=port)
        assert out.returncode == 1, out
        assert "olbctl: connect(redis" in out.stderr
