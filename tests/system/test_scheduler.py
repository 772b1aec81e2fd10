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
import socket
import subprocess
import time

import pytest

from conftest import OLBCTL, Olbd, cluster_pids, wait_for
from test_scaler import P, place, records, scaler_olbd

ASAN = bool(os.environ.get("OLB_ASAN"))
DAY_S = int(os.environ.get("OLB_SCHED_DAY_S", "7"))  # real seconds per simulated day


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
    assert r.keys(P + "client_spread:*") == [] and r.keys(P + "tracking_pending:*") == []
    assert list(r.hkeys(P + "client_spread")) in ([], ["\nlayout"])
    assert not r.exists(P + "tracking_due")
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


def lease_pid(r, duty):
    """The pid of the process holding duty's lease ("host:pid#fence")."""
    token = r.get(P + "lease:" + duty)
    return int(token.split(":")[-1].split("#")[0]) if token else None


def kill_holder(r, duty):
    pid = lease_pid(r, duty)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pid


def test_thirty_days(olbd_factory, redis_server, events):
    """30 simulated days (7 s each; 8 days under ASan) with the process
    provider: each day exactly one launch_initial and one terminate_all,
    the fleet up between them with accounts placed as Master_Listener-1 and
    Client_Listener-1, and after each teardown no instance process and
    nothing left of the day.  From day 2 a second olbd shares the Redis
    and the cluster; on a third of the days the holder of the scheduler or
    of the scaler lease is killed with SIGKILL in the middle of a run."""
    days = 8 if ASAN else 30
    day_ms = 86400000
    clock = Clock(ist(2026, 12, 1, 0, 0), 86400 // DAY_S)
    rnd = random.Random(20261206)
    r = redis_server.client()
    # A killed holder's lease expires within lease_ms and the others try
    # every lease_ms / 3: at the 3 s of the other tests a run taken over
    # could start after the 3.5 s (12 simulated hours) before the day's
    # teardown overtakes it.  At 1 s it has more than 2 s to spare.
    lease = ["daemon.lease_ms=1000"]
    a = sched_olbd(olbd_factory, clock, extra=[jobs()] + lease)
    hosts = [a]
    chaos = {d: rnd.choice(["scheduler-up", "scheduler-down", "scaler-up",
                            "scaler-down", "scheduler-midday"])
             for d in rnd.sample(range(1, days), max(3, days // 3))}
    chaos[1] = "scheduler-down"     # at least one run resumed, in every build
    killed = []
    for day in range(days):
        d0 = clock.sim0 + day * day_ms
        up_at, down_at = d0 + 6 * 3600000, d0 + 18 * 3600000
        if day == 2:
            hosts.append(sched_olbd(olbd_factory, clock, cluster=a.cluster,
                                    extra=[jobs()] + lease))
        what = chaos.get(day, "")
        if what.endswith("-up"):
            events.wait("schedule.started", clock.real_s(up_at) + 8,
                        lambda e: e["job"] == "launch_initial" and e["scheduled"] == up_at)
            killed.append((day, what, kill_holder(r, what.split("-")[0])))
        e = finished(events, "launch_initial", up_at, clock.real_s(up_at) + 15)
        running = {v["serverName"] for v in records(r).values() if v["state"] == "running"}
        assert {"Master_Listener-1", "Client_Listener-1"} <= running, (day, running)
        port = hosts[day % len(hosts)].port
        for i in range(3):
            assert place(port, "m%d-%d" % (day, i))[0] == 200
        for i in range(2):
            assert place(port, "c%d-%d" % (day, i), master="m%d-0" % day)[0] == 200
        # an account of every day: a proxy's cache of yesterday's placement
        # (emptied by the reset's routing message) would send it to an
        # instance that is gone
        for h in hosts:
            for _ in range(3):
                assert place(h.port, "steady")[0] == 200, day
        master1 = [k for k, v in records(r).items()
                   if v["serverName"] == "Master_Listener-1" and v["state"] == "running"]
        ports = [(v["ip"], v["port"]) for v in records(r).values() if v["state"] == "running"]
        assert r.hget(P + "master_mapping", "steady") in master1
        assert r.hlen(P + "master_mapping") == 4 and r.hlen(P + "client_mapping") == 2
        if what == "scheduler-midday":
            killed.append((day, what, kill_holder(r, "scheduler")))
        if what.endswith("-down"):
            events.wait("schedule.started", clock.real_s(down_at) + 8,
                        lambda e: e["job"] == "terminate_all" and e["scheduled"] == down_at)
            killed.append((day, what, kill_holder(r, what.split("-")[0])))
        finished(events, "terminate_all", down_at, clock.real_s(down_at) + 15)
        day_is_clean(r, a.cluster)
        for addr in ports:     # no instance listens any more
            with pytest.raises(OSError):
                socket.create_connection(addr, timeout=1).close()
        assert r.hlen(P + "archive:%s:master_mapping" % time.strftime(
            "%Y-%m-%d", time.gmtime((d0 + 19800000) / 1000))) == 4
    # exactly one run of each job per day, and nothing failed or missed
    first = clock.sim0 + 6 * 3600000
    for job, offset in (("launch_initial", 0), ("terminate_all", 12 * 3600000)):
        recs = {at: v for at, v in runs(r, job).items() if at >= first}
        assert sorted(recs) == [first + offset + d * day_ms for d in range(days)]
        assert {v["status"] for v in recs.values()} == {"finished"}, recs
        done = [(e["job"], e["scheduled"]) for e in events.of_type("schedule.finished")
                if e["job"] == job and e["scheduled"] >= first]
        assert len(done) == len(set(done)) == days
    assert events.of_type("schedule.failed") == []
    assert events.of_type("schedule.missed") == []
    assert len(killed) == len(chaos), killed
    if os.environ.get("OLB_SCHED_STATS"):
        for job in ("launch_initial", "terminate_all"):
            d = sorted(v["durationMs"] / clock.speed for v in runs(r, job).values())
            print(job, "real ms: median %.0f max %.0f" % (d[len(d) // 2], d[-1]), killed)
    # a run whose holder was killed in the middle was resumed, not rerun
    resumed = [e for e in events.of_type("schedule.started") if e.get("resumed")]
    mid_run = [k for k in killed if k[1].startswith("scheduler-") and
               not k[1].endswith("midday")]
    assert mid_run and len(resumed) >= len(mid_run), (resumed, killed)


def quiet_olbd(olbd_factory, clock, extra=(), **kw):
    """An olbd whose fleet_up asks for no instance: the runs are only
    records, fast enough for a clock that runs a day in seconds."""
    return sched_olbd(olbd_factory, clock, extra=["scaling.initial_instances=0"] +
                      list(extra), **kw)


# Daylight saving days of 2026: (zone, local start of the day before,
# the transition day's runs of "30 1 * * *" and "30 2 * * *" in UTC).
DST = [
    # spring forward at 02:00 EST: 01:30 EST runs; 02:30 is in the gap and
    # runs at its end, 03:00 EDT
    ("America/New_York", (2026, 3, 7), -5, [(2026, 3, 8, 6, 30), (2026, 3, 8, 7, 0)]),
    # fall back at 02:00 EDT: 01:30 repeats and runs at its first (EDT)
    ("America/New_York", (2026, 10, 31), -4, [(2026, 11, 1, 5, 30), (2026, 11, 1, 7, 30)]),
    # spring forward at 01:00 GMT: 01:30 is in the gap, runs at 02:00 BST
    ("Europe/London", (2026, 3, 28), 0, [(2026, 3, 29, 1, 0), (2026, 3, 29, 1, 30)]),
    # fall back at 02:00 BST: 01:30 repeats, runs at its first (BST)
    ("Europe/London", (2026, 10, 24), 1, [(2026, 10, 25, 0, 30), (2026, 10, 25, 2, 30)]),
]


@pytest.mark.parametrize("zone,before,offset,want", DST,
                         ids=["%s-%s" % (d[0].split("/")[1], d[1][1]) for d in DST])
def test_daylight_saving_days(olbd_factory, redis_server, events, zone, before, offset, want):
    """On the gap and overlap days of two zones each job runs exactly once,
    at the time docs/DECISIONS.md ("Scheduler") gives."""
    r = redis_server.client()
    # the day before at 12:00 local, the clock running a day in 3 s
    start = utc_ms(*before, 12) - offset * 3600000
    clock = Clock(start, 28800)
    quiet_olbd(olbd_factory, clock, extra=[
        "scheduler.timezone=\"%s\"" % zone, jobs("30 1 * * *", "30 2 * * *")])
    up, down = (utc_ms(*t) for t in want)
    finished(events, "terminate_all", down, clock.real_s(down) + 10)
    # no other run in the two hours around the transition
    near = lambda at: abs(at - up) < 4 * 3600000
    assert [at for at in runs(r, "launch_initial") if near(at)] == [up]
    assert [at for at in runs(r, "terminate_all") if near(at)] == [down]
    assert events.of_type("schedule.missed") == []
    assert events.of_type("schedule.failed") == []


def test_default_jobs_in_kolkata(redis_server, tmpdir_path):
    """The default jobs, 23:52 and 23:55 in Asia/Kolkata (no daylight
    saving), run at 18:22 and 18:25 UTC; olbctl shows both times, with a
    holiday skipped."""
    clock = Clock(ist(2026, 12, 7, 10, 0), 1)
    # olbctl's settings only; the default jobs, as etc/olbd.conf writes them
    o = Olbd(tmpdir_path, redis_server.port, env=clock.env(),
             extra=[jobs("52 23 * * *", "55 23 * * *")])
    out = json.loads(sched_ctl(o, "schedule", "--json").stdout)
    assert out["timezone"] == "Asia/Kolkata" and out["lease"] is None
    by = {j["job"]: j for j in out["jobs"]}
    assert by["launch_initial"]["nextUtc"] == "2026-12-07 18:22 UTC"
    assert by["launch_initial"]["nextLocal"] == "2026-12-07 23:52 IST"
    assert by["terminate_all"]["nextUtc"] == "2026-12-07 18:25 UTC"
    assert by["terminate_all"]["next"] == utc_ms(2026, 12, 7, 18, 25)
    assert by["terminate_all"]["last"] is None
    o2 = Olbd(tmpdir_path, redis_server.port, env=clock.env(), extra=[
        jobs("52 23 * * *", "55 23 * * *", up_extra='skip_dates = [ "2026-12-07", "2026-12-08" ];')])
    by = {j["job"]: j for j in json.loads(sched_ctl(o2, "schedule", "--json").stdout)["jobs"]}
    assert by["launch_initial"]["nextUtc"] == "2026-12-09 18:22 UTC"
    assert by["launch_initial"]["holidays"] == 2
    table = sched_ctl(o2, "schedule").stdout
    assert "time zone Asia/Kolkata" in table
    assert "launch_initial   fleet_up   52 23 * * *    2026-12-09 23:52 IST" in table


def test_missed_runs_are_recorded_not_replayed(olbd_factory, redis_server, events):
    """olb away from Dec 7 10:00 to Dec 10 10:00: the teardowns and launches
    in between are recorded as missed (and published), only the day's
    launch is caught up, and the fleet of Dec 7 carries on."""
    r = redis_server.client()
    o = sched_olbd(olbd_factory, Clock(ist(2026, 12, 7, 10, 0), 1),
                   extra=[jobs("0 9 * * *", "55 23 * * *")])
    finished(events, "launch_initial", ist(2026, 12, 7, 9, 0), 20)
    assert place(o.port, "acct-1")[0] == 200
    o.stop()
    o.check = False
    o2 = sched_olbd(olbd_factory, Clock(ist(2026, 12, 10, 10, 0), 1), cluster=o.cluster,
                    extra=[jobs("0 9 * * *", "55 23 * * *")])
    e = finished(events, "launch_initial", ist(2026, 12, 10, 9, 0), 20)
    assert e["how"] == "catch-up"
    wait_for(lambda: len(events.of_type("schedule.missed")) == 5, 5, what="5 missed")
    missed = sorted((e["job"], e["scheduled"]) for e in events.of_type("schedule.missed"))
    assert missed == sorted(
        [("terminate_all", ist(2026, 12, d, 23, 55)) for d in (7, 8, 9)] +
        [("launch_initial", ist(2026, 12, d, 9, 0)) for d in (8, 9)])
    recs = runs(r, "terminate_all")
    assert sorted(recs) == [ist(2026, 12, d, 23, 55) for d in (7, 8, 9)]
    assert {v["status"] for v in recs.values()} == {"missed"}
    # the day's placements are still there: nothing was torn down
    assert r.hget(P + "master_mapping", "acct-1") is not None
    assert place(o2.port, "acct-1")[0] == 200


def write_conf(path, jobs_text, extra=""):
    """etc/olbd.conf with its jobs replaced."""
    from conftest import CONF
    with open(CONF) as f:
        text = f.read()
    start = text.index("\tjobs = (")
    end = text.index(");", start) + 2
    with open(path, "w") as f:
        f.write(text[:start] + "\tjobs = (" + ", ".join(jobs_text) + ");" +
                text[end:] + extra)


def job_text(name, cron, action, extra=""):
    return ['{ name = "%s"; cron = "%s"; action = "%s"; %s }' % (name, cron, action, extra)]


def test_reload_changes_jobs_without_losing_a_run(olbd_factory, redis_server, events,
                                                  tmpdir_path):
    """A reload moves the teardown from 18:00 to 12:00 and makes Dec 2 a
    holiday (a file of dates) for the launch: the 12:00 teardown runs once,
    Dec 2 has no launch, Dec 3 has.  A reload in the middle of a teardown
    leaves it to the next generation, which resumes it: one run."""
    r = redis_server.client()
    conf = os.path.join(tmpdir_path, "olbd.conf")
    holidays = os.path.join(tmpdir_path, "holidays")
    with open(holidays, "w") as f:
        f.write("# exchange holidays\n2026-12-02\n")
    write_conf(conf, job_text("launch_initial", "0 6 * * *", "fleet_up") +
               job_text("terminate_all", "0 18 * * *", "fleet_down"))
    clock = Clock(ist(2026, 12, 1, 4, 0), 86400 // 8)
    o = sched_olbd(olbd_factory, clock, conf=conf, daily_jobs=True)
    d1 = ist(2026, 12, 1)
    finished(events, "launch_initial", d1 + 6 * 3600000, clock.real_s(d1 + 6 * 3600000) + 10)
    write_conf(conf, job_text("launch_initial", "0 6 * * *", "fleet_up",
                              'skip_file = "%s";' % holidays) +
               job_text("terminate_all", "0 12 * * *", "fleet_down"))
    o.signal(signal.SIGHUP)
    events.wait("config.reloaded", 5)
    noon = d1 + 12 * 3600000
    events.wait("schedule.started", clock.real_s(noon) + 10,
                lambda e: e["job"] == "terminate_all" and e["scheduled"] == noon)
    o.signal(signal.SIGHUP)     # in the middle of the teardown
    finished(events, "terminate_all", noon, 20)
    d3 = ist(2026, 12, 3)
    finished(events, "launch_initial", d3 + 6 * 3600000, clock.real_s(d3 + 6 * 3600000) + 10)
    assert sorted(runs(r, "launch_initial")) == [d1 + 6 * 3600000, d3 + 6 * 3600000]
    assert noon in runs(r, "terminate_all")
    assert d1 + 18 * 3600000 not in runs(r, "terminate_all")
    starts = [e for e in events.of_type("schedule.started")
              if e["job"] == "terminate_all" and e["scheduled"] == noon]
    assert [bool(e.get("resumed")) for e in starts] == [False, True]
    done = [e for e in events.of_type("schedule.finished") if e["scheduled"] == noon]
    assert len(done) == 1
    assert events.of_type("schedule.failed") == []
    assert events.of_type("schedule.missed") == []


def test_olbctl_schedule_run(olbd_factory, redis_server, events):
    """olbctl schedule run JOB: a manual run, recorded like a scheduled one
    and shown as the job's last run."""
    r = redis_server.client()
    clock = Clock(ist(2026, 12, 7, 12, 0), 1)
    o = sched_olbd(olbd_factory, clock, extra=[jobs("0 9 * * *", "55 23 * * *")])
    finished(events, "launch_initial", ist(2026, 12, 7, 9, 0), 20)
    assert place(o.port, "acct-1")[0] == 200
    out = sched_ctl(o, "schedule", "run", "terminate_all")
    assert "claimed by the scheduler" in out.stdout
    e = events.wait("schedule.finished", 20, lambda e: e["job"] == "terminate_all")[0]
    assert e["how"] == "manual"
    day_is_clean(r, o.cluster)
    (rec,) = runs(r, "terminate_all").values()
    assert rec["how"] == "manual" and rec["status"] == "finished"
    last = {j["job"]: j for j in json.loads(
        sched_ctl(o, "schedule", "--json").stdout)["jobs"]}["terminate_all"]["last"]
    assert last["status"] == "finished" and last["host"]
    assert sched_ctl(o, "schedule", "run", "nosuchjob", check=False).returncode == 1
    assert sched_ctl(o, "schedule", "bogus", check=False).returncode == 2


def test_teardown_that_cannot_finish_fails_and_resets_nothing(olbd_factory, redis_server,
                                                              events):
    """A teardown whose instances are still there at scheduler.run_timeout_ms
    (an account keeps the master draining: scaling.drain_timeout_ms is long)
    fails with the survivors named, and resets nothing: the placements and
    counts of live instances stay consistent (olbctl check at teardown)."""
    r = redis_server.client()
    o = sched_olbd(olbd_factory, Clock(ist(2026, 12, 7, 23, 50), 10), extra=[
        jobs("0 9 * * *", "51 23 * * *"), "scheduler.run_timeout_ms=3000",
        "scaling.drain_timeout_ms=60000"])
    finished(events, "launch_initial", ist(2026, 12, 7, 9, 0), 20)
    assert place(o.port, "acct-1")[0] == 200
    e = events.wait("schedule.failed", 30, lambda e: e["job"] == "terminate_all")[0]
    assert e["survivors"] == ["Master_Listener-1"], e
    assert "1 instance(s)" in e["error"]
    (rec,) = runs(r, "terminate_all").values()
    assert rec["status"] == "failed" and rec["detail"] == e["error"]
    assert r.hget(P + "master_mapping", "acct-1") is not None
    assert r.hlen(P + "name_seq") == 2
