"""A request that provably never reached the instance is sent again (SPEC §3).

The instance answers with keep-alive, then closes its connection on
command, as a Node.js server does when its keep-alive timeout ends.  The
proxy worker is stopped (SIGSTOP) while the next request arrives and the
instance closes the pooled connection, so the worker wakes up with both: it
takes the pooled connection for the request before it sees the end of file.
The request was not written: olb sends it on a new connection instead of
answering 502.  No request is received twice.
"""
import http.client
import json
import os
import signal
import socket
import threading
import time

from conftest import TcpServer, wait_for
from test_placement_races import CREATE, TOKEN, Fleet, body_of, settings


class ClosingInstance(TcpServer):
    """Answers one request per connection with 200 and keep-alive, then
    keeps the connection open, idle, until close_idle(); counts the requests
    received."""

    def __init__(self):
        self.received = 0
        self.idle = []
        self.lock = threading.Lock()
        super().__init__()

    def on_client(self, c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                c.close()
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            body += c.recv(65536)
        doc = json.dumps({"status": True, "message": "Listener created",
                          "name": "closing"}).encode()
        with self.lock:
            self.received += 1
            self.idle.append(c)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(doc), doc))

    def close_idle(self):
        """Close every idle connection now (FIN at once); how many."""
        with self.lock:
            idle, self.idle = self.idle, []
        for c in idle:
            c.shutdown(socket.SHUT_RDWR)
            c.close()
        return len(idle)

    def stop(self):
        self.close_idle()
        super().stop()


def stopped(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(") ", 1)[1][0] == "T"


def test_closed_pooled_connection_is_not_a_502(olbd_factory):
    o = olbd_factory(workers=1, extra=settings()).start()
    fleet = Fleet(o)
    inst = ClosingInstance()
    worker = o.worker_pids("olbd: proxy 1")[0]
    conn = http.client.HTTPConnection("127.0.0.1", o.port, timeout=10)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN}
    try:
        fleet.ctl("instance", "add", "--role", "master", "--addr",
                  "127.0.0.1:%d" % inst.port, "--name", "closing")
        conn.request("POST", CREATE, body=body_of("A1"), headers=headers)
        first = conn.getresponse()
        assert (first.status, json.loads(first.read())["name"]) == (200, "closing")
        rounds = 20
        for n in range(rounds):
            os.kill(worker, signal.SIGSTOP)
            try:
                # stopped for sure: no wakeup of its own can take the request
                # before the end of file arrives too
                wait_for(lambda: stopped(worker), 5, interval=0.005, what="worker stopped")
                conn.request("POST", CREATE, body=body_of("A1"), headers=headers)
                # the pooled connection closes (its FIN at once)
                assert inst.close_idle() == 1
                time.sleep(0.05)            # both are queued for the worker
            finally:
                os.kill(worker, signal.SIGCONT)
            resp = conn.getresponse()
            data = resp.read()
            assert resp.status == 200, (n, resp.status, data)
        # one request received per answer: nothing sent twice
        assert inst.received == rounds + 1
    finally:
        conn.close()
        inst.stop()
