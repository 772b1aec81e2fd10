"""olbd -t: the shipped configuration passes; each broken one fails with its exact message."""
import os
import subprocess

import pytest

from conftest import CONF, OLBD

# (name, file text, extra args, expected stderr lines with {f} for the file's path)
BROKEN = [
    ("syntax error", "proxy: {\n  workers = ;\n};\n", [],
     ["{f}:2: syntax error"]),
    ("unknown key", "proxy: {\n  workers = 2;\n  wrokers = 3;\n};\n", [],
     ["{f}:3: unknown setting 'proxy.wrokers'"]),
    ("unknown group", "\nbogus = 1;\n", [],
     ["{f}:2: unknown setting 'bogus'"]),
    ("wrong type", "proxy: {\n  workers = \"two\";\n};\n", [],
     ["{f}:2: proxy.workers: expected an integer"]),
    ("out of range", "proxy: {\n  workers = 999;\n};\n", [],
     ["{f}:2: proxy.workers: 999 is out of range (0..256)"]),
    ("bad enum", "log: {\n  level = \"loud\";\n};\n", [],
     ["{f}:2: log.level: 'loud' is not one of debug, info, warn, error, notify"]),
    ("bad address", "proxy: {\n  listen = \"nowhere\";\n};\n", [],
     ["{f}:2: proxy.listen: 'nowhere' is not host:port"]),
    ("ec2 without region", "provider: {\n  type = \"ec2\";\n  ec2: { ami_id = \"ami-1\"; "
     "instance_type = \"t3.small\"; subnet_id = \"subnet-1\"; security_group = \"sg-1\"; };\n"
     "  cluster = \"prod\";\n};\n",
     [], ["{f}:2: provider.ec2.region: required when provider.type is \"ec2\""]),
    ("ec2 on the default cluster name", "provider: {\n  type = \"ec2\";\n  ec2: { "
     "region = \"us-east-1\"; ami_id = \"ami-1\"; instance_type = \"t3.small\"; "
     "subnet_id = \"subnet-1\"; security_group = \"sg-1\"; };\n};\n",
     [], ["{f}:2: provider.cluster: required when provider.type is \"ec2\" (a name of this "
          "deployment's own, not the default \"olb\")"]),
    ("static without masters", "provider: {\n  type = \"static\";\n};\n", [],
     ["{f}:2: provider.static.masters: at least one master is required when "
      "provider.type is \"static\""]),
    ("health timeout not below interval",
     "health: {\n  interval_ms = 3000;\n  timeout_ms = 3000;\n};\n", [],
     ["{f}:3: health.timeout_ms: 3000 must be less than health.interval_ms (3000)"]),
    ("threshold above maximum", "scaling: {\n  master_threshold = 60;\n};\n", [],
     ["{f}:2: scaling.master_threshold: 60 must not exceed scaling.max_users_per_master (50)"]),
    ("bad time zone", "scheduler: {\n  timezone = \"Mars/Olympus_Mons\";\n};\n", [],
     ["{f}:2: scheduler.timezone: 'Mars/Olympus_Mons' is not a known time zone"]),
    ("bad cron expression", "scheduler: {\n  jobs = (\n    { name = \"up\"; "
     "cron = \"61 9 * * *\"; action = \"fleet_up\"; }\n  );\n};\n", [],
     ["{f}:3: scheduler.jobs[0].cron: minute 61 is out of range (0..59)"]),
    ("unknown job action", "scheduler: {\n  jobs = (\n    { name = \"up\"; "
     "cron = \"@daily\"; action = \"fleet_sideways\"; }\n  );\n};\n", [],
     ["{f}:3: scheduler.jobs[0].action: 'fleet_sideways' is not one of fleet_up, "
      "fleet_down"]),
    ("bad holiday", "scheduler: {\n  jobs = (\n    { name = \"up\"; cron = \"0 9 * * 1-5\";"
     "\n      action = \"fleet_up\"; skip_dates = [ \"2026-02-30\" ]; }\n  );\n};\n", [],
     ["{f}:4: scheduler.jobs[0].skip_dates[0]: expected a date as \"YYYY-MM-DD\""]),
    ("unknown override", "", ["-o", "proxy.foo=1"],
     ["-o proxy.foo: unknown setting"]),
    ("bad override value", "", ["-o", "redis.port=70000"],
     ["-o redis.port: 70000 is out of range (1..65535)"]),
    ("env secret unset", "redis: {\n  password = \"env:OLB_TEST_SURELY_UNSET\";\n};\n", [],
     ["{f}:2: redis.password: environment variable OLB_TEST_SURELY_UNSET is not set"]),
    ("several errors at once", "proxy: {\n  workers = -1;\n  max_body = \"big\";\n};\n", [],
     ["{f}:2: proxy.workers: -1 is out of range (0..256)",
      "{f}:3: proxy.max_body: expected an integer"]),
]


def olbd_t(path, extra=()):
    return subprocess.run([OLBD, "-t", "-c", path] + list(extra), capture_output=True,
                          text=True, timeout=10)


def test_shipped_configuration_is_valid():
    out = olbd_t(CONF)
    assert (out.returncode, out.stdout, out.stderr) == (0, "configuration OK\n", "")


def test_version():
    out = subprocess.run([OLBD, "-v"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith("olbd ")


@pytest.mark.parametrize("name,text,extra,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_configuration(tmpdir_path, name, text, extra, expected):
    path = os.path.join(tmpdir_path, "broken.conf")
    with open(path, "w") as f:
        f.write(text)
    out = olbd_t(path, extra)
    assert out.returncode == 1, out
    assert out.stdout == ""
    assert out.stderr.splitlines() == [e.format(f=path) for e in expected]


def test_world_readable_secret_file(tmpdir_path):
    secret = os.path.join(tmpdir_path, "redis.pw")
    with open(secret, "w") as f:
        f.write("hunter2-secret\n")
    os.chmod(secret, 0o644)
    path = os.path.join(tmpdir_path, "olbd.conf")
    with open(path, "w") as f:
        f.write("redis: {\n  password = \"file:%s\";\n};\n" % secret)
    out = olbd_t(path)
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        "%s:2: redis.password: secret file %s is readable by other users (mode 0644)"
        % (path, secret)]
    assert "hunter2" not in out.stderr
    os.chmod(secret, 0o600)
    assert olbd_t(path).returncode == 0


def test_override_fixes_a_bad_value(tmpdir_path):
    path = os.path.join(tmpdir_path, "olbd.conf")
    with open(path, "w") as f:
        f.write("proxy: {\n  workers = 999;\n};\n")
    assert olbd_t(path).returncode == 1
    assert olbd_t(path, ["-o", "proxy.workers=2"]).returncode == 0


def test_missing_file(tmpdir_path):
    path = os.path.join(tmpdir_path, "absent.conf")
    out = olbd_t(path)
    assert out.returncode == 1
    assert out.stderr.splitlines() == ["%s: cannot read: No such file or directory" % path]
