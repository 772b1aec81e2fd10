"""olbctl with Redis unreachable (SPEC §10): every command that needs Redis
answers one line on stderr and exit status 1, in seconds, never a hang:
nothing listening on the port, and a server that accepts connections but
never answers (SIGSTOP)."""
import concurrent.futures
import os
import signal
import subprocess
import time

import pytest

from conftest import CONF, OLBCTL, RedisServer, free_port

COMMANDS = [
    ["status"], ["events"], ["events", "--json"], ["instance", "list"],
    ["instance", "add", "--role", "master", "--addr", "127.0.0.1:9"],
    ["instance", "remove", "inst-1"], ["instance", "state", "inst-1", "running"],
    ["instance", "drain", "inst-1"], ["instance", "terminate", "inst-1"],
    ["placement", "A1"], ["health"], ["health", "inst-1"], ["check"],
    ["check", "--json"], ["fleet"], ["fleet", "up"], ["fleet", "down"],
    ["fleet", "scale", "--masters", "2"], ["fleet", "unblock"],
    ["fleet", "deployment", "abc"], ["schedule"], ["schedule", "--json"],
    ["schedule", "run", "terminate_all"],
]
# ... and each with --json: still one line on stderr, nothing on stdout.
COMMANDS += [c + ["--json"] for c in COMMANDS if "--json" not in c]


def olbctl(port, args):
    start = time.monotonic()
    out = subprocess.run([OLBCTL, "-c", CONF, "-o", "redis.embedded=false",
                          "-o", "redis.port=%d" % port] + args,
                         capture_output=True, text=True, timeout=30)
    return out, time.monotonic() - start


# One of each way a command talks to Redis, for the slow case (2 s each).
SOME = [["status"], ["events"], ["instance", "list"], ["placement", "A1"], ["health"],
        ["check", "--json"], ["fleet"], ["fleet", "up"], ["schedule"],
        ["schedule", "run", "terminate_all"]]


def check_fails_fast(port, limit, commands=COMMANDS):
    # side by side: each is its own process and its own connection, and a
    # server that never answers costs each the whole timeout
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        results = list(pool.map(lambda args: olbctl(port, args), commands))
    for args, (out, took) in zip(commands, results):
        assert out.returncode == 1, (args, out)
        assert out.stdout == "", (args, out.stdout)
        lines = out.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("olbctl: "), (args, out.stderr)
        assert took < limit, (args, took)


def test_nothing_listening():
    check_fails_fast(free_port(), 5)


@pytest.mark.skipif(bool(os.environ.get("OLB_ASAN")), reason="olbctl's own timeout, "
                    "the same in every build: runs in the plain pass (make test)")
def test_a_server_that_never_answers(tmpdir_path):
    r = RedisServer(tmpdir_path)
    r.start()
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        # each command gives up after olbctl's 2 s timeout
        check_fails_fast(r.port, 8, SOME)
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
        r.stop()
