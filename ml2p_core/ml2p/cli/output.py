"""Printing JSON and progress for ``ml2p`` commands."""

from __future__ import annotations

import datetime
import json
import sys
import threading
from typing import Any, Callable, ContextManager, Optional

import click

__all__ = ["echo_json", "json_default", "progress", "to_json"]


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


class _NoProgress:
    def __enter__(self) -> Callable[[int], None]:
        return lambda n: None

    def __exit__(self, *exc: Any) -> None:
        return None


class _Bar:
    def __init__(self, total: Optional[int], label: str):
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
    total: Optional[int], label: str, quiet: bool = False
) -> ContextManager[Callable[[int], None]]:
    """Return a context manager giving a ``callback(bytes)`` that advances a progress bar.

    The bar is drawn on stderr only when stderr is a terminal and ``quiet``
    is false; otherwise the callback does nothing.
    """
    if quiet or not sys.stderr.isatty():
        return _NoProgress()
    return _Bar(total, label)
