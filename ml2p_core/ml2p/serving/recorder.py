"""Recording invocations in the background, off the request path.

:class:`BackgroundRecorder` implements the :class:`ml2p.recording.Recorder`
protocol: :meth:`~BackgroundRecorder.record` puts the
:class:`~ml2p.recording.Record` on a bounded queue and returns; writer
threads name and encode records (:mod:`ml2p.serving.record_encoding`) and
store them in S3, retrying with exponential backoff and jitter for as long
as S3 fails (an outage delays records, it never fails a prediction).

When the queue is full the request thread waits for room, for at most
``queue_wait`` seconds, while S3 takes records (back-pressure, when requests
come faster than S3 stores them); once a wait has run out, or while S3
fails, records that find the queue full are *spilled* at once instead
(:mod:`ml2p.serving.spill`), until the queue has room again: an outage
neither stalls predictions nor loses records. Records still unwritten when
the recorder closes are spilled too. Where they spill is the ``spill``
argument: a :class:`~ml2p.serving.spill.DiskSpill` (local files, sent to S3
again when it takes records; the server's default) or a
:class:`~ml2p.serving.spill.LogSpill` (each record logged whole on one
line, ``UNWRITTEN_RECORD {"key": "...", "body": "..."}``; the default of
this class). Every record is counted (one per datum): written, spilled,
unwritten (logged), lost (the spill folder refused it), left on disk (read
back from a spill file, then refused by S3 and by the spill at shutdown: the
file keeps it for the next server), or not kept because the caller never
received its prediction (:meth:`~BackgroundRecorder.discard`).

Two layouts (see :mod:`ml2p.recording`):

``object`` (default, as in ML2P 0.6)
    one object per datum. 16 writer threads (16 PUTs in flight), at most
    1,000 data queued per worker: small enough for a full queue to be
    stored well within the shutdown grace at the rate a worker PUTs
    (measured in ``BENCHMARKS.md``, ``object`` recording).
``capture``
    SageMaker's data capture: one line per record, made from the bodies the
    server received and sent by the request's own thread when it queues
    the record (nothing per datum); the writers join the lines into files,
    written every ``batch_size`` (10,000) data, ``batch_bytes`` (4 MiB) or
    ``batch_seconds`` (5 s), whichever comes first; 2 writer threads, at
    most 50,000 data or 64 MiB of lines queued per worker.

A record is named once: retried, spilled or logged, it keeps its ids, and a
capture file its key.

Objects are PUT by :mod:`ml2p.serving.s3_put` (``s3_client="light"``, the
default): signed as botocore signs the client's ``put_object`` (SigV4, its
credentials, endpoint and region), without botocore's per-call pipeline, whose CPU competes
with the server's requests. If S3 answers such a PUT with an error that
boto3 might handle (a redirect, 4xx), or a proxy is configured, the
recorder logs why and uses the client's ``put_object`` from then on.

The server holds a request's records until its answer is sent
(:meth:`~BackgroundRecorder.hold`, :meth:`~BackgroundRecorder.admit`,
:meth:`~BackgroundRecorder.commit`): a prediction the caller did not
receive (timed out, failed, client gone) is not recorded.

:func:`recorder_from_environ` builds one from the ``ML2P_RECORD_*``
variables (:class:`ml2p.serving.settings.RecorderSettings`).
"""

from __future__ import annotations

import bisect
import collections
import itertools
import logging
import math
import operator
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ml2p.errors import ConfigError
from ml2p.record_format import CAPTURE, OBJECT, check_layout
from ml2p.recording import Record, put_arguments
from ml2p.serving.record_encoding import (
    Captured,
    Put,
    capture_item,
    captured,
    files_of_lines,
    layout_puts,
    queued,
    spill_puts,
)
from ml2p.serving.s3_put import LightPutUnavailable, PutRefused, light_put_for
from ml2p.serving.settings import (
    DEFAULT_BATCH_BYTES,
    DEFAULT_BATCH_SECONDS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_QUEUE_WAIT,
    DEFAULT_WRITERS,
    S3_CLIENTS,
    SPILL_DIR_ENV,
    RecorderSettings,
)
from ml2p.serving.spill import UNWRITTEN_MARK, DiskSpill, LogSpill

__all__ = [
    "UNWRITTEN_MARK",
    "BackgroundRecorder",
    "Held",
    "recorder_from_environ",
]

logger = logging.getLogger("ml2p.serving.recorder")

#: The bytes a datum not yet encoded (``object`` layout) counts for in the queue.
_UNENCODED_SIZE = 256
#: Seconds between two log lines about records spilled to disk.
_SPILL_LOG_EVERY = 5.0
#: Seconds of writes the flush estimate looks back on.
_RATE_WINDOW = 5.0
#: Seconds between a ``capture`` writer's looks at records put while it waits.
ARRIVALS_POLL = 0.05
#: Seconds between two warnings that requests wait for room in a full queue:
#: while S3 is slower than the traffic, every request waits, hundreds a second.
FULL_QUEUE_LOG_SECONDS = 60.0


_ITEM, _COUNT, _SIZE = operator.itemgetter(1), operator.itemgetter(2), operator.itemgetter(3)


def _record_count(record: Record) -> int:
    return record.count


def _record_size(record: Record) -> int:
    return _UNENCODED_SIZE * record.count


def _captured_count(item: Captured) -> int:
    return item[2]


def _captured_size(item: Captured) -> int:
    return len(item[3])  # its line


class _Backlog:
    """A bounded FIFO of queued records that hands writers a batch of them at a time.

    Its items are what the layout keeps of a record
    (:func:`ml2p.serving.record_encoding.queued`): the
    :class:`~ml2p.recording.Record` itself (``object``), or its capture
    :data:`~ml2p.serving.record_encoding.Captured`. It counts data (``count_of``
    an item) against ``capacity`` and bytes (``size_of`` an item) against
    ``capacity_bytes``. Room can be reserved first and filled
    later (:meth:`reserve`, :meth:`put_reserved`). A batch is taken when it
    has ``batch_size`` data or ``batch_bytes`` bytes, when its oldest item
    is ``batch_seconds`` old, or at once while closing. With ``split``
    (the ``object`` layout, whose batch is one datum) a record is split
    between batches; otherwise an item is never split and a batch holds at
    least one. Writers are woken only when a batch is due, not on every record.

    Without ``split`` (``capture``), :meth:`put_reserved` takes no lock: the
    server calls it on the event loop, which must never wait for a writer
    holding the lock. The items go on an *arrivals* deque (appending to a
    :class:`collections.deque` is atomic), still counted as reserved, and are
    counted in by whoever takes the lock next: a request reserving room (who
    wakes a writer when a batch is due), a writer (who looks every
    :data:`ARRIVALS_POLL` seconds while room is reserved), or a drain.
    """

    def __init__(
        self,
        capacity: int,
        capacity_bytes: int,
        batch_size: int,
        batch_bytes: int,
        batch_seconds: float,
        split: bool,
        count_of: Callable[[Any], int],
        size_of: Callable[[Any], int],
    ):
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.batch_seconds = batch_seconds
        self.split = split
        self.count_of = count_of
        self.size_of = size_of
        self.closing = False
        # (time queued, item, its data, its size) per item.
        self._entries: collections.deque[tuple[float, Any, int, int]] = collections.deque()
        # The same, put without the lock and not yet counted in (see above).
        self._arrivals: collections.deque[tuple[float, Any, int, int]] = collections.deque()
        self._count = 0
        self._bytes = 0
        self._reserved = 0
        self._reserved_bytes = 0
        self._lock = threading.Lock()
        self._due = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)

    def __len__(self) -> int:
        # Without the lock (``/ping`` asks on the event loop): exact when nothing
        # is being put or taken, else close to it.
        return self._count + sum(map(_COUNT, list(self._arrivals)))

    def _count_arrivals(self) -> None:
        """Move the arrivals into the entries and count them in; under the lock."""
        arrivals = self._arrivals
        if not arrivals:
            return
        # Only lock holders take arrivals: while there are some, popleft succeeds.
        popleft, append = arrivals.popleft, self._entries.append
        count = size = 0
        while arrivals:
            entry = popleft()
            append(entry)
            count += entry[2]
            size += entry[3]
        self._count += count
        self._bytes += size
        self._reserved -= count
        self._reserved_bytes -= size

    def _full(self, count: int, size: int) -> bool:
        used = self._count + self._reserved
        used_bytes = self._bytes + self._reserved_bytes
        # A group larger than the whole capacity gets its room once the queue
        # is empty, so it cannot wait forever.
        return bool(used or used_bytes) and (
            used + count > self.capacity or used_bytes + size > self.capacity_bytes
        )

    def reserve(self, count: int, size: int, timeout: float) -> bool:
        """Reserve room for ``count`` data of ``size`` bytes, waiting up to ``timeout`` s.

        ``False`` if no room came.
        """
        with self._lock:
            if self._arrivals:
                self._count_arrivals()
                if self._count >= self.batch_size or self._bytes >= self.batch_bytes:
                    self._due.notify()
            elif not (self._count or self._reserved):
                # From empty: a sleeping writer must learn that records will come.
                self._due.notify()
            if self._full(count, size):
                if timeout <= 0 or self.closing:
                    return False
                deadline = time.monotonic() + timeout
                while self._full(count, size):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closing:
                        return False
                    self._room.wait(remaining)
            self._reserved += count
            self._reserved_bytes += size
            return True

    def unreserve(self, count: int, size: int) -> None:
        """Give back room reserved for records that will not come."""
        with self._lock:
            self._reserved = max(0, self._reserved - count)
            self._reserved_bytes = max(0, self._reserved_bytes - size)
            self._room.notify_all()

    def put_reserved(self, items: Sequence[Any], count: int, size: int) -> None:
        """Queue ``items`` (``count`` data, ``size`` bytes) into room reserved for them.

        Takes no lock without ``split`` (see the class documentation).
        """
        now = time.monotonic()
        if not self.split and len(items) == 1:
            # A request's one item, on the event loop: one append, nothing else.
            self._arrivals.append((now, items[0], count, size))
            return
        if len(items) == 1:
            entries = [(now, items[0], count, size)]
        else:
            count_of, size_of = self.count_of, self.size_of
            entries = [(now, item, count_of(item), size_of(item)) for item in items]
        if not self.split:
            self._arrivals.extend(entries)
            return
        with self._lock:
            self._reserved = max(0, self._reserved - count)
            self._reserved_bytes = max(0, self._reserved_bytes - size)
            before = self._count
            self._entries.extend(entries)
            self._count = after = before + count
            self._bytes += size
            if self.batch_size == 1:
                self._due.notify(count)
            elif before < self.batch_size <= after or self._bytes >= self.batch_bytes:
                self._due.notify()
            elif before == 0:
                # A sleeping writer must learn when this batch's age runs out.
                self._due.notify()

    def take(self, block: bool = True) -> list[Any] | None:
        """Return a due batch; wait for one if ``block``, else ``[]`` if none is due.

        ``None`` once closing and empty.
        """
        with self._lock:
            while True:
                self._count_arrivals()
                if self._count:
                    oldest = self._entries[0][0]
                    if (
                        self._count >= self.batch_size
                        or self._bytes >= self.batch_bytes
                        or self.closing
                        or time.monotonic() - oldest >= self.batch_seconds
                    ):
                        return self._pop()
                    wait: float | None = oldest + self.batch_seconds - time.monotonic()
                elif self.closing:
                    return None
                else:
                    wait = None
                if self._reserved and not self.split:
                    # Records may arrive without waking a writer: look again soon.
                    wait = ARRIVALS_POLL if wait is None else min(wait, ARRIVALS_POLL)
                if not block:
                    return []
                self._due.wait(wait)

    def _pop(self) -> list[Any]:
        # Under the lock, once per batch: a capture file may take 10,000 lines,
        # and requests wait for the lock (and the serving threads for the GIL).
        entries = self._entries
        most, most_bytes = self.batch_size, self.batch_bytes
        if self.split:
            # One datum per batch (object layout): a record of several is split.
            stamp, item, item_count, item_size = entries.popleft()
            if item_count > most:
                item, tail = item.split(most)
                tail_size = item_size * tail.count // item_count
                entries.appendleft((stamp, tail, tail.count, tail_size))
                item_count, item_size = most, item_size - tail_size
            batch = [item]
            count, size = item_count, item_size
        else:
            # The longest run of entries within both limits (at least one), found
            # and cut with C-level iteration: no Python step per entry.
            head = list(itertools.islice(entries, most))  # every item holds a datum or more
            counts = list(itertools.accumulate(map(_COUNT, head)))
            sizes = list(itertools.accumulate(map(_SIZE, head)))
            taken = max(
                1, min(bisect.bisect_right(counts, most), bisect.bisect_right(sizes, most_bytes))
            )
            count, size = counts[taken - 1], sizes[taken - 1]
            batch = list(map(_ITEM, head[:taken]))
            if taken == len(entries):
                entries.clear()
            else:
                self._entries = entries = collections.deque(itertools.islice(entries, taken, None))
        self._count -= count
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

    def drain(self) -> list[Any]:
        with self._lock:
            self._count_arrivals()
            items = [entry[1] for entry in self._entries]
            self._entries.clear()
            self._count = 0
            self._bytes = 0
            return items


class Held:
    """The records one request made, held until its answer is sent.

    Made by :meth:`BackgroundRecorder.hold`; :meth:`BackgroundRecorder.admit`
    turns ``records`` into what the queue keeps of them (``items``) and tells
    in ``reserved`` whether the queue has room waiting for them.
    :meth:`BackgroundRecorder.admit_bodies` makes one already admitted, from
    the item it made (``items``, ``count`` data of ``size`` bytes).
    """

    __slots__ = ("bodies", "count", "items", "records", "reserved", "size")

    def __init__(
        self,
        bodies: bool = True,
        items: list[Any] | None = None,
        count: int = 0,
        size: int = 0,
        reserved: bool = False,
    ) -> None:
        #: Whether the layout keeps the request's bodies (``capture``).
        self.bodies = bodies
        self.records: list[Record] = []
        self.items: list[Any] = [] if items is None else items
        self.count = count
        self.size = size
        self.reserved = reserved

    def __bool__(self) -> bool:
        return self.count > 0

    def attach(self, request: tuple[bytes, bytes], response: tuple[bytes, bytes]) -> None:
        """Give the request's bodies, as received and sent, to the record of its data.

        Each is ``(body, Content-Type header value)``, both bytes.

        Only when one record holds every datum of the request (the one its
        ``invoke`` or ``batch_invoke`` made); records made otherwise (a
        subclass's ``record_invoke``) keep their data alone. Nothing is kept
        when the layout does not store bodies (``object``).
        """
        if not self.bodies:
            return
        records = self.records
        whole = records if len(records) == 1 else [record for record in records if record.whole]
        if len(whole) == 1 and whole[0].whole:
            whole[0].request = request
            whole[0].response = response


class BackgroundRecorder:
    """Store invocation records in S3 from background threads.

    :param bucket: The project bucket.
    :param layout: ``object`` or ``capture`` (see the module documentation).
    :param client: A boto3 S3 client (default: made on first use with
        :func:`ml2p.aws.client`, with short timeouts so an outage is noticed
        and a connection pool as large as ``writers``).
    :param session: A boto3 session for that default client.
    :param kms_key_id: A KMS key to encrypt every object with (SSE-KMS).
    :param queue_size: Data waiting before a request waits for room
        (default per layout: 1,000 ``object``, 50,000 ``capture``).
    :param queue_bytes: Bytes of records waiting before a request waits for room.
    :param queue_wait: Seconds a request waits for room in a full queue while
        S3 takes records; after that its records spill, and so do those of
        later requests until the queue has room again.
    :param writers: Writer threads: writes in flight at once (default per
        layout: 16 ``object``, 2 ``capture``).
    :param batch_size: Most data per capture file.
    :param batch_bytes: A capture file is written once its lines reach this size.
    :param batch_seconds: Longest a record waits for its capture file.
    :param backoff_base: First retry delay, in seconds.
    :param backoff_max: Longest retry delay, in seconds.
    :param log: Where ``UNWRITTEN_RECORD`` lines go when spilling to the log
        (default: this module's logger, at ERROR level).
    :param spill: Where records spill (:mod:`ml2p.serving.spill`; default: a
        :class:`~ml2p.serving.spill.LogSpill` writing to ``log``).
    :param s3_client: ``light`` (default): PUT objects signed as botocore signs
        them with the client's credentials, sent by :mod:`ml2p.serving.s3_put`, falling
        back to ``client.put_object`` for good when S3 refuses one (logged);
        ``boto3``: always ``client.put_object``.
    """

    def __init__(
        self,
        bucket: str,
        *,
        layout: str = OBJECT,
        client: Any = None,
        session: Any = None,
        kms_key_id: str | None = None,
        queue_size: int | None = None,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        queue_wait: float = DEFAULT_QUEUE_WAIT,
        writers: int | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_bytes: int = DEFAULT_BATCH_BYTES,
        batch_seconds: float = DEFAULT_BATCH_SECONDS,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        log: Callable[[str], None] | None = None,
        spill: Any = None,
        s3_client: str = S3_CLIENTS[0],
    ):
        layout = check_layout(layout)
        if s3_client not in S3_CLIENTS:
            raise ConfigError(f"s3_client {s3_client!r} is not one of {', '.join(S3_CLIENTS)}")
        if queue_size is None:
            queue_size = DEFAULT_QUEUE_SIZE[layout]
        if writers is None:
            writers = DEFAULT_WRITERS[layout]
        if (
            queue_size < 1
            or queue_bytes < 1
            or writers < 1
            or batch_size < 1
            or batch_bytes < 1
            or not batch_seconds > 0
        ):
            raise ConfigError(
                "queue_size, queue_bytes, writers, batch_size and batch_bytes must be >= 1, "
                "batch_seconds > 0"
            )
        self.bucket = bucket
        self.layout = layout
        self.writers = writers
        self.queue_wait = queue_wait
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._client = client
        self._session = session
        self._client_lock = threading.Lock()
        self._extra = put_arguments(kms_key_id)
        #: ``light`` or ``boto3``: how objects are PUT now (``light`` until it fails).
        self.s3_client = s3_client
        self._light: Any = None
        if layout == CAPTURE:
            self.batch_size = batch_size
            self._backlog = _Backlog(
                queue_size,
                queue_bytes,
                batch_size,
                batch_bytes,
                batch_seconds,
                split=False,
                count_of=_captured_count,
                size_of=_captured_size,
            )
        else:
            # One object per datum: a writer takes one datum at a time.
            self.batch_size = 1
            self._backlog = _Backlog(
                queue_size,
                queue_bytes,
                1,
                1,
                batch_seconds,
                split=True,
                count_of=_record_count,
                size_of=_record_size,
            )
        self.spill = spill if spill is not None else LogSpill(log)
        self._local = threading.local()
        self._lock = threading.Lock()
        # Per writer thread, the objects it has taken and not yet stored or spilled,
        # and the spill file they were read from (None: from memory).
        self._in_flight: dict[int, tuple[list[Put], str | None]] = {}
        self._abandoned: set[int] = set()
        self._closing = threading.Event()
        self._closed = False
        self._deadline = math.inf
        # Whether the last S3 request succeeded, and whether a wait for room
        # ran out (records spill at once until the queue has room again).
        self._s3_ok = True
        self._congested = False
        self._spill_logged_at = 0.0
        self._spill_unlogged = 0
        # Waits for room since the last warning about them, and when the next may come.
        self._waits_unlogged = 0
        self._next_wait_log = 0.0
        # (time.monotonic(), records) of recent writes: the flush estimate.
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        #: Records (data) stored in S3.
        self.written = 0
        #: Records logged as ``UNWRITTEN_RECORD`` instead of being stored.
        self.unwritten = 0
        #: Records spilled to disk (they are sent to S3 again later).
        self.spilled = 0
        #: Records the spill refused (a full or read-only disk): lost, and logged as such.
        self.lost = 0
        #: Records read back from a spill file and not stored by the shutdown
        #: (refused by S3 and by the spill, or still being sent): not lost, their
        #: file stays on disk for the next server.
        self.left_on_disk = 0
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

    @classmethod
    def from_settings(
        cls, bucket: str, settings: RecorderSettings, session: Any = None, **kwargs: Any
    ) -> BackgroundRecorder:
        """Build one as ``settings`` say; ``kwargs`` are passed on (``client``, ``spill``...).

        Without a ``spill`` argument, records spill as ``settings.spill`` says.

        :raises ml2p.errors.ConfigError: if the spill folder cannot be used, naming it.
        """
        if "spill" not in kwargs:
            kwargs["spill"] = _spill_of(bucket, settings)
        return cls(
            bucket,
            layout=settings.layout,
            session=session,
            kms_key_id=settings.kms_key_id,
            queue_size=settings.queue_size,
            queue_bytes=settings.queue_bytes,
            queue_wait=settings.queue_wait,
            writers=settings.writers,
            batch_size=settings.batch_size,
            batch_bytes=settings.batch_bytes,
            batch_seconds=settings.batch_seconds,
            s3_client=settings.s3_client,
            **kwargs,
        )

    # -- the request side -------------------------------------------------

    def record(self, record: Record) -> None:
        """Queue ``record``; returns at once unless the queue is full.

        When the queue is full this waits up to ``queue_wait`` seconds while
        S3 takes records (and logs that it waits); if there is still no room,
        or S3 is failing, the record spills. Never raises for S3 trouble.
        Its data and predictions must not change after this call.
        """
        held = getattr(self._local, "held", None)
        if held is not None:
            held.records.append(record)
            held.count += record.count
            return
        items, size = self._prepare([record])
        if self._closed:
            self._spill_items(items, "recorder is closed")
        elif self._reserve(record.count, size, wait=True):
            self._backlog.put_reserved(items, record.count, size)
        else:
            self._spill_items(items, "queue full")

    def _prepare(self, records: Sequence[Record]) -> tuple[list[Any], int]:
        """What the queue keeps of ``records``, and its size in bytes.

        On the calling thread: in the ``capture`` layout, only the bodies,
        ids and time of each record (its data and predictions are let go).
        """
        if self.layout == CAPTURE and len(records) == 1:
            # A request's one record: no lists or sums built around it.
            item, problems = captured(records[0])
            items: list[Any] = [item]
            size = _captured_size(item)
        else:
            items, problems = queued(self.layout, records)
            size_of = self._backlog.size_of
            size = sum([size_of(item) for item in items])
        if problems:
            with self._lock:
                self.unencodable += problems
        return items, size

    def _reserve(self, count: int, size: int, wait: bool) -> bool:
        """Reserve queue room for ``count`` data; ``False``: they must spill."""
        backlog = self._backlog
        if backlog.reserve(count, size, 0.0):
            return True
        if not wait or self._congested or not self._s3_ok:
            return False
        self._log_wait(len(backlog))
        if backlog.reserve(count, size, self.queue_wait):
            return True
        if not self._congested:
            self._congested = True
            logger.warning(
                "invocation recorder queue still full after %.1f s: records spill (%s) "
                "until it has room",
                self.queue_wait,
                self.spill.kind,
            )
        return False

    def _log_wait(self, queued: int) -> None:
        """Warn that requests wait for room: the first wait, then at most every
        :data:`FULL_QUEUE_LOG_SECONDS`, counting the waits in between."""
        now = time.monotonic()
        with self._lock:
            self._waits_unlogged += 1
            if now < self._next_wait_log:
                return
            self._next_wait_log = now + FULL_QUEUE_LOG_SECONDS
            waits, self._waits_unlogged = self._waits_unlogged, 0
        logger.warning(
            "invocation recorder queue is full (%d records waiting, S3 slow or down): "
            "requests wait up to %.1f s for room (%d wait(s) since the last such warning; "
            "logged at most every %.0f s)",
            queued,
            self.queue_wait,
            waits,
            FULL_QUEUE_LOG_SECONDS,
        )

    # -- holding a request's records until its answer is sent ---------------

    def hold(self) -> Held:
        """Hold the records this thread makes from now on, instead of queuing them.

        Call :meth:`unhold` when the prediction is made, then :meth:`admit`
        (on the same thread) and :meth:`commit` or :meth:`discard`.
        """
        held = Held(bodies=self.layout == CAPTURE)
        self._local.held = held
        return held

    def unhold(self) -> None:
        """Stop holding this thread's records."""
        self._local.held = None

    def admit(self, held: Held, wait: bool = True) -> None:
        """Reserve queue room for ``held`` now, on this thread (and let its data go).

        Waits for room as :meth:`record` does, so that :meth:`commit` never waits.
        """
        if not held.count or held.reserved:
            return
        held.items, held.size = self._prepare(held.records)
        held.records = []
        held.reserved = self._reserve(held.count, held.size, wait)

    def admit_bodies(
        self,
        folder: str,
        count: int,
        request: bytes,
        request_type: bytes,
        response: bytes,
        response_type: bytes,
    ) -> Held:
        """Hold and admit the ``capture`` record of one request, made from its bodies alone.

        For a predictor whose records hold nothing more than that
        (``from_bodies`` of :class:`ml2p.recording.RecordingPlan`): the record of its
        ``count`` data, made now, with the default ids, going to ``folder``
        (its destination's capture folder), is queued as :meth:`hold`,
        :meth:`record` of a :class:`~ml2p.recording.Record` carrying these
        bodies and :meth:`admit` would queue it, without making the
        ``Record``. The bodies and their Content-Type header values are
        bytes, as received and sent. Then :meth:`commit` or :meth:`discard`.
        """
        item = capture_item(
            folder, time.time(), count, request, request_type, response, response_type
        )
        size = _captured_size(item)
        return Held(True, [item], count, size, self._reserve(count, size, wait=True))

    def commit(self, held: Held) -> None:
        """Queue the held records: the caller received the prediction. Never waits."""
        if not held.count:
            return
        if not held.items:  # not admitted
            held.items, held.size = self._prepare(held.records)
        if held.reserved and not self._closed:
            held.reserved = False
            self._backlog.put_reserved(held.items, held.count, held.size)
            return
        if held.reserved:
            held.reserved = False
            self._backlog.unreserve(held.count, held.size)
        self._spill_items(held.items, "recorder is closed" if self._closed else "queue full")

    def discard(self, held: Held, why: str) -> None:
        """Drop the held records: the caller did not receive the prediction (counted)."""
        if not held.count:
            return
        if held.reserved:
            held.reserved = False
            self._backlog.unreserve(held.count, held.size)
        self.not_kept(held.count, why)

    def not_kept(self, count: int, why: str) -> None:
        """Count ``count`` data predicted but not recorded (their caller did not get them); log why.

        For data whose records were never held (:meth:`admit_bodies` makes
        them only for an answer to send); :meth:`discard` says the same of held ones.
        """
        with self._lock:
            self.discarded += count
        logger.info("%d invocation record(s) not kept: %s", count, why)

    # -- what an operator sees ------------------------------------------------

    @property
    def pending(self) -> int:
        """Records queued or being written (not those spilled)."""
        with self._lock:
            in_flight = sum(put.records for puts, _ in self._in_flight.values() for put in puts)
        return len(self._backlog) + in_flight

    def stats(self) -> dict[str, Any]:
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
        else:  # nothing written lately: assume a slow PUT per batch and writer
            rate = self.writers * self.batch_size / 0.1
        return pending / max(rate, 1.0)

    # -- shutting down ----------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Write what is pending, for up to ``timeout`` seconds (``None``: until done).

        Records still unwritten after that spill (see :mod:`ml2p.serving.spill`),
        except those read back from a spill file, which still holds them: it
        stays on disk for the next server (counted in :attr:`left_on_disk`).
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
        leftovers: list[Put] = []
        read_back: dict[str, list[Put]] = {}
        with self._lock:
            # A writer stuck in an S3 call past the deadline: spill its records now.
            for ident, (puts, kept_in) in self._in_flight.items():
                if kept_in is None:
                    leftovers.extend(puts)
                else:
                    read_back.setdefault(kept_in, []).extend(puts)
                self._abandoned.add(ident)
            self._in_flight.clear()
        for kept_in, puts in read_back.items():
            # Still in the file they were read from, which stays until they are
            # released: spilled again, they would be on disk twice.
            count = sum(put.records for put in puts)
            if count:
                with self._lock:
                    self.left_on_disk += count
                logger.warning(
                    "%d invocation record(s) read back from spill file %s were still being "
                    "sent at shutdown; they stay in that file for the next server",
                    count,
                    kept_in,
                )
        leftovers.extend(self._named(self._backlog.drain()))
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
            "%d failed S3 requests, %d read back from disk and left there",
            self.written,
            self.unencodable,
            self.spilled,
            on_disk,
            self.unwritten,
            self.lost,
            self.discarded,
            self.failures,
            self.left_on_disk,
        )

    # -- spilling -------------------------------------------------------------

    def _named(self, items: Sequence[Any]) -> list[Put]:
        """The objects of queued items, named now, each able to spill on its own."""
        if not items:
            return []
        puts, problems = spill_puts(self.layout, items)
        if problems:
            with self._lock:
                self.unencodable += problems
        return puts

    def _spill_items(self, items: Sequence[Any], why: str) -> None:
        self._spill(self._named(items), why)

    def _spill(self, puts: list[Put], why: str, kept_in: str | None = None) -> bool:
        """Spill ``puts``; ``False`` if the spill refused them.

        Refused, they are counted lost, unless they were read back from the
        spill file ``kept_in``: that file keeps them (it goes only once they
        are released), so they are counted as left on disk.
        """
        count = sum(put.records for put in puts)
        try:
            done = self.spill.put(puts)
        except Exception as exc:
            where = getattr(self.spill, "folder", self.spill.kind)
            if kept_in is not None:
                with self._lock:
                    self.left_on_disk += count
                logger.error(
                    "%d invocation record(s) read back from spill file %s could not be "
                    "spilled again to %s (%s) after: %s; they stay in that file for the "
                    "next server",
                    count,
                    kept_in,
                    where,
                    exc,
                    why,
                )
                return False
            with self._lock:
                self.lost += count
            logger.error(
                "%d invocation record(s) lost: they could not be spilled to %s (%s) after: %s",
                count,
                where,
                exc,
                why,
            )
            return False
        if self.spill.kind == "log":
            with self._lock:
                self.unwritten += done
            logger.error("%d invocation record(s) not written to S3: %s", done, why)
            return True
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
        return True

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
                    from botocore.config import Config

                    from ml2p import aws

                    options: dict[str, Any] = dict(
                        connect_timeout=5,
                        read_timeout=15,
                        retries={"mode": "standard", "max_attempts": 2},
                        # One pooled connection per writer, or writers queue for one.
                        max_pool_connections=max(32, self.writers),
                    )
                    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
                        # botocore >= 1.36 streams every PUT with a CRC32 trailer
                        # (aws-chunked) by default: CPU on both ends for nothing S3
                        # asks for here (it checks the body itself). Send it plainly.
                        options["request_checksum_calculation"] = "when_required"
                    self._client = aws.client(
                        "s3", self._session, config=aws.client_config(**options)
                    )
        return self._client

    def connect(self) -> None:
        """Make the S3 client now rather than at the first write.

        Importing boto3 and making a client take CPU, the GIL held most of
        it (``BENCHMARKS.md``, start-up costs, measures both): better while
        the model is set up than while requests are answered. A failure is logged; the
        writers try again when they write.
        """
        try:
            self.client  # noqa: B018 - made on first use
        except Exception as exc:
            logger.warning("cannot make the records' S3 client yet: %s", exc)

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        light = self._light_put() if self.s3_client == "light" else None
        if light is not None:
            try:
                light.put(key, body, content_type)
                return
            except PutRefused as exc:
                self._stop_light(f"S3 answered a PUT with {exc}")
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **self._extra
        )

    def _light_put(self) -> Any:
        """The light PUT (:mod:`ml2p.serving.s3_put`), made on first use; ``None``: use boto3."""
        light = self._light
        if light is None:
            client = self.client
            with self._client_lock:
                if self._light is None and self.s3_client == "light":
                    try:
                        self._light = light_put_for(client, self.bucket, self._extra)
                    except LightPutUnavailable as exc:
                        self.s3_client = "boto3"
                        logger.info("invocation records are PUT through boto3: %s", exc)
                light = self._light
        return light

    def _stop_light(self, why: str) -> None:
        """Use the client's ``put_object`` from now on, saying why once."""
        with self._client_lock:
            if self.s3_client != "light":
                return
            self.s3_client = "boto3"
            self._light = None
        logger.warning(
            "invocation records' light S3 PUT stopped (%s): records are PUT through "
            "boto3's put_object from now on",
            why,
        )

    def _write(self, put: Put) -> bool:
        """Store one object, retrying until it is stored (``True``) or the close deadline passes."""
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
                    return False
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
            return True

    def _store(self, puts: list[Put], kept_in: str | None = None) -> bool:
        """Write ``puts`` in turn; spill one still unwritten at the close deadline.

        ``True`` if each is stored or spilled again by this call. ``kept_in``:
        the spill file they were read from, which keeps them if not.
        """
        ident = threading.get_ident()
        safe = True
        with self._lock:
            self._in_flight[ident] = (list(puts), kept_in)
        for put in puts:
            stored = self._write(put)
            with self._lock:
                if ident in self._abandoned:
                    # close() already spilled these records.
                    self._abandoned.discard(ident)
                    return False
                self._in_flight[ident][0].remove(put)
                if stored:
                    self.written += put.records
                    now = time.monotonic()
                    self._recent.append((now, put.records))
                    while self._recent and now - self._recent[0][0] > _RATE_WINDOW:
                        self._recent.popleft()
            if not stored:
                safe = self._spill([put], "S3 still failing at shutdown", kept_in) and safe
        with self._lock:
            self._in_flight.pop(ident, None)
        return safe

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
                    puts, problems = layout_puts(self.layout, items)
                    if problems:
                        with self._lock:
                            self.unencodable += problems
                    self._store(puts)
                    continue
                # Nothing due in memory: send what spilled to disk, if anything.
                spilled = spill.take(self.batch_size)
                if spilled:
                    # Loose capture lines go into files, whatever this recorder's layout.
                    if self._store(files_of_lines(spilled), spill.kept_in(spilled)):
                        # Stored or spilled again: their spill file may go.
                        spill.done(spilled)
                elif items is None:
                    return
            except Exception as exc:  # a bug must not stop the writer
                logger.error(
                    "invocation recorder writer error (the writer goes on): %s: %s",
                    type(exc).__name__,
                    exc,
                )


def _spill_of(bucket: str, settings: RecorderSettings) -> Any:
    if settings.spill == "log":
        return LogSpill()
    try:
        return DiskSpill(settings.spill_dir, bucket)
    except OSError as exc:
        raise ConfigError(f"{SPILL_DIR_ENV}={settings.spill_dir!r} cannot be used: {exc}") from None


def recorder_from_environ(
    bucket: str, environ: Mapping[str, str] | None = None, session: Any = None
) -> BackgroundRecorder:
    """Build a :class:`BackgroundRecorder` configured by the ``ML2P_RECORD_*`` variables.

    See :class:`ml2p.serving.settings.RecorderSettings` and ``docs/serving.md``.

    :raises ml2p.errors.ConfigError: naming a variable with a bad value.
    """
    settings = RecorderSettings.from_environ(environ)
    return BackgroundRecorder.from_settings(bucket, settings, session)
