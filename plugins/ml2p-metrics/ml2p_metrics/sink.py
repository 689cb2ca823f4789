"""Where EMF lines go, configured by environment variables.

``ML2P_METRICS_NAMESPACE``
    The CloudWatch namespace (default ``ML2P``): 1 to 255 characters among
    letters, digits, space and ``. - _ / # :``, not starting with ``AWS/``.
``ML2P_METRICS_FILE``
    If set (and not ``-``), lines are appended to this file instead of
    written to standard output; its folder must exist.

Lines go to ``sys.stdout`` by default, flushed after each line, one whole
line per write under a lock: SageMaker ships a container's standard output to
CloudWatch Logs, which extracts the metrics from EMF lines. The
``ml2p.metrics`` logger carries the plugin's own warnings (a line that could
not be written), never the EMF lines themselves, so that a log handler on
standard output cannot duplicate a metric.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import threading
from typing import NamedTuple

from ml2p.errors import PluginError
from ml2p_metrics import PLUGIN_NAME

NAMESPACE_ENV = "ML2P_METRICS_NAMESPACE"
FILE_ENV = "ML2P_METRICS_FILE"
DEFAULT_NAMESPACE = "ML2P"

_NAMESPACE = re.compile(r"^[A-Za-z0-9 ._/#:-]{1,255}$")

logger = logging.getLogger("ml2p.metrics")
_write_lock = threading.Lock()


class Settings(NamedTuple):
    """The plugin's configuration, read from the environment."""

    namespace: str
    path: str | None


@functools.lru_cache(maxsize=16)
def _parse(namespace: str | None, path: str | None) -> Settings:
    if namespace is None or namespace == "":
        namespace = DEFAULT_NAMESPACE
    if (
        not _NAMESPACE.match(namespace)
        or not namespace.strip()
        or namespace.upper().startswith("AWS/")
    ):
        raise PluginError(
            PLUGIN_NAME,
            f"{NAMESPACE_ENV}={namespace!r} is not a valid CloudWatch namespace: use 1 to 255 "
            "letters, digits, spaces and . - _ / # :, not starting with AWS/",
        )
    if path in (None, "", "-"):
        return Settings(namespace, None)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise PluginError(
            PLUGIN_NAME,
            f"{FILE_ENV}={path!r}: cannot append metrics there "
            f"({'it is a folder' if os.path.isdir(path) else f'no folder {folder!r}'})",
        )
    return Settings(namespace, path)


def settings() -> Settings:
    """Return the current settings.

    :raises ml2p.errors.PluginError: naming the variable, if
        ``ML2P_METRICS_NAMESPACE`` or ``ML2P_METRICS_FILE`` is invalid.
    """
    return _parse(os.environ.get(NAMESPACE_ENV), os.environ.get(FILE_ENV))


def write_line(line: str, where: Settings) -> None:
    """Write one EMF line (without its newline) where ``where`` says.

    A failure to write is logged on ``ml2p.metrics`` and otherwise ignored:
    metrics must never change the outcome of what they measure.
    """
    data = line + "\n"
    try:
        with _write_lock:
            if where.path is None:
                stream = sys.stdout
                stream.write(data)
                stream.flush()
            else:
                # O_APPEND: whole lines from several worker processes do not interleave.
                with open(where.path, "a", encoding="utf-8") as f:
                    f.write(data)
    except Exception as exc:
        logger.warning("ml2p-metrics: cannot write a metrics line: %s: %s", type(exc).__name__, exc)
