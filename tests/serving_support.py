"""Running the real server (``python -m ml2p.docker ... serve``) as a subprocess for tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any, Dict, Mapping, Optional, Tuple

from tests.conftest import AWS_TEST_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "tests.serving_models.ScaleModel"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Response:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:200]!r})"


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: Optional[Mapping[str, str]] = None,
    timeout: float = 30.0,
    chunked: bool = False,
) -> Response:
    """Make one HTTP request to 127.0.0.1:``port``; a dict or list body is sent as JSON."""
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if chunked:
            conn.request(method, path, body=iter([body]), headers=headers, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


class Server:
    """``ml2p-docker serve`` in a subprocess on 127.0.0.1 and a free port.

    Use as a context manager: the process is always stopped (SIGTERM, then
    SIGKILL) on exit. Its output goes to ``log_path`` (its stderr to
    ``err_path`` instead, if given). A variable given as ``None`` in ``env``
    is removed from the server's environment.
    """

    def __init__(
        self,
        ml_folder: Any,
        log_path: Any,
        model: str = MODEL,
        env: Optional[Mapping[str, Optional[str]]] = None,
        workers: int = 1,
        err_path: Any = None,
    ):
        self.port = free_port()
        self.log_path = str(log_path)
        self.err_path = None if err_path is None else str(err_path)
        environ = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ML2P_", "SAGEMAKER_", "SERVING_"))
        }
        environ.update(AWS_TEST_ENV)
        environ["PYTHONPATH"] = ROOT + os.pathsep + environ.get("PYTHONPATH", "")
        environ["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers)
        environ["ML2P_MODEL_VERSION"] = "test-model-1-0-0"
        # Records S3 refuses spill beside the log, not in a folder other servers share.
        environ["ML2P_RECORD_SPILL_DIR"] = self.log_path + ".spill"
        environ.update(env or {})
        self.environ = {k: v for k, v in environ.items() if v is not None}
        self.args = [
            sys.executable,
            "-m",
            "ml2p.docker",
            "--ml-folder",
            str(ml_folder),
            "--model",
            model,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        self.proc: Optional[subprocess.Popen] = None

    def __enter__(self) -> Server:
        self._log = open(self.log_path, "wb")
        self._err = open(self.err_path, "wb") if self.err_path else None
        self.proc = subprocess.Popen(
            self.args,
            env=self.environ,
            stdout=self._log,
            stderr=self._err or subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            self.wait_listening()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                request(self.port, "GET", "/ping", timeout=2)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not listening after {timeout} s:\n{self.log()}")

    def wait_ready(self, timeout: float = 30.0) -> Response:
        deadline = time.monotonic() + timeout
        while True:
            resp = request(self.port, "GET", "/ping", timeout=5)
            if resp.status == 200 or time.monotonic() > deadline:
                return resp
            time.sleep(0.05)

    def wait_workers_ready(self, workers: int, timeout: float = 30.0) -> None:
        """Wait until ``workers`` workers have logged that their model is set up."""
        deadline = time.monotonic() + timeout
        while self.log().count(": ready") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 30.0) -> Tuple[int, float]:
        """SIGTERM the server; return its exit code and the seconds it took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def log(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        if self._err is not None:
            self._err.close()


def post(port: int, body: Any, **kw: Any) -> Response:
    return request(port, "POST", "/invocations", body, **kw)
