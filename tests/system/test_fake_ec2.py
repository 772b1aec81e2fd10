"""The fake EC2 endpoint and metadata service (fake_ec2.py), checked with
botocore as the client, so that tests of olbd against the fake test olbd
against something that answers as EC2 does: the run / describe / terminate
round trip, ClientToken idempotency, a TerminateInstances with a stale id
failing as a whole, every injected fault surfacing as botocore's error,
SigV4 verification (botocore's own signatures, olb's set of signed headers,
wrong secrets, clock skew), the IMDSv2 token flow and credential rotation.
Needs no C build except for the listener test (skipped without it)."""
import http.client
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode
from xml.etree import ElementTree

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from botocore.parsers import ResponseParserError

from conftest import ROOT, free_port, pid_alive, wait_for
from fake_ec2 import DEFAULT_SECRET, XMLNS, FakeEC2, FakeIMDS

AMI = "ami-0123456789abcdef0"
LISTENER = os.path.join(ROOT, "build", "test", "olb-listener")
HERE = os.path.dirname(os.path.abspath(__file__))
# One session for every client: it loads EC2's service model once.
SESSION = botocore.session.get_session()
ERROR_XML = re.compile(
    rb'<\?xml version="1.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>([A-Za-z.]+)'
    rb'</Code><Message>[^<]+</Message></Error></Errors><RequestID>[0-9a-f-]{36}</RequestID>'
    rb'</Response>\Z')


@pytest.fixture
def fake():
    f = FakeEC2(launch_delay=0.1, terminate_delay=0.1, terminated_ttl=0.3).start()
    yield f
    f.stop()
    assert f.internal_errors == []


def ec2_client(fake, key="AKIDEXAMPLE", secret=DEFAULT_SECRET, token=None, region=None):
    """botocore's EC2 client on the fake: no retries, short timeouts, no proxy."""
    return SESSION.create_client(
        "ec2", endpoint_url=fake.url, region_name=region or fake.region,
        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        config=Config(retries={"total_max_attempts": 1}, proxies={},
                      connect_timeout=2, read_timeout=5))


@pytest.fixture
def ec2(fake):
    return ec2_client(fake)


def error_of(excinfo):
    """(code, HTTP status) of a botocore ClientError."""
    r = excinfo.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def launch(ec2, n=1, token=None, name="m", cluster="olb", **kw):
    args = dict(ImageId=AMI, InstanceType="t3.micro", MinCount=n, MaxCount=n,
                TagSpecifications=[{"ResourceType": "instance", "Tags": [
                    {"Key": "Name", "Value": name}, {"Key": "olb:cluster", "Value": cluster}]}])
    if token:
        args["ClientToken"] = token
    args.update(kw)
    return ec2.run_instances(**args)


def ids_of(answer):
    return [i["InstanceId"] for i in answer["Instances"]]


def states(ec2, **kw):
    """{instance id: state name} of a DescribeInstances."""
    out = ec2.describe_instances(**kw)
    return {i["InstanceId"]: i["State"]["Name"]
            for r in out["Reservations"] for i in r["Instances"]}


def signed_post(fake, params, key="AKIDEXAMPLE", secret=DEFAULT_SECRET, token=None,
                extra_headers=None, tamper=None, sign=True):
    """One POST signed by botocore over exactly olb's headers (content-type,
    host, x-amz-date, x-amz-security-token), sent by http.client with
    unsigned extras.  Returns (status, headers, body)."""
    body = urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "Host": "127.0.0.1:%d" % fake.port}
    req = AWSRequest("POST", fake.url + "/", headers=headers, data=body)
    if sign:
        SigV4Auth(Credentials(key, secret, token), "ec2", fake.region).add_auth(req)
    sent = dict(req.headers.items())
    sent.update(extra_headers or {})
    if tamper:
        body = tamper(body)
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        conn.request("POST", "/", body=body, headers=sent)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


DESCRIBE = {"Action": "DescribeInstances", "Version": "2016-11-15"}


# ---------------------------------------------------------------------------
# Instances


def test_run_describe_terminate_round_trip(fake, ec2):
    out = ec2.run_instances(
        ImageId=AMI, InstanceType="t3.micro", MinCount=2, MaxCount=2, KeyName="olb-key",
        IamInstanceProfile={"Name": "olb-role"}, ClientToken="tok-1",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": "subnet-0abc1234",
                            "Groups": ["sg-0abc1234"], "AssociatePublicIpAddress": True}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": "Name", "Value": "Master_Listener-1"},
            {"Key": "olb:cluster", "Value": "olb"}, {"Key": "olb:role", "Value": "master"}]}])
    ids = ids_of(out)
    assert len(ids) == 2 and all(re.match(r"i-[0-9a-f]{17}$", i) for i in ids)
    assert out["ReservationId"].startswith("r-")
    insts = out["Instances"]
    assert [i["State"] for i in insts] == [{"Code": 0, "Name": "pending"}] * 2
    assert [i["PrivateIpAddress"] for i in insts] == ["127.0.1.1", "127.0.1.2"]
    assert insts[0]["ClientToken"] == "tok-1"
    assert insts[0]["SubnetId"] == "subnet-0abc1234"
    assert insts[0]["IamInstanceProfile"]["Arn"].endswith(":instance-profile/olb-role")
    assert {t["Key"]: t["Value"] for t in insts[0]["Tags"]}["olb:role"] == "master"

    run, = fake.runs()
    assert run.params["NetworkInterface.1.SecurityGroupId.1"] == "sg-0abc1234"
    p = run.parsed
    assert (p["image_id"], p["instance_type"], p["min_count"], p["max_count"], p["key_name"],
            p["client_token"]) == (AMI, "t3.micro", 2, 2, "olb-key", "tok-1")
    assert p["iam_instance_profile"] == {"name": "olb-role", "arn": None}
    nic, = p["network_interfaces"]
    assert (nic["device_index"], nic["subnet_id"], nic["security_group_ids"],
            nic["associate_public_ip"]) == (0, "subnet-0abc1234", ["sg-0abc1234"], True)
    assert p["tags"] == {"Name": "Master_Listener-1", "olb:cluster": "olb", "olb:role": "master"}
    assert run.instance_ids == ids and not run.replay and run.error is None

    wait_for(lambda: set(states(ec2, InstanceIds=ids).values()) == {"running"}, 3,
             what="running")
    both = states(ec2, Filters=[{"Name": "tag:olb:cluster", "Values": ["olb"]},
                                {"Name": "instance-state-name", "Values": ["running"]}])
    assert set(both) == set(ids)
    assert states(ec2, Filters=[{"Name": "tag:olb:cluster", "Values": ["other"]}]) == {}
    assert set(states(ec2, Filters=[{"Name": "tag:Name", "Values": ["Master_*"]}])) == set(ids)
    one = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
    assert one["LaunchTime"].tzinfo is not None and one["PrivateIpAddress"] == "127.0.1.1"

    term = ec2.terminate_instances(InstanceIds=[ids[0]])["TerminatingInstances"]
    assert term == [{"InstanceId": ids[0], "CurrentState": {"Code": 32, "Name": "shutting-down"},
                     "PreviousState": {"Code": 16, "Name": "running"}}]
    wait_for(lambda: states(ec2, InstanceIds=[ids[0]])[ids[0]] == "terminated", 3,
             what="terminated")
    gone = ec2.describe_instances(InstanceIds=[ids[0]])["Reservations"][0]["Instances"][0]
    assert "PrivateIpAddress" not in gone       # as on EC2: the interface is gone
    assert gone["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert [i.id for i in fake.live()] == [ids[1]]

    # After terminated_ttl the instance is gone: unknown by id, not listed.
    def vanished():
        try:
            ec2.describe_instances(InstanceIds=[ids[0]])
        except ClientError as e:
            return e.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
        return False
    wait_for(vanished, 3, what="the terminated instance to vanish")
    assert set(states(ec2)) == {ids[1]}

    assert fake.counts()["RunInstances"] == 1 and fake.count("TerminateInstances") == 1
    recs = fake.requests()
    assert all(r.signature_ok and r.access_key == "AKIDEXAMPLE" for r in recs)
    assert [r.status for r in fake.requests("TerminateInstances")] == [200]


def test_client_token_idempotency(fake, ec2):
    first = launch(ec2, token="same-token")
    again = launch(ec2, token="same-token")
    assert again["ReservationId"] == first["ReservationId"]
    assert ids_of(again) == ids_of(first)
    assert len(fake.live()) == 1
    assert [r.replay for r in fake.runs()] == [False, True]

    with pytest.raises(ClientError) as e:
        launch(ec2, token="same-token", InstanceType="t3.large")
    assert error_of(e) == ("IdempotentParameterMismatch", 400)
    assert len(fake.live()) == 1 and fake.runs()[-1].error == "IdempotentParameterMismatch"

    other = launch(ec2, token="other-token")
    assert ids_of(other) != ids_of(first) and len(fake.live()) == 2


def test_terminate_with_a_stale_id_fails_as_a_whole(fake, ec2):
    ids = ids_of(launch(ec2, n=3))
    fake.wait_instances(3, "running", timeout=3)
    ec2.terminate_instances(InstanceIds=[ids[0]])
    # Still visible as terminated: terminating it again is fine.
    out = ec2.terminate_instances(InstanceIds=[ids[0]])["TerminatingInstances"][0]
    assert out["CurrentState"]["Name"] in ("shutting-down", "terminated")
    wait_for(lambda: ids[0] not in [i.id for i in fake.instances()], 3, what="vanished")

    unknown = "i-0123456789abcdef0"
    with pytest.raises(ClientError) as e:
        ec2.terminate_instances(InstanceIds=[ids[1], ids[0], ids[2], unknown])
    assert error_of(e) == ("InvalidInstanceID.NotFound", 400)
    msg = e.value.response["Error"]["Message"]
    assert msg == "The instance IDs '%s, %s' do not exist" % (ids[0], unknown)
    assert {i.id for i in fake.live()} == {ids[1], ids[2]}    # nothing was terminated

    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=[ids[1], ids[0]])
    assert error_of(e)[0] == "InvalidInstanceID.NotFound"
    assert e.value.response["Error"]["Message"] == \
        "The instance ID '%s' does not exist" % ids[0]

    for bad in ("i-xyz", "i-0123", "x-0123456789abcdef0"):
        with pytest.raises(ClientError) as e:
            ec2.terminate_instances(InstanceIds=[ids[1], bad])
        assert error_of(e) == ("InvalidInstanceID.Malformed", 400)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=["i-BAD"])
    assert error_of(e)[0] == "InvalidInstanceID.Malformed"

    out = ec2.terminate_instances(InstanceIds=[ids[1], ids[2]])["TerminatingInstances"]
    assert [o["InstanceId"] for o in out] == [ids[1], ids[2]]
    assert fake.live() == []


def test_describe_pagination(fake, ec2):
    ids = ids_of(launch(ec2, n=7))
    pages = list(ec2.get_paginator("describe_instances").paginate(
        PaginationConfig={"PageSize": 5}))
    got = [[i["InstanceId"] for r in p["Reservations"] for i in r["Instances"]] for p in pages]
    assert got == [ids[:5], ids[5:]]
    assert "NextToken" in pages[0] and "NextToken" not in pages[1]
    assert fake.requests("DescribeInstances")[1].params["NextToken"] == pages[0]["NextToken"]

    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=ids[:1], MaxResults=5)
    assert error_of(e)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(MaxResults=4)
    assert error_of(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(MaxResults=5, NextToken="not-a-token")
    assert error_of(e)[0] == "InvalidParameterValue"


def test_lifecycle_controls_and_limits(fake, ec2):
    fake.hold_pending(1)
    held, = ids_of(launch(ec2))
    time.sleep(0.2)
    assert fake.instance(held).state == "pending"
    fake.release(held)
    assert states(ec2, InstanceIds=[held]) == {held: "running"}

    fake.terminate_externally(held)
    wait_for(lambda: fake.instance(held).state == "terminated", 3, what="terminated")

    fake.max_live = 2
    with pytest.raises(ClientError) as e:
        launch(ec2, n=3)
    assert error_of(e)[0] == "InstanceLimitExceeded"
    out = launch(ec2, MinCount=1, MaxCount=3)
    assert len(ids_of(out)) == 2

    fake.max_terminate_batch = 1
    with pytest.raises(ClientError) as e:
        ec2.terminate_instances(InstanceIds=ids_of(out))
    assert error_of(e)[0] == "InvalidParameterValue"

    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId="ami-nothex", MinCount=1, MaxCount=1)
    assert error_of(e)[0] == "InvalidAMIID.Malformed"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId="subnet-1",
                          NetworkInterfaces=[{"DeviceIndex": 0}])
    assert error_of(e)[0] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as e:
        ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, DryRun=True)
    assert error_of(e) == ("DryRunOperation", 412)
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert error_of(e)[0] == "InvalidParameterValue"


def test_chunked_answers(fake):
    f = FakeEC2(chunked=True, launch_delay=0.1).start()
    try:
        c = ec2_client(f)
        ids = ids_of(launch(c, n=2))
        assert set(states(c)) == set(ids)
        status, headers, _ = signed_post(f, DESCRIBE)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
    finally:
        f.stop()


def test_restart_on_the_same_port(fake, ec2):
    ids = ids_of(launch(ec2))
    port = fake.port
    fake.stop()
    with pytest.raises(EndpointConnectionError):
        states(ec2)
    fake.start()
    assert fake.port == port and set(states(ec2)) == set(ids)


# ---------------------------------------------------------------------------
# Faults


def test_throttling_and_server_errors(fake, ec2):
    fake.throttle(2, action="RunInstances")
    assert states(ec2) == {}                      # another action: not throttled
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            launch(ec2)
        assert error_of(e) == ("RequestLimitExceeded", 503)
    launch(ec2)

    fake.insufficient_capacity(1)
    with pytest.raises(ClientError) as e:
        launch(ec2, InstanceType="c5.large")
    assert error_of(e) == ("InsufficientInstanceCapacity", 500)
    assert "c5.large capacity" in e.value.response["Error"]["Message"]
    assert fake.runs()[-1].error == "InsufficientInstanceCapacity"
    assert len(fake.instances()) == 1

    fake.internal_error(1)
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e) == ("InternalError", 500)
    fake.unavailable(1)
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e) == ("Unavailable", 503)
    fake.error("UnauthorizedOperation", "You are not authorized to perform this operation.")
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e) == ("UnauthorizedOperation", 403)

    assert fake.fault_counts() == {"throttle": 2, "capacity": 1, "internal": 1,
                                   "unavailable": 1, "UnauthorizedOperation": 1}
    assert fake.pending_faults() == []
    assert [r.fault for r in fake.requests("RunInstances")] == \
        ["throttle", "throttle", None, "capacity"]


def test_html_error_page(fake, ec2):
    fake.html_error(1)
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e) == ("502", 502)            # botocore's code for an HTML 5xx
    fake.html_error(1, status=504)
    status, headers, body = signed_post(fake, DESCRIBE)
    assert status == 504 and headers["content-type"] == "text/html"
    assert body.startswith(b"<html>") and b"504 Gateway Timeout" in body
    assert fake.fault_counts() == {"html": 2}


def test_malformed_xml_after_a_launch(fake, ec2):
    """The answer of a RunInstances that did launch is cut in half: the retry
    with the same ClientToken gets the same instance, no second one."""
    fake.malformed_xml(1, action="RunInstances")
    with pytest.raises(ResponseParserError):
        launch(ec2, token="retry-me")
    assert len(fake.live()) == 1
    out = launch(ec2, token="retry-me")
    assert ids_of(out) == [fake.live()[0].id]
    assert [r.replay for r in fake.runs()] == [False, True]
    assert fake.requests("RunInstances")[0].fault == "malformed"


@pytest.mark.parametrize("mode", ["truncated", "garbage", "doctype", "empty", "json"])
def test_malformed_xml_modes(fake, ec2, mode):
    launch(ec2)
    _, _, good = signed_post(fake, DESCRIBE)
    fake.malformed_xml(1, mode=mode)
    status, headers, body = signed_post(fake, DESCRIBE)
    assert status == 200 and headers["content-type"].startswith("text/xml")
    if mode in ("truncated", "garbage", "doctype"):
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    if mode == "truncated":
        # Half of the real answer of its moment: the instance may have
        # gone from pending to running (a longer answer) between the calls.
        _, _, after = signed_post(fake, DESCRIBE)
        assert min(abs(len(body) - len(g) // 2) for g in (good, after)) <= 1, (
            len(body), len(good), len(after))
        with pytest.raises(ElementTree.ParseError):
            ElementTree.fromstring(body)
    elif mode == "doctype":
        assert b"<!DOCTYPE" in body and b"<instancesSet>" in body
    elif mode == "empty":
        assert body == b""
    else:
        assert body != good
    if mode in ("truncated", "garbage", "json"):
        fake.malformed_xml(1, mode=mode)
        with pytest.raises(ResponseParserError):
            states(ec2)
    assert fake.fault_counts()["malformed"] >= 1


def test_connection_cut(fake, ec2):
    fake.drop_connection(1)
    with pytest.raises(ConnectionClosedError):
        states(ec2)
    fake.malformed_xml(1, mode="short")
    with pytest.raises(Exception) as e:
        states(ec2)
    assert not isinstance(e.value, ClientError)
    assert states(ec2) == {}
    assert fake.fault_counts() == {"drop": 1, "malformed": 1}


def test_delay(fake, ec2):
    fake.delay(0.3, action="DescribeInstances")
    t0 = time.monotonic()
    states(ec2)
    assert time.monotonic() - t0 >= 0.3
    t0 = time.monotonic()
    states(ec2)
    assert time.monotonic() - t0 < 0.3
    # A delay and another fault on the same request.
    fake.delay(0.1)
    fake.throttle(1)
    t0 = time.monotonic()
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e)[0] == "RequestLimitExceeded" and time.monotonic() - t0 >= 0.1
    assert fake.requests()[-1].fault == "delay+throttle"
    assert fake.fault_counts() == {"delay": 2, "throttle": 1}


def test_delayed_visibility(fake, ec2):
    fake.delay_visibility(0.3)
    new, = ids_of(launch(ec2))
    with pytest.raises(ClientError) as e:
        ec2.describe_instances(InstanceIds=[new])
    assert error_of(e)[0] == "InvalidInstanceID.NotFound"
    assert states(ec2) == {}
    with pytest.raises(ClientError) as e:
        ec2.terminate_instances(InstanceIds=[new])
    assert error_of(e)[0] == "InvalidInstanceID.NotFound"
    assert fake.fault_counts()["invisible"] == 2
    wait_for(lambda: new in states(ec2), 3, interval=0.05, what="visible")
    assert ec2.describe_instances(InstanceIds=[new])["Reservations"]
    fake.delay_visibility(0)
    other, = ids_of(launch(ec2))
    assert other in states(ec2, InstanceIds=[other])


def test_control_path(fake, ec2):
    def post(name, kw):
        conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        try:
            conn.request("POST", "/_fake/" + name, body=json.dumps(kw))
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    assert post("throttle", {"count": 1, "action": "DescribeInstances"}) == (200, {"ok": True})
    with pytest.raises(ClientError) as e:
        states(ec2)
    assert error_of(e)[0] == "RequestLimitExceeded"
    assert post("nope", {})[0] == 404
    assert post("throttle", {"bogus": 1})[0] == 400
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", "/_fake/state")
    state = json.loads(conn.getresponse().read())
    conn.close()
    assert state["faults"] == {"throttle": 1} and state["counts"] == {"DescribeInstances": 1}


# ---------------------------------------------------------------------------
# Signatures


def test_wrong_credentials_are_refused(fake):
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake, secret="not-the-secret"))
    assert error_of(e) == ("SignatureDoesNotMatch", 403)
    rec = fake.requests()[-1]
    assert (rec.signature_ok, rec.access_key, rec.status) == (False, "AKIDEXAMPLE", 403)
    assert rec.canonical_request.startswith("POST\n/\n\n")   # the fake's, to compare

    with pytest.raises(ClientError) as e:
        states(ec2_client(fake, key="AKIDUNKNOWN"))
    assert error_of(e) == ("AuthFailure", 401)
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake, region="eu-west-1"))
    assert error_of(e) == ("AuthFailure", 401)
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake, token="a-token-for-static-keys"))
    assert error_of(e) == ("AuthFailure", 401)

    fake.clock_offset = 400      # the client's clock is 400 s behind the fake's
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake))
    assert error_of(e) == ("RequestTimeTooSkewed", 400)
    fake.clock_offset = -200
    assert states(ec2_client(fake)) == {}
    fake.clock_offset = 0

    fake.set_static_accepted(False)
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake))
    assert error_of(e) == ("AuthFailure", 401)
    assert not any(r.fault for r in fake.requests())


def test_raw_requests_and_error_format(fake):
    # olb's signed headers only; User-Agent, Accept-Encoding, Content-Length unsigned.
    status, headers, body = signed_post(fake, DESCRIBE,
                                        extra_headers={"User-Agent": "olbd/1.0", "Accept": "*/*"})
    assert status == 200 and headers["content-type"] == "text/xml;charset=UTF-8"
    assert ('<DescribeInstancesResponse xmlns="%s">' % XMLNS).encode() in body
    assert headers["server"] == "AmazonEC2"

    def check(status_code, code, **kw):
        status, headers, body = signed_post(fake, kw.pop("params", DESCRIBE), **kw)
        m = ERROR_XML.match(body)
        assert (status, m and m.group(1).decode()) == (status_code, code), body
        assert fake.requests()[-1].code == code

    check(403, "SignatureDoesNotMatch", tamper=lambda b: b + b"&InstanceId.1=i-01234567")
    check(403, "SignatureDoesNotMatch", extra_headers={"Host": "127.0.0.1:1"})
    check(401, "MissingAuthenticationToken", sign=False)
    check(400, "IncompleteSignature", extra_headers={"Authorization": "AWS4-HMAC-SHA256 x=y"})
    check(400, "UnknownParameter", params=dict(DESCRIBE, **{"Filters.1.Name": "x"}))
    check(400, "NoSuchVersion", params=dict(DESCRIBE, Version="2014-10-01"))
    check(400, "MissingParameter", params={"Action": "DescribeInstances"})
    check(400, "InvalidAction", params=dict(DESCRIBE, Action="DescribeVolumes"))
    check(400, "MissingParameter", params={"Action": "TerminateInstances",
                                           "Version": "2016-11-15"})
    assert [r.signature_ok for r in fake.requests()][:4] == [True, False, False, False]


# ---------------------------------------------------------------------------
# IMDSv2 and temporary credentials


def imds_call(imds, method, path, headers=None):
    """(status, body text, headers) of one metadata request by urllib."""
    req = urllib.request.Request(imds.url + path, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=2) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def imds_credentials(imds):
    status, token, _ = imds_call(imds, "PUT", "/latest/api/token",
                                 {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    assert status == 200
    h = {"X-aws-ec2-metadata-token": token}
    status, role, _ = imds_call(imds, "GET", "/latest/meta-data/iam/security-credentials/", h)
    assert status == 200
    status, text, _ = imds_call(imds, "GET", "/latest/meta-data/iam/security-credentials/"
                                + role, h)
    assert status == 200
    return json.loads(text)


def test_imds_token_flow(fake):
    imds = fake.start_imds(role="olb-role", lifetime=30)
    creds = "/latest/meta-data/iam/security-credentials/"
    assert imds_call(imds, "GET", creds)[0] == 401                       # IMDSv2 only
    assert imds_call(imds, "PUT", "/latest/api/token")[0] == 400        # no TTL
    assert imds_call(imds, "PUT", "/latest/api/token",
                     {"X-aws-ec2-metadata-token-ttl-seconds": "0"})[0] == 400
    assert imds_call(imds, "PUT", "/latest/api/token",
                     {"X-aws-ec2-metadata-token-ttl-seconds": "60",
                      "X-Forwarded-For": "10.0.0.1"})[0] == 403
    assert imds_call(imds, "GET", "/latest/api/token")[0] == 405
    status, token, headers = imds_call(imds, "PUT", "/latest/api/token",
                                       {"X-aws-ec2-metadata-token-ttl-seconds": "1"})
    assert status == 200 and len(token) >= 40
    assert headers["X-aws-ec2-metadata-token-ttl-seconds"] == "1"
    h = {"X-aws-ec2-metadata-token": token}
    assert imds_call(imds, "GET", creds, {"X-aws-ec2-metadata-token": "forged"})[0] == 401
    assert imds_call(imds, "GET", creds, h)[:2] == (200, "olb-role")
    assert imds_call(imds, "GET", creds + "other-role", h)[0] == 404
    status, text, headers = imds_call(imds, "GET", creds + "olb-role", h)
    assert status == 200 and headers["Content-Type"] == "text/plain"
    c = json.loads(text)
    assert set(c) == {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey",
                      "Token", "Expiration"}
    assert (c["Code"], c["Type"]) == ("Success", "AWS-HMAC")
    assert re.match(r"ASIA[A-Z0-9]{16}$", c["AccessKeyId"])
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", c["Expiration"])
    assert imds_call(imds, "GET", "/latest/meta-data/placement/region", h)[1] == fake.region
    assert imds.fetches() == {"token": 1, "role": 1, "credentials": 1}

    imds.fail_next(1, status=500)
    assert imds_call(imds, "GET", creds, h)[0] == 500
    assert imds_call(imds, "GET", creds, h)[0] == 200
    imds.expire_tokens()
    assert imds_call(imds, "GET", creds, h)[0] == 401


def test_credential_rotation(fake):
    fake.set_static_accepted(False)
    imds = fake.start_imds(lifetime=1)
    first = imds_credentials(imds)
    assert imds_credentials(imds)["AccessKeyId"] == first["AccessKeyId"]   # still current

    def client(c):
        return ec2_client(fake, key=c["AccessKeyId"], secret=c["SecretAccessKey"],
                          token=c["Token"])
    assert states(client(first)) == {}
    assert fake.requests()[-1].access_key == first["AccessKeyId"]
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake, key=first["AccessKeyId"], secret=first["SecretAccessKey"],
                          token=first["Token"][:-4] + "AAAA"))
    assert error_of(e) == ("AuthFailure", 401)
    with pytest.raises(ClientError) as e:
        states(ec2_client(fake))                                    # the static keys
    assert error_of(e) == ("AuthFailure", 401)

    # Past its Expiration the set is refused, and a fetch gets a new one.
    expiry = time.mktime(time.strptime(first["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) \
        - time.timezone
    time.sleep(max(0.0, expiry - time.time()) + 0.05)
    with pytest.raises(ClientError) as e:
        states(client(first))
    assert error_of(e) == ("ExpiredToken", 400)
    fake.temp_grace = 5
    assert states(client(first)) == {}                              # within the grace
    fake.temp_grace = 0
    second = imds_credentials(imds)
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert second["Token"] != first["Token"]
    assert states(client(second)) == {}

    imds.expire_now()
    with pytest.raises(ClientError) as e:
        states(client(second))
    assert error_of(e)[0] == "ExpiredToken"
    third = imds_credentials(imds)
    assert third["AccessKeyId"] not in (first["AccessKeyId"], second["AccessKeyId"])
    assert states(client(third)) == {}
    assert imds.fetch_count("credentials") == 4 and len(imds.issued()) == 3


def test_standalone_imds_rotates_before_expiry():
    with FakeIMDS(lifetime=100) as imds:
        first = imds.current()
        assert imds.current() == first
        assert imds.rotate()["AccessKeyId"] != first["AccessKeyId"]
        assert len(imds.issued()) == 2
        # Within rotate_before of its Expiration, every fetch gets a new set.
        imds.rotate_before = 101
        assert imds.current()["AccessKeyId"] != imds.current()["AccessKeyId"]
        assert len(imds.issued()) == 4


# ---------------------------------------------------------------------------
# Listener processes and the script


@pytest.mark.skipif(not os.access(LISTENER, os.X_OK), reason="build/test/olb-listener not built")
def test_listener_per_instance(tmpdir_path):
    port = free_port()
    f = FakeEC2(launch_delay=0.1, terminate_delay=0.1, instance_port=port,
                listener_cmd=[LISTENER, "--host", "{ip}", "--port", "{port}", "--name", "{name}"],
                listener_log=tmpdir_path).start()
    try:
        ec2 = ec2_client(f)
        a, b = ids_of(launch(ec2, n=2, name="Client_Listener"))
        pids = wait_for(lambda: len(f.listener_pids()) == 2 and f.listener_pids(), 3,
                        what="two listeners")

        def health(ip):
            try:
                conn = http.client.HTTPConnection(ip, port, timeout=1)
                conn.request("GET", "/api/v1/healthCheck")
                resp = conn.getresponse()
                return resp.status == 200 and json.loads(resp.read())
            except OSError:
                return False
            finally:
                conn.close()
        body = wait_for(lambda: health("127.0.1.1"), 5, what="listener on 127.0.1.1")
        assert body["name"] == "Client_Listener"
        wait_for(lambda: health("127.0.1.2"), 5, what="listener on 127.0.1.2")

        ec2.terminate_instances(InstanceIds=[a])
        wait_for(lambda: not pid_alive(pids[a]), 5, what="listener of %s killed" % a)
        assert pid_alive(pids[b]) and list(f.listener_pids()) == [b]
        f.kill_listener(b)
        wait_for(lambda: not pid_alive(pids[b]), 5, what="listener of %s killed" % b)
        assert f.instance(b).state == "running"
    finally:
        f.stop()
    assert not any(pid_alive(p) for p in pids.values())


def test_script_mode():
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_ec2.py"), "--port", "0",
                             "--imds-port", "0", "--launch-delay", "0.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        out = b""
        deadline = time.monotonic() + 10
        while out.count(b"\n") < 2 and time.monotonic() < deadline and proc.poll() is None:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                out += os.read(proc.stdout.fileno(), 4096)
        lines = dict(line.split(" ", 1) for line in out.decode().splitlines())
        assert set(lines) == {"ec2", "imds"}, out
        c = SESSION.create_client(
            "ec2", endpoint_url=lines["ec2"], region_name="us-east-1",
            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=DEFAULT_SECRET,
            config=Config(retries={"total_max_attempts": 1}, proxies={}))
        ids = ids_of(launch(c))
        assert set(states(c)) == set(ids)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
