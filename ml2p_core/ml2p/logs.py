"""Logging for ML2P and for the model code it runs.

ML2P logs under the ``ml2p`` logger; model code logs wherever it likes
(``logging.getLogger(__name__)``). Inside a container every line must reach
stdout, which SageMaker ships to CloudWatch: ML2P 0.6 arranged that with
``setup_logging()``, which set the root logger to INFO and added a stdout
handler to it, once per trainer, predictor or generator made (so a process
that made two printed every line twice).

Here there is exactly one such handler, on the root logger, however often
it is asked for:

* :func:`configure_logging` is what ``ml2p-docker`` calls before it loads the
  model: the handler, and the root logger at the given level.
* :func:`setup_logging` (also ``ml2p.core.setup_logging``, and the
  ``setup_logging()`` method every trainer, predictor and generator calls
  when it is made, as in ML2P 0.6) installs the same handler only if the root
  logger has no handler at all (an application that configured logging keeps
  its own), and lowers the root logger to INFO if it is less verbose.

ML2P's own loggers add no handler of their own: their records reach the root
logger's handlers like everyone else's, so no line is printed twice.

The handler writes everyone else's records (the model's, its libraries')
to stdout as the bare message, as ML2P 0.6's handler printed them, so stdout
carries exactly what 0.6 printed there: CloudWatch metric filters and
SageMaker metric definitions written for 0.6 match the model's lines as they
were. ML2P's own records (loggers ``ml2p`` and ``ml2p.*``) go to stderr as
:data:`LOG_FORMAT`, ``<time> <LEVEL> <logger>: <message>``, beside what the
server (gunicorn) and Python itself write there; SageMaker ships both
streams to CloudWatch. Given an explicit stream, the handler writes every
record there, each in its own format.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Union

LOGGER_NAME = "ml2p"
_HANDLER_MARK = "_ml2p_handler"
#: The format of the lines of ML2P's own records.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The format of every other record's lines: the message alone, as in ML2P 0.6.
MODEL_LOG_FORMAT = "%(message)s"
#: Loggers kept one step quieter than the root logger: the AWS SDK and its
#: HTTP client log where they found credentials at INFO, and every request at
#: DEBUG, signatures included. At INFO they are kept at WARNING, at DEBUG at INFO.
QUIET_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")

logger = logging.getLogger(LOGGER_NAME)
#: The level :func:`configure_logging` last gave each of the :data:`QUIET_LOGGERS`.
_quieted: dict[str, int] = {}


def is_ml2p_record(record: logging.LogRecord) -> bool:
    """Whether ``record`` comes from one of ML2P's own loggers (``ml2p``, ``ml2p.*``)."""
    return record.name == LOGGER_NAME or record.name.startswith(LOGGER_NAME + ".")


class LineFormatter(logging.Formatter):
    """:data:`LOG_FORMAT` for ML2P's own records, :data:`MODEL_LOG_FORMAT` for the rest.

    Either way an exception's traceback follows its record's line.
    """

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)
        self._model = logging.Formatter(MODEL_LOG_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if is_ml2p_record(record):
            return super().format(record)
        return self._model.format(record)


#: Where a handler writes: a stream, or ``"stdout"`` / ``"stderr"`` for
#: ``sys.stdout`` / ``sys.stderr`` as they are when each line is written.
Target = Union[IO[str], str, None]


class _Handler(logging.StreamHandler):
    """A stream handler writing to a given stream, or to ``sys.stdout`` or ``sys.stderr``.

    With no target, ML2P's own records go to ``sys.stderr`` and the others
    to ``sys.stdout``. Following ``sys.stdout`` as it is at each line means a
    replaced stdout (a test's capture, a notebook's) is written to rather
    than a closed old one.
    """

    def __init__(self, target: Target = None):
        logging.Handler.__init__(self)
        self.target = target
        setattr(self, _HANDLER_MARK, True)
        self.setFormatter(LineFormatter())

    @property  # type: ignore[override]
    def stream(self) -> IO[str]:
        target = self.target
        if target is None or target == "stdout":
            return sys.stdout
        if target == "stderr":
            return sys.stderr
        return target  # type: ignore[return-value]

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is None and is_ml2p_record(record):
            # StreamHandler.emit writes to self.stream: route this record only.
            try:
                sys.stderr.write(self.format(record) + self.terminator)
                sys.stderr.flush()
            except Exception:  # as StreamHandler.emit: logging never raises
                self.handleError(record)
            return
        super().emit(record)

    @stream.setter
    def stream(self, value: Target) -> None:
        self.target = value


def ml2p_handler() -> logging.Handler | None:
    """Return ML2P's handler on the root logger, if it is installed."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, _HANDLER_MARK, False):
            return handler
    return None


def _install(stream: Target) -> logging.Handler:
    handler = ml2p_handler()
    if handler is None:
        handler = _Handler(stream)
        logging.getLogger().addHandler(handler)
    else:
        # Setting the attribute directly: StreamHandler.setStream flushes the
        # old stream first, which raises if it is closed (a finished capture).
        handler.acquire()
        try:
            handler.stream = stream  # type: ignore[attr-defined]
        finally:
            handler.release()
    # An earlier ML2P version's handler on the ``ml2p`` logger would print ML2P's lines twice.
    for old in [h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)]:
        logger.removeHandler(old)
    logger.propagate = True
    return handler


def configure_logging(level: int = logging.INFO, stream: Target = None) -> logging.Handler:
    """Send every logger's records at ``level`` and above to ``stream`` (idempotent).

    Installs ML2P's one handler on the root logger (or points the installed
    one at ``stream``) and sets the root logger to ``level``; the
    :data:`QUIET_LOGGERS` not configured otherwise stay at WARNING (INFO when
    ``level`` is DEBUG).

    :param level: The root logger's level.
    :param stream: Where lines go: by default ML2P's own records to
        ``sys.stderr`` and the rest to ``sys.stdout``; or a stream, or
        ``"stdout"`` or ``"stderr"`` for ``sys.stdout`` or ``sys.stderr`` as
        it is when each line is written, for every record.
    :returns: The handler.
    """
    handler = _install(stream)
    logging.getLogger().setLevel(level)
    quiet_level = logging.INFO if level < logging.INFO else logging.WARNING
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        # Only a level nobody set, or the one set here before, is ours to change.
        if quiet.level in (logging.NOTSET, _quieted.get(name)):
            quiet.setLevel(quiet_level)
            _quieted[name] = quiet_level
    return handler


def setup_logging() -> None:
    """Ensure that INFO logging reaches stdout, as ML2P 0.6's ``setup_logging()`` did.

    The root logger is lowered to INFO if it is less verbose, and, if it has
    no handler at all, gets ML2P's handler (records to stdout, ML2P's own to
    stderr). Calling it again changes nothing: no line is ever printed twice.
    """
    root = logging.getLogger()
    if not root.handlers:
        _install(None)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
