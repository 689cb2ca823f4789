"""``ml2p local invoke`` and ``ml2p local serve`` errors: one line that says what happened."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from ml2p.cli import cli
from tests.cli_support import cli_runner
from tests.serving_support import Server, free_port

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    with Server(folder, folder / "server.log") as srv:
        assert srv.wait_ready().status == 200, srv.log()
        yield srv


def local_invoke(server, data):
    url = f"http://127.0.0.1:{server.port}"
    result = cli_runner().invoke(cli, ["local", "invoke", json.dumps(data), "--url", url])
    return url, result


def test_invoke_shows_the_servers_message_and_details(server):
    url, result = local_invoke(server, {"fail": "client"})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {url}/invocations answered 422: rejected on purpose "
        '(details: {"field": "fail"})\n'
    )


def test_invoke_shows_what_the_500_body_says(server):
    url, result = local_invoke(server, {"fail": "crash"})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {url}/invocations answered 500: internal error (error: ZeroDivisionError); "
        "the server's log has the traceback\n"
    )


def test_invoke_shows_a_request_error(server):
    url, result = local_invoke(server, {"instances": 5})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {url}/invocations answered 400: "
        "'instances' is a JSON number, expected an array of instances\n"
    )


def test_invoke_shows_a_non_json_error_body_as_text():
    """A proxy in front of the server may answer in plain text."""
    import http.server
    import threading

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b"upstream\nunavailable"
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        result = cli_runner().invoke(cli, ["local", "invoke", '{"x": 1}', "--url", url])
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()
    assert result.exit_code == 1
    assert result.output == f"Error: {url}/invocations answered 502: upstream unavailable\n"


def test_invoke_of_a_good_request_prints_the_prediction(server):
    _, result = local_invoke(server, {"x": 4})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["result"] == {"y": 8}


# --- a port already in use --------------------------------------------------------


@pytest.fixture
def trained(tmp_path):
    (tmp_path / "ml2p.yml").write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  minimal: tests.models.MinimalModel\n"
    )
    cfg, folder = str(tmp_path / "ml2p.yml"), str(tmp_path / ".ml2p-local")
    result = cli_runner().invoke(
        cli, ["--cfg", cfg, "local", "train", "minimal", "--local-folder", folder]
    )
    assert result.exit_code == 0, result.output
    return tmp_path


def run_ml2p(project, *args, prelude=""):
    """Run ``ml2p ARGS`` in ``project`` in a subprocess; ``prelude`` is Python run first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    env["PYTHONPATH"] = REPO
    code = f"{prelude}\nimport sys\nfrom ml2p.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, time.monotonic() - started


def test_serve_on_a_port_in_use_says_so_at_once(trained):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, seconds = run_ml2p(trained, "local", "serve", "minimal", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: port {port} on 127.0.0.1 is already in use: stop what is listening there "
        "or pass --port with another port\n"
    )
    assert "gunicorn" not in proc.stdout and seconds < 20


RACE = """
import socket
import ml2p.cli.ports as ports

_check = ports.check_port_free
_held = []

def _check_then_lose_the_race(host, port):
    _check(host, port)
    sock = socket.socket()
    sock.bind((host, port))
    sock.listen()
    _held.append(sock)

ports.check_port_free = _check_then_lose_the_race
"""


def test_serve_losing_the_port_to_a_race_ends_with_one_error_line(trained):
    port = free_port()
    proc, _ = run_ml2p(
        trained, "local", "serve", "minimal", "--port", str(port), "--workers", "1", prelude=RACE
    )
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == (
        f"Error: port {port} on 127.0.0.1 was taken while the server started: "
        "pass --port with another port"
    )
    assert "Traceback" not in proc.stderr
