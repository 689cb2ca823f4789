"""Drive ``ml2p`` in subprocesses and talk to its server: what demo.py and the e2e test share.

Both take the diabetes example through ``ml2p local generate | train | serve``
and send it predictions over HTTP. This module is the standard library only:
``demo.py`` imports it (``from e2e import local_loop``) with nothing but
Python, before ML2P is installed into the demo's virtualenv; the e2e tests
import it as a sibling module (``e2e/conftest.py``).
"""

from __future__ import annotations

import csv
import json
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "FEATURES",
    "STOP_TIMEOUT",
    "LoopError",
    "free_port",
    "http",
    "log_tail",
    "ml2p_command",
    "read_rows",
    "run_command",
    "stop",
    "wait_for_ping",
]

#: The diabetes example's input features, in its training data's order.
FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")
#: Seconds a server gets to stop after SIGTERM (SageMaker sends SIGKILL 30 s after it).
STOP_TIMEOUT = 35.0


class LoopError(Exception):
    """A command or the server failed; the message says which, with its output's end."""


def ml2p_command(python: Any, cfg: Any, *args: Any) -> list[str]:
    """``python -m ml2p --cfg CFG ARGS...`` as a list of strings."""
    return [str(python), "-m", "ml2p", "--cfg", str(cfg), *map(str, args)]


def run_command(
    cmd: Sequence[Any],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Any | None = None,
    timeout: float | None = None,
) -> str:
    """Run ``cmd`` and return its stdout.

    :raises LoopError: naming ``what`` with its exit status and the end of its
        output (stdout, then stderr), if it fails.
    """
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=None if cwd is None else str(cwd),
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        output = (proc.stdout.strip() + "\n" + proc.stderr.strip()).strip()
        tail = "\n".join(output.splitlines()[-25:])
        raise LoopError(f"{what} failed (exit status {proc.returncode}):\n{tail}")
    return proc.stdout


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """GET ``url`` (or POST ``body`` as JSON); return ``(status, decoded JSON)``.

    An error answer is returned, not raised; one that is not JSON comes back as text.
    """
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode("utf-8", "replace")


def log_tail(log: pathlib.Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a server's log (for error messages)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def wait_for_ping(
    server: subprocess.Popen, base: str, log: pathlib.Path, timeout: float = 120.0
) -> dict[str, Any]:
    """Wait until ``base``/ping answers 200; return its body.

    :raises LoopError: with the log's end, if the server exits or is not
        healthy within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last: Any = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise LoopError(f"the server exited with status {server.returncode}:\n{log_tail(log)}")
        try:
            status, body = http(f"{base}/ping", timeout=2.0)
            if status == 200:
                return dict(body)
            last = body
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.1)
    raise LoopError(f"/ping not healthy after {timeout:.0f} s ({last}):\n{log_tail(log)}")


def stop(server: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGTERM the server; return its exit status, or ``None`` if it had to be killed."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def read_rows(path: pathlib.Path) -> list[dict[str, float]]:
    """The rows of a CSV file of numbers, as dicts of floats.

    :raises LoopError: naming the file, if it cannot be read or holds something else.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except (OSError, ValueError) as exc:
        raise LoopError(f"cannot read the rows of {path}: {exc}") from exc
