"""Logging for ML2P.

ML2P logs under the ``ml2p`` logger. Library code never adds handlers (that
is the application's choice, and adding one per instance duplicated every line
in ML2P 0.6); the ``ml2p`` and ``ml2p-docker`` commands call
:func:`configure_logging`, which installs exactly one handler however often
it is called.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Optional

LOGGER_NAME = "ml2p"
_HANDLER_MARK = "_ml2p_handler"

logger = logging.getLogger(LOGGER_NAME)


def get_logger(name: str = "") -> logging.Logger:
    """Return the ``ml2p`` logger, or its child ``ml2p.<name>``."""
    return logger.getChild(name) if name else logger


def _replace_stream(handler: logging.Handler, stream: IO[str]) -> None:
    # StreamHandler.setStream flushes the old stream first, which raises if the
    # old stream is already closed (a finished test's capture, a closed pipe).
    handler.acquire()
    try:
        handler.stream = stream  # type: ignore[attr-defined]
    finally:
        handler.release()


def configure_logging(
    level: int = logging.INFO, stream: Optional[IO[str]] = None
) -> logging.Handler:
    """Install ML2P's single stream handler on the ``ml2p`` logger (idempotent).

    Calling it again replaces the stream and level of the existing handler
    instead of adding a second one, so no line is ever logged twice.
    """
    stream = stream if stream is not None else sys.stdout
    for handler in logger.handlers:
        if getattr(handler, _HANDLER_MARK, False):
            _replace_stream(handler, stream)
            handler.setLevel(level)
            logger.setLevel(level)
            return handler
    handler = logging.StreamHandler(stream)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler
