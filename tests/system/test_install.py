"""make install / make uninstall (issue: packaging for operators): the
installed programs, configuration, init script, systemd unit and manual
pages; the installed olbd started on the installed configuration serves;
the pages render without a warning; the unit is accepted by systemd where
systemd runs."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, free_port, http_get, wait_for

PAGES = ["usr/share/man/man8/olbd.8", "usr/share/man/man8/olbctl.8",
         "usr/share/man/man5/olbd.conf.5"]


def make(*args):
    out = subprocess.run(["make", "--no-print-directory", "-C", ROOT,
                          "BUILD=" + os.path.relpath(BUILD, ROOT)] + list(args),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def test_install_start_and_uninstall(tmpdir_path, redis_server):
    dest = os.path.join(tmpdir_path, "root")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    for f in ["usr/sbin/olbd", "usr/bin/olbctl", "usr/bin/olb-listener",
              "etc/init.d/olbd"]:
        assert os.access(os.path.join(dest, f), os.X_OK), f
    for f in ["etc/olbd/olbd.conf", "etc/olbd/olbd.conf.example"] + PAGES:
        assert os.path.isfile(os.path.join(dest, f)), f
    with open(os.path.join(dest, "lib/systemd/system/olbd.service")) as f:
        unit = f.read()
    assert "ExecStart=/usr/sbin/olbd -c /etc/olbd/olbd.conf" in unit
    assert "Type=forking" in unit and "PIDFile=/run/olbd.pid" in unit
    assert "@" not in unit.replace("$MAINPID", "")
    with open(os.path.join(dest, "etc/init.d/olbd")) as f:
        assert "OLBD=${OLBD:-/usr/sbin/olbd}" in f.read()

    # the installed olbd on the installed configuration (daemonized, as the
    # unit starts it), on this test's ports and Redis
    conf = os.path.join(dest, "etc/olbd/olbd.conf")
    olbd = os.path.join(dest, "usr/sbin/olbd")
    port, pidfile = free_port(), os.path.join(tmpdir_path, "olbd.pid")
    args = ["-c", conf]
    for o in ["proxy.listen=127.0.0.1:%d" % port, "proxy.workers=1",
              "redis.embedded=false", "redis.port=%d" % redis_server.port,
              "daemon.pidfile=" + pidfile, "log.file=%s/olbd.log" % tmpdir_path,
              "scheduler.jobs=()"]:
        args += ["-o", o]
    out = subprocess.run([olbd, "-t"] + args, capture_output=True, text=True, timeout=10)
    assert (out.returncode, out.stdout) == (0, "configuration OK\n"), out
    out = subprocess.run([olbd] + args, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out
    with open(pidfile) as f:
        pid = int(f.read().split()[0])
    try:
        wait_for(lambda: http_get(port)[0] == 200, 10, what="the installed olbd serving")
        status = subprocess.run([os.path.join(dest, "usr/bin/olbctl")] + args + ["status"],
                                capture_output=True, text=True, timeout=10)
        assert status.returncode == 0 and "proxy-1" in status.stdout, status
    finally:
        os.kill(pid, 15)
        wait_for(lambda: not os.path.exists("/proc/%d" % pid), 20, what="olbd to stop")

    # the pages as man(1) renders them, without a warning
    for page in PAGES:
        out = subprocess.run(["man", "--warnings=all", "-l", os.path.join(dest, page)],
                             capture_output=True, text=True, timeout=30,
                             env=dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80"))
        assert out.returncode == 0 and out.stderr == "", (page, out.stderr)
        assert "SYNOPSIS" in out.stdout or "DESCRIPTION" in out.stdout

    # uninstall removes what install wrote, but not the operator's configuration
    make("uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
    left = sorted(os.path.relpath(os.path.join(d, f), dest)
                  for d, _, fs in os.walk(dest) for f in fs)
    assert left == ["etc/olbd/olbd.conf"], left


def test_install_keeps_an_existing_configuration(tmpdir_path):
    dest = os.path.join(tmpdir_path, "root")
    os.makedirs(os.path.join(dest, "etc/olbd"))
    with open(os.path.join(dest, "etc/olbd/olbd.conf"), "w") as f:
        f.write("# the operator's\n")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr/local")
    with open(os.path.join(dest, "etc/olbd/olbd.conf")) as f:
        assert f.read() == "# the operator's\n"
    assert os.path.isfile(os.path.join(dest, "usr/local/sbin/olbd"))


@pytest.mark.skipif(not os.path.isdir("/run/systemd/system") or
                    not shutil.which("systemd-analyze"),
                    reason="systemd is not running here (systemd-analyze verify needs it)")
def test_systemd_accepts_the_unit(tmpdir_path):
    dest = os.path.join(tmpdir_path, "root")
    make("install", "DESTDIR=" + dest, "PREFIX=/usr")
    out = subprocess.run(["systemd-analyze", "verify", "--root=" + dest,
                          os.path.join(dest, "lib/systemd/system/olbd.service")],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, MANPATH=os.path.join(dest, "usr/share/man")))
    assert out.returncode == 0, out.stdout + out.stderr
