"""Fleet safety (SPEC §5, §6): the scaler never tears down what it cannot
prove is meant to go.  Real olb-listener instances of the process provider.
"""
import time

from conftest import pid_alive, wait_for
from test_ec2 import ec2_fleet, ec2_olbd, fake  # noqa: F401 (fake: a fixture)
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


def test_terminate_refused_backs_off_and_notifies_once(olbd_factory, fake, tmpdir_path,
                                                       redis_server, events):
    """A TerminateInstances EC2 refuses for good (UnauthorizedOperation) is tried
    again after a backoff that doubles per instance, not every second, and the
    operator hears of it once per instance; once EC2 agrees, the instances go."""
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 20, what="two EC2 instances")
    fake.error("UnauthorizedOperation", "You are not authorized to perform this "
               "operation.", count=1000, action="TerminateInstances")
    ctl(olbd, "fleet", "down")
    wait_for(lambda: fake.requests("TerminateInstances"), 10, what="a first terminate")
    first = time.monotonic()
    time.sleep(15)
    calls = len(fake.requests("TerminateInstances"))
    # 1 s doubling, each wait between half and all of it: at most 6 tries
    # per instance in 15 s (every second, as before, was over 30 for two).
    assert 2 <= calls <= 12, calls
    print("TerminateInstances in 15 s, 2 instances refused: %d" % calls)
    wait_for(lambda: len(events.of_type("instance.terminate_failed")) >= 2, 5,
             what="one notify per instance")
    failed = events.of_type("instance.terminate_failed")
    assert len(failed) == 2 and {e["id"] for e in failed} == set(ec2_fleet(r))
    assert all(e["level"] == "notify" and e["failures"] == 3 for e in failed)
    assert "UnauthorizedOperation" in failed[0]["error"]
    assert len(ec2_fleet(r, ("terminating",))) == 2
    fake.clear_faults()
    wait_for(lambda: not fake.live(), 60, what="the instances terminated once allowed")
    assert time.monotonic() - first < 75
