"""Running the production prediction server in a subprocess, for local batch jobs.

:class:`ServerProcess` starts ``ml2p-docker serve`` (gunicorn and its uvicorn
workers, exactly what a SageMaker container runs) on 127.0.0.1 and a free port,
waits until ``/ping`` answers 200, and stops it with SIGTERM (SIGKILL if it
outlasts the grace period) when the ``with`` block ends. Its output goes to a
log file, named in every error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from ml2p.child_server import (
    STOP_GRACE,
    Answer,
    ChildServer,
    Ping,
    gunicorn_port_taken,
    http_request,
)
from ml2p.errors import ML2PError
from ml2p.ports import free_port

__all__ = ["ServerProcess", "free_port"]

#: Seconds the server may take to become healthy (SageMaker allows four minutes).
READY_TIMEOUT = 240.0
#: How many of the log's last lines an error quotes.
_TAIL_LINES = 5


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
        self._child: ChildServer | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def command(self, port: int) -> list[str]:
        """The command line that serves on ``port``."""
        args = [sys.executable, "-m", "ml2p.docker", "--ml-folder", self.ml_folder]
        args += ["--model", self.model_ref, "serve"]
        return [*args, "--host", "127.0.0.1", "--port", str(port)]

    def __enter__(self) -> ServerProcess:
        self._child = ChildServer(
            self.command,
            self.environ,
            self.log_path,
            name=f"the model server (log {self.log_path})",
            port_taken=gunicorn_port_taken,
            tail_lines=_TAIL_LINES,
        )
        self._child.start(self._ready, self.ready_timeout)
        self.port = self._child.port
        return self

    def _ready(self, ping: Ping) -> bool:
        failure = ping.failure()
        if failure is not None:
            raise ML2PError(f"{failure} (log {self.log_path})")
        return ping.status == 200

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def request(self, method: str, path: str, timeout: float = 10.0) -> Answer:
        """Make one request (no body) and return the answer, read whole."""
        return http_request(self.port, method, path, timeout=timeout)

    def get_json(self, path: str) -> Any:
        """``GET path`` and return the decoded JSON answer.

        :raises ML2PError: if the answer is not a 200 with JSON.
        """
        response = self.request("GET", path)
        try:
            data = json.loads(response.body)
        except ValueError:
            data = None
        if response.status != 200 or data is None:
            raise ML2PError(
                f"the model server answered {response.status} to GET {path}; see {self.log_path}"
            )
        return data

    def stop(self) -> int | None:
        """SIGTERM the server and wait for it (SIGKILL after ``STOP_GRACE`` s); return its code."""
        child, self._child = self._child, None
        return None if child is None else child.stop(STOP_GRACE)
