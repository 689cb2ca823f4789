"""Server settings, read from the SageMaker environment variables.

=================================  ==========================================
variable                           meaning (default)
=================================  ==========================================
``SAGEMAKER_BIND_TO_PORT``         TCP port to listen on (8080)
``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes (the CPU count)
``SAGEMAKER_MODEL_SERVER_TIMEOUT`` seconds a prediction may take before the
                                   request is answered 504 (60)
``SAGEMAKER_MAX_PAYLOAD_IN_MB``    largest request body accepted (6)
``SAGEMAKER_BATCH_STRATEGY``       ``MULTI_RECORD`` or ``SINGLE_RECORD``
                                   (``MULTI_RECORD``)
``ML2P_SERVER_THREADS``            prediction threads per worker (1): a
                                   CPU-bound predictor gains nothing from
                                   more under the GIL (they only contend
                                   with the event loop); raise it for a
                                   predictor that waits on I/O. 0 runs
                                   predictions on the event loop: faster
                                   for predictions of microseconds (see
                                   ``BENCHMARKS.md``), but
                                   ``/ping`` waits while one runs and the
                                   timeout is not enforced
``ML2P_SERVER_BODY_TIMEOUT``       seconds a request body may go without a
                                   byte arriving before the request is
                                   answered 408 and its connection closed
                                   (10)
=================================  ==========================================

How invocations are recorded (:class:`RecorderSettings`, read from the
``ML2P_RECORD_*`` variables) is read here too; see ``docs/serving.md``. The
record layouts (``LAYOUTS``, ``OBJECT``, ``CAPTURE``, ``check_layout``) are
:mod:`ml2p.record_format`'s, importable from here too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable

from ml2p import variables
from ml2p.errors import ConfigError
from ml2p.record_format import CAPTURE, LAYOUTS, OBJECT, check_layout, layout_from_environ
from ml2p.recording import kms_key_from_environ

__all__ = [
    # The record layouts, importable from here as before (ml2p.record_format's).
    "CAPTURE",
    "LAYOUTS",
    "OBJECT",
    "S3_CLIENTS",
    "SPILLS",
    "RecorderSettings",
    "ServerSettings",
    "check_layout",
    "cpu_count",
    "env_number",
]

# The variables read here (named in ml2p.variables).
PORT_ENV = variables.SAGEMAKER_BIND_TO_PORT
WORKERS_ENV = variables.SAGEMAKER_MODEL_SERVER_WORKERS
TIMEOUT_ENV = variables.SAGEMAKER_MODEL_SERVER_TIMEOUT
MAX_PAYLOAD_ENV = variables.SAGEMAKER_MAX_PAYLOAD_IN_MB
BATCH_STRATEGY_ENV = variables.SAGEMAKER_BATCH_STRATEGY
THREADS_ENV = variables.ML2P_SERVER_THREADS
BODY_TIMEOUT_ENV = variables.ML2P_SERVER_BODY_TIMEOUT

BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")

#: Seconds gunicorn gives workers to finish after SIGTERM; SageMaker sends
#: SIGKILL 30 s after SIGTERM, so this leaves time for teardown and exit.
GRACEFUL_TIMEOUT = 25.0
#: Seconds a request body may go without a byte before a 408.
BODY_TIMEOUT = 10.0


def cpu_count() -> int:
    """Return the CPUs this process may run on (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _whole(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = env_number(environ, name, default, minimum)
    if value != int(value):
        raise ConfigError(f"{name}={environ.get(name, '').strip()!r} is not a whole number")
    return int(value)


def _choice(
    environ: Mapping[str, str],
    name: str,
    choices: Sequence[str],
    default: str,
    case: Callable[[str], str],
) -> str:
    """The value of variable ``name`` (``default`` when unset or blank), in ``case``.

    :raises ml2p.errors.ConfigError: naming the variable, if the value is not one of ``choices``.
    """
    value = case((environ.get(name) or default).strip())
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}")
    return value


def env_number(
    environ: Mapping[str, str], name: str, default: float, minimum: float | None = None
) -> float:
    """Read the number in variable ``name`` (``default`` when unset or blank).

    :param minimum: The smallest value allowed; ``None`` allows any positive value.
    :raises ml2p.errors.ConfigError: naming the variable, if its value is not
        a number or is out of range (NaN included).
    """
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if minimum is None:
        if not value > 0:
            raise ConfigError(f"{name}={raw!r} must be positive")
    elif not value >= minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    return value


@dataclass(frozen=True)
class ServerSettings:
    """How the prediction server runs.

    Build it with :meth:`from_environ`; explicit arguments there override
    the environment.
    """

    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    timeout: float = 60.0
    max_payload_mb: float = 6.0
    batch_strategy: str = "MULTI_RECORD"
    threads: int = 1
    graceful_timeout: float = GRACEFUL_TIMEOUT
    body_timeout: float = BODY_TIMEOUT

    @property
    def max_payload_bytes(self) -> int:
        """The largest request body accepted, in bytes (MB here means MiB)."""
        return int(self.max_payload_mb * 1024 * 1024)

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        workers: int | None = None,
        timeout: float | None = None,
    ) -> ServerSettings:
        """Read the settings from ``environ`` (default ``os.environ``).

        :raises ml2p.errors.ConfigError: naming the variable whose value is
            not a number, out of range or not a known batch strategy.
        """
        environ = os.environ if environ is None else environ
        if port is None:
            port = _whole(environ, PORT_ENV, 8080, 0)
        if not 0 <= port <= 65535:
            raise ConfigError(f"port {port} is out of range")
        if workers is None:
            workers = _whole(environ, WORKERS_ENV, cpu_count(), 1)
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        if timeout is None:
            timeout = env_number(environ, TIMEOUT_ENV, 60.0, 0.001)
        if not timeout > 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        strategy = _choice(environ, BATCH_STRATEGY_ENV, BATCH_STRATEGIES, "MULTI_RECORD", str.upper)
        return cls(
            host=host,
            port=port,
            workers=workers,
            timeout=float(timeout),
            max_payload_mb=env_number(environ, MAX_PAYLOAD_ENV, 6.0, 0.000001),
            batch_strategy=strategy,
            threads=_whole(environ, THREADS_ENV, 1, 0),
            body_timeout=env_number(environ, BODY_TIMEOUT_ENV, BODY_TIMEOUT),
        )


# -- recording invocations ------------------------------------------------------

# The variables read here (named in ml2p.variables); the layout and the KMS key are read
# where the library's recorder reads them too (ml2p.record_format, ml2p.recording).
WRITERS_ENV = variables.ML2P_RECORD_WRITERS
QUEUE_SIZE_ENV = variables.ML2P_RECORD_QUEUE_SIZE
QUEUE_BYTES_ENV = variables.ML2P_RECORD_QUEUE_BYTES
QUEUE_WAIT_ENV = variables.ML2P_RECORD_QUEUE_WAIT
BATCH_SIZE_ENV = variables.ML2P_RECORD_BATCH_SIZE
BATCH_BYTES_ENV = variables.ML2P_RECORD_BATCH_BYTES
BATCH_SECONDS_ENV = variables.ML2P_RECORD_BATCH_SECONDS
SPILL_ENV = variables.ML2P_RECORD_SPILL
SPILL_DIR_ENV = variables.ML2P_RECORD_SPILL_DIR
S3_CLIENT_ENV = variables.ML2P_RECORD_S3_CLIENT

#: Where records go that S3 cannot take (see :mod:`ml2p.serving.spill`), the default first.
SPILLS = ("disk", "log")
#: How records are PUT to S3, the default first: ``light`` (signed and sent by
#: :mod:`ml2p.serving.s3_put`, as botocore signs) or ``boto3`` (``put_object``).
S3_CLIENTS = ("light", "boto3")
#: Writer threads per worker: PUTs in flight at once.
DEFAULT_WRITERS: dict[str, int] = {"object": 16, "capture": 2}
#: Data (one per datum) queued per worker before requests wait for room.
DEFAULT_QUEUE_SIZE: dict[str, int] = {"object": 1000, "capture": 50000}
#: Bytes of capture lines queued per worker before requests wait for room.
DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024
#: Seconds a request waits for room in a full queue before its records spill.
DEFAULT_QUEUE_WAIT = 2.0
#: ``capture``: a file is written at this many data, ...
DEFAULT_BATCH_SIZE = 10000
#: ... or once its lines reach this many bytes, ...
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
#: ... or when its first line is this many seconds old.
DEFAULT_BATCH_SECONDS = 5.0
DEFAULT_SPILL = "disk"
DEFAULT_SPILL_DIR = os.path.join(tempfile.gettempdir(), "ml2p-record-spill")


@dataclass(frozen=True)
class RecorderSettings:
    """How invocations are recorded, from the ``ML2P_RECORD_*`` variables.

    Build it with :meth:`from_environ`. ``None`` for ``writers`` and
    ``queue_size`` means the layout's default.
    """

    layout: str = OBJECT
    kms_key_id: str | None = None
    writers: int | None = None
    queue_size: int | None = None
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    queue_wait: float = DEFAULT_QUEUE_WAIT
    batch_size: int = DEFAULT_BATCH_SIZE
    batch_bytes: int = DEFAULT_BATCH_BYTES
    batch_seconds: float = DEFAULT_BATCH_SECONDS
    spill: str = DEFAULT_SPILL
    spill_dir: str = DEFAULT_SPILL_DIR
    s3_client: str = S3_CLIENTS[0]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> RecorderSettings:
        """Read the settings from ``environ`` (default ``os.environ``).

        :raises ml2p.errors.ConfigError: naming the variable whose value is
            not a number, out of range, or not a known layout, spill or S3 client.
        """
        environ = os.environ if environ is None else environ
        layout = layout_from_environ(environ)
        spill = _choice(environ, SPILL_ENV, SPILLS, DEFAULT_SPILL, str.lower)
        s3_client = _choice(environ, S3_CLIENT_ENV, S3_CLIENTS, S3_CLIENTS[0], str.lower)
        return cls(
            layout=layout,
            kms_key_id=kms_key_from_environ(environ),
            # 0 (unset) means the layout's default.
            writers=_whole(environ, WRITERS_ENV, 0, 1) or None,
            queue_size=_whole(environ, QUEUE_SIZE_ENV, 0, 1) or None,
            queue_bytes=_whole(environ, QUEUE_BYTES_ENV, DEFAULT_QUEUE_BYTES, 1),
            queue_wait=env_number(environ, QUEUE_WAIT_ENV, DEFAULT_QUEUE_WAIT, 0),
            batch_size=_whole(environ, BATCH_SIZE_ENV, DEFAULT_BATCH_SIZE, 1),
            batch_bytes=_whole(environ, BATCH_BYTES_ENV, DEFAULT_BATCH_BYTES, 1),
            batch_seconds=env_number(environ, BATCH_SECONDS_ENV, DEFAULT_BATCH_SECONDS),
            spill=spill,
            spill_dir=(environ.get(SPILL_DIR_ENV) or "").strip() or DEFAULT_SPILL_DIR,
            s3_client=s3_client,
        )
