"""Recording invocations in the background, off the request path.

:class:`BackgroundRecorder` implements the :class:`ml2p.recording.Recorder`
protocol: :meth:`~BackgroundRecorder.record` puts the record on a bounded
queue and returns; daemon writer threads store it in S3, retrying with
exponential backoff and jitter for as long as S3 fails (an outage delays
records, it never fails a prediction).

When the queue is full the request thread waits for room, for at most
``put_wait`` seconds, while S3 takes records (back-pressure, when requests
come faster than S3 stores them); once a wait has run out, or while S3
fails, records that find the queue full are *spilled* at once instead
(:mod:`ml2p.serving.spill`), until the queue has room again: an outage
neither stalls predictions nor loses records. Records still unwritten when
the recorder closes are spilled too. Where they spill is the ``spill``
argument: a :class:`~ml2p.serving.spill.DiskSpill` (local files, sent to S3
again when it takes records; the server's default) or a
:class:`~ml2p.serving.spill.LogSpill` (each record logged whole on one
line, ``UNWRITTEN_RECORD {"key": "...", "body": "..."}``; the default of
this class). Every record is counted: written, spilled, unwritten (logged),
lost (the spill folder refused it), or not kept because the caller never
received its prediction (:meth:`~BackgroundRecorder.discard`).

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
are encoded many at a time (:mod:`ml2p.serving.record_encoding`), in a way
that never raises: a value JSON cannot encode is stored as its ``repr()`` or
a description, the record is logged by id and counted. A record is named
once: retried, spilled or logged, it keeps its id, and a batch object keeps
its key.

The server holds a request's records until its answer is sent
(:meth:`~BackgroundRecorder.hold`, :meth:`~BackgroundRecorder.admit`,
:meth:`~BackgroundRecorder.commit`): a prediction the caller did not
receive (timed out, failed, client gone) is not recorded.

:func:`recorder_from_environ` builds one from the ``ML2P_RECORD_*``
variables.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import posixpath
import random
import tempfile
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ml2p.errors import ConfigError
from ml2p.serving.record_encoding import (
    Invocation,
    Item,
    batch_key,
    batch_line,
    encode_batch,
    encode_lines,
    materialise,
    name_invocation,
)
from ml2p.serving.settings import env_number
from ml2p.serving.spill import (
    JSON_TYPE,
    JSONLINES_TYPE,
    SPILLS,
    UNWRITTEN_MARK,
    DiskSpill,
    LogSpill,
    Put,
)

__all__ = [
    "UNWRITTEN_MARK",
    "BackgroundRecorder",
    "Held",
    "batch_line",
    "encode_lines",
    "materialise",
    "recorder_from_environ",
]

logger = logging.getLogger("ml2p.serving.recorder")

LAYOUTS = ("object", "batched")

#: The size a not yet encoded record counts for against ``batch_bytes``.
_INVOCATION_SIZE = 200
#: Seconds between two log lines about records spilled to disk.
_SPILL_LOG_EVERY = 5.0
#: Seconds of writes the flush estimate looks back on.
_RATE_WINDOW = 5.0

#: Defaults per layout: (writer threads, records queued per worker).
DEFAULT_WRITERS = {"object": 16, "batched": 2}
DEFAULT_QUEUE_SIZE = {"object": 1000, "batched": 50000}
DEFAULT_BATCH_SIZE = 10000
DEFAULT_BATCH_BYTES = 4 * 1024 * 1024
DEFAULT_BATCH_SECONDS = 5.0
#: Seconds a request waits for room in a full queue before its records spill.
DEFAULT_QUEUE_WAIT = 2.0
DEFAULT_SPILL = "disk"
DEFAULT_SPILL_DIR = os.path.join(tempfile.gettempdir(), "ml2p-record-spill")


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
    and counts records against ``capacity``. Room can be reserved first and
    filled later (:meth:`reserve`, :meth:`put_reserved`). A batch is taken
    when it has ``batch_size`` records or ``batch_bytes`` bytes, when its
    oldest record is ``batch_seconds`` old, or at once while closing.
    Writers are woken only when a batch is due (or a record arrives for the
    ``object`` layout, whose batch size is 1), not on every record.
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
        self._reserved = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)

    def __len__(self) -> int:
        return self._count

    def reserve(self, count: int, timeout: float) -> bool:
        """Reserve room for ``count`` records, waiting up to ``timeout`` s; ``False`` if none came.

        A group larger than the whole capacity gets its room once the queue
        is empty, so it cannot wait forever.
        """
        with self._lock:
            if self._count + self._reserved + count > self.capacity and (
                self._count + self._reserved
            ):
                if timeout <= 0 or self.closing:
                    return False
                deadline = time.monotonic() + timeout
                while self._count + self._reserved + count > self.capacity and (
                    self._count + self._reserved
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closing:
                        return False
                    self._room.wait(remaining)
            self._reserved += count
            return True

    def unreserve(self, count: int) -> None:
        """Give back room reserved for records that will not come."""
        with self._lock:
            self._reserved = max(0, self._reserved - count)
            self._room.notify_all()

    def put(self, items: Sequence[Any], timeout: float) -> bool:
        """Queue all of ``items``, waiting up to ``timeout`` s for room; ``False`` if none came."""
        if not self.reserve(len(items), timeout):
            return False
        self.put_reserved([items], len(items))
        return True

    def put_reserved(self, groups: Sequence[Sequence[Any]], count: int) -> None:
        """Queue ``groups`` (``count`` records in all) into room reserved for them."""
        with self._lock:
            self._reserved = max(0, self._reserved - count)
            before = self._count
            now = time.monotonic()
            for items in groups:
                if items:
                    size = _size(items)
                    self._groups.append((now, items, size))
                    self._bytes += size
            self._count = after = before + count
            if self.batch_size == 1:
                self._due.notify(count)
            elif before < self.batch_size <= after or self._bytes >= self.batch_bytes:
                self._due.notify()
            elif before == 0:
                # A sleeping writer must learn when this batch's age runs out.
                self._due.notify()

    def take(self, block: bool = True) -> Optional[List[Any]]:
        """Return a due batch; wait for one if ``block``, else ``[]`` if none is due.

        ``None`` once closing and empty.
        """
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
                if not block:
                    return []
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

    def wake(self) -> None:
        """Wake a waiting writer (records were spilled: it may send them)."""
        with self._lock:
            self._due.notify()

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


class Held:
    """The records one request made, held until its answer is sent.

    Made by :meth:`BackgroundRecorder.hold`; ``reserved`` tells whether the
    queue has room waiting for them (:meth:`BackgroundRecorder.admit`).
    """

    __slots__ = ("count", "groups", "reserved")

    def __init__(self) -> None:
        self.groups: List[Sequence[Any]] = []
        self.count = 0
        self.reserved = False

    def __bool__(self) -> bool:
        return self.count > 0


class BackgroundRecorder:
    """Store invocation records in S3 from background threads.

    :param bucket: The project bucket.
    :param layout: ``object`` or ``batched`` (see the module documentation).
    :param client: A boto3 S3 client (default: made on first use with
        :func:`ml2p.aws.client`, with short timeouts so an outage is noticed
        and a connection pool as large as ``writers``).
    :param session: A boto3 session for that default client.
    :param queue_size: Records waiting before a request waits for room
        (default per layout: 1,000 ``object``, 50,000 ``batched``).
    :param put_wait: Seconds a request waits for room in a full queue while
        S3 takes records; after that its records spill, and so do those of
        later requests until the queue has room again.
    :param writers: Writer threads (default per layout: 16 ``object``, 2
        ``batched``).
    :param batch_size: Most records per batch object (``batched``).
    :param batch_bytes: A batch is written once its records reach this size.
    :param batch_seconds: Longest a record waits in a batch.
    :param backoff_base: First retry delay, in seconds.
    :param backoff_max: Longest retry delay, in seconds.
    :param log: Where ``UNWRITTEN_RECORD`` lines go when spilling to the log
        (default: this module's logger, at ERROR level).
    :param spill: Where records spill (:mod:`ml2p.serving.spill`; default: a
        :class:`~ml2p.serving.spill.LogSpill` writing to ``log``).
    """

    def __init__(
        self,
        bucket: str,
        *,
        layout: str = "object",
        client: Any = None,
        session: Any = None,
        queue_size: Optional[int] = None,
        put_wait: float = DEFAULT_QUEUE_WAIT,
        writers: Optional[int] = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        log: Optional[Callable[[str], None]] = None,
        spill: Any = None,
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
        self.spill = spill if spill is not None else LogSpill(log)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._in_flight: Dict[int, Put] = {}
        self._abandoned: Set[int] = set()
        self._closing = threading.Event()
        self._closed = False
        self._deadline = math.inf
        # Whether the last S3 request succeeded, and whether a wait for room
        # ran out (records spill at once until the queue has room again).
        self._s3_ok = True
        self._congested = False
        self._spill_logged_at = 0.0
        self._spill_unlogged = 0
        # (time.monotonic(), records) of recent writes: the flush estimate.
        self._recent: Deque[Tuple[float, int]] = collections.deque()
        #: Records stored in S3.
        self.written = 0
        #: Records logged as ``UNWRITTEN_RECORD`` instead of being stored.
        self.unwritten = 0
        #: Records spilled to disk (they are sent to S3 again later).
        self.spilled = 0
        #: Records the spill refused (a full or read-only disk): lost, and logged as such.
        self.lost = 0
        #: Records stored with values JSON could not encode replaced.
        self.unencodable = 0
        #: Records not kept because the caller did not receive the prediction.
        self.discarded = 0
        #: Failed S3 requests (each was retried, or its records spilled).
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

        When the queue is full this waits up to ``put_wait`` seconds while
        S3 takes records (and logs that it waits); if there is still no room,
        or S3 is failing, the record spills. Never raises for S3 trouble.
        """
        self.record_many(((key, body),))

    def record_many(self, items: Sequence[Item]) -> None:
        """Queue several ``(key, body)`` records at once, as :meth:`record` does one.

        The records of one batch invocation are queued together, under one
        lock, and wait (or spill) together when the queue is full.
        """
        if not items:
            return
        if not isinstance(items, (list, tuple)):
            items = list(items)
        held = getattr(self._local, "held", None)
        if held is not None:
            held.groups.append(items)
            held.count += len(items)
            return
        if self._closed:
            self._spill_items(items, "recorder is closed")
        elif self._reserve(len(items), wait=True):
            self._backlog.put_reserved([items], len(items))
        else:
            self._spill_items(items, "queue full")

    def record_invocations(self, invocations: Sequence[Invocation]) -> None:
        """Queue invocations the writer threads name and encode, off the request path.

        Each ``(prefix, stamp, datum, prediction)`` becomes the record
        ``{"input": datum, "result": prediction}`` (``prediction`` being the
        whole ``{"metadata": ..., "result": ...}`` the predictor returned) at
        ``<prefix>ts-<stamp as ISO UTC>--uuid-<uuid4>.json``: the record id
        :meth:`ml2p.core.ModelPredictor.record_invoke_id` gives by default.
        ``datum`` and ``prediction`` must not change after this call.
        Queued, waited for or spilled as :meth:`record_many` does.
        """
        self.record_many(invocations)  # type: ignore[arg-type]

    def _reserve(self, count: int, wait: bool) -> bool:
        """Reserve queue room for ``count`` records; ``False``: they must spill."""
        backlog = self._backlog
        if backlog.reserve(count, 0.0):
            return True
        if not wait or self._congested or not self._s3_ok:
            return False
        logger.warning(
            "invocation recorder queue is full (%d records waiting, S3 slow or down): "
            "waiting up to %.1f s",
            len(backlog),
            self.put_wait,
        )
        if backlog.reserve(count, self.put_wait):
            return True
        if not self._congested:
            self._congested = True
            logger.warning(
                "invocation recorder queue still full after %.1f s: records spill (%s) "
                "until it has room",
                self.put_wait,
                self.spill.kind,
            )
        return False

    # -- holding a request's records until its answer is sent ---------------

    def hold(self) -> Held:
        """Hold the records this thread makes from now on, instead of queuing them.

        Call :meth:`unhold` when the prediction is made, then :meth:`admit`
        (on the same thread) and :meth:`commit` or :meth:`discard`.
        """
        held = Held()
        self._local.held = held
        return held

    def unhold(self) -> None:
        """Stop holding this thread's records."""
        self._local.held = None

    def admit(self, held: Held, wait: bool = True) -> None:
        """Reserve queue room for ``held`` now, waiting as :meth:`record` does, so that
        :meth:`commit` never waits."""
        if held.count and not held.reserved:
            held.reserved = self._reserve(held.count, wait)

    def commit(self, held: Held) -> None:
        """Queue the held records: the caller received the prediction. Never waits."""
        if not held.count:
            return
        if held.reserved and not self._closed:
            held.reserved = False
            self._backlog.put_reserved(held.groups, held.count)
            return
        if held.reserved:
            held.reserved = False
            self._backlog.unreserve(held.count)
        items = [item for group in held.groups for item in group]
        self._spill_items(items, "recorder is closed" if self._closed else "queue full")

    def discard(self, held: Held, why: str) -> None:
        """Drop the held records: the caller did not receive the prediction (counted)."""
        if not held.count:
            return
        if held.reserved:
            held.reserved = False
            self._backlog.unreserve(held.count)
        with self._lock:
            self.discarded += held.count
        logger.info("%d invocation record(s) not kept: %s", held.count, why)

    # -- what an operator sees ------------------------------------------------

    @property
    def pending(self) -> int:
        """Records queued or being written (not those spilled)."""
        with self._lock:
            in_flight = sum(put.records for put in self._in_flight.values())
        return len(self._backlog) + in_flight

    def stats(self) -> Dict[str, Any]:
        """Counts an operator watches: ``s3`` (``ok`` or ``failing``), ``queued``,
        ``on_disk``, ``written``, ``spilled``, ``unwritten``, ``lost``."""
        return {
            "s3": "ok" if self._s3_ok else "failing",
            "queued": self.pending,
            "on_disk": self.spill.pending,
            "written": self.written,
            "spilled": self.spilled,
            "unwritten": self.unwritten,
            "lost": self.lost,
        }

    def seconds_to_flush(self) -> float:
        """About how long writing the queued records would take at the recent rate.

        0 while S3 fails: waiting for it would not write them, they spill.
        """
        pending = self.pending
        if not pending or not self._s3_ok:
            return 0.0
        now = time.monotonic()
        with self._lock:
            recent = [(t, n) for t, n in self._recent if now - t <= _RATE_WINDOW]
        if recent:
            span = max(0.5, now - recent[0][0])
            rate = sum(n for _, n in recent) / span
        else:  # nothing written lately: assume a slow PUT per record and writer
            rate = self.writers * (self.batch_size if self.layout == "batched" else 1) / 0.1
        return pending / max(rate, 1.0)

    # -- shutting down ----------------------------------------------------

    def close(self, timeout: Optional[float] = None) -> None:
        """Write what is pending, for up to ``timeout`` seconds (``None``: until done).

        Records still unwritten after that spill (see :mod:`ml2p.serving.spill`).
        Records given to :meth:`record` afterwards spill the same way.
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
        leftovers: List[Put] = []
        with self._lock:
            # A writer stuck in an S3 call past the deadline: spill its records now.
            for ident, put in self._in_flight.items():
                leftovers.append(put)
                self._abandoned.add(ident)
            self._in_flight.clear()
        leftovers.extend(self._record_puts(self._backlog.drain()))
        if leftovers:
            self._spill(leftovers, "recorder closed before they were written")
        self._flush_spill_log()
        try:
            self.spill.close()
        except OSError as exc:
            logger.error("closing the record spill failed: %s", exc)
        on_disk = ""
        if isinstance(self.spill, DiskSpill):
            on_disk = f" ({self.spill.pending} still on disk in {self.spill.folder})"
        logger.info(
            "invocation recorder closed: %d written (%d with values JSON cannot encode), "
            "%d spilled to disk%s, %d unwritten (logged), %d lost, %d not delivered, "
            "%d failed S3 requests",
            self.written,
            self.unencodable,
            self.spilled,
            on_disk,
            self.unwritten,
            self.lost,
            self.discarded,
            self.failures,
        )

    # -- spilling -------------------------------------------------------------

    def _record_puts(self, items: Sequence[Any]) -> List[Put]:
        """One :class:`Put` per queued record, named now (a record spills on its own)."""
        puts = []
        for item in items:
            if len(item) == 2:
                puts.append(Put(item[0], item[1]))
                continue
            (key, body), problem = name_invocation(item)
            if problem is not None:
                with self._lock:
                    self.unencodable += 1
            puts.append(Put(key, body))
        return puts

    def _spill_items(self, items: Sequence[Any], why: str) -> None:
        self._spill(self._record_puts(items), why)

    def _spill(self, puts: List[Put], why: str) -> None:
        count = sum(put.records for put in puts)
        try:
            done = self.spill.put(puts)
        except Exception as exc:
            with self._lock:
                self.lost += count
            logger.error(
                "%d invocation record(s) lost: they could not be spilled to %s (%s) after: %s",
                count,
                getattr(self.spill, "folder", self.spill.kind),
                exc,
                why,
            )
            return
        if self.spill.kind == "log":
            with self._lock:
                self.unwritten += done
            logger.error("%d invocation record(s) not written to S3: %s", done, why)
            return
        with self._lock:
            self.spilled += done
            self._spill_unlogged += done
            now = time.monotonic()
            due = now - self._spill_logged_at >= _SPILL_LOG_EVERY
            if due:
                self._spill_logged_at = now
        if due:
            self._flush_spill_log(why)
        self._backlog.wake()

    def _flush_spill_log(self, why: str = "") -> None:
        with self._lock:
            count, self._spill_unlogged = self._spill_unlogged, 0
        if count:
            logger.warning(
                "%d invocation record(s) spilled to disk%s: %d waiting there for S3 (%s)",
                count,
                f" ({why})" if why else "",
                self.spill.pending,
                getattr(self.spill, "folder", ""),
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

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def _write(self, put: Put) -> None:
        """Store one object, retrying until it is stored or the close deadline passes."""
        ident = threading.get_ident()
        with self._lock:
            self._in_flight[ident] = put
        attempt = 0
        while True:
            try:
                self._put(put.key, put.body, put.content_type)
            except Exception as exc:
                attempt += 1
                self._s3_ok = False
                with self._lock:
                    self.failures += 1
                now = time.monotonic()
                if now >= self._deadline:
                    self._finish(ident, put, stored=False)
                    return
                delay = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
                if attempt == 1 or attempt % 10 == 0:
                    logger.warning(
                        "storing %d invocation record(s) at s3://%s/%s failed (attempt %d), "
                        "retrying: %s: %s",
                        put.records,
                        self.bucket,
                        put.key,
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
            self._s3_ok = True
            self._finish(ident, put, stored=True)
            return

    def _finish(self, ident: int, put: Put, stored: bool) -> None:
        with self._lock:
            self._in_flight.pop(ident, None)
            if ident in self._abandoned:
                # close() already spilled these records.
                self._abandoned.discard(ident)
                return
            if stored:
                self.written += put.records
                now = time.monotonic()
                self._recent.append((now, put.records))
                while self._recent and now - self._recent[0][0] > _RATE_WINDOW:
                    self._recent.popleft()
        if not stored:
            self._spill([put], "S3 still failing at shutdown")

    def _writer_loop(self) -> None:
        backlog = self._backlog
        spill = self.spill
        while time.monotonic() < self._deadline:
            try:
                items = backlog.take(block=not spill.pending)
                if items:
                    if self._congested and len(backlog) <= backlog.capacity // 2:
                        self._congested = False
                        self._flush_spill_log()
                        logger.info("invocation recorder queue has room again: records queue")
                    self._store(items)
                    continue
                # Nothing due in memory: send what spilled to disk, if anything.
                puts = spill.take(self.batch_size if self.layout == "batched" else 1)
                if puts:
                    self._store_spilled(puts)
                elif items is None:
                    return
            except Exception as exc:  # a bug must not stop the writer
                logger.error(
                    "invocation recorder writer error (the writer goes on): %s: %s",
                    type(exc).__name__,
                    exc,
                )

    def _store(self, items: List[Any]) -> None:
        if self.layout == "object":
            for put in self._record_puts(items):
                self._write(put)
        else:
            for put in self._batch_puts(items):
                self._write(put)

    def _store_spilled(self, puts: List[Put]) -> None:
        """Write spilled objects: batch objects as they were, single records in new batches."""
        if self.layout == "object":
            for put in puts:
                self._write(put)
            return
        records = [(put.key, put.body) for put in puts if put.content_type == JSON_TYPE]
        for put in puts:
            if put.content_type != JSON_TYPE:
                self._write(put)
        if records:
            for put in self._batch_puts(records):
                self._write(put)

    def _batch_puts(self, items: List[Any]) -> List[Put]:
        """Name and encode records into one batch object per folder (model version)."""
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
        puts = []
        for folder in {*invocations, *records}:
            group_invocations = invocations.get(folder, [])
            group_records = records.get(folder, [])
            body, problems = encode_batch(group_invocations, group_records)
            if problems:
                with self._lock:
                    self.unencodable += problems
            key = batch_key(f"{folder}/_" if folder else "_")
            puts.append(Put(key, body, JSONLINES_TYPE, len(group_invocations) + len(group_records)))
        return puts


def _spill_from_environ(bucket: str, environ: Mapping[str, str]) -> Any:
    kind = (environ.get("ML2P_RECORD_SPILL") or DEFAULT_SPILL).strip().lower()
    if kind not in SPILLS:
        raise ConfigError(f"ML2P_RECORD_SPILL={kind!r} is not one of {', '.join(SPILLS)}")
    if kind == "log":
        return LogSpill()
    folder = (environ.get("ML2P_RECORD_SPILL_DIR") or "").strip() or DEFAULT_SPILL_DIR
    try:
        return DiskSpill(folder, bucket)
    except OSError as exc:
        raise ConfigError(f"ML2P_RECORD_SPILL_DIR={folder!r} cannot be used: {exc}") from None


def recorder_from_environ(
    bucket: str, environ: Optional[Mapping[str, str]] = None, session: Any = None
) -> BackgroundRecorder:
    """Build a :class:`BackgroundRecorder` configured by the ``ML2P_RECORD_*`` variables.

    ``ML2P_RECORD_LAYOUT``, ``ML2P_RECORD_BATCH_SIZE``, ``ML2P_RECORD_BATCH_BYTES``,
    ``ML2P_RECORD_BATCH_SECONDS``, ``ML2P_RECORD_QUEUE_SIZE``,
    ``ML2P_RECORD_QUEUE_WAIT``, ``ML2P_RECORD_WRITERS``, ``ML2P_RECORD_SPILL``
    (``disk`` by default) and ``ML2P_RECORD_SPILL_DIR``.

    :raises ml2p.errors.ConfigError: naming a variable with a bad value.
    """
    environ = os.environ if environ is None else environ
    layout = (environ.get("ML2P_RECORD_LAYOUT") or "object").strip().lower()
    if layout not in LAYOUTS:
        raise ConfigError(f"ML2P_RECORD_LAYOUT={layout!r} is not one of {', '.join(LAYOUTS)}")
    queue_size = env_number(environ, "ML2P_RECORD_QUEUE_SIZE", 0)
    writers = env_number(environ, "ML2P_RECORD_WRITERS", 0)
    put_wait = env_number(environ, "ML2P_RECORD_QUEUE_WAIT", DEFAULT_QUEUE_WAIT, 0)
    batch_size = int(env_number(environ, "ML2P_RECORD_BATCH_SIZE", DEFAULT_BATCH_SIZE))
    batch_bytes = int(env_number(environ, "ML2P_RECORD_BATCH_BYTES", DEFAULT_BATCH_BYTES))
    batch_seconds = env_number(environ, "ML2P_RECORD_BATCH_SECONDS", DEFAULT_BATCH_SECONDS)
    return BackgroundRecorder(
        bucket,
        layout=layout,
        session=session,
        batch_size=batch_size,
        batch_bytes=batch_bytes,
        batch_seconds=batch_seconds,
        put_wait=put_wait,
        # 0 (unset) means the layout's default.
        queue_size=int(queue_size) or None,
        writers=int(writers) or None,
        spill=_spill_from_environ(bucket, environ),
    )
