"""The admin listener (SPEC §10): /metrics exact for the whole host across
proxy workers, worker kills and reloads, checked by promtool and scraped by a
real Prometheus; /status and /status.json; the bearer token."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port, http_get, pid_alive, wait_for
from test_listener_api import TOKEN, Fleet, call, client, master

CREATE = "/api/v1/listener/create_user_listener"
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$')


def get(port, path, token=None, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": "Bearer " + token} if token else {}
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def scrape(port):
    status, headers, body = get(port, "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("#") or not line:
            continue
        m = LINE.match(line)
        assert m, line
        out[m.group(1)] = float(m.group(2))
    return out, body


def counters(sample):
    """The counter and histogram series (those that must never go down)."""
    return {k: v for k, v in sample.items()
            if re.match(r"olb_\w+(_total|_bucket|_count|_sum)\b", k)}


def req(route, code):
    return 'olb_http_requests_total{route="%s",code="%s"}' % (route, code)


def settle(port, want=None, timeout=8):
    """The scrape once every flush of the proxies has landed: two scrapes a
    flush period apart with the same request counts (the health worker
    probes on meanwhile)."""
    last = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        s, _ = scrape(port)
        c = {k: v for k, v in counters(s).items()
             if k.startswith(("olb_http_", "olb_placements", "olb_upstream"))}
        if c == last and (want is None or want(s)):
            return s
        last = c
        time.sleep(1.2)
    raise AssertionError("metrics did not settle: %s" % last)


def send_mix(o, tally):
    """A known mix of requests; tally counts (route, class) as answered."""
    def note(route, status):
        key = (route, "%dxx" % (status // 100))
        tally[key] = tally.get(key, 0) + 1

    for _ in range(7):
        note("health", http_get(o.port)[0])
    for _ in range(5):
        note("test", http_get(o.port, "/api/v1/test")[0])
    for _ in range(4):
        note("other", http_get(o.port, "/nowhere")[0])
    for _ in range(3):
        note("create", call(o.port, CREATE, master("m1"), token=None)[0])    # 401
    for _ in range(2):
        note("create", call(o.port, CREATE, None, raw='{"actid": ')[0])      # 400
    for actid in ("m1", "m2", "m1", "m2", "m1"):
        note("create", call(o.port, CREATE, master(actid))[0])               # 200
    for _ in range(3):
        status, _, body = call(o.port, CREATE, master("m3"))                 # 503
        assert status == 503 and b"No instance available" in body
        note("create", status)
    for actid in ("c1", "c2", "c1"):
        status = call(o.port, CREATE, client(actid, "m1"))[0]                # 502
        assert status == 502
        note("create", status)


def expect_tally(base, now, tally):
    for route in ("health", "test", "create", "remove", "other"):
        for cls in ("1xx", "2xx", "3xx", "4xx", "5xx"):
            key = req(route, cls)
            got = now.get(key, 0) - base.get(key, 0)
            assert got == tally.get((route, cls), 0), (key, got, tally)


@pytest.fixture
def admin(olbd_factory):
    o = olbd_factory(workers=3, admin=True, extra=[
        'proxy.auth_tokens=["%s"]' % TOKEN,
        "scaling.max_users_per_master=2", "scaling.master_threshold=2",
        "scaling.max_users_per_client=4", "scaling.client_threshold=4",
        "scaling.max_masters=1", "scaling.max_clients=1",
        "proxy.upstream_timeout_ms=800",
        "health.fall=1000"]).start()
    fleet = Fleet(o)
    fleet.add("master", "Master_Listener-1")
    # A client instance nobody listens on: every request it gets is a 502.
    fleet.ctl("instance", "add", "--role", "client", "--addr",
              "127.0.0.1:%d" % free_port(), "--name", "Client_Listener-1")
    yield o, fleet
    fleet.stop()


def test_metrics_exact_through_kill_and_reload(admin, tmpdir_path):
    o, fleet = admin
    base = settle(o.admin_port)
    tally = {}
    send_mix(o, tally)
    now = settle(o.admin_port)
    expect_tally(base, now, tally)
    placed = lambda s, role, result: s.get(
        'olb_placements_total{role="%s",result="%s"}' % (role, result), 0)
    d = {(r, k): placed(now, r, k) - placed(base, r, k)
         for r in ("master", "client") for k in ("placed", "cached", "no_capacity",
                                                  "unavailable")}
    assert d[("master", "placed")] + d[("master", "cached")] == 5
    assert d[("master", "placed")] >= 2
    assert d[("master", "no_capacity")] == 3
    assert d[("client", "placed")] + d[("client", "cached")] == 3
    assert d[("master", "unavailable")] == d[("client", "unavailable")] == 0
    fails = 'olb_upstream_connect_failures_total{role="client"}'
    assert now[fails] - base.get(fails, 0) == 3
    assert now['olb_accounts{role="master"}'] == 2
    assert now['olb_instances{role="client",state="running"}'] == 1
    hist = 'olb_http_request_duration_seconds_count{route="create"}'
    assert now[hist] - base.get(hist, 0) == sum(
        v for (r, _), v in tally.items() if r == "create")
    assert now['olb_http_request_duration_seconds_bucket{route="create",le="+Inf"}'] == \
        now[hist]

    # kill -9 of an idle proxy worker: nothing unflushed is lost, and the
    # replacement's counts add to the same totals.
    victim = o.worker_pids("olbd: proxy 2")[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(o.worker_pids("olbd: proxy")) == 3 and
             victim not in o.worker_pids("olbd: proxy"), 10, what="proxy respawned")
    send_mix(o, tally)
    after_kill = settle(o.admin_port)
    expect_tally(base, after_kill, tally)
    restarts = 'olb_worker_restarts_total{role="proxy"}'
    assert after_kill[restarts] - base.get(restarts, 0) == 1

    # A reload right after a burst: the old generation flushes as it drains.
    old = set(o.worker_pids("olbd: proxy"))
    send_mix(o, tally)
    o.signal(signal.SIGHUP)
    wait_for(lambda: not old & set(o.worker_pids("olbd: proxy")) and
             len(o.worker_pids("olbd: proxy")) == 3, 15, what="new generation")
    after_reload = settle(o.admin_port)
    expect_tally(base, after_reload, tally)
    for key, value in counters(now).items():
        assert after_reload.get(key, 0) >= value, key

    # promtool accepts the exposition as it is.
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    _, body = scrape(o.admin_port)
    check = subprocess.run(["promtool", "check", "metrics"], input=body,
                           capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_counters_never_decrease_under_load_and_kills(admin):
    o, fleet = admin
    stop = threading.Event()
    statuses = []

    def load():
        deadline = time.time() + 30
        while not stop.is_set() and time.time() < deadline:
            try:
                statuses.append(call(o.port, CREATE, master("m1"))[0])
                statuses.append(http_get(o.port, "/api/v1/test")[0])
            except OSError:
                statuses.append(0)

    t = threading.Thread(target=load)
    t.start()
    try:
        samples = [counters(scrape(o.admin_port)[0])]
        for _ in range(2):      # the second kill is the one that finds races
            victim = o.worker_pids("olbd: proxy")[0]
            os.kill(victim, signal.SIGKILL)
            for _ in range(4):
                time.sleep(0.4)
                samples.append(counters(scrape(o.admin_port)[0]))
            wait_for(lambda: len(o.worker_pids("olbd: proxy")) == 3, 10,
                     what="proxy respawned")
        o.signal(signal.SIGHUP)
        for _ in range(4):
            time.sleep(0.5)
            samples.append(counters(scrape(o.admin_port)[0]))
    finally:
        stop.set()
        t.join()
    assert len(statuses) > 50
    for before, after in zip(samples, samples[1:]):
        for key, value in before.items():
            assert after.get(key, 0) >= value, (key, value, after.get(key))
    final = settle(o.admin_port)
    sent = sum(1 for s in statuses if s == 200)
    got = final.get(req("create", "2xx"), 0) + final.get(req("test", "2xx"), 0)
    # A worker killed outright loses at most what it had not flushed.
    assert 0 < got <= sent + 10


PROM_CONF = """
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: olb
    static_configs:
      - targets: ["127.0.0.1:%d"]
"""


# The two tests with outside programs (Prometheus, Chromium) check what the
# daemon writes, which sanitizers do not change: they run in make test, and
# the ASan pass keeps its minutes for the daemon's own code paths.
SANITIZED = bool(os.environ.get("OLB_ASAN"))


@pytest.mark.skipif(SANITIZED, reason="runs in the plain pass (make test)")
def test_prometheus_scrapes_and_answers_promql(admin, tmpdir_path):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    o, fleet = admin
    for _ in range(6):
        assert http_get(o.port, "/api/v1/test")[0] == 200
    want = settle(o.admin_port)[req("test", "2xx")]
    d = os.path.join(tmpdir_path, "prom")
    os.makedirs(d)
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write(PROM_CONF % o.admin_port)
    port = free_port()
    prom = subprocess.Popen(
        ["prometheus", "--config.file=" + os.path.join(d, "prometheus.yml"),
         "--storage.tsdb.path=" + os.path.join(d, "data"),
         "--web.listen-address=127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "log"), "wb"))
    try:
        query = "/api/v1/query?query=" + \
            "sum(olb_http_requests_total%7Broute%3D%22test%22%2Ccode%3D%222xx%22%7D)"

        def answered():
            try:
                status, _, body = get(port, query)
            except OSError:
                return False
            if status != 200:
                return False
            result = json.loads(body)["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) == want

        wait_for(answered, 30, interval=0.5, what="Prometheus answering %s" % want)
        status, _, body = get(port, "/api/v1/targets")
        targets = json.loads(body)["data"]["activeTargets"]
        assert targets and targets[0]["health"] == "up", targets
    finally:
        prom.send_signal(signal.SIGTERM)
        prom.wait(15)


def test_admin_routes_and_auth(olbd_factory):
    o = olbd_factory(admin=True, extra=['admin.auth_token="adm-secret-7"']).start()
    assert get(o.admin_port, "/metrics")[0] == 401
    assert get(o.admin_port, "/metrics", token="wrong")[0] == 403
    assert get(o.admin_port, "/status.json", token="wrong")[0] == 403
    status, headers, body = get(o.admin_port, "/metrics", token="adm-secret-7")
    assert status == 200 and b"olb_build_info" in body
    assert get(o.admin_port, "/nothing", token="adm-secret-7")[0] == 404
    status, headers, _ = get(o.admin_port, "/metrics", token="adm-secret-7",
                             method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    status, headers, body = get(o.admin_port, "/status", token="adm-secret-7",
                                method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/html")
    # Bodies are refused (none is expected), chunked or not, and the worker
    # keeps serving.
    pid = o.worker_pids("olbd: admin")[0]
    auth = b"Authorization: Bearer adm-secret-7\r\n"
    for raw in (b"POST /metrics HTTP/1.1\r\nHost: x\r\n" + auth +
                b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + auth +
                b"Content-Length: 3\r\n\r\nabc",
                b"GARBAGE\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", o.admin_port), timeout=5) as sock:
            sock.sendall(raw)
            assert sock.recv(100).split(b" ")[1] in (b"400", b"413"), raw
    assert o.worker_pids("olbd: admin") == [pid]
    assert get(o.admin_port, "/metrics", token="adm-secret-7")[0] == 200
    # The API port serves none of it.
    assert http_get(o.port, "/metrics")[0] == 404
    assert "adm-secret-7" not in o.log_text()


def test_admin_answers_503_while_redis_is_down(olbd_factory, redis_server):
    o = olbd_factory(admin=True).start()
    o.check = False
    assert get(o.admin_port, "/metrics")[0] == 200
    redis_server.stop()
    wait_for(lambda: get(o.admin_port, "/metrics")[0] == 503, 10,
             what="503 without Redis")
    t = time.time()
    assert get(o.admin_port, "/status.json")[0] == 503
    assert time.time() - t < 2
    pid = o.worker_pids("olbd: admin")[0]
    redis_server.start()
    wait_for(lambda: get(o.admin_port, "/metrics")[0] == 200, 15,
             what="metrics again")
    assert pid_alive(pid)
    # A reload replaces the supervisor's connection (whose error count the
    # outage raised) by a new one, maybe at the same address: its counts
    # start again from 0 and the supervisor's flushes still land (a
    # negative delta once made every later flush fail).
    o.signal(signal.SIGHUP)
    wait_for(lambda: "configuration reloaded" in o.log_text(), 10, what="the reload")
    wait_for(lambda: len(o.worker_pids("olbd: proxy")) == 2 and all(
        not t.startswith("olbd: supervisor") for t in o.workers().values()), 10,
        what="the new generation")
    os.kill(o.worker_pids("olbd: proxy")[0], signal.SIGKILL)
    wait_for(lambda: scrape(o.admin_port)[0].get(
        'olb_worker_restarts_total{role="proxy"}', 0) >= 1, 15,
        what="the supervisor's count of the restart")
    assert "metrics flush" not in o.log_text()


CHROMIUM = shutil.which("chromium")


def chromium_dom(url, tmpdir):
    """The page as headless Chromium rendered it, and the console lines it
    logged."""
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--no-first-run", "--user-data-dir=" + os.path.join(tmpdir, "chromium"),
         "--enable-logging=stderr", "--v=1", "--dump-dom", url],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    console = [line for line in out.stderr.splitlines() if "CONSOLE" in line]
    return out.stdout, console


def instance_rows(dom):
    return {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r'<tr class="instance" data-id="([^"]+)" data-state="([^"]+)">(.*?)</tr>',
        dom)}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                    "(Debian package chromium; .ci/run installs it)")
@pytest.mark.skipif(SANITIZED, reason="runs in the plain pass (make test)")
def test_status_page_in_chromium(olbd_factory, tmpdir_path):
    o = olbd_factory(admin=True, extra=[
        'proxy.auth_tokens=["%s"]' % TOKEN,
        "scaling.max_users_per_master=5", "scaling.master_threshold=5",
        "scaling.max_users_per_client=5", "scaling.client_threshold=5",
        "health.interval_ms=300", "health.timeout_ms=200", "health.fall=2",
        "health.panic_percent=100"]).start()
    fleet = Fleet(o)
    try:
        fleet.add("master", "Master_Listener-1")
        for i in range(1, 4):
            fleet.add("client", "Client_Listener-%d" % i)
        assert call(o.port, CREATE, master("m1"))[0] == 200
        for i in range(1, 4):
            assert call(o.port, CREATE, client("c%d" % i, "m1"))[0] == 200
        status, headers, body = get(o.admin_port, "/status.json")
        assert status == 200 and headers["content-type"] == "application/json"
        doc = json.loads(body)
        by_name = {x["name"]: x for x in doc["instances"]}
        assert sorted(by_name) == ["Client_Listener-1", "Client_Listener-2",
                                   "Client_Listener-3", "Master_Listener-1"]
        assert by_name["Master_Listener-1"]["accounts"] == 1
        assert sum(by_name["Client_Listener-%d" % i]["accounts"] for i in (1, 2, 3)) == 3
        assert {w["role"] for w in doc["workers"]} >= {
            "supervisor", "proxy", "scaler", "health", "scheduler", "admin"}
        assert doc["leases"]["scaler"] and doc["leases"]["health"]

        url = "http://127.0.0.1:%d/status" % o.admin_port
        dom, console = chromium_dom(url, tmpdir_path)
        assert console == [], console
        rows = instance_rows(dom)
        assert len(rows) == 4, dom[:3000]
        for name, x in by_name.items():
            state, cells = rows[x["id"]]
            assert state == "running" and name in cells
            assert ">%d / 5<" % x["accounts"] in cells, cells

        # An instance that stops answering turns red on the next load.
        victim = by_name["Client_Listener-2"]
        proc = fleet.procs[2]
        proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: instance_rows(chromium_dom(url, tmpdir_path)[0])
                     [victim["id"]][0] == "unhealthy", 30, interval=0.5,
                     what="the page showing the instance unhealthy")
            dom, console = chromium_dom(url, tmpdir_path)
            assert console == []
            cells = instance_rows(dom)[victim["id"]][1]
            assert 'class="fail"' in cells and "s-unhealthy" in cells
            assert instance_rows(dom)[by_name["Client_Listener-1"]["id"]][0] == "running"
            assert "instance.unhealthy" in dom
        finally:
            proc.send_signal(signal.SIGCONT)
    finally:
        fleet.stop()
