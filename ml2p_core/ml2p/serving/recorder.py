"""Recording invocations in the background, off the request path.

:class:`BackgroundRecorder` implements the :class:`ml2p.recording.Recorder`
protocol: :meth:`~BackgroundRecorder.record` puts the record on a bounded
queue and returns; daemon writer threads store it in S3, retrying with
exponential backoff and jitter for as long as S3 fails (an outage delays
records, it never fails a prediction). When the queue is full the request
thread waits (bounded, logged) instead of dropping the record. A record that
is still unwritten when the recorder closes, or that waited too long for
room in the queue, is logged whole on one line::

    UNWRITTEN_RECORD {"key": "...", "body": "..."}

and counted in :attr:`~BackgroundRecorder.unwritten`, so it survives in the
container log.

Two layouts:

``object`` (default, as in ML2P 0.6)
    one object per record, at the key the predictor chose
    (``predictions/<model_version>/<record id>.json``).
``batched``
    JSON Lines objects ``predictions/<model_version>/batches/<ts>--<uuid>.jsonl``
    holding many records, one ``{"id": <record id>, "input": ..., "result": ...}``
    per line, written every ``batch_size`` records or ``batch_seconds``
    seconds, whichever comes first. One S3 request per 100 records instead of
    one per record.

:func:`recorder_from_environ` builds one from ``ML2P_RECORD_LAYOUT``,
``ML2P_RECORD_BATCH_SIZE``, ``ML2P_RECORD_BATCH_SECONDS``,
``ML2P_RECORD_QUEUE_SIZE`` and ``ML2P_RECORD_WRITERS``.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import posixpath
import queue
import random
import threading
import time
import uuid
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple

from ml2p.errors import ConfigError

logger = logging.getLogger("ml2p.serving.recorder")

LAYOUTS = ("object", "batched")
UNWRITTEN_MARK = "UNWRITTEN_RECORD"

Item = Tuple[str, bytes]


def _now_stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def batch_line(key: str, body: bytes) -> bytes:
    """Return the JSON Lines line of a record: ``{"id": <record id>, **body}``.

    The record id is the key's file name without ``.json``.
    """
    record_id = posixpath.basename(key)
    if record_id.endswith(".json"):
        record_id = record_id[: -len(".json")]
    head = b'{"id":' + json.dumps(record_id).encode("utf-8")
    rest = body.strip()
    # Splice into the body's object rather than decode and re-encode it.
    if rest[:1] == b"{" and rest[1:].lstrip()[:1] not in (b"}", b""):
        return head + b"," + rest[1:]
    try:
        decoded = json.loads(rest)
    except ValueError:
        decoded = rest.decode("utf-8", "replace")
    if isinstance(decoded, dict):
        return json.dumps({"id": record_id, **decoded}).encode("utf-8")
    return json.dumps({"id": record_id, "body": decoded}).encode("utf-8")


def batch_key(record_key: str) -> str:
    """Return a new batch object key beside the folder of ``record_key``."""
    folder = posixpath.dirname(record_key)
    name = f"batches/{_now_stamp()}--{uuid.uuid4()}.jsonl"
    return f"{folder}/{name}" if folder else name


class BackgroundRecorder:
    """Store invocation records in S3 from background threads.

    :param bucket: The project bucket.
    :param layout: ``object`` or ``batched`` (see the module documentation).
    :param client: A boto3 S3 client (default: made on first use with
        :func:`ml2p.aws.client`, with short timeouts so an outage is noticed).
    :param session: A boto3 session for that default client.
    :param queue_size: Records waiting before :meth:`record` blocks.
    :param put_wait: Seconds :meth:`record` waits for room in a full queue;
        after that the record is logged whole and counted as unwritten.
    :param writers: Writer threads (``object`` layout; ``batched`` uses one).
    :param batch_size: Records per batch object.
    :param batch_seconds: Longest a record waits in a batch.
    :param backoff_base: First retry delay, in seconds.
    :param backoff_max: Longest retry delay, in seconds.
    :param log: Where ``UNWRITTEN_RECORD`` lines go (default: this module's
        logger, at ERROR level).
    """

    def __init__(
        self,
        bucket: str,
        *,
        layout: str = "object",
        client: Any = None,
        session: Any = None,
        queue_size: int = 10000,
        put_wait: float = 10.0,
        writers: int = 8,
        batch_size: int = 100,
        batch_seconds: float = 5.0,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        log: Optional[Callable[[str], None]] = None,
    ):
        if layout not in LAYOUTS:
            raise ConfigError(f"record layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        if queue_size < 1 or writers < 1 or batch_size < 1 or not batch_seconds > 0:
            raise ConfigError("queue_size, writers and batch_size must be >= 1, batch_seconds > 0")
        self.bucket = bucket
        self.layout = layout
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.put_wait = put_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._client = client
        self._session = session
        self._client_lock = threading.Lock()
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=queue_size)
        self._log_unwritten = log or (lambda line: logger.error("%s", line))
        self._lock = threading.Lock()
        self._in_flight: Dict[int, List[Item]] = {}
        self._abandoned: Set[int] = set()
        self._closing = threading.Event()
        self._closed = False
        self._deadline = math.inf
        #: Records stored in S3.
        self.written = 0
        #: Records logged as ``UNWRITTEN_RECORD`` instead of being stored.
        self.unwritten = 0
        #: Failed S3 requests (each was retried, or its records logged).
        self.failures = 0
        count = 1 if layout == "batched" else writers
        target = self._batch_loop if layout == "batched" else self._object_loop
        self._threads = [
            threading.Thread(target=target, name=f"ml2p-recorder-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in self._threads:
            thread.start()

    # -- the request side -------------------------------------------------

    def record(self, key: str, body: bytes) -> None:
        """Queue ``body`` for storing at ``key``; returns at once unless the queue is full.

        When the queue is full this waits up to ``put_wait`` seconds (and
        logs that it waits); if there is still no room, the record is logged
        whole and counted as unwritten. Never raises for S3 trouble.
        """
        item = (key, body)
        if self._closed:
            self._give_up([item], "recorder is closed")
            return
        try:
            self._queue.put_nowait(item)
            return
        except queue.Full:
            pass
        logger.warning(
            "invocation recorder queue is full (%d records waiting, S3 slow or down): "
            "waiting up to %.1f s",
            self._queue.qsize(),
            self.put_wait,
        )
        try:
            self._queue.put(item, timeout=self.put_wait)
        except queue.Full:
            self._give_up([item], f"queue still full after {self.put_wait:.1f} s")

    @property
    def pending(self) -> int:
        """Records queued or being written."""
        with self._lock:
            in_flight = sum(len(items) for items in self._in_flight.values())
        return self._queue.qsize() + in_flight

    # -- shutting down ----------------------------------------------------

    def close(self, timeout: Optional[float] = None) -> None:
        """Write what is pending, for up to ``timeout`` seconds (``None``: until done).

        Records still unwritten after that are logged whole and counted in
        :attr:`unwritten`. Records given to :meth:`record` afterwards are
        logged the same way.
        """
        if self._closed:
            return
        deadline = math.inf if timeout is None else time.monotonic() + max(0.0, timeout)
        self._deadline = deadline
        self._closing.set()
        # A writer inside an S3 call gets half a second past the deadline, all together.
        join_until = deadline + 0.5
        for thread in self._threads:
            remaining = None if deadline == math.inf else max(0.0, join_until - time.monotonic())
            thread.join(remaining)
        self._closed = True
        leftovers: List[Item] = []
        with self._lock:
            # A writer stuck in an S3 call past the deadline: log its records now.
            for ident, items in self._in_flight.items():
                leftovers.extend(items)
                self._abandoned.add(ident)
            self._in_flight.clear()
        while True:
            try:
                leftovers.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if leftovers:
            self._give_up(leftovers, "recorder closed before they were written")
        logger.info(
            "invocation recorder closed: %d written, %d unwritten, %d failed S3 requests",
            self.written,
            self.unwritten,
            self.failures,
        )

    # -- the writer side --------------------------------------------------

    @property
    def client(self) -> Any:
        """The S3 client (made on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from ml2p import aws

                    config = aws.client_config(
                        connect_timeout=5,
                        read_timeout=15,
                        retries={"mode": "standard", "max_attempts": 2},
                    )
                    self._client = aws.client("s3", self._session, config=config)
        return self._client

    def _give_up(self, items: List[Item], why: str) -> None:
        for key, body in items:
            line = json.dumps({"key": key, "body": body.decode("utf-8", "replace")})
            self._log_unwritten(f"{UNWRITTEN_MARK} {line}")
        with self._lock:
            self.unwritten += len(items)
        logger.error("%d invocation record(s) not written to S3: %s", len(items), why)

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def _write(self, key: str, body: bytes, items: List[Item], content_type: str) -> None:
        """Store one object, retrying until it is stored or the close deadline passes."""
        ident = threading.get_ident()
        with self._lock:
            self._in_flight[ident] = items
        attempt = 0
        while True:
            try:
                self._put(key, body, content_type)
            except Exception as exc:
                attempt += 1
                with self._lock:
                    self.failures += 1
                now = time.monotonic()
                if now >= self._deadline:
                    self._finish(ident, items, stored=False)
                    return
                delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
                if attempt == 1 or attempt % 10 == 0:
                    logger.warning(
                        "storing %d invocation record(s) at s3://%s/%s failed (attempt %d), "
                        "retrying: %s: %s",
                        len(items),
                        self.bucket,
                        key,
                        attempt,
                        type(exc).__name__,
                        exc,
                    )
                if self._closing.is_set():
                    time.sleep(min(delay, max(0.0, self._deadline - now)))
                else:
                    # Wake early if close() is called: the deadline may be sooner.
                    self._closing.wait(delay)
                continue
            self._finish(ident, items, stored=True)
            return

    def _finish(self, ident: int, items: List[Item], stored: bool) -> None:
        with self._lock:
            self._in_flight.pop(ident, None)
            if ident in self._abandoned:
                # close() already logged these records as unwritten.
                self._abandoned.discard(ident)
                return
            if stored:
                self.written += len(items)
        if not stored:
            self._give_up(items, "S3 still failing at shutdown")

    def _object_loop(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            key, body = item
            self._write(key, body, [item], "application/json")

    def _batch_loop(self) -> None:
        buffer: List[Item] = []
        started = 0.0
        while True:
            if buffer:
                wait = max(0.0, started + self.batch_seconds - time.monotonic())
            else:
                wait = 0.25
            try:
                item = self._queue.get(timeout=min(wait, 0.25))
            except queue.Empty:
                item = None
            if item is not None:
                if not buffer:
                    started = time.monotonic()
                buffer.append(item)
            closing = self._closing.is_set()
            due = buffer and (
                len(buffer) >= self.batch_size
                or time.monotonic() - started >= self.batch_seconds
                or (closing and self._queue.empty())
            )
            if due:
                self._flush(buffer)
                buffer = []
            elif closing and not buffer and self._queue.empty():
                return

    def _flush(self, items: List[Item]) -> None:
        # Records of different folders (model versions) go to different objects.
        groups: Dict[str, List[Item]] = {}
        for item in items:
            groups.setdefault(posixpath.dirname(item[0]), []).append(item)
        for group in groups.values():
            body = b"\n".join(batch_line(k, b) for k, b in group) + b"\n"
            self._write(batch_key(group[0][0]), body, group, "application/jsonlines")


def _env_number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value


def recorder_from_environ(
    bucket: str, environ: Optional[Mapping[str, str]] = None, session: Any = None
) -> BackgroundRecorder:
    """Build a :class:`BackgroundRecorder` configured by the ``ML2P_RECORD_*`` variables.

    :raises ml2p.errors.ConfigError: naming a variable with a bad value.
    """
    environ = os.environ if environ is None else environ
    layout = (environ.get("ML2P_RECORD_LAYOUT") or "object").strip().lower()
    if layout not in LAYOUTS:
        raise ConfigError(f"ML2P_RECORD_LAYOUT={layout!r} is not one of {', '.join(LAYOUTS)}")
    return BackgroundRecorder(
        bucket,
        layout=layout,
        session=session,
        batch_size=int(_env_number(environ, "ML2P_RECORD_BATCH_SIZE", 100)),
        batch_seconds=_env_number(environ, "ML2P_RECORD_BATCH_SECONDS", 5.0),
        queue_size=int(_env_number(environ, "ML2P_RECORD_QUEUE_SIZE", 10000)),
        writers=int(_env_number(environ, "ML2P_RECORD_WRITERS", 8)),
    )
