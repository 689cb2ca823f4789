"""Printing JSON and progress for ``ml2p`` commands."""

from __future__ import annotations

import datetime
import json
import sys
import threading
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Callable

import click

from ml2p.errors import ML2PError

__all__ = [
    "decoded_body",
    "echo_json",
    "echo_log_events",
    "json_default",
    "progress",
    "to_json",
]


def json_default(value: Any) -> Any:
    """Return a JSON-encodable form of ``value`` for :func:`json.dumps`'s ``default``.

    Dates and times print as ML2P 0.6 printed them, ``str(value)``
    (``2026-12-01 08:30:26.280685+00:00``); bytes and unread response bodies
    as text.

    :raises TypeError: for anything else.
    """
    if isinstance(value, (datetime.datetime, datetime.date)):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "read"):  # A streaming body left in a response.
        return value.read().decode("utf-8", errors="replace")
    raise TypeError(f"cannot print {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """Return ``value`` as JSON indented by two spaces, using :func:`json_default`."""
    return json.dumps(value, indent=2, default=json_default)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (one document per call, as ML2P 0.6 does)."""
    click.echo(to_json(value))


def decoded_body(raw: bytes) -> Any:
    """Return a response body to print: its JSON value if it parses, else its text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def echo_log_events(prj: Any, what: str, group: str, read: Callable[[Any], Iterable[Any]]) -> None:
    """Print each event ``read(logs_client)`` yields as one JSON line.

    :param prj: The project (:class:`ml2p.cli.context.Project`), whose
        CloudWatch Logs client is read.
    :param what: What the logs are of, for the error (``"endpoint 'x'"``).
    :param group: The log group read.
    :raises ML2PError: naming ``what`` when the log group does not exist yet.
    """
    from botocore.exceptions import ClientError

    from ml2p.cloudwatch import event_record

    client = prj.aws_client("logs")
    try:
        for event in read(client):
            click.echo(json.dumps(event_record(event)))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        raise ML2PError(
            f"no CloudWatch logs for {what} yet: log group {group!r} does not exist"
        ) from exc


class _NoProgress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n: None

    def __exit__(self, *exc: Any) -> None:
        return None


class _Bar:
    def __init__(self, total: int | None, label: str):
        self._cm = click.progressbar(length=total or 0, label=label, file=sys.stderr)

    def __enter__(self) -> Callable[[int], None]:
        bar = self._cm.__enter__()
        lock = threading.Lock()

        # Downloads report progress from several threads at once.
        def update(n: int) -> None:
            with lock:
                bar.update(n)

        return update

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


def progress(
    total: int | None, label: str, quiet: bool = False
) -> AbstractContextManager[Callable[[int], None]]:
    """Return a context manager giving a ``callback(bytes)`` that advances a progress bar.

    The bar is drawn on stderr only when stderr is a terminal and ``quiet``
    is false; otherwise the callback does nothing.
    """
    if quiet or not sys.stderr.isatty():
        return _NoProgress()
    return _Bar(total, label)
