"""Running the production prediction server in a subprocess, for local batch jobs.

:class:`ServerProcess` starts ``ml2p-docker serve`` (gunicorn and its uvicorn
workers, exactly what a SageMaker container runs) on 127.0.0.1 and a free port,
waits until ``/ping`` answers 200, and stops it with SIGTERM (SIGKILL if it
outlasts the grace period) when the ``with`` block ends. Its output goes to a
log file, named in every error.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from ml2p.errors import ML2PError
from ml2p.ports import free_port

__all__ = ["ServerProcess", "free_port"]

#: Seconds the server may take to become healthy (SageMaker allows four minutes).
READY_TIMEOUT = 240.0
#: Seconds the server gets to stop after SIGTERM before it is killed.
STOP_GRACE = 30.0


class ServerProcess:
    """``ml2p-docker serve`` for ``model_ref`` on ``ml_folder``, in a subprocess.

    :param ml_folder: The folder standing in for ``/opt/ml`` (the model is in ``model/``).
    :param model_ref: An ``ml2p.models`` entry-point name or a dotted class path.
    :param environ: The server's whole environment.
    :param log_path: Where the server's output goes.
    :param ready_timeout: Seconds to wait for ``/ping`` to answer 200.
    """

    def __init__(
        self,
        ml_folder: Any,
        model_ref: str,
        environ: Mapping[str, str],
        log_path: Any,
        ready_timeout: float = READY_TIMEOUT,
    ):
        self.ml_folder = str(ml_folder)
        self.model_ref = model_ref
        self.environ = dict(environ)
        self.log_path = str(log_path)
        self.ready_timeout = ready_timeout
        self.port = 0
        self._proc: subprocess.Popen | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        self.port = free_port()
        self._log = open(self.log_path, "wb")
        args = [sys.executable, "-m", "ml2p.docker", "--ml-folder", self.ml_folder]
        args += ["--model", self.model_ref, "serve"]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        self._proc = subprocess.Popen(
            args, env=self.environ, stdout=self._log, stderr=subprocess.STDOUT
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def request(self, method: str, path: str, timeout: float = 10.0) -> http.client.HTTPResponse:
        """Make one request and return the response, read (its body in ``.data``)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            response.data = response.read()  # type: ignore[attr-defined]
            return response
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        """``GET path`` and return the decoded JSON answer.

        :raises ML2PError: if the answer is not a 200 with JSON.
        """
        response = self.request("GET", path)
        try:
            data = json.loads(response.data)  # type: ignore[attr-defined]
        except ValueError:
            data = None
        if response.status != 200 or data is None:
            raise ML2PError(
                f"the model server answered {response.status} to GET {path}; see {self.log_path}"
            )
        return data

    def _log_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                text = f.read().strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise ML2PError(
                    f"the model server exited with status {code} before it was ready "
                    f"(log {self.log_path}): {self._log_tail()}"
                )
            try:
                response = self.request("GET", "/ping", timeout=2.0)
            except OSError:
                response = None
            if response is not None:
                if response.status == 200:
                    return
                body = response.data  # type: ignore[attr-defined]
                try:
                    answer = json.loads(body)
                except ValueError:
                    answer = {}
                if answer.get("status") == "failed":
                    raise ML2PError(f"{answer.get('message')} (log {self.log_path})")
            if time.monotonic() > deadline:
                raise ML2PError(
                    f"the model server was not ready after {self.ready_timeout:g} s "
                    f"(log {self.log_path})"
                )
            time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM the server and wait for it (SIGKILL after ``STOP_GRACE`` s); return its code."""
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_GRACE)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
