"""The scaler with the ec2 provider against a fake EC2 (tests/system/fake_ec2.py):
every request's Signature Version 4 checked by botocore, EC2's answers and
errors, delayed visibility, throttling, capacity errors, stale ids, hostile
answers and expiring metadata credentials.

The fake's instances live on loopback addresses 127.0.1.x, each running a
real olb-listener on proxy.instance_port: olbd never probes or proxies to an
address off this machine.
"""
import json
import os
import signal
import time

import pytest

from conftest import BUILD, answers, free_port, wait_for
from fake_ec2 import FakeEC2
from test_scaler import P, TOKEN, ctl, place, records

LISTENER = os.path.join(BUILD, "olb-listener")
SECRET = "olb-test-secret-key/0123456789abcdefABCDEF"
AK = "AKIAOLBTESTKEY000001"


@pytest.fixture
def fake(tmpdir_path):
    port = free_port()
    logs = os.path.join(tmpdir_path, "listeners")
    os.makedirs(logs)
    f = FakeEC2(access_key=AK, secret_key=SECRET, instance_port=port,
                launch_delay=0.3, terminate_delay=0.2, terminated_ttl=3.0,
                listener_cmd=[LISTENER, "--host", "{ip}", "--port", "{port}",
                              "--name", "{name}"],
                listener_log=logs)
    f.start()
    yield f
    f.stop()
    assert f.internal_errors == []


def ec2_olbd(olbd_factory, fake, tmpdir_path, extra=(), env=None, static=True):
    base = {"HOME": tmpdir_path, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    if static:
        base.update(AWS_ACCESS_KEY_ID=AK, AWS_SECRET_ACCESS_KEY=SECRET)
    base.update(env or {})
    env = {k: v for k, v in base.items()}
    o = olbd_factory(env=env, extra=[
        'proxy.auth_tokens=["%s"]' % TOKEN,
        "proxy.instance_port=%d" % fake.instance_port,
        "provider.type=ec2",
        "provider.ec2.region=us-east-1",
        "provider.ec2.endpoint=%s" % fake.url,
        "provider.ec2.metadata_endpoint=http://127.0.0.1:%d" % free_port(),
        "provider.ec2.ami_id=ami-0123456789abcdef0",
        "provider.ec2.instance_type=t3.small",
        "provider.ec2.key_name=olb-key",
        "provider.ec2.iam_instance_profile=olb-listener-role",
        "provider.ec2.security_group=sg-0123456789abcdef0",
        "provider.ec2.subnet_id=subnet-0123456789abcdef0",
        "provider.ec2.associate_public_ip=false",
        "provider.ec2.launch_timeout_ms=30000",
        "health.pending_interval_ms=100",
        "scaling.cooldown_ms=0",
        "scaling.drain_timeout_ms=1000",
        "daemon.lease_ms=3000",
    ] + list(extra))
    return o.start()


def ec2_fleet(r, states=("pending", "running", "unhealthy", "draining", "terminating")):
    return {k: v for k, v in records(r).items()
            if v.get("provider") == "ec2" and v["state"] in states}


def test_launch_parameters_tags_and_teardown(olbd_factory, redis_server, fake,
                                             tmpdir_path, events):
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
        "scaling.initial_instances=2"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 20,
             what="two EC2 instances running")
    runs = fake.runs()
    assert len(runs) == 2 and all(not run.error for run in runs)
    for run in runs:
        p = run.parsed
        assert (p["image_id"], p["instance_type"], p["key_name"]) == (
            "ami-0123456789abcdef0", "t3.small", "olb-key")
        assert (p["min_count"], p["max_count"]) == (1, 1)
        assert p["iam_instance_profile"]["name"] == "olb-listener-role"
        (nic,) = p["network_interfaces"]
        assert (nic["device_index"], nic["subnet_id"], nic["security_group_ids"],
                nic["associate_public_ip"]) == (
            0, "subnet-0123456789abcdef0", ["sg-0123456789abcdef0"], False)
        tags = p["tags"]
        assert tags["olb:cluster"] == olbd.cluster
        assert tags["Product"] == "Fincopy"
        assert tags["olb:launch"] == run.client_token
        assert len(run.client_token) == 16
    assert sorted((p.parsed["tags"]["Name"], p.parsed["tags"]["olb:role"]) for p in runs) == [
        ("Client_Listener-1", "client"), ("Master_Listener-1", "master")]
    assert all(q.signature_ok for q in fake.requests())
    assert {q.access_key for q in fake.requests()} == {AK}

    recs = ec2_fleet(r)
    for iid, rec in recs.items():
        inst = fake.instance(iid)
        assert rec["ip"] == inst.private_ip and rec["ip"].startswith("127.0.1.")
        assert rec["port"] == fake.instance_port
    assert place(olbd.port, "EM")[0] == 200
    assert place(olbd.port, "EC", master="EM")[0] == 200

    ctl(olbd, "fleet", "down")
    wait_for(lambda: not fake.live(), 20, what="every instance terminated at EC2")
    wait_for(lambda: not ec2_fleet(r), 10, what="every record terminated")
    assert len(ec2_fleet(r, ("terminated",))) == 2
    # The event follows the state write (it is published on the script's
    # answer), so the records may show before it arrives.
    wait_for(lambda: len(events.of_type("instance.terminated")) >= 2, 5,
             what="two instance.terminated events")
    assert len(events.of_type("instance.terminated")) == 2


def test_faults_are_retried_with_the_same_client_token(olbd_factory, redis_server,
                                                       fake, tmpdir_path):
    """Throttling, a capacity error, an HTML page from a proxy, truncated and
    hostile XML, and new instances that DescribeInstances does not know yet:
    every one a logged error and a retry, never a crash or a duplicate."""
    fake.throttle(2, action="RunInstances")
    fake.html_error(1, action="RunInstances")
    fake.malformed_xml(1, action="RunInstances", mode="truncated", after=True)
    fake.malformed_xml(1, action="DescribeInstances", mode="doctype")
    fake.malformed_xml(1, action="DescribeInstances", mode="garbage")
    fake.delay_visibility(1.5)
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
        "scaling.initial_instances=1"])
    r = redis_server.client()
    scaler = olbd.worker_pids("olbd: scaler")
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 1, 30, what="the master running")
    runs = fake.runs()
    assert len({run.client_token for run in runs}) == 1      # one launch, retried
    assert len(runs) >= 3
    assert len(fake.instances()) == 1
    assert any(run.replay for run in runs)                    # the truncated one
    log = olbd.log_text()
    assert "RequestLimitExceeded" in log
    assert "not an EC2 answer" in log
    assert olbd.worker_pids("olbd: scaler") == scaler       # never restarted

    # A capacity error fails the launch; the scaler launches again later
    # (a new token), and exactly one more instance comes up.
    fake.insufficient_capacity(1)
    ctl(olbd, "fleet", "scale", "--clients", "1")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 30, what="the client running")
    runs = fake.runs()
    assert any(run.error == "InsufficientInstanceCapacity" for run in runs)
    assert len(fake.instances()) == 2
    assert r.hlen(P + "launches") == 0
    assert olbd.worker_pids("olbd: scaler") == scaler


def test_teardown_with_stale_and_refused_ids(olbd_factory, redis_server, fake,
                                             tmpdir_path):
    """An instance terminated behind olb's back, and a TerminateInstances batch
    EC2 refuses for one id: every live instance is still terminated."""
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
        "scaling.initial_instances=4"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 4, 30, what="four instances")
    stale = sorted(ec2_fleet(r))[0]
    fake.terminate_externally(stale)
    wait_for(lambda: fake.instance(stale) is None or fake.instance(stale).vanished, 10,
             what="the stale id vanished")
    fake.error("InvalidInstanceID.NotFound", "The instance ID 'i-0000000000000000' "
               "does not exist", action="TerminateInstances", count=1)
    ctl(olbd, "fleet", "down")
    # An id refused alone is described and tried again, not taken as gone
    # and left running until a list finds it (every 30 s): at no moment is
    # an instance recorded terminated while EC2 still runs it (the records
    # are read first: olb writes one after EC2 terminated the instance).
    called_gone_while_live = set()

    def all_terminated():
        terminated = {k for k, v in records(r).items() if v["state"] == "terminated"}
        live = {i.id for i in fake.live()}
        called_gone_while_live.update(terminated & live)
        return not live
    wait_for(all_terminated, 15, what="every live instance terminated")
    assert not called_gone_while_live, called_gone_while_live
    wait_for(lambda: not ec2_fleet(r), 10, what="every record terminated")
    terms = [q for q in fake.requests("TerminateInstances")]
    assert all(stale not in q.params.values() for q in terms)
    assert any(q.code == "InvalidInstanceID.NotFound" for q in terms)


def test_kill9_scaler_mid_launch(olbd_factory, redis_server, fake, tmpdir_path):
    """Killed while the instance is pending: the next scaler runs the launch
    again with the same ClientToken and gets the same instance."""
    fake.hold_pending(1)
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, extra=[
        "scaling.initial_instances=1"])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: fake.runs(), 15, what="RunInstances")
    (scaler,) = olbd.worker_pids("olbd: scaler")
    os.kill(scaler, signal.SIGKILL)
    wait_for(lambda: olbd.worker_pids("olbd: scaler") not in ([], [scaler]), 10,
             what="the scaler restarted")
    wait_for(lambda: len(fake.runs()) >= 2, 15, what="the launch resumed")
    (iid,) = [i.id for i in fake.instances()]
    fake.release(iid)
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 1, 20, what="the master running")
    assert list(ec2_fleet(r)) == [iid]
    tokens = {run.client_token for run in fake.runs()}
    assert len(tokens) == 1 and any(run.replay for run in fake.runs())
    assert len(fake.instances()) == 1
    assert r.hlen(P + "launches") == 0


def test_metadata_credentials_are_refreshed(olbd_factory, redis_server, fake,
                                            tmpdir_path):
    """No static credentials: IMDSv2's temporary ones, fetched again before
    they expire; EC2 accepts only the current ones.  Like the real service
    (new credentials at least 5 minutes before 6 hours run out), the fake
    hands out new ones only in the last part of their life."""
    imds = fake.start_imds(lifetime=4.0, rotate_before=3.0)
    fake.set_static_accepted(False)
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, static=False, extra=[
        "scaling.initial_instances=1",
        "provider.ec2.metadata_endpoint=http://127.0.0.1:%d" % imds.port])
    r = redis_server.client()
    ctl(olbd, "fleet", "up")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 1, 20, what="the master running")
    wait_for(lambda: imds.fetch_count("credentials") >= 3, 15,
             what="credentials fetched again before expiry")
    ctl(olbd, "fleet", "scale", "--clients", "1")
    wait_for(lambda: len(ec2_fleet(r, ("running",))) == 2, 20, what="the client running")
    reqs = fake.requests()
    assert reqs and all(q.signature_ok for q in reqs), [(q.action, q.auth_error, q.code, q.access_key) for q in reqs if not q.signature_ok]
    assert not any(q.code == "ExpiredToken" for q in reqs)
    assert AK not in {q.access_key for q in reqs}
    assert imds.fetch_count("token") >= 1
    # Every metadata request carried a valid session token (IMDSv2).
    assert all(status == 200 for _, _, _, status in imds.requests())
