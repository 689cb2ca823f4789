"""The real server (``python -m ml2p.docker ... serve``) as a subprocess, and raw HTTP, for tests.

:class:`Server` is :class:`ml2p.testing.ServedPredictor` with these tests'
defaults; :func:`request` sends raw bodies (chunked too) and answers the
status, headers and body as they came.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from ml2p.testing import ServedPredictor
from ml2p.testing.served import free_port
from tests.conftest import AWS_TEST_ENV

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "tests.serving_models.ScaleModel"

__all__ = ["MODEL", "ROOT", "Response", "Server", "free_port", "post", "request"]


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
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
    headers: Mapping[str, str] | None = None,
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


class Server(ServedPredictor):
    """``ml2p-docker serve`` in a subprocess on 127.0.0.1 and a free port.

    Use as a context manager: on entry it waits until the server answers
    (``/ping`` may still be 503), and on exit it is always stopped (SIGTERM,
    then SIGKILL). Its output goes to ``log_path`` (its stderr to
    ``err_path`` instead, if given). A variable given as ``None`` in ``env``
    is removed from the server's environment. The test models' switches
    (``SERVING_*``) come from ``env`` only, never from this process.
    """

    def __init__(
        self,
        ml_folder: Any,
        log_path: Any,
        model: str = MODEL,
        env: Mapping[str, str | None] | None = None,
        workers: int = 1,
        err_path: Any = None,
    ):
        # Records S3 refuses spill beside the log (ServedPredictor's default).
        environ = {**AWS_TEST_ENV, "ML2P_MODEL_VERSION": "test-model-1-0-0", **(env or {})}
        super().__init__(
            model,
            ml_folder,
            environ,
            workers=workers,
            log_path=log_path,
            stderr_path=err_path,
            pythonpath=[ROOT],
            cwd=ROOT,
            wait_ready=False,
            ready_timeout=30.0,
        )
        self.err_path = self.stderr_path
        for name in [n for n in self.environ if n.startswith("SERVING_") and n not in environ]:
            del self.environ[name]

    def wait_ready(self, timeout: float | None = None) -> Response:  # type: ignore[override]
        """Wait until ``/ping`` is 200 and return it (raises ``ServerNotReady`` otherwise)."""
        super().wait_ready(timeout)
        return request(self.port, "GET", "/ping")

    def wait_workers_ready(self, workers: int, timeout: float = 30.0) -> None:
        """Wait until ``workers`` workers have logged that their model is set up."""
        deadline = time.monotonic() + timeout
        # ML2P's own records (": ready" among them) go to stderr.
        while self._output().count(": ready") < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready after {timeout} s:\n{self.log()}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 30.0) -> tuple[int | None, float | None]:
        """SIGTERM the server; return its exit code and the seconds it took to exit."""
        code = self.stop(timeout)
        return code, self.stop_seconds


def post(port: int, body: Any, **kw: Any) -> Response:
    return request(port, "POST", "/invocations", body, **kw)
