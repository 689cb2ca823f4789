"""ml2p.child_server.ChildServer: start, wait, early exit, port-taken retry and stop.

The children are tiny Python servers written by each test (real processes,
real sockets on 127.0.0.1), so that each behaviour is seen on its own.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import textwrap

import pytest

from ml2p import child_server
from ml2p.child_server import ChildServer, Ping, gunicorn_port_taken
from ml2p.errors import ML2PError

# A /ping server on argv[1]'s port. CHILD_PING is the status it answers, CHILD_BODY the body;
# CHILD_IGNORE_TERM makes it ignore SIGTERM; a port it cannot bind is reported as gunicorn does.
CHILD = textwrap.dedent(
    """
    import http.server, os, signal, sys, time

    port = int(sys.argv[1])
    if os.environ.get("CHILD_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    status = int(os.environ.get("CHILD_PING", "200"))
    body = os.environ.get("CHILD_BODY", '{"status": "ok"}').encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    try:
        server = http.server.HTTPServer(("127.0.0.1", port), Handler)
    except OSError:
        print(f"Connection in use: ('127.0.0.1', {port})", flush=True)
        time.sleep(600)
    print(f"listening on {port}", flush=True)
    server.serve_forever()
    """
)

# Writes lines, then exits with status 3 before listening.
FAILING = "import sys\nfor n in range(1, 8):\n    print('line', n)\nsys.exit(3)\n"


@pytest.fixture
def script(tmp_path):
    def write(source: str) -> str:
        path = tmp_path / "child.py"
        path.write_text(source)
        return str(path)

    return write


def make(script_path: str, tmp_path, **environ: str) -> ChildServer:
    return ChildServer(
        lambda port: [sys.executable, script_path, str(port)],
        {**os.environ, **environ},
        str(tmp_path / "child.log"),
        name="the child",
        port_taken=gunicorn_port_taken,
    )


def ok(ping: Ping) -> bool:
    return ping.status == 200


def test_start_waits_for_ping_and_stop_sends_sigterm(script, tmp_path):
    child = make(script(CHILD), tmp_path)
    ping = child.start(ok, timeout=30)
    try:
        assert ping.status == 200 and ping.body == b'{"status": "ok"}'
        assert ("Content-Type", "application/json") in ping.headers
        assert child.url == f"http://127.0.0.1:{child.port}" and child.port > 0
        assert child.proc is not None and child.proc.poll() is None
        assert child.ping().status == 200
    finally:
        code = child.stop()
    assert code == 0  # it exited on SIGTERM by itself
    assert child.stop() == 0  # stopping again answers the same
    assert f"listening on {child.port}" in child.log()
    assert (tmp_path / "child.log").exists()


def test_an_early_exit_is_reported_with_the_log_tail(script, tmp_path):
    child = make(script(FAILING), tmp_path)
    child.tail_lines = 2
    with pytest.raises(ML2PError) as raised:
        child.start(ok, timeout=30)
    assert str(raised.value) == (
        "the child exited with status 3 before it was ready:\nline 6\nline 7"
    )
    assert child.proc is not None and child.proc.returncode == 3


def test_errors_are_raised_as_the_class_given(script, tmp_path):
    class Mine(RuntimeError):
        pass

    child = make(script(FAILING), tmp_path)
    child.error = Mine
    with pytest.raises(Mine, match=r"(?s)status 3 .*line 1\n.*line 7$"):
        child.start(ok, timeout=30)


def test_not_ready_in_time_names_the_last_answer_and_stops_the_child(script, tmp_path):
    child = make(script(CHILD), tmp_path, CHILD_PING="503", CHILD_BODY="warming up")
    with pytest.raises(ML2PError) as raised:
        child.start(ok, timeout=0.5)
    message = str(raised.value)
    assert message.startswith("the child was not ready after 0.5 s (last answer: 503 warming up):")
    assert f"listening on {child.port}" in message
    assert child.proc is not None and child.proc.returncode == 0  # stopped by start


def test_ready_may_give_up_and_the_child_is_stopped(script, tmp_path):
    body = '{"status": "failed", "message": "model setup failed: no weights"}'
    child = make(script(CHILD), tmp_path, CHILD_PING="503", CHILD_BODY=body)

    def ready(ping: Ping) -> bool:
        failure = ping.failure()
        if failure is not None:
            raise ML2PError(failure)
        return ping.status == 200

    with pytest.raises(ML2PError, match=r"^model setup failed: no weights$"):
        child.start(ready, timeout=30)
    assert child.proc is not None and child.proc.returncode == 0


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(script, tmp_path):
    child = make(script(CHILD), tmp_path, CHILD_IGNORE_TERM="1")
    child.start(ok, timeout=30)
    code = child.stop(grace=0.5)
    assert code == -signal.SIGKILL
    assert child.stop_seconds is not None and child.stop_seconds >= 0.5
    assert child.proc is not None and child.proc.poll() == -signal.SIGKILL  # reaped


def test_a_taken_port_is_replaced(script, tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        busy = taken.getsockname()[1]
        ports = [busy]
        real = child_server.free_port
        monkeypatch.setattr(child_server, "free_port", lambda: ports.pop() if ports else real())
        started = []
        child = make(script(CHILD), tmp_path)
        command = child.command
        child.command = lambda port: started.append(port) or command(port)
        child.start(ok, timeout=30)
        try:
            assert started == [busy, child.port] and child.port != busy
            assert child.ping().status == 200
        finally:
            assert child.stop() == 0
    # The log is the last try's only.
    assert "Connection in use" not in child.log()


def test_no_free_port_after_three_tries(script, tmp_path, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        monkeypatch.setattr(child_server, "free_port", lambda: taken.getsockname()[1])
        child = make(script(CHILD), tmp_path)
        with pytest.raises(ML2PError, match=r"^the child found no free port in 3 tries$"):
            child.start(ok, timeout=30)
    assert child.proc is not None and child.proc.returncode == -signal.SIGKILL


def test_a_removed_log_is_still_read_and_stderr_follows_it(script, tmp_path):
    source = "import sys\nprint('out', flush=True)\nprint('err', file=sys.stderr)\nsys.exit(1)\n"
    child = make(script(source), tmp_path)
    child.stderr_path = str(tmp_path / "child.err")
    child.remove_log = True
    with pytest.raises(ML2PError, match=r"status 1 before it was ready:\nout\nerr$"):
        child.start(ok, timeout=30)
    assert not (tmp_path / "child.log").exists()
    assert (tmp_path / "child.err").read_text() == "err\n"  # given by the caller: kept
    assert child.log() == "out\n" and child.output() == "out\nerr\n"


def test_start_twice_and_wait_before_start_are_refused(script, tmp_path):
    child = make(script(CHILD), tmp_path)
    with pytest.raises(RuntimeError, match="the child is not started"):
        child.wait(ok, timeout=1)
    assert child.stop() is None
    child.start(ok, timeout=30)
    try:
        with pytest.raises(RuntimeError, match="the child was already started"):
            child.start(ok, timeout=30)
    finally:
        child.stop()
