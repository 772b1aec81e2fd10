"""The scheduler (SPEC §9): the daily fleet lifecycle, exactly once, in any
time zone.  The test build's clock (OLB_TEST_CLOCK="REAL_MS:SIM_MS:SPEED",
common/schedule.h) makes the scheduler and olbctl live through simulated
days in seconds, so these tests run the real olbd, scaler, process
provider and olb-listener instances through whole days: launches, the
day's placements, teardown, reset, and the next morning."""
import calendar
import json
import os
import random
import signal
import subprocess
import time

import pytest

from conftest import OLBCTL, OLBD, cluster_pids, wait_for
from test_scaler import P, place, records, scaler_olbd

ASAN = bool(os.environ.get("OLB_ASAN"))


def ist(y, mo, d, h=0, mi=0):
    """Epoch ms of a wall-clock time in Asia/Kolkata (UTC+05:30, no DST)."""
    return (calendar.timegm((y, mo, d, h, mi, 0)) - 19800) * 1000


def utc_ms(y, mo, d, h=0, mi=0):
    return calendar.timegm((y, mo, d, h, mi, 0)) * 1000


class Clock:
    """A simulated clock: shows sim0 now and runs speed times faster."""

    def __init__(self, sim0, speed):
        self.real0 = int(time.time() * 1000)
        self.sim0, self.speed = sim0, speed

    def env(self):
        return {"OLB_TEST_CLOCK": "%d:%d:%d" % (self.real0, self.sim0, self.speed)}

    def now(self):
        return self.sim0 + (time.time() * 1000 - self.real0) * self.speed

    def real_s(self, sim_ms):
        """Real seconds until the clock shows sim_ms."""
        return max(0.0, (sim_ms - self.now()) / self.speed / 1000.0)


def jobs(up="0 6 * * *", down="0 18 * * *", up_extra="", down_extra=""):
    return ('scheduler.jobs=( { name = "launch_initial"; cron = "%s"; '
            'action = "fleet_up"; %s }, { name = "terminate_all"; cron = "%s"; '
            'action = "fleet_down"; %s } )' % (up, up_extra, down, down_extra))


def sched_olbd(olbd_factory, clock, extra=(), **kw):
    return scaler_olbd(olbd_factory, env=clock.env(), extra=[
        "scaling.initial_instances=2", "scaling.drain_timeout_ms=300",
        "health.interval_ms=200", "health.pending_interval_ms=100",
        "health.timeout_ms=150"] + list(extra), **kw)


def runs(r, job):
    """The run records of job, by scheduled ms."""
    return {int(k): json.loads(v) for k, v in r.hgetall(P + "schedule:runs:" + job).items()}


def sched_ctl(o, *args, check=True):
    out = subprocess.run([OLBCTL, "-c", o.conf] + o.args() + list(args),
                         capture_output=True, text=True, timeout=30, env=o.env)
    if check:
        assert out.returncode == 0, out.stderr
    return out


def finished(events, job, at, timeout):
    """Wait for schedule.finished of job's run at at (ms)."""
    return events.wait("schedule.finished", timeout,
                       lambda e: e["job"] == job and e["scheduled"] == at)[0]


def day_is_clean(r, cluster):
    """After a teardown: no instance process, and the day's state at zero."""
    assert cluster_pids(cluster) == []
    live = [k for k, v in records(r).items() if v["state"] != "terminated"]
    assert live == []
    for key in ("master_mapping", "client_mapping", "client_master",
                "instance_user_counts", "client_master_tracking", "name_seq"):
        assert r.hlen(P + key) == 0, key
    g = r.hgetall(P + "global_state")
    assert int(g.get("masterCount", 0)) == 0 and int(g.get("clientCount", 0)) == 0
    assert r.keys(P + "client_spread:*") == [] and r.keys(P + "client_list:*") == []
    assert r.keys(P + "instance_accounts:*") == []


def test_started_inside_the_day_then_after_teardown(olbd_factory, redis_server, events):
    """olb started at 10:00 brings the fleet up at once (the launch at 09:00
    fell due while it was away); started again at 23:58 after a crash, it
    terminates what the crash left and resets the day."""
    r = redis_server.client()
    clock = Clock(ist(2026, 12, 7, 10, 0), 1)
    o = sched_olbd(olbd_factory, clock, extra=[jobs("0 9 * * *", "55 23 * * *")])
    e = finished(events, "launch_initial", ist(2026, 12, 7, 9, 0), 20)
    assert e["how"] == "catch-up"
    names = sorted(v["serverName"] for v in records(r).values() if v["state"] == "running")
    assert names == ["Client_Listener-1", "Master_Listener-1"]
    assert place(o.port, "acct-1")[0] == 200
    assert place(o.port, "acct-2", master="acct-1")[0] == 200
    assert len(cluster_pids(o.cluster)) == 2
    # a crash: every olbd process gone at once, the instances left running
    for pid in list(o.workers()) + [o.pid]:
        os.kill(pid, signal.SIGKILL)
    o.proc.wait(5)
    assert len(cluster_pids(o.cluster)) == 2
    clock2 = Clock(ist(2026, 12, 7, 23, 58), 1)
    o2 = sched_olbd(olbd_factory, clock2, cluster=o.cluster,
                    extra=[jobs("0 9 * * *", "55 23 * * *")])
    o.check = False
    e = finished(events, "terminate_all", ist(2026, 12, 7, 23, 55), 30)
    assert e["how"] == "catch-up"
    day_is_clean(r, o2.cluster)
    assert r.hlen(P + "archive:2026-12-07:master_mapping") == 1
    assert r.hlen(P + "archive:2026-12-07:client_mapping") == 1
    assert 0 < r.pttl(P + "archive:2026-12-07:master_mapping") <= 7 * 86400000
    # nothing missed: the launch ran, the teardown was caught up
    assert events.of_type("schedule.missed") == []
    assert [v["status"] for v in runs(r, "launch_initial").values()] == ["finished"]
    assert [v["status"] for v in runs(r, "terminate_all").values()] == ["finished"]
