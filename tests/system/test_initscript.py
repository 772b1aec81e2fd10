"""etc/init.d/olbd: start, status, reload, stop, and a start over a stale pidfile."""
import os
import signal
import subprocess

from conftest import CONF, OLBD, ROOT, children_of, free_port, http_get, pid_alive, wait_for

SCRIPT = os.path.join(ROOT, "etc", "init.d", "olbd")


def run(env, *args):
    return subprocess.run([SCRIPT] + list(args), capture_output=True, text=True, env=env,
                          timeout=60)


def read_pid(path):
    with open(path) as f:
        return int(f.read().split()[0])


def test_init_script_lifecycle(tmpdir_path, redis_server, events):
    port = free_port()
    pidfile = os.path.join(tmpdir_path, "olbd.pid")
    opts = " ".join("-o %s" % o for o in [
        "proxy.listen=127.0.0.1:%d" % port, "proxy.workers=2",
        "redis.port=%d" % redis_server.port, "redis.embedded=false",
        "daemon.pidfile=%s" % pidfile, "log.file=%s/olbd.log" % tmpdir_path,
        "daemon.drain_timeout_ms=2000"])
    env = dict(os.environ, OLBD=OLBD, OLBD_CONF=CONF, OLBD_OPTS=opts, OLBD_PIDFILE=pidfile)
    # A stale pidfile: a pid that is not olbd (this test's own process).
    with open(pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    assert run(env, "status").returncode == 1
    pid = None
    try:
        out = run(env, "start")
        assert out.returncode == 0, out
        pid = read_pid(pidfile)
        assert pid != os.getpid()
        wait_for(lambda: http_get(port)[0] == 200, 5, what="serving")
        out = run(env, "status")
        assert (out.returncode, out.stdout.strip()) == (0, "olbd is running (pid %d)" % pid)
        # A second start does not start a second olbd.
        assert "already running" in run(env, "start").stdout
        assert read_pid(pidfile) == pid
        old = set(children_of(pid))
        out = run(env, "reload")
        assert out.returncode == 0, out
        events.wait("config.reloaded")
        wait_for(lambda: not (set(children_of(pid)) & old), 5, what="new generation")
        assert run(env, "configtest").returncode == 0
        out = run(env, "stop")
        assert out.returncode == 0, out
        assert not pid_alive(pid)
        assert not os.path.exists(pidfile)
        assert run(env, "status").returncode == 3
    finally:
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_init_script_refuses_broken_config(tmpdir_path):
    conf = os.path.join(tmpdir_path, "bad.conf")
    with open(conf, "w") as f:
        f.write("proxy: { workers = \"x\"; };\n")
    env = dict(os.environ, OLBD=OLBD, OLBD_CONF=conf,
               OLBD_PIDFILE=os.path.join(tmpdir_path, "olbd.pid"))
    out = run(env, "start")
    assert out.returncode == 1
    assert "proxy.workers: expected an integer" in out.stderr


def test_sigusr1_reopens_log_files(tmpdir_path, redis_server):
    """Daemonized olbd logs to log.file; after a rename and SIGUSR1, the
    supervisor and the workers write to a new file at the old path."""
    port = free_port()
    pidfile = os.path.join(tmpdir_path, "olbd.pid")
    log = os.path.join(tmpdir_path, "olbd.log")
    args = [OLBD, "-c", CONF]
    for o in ["proxy.listen=127.0.0.1:%d" % port, "proxy.workers=1",
              "redis.port=%d" % redis_server.port, "redis.embedded=false",
              "daemon.pidfile=%s" % pidfile, "log.file=%s" % log, "log.level=debug"]:
        args += ["-o", o]
    assert subprocess.run(args, timeout=10).returncode == 0
    pid = read_pid(pidfile)
    try:
        wait_for(lambda: http_get(port)[0] == 200, 5, what="serving")
        os.rename(log, log + ".1")
        os.kill(pid, signal.SIGUSR1)
        wait_for(lambda: os.path.exists(log), 3, what="supervisor reopened its log")
        victim = [p for p, c in children_of(pid).items() if c.startswith("olbd: scaler")][0]
        os.kill(victim, signal.SIGKILL)

        def reopened():
            with open(log) as f:
                text = f.read()
            return "scaler (pid %d) exited" % victim in text and "scaler info: started" in text
        wait_for(reopened, 3, what="new lines in the reopened log")
        with open(log + ".1") as f:
            assert "supervisor info: olbd" in f.read()
        # A worker that was running at the SIGUSR1 (proxy-1) writes there too.
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid), 10, what="olbd to stop")
        with open(log) as f:
            assert "proxy-1 debug: draining" in f.read()
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not pid_alive(pid), 10, what="olbd to stop")
