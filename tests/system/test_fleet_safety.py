"""Fleet safety (SPEC §5, §6): the scaler never tears down what it cannot
prove is meant to go.  Real olb-listener instances of the process provider.
"""
import http.client
import json
import os
import tempfile
import time

from conftest import Events, RedisServer, free_port, pid_alive, wait_for
from fake_ec2 import FakeEC2
from test_ec2 import AK, LISTENER, SECRET, ec2_fleet, ec2_olbd, fake  # noqa: F401 (fake: a fixture)
from test_scaler import P, TOKEN, ctl, fleet_of, place, records, running, scaler_olbd


def two_running(olbd_factory, fake, tmpdir_path, redis_server):
    """An olbd on fake EC2 with its fleet up: a master and a client running.
    (olbd, a client of the test's Redis)."""
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 20, what="two EC2 instances")
    return olbd, r


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


def test_second_deployment_of_the_same_cluster_terminates_nothing(
        olbd_factory, fake, tmpdir_path, redis_server, events):
    """A second olbd with its own Redis and the same cluster name (a staging
    deployment in the production account): the first deployment's instances
    carry another deployment, so the second reports them (instance.foreign,
    notify) and never adopts, drains or terminates them; its own fleet down
    ends only its own instances."""
    first, r = two_running(olbd_factory, fake, tmpdir_path, redis_server)
    ids = sorted(ec2_fleet(r))
    mine = r.get("loadbalancer:deployment")
    assert mine and all(fake.instance(i).tags.get("olb:deployment") == mine for i in ids)
    other = RedisServer(tempfile.mkdtemp(dir=tmpdir_path))
    other.start()
    other_events = Events(other.port)
    second = None
    try:
        second = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
            "redis.port=%d" % other.port, "scaling.initial_instances=1"])
        assert second.cluster == first.cluster
        wait_for(lambda: len(other_events.of_type("instance.foreign")) == 2, 20,
                 what="the first deployment's instances reported")
        foreign = other_events.of_type("instance.foreign")
        assert sorted(e["id"] for e in foreign) == ids
        assert all(e["level"] == "notify" and e["deployment"] == mine for e in foreign)
        r2 = other.client()
        assert r2.get("loadbalancer:deployment") not in (None, mine)
        ctl(second, "fleet", "up")
        wait_for(lambda: len(fake.live()) == 3, 20, what="the second's own instance")
        ctl(second, "fleet", "down")
        wait_for(lambda: len(fake.live()) == 2, 20, what="the second's instance terminated")
        time.sleep(2)
        assert sorted(i.id for i in fake.live()) == ids
        asked = [q for q in fake.requests("TerminateInstances")
                 if set(q.params.values()) & set(ids)]
        assert asked == []
        assert not set(r2.hkeys("loadbalancer:instance_details")) & set(ids)
        assert len(other_events.of_type("instance.foreign")) == 2   # once each
        assert not events.of_type("instance.adopted")
    finally:
        other_events.close()
        if second is not None:
            second.stop()
        other.stop()


def unplace(port, actid, master=None):
    """remove_user_listener for one account: its status."""
    doc = {"actid": actid, "broker": "b", "access_token": "at",
           "master_actid": master or "", "services": {"master": master is None}}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("POST", "/api/v1/listener/remove_user_listener",
                     body=json.dumps(doc), headers={
                         "Content-Type": "application/json",
                         "Authorization": "Bearer " + TOKEN})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_drained_with_a_wrong_count_is_not_terminated(olbd_factory, redis_server, events):
    """A drained instance whose count reads 0 while an account is still placed
    there: the placements themselves (its set of accounts, checked against
    the mapping) keep it running.  At the drain timeout the operator hears
    of it (instance.drain_stuck) and it still runs; once the account is gone
    it is terminated."""
    olbd = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "client")) == 1, 15, what="the initial fleet")
    assert place(olbd.port, "WRONG-M")[0] == 200
    assert place(olbd.port, "WRONG-C", master="WRONG-M")[0] == 200
    (cid, crec), = running(r, "client").items()
    assert r.hget(P + "client_mapping", "WRONG-C") == cid + "\nWRONG-M"
    ctl(olbd, "instance", "drain", cid)
    wait_for(lambda: records(r)[cid]["state"] == "draining", 5, what="draining")
    r.hset(P + "instance_user_counts", cid, 0)      # the count drifted
    since = time.time()
    stuck = events.wait("instance.drain_stuck", timeout=15, pred=lambda e: e["id"] == cid)
    assert stuck[0]["level"] == "notify" and stuck[0]["accounts"] == 1
    assert time.time() - since >= 1.5               # scaling.drain_timeout_ms=2000
    time.sleep(2)                                   # passes that must not act
    assert records(r)[cid]["state"] == "draining"
    assert pid_alive(crec["pid"])
    assert not [e for e in events.of_type("instance.terminating") if e["id"] == cid]
    assert len(events.of_type("instance.drain_stuck")) == 1      # once
    # The account leaves: now the placements prove it empty.
    assert unplace(olbd.port, "WRONG-C", master="WRONG-M") == 200
    wait_for(lambda: records(r)[cid]["state"] == "terminated", 15, what="terminated")
    term = [e for e in events.of_type("instance.terminating") if e["id"] == cid]
    assert term and term[0]["reason"] == "drained" and term[0]["accounts"] == 0
    assert not pid_alive(crec["pid"])


def test_fleet_down_past_the_deadline_ends_sessions(olbd_factory, redis_server, events):
    """An explicit fleet down ends the day's sessions: at the drain deadline the
    instances still holding accounts are terminated too, and the events say
    how many accounts were still placed."""
    olbd = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(running(r, "client")) == 1, 15, what="the initial fleet")
    assert place(olbd.port, "DOWN-M")[0] == 200
    assert place(olbd.port, "DOWN-C", master="DOWN-M")[0] == 200
    pids = [v["pid"] for v in running(r, None).values()]
    ctl(olbd, "fleet", "down")
    wait_for(lambda: not any(pid_alive(p) for p in pids), 20, what="every instance stopped")
    # The events may still be on their way when the processes are gone.
    term = wait_for(lambda: len(events.of_type("instance.terminating")) >= 2 and
                    events.of_type("instance.terminating"), 10,
                    what="two instance.terminating events")
    assert sorted((e["reason"], e["accounts"]) for e in term) == [
        ("fleet down: drain timeout", 1), ("fleet down: drain timeout", 1)]
    assert not events.of_type("instance.drain_stuck")


def test_terminate_refused_stops_and_notifies_once(olbd_factory, fake, tmpdir_path,
                                                   redis_server, events):
    """A TerminateInstances EC2 refuses for good (UnauthorizedOperation: asking
    again changes nothing) is not asked again: one call per instance, one
    notify each; an operator's olbctl instance terminate asks again, and once
    EC2 agrees the instances go."""
    olbd, r = two_running(olbd_factory, fake, tmpdir_path, redis_server)
    ids = sorted(ec2_fleet(r))
    fake.error("UnauthorizedOperation", "You are not authorized to perform this "
               "operation.", count=1000, action="TerminateInstances")
    ctl(olbd, "fleet", "down")
    wait_for(lambda: len(events.of_type("instance.terminate_failed")) >= 2, 15,
             what="one notify per instance")
    time.sleep(10)       # ten passes of a scaler that must not ask again
    calls = len(fake.requests("TerminateInstances"))
    print("TerminateInstances in 10 s, 2 instances refused: %d" % calls)
    assert calls == 2, calls
    failed = events.of_type("instance.terminate_failed")
    assert len(failed) == 2 and sorted(e["id"] for e in failed) == ids
    assert all(e["level"] == "notify" and e["retry"] is False for e in failed)
    assert "UnauthorizedOperation" in failed[0]["error"]
    assert len(ec2_fleet(r, ("terminating",))) == 2
    assert len(fake.live()) == 2
    fake.clear_faults()
    for i in ids:
        ctl(olbd, "instance", "terminate", i)
    wait_for(lambda: not fake.live(), 30, what="the instances terminated once asked again")
    wait_for(lambda: len(ec2_fleet(r, ("terminated",))) == 2, 15, what="terminated records")


def test_terminate_failing_for_now_backs_off(olbd_factory, fake, tmpdir_path, redis_server,
                                            events):
    """A terminate that fails for now (503 on every call) is tried again after a
    backoff that doubles per instance: a bounded number of calls, and the
    operator hears of it once, at the third failure in a row."""
    olbd, r = two_running(olbd_factory, fake, tmpdir_path, redis_server)
    fake.unavailable(count=10000, action="TerminateInstances")
    ctl(olbd, "fleet", "down")
    wait_for(lambda: fake.requests("TerminateInstances"), 10, what="a first terminate")
    time.sleep(8)
    calls = len(fake.requests("TerminateInstances"))
    # Tries at 0 and after 1, 2, 4 s (each wait half to all of it; the third
    # failure, which notifies, comes by 3 s): at most 5 tries per instance in
    # 8 s, each of at most 3 attempts.  Once a second (no backoff) would be
    # 8 tries, 48 calls.
    print("TerminateInstances in 8 s, 2 instances failing: %d" % calls)
    assert 2 <= calls <= 30, calls
    failed = events.of_type("instance.terminate_failed")
    assert len(failed) == 2 and all(e["retry"] is True and e["failures"] == 3
                                    for e in failed)
    fake.clear_faults()
    wait_for(lambda: not fake.live(), 60, what="the instances terminated once EC2 agrees")


def test_launch_of_unknown_outcome_keeps_its_token(olbd_factory, fake, tmpdir_path,
                                                  redis_server, events):
    """RunInstances that runs at EC2 but whose answers are lost (HTTP 500) past
    the launch deadline: the launch keeps its reservation and its ClientToken,
    and once EC2 answers, there is one instance, made by one token."""
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
        "scaling.initial_instances=1", "provider.ec2.launch_timeout_ms=2000"])
    r = redis_server.client()
    fake.html_error(count=10000, action="RunInstances", status=500, after=True)
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(fake.runs()) >= 4, 20, what="RunInstances tried again")
    t0 = time.monotonic()
    time.sleep(3)        # past the launch deadline (2 s) while EC2 still errs
    assert len(fake.live()) == 1, fake.live()
    assert events.of_type("instance.launch_failed")
    assert all(e["settled"] is False for e in events.of_type("instance.launch_failed"))
    fake.clear_faults()
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 1, 30, what="the master running")
    tokens = {run.client_token for run in fake.runs()}
    print("RunInstances calls: %d, tokens: %d, %.1f s" % (
        len(fake.runs()), len(tokens), time.monotonic() - t0))
    assert len(tokens) == 1, tokens
    assert len(fake.instances(include_vanished=True)) == 1
    assert r.hlen("loadbalancer:launches") == 0


def test_skewed_clock_still_launches(olbd_factory, fake, tmpdir_path, redis_server, events):
    """EC2 refuses requests signed more than 5 minutes off its clock
    (RequestTimeTooSkewed); olb learns EC2's time from the answers' Date and
    signs again with it."""
    fake.clock_offset = 3600     # EC2's clock is an hour ahead of this host's
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 30, what="two EC2 instances")
    skewed = [q for q in fake.requests() if q.auth_error == "RequestTimeTooSkewed"]
    print("requests refused as skewed: %d (%s)" % (len(skewed), [q.action for q in skewed]))
    assert skewed, "the first requests were signed on this host's clock"
    # The calls in flight before the first answer fixed the clock (the two
    # launches), then every request is signed with EC2's time.
    assert len(skewed) <= 2
    assert not events.of_type("instance.launch_failed")
    # EC2's clock jumps to an hour behind this host's: the two terminations
    # in flight together are both refused, and both signed again (the second
    # after the first answer already fixed the clock).
    fake.clock_offset = -3600
    before = len(skewed)
    ctl(olbd, "fleet", "down")
    wait_for(lambda: not fake.live(), 30, what="the instances terminated")
    skewed = [q for q in fake.requests() if q.auth_error == "RequestTimeTooSkewed"]
    print("refused as skewed after the jump: %d" % (len(skewed) - before))
    assert len(skewed) > before
    assert not events.of_type("instance.terminate_failed")


def test_launches_that_never_run_block_the_role(olbd_factory, tmpdir_path, redis_server,
                                               events):
    """Instances that never answer their health check (a bad image, a security
    group that keeps the check out): after a few launches the role stops
    launching (scale.blocked, notify) instead of billing a fleet that never
    serves; olbctl fleet unblock starts them again."""
    dead = FakeEC2(access_key=AK, secret_key=SECRET, instance_port=free_port(),
                   launch_delay=0.2, terminate_delay=0.2, terminated_ttl=3.0)
    dead.start()
    try:
        olbd = ec2_olbd(olbd_factory, dead, tmpdir_path, extra=[
            "scaling.initial_instances=1", "scaling.pending_timeout_ms=1500"])
        r = redis_server.client()
        ctl(olbd, "fleet", "up")
        blocked = events.wait("scale.blocked", timeout=40)[0]
        assert blocked["level"] == "notify" and blocked["instanceRole"] == "master"
        assert blocked["failures"] == 3
        runs = len(dead.runs())
        assert runs == 3, runs           # the third failure's replacement is not launched
        assert "master launches are blocked" in ctl(olbd, "fleet").stdout
        time.sleep(6)       # four pending timeouts' worth: nothing more
        assert len(dead.runs()) == runs
        wait_for(lambda: not dead.live(), 15, what="the failed instances terminated")
        assert r.hget("loadbalancer:fleet", "blocked:master")
        ctl(olbd, "fleet", "unblock")
        wait_for(lambda: len(dead.runs()) > runs, 15, what="a launch after unblock")
        assert "blocked" not in ctl(olbd, "fleet").stdout
    finally:
        dead.stop()


def test_incorrect_instance_state_is_settled_by_describe(olbd_factory, tmpdir_path,
                                                         redis_server, events):
    """TerminateInstances answering IncorrectInstanceState: the instance is
    described again; one already shutting down is gone as far as olb is
    concerned, one in another state is tried again later (backoff)."""
    logs = os.path.join(tmpdir_path, "listeners")
    os.makedirs(logs)
    slow = FakeEC2(access_key=AK, secret_key=SECRET, instance_port=free_port(),
                   launch_delay=0.2, terminate_delay=60.0, terminated_ttl=3.0,
                   listener_cmd=[LISTENER, "--host", "{ip}", "--port", "{port}",
                                 "--name", "{name}"], listener_log=logs)
    slow.start()
    try:
        olbd, r = two_running(olbd_factory, slow, tmpdir_path, redis_server)
        down, up = sorted(ec2_fleet(r))
        slow.error("IncorrectInstanceState", "The instance is not in a state from which "
                   "it can be terminated.", count=10000, action="TerminateInstances")
        slow.terminate_externally(down)       # stays shutting-down for a minute
        ctl(olbd, "fleet", "down")
        wait_for(lambda: records(r)[down]["state"] == "terminated", 15,
                 what="the shutting-down one settled as gone")
        time.sleep(4)
        assert records(r)[up]["state"] == "terminating"
        assert slow.instance(up).state == "running"
        tries = len([q for q in slow.requests("TerminateInstances")
                     if up in q.params.values()])
        assert 2 <= tries <= 12, tries        # backoff, each try up to 3 attempts
        slow.clear_faults()
        wait_for(lambda: records(r)[up]["state"] == "terminated", 30,
                 what="terminated once EC2 agrees")
    finally:
        slow.stop()


def test_total_loss_recovered_with_fleet_deployment(olbd_factory, redis_server, events):
    """Redis empty and every scaler restarted: the new scaler makes a new
    deployment and only reports the running instances (instance.foreign, with
    their deployment); olbctl fleet deployment gives it back and they are
    adopted.  Nothing is terminated on the way."""
    first = scaler_olbd(olbd_factory, extra=["scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(first, "fleet", "up")
    wait_for(lambda: len(running(r, None)) == 2, 15, what="the initial fleet")
    pids = {k: v["pid"] for k, v in running(r, None).items()}
    old = r.get(P + "deployment")
    first.stop()                    # the instances outlive olbd
    r.flushall()
    assert all(pid_alive(p) for p in pids.values())
    second = scaler_olbd(olbd_factory, cluster=first.cluster)
    foreign = wait_for(lambda: len(events.of_type("instance.foreign")) == 2 and
                       events.of_type("instance.foreign"), 15, what="both reported")
    assert sorted(e["id"] for e in foreign) == sorted(pids)
    assert all(e["deployment"] == old and e["ours"] != old for e in foreign)
    assert not records(r) and all(pid_alive(p) for p in pids.values())
    out = ctl(second, "fleet", "deployment", old)
    assert out.returncode == 0
    wait_for(lambda: len(events.of_type("instance.adopted")) == 2, 15, what="adopted")
    wait_for(lambda: sorted(running(r, None)) == sorted(pids), 15, what="running again")
    assert all(pid_alive(p) for p in pids.values())
    assert "deployment %s)" % old in ctl(second, "fleet").stdout
    bad = ctl(second, "fleet", "deployment", "Not An Id", check=False)
    assert bad.returncode == 1 and "[0-9a-z-]" in bad.stderr
