"""The production prediction server (``ml2p-docker serve``) in a child process, for tests.

:class:`ServedPredictor` runs the real server (gunicorn and uvicorn workers)
on 127.0.0.1 and a free port, waits until ``/ping`` answers 200 and stops it
with SIGTERM, as SageMaker does. Its requests answer
:class:`~ml2p.testing.Response` objects, like
:class:`~ml2p.testing.PredictionClient`'s.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ml2p import child_server
from ml2p.child_server import HOST, ChildServer, Ping, gunicorn_port_taken, temporary_log
from ml2p.ports import free_port
from ml2p.testing.errors import ServerNotReady
from ml2p.testing.messages import HeadersArg, RequestMethods, Response, encode_request
from ml2p.variables import (
    ML2P_PREFIX,
    ML2P_RECORD_SPILL_DIR,
    SAGEMAKER_MODEL_SERVER_WORKERS,
    SAGEMAKER_PREFIX,
)

__all__ = ["ServedPredictor", "free_port", "http_request"]

#: Where the server's recorder spills records S3 refuses (see :doc:`/environment`).
SPILL_DIR_ENV = ML2P_RECORD_SPILL_DIR
#: Seconds to wait after SIGTERM before SIGKILL: SageMaker's grace period.
STOP_TIMEOUT = 30.0


def http_request(
    port: int,
    path: str,
    method: str = "GET",
    *,
    json: Any = None,
    data: bytes | bytearray | memoryview | str | None = None,
    headers: HeadersArg = None,
    content_type: str | None = None,
    timeout: float = 30.0,
) -> Response:
    """Make one HTTP request to 127.0.0.1:``port``.

    See :func:`ml2p.testing.messages.encode_request` for the body arguments.

    :raises OSError: if nothing answers (e.g. ``ConnectionRefusedError``).
    """
    body, pairs = encode_request(json, data, headers, content_type)
    answer = child_server.http_request(
        port, method.upper(), path, body or None, dict(pairs), timeout=timeout
    )
    return Response(*answer)


class ServedPredictor(RequestMethods):
    """``ml2p-docker serve`` in a child process on 127.0.0.1 and a free port.

    ::

        with ServedPredictor("my_model", ml_folder) as server:
            assert server.post("/invocations", json={"x": 1}).status_code == 200
            requests.get(f"{server.url}/ping")

    The child gets this process's environment without its ``ML2P_*`` and
    ``SAGEMAKER_*`` variables (so the caller's settings do not leak in),
    plus ``environ``: a test that points boto3 at moto (the ``ml2p_aws``
    fixture) points the server there too. Records S3 refuses spill to
    ``<log_path>.spill`` unless ``environ`` sets ``ML2P_RECORD_SPILL_DIR``.

    :param model: An ``ml2p.models`` entry-point name or dotted path, or a
        :class:`ml2p.core.Model` subclass (the child imports it by its dotted
        path; the folder its module was imported from is added to ``PYTHONPATH``).
    :param ml_folder: The SageMaker folder (``/opt/ml/``) to serve from.
    :param environ: Variables to set for the server (``ML2P_MODEL_VERSION``,
        ``ML2P_RECORD_INVOKES``, ...); one set to ``None`` is removed.
    :param workers: Worker processes (``SAGEMAKER_MODEL_SERVER_WORKERS``).
    :param log_path: Where the server's output goes (default: a temporary
        file, removed by :meth:`stop`; :meth:`log` reads it either way).
    :param stderr_path: Where the server's stderr goes instead, if given
        (:meth:`log` then holds its stdout only).
    :param pythonpath: Folders to put first on the server's ``PYTHONPATH``.
    :param cwd: The server's working directory (default: this process's).
    :param wait_ready: On start, wait until ``/ping`` answers 200; ``False``
        waits only until the server answers at all (to test ``/ping``'s 503
        while setup runs).
    :param ready_timeout: Seconds to wait on start.
    :param stop_timeout: Seconds :meth:`stop` waits after SIGTERM before SIGKILL.
    :ivar args: The server's command line, a list: options appended to it
        before :meth:`start` are passed to ``serve`` (e.g. ``--debug``); its
        ``--port`` is set on start.
    :ivar port: The port it listens on, once started.
    :ivar proc: The server's ``subprocess.Popen``, once started.
    :ivar stop_seconds: Seconds the last :meth:`stop` took (``None`` before).
    """

    def __init__(
        self,
        model: str | type,
        ml_folder: Any,
        environ: Mapping[str, str | None] | None = None,
        *,
        workers: int = 1,
        log_path: Any = None,
        stderr_path: Any = None,
        pythonpath: Sequence[Any] = (),
        cwd: Any = None,
        wait_ready: bool = True,
        ready_timeout: float = 60.0,
        stop_timeout: float = STOP_TIMEOUT,
    ):
        paths = [str(p) for p in pythonpath]
        if isinstance(model, type):
            model, root = _class_reference(model)
            if root is not None:
                paths.append(root)
        self.model = model
        self.ml_folder = str(ml_folder)
        self.cwd = None if cwd is None else str(cwd)
        self._log_given = log_path is not None
        self.log_path = str(log_path) if log_path is not None else temporary_log()
        # Records S3 refuses spill beside the log: a later server sharing the
        # default folder would send them to its own bucket.
        spill = {SPILL_DIR_ENV: f"{self.log_path}.spill", **(environ or {})}
        self.environ = _child_environ(spill, workers, paths)
        self.stderr_path = None if stderr_path is None else str(stderr_path)
        self._wait_ready = wait_ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._child: ChildServer | None = None
        self.args: list[str] = [
            sys.executable,
            "-m",
            "ml2p.docker",
            "--ml-folder",
            self.ml_folder,
            "--model",
            self.model,
            "serve",
            "--host",
            HOST,
            "--port",
            "0",
        ]

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def port(self) -> int:
        """The port it listens on, once started (0 before)."""
        return 0 if self._child is None else self._child.port

    @property
    def proc(self) -> subprocess.Popen | None:
        """The server's ``subprocess.Popen``, once started (kept once stopped)."""
        return None if self._child is None else self._child.proc

    @property
    def stop_seconds(self) -> float | None:
        """Seconds the last :meth:`stop` took (``None`` before)."""
        return None if self._child is None else self._child.stop_seconds

    # -- starting and stopping -----------------------------------------------------

    def start(self) -> ServedPredictor:
        """Start the server and wait for it (see ``wait_ready``); return ``self``.

        :raises ServerNotReady: with the server's log, if it exits or is not
            ready in time (it is stopped then).
        """
        if self._child is not None:
            raise RuntimeError("this ServedPredictor was already started")
        self._child = ChildServer(
            self._command,
            self.environ,
            self.log_path,
            error=ServerNotReady,
            stderr_path=self.stderr_path,
            cwd=self.cwd,
            port_taken=gunicorn_port_taken,
            remove_log=not self._log_given,
        )
        self._child.start(self._listening, self.ready_timeout)
        if self._wait_ready:
            try:
                self.wait_ready(self.ready_timeout)
            except BaseException:
                self.stop()
                raise
        return self

    def _command(self, port: int) -> list[str]:
        self.args[self.args.index("--port") + 1] = str(port)
        return self.args

    @staticmethod
    def _listening(ping: Ping) -> bool:
        return True

    def _ready(self, ping: Ping) -> bool:
        failure = ping.failure()
        if failure is not None:
            raise ServerNotReady(f"{failure}:\n{self._started().settled_output()}")
        return ping.status == 200

    def _started(self) -> ChildServer:
        if self._child is None:
            raise RuntimeError("the server is not started")
        return self._child

    def wait_listening(self, timeout: float | None = None) -> Response:
        """Wait until the server answers ``/ping`` at all (200 or 503); return that answer.

        :raises ServerNotReady: if it exits or does not answer within
            ``timeout`` seconds (default ``ready_timeout``).
        """
        timeout = self.ready_timeout if timeout is None else timeout
        return Response(*self._started().wait(self._listening, timeout))

    def wait_ready(self, timeout: float | None = None) -> Response:
        """Wait until ``/ping`` answers 200 (the model is set up); return that answer.

        :raises ServerNotReady: with the server's log, if it exits, if
            ``/ping`` says the setup failed, or if ``/ping`` is not 200 within
            ``timeout`` seconds (default ``ready_timeout``).
        """
        timeout = self.ready_timeout if timeout is None else timeout
        return Response(*self._started().wait(self._ready, timeout))

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the server with SIGTERM (SIGKILL after ``timeout`` seconds); return its exit code.

        ``None`` if it never started. Stopping twice returns the same code.
        """
        if self._child is None:
            return None
        code = self._child.stop(self.stop_timeout if timeout is None else timeout)
        if not self._log_given:
            with contextlib.suppress(OSError):  # kept if records spilled there
                os.rmdir(f"{self.log_path}.spill")
        return code

    def log(self) -> str:
        """Return what the server has written so far (stdout, and stderr unless ``stderr_path``)."""
        if self._child is None:
            return pathlib.Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        return self._child.log()

    def _output(self) -> str:
        """Everything the server wrote: its log and its separate stderr, if any."""
        return self._started().output()

    def __enter__(self) -> ServedPredictor:
        return self.start() if self._child is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- requests -------------------------------------------------------------------

    def open(
        self,
        path: str,
        method: str = "GET",
        *,
        json: Any = None,
        data: bytes | bytearray | memoryview | str | None = None,
        headers: HeadersArg = None,
        content_type: str | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """Make one HTTP request to the server (see :meth:`ml2p.testing.PredictionClient.open`).

        :param timeout: Seconds to wait for the answer.
        :raises OSError: if the server does not answer.
        """
        return http_request(
            self.port,
            path,
            method,
            json=json,
            data=data,
            headers=headers,
            content_type=content_type,
            timeout=timeout,
        )


def _child_environ(
    environ: Mapping[str, str | None] | None, workers: int, pythonpath: list[str]
) -> dict[str, str]:
    child: dict[str, str | None] = {
        k: v for k, v in os.environ.items() if not k.startswith((ML2P_PREFIX, SAGEMAKER_PREFIX))
    }
    if pythonpath:
        inherited = child.get("PYTHONPATH")
        child["PYTHONPATH"] = os.pathsep.join([*pythonpath, *([inherited] if inherited else [])])
    child[SAGEMAKER_MODEL_SERVER_WORKERS] = str(workers)
    child["PYTHONUNBUFFERED"] = "1"
    child.update(environ or {})
    return {k: v for k, v in child.items() if v is not None}


def _class_reference(model: type) -> tuple:
    """Return a class's dotted path and the folder its top-level package is in (if found)."""
    module_name = model.__module__
    if module_name == "__main__" or "<locals>" in model.__qualname__:
        raise ValueError(
            f"{model.__qualname__} cannot be imported by the server process: "
            "define it at the top level of an importable module, or pass its name"
        )
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    root = None
    if file:
        path = pathlib.Path(file).resolve()
        parts = module_name.split(".")
        base = path.parent if path.name == "__init__.py" else path.with_suffix("")
        if base.parts[-len(parts) :] == tuple(parts):
            root = str(base.parents[len(parts) - 1])
    return f"{module_name}.{model.__qualname__}", root
