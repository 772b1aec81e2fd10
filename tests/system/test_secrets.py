"""Least knowledge (SPEC §2: "only the scaler ever holds cloud credentials;
proxies never see them"): after the fork each role keeps only the secrets
it uses.  The whole memory of every proxy, health and scheduler process,
read through /proc/<pid>/mem, holds neither AWS key, whether the keys came
through env:, file:, the AWS_* variables of the credential chain or the
configuration text itself, while the scaler still signs EC2 requests with
them; and the scaler, health and scheduler processes hold no API token
while the proxies still check it.  The scan is shown to find what is
there: the scaler holds the keys, a proxy the token.
"""
import os
import secrets

import pytest

from conftest import free_port, http_get, wait_for
from fake_ec2 import FakeEC2
from test_ec2 import LISTENER, ec2_olbd

REGION_MAX = 1 << 30        # larger mappings (ASan's shadow) are never data


def memory_holds(pid, needles):
    """The needles (bytes) found anywhere in the readable memory of pid."""
    found = set()
    keep = max(len(n) for n in needles)
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for line in maps:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            name = fields[5] if len(fields) > 5 else ""
            if "r" not in fields[1] or hi - lo > REGION_MAX or name in (
                    "[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            tail = b""
            for at in range(lo, hi, 1 << 20):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(1 << 20, hi - at))
                except OSError:
                    break
                data = tail + chunk
                found.update(n for n in needles if n in data)
                tail = data[-keep:]
    return found


def token_accepted(port, token):
    """True if the proxy took token (the call goes on to the payload checks:
    400), False if it refused it (403)."""
    status, _, body = http_get(port, "/api/v1/listener/create_user_listener",
                               timeout=5, method="POST", body=b"{}",
                               headers={"Content-Type": "application/json",
                                        "Authorization": "Bearer " + token})
    assert status in (400, 403), body
    return status == 400


@pytest.fixture
def keys():
    return {"ak": "AKIA" + secrets.token_hex(8).upper(),
            "sk": "olb-secret-" + secrets.token_urlsafe(24),
            "token": "olb-token-" + secrets.token_urlsafe(24)}


@pytest.fixture
def fake_for(tmpdir_path):
    made = []

    def make(keys):
        logs = os.path.join(tmpdir_path, "listeners")
        os.makedirs(logs, exist_ok=True)
        f = FakeEC2(access_key=keys["ak"], secret_key=keys["sk"],
                    instance_port=free_port(), launch_delay=0.3,
                    listener_cmd=[LISTENER, "--host", "{ip}", "--port", "{port}",
                                  "--name", "{name}"],
                    listener_log=logs)
        f.start()
        made.append(f)
        return f
    yield make
    for f in made:
        f.stop()
        assert f.internal_errors == []


def secret_file(tmpdir_path, name, value):
    path = os.path.join(tmpdir_path, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return path


def configure(how, keys, tmpdir_path):
    """(overrides, environment) giving olbd the keys and the token by how."""
    env = {"OLB_T_TOKEN": keys["token"]}
    extra = ['proxy.auth_tokens=["env:OLB_T_TOKEN"]']
    if how == "env":
        env.update(OLB_T_AK=keys["ak"], OLB_T_SK=keys["sk"])
        extra += ["provider.ec2.access_key_id=env:OLB_T_AK",
                  "provider.ec2.secret_access_key=env:OLB_T_SK"]
    elif how == "file":
        extra = ['proxy.auth_tokens=["file:%s"]'
                 % secret_file(tmpdir_path, "token", keys["token"]),
                 "provider.ec2.access_key_id=file:%s"
                 % secret_file(tmpdir_path, "ak", keys["ak"]),
                 "provider.ec2.secret_access_key=file:%s"
                 % secret_file(tmpdir_path, "sk", keys["sk"])]
        env = {}
    elif how == "literal":
        extra = ['proxy.auth_tokens=["%s"]' % keys["token"],
                 "provider.ec2.access_key_id=%s" % keys["ak"],
                 "provider.ec2.secret_access_key=%s" % keys["sk"]]
        env = {}
    else:   # the AWS credential chain's environment variables
        env.update(AWS_ACCESS_KEY_ID=keys["ak"], AWS_SECRET_ACCESS_KEY=keys["sk"])
    return extra, env


@pytest.mark.parametrize("how", ["env", "file", "aws-environment", "literal"])
def test_each_role_keeps_only_its_secrets(olbd_factory, fake_for, tmpdir_path, keys,
                                          how):
    if os.environ.get("OLB_ASAN") and how in ("env", "aws-environment"):
        pytest.skip("the sanitizer runtime keeps its own copy of the initial "
                    "environment, out of olbd's reach")
    fake = fake_for(keys)
    extra, env = configure(how, keys, tmpdir_path)
    olbd = ec2_olbd(olbd_factory, fake, tmpdir_path, static=False, env=env,
                    extra=extra)
    # The scaler signs with the keys: its first listing reaches EC2.
    wait_for(lambda: fake.requests(), 10, what="a signed request from the scaler")
    assert all(q.signature_ok for q in fake.requests())
    assert {q.access_key for q in fake.requests()} == {keys["ak"]}
    assert token_accepted(olbd.port, keys["token"])
    assert not token_accepted(olbd.port, keys["token"] + "x")

    aws = [keys["ak"].encode(), keys["sk"].encode()]
    token = [keys["token"].encode()]
    roles = {t: olbd.worker_pids(t) for t in
             ("olbd: proxy", "olbd: scaler", "olbd: health", "olbd: scheduler")}
    assert len(roles["olbd: proxy"]) == olbd.nworkers and all(roles.values())
    for title in ("olbd: proxy", "olbd: health", "olbd: scheduler"):
        for pid in roles[title]:
            assert memory_holds(pid, aws) == set(), "%s %d holds an AWS key" % (title, pid)
    for title in ("olbd: scaler", "olbd: health", "olbd: scheduler"):
        for pid in roles[title]:
            assert memory_holds(pid, token) == set(), "%s %d holds the token" % (title, pid)
    # The scan finds what is there: the scaler holds the keys, a proxy the token.
    (scaler,) = roles["olbd: scaler"]
    assert memory_holds(scaler, aws) == set(aws)
    assert memory_holds(roles["olbd: proxy"][0], token) == set(token)
