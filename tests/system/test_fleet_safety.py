"""Fleet safety (SPEC §5, §6): the scaler never tears down what it cannot
prove is meant to go.  Real olb-listener instances of the process provider.
"""
import time

from conftest import pid_alive, wait_for
from test_scaler import ctl, fleet_of, place, running, scaler_olbd


def test_redis_losing_its_data_terminates_nothing(olbd_factory, redis_server, events):
    """After FLUSHALL (an external Redis restarted without persistence, a
    failover to an empty replica, an operator's FLUSHDB) the desired fleet is
    unknown, not "down": the instances are adopted and reported, and keep
    running; nothing is drained or terminated."""
    olbd = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "master")) == 1 and len(running(r, "client")) == 1,
             15, what="the initial fleet")
    assert place(olbd.port, "SAFE-M")[0] == 200
    assert place(olbd.port, "SAFE-C", master="SAFE-M")[0] == 200
    before = {k: v["pid"] for k, v in fleet_of(r).items()}
    assert len(before) == 2 and all(pid_alive(p) for p in before.values())

    flushed = time.time() * 1000
    r.flushall()
    wait_for(lambda: len(events.of_type("instance.adopted")) == 2, 15,
             what="both instances adopted")
    adopted = events.of_type("instance.adopted")
    assert sorted(e["id"] for e in adopted) == sorted(before)
    assert all(e["level"] == "notify" for e in adopted)
    wait_for(lambda: len(running(r, None)) == 2, 15, what="the adopted instances running")
    time.sleep(3)     # several passes of a scaler that must not act
    assert all(pid_alive(p) for p in before.values())
    assert sorted(running(r, None)) == sorted(before)
    assert not [e for e in events.items if e["ts"] >= flushed and e["type"] in (
        "instance.draining", "instance.terminated", "instance.launching",
        "instance.launch_failed")]
    assert "state" not in r.hgetall("loadbalancer:fleet")
    # An explicit fleet down is still obeyed.
    ctl(olbd, "fleet", "down")
    wait_for(lambda: not any(pid_alive(p) for p in before.values()), 20,
             what="the instances stopped after fleet down")
