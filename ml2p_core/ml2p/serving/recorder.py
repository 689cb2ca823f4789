"""Recording invocations in the background, off the request path.

:class:`BackgroundRecorder` implements the :class:`ml2p.recording.Recorder`
protocol: :meth:`~BackgroundRecorder.record` puts the record on a bounded
queue and returns; daemon writer threads store it in S3, retrying with
exponential backoff and jitter for as long as S3 fails (an outage delays
records, it never fails a prediction). When the queue is full the request
thread waits (bounded, logged) instead of dropping the record; the bound is
small enough that a full queue can be written within the shutdown grace. A record that
is still unwritten when the recorder closes, or that waited too long for
room in the queue, is logged whole on one line::

    UNWRITTEN_RECORD {"key": "...", "body": "..."}

and counted in :attr:`~BackgroundRecorder.unwritten`, so it survives in the
container log.

Two layouts:

``object`` (default, as in ML2P 0.6)
    one object per record, at the key the predictor chose
    (``predictions/<model_version>/<record id>.json``). 16 writer threads,
    at most 1,000 records queued per worker: at the ~7.6 ms an S3 PUT took
    in the benchmarks, 16 writers store a full queue in well under the
    shutdown grace.
``batched``
    JSON Lines objects ``predictions/<model_version>/batches/<ts>--<uuid>.jsonl``
    holding many records, one ``{"id": <record id>, "input": ..., "result": ...}``
    per line, written every ``batch_size`` (10,000) records, ``batch_bytes``
    (4 MiB) or ``batch_seconds`` (5 s), whichever comes first. A PUT costs
    about the same up to 130 kB (~2 ms of boto3 CPU here), so one request
    per 10,000 records keeps up with tens of thousands of records per
    second. 2 writer threads, at most 50,000 records queued per worker.

Records named by the writers (:meth:`BackgroundRecorder.record_invocations`)
are encoded many at a time (:func:`encode_lines`); a value JSON cannot
encode is stored as its ``repr()`` rather than lost.

:func:`recorder_from_environ` builds one from ``ML2P_RECORD_LAYOUT``,
``ML2P_RECORD_BATCH_SIZE``, ``ML2P_RECORD_BATCH_BYTES``,
``ML2P_RECORD_BATCH_SECONDS``, ``ML2P_RECORD_QUEUE_SIZE`` and
``ML2P_RECORD_WRITERS``.
"""

from __future__ import annotations

import collections
import datetime
import json
import logging
import math
import os
import posixpath
import random
import threading
import time
import uuid
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ml2p.errors import ConfigError
from ml2p.record_ids import utc_timestamp, uuid4_text, uuid4_texts
from ml2p.serving.settings import env_number

logger = logging.getLogger("ml2p.serving.recorder")

LAYOUTS = ("object", "batched")
UNWRITTEN_MARK = "UNWRITTEN_RECORD"

Item = Tuple[str, bytes]
#: A record named and encoded by the writer: (folder key prefix, time.time(), datum,
#: prediction), the prediction being the whole ``{"metadata": ..., "result": ...}``.
Invocation = Tuple[str, float, Any, Any]
#: Records encoded between two offers of the GIL in the ``batched`` writer.
_LINES_PER_SLICE = 256
#: The size a not yet encoded record counts for against ``batch_bytes``.
_INVOCATION_SIZE = 200
#: What lies between two records when a list of them is encoded as one JSON array.
_BOUNDARY = '},{"id":'
_encode_compact = json.JSONEncoder(separators=(",", ":")).encode


def _record_id(stamp: float) -> str:
    return f"ts-{utc_timestamp(stamp)}--uuid-{uuid4_text()}"


def _encode_record(record: Dict[str, Any], encode: Callable[[Any], str]) -> str:
    """Encode one record; values JSON cannot encode are written as their ``repr()``.

    A record is never dropped for its content: a prediction the response
    could not encode either (a NumPy integer, a set) is still stored.
    """
    try:
        return encode(record)
    except (TypeError, ValueError, RecursionError) as exc:
        logger.warning(
            "invocation record %s holds a value JSON cannot encode (%s): stored with repr()",
            record.get("id", ""),
            exc,
        )
    try:
        return json.dumps(record, default=repr)
    except (TypeError, ValueError, RecursionError):  # a circular structure
        return json.dumps({**{k: record[k] for k in record if k == "id"}, "repr": repr(record)})


def materialise(entry: Any) -> Item:
    """Return the ``(key, body)`` of a queued entry, naming and encoding an invocation."""
    if len(entry) == 2:
        return entry
    prefix, stamp, datum, prediction = entry
    record_id = _record_id(stamp)
    body = _encode_record({"input": datum, "result": prediction}, json.dumps)
    return f"{prefix}{record_id}.json", body.encode("utf-8")


def _invocation_lines(invocations: Sequence[Invocation]) -> str:
    """Return the JSON Lines of invocations, without the last newline.

    All records are encoded in one call of the C JSON encoder and the array
    is then cut at the record boundaries: about 1.5 us a record instead of
    5 us one by one. If a datum or prediction holds the boundary text itself
    (the count of boundaries tells), or cannot be encoded, each record is
    encoded on its own instead.
    """
    records = []
    append = records.append
    last_stamp = None
    stamp_text = ""
    for (_, stamp, datum, prediction), uuid_text in zip(invocations, uuid4_texts(len(invocations))):
        if stamp != last_stamp:  # the records of one batch share their stamp
            last_stamp, stamp_text = stamp, utc_timestamp(stamp)
        append({"id": f"ts-{stamp_text}--uuid-{uuid_text}", "input": datum, "result": prediction})
    try:
        text = _encode_compact(records)
    except (TypeError, ValueError, RecursionError):
        text = ""
    if text and text.count(_BOUNDARY) == len(records) - 1:
        return text[1:-1].replace(_BOUNDARY, '}\n{"id":')
    return "\n".join([_encode_record(record, _encode_compact) for record in records])


def encode_lines(invocations: Sequence[Invocation], records: Sequence[Item] = ()) -> bytes:
    """Return the JSON Lines body of a batch object: one ``{"id", "input", "result"}`` per line.

    ``invocations`` are named and encoded here; ``records`` are ``(key,
    body)`` records named by the predictor (each becomes its ``batch_line``).
    """
    parts: List[str] = [batch_line(*record).decode("utf-8") for record in records]
    for start in range(0, len(invocations), _LINES_PER_SLICE):
        parts.append(_invocation_lines(invocations[start : start + _LINES_PER_SLICE]))
        # Let the event loop and prediction threads have the GIL between
        # slices, rather than wait the switch interval (5 ms) for it.
        time.sleep(0)
    return ("\n".join(parts) + "\n").encode("utf-8")


#: Defaults per layout: (writer threads, records queued per worker).
DEFAULT_WRITERS = {"object": 16, "batched": 2}
DEFAULT_QUEUE_SIZE = {"object": 1000, "batched": 50000}
DEFAULT_BATCH_SIZE = 10000
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_BATCH_SECONDS = 5.0


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


def _size(items: Sequence[Any]) -> int:
    """Bytes ``items`` count for against ``batch_bytes`` (the calls of one put are alike)."""
    if len(items[0]) == 2:
        return sum([len(item[1]) for item in items])
    return len(items) * _INVOCATION_SIZE


def _fit(items: Sequence[Any], count: int, size: int) -> int:
    """How many of ``items`` (at least one) fit in ``count`` records and ``size`` bytes."""
    count = min(count, len(items))
    if len(items[0]) != 2:
        return max(1, min(count, -(-size // _INVOCATION_SIZE)))
    taken = 0
    for index in range(count):
        if taken >= size:
            return max(1, index)
        taken += len(items[index][1])
    return count


class _Backlog:
    """A bounded FIFO of records that hands writers one record or a whole batch at a time.

    It holds the groups given to :meth:`put` as they came (one entry per
    call, so queuing a batch invocation is one append, not one per record)
    and counts records against ``capacity``. A batch is taken when it has
    ``batch_size`` records or ``batch_bytes`` bytes, when its oldest record
    is ``batch_seconds`` old, or at once while closing. Writers are woken
    only when a batch is due (or a record arrives for the ``object``
    layout, whose batch size is 1), not on every record.
    """

    def __init__(self, capacity: int, batch_size: int, batch_bytes: int, batch_seconds: float):
        self.capacity = capacity
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.batch_seconds = batch_seconds
        self.closing = False
        # (time queued, records, their size) per put.
        self._groups: Deque[Tuple[float, Sequence[Any], int]] = collections.deque()
        self._count = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)

    def __len__(self) -> int:
        return self._count

    def put(self, items: Sequence[Any], timeout: float) -> bool:
        """Queue all of ``items``, waiting up to ``timeout`` s for room; ``False`` if none came.

        A group larger than the whole capacity is accepted once the queue is
        empty, so it cannot wait forever.
        """
        count = len(items)
        size = _size(items)
        with self._lock:
            if self._count + count > self.capacity and self._count:
                deadline = time.monotonic() + timeout
                while self._count + count > self.capacity and self._count:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closing:
                        return False
                    self._room.wait(remaining)
            before = self._count
            self._groups.append((time.monotonic(), items, size))
            self._count = after = before + count
            self._bytes += size
            if self.batch_size == 1:
                self._due.notify(count)
            elif before < self.batch_size <= after or self._bytes >= self.batch_bytes:
                self._due.notify()
            elif before == 0:
                # A sleeping writer must learn when this batch's age runs out.
                self._due.notify()
            return True

    def take(self) -> Optional[List[Any]]:
        """Wait for a due batch and return it; ``None`` once closing and empty."""
        with self._lock:
            while True:
                if self._count:
                    oldest = self._groups[0][0]
                    if (
                        self._count >= self.batch_size
                        or self._bytes >= self.batch_bytes
                        or self.closing
                        or time.monotonic() - oldest >= self.batch_seconds
                    ):
                        return self._pop()
                    wait: Optional[float] = oldest + self.batch_seconds - time.monotonic()
                elif self.closing:
                    return None
                else:
                    wait = None
                self._due.wait(wait)

    def _pop(self) -> List[Any]:
        batch: List[Any] = []
        size = 0
        groups = self._groups
        while groups and len(batch) < self.batch_size and size < self.batch_bytes:
            stamp, items, group_size = groups.popleft()
            room = _fit(items, self.batch_size - len(batch), self.batch_bytes - size)
            if len(items) > room:
                # Split the group: the rest stays first in line.
                rest = items[room:]
                items = items[:room]
                rest_size = _size(rest)
                groups.appendleft((stamp, rest, rest_size))
                group_size -= rest_size
            batch.extend(items)
            size += group_size
        self._count -= len(batch)
        self._bytes -= size
        self._room.notify_all()
        if self._count and (self._count >= self.batch_size or self.closing):
            self._due.notify()  # more is due: hand it to another writer
        return batch

    def close(self) -> None:
        with self._lock:
            self.closing = True
            self._due.notify_all()
            self._room.notify_all()

    def drain(self) -> List[Any]:
        with self._lock:
            items = [item for _, group, _ in self._groups for item in group]
            self._groups.clear()
            self._count = 0
            self._bytes = 0
            return items


class BackgroundRecorder:
    """Store invocation records in S3 from background threads.

    :param bucket: The project bucket.
    :param layout: ``object`` or ``batched`` (see the module documentation).
    :param client: A boto3 S3 client (default: made on first use with
        :func:`ml2p.aws.client`, with short timeouts so an outage is noticed
        and a connection pool as large as ``writers``).
    :param session: A boto3 session for that default client.
    :param queue_size: Records waiting before :meth:`record` blocks (default
        per layout: 1,000 ``object``, 50,000 ``batched``).
    :param put_wait: Seconds :meth:`record` waits for room in a full queue;
        after that the records are logged whole and counted as unwritten.
    :param writers: Writer threads (default per layout: 16 ``object``, 2
        ``batched``).
    :param batch_size: Most records per batch object (``batched``).
    :param batch_bytes: A batch is written once its records reach this size.
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
        queue_size: Optional[int] = None,
        put_wait: float = 10.0,
        writers: Optional[int] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        log: Optional[Callable[[str], None]] = None,
    ):
        if layout not in LAYOUTS:
            raise ConfigError(f"record layout {layout!r} is not one of {', '.join(LAYOUTS)}")
        if queue_size is None:
            queue_size = DEFAULT_QUEUE_SIZE[layout]
        if writers is None:
            writers = DEFAULT_WRITERS[layout]
        if (
            queue_size < 1
            or writers < 1
            or batch_size < 1
            or batch_bytes < 1
            or not batch_seconds > 0
        ):
            raise ConfigError(
                "queue_size, writers, batch_size and batch_bytes must be >= 1, batch_seconds > 0"
            )
        self.bucket = bucket
        self.layout = layout
        self.writers = writers
        self.batch_size = batch_size
        self.batch_seconds = batch_seconds
        self.put_wait = put_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._client = client
        self._session = session
        self._client_lock = threading.Lock()
        if layout == "batched":
            self._backlog = _Backlog(queue_size, batch_size, batch_bytes, batch_seconds)
        else:
            self._backlog = _Backlog(queue_size, 1, 1, batch_seconds)
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
        self._threads = [
            threading.Thread(target=self._writer_loop, name=f"ml2p-recorder-{i}", daemon=True)
            for i in range(writers)
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
        self.record_many(((key, body),))

    def record_many(self, items: Sequence[Item]) -> None:
        """Queue several ``(key, body)`` records at once, as :meth:`record` does one.

        The records of one batch invocation are queued together, under one
        lock, and wait (or are logged) together when the queue is full.
        """
        if not items:
            return
        if not isinstance(items, (list, tuple)):
            items = list(items)
        if self._closed:
            self._give_up(list(items), "recorder is closed")
            return
        backlog = self._backlog
        if backlog.put(items, 0.0):
            return
        logger.warning(
            "invocation recorder queue is full (%d records waiting, S3 slow or down): "
            "waiting up to %.1f s",
            len(backlog),
            self.put_wait,
        )
        if not backlog.put(items, self.put_wait):
            self._give_up(list(items), f"queue still full after {self.put_wait:.1f} s")

    def record_invocations(self, invocations: Sequence[Invocation]) -> None:
        """Queue invocations the writer threads name and encode, off the request path.

        Each ``(prefix, stamp, datum, prediction)`` becomes the record
        ``{"input": datum, "result": prediction}`` (``prediction`` being the
        whole ``{"metadata": ..., "result": ...}`` the predictor returned) at
        ``<prefix>ts-<stamp as ISO UTC>--uuid-<uuid4>.json``: the record id
        :meth:`ml2p.core.ModelPredictor.record_invoke_id` gives by default.
        ``datum`` and ``prediction`` must not change after this call.
        Queued, waited for or logged as :meth:`record_many` does.
        """
        self.record_many(invocations)  # type: ignore[arg-type]

    @property
    def pending(self) -> int:
        """Records queued or being written."""
        with self._lock:
            in_flight = sum(len(items) for items in self._in_flight.values())
        return len(self._backlog) + in_flight

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
        self._backlog.close()
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
        leftovers.extend(self._backlog.drain())
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
                        # One pooled connection per writer, or writers queue for one.
                        max_pool_connections=max(32, self.writers),
                    )
                    self._client = aws.client("s3", self._session, config=config)
        return self._client

    def _give_up(self, items: List[Any], why: str) -> None:
        for key, body in map(materialise, items):
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

    def _writer_loop(self) -> None:
        while True:
            # Past the deadline close() logs what is left; stop taking more.
            if time.monotonic() >= self._deadline:
                return
            items = self._backlog.take()
            if items is None:
                return
            if self.layout == "object":
                for key, body in map(materialise, items):
                    self._write(key, body, [(key, body)], "application/json")
            else:
                self._flush(items)

    def _flush(self, items: List[Any]) -> None:
        # Records of different folders (model versions) go to different objects.
        by_prefix: Dict[str, List[Invocation]] = {}
        records: Dict[str, List[Item]] = {}
        for item in items:
            if len(item) == 2:
                records.setdefault(posixpath.dirname(item[0]), []).append(item)
            else:
                by_prefix.setdefault(item[0], []).append(item)
        # The key prefix of an invocation is its folder and a slash.
        invocations: Dict[str, List[Invocation]] = {}
        for prefix, group in by_prefix.items():
            invocations.setdefault(prefix.rstrip("/"), []).extend(group)
        for folder in {*invocations, *records}:
            group_invocations = invocations.get(folder, [])
            group_records = records.get(folder, [])
            body = encode_lines(group_invocations, group_records)
            self._write(
                batch_key(f"{folder}/_" if folder else "_"),
                body,
                [*group_records, *group_invocations],
                "application/jsonlines",
            )


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
    queue_size = env_number(environ, "ML2P_RECORD_QUEUE_SIZE", 0)
    writers = env_number(environ, "ML2P_RECORD_WRITERS", 0)
    return BackgroundRecorder(
        bucket,
        layout=layout,
        session=session,
        batch_size=int(env_number(environ, "ML2P_RECORD_BATCH_SIZE", DEFAULT_BATCH_SIZE)),
        batch_bytes=int(env_number(environ, "ML2P_RECORD_BATCH_BYTES", DEFAULT_BATCH_BYTES)),
        batch_seconds=env_number(environ, "ML2P_RECORD_BATCH_SECONDS", DEFAULT_BATCH_SECONDS),
        # 0 (unset) means the layout's default.
        queue_size=int(queue_size) or None,
        writers=int(writers) or None,
    )
