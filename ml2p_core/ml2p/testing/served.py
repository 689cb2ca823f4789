"""The production prediction server (``ml2p-docker serve``) in a child process, for tests.

:class:`ServedPredictor` runs the real server (gunicorn and uvicorn workers)
on 127.0.0.1 and a free port, waits until ``/ping`` answers 200 and stops it
with SIGTERM, as SageMaker does. Its requests answer
:class:`~ml2p.testing.Response` objects, like
:class:`~ml2p.testing.PredictionClient`'s.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ml2p.ports import free_port
from ml2p.testing.errors import ServerNotReady
from ml2p.testing.messages import HeadersArg, RequestMethods, Response, encode_request
from ml2p.variables import (
    ML2P_PREFIX,
    ML2P_RECORD_SPILL_DIR,
    SAGEMAKER_MODEL_SERVER_WORKERS,
    SAGEMAKER_PREFIX,
)

HOST = "127.0.0.1"
#: Where the server's recorder spills records S3 refuses (see :doc:`/environment`).
SPILL_DIR_ENV = ML2P_RECORD_SPILL_DIR
#: Seconds to wait after SIGTERM before SIGKILL: SageMaker's grace period.
STOP_TIMEOUT = 30.0
#: gunicorn's log line when the port it should bind is taken.
_PORT_TAKEN = "Connection in use"
_PORT_ATTEMPTS = 3


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
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method.upper(), path, body=body or None, headers=dict(pairs))
        response = conn.getresponse()
        return Response(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


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
        self.log_path = str(log_path) if log_path is not None else _temporary_log()
        # Records S3 refuses spill beside the log: a later server sharing the
        # default folder would send them to its own bucket.
        spill = {SPILL_DIR_ENV: f"{self.log_path}.spill", **(environ or {})}
        self.environ = _child_environ(spill, workers, paths)
        self.stderr_path = None if stderr_path is None else str(stderr_path)
        self._wait_ready = wait_ready
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.stop_seconds: float | None = None
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
        self._log_files: list[Any] = []
        self._last_log = ""

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    # -- starting and stopping -----------------------------------------------------

    def start(self) -> ServedPredictor:
        """Start the server and wait for it (see ``wait_ready``); return ``self``.

        :raises ServerNotReady: with the server's log, if it exits or is not
            ready in time (it is stopped then).
        """
        if self.proc is not None:
            raise RuntimeError("this ServedPredictor was already started")
        try:
            for attempt in range(_PORT_ATTEMPTS):
                self.port = free_port()
                self._spawn()
                try:
                    self.wait_listening(self.ready_timeout)
                    break
                except _PortTaken:
                    # Another process took the port between free_port() and bind.
                    self._kill()
                    if attempt + 1 == _PORT_ATTEMPTS:
                        raise ServerNotReady(f"no free port after {_PORT_ATTEMPTS} tries") from None
            if self._wait_ready:
                self.wait_ready(self.ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self) -> None:
        self._close_logs()
        # Closed by stop(), or here by the next try when the port was taken.
        self._log_files = [open(path, "wb") for path in (self.log_path, self.stderr_path) if path]
        self.args[self.args.index("--port") + 1] = str(self.port)
        self.proc = subprocess.Popen(
            self.args,
            env=self.environ,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_files[0],
            stderr=self._log_files[1] if self.stderr_path else subprocess.STDOUT,
        )

    def _close_logs(self) -> None:
        for file in self._log_files:
            file.close()
        self._log_files = []

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def wait_listening(self, timeout: float | None = None) -> Response:
        """Wait until the server answers ``/ping`` at all (200 or 503); return that answer.

        :raises ServerNotReady: if it exits or does not answer within
            ``timeout`` seconds (default ``ready_timeout``).
        """
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            try:
                return self.get("/ping", timeout=2.0)
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ServerNotReady(f"server not listening after {timeout:g} s:\n{self._output()}")
            time.sleep(0.05)

    def wait_ready(self, timeout: float | None = None) -> Response:
        """Wait until ``/ping`` answers 200 (the model is set up); return that answer.

        :raises ServerNotReady: with the server's log, if it exits, if
            ``/ping`` says the setup failed, or if ``/ping`` is not 200 within
            ``timeout`` seconds (default ``ready_timeout``).
        """
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            try:
                response = self.get("/ping", timeout=2.0)
            except OSError as exc:
                response, error = None, exc
            else:
                if response.status_code == 200:
                    return response
                body = response.get_json(silent=True)
                if isinstance(body, dict) and body.get("status") == "failed":
                    raise ServerNotReady(f"{body.get('message')}:\n{self._settled_output()}")
                error = None
            if time.monotonic() > deadline:
                answer = error if response is None else f"{response.status} {response.text}"
                raise ServerNotReady(
                    f"/ping not 200 after {timeout:g} s (last: {answer}):\n{self._output()}"
                )
            time.sleep(0.05)

    def _check_running(self) -> None:
        if self.proc is None:
            raise RuntimeError("the server is not started")
        if _PORT_TAKEN in self._output():
            raise _PortTaken()
        if self.proc.poll() is not None:
            raise ServerNotReady(f"server exited with {self.proc.returncode}:\n{self._output()}")

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop the server with SIGTERM (SIGKILL after ``timeout`` seconds); return its exit code.

        ``None`` if it never started. Stopping twice returns the same code.
        """
        proc = self.proc
        if proc is not None and proc.poll() is None:
            timeout = self.stop_timeout if timeout is None else timeout
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            self.stop_seconds = time.monotonic() - started
        if self._log_files:
            self._close_logs()
            if not self._log_given:
                self._last_log = self.log()
                os.unlink(self.log_path)
                with contextlib.suppress(OSError):  # kept if records spilled there
                    os.rmdir(f"{self.log_path}.spill")
        return None if proc is None else proc.returncode

    def log(self) -> str:
        """Return what the server has written so far (stdout, and stderr unless ``stderr_path``)."""
        try:
            return pathlib.Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return self._last_log

    def _settled_output(self, at_most: float = 1.0) -> str:
        """The output once it stops growing for a moment (a failure is logged just after)."""
        deadline = time.monotonic() + at_most
        output = self._output()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            latest = self._output()
            if latest == output:
                break
            output = latest
        return output

    def _output(self) -> str:
        """Everything the server wrote: its log and its separate stderr, if any."""
        if self.stderr_path is None:
            return self.log()
        stderr = pathlib.Path(self.stderr_path).read_text(encoding="utf-8", errors="replace")
        return f"{self.log()}{stderr}"

    def __enter__(self) -> ServedPredictor:
        return self.start() if self.proc is None else self

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


class _PortTaken(Exception):
    pass


def _temporary_log() -> str:
    fd, path = tempfile.mkstemp(prefix="ml2p-serve-", suffix=".log")
    os.close(fd)
    return path


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
