"""A server command run in a child process on 127.0.0.1 and a free port: started, awaited, stopped.

:class:`ChildServer` is what the servers ML2P starts for a while have in
common (``ml2p local transform``'s and ``ml2p predictions replay --local``'s
server, the test kit's :class:`~ml2p.testing.ServedPredictor`): it runs the
command on a port from :func:`~ml2p.ports.free_port` with its output in a log
file, waits until ``/ping`` gives the answer the caller waits for, and
notices a child that exits first (the error ends with its log's last lines).
When the child says its port was taken meanwhile, it starts again on another
port. :meth:`ChildServer.stop` sends SIGTERM, waits a grace period, then
SIGKILLs and reaps the child. Its users keep only what differs: the command,
the environment, the log's place and how errors are worded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable, NamedTuple

from ml2p.errors import ML2PError
from ml2p.ports import free_port

__all__ = ["Answer", "ChildServer", "Ping", "gunicorn_port_taken", "http_request", "temporary_log"]

HOST = "127.0.0.1"
#: Seconds a child gets to stop after SIGTERM before it is killed (SageMaker's grace period).
STOP_GRACE = 30.0
#: How many ports a start tries when the child says its port was taken.
PORT_ATTEMPTS = 3


class Answer(NamedTuple):
    """An HTTP answer of a child server, read whole."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def failure(self) -> str | None:
        """The message of a ``{"status": "failed", "message": ...}`` answer (a failed setup)."""
        try:
            answer = json.loads(self.body)
        except ValueError:
            return None
        if isinstance(answer, dict) and answer.get("status") == "failed":
            return str(answer.get("message"))
        return None


#: An answer to ``GET /ping``.
Ping = Answer


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """Make one request to 127.0.0.1:``port`` on a connection of its own, and read the answer.

    :raises OSError: if nothing answers (e.g. ``ConnectionRefusedError``).
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


class _PortTaken(Exception):
    """The child could not bind its port: another process took it after free_port()."""


def gunicorn_port_taken(output: str, port: int) -> bool:
    """Whether ``ml2p-docker serve`` (gunicorn) says it cannot bind its port."""
    return "Connection in use" in output


def temporary_log() -> str:
    """Return the path of a new empty log file in the temporary folder."""
    fd, path = tempfile.mkstemp(prefix="ml2p-serve-", suffix=".log")
    os.close(fd)
    return path


class ChildServer:
    """A server command in a child process on 127.0.0.1.

    :param command: Makes the command line for a port.
    :param environ: The child's whole environment.
    :param log_path: Where the child's output goes (truncated at each start).
    :param name: How errors name the server (``"`ml2p local serve m`"``).
    :param error: The exception class of the errors :meth:`start` and
        :meth:`wait` raise (called with the message).
    :param stderr_path: Where the child's stderr goes instead, if given.
    :param cwd: The child's working directory (default: this process's).
    :param port_taken: Tells from the child's output and its port whether it
        failed because the port was taken (then :meth:`start` tries another).
    :param tail_lines: How many of the log's last lines errors quote (``None``: all).
    :param remove_log: Remove the log file when stopped (:meth:`log` still
        answers what it held).
    :ivar port: The port of the last start (0 before).
    :ivar proc: The child's ``subprocess.Popen`` (kept once stopped).
    :ivar stop_seconds: Seconds the last :meth:`stop` waited for the child (``None`` before).
    """

    def __init__(
        self,
        command: Callable[[int], Sequence[str]],
        environ: Mapping[str, str],
        log_path: str,
        *,
        name: str = "the server",
        error: Callable[[str], Exception] = ML2PError,
        stderr_path: str | None = None,
        cwd: str | None = None,
        port_taken: Callable[[str, int], bool] | None = None,
        tail_lines: int | None = None,
        remove_log: bool = False,
    ):
        self.command = command
        self.environ = dict(environ)
        self.log_path = log_path
        self.stderr_path = stderr_path
        self.name = name
        self.error = error
        self.cwd = cwd
        self.port_taken = port_taken
        self.tail_lines = tail_lines
        self.remove_log = remove_log
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.stop_seconds: float | None = None
        self._files: list[Any] = []
        self._last_output = ""

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    # -- starting ---------------------------------------------------------------------

    def start(self, ready: Callable[[Ping], bool], timeout: float) -> Ping:
        """Start the child and :meth:`wait` until ``ready``; return that answer.

        A child that says its port was taken is killed and started again on
        another port, ``PORT_ATTEMPTS`` times in all. On any failure the
        child is stopped before the error is raised.
        """
        if self.proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        try:
            for _ in range(PORT_ATTEMPTS):
                self.port = free_port()
                self._spawn()
                try:
                    return self.wait(ready, timeout)
                except _PortTaken:
                    self._kill()
            raise self.error(f"{self.name} found no free port in {PORT_ATTEMPTS} tries")
        except BaseException:
            self.stop()
            raise

    def _spawn(self) -> None:
        self._close_files()
        # Closed by stop(), or by the next try when the port was taken.
        self._files = [open(path, "wb") for path in (self.log_path, self.stderr_path) if path]
        self.proc = subprocess.Popen(
            list(self.command(self.port)),
            env=self.environ,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._files[0],
            stderr=self._files[1] if self.stderr_path else subprocess.STDOUT,
        )

    def wait(self, ready: Callable[[Ping], bool], timeout: float) -> Ping:
        """Ask ``/ping`` until ``ready`` holds for its answer; return that answer.

        ``ready`` may raise to give up (a setup that says it failed).

        :raises: ``error`` (the class given), if the child exits first or
            ``ready`` does not hold within ``timeout`` seconds; the message
            ends with the log's last lines.
        """
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        deadline = time.monotonic() + timeout
        last: Any = "no answer"
        while True:
            self._check_running()
            try:
                ping = self.ping()
            except OSError as exc:
                last = exc
            else:
                if ready(ping):
                    return ping
                last = f"{ping.status} {ping.body.decode('utf-8', 'replace').strip()}"
            if time.monotonic() > deadline:
                raise self.error(
                    f"{self.name} was not ready after {timeout:g} s (last answer: {last}):\n"
                    f"{self.tail()}"
                )
            time.sleep(0.05)

    def ping(self, timeout: float = 2.0) -> Ping:
        """``GET /ping`` once.

        :raises OSError: if nothing answers.
        """
        return http_request(self.port, "GET", "/ping", timeout=timeout)

    def _check_running(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        # Checked while the child runs too: gunicorn retries a taken port for seconds.
        if self.port_taken is not None and self.port_taken(self.output(), self.port):
            raise _PortTaken()
        if code is not None:
            raise self.error(
                f"{self.name} exited with status {code} before it was ready:\n{self.tail()}"
            )

    # -- output -------------------------------------------------------------------------

    def output(self) -> str:
        """Everything the child wrote so far: its log, then its separate stderr, if any."""
        if not self.stderr_path:
            return self.log()
        stderr = pathlib.Path(self.stderr_path).read_text(encoding="utf-8", errors="replace")
        return self.log() + stderr

    def log(self) -> str:
        """What the child wrote to its log so far (its stdout only, if ``stderr_path``)."""
        try:
            return pathlib.Path(self.log_path).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:  # removed by stop()
            return self._last_output

    def tail(self) -> str:
        """The output's last ``tail_lines`` lines (all of it if ``None``)."""
        lines = self.output().strip().splitlines()
        if self.tail_lines is not None:
            lines = lines[-self.tail_lines :]
        return "\n".join(lines)

    def settled_output(self, at_most: float = 1.0) -> str:
        """The output once it stops growing for a moment (a failure is logged just after)."""
        deadline = time.monotonic() + at_most
        output = self.output()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            latest = self.output()
            if latest == output:
                break
            output = latest
        return output

    # -- stopping ------------------------------------------------------------------------

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM the child, SIGKILL it if it outlasts ``grace`` seconds; return its exit code.

        ``None`` if it never started. Stopping again returns the same code.
        """
        proc = self.proc
        if proc is not None and proc.poll() is None:
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self._kill()
            self.stop_seconds = time.monotonic() - started
        if self._files:
            self._close_files()
            if self.remove_log:
                self._last_output = self.log()
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.log_path)
        return None if proc is None else proc.returncode

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _close_files(self) -> None:
        for file in self._files:
            file.close()
        self._files = []
