"""Tests of e2e/local_loop.py, the helpers demo.py and the end-to-end test share."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from local_loop import (
    LoopError,
    free_port,
    http,
    ml2p_command,
    read_rows,
    run_command,
    stop,
    wait_for_ping,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent


# -- bad input and failures first ------------------------------------------


def test_a_failed_command_names_what_failed_with_its_output(tmp_path):
    code = "import sys; print('out line'); sys.exit('the reason')"
    with pytest.raises(LoopError) as info:
        run_command([sys.executable, "-c", code], "the step", cwd=tmp_path)
    message = str(info.value)
    assert message.startswith("the step failed (exit status 1):")
    assert "out line" in message and "the reason" in message


def test_a_server_that_exits_while_waited_for_is_reported_with_its_log(tmp_path):
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('cannot bind'); sys.exit(3)"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server.wait(timeout=30)
    with pytest.raises(LoopError, match=r"exited with status 3:\ncannot bind"):
        wait_for_ping(server, f"http://127.0.0.1:{free_port()}", log, timeout=5)


def test_a_server_never_healthy_times_out_with_the_last_answer(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("starting\n")
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(LoopError, match=r"/ping not healthy after 1 s .*\nstarting"):
            wait_for_ping(server, f"http://127.0.0.1:{free_port()}", log, timeout=1)
    finally:
        assert stop(server, timeout=10) is not None  # SIGTERM ends it


def test_bad_rows_name_the_file(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("a,b\n1,x\n")
    with pytest.raises(LoopError, match=r"rows\.csv"):
        read_rows(path)
    with pytest.raises(LoopError, match=r"missing\.csv"):
        read_rows(tmp_path / "missing.csv")


def test_stop_kills_a_server_that_ignores_sigterm_and_says_so():
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline() == "ready\n"
    assert stop(server, timeout=0.5) is None
    assert server.returncode is not None


# -- what works ------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self._answer(200, {"status": "ok"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("bad"):
            raw = b"<html>oops</html>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        self._answer(400 if "x" not in body else 200, {"echo": body})

    def _answer(self, status: int, body: object) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_http_returns_status_and_json_of_answers_and_errors(server_url):
    assert http(f"{server_url}/ping") == (200, {"status": "ok"})
    assert http(f"{server_url}/invocations", {"x": 1}) == (200, {"echo": {"x": 1}})
    assert http(f"{server_url}/invocations", {"y": 1}) == (400, {"echo": {"y": 1}})
    assert http(f"{server_url}/invocations", {"bad": 1}) == (500, "<html>oops</html>")


def test_run_command_returns_stdout_alone(tmp_path):
    code = "import sys; print('{\"ok\": 1}'); print('progress', file=sys.stderr)"
    out = run_command([sys.executable, "-c", code], "json", cwd=tmp_path)
    assert json.loads(out) == {"ok": 1}


def test_ml2p_command_and_rows(tmp_path):
    assert ml2p_command("py", tmp_path / "ml2p.yml", "local", "serve", 8080) == [
        "py", "-m", "ml2p", "--cfg", str(tmp_path / "ml2p.yml"), "local", "serve", "8080",
    ]  # fmt: skip
    path = tmp_path / "rows.csv"
    path.write_text("age,target\n0.5,151\n-1,75\n")
    assert read_rows(path) == [{"age": 0.5, "target": 151.0}, {"age": -1.0, "target": 75.0}]


def test_demo_imports_with_the_standard_library_alone():
    # demo.py runs before ML2P is installed: no site-packages at all (-S).
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import demo\n"
        "from e2e import local_loop\n"
        "assert demo.http is local_loop.http and issubclass(demo.DemoError, local_loop.LoopError)\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('ml2p', 'pytest', 'boto3')]\n"
    )
    subprocess.run([sys.executable, "-S", "-c", code], check=True, cwd=str(ROOT))
