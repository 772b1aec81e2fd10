"""Notifications (SPEC §8): notify-level events posted to a webhook receiver
written for the test, as Mattermost/Slack incoming-webhook JSON, batched,
retried, bounded, from exactly one sender, and the URL (a secret) in no log
line.
"""
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import wait_for
from test_health import FAST, health_olbd, instances, register  # noqa: F401
from test_scaler import P, ctl

SECRET = "T0KEN-b7c1e2-never-logged"


class Webhook:
    """An incoming-webhook receiver on a loopback port.  answers: what to do
    with each post in turn (an int status, ("status", {headers}), or "hang":
    never answer); when they run out, 200."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.posts = []         # (status answered or None, text)
        self.lock = threading.Lock()
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                doc = json.loads(body)
                with hook.lock:
                    answer = hook.answers.pop(0) if hook.answers else 200
                    status = None if answer == "hang" else \
                        answer[0] if isinstance(answer, tuple) else answer
                    hook.posts.append({"status": status, "text": doc["text"],
                                       "path": self.path, "doc": doc,
                                       "type": self.headers["Content-Type"]})
                if answer == "hang":
                    hook.release.wait(120)
                    return
                headers = {}
                if isinstance(answer, tuple):
                    answer, headers = answer
                self.send_response(answer)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hooks/%s" % (self.port, SECRET)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self, needle):
        """Posts answered 2xx whose text has needle."""
        with self.lock:
            return [p for p in self.posts if p["status"] == 200 and needle in p["text"]]

    def tried(self, needle):
        with self.lock:
            return [p for p in self.posts if needle in p["text"]]

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    made = []

    def make(answers=()):
        hook = Webhook(answers)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


def notify_olbd(olbd_factory, hook, extra=()):
    return health_olbd(olbd_factory, ["notify.webhook_url=" + hook.url,
                                      "notify.batch_ms=1500"] + list(extra))


def fleet_event(olbd):
    """One notify-level event (fleet.changed) from olbctl."""
    ctl(olbd, "fleet", "unblock")


def no_secret_anywhere(olbd, events):
    assert SECRET not in olbd.log_text()
    assert all(SECRET not in json.dumps(e) for e in events.items)


def test_events_of_a_window_are_one_post(olbd_factory, redis_server, events, webhook):
    """Several notify events within notify.batch_ms go in one post of
    incoming-webhook JSON; info events are not posted."""
    hook = webhook()
    olbd = notify_olbd(olbd_factory, hook)
    # The leases taken at start are notify events too: let them go first.
    wait_for(lambda: hook.delivered("leader.acquired"), 10, what="the start's events posted")
    time.sleep(2)
    before = len(hook.posts)
    for _ in range(3):
        fleet_event(olbd)
    wait_for(lambda: hook.delivered("fleet.changed"), 10, what="a post")
    time.sleep(2.5)     # a second window: nothing else comes
    posts = hook.tried("fleet.changed")
    assert len(posts) == 1, posts
    assert posts[0]["text"].count("fleet.changed") == 3
    assert posts[0]["path"] == "/hooks/" + SECRET
    assert posts[0]["type"] == "application/json"
    assert set(posts[0]["doc"]) == {"text"}
    assert len(hook.posts) == before + 1
    assert all("worker.started" not in p["text"] for p in hook.posts)
    r = redis_server.client()
    assert r.llen(P + "notify:outbox") == 0
    no_secret_anywhere(olbd, events)


def test_failed_posts_are_retried_and_delivered_once(olbd_factory, redis_server, events,
                                                      webhook):
    """A receiver that answers 500 twice, then 200: the batch is posted three
    times and delivered once; each failure is logged without the URL."""
    hook = webhook()
    olbd = notify_olbd(olbd_factory, hook)
    wait_for(lambda: hook.delivered("leader.acquired"), 10, what="the start's events posted")
    time.sleep(2)
    hook.answers = [500, 500]
    fleet_event(olbd)
    wait_for(lambda: hook.delivered("fleet.changed"), 20, what="delivery after retries")
    time.sleep(2)
    tried = hook.tried("fleet.changed")
    assert [p["status"] for p in tried] == [500, 500, 200], tried
    assert sum(p["text"].count("fleet.changed") for p in hook.delivered("fleet.changed")) == 1
    assert olbd.log_text().count("webhook: HTTP 500") == 2
    r = redis_server.client()
    assert r.llen(P + "notify:outbox") == 0
    no_secret_anywhere(olbd, events)


def test_retry_after_is_honoured(olbd_factory, redis_server, events, webhook):
    """429 with Retry-After: 3: the next attempt comes no sooner."""
    hook = webhook()
    olbd = notify_olbd(olbd_factory, hook)
    wait_for(lambda: hook.delivered("leader.acquired"), 10, what="the start's events posted")
    time.sleep(2)
    hook.answers = [(429, {"Retry-After": "3"})]
    fleet_event(olbd)
    wait_for(lambda: hook.tried("fleet.changed"), 10, what="the first attempt")
    first = time.monotonic()
    wait_for(lambda: hook.delivered("fleet.changed"), 20, what="delivery")
    assert time.monotonic() - first >= 2.9
    assert [p["status"] for p in hook.tried("fleet.changed")] == [429, 200]
    assert "webhook: HTTP 429" in olbd.log_text()


def test_a_dead_webhook_delays_no_probe_and_the_outbox_stays_bounded(
        olbd_factory, redis_server, events, webhook, instances):   # noqa: F811
    """A receiver that never answers: instances are still probed and marked
    unhealthy on time, and the outbox keeps at most notify.queue events,
    counting and logging what it dropped."""
    hook = webhook(["hang"] * 1000)
    olbd = notify_olbd(olbd_factory, hook, ["notify.queue=10", "notify.timeout_ms=60000"])
    r = redis_server.client()
    inst = instances("N-1")
    iid = register(olbd, "client", inst)
    wait_for(lambda: r.hget(P + "health:streak", iid) not in (None, "-1"), 10,
             what="probed")
    wait_for(lambda: hook.posts, 10, what="a post that hangs")
    for _ in range(25):
        out = ctl(olbd, "fleet", "unblock")
    assert "the webhook's outbox is full (notify.queue = 10)" in out.stderr
    assert r.llen(P + "notify:outbox") == 10
    assert int(r.hget(P + "notify:state", "dropped")) >= 15
    inst.signal(signal.SIGSTOP)
    wait_for(lambda: events.of_type("instance.unhealthy"), 10, what="unhealthy on time")
    assert r.llen(P + "notify:outbox") == 10
    assert len(hook.posts) == 1         # one post, still waiting
    olbd.stop()
    inst.signal(signal.SIGCONT)
    no_secret_anywhere(olbd, events)


def test_one_sender_across_hosts_and_the_next_holder_sends_what_waits(
        olbd_factory, redis_server, events, webhook):
    """Two olbd on one Redis post each event once; events published while the
    sender is gone wait in the outbox and the next holder posts them."""
    hook = webhook()
    first = notify_olbd(olbd_factory, hook)
    second = notify_olbd(olbd_factory, hook)
    wait_for(lambda: len(hook.delivered("leader.acquired")) >= 1, 10, what="start events")
    time.sleep(2)
    for _ in range(2):
        fleet_event(first)
    wait_for(lambda: hook.delivered("fleet.changed"), 10, what="a post")
    time.sleep(2.5)
    assert sum(p["text"].count("fleet.changed") for p in hook.tried("fleet.changed")) == 2

    # kill -9 the sender; an event published meanwhile waits in the
    # outbox and is posted once by whoever holds the lease next.
    r = redis_server.client()
    holder = r.get(P + "lease:health")             # "<host>:<pid>#<fence>"
    (pid,) = [p for o in (first, second) for p in o.worker_pids("olbd: health")
              if holder.split("#")[0].endswith(":%d" % p)]
    os.kill(pid, signal.SIGKILL)
    fleet_event(second)
    wait_for(lambda: sum(p["text"].count("fleet.changed")
                         for p in hook.delivered("fleet.changed")) == 3,
             20, what="the event published without a sender")
    time.sleep(2.5)
    assert sum(p["text"].count("fleet.changed") for p in hook.tried("fleet.changed")) == 3
    assert r.get(P + "lease:health") != holder
