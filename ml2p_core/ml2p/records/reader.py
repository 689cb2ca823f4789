"""Reading the invocation records of a model version from S3, in either layout.

See :mod:`ml2p.records` for the layouts and what a record is. The reader
streams: listings are read a page (at most 1,000 keys) at a time, objects
are read on a bounded thread pool with a bounded window of objects in
flight (:func:`ml2p.records.pool.ordered_map`), and records come out in
the order of the listing, whatever order the reads finish in. Memory stays
bounded by the window (a number of objects, and for capture files a number
of bytes), not by the number of records.
"""

from __future__ import annotations

import datetime
import heapq
import json
import logging
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from ml2p.errors import ML2PError
from ml2p.record_format import (
    CAPTURE_FOLDER,
    LAYOUTS,
    CaptureFormatError,
    object_prefix,
    read_line,
)
from ml2p.records.capture import event_records
from ml2p.records.pool import Window, ordered_map
from ml2p.records.times import id_time, normal_time, parse_when, posix_time

__all__ = [
    "LAYOUTS",
    "Exchange",
    "ReaderStats",
    "Record",
    "RecordFormatError",
    "RecordReader",
    "RecordRef",
    "read_records",
]

logger = logging.getLogger("ml2p.records")

#: Threads reading objects, by default.
DEFAULT_WORKERS = 8
#: Bytes of capture files read ahead at most, by default.
DEFAULT_WINDOW_BYTES = 16 * 1024 * 1024
#: Keys a listing request asks for (S3's most).
PAGE_SIZE = 1000
# After every key that starts with "ts-" and a digit: no character is greater than U+10FFFF.
_AFTER_TS_KEYS = "ts-9\U0010ffff"
_DIGITS = frozenset("0123456789")


class RecordFormatError(ML2PError, ValueError):
    """A stored object that is not a record of its layout (the message names it)."""


class Record(NamedTuple):
    """One recorded datum: what was asked and what was answered.

    ``prediction`` is the whole prediction the model returned for the datum
    (``{"metadata": {...}, "result": ...}``), as the ``object`` layout
    stores it and as a JSON or JSON Lines response carries it; from a CSV
    response it is the datum's row (the values of ``result``).
    """

    #: The record id (``ts-...--uuid-...`` by default; see :mod:`ml2p.record_format`).
    id: str
    #: The datum the model was invoked with.
    input: Any
    #: The prediction returned for it.
    prediction: Any
    #: When it was recorded: UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ``None`` if unknown.
    time: str | None
    #: The S3 key of the object it was read from.
    key: str

    @property
    def datetime(self) -> datetime.datetime | None:
        """:attr:`time` as an aware ``datetime.datetime`` (UTC), or ``None``."""
        if self.time is None:
            return None
        naive = datetime.datetime.strptime(self.time, "%Y-%m-%dT%H:%M:%S.%fZ")
        return naive.replace(tzinfo=datetime.timezone.utc)


class RecordRef(NamedTuple):
    """A record's id, time and key, as ``ml2p predictions ls`` lists them."""

    id: str
    time: str | None
    key: str


class Exchange(NamedTuple):
    """The records of one request, and the request as it was received.

    In the ``capture`` layout a request may hold a batch: ``records`` are its
    data in order, and the request body, its content type and the response's
    content type are kept so that the request can be sent again as it was.
    A record of the ``object`` layout is an exchange of its own, without a
    body (``None``): its request was not stored.
    """

    records: tuple[Record, ...]
    time: str | None
    key: str
    request_type: str | None
    request_body: bytes | None
    response_type: str | None


class _Entry(NamedTuple):
    """An ``object`` layout key: its record id, its time from the id, whether to check the time."""

    key: str
    id: str
    time: str | None
    check: bool


class ReaderStats:
    """What a reader did: counts, and the most it held at once (for tests and benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: ListObjectsV2 requests made.
        self.list_requests = 0
        #: Keys listed.
        self.keys_listed = 0
        #: The most keys of one listing page held at once.
        self.peak_page = 0
        #: Objects read (GET).
        self.objects_read = 0
        #: Bytes read.
        self.bytes_read = 0
        #: Records or lines skipped as malformed (``on_error="skip"``).
        self.skipped = 0
        self.windows: list[Window] = []

    @property
    def peak_in_flight(self) -> int:
        """The most objects submitted for reading and not yet handed on, at any time."""
        return max((w.peak for w in self.windows), default=0)

    @property
    def peak_bytes_in_flight(self) -> int:
        """The most bytes of capture files submitted for reading and not yet handed on."""
        return max((w.peak_weight for w in self.windows), default=0)

    def read(self, size: int) -> None:
        with self._lock:
            self.objects_read += 1
            self.bytes_read += size


def _bound(value: Any, name: str) -> str | None:
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        raise ML2PError(f"{name}: {exc}") from None


def _hour(when: str) -> str:
    """``YYYY-MM-DDTHH...`` -> ``YYYY/MM/DD/HH``: a capture key's hour folders."""
    return f"{when[0:4]}/{when[5:7]}/{when[8:10]}/{when[11:13]}"


def _in_range(when: str, since: str | None, until: str | None) -> bool:
    return (since is None or when >= since) and (until is None or when < until)


def _prediction_time(prediction: Any) -> str | None:
    """The time in a prediction's ``metadata.timestamp`` (POSIX seconds), if it has one."""
    metadata = prediction.get("metadata") if isinstance(prediction, dict) else None
    stamp = metadata.get("timestamp") if isinstance(metadata, dict) else None
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        try:
            return posix_time(float(stamp))
        except (OverflowError, ValueError, OSError):
            return None
    return None


class RecordReader:
    """Reads the invocation records of one model version.

    :param s3folder: The project's ``s3folder`` (``s3://bucket/path``) or an
        :class:`ml2p.core.S3URL`.
    :param model_version: The model version whose records to read, as it
        names the records' folder (``ML2P_MODEL_VERSION``: the full
        ``<project>-<model>-X-Y-Z`` name).
    :param layout: ``object``, ``capture``, or ``auto`` (the default):
        every layout that holds records of the model version, merged by time.
    :param client: A boto3 S3 client (default: one made with
        :func:`ml2p.aws.client`, with a connection per thread).
    :param session: A boto3 session for that default client.
    :param workers: Threads reading objects.
    :param window: Most objects in flight (read or being read, and not yet
        handed on); default twice ``workers``.
    :param window_bytes: Capture files are not read ahead past this many
        bytes in flight (one file may go over; default 16 MiB), however
        many records a file holds.
    :param on_error: ``raise`` (the default) stops at an object or line that
        is not a record, with :class:`RecordFormatError` naming it; ``skip``
        logs it, counts it in :attr:`stats` and goes on.
    """

    def __init__(
        self,
        s3folder: Any,
        model_version: str,
        *,
        layout: str = "auto",
        client: Any = None,
        session: Any = None,
        workers: int = DEFAULT_WORKERS,
        window: int | None = None,
        window_bytes: int = DEFAULT_WINDOW_BYTES,
        on_error: str = "raise",
    ):
        from ml2p.core import S3URL

        if layout not in ("auto", *LAYOUTS):
            raise ML2PError(f"unknown record layout {layout!r}; expected auto, object or capture")
        if on_error not in ("raise", "skip"):
            raise ML2PError(f"on_error is {on_error!r}; expected raise or skip")
        if workers < 1:
            raise ML2PError(f"workers must be at least 1, not {workers}")
        if not model_version or "/" in model_version:
            raise ML2PError(f"invalid model version {model_version!r}")
        self.s3 = s3folder if isinstance(s3folder, S3URL) else S3URL(str(s3folder))
        self.bucket = self.s3.bucket()
        self.model_version = model_version
        self.layout = layout
        self.workers = workers
        self.window = window if window is not None else 2 * workers
        if self.window < 1:
            raise ML2PError(f"window must be at least 1, not {self.window}")
        if window_bytes < 1:
            raise ML2PError(f"window_bytes must be at least 1, not {window_bytes}")
        self.window_bytes = window_bytes
        self.on_error = on_error
        self._client = client
        self._session = session
        self._client_lock = threading.Lock()
        self._layouts: list[str] | None = None
        #: What this reader did (:class:`ReaderStats`).
        self.stats = ReaderStats()

    # -- where records live ------------------------------------------------

    @property
    def object_folder(self) -> str:
        """The ``object`` layout's folder key: ``<base>/predictions/<model_version>/``."""
        return self.s3.path(object_prefix(self.model_version))

    @property
    def capture_folder(self) -> str:
        """The ``capture`` layout's folder key: ``<base>/predictions/capture/<model_version>/``."""
        return self.s3.path(f"{CAPTURE_FOLDER}{self.model_version}/")

    def url(self, key: str = "") -> str:
        """Return ``s3://<bucket>/<key>``."""
        return f"s3://{self.bucket}/{key}"

    @property
    def client(self) -> Any:
        """The S3 client (made on first use)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from ml2p import aws

                    config = aws.client_config(max_pool_connections=max(32, self.workers))
                    self._client = aws.client("s3", self._session, config=config)
        return self._client

    def layouts(self) -> list[str]:
        """Return the layouts read: the one chosen, or (``auto``) those that hold records."""
        if self._layouts is None:
            if self.layout != "auto":
                self._layouts = [self.layout]
            else:
                folders = {"object": self.object_folder, "capture": self.capture_folder}
                self._layouts = [name for name in LAYOUTS if self._any_key(folders[name])]
        return self._layouts

    # -- listing -----------------------------------------------------------

    def _any_key(self, prefix: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        self.stats.list_requests += 1
        return bool(response.get("Contents"))

    def _pages(
        self, prefix: str, start_after: str | None = None, delimiter: str | None = None
    ) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
        if start_after is not None:
            kwargs["StartAfter"] = start_after
        if delimiter is not None:
            kwargs["Delimiter"] = delimiter
        while True:
            page = self.client.list_objects_v2(**kwargs)
            self.stats.list_requests += 1
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            kwargs["ContinuationToken"] = token
            kwargs.pop("StartAfter", None)

    def _objects(
        self, prefix: str, start_after: str | None = None, delimiter: str | None = None
    ) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix`` (after ``start_after``), in key order.

        Read a page at a time: at most 1,000 keys are held.
        """
        stats = self.stats
        for page in self._pages(prefix, start_after, delimiter):
            contents = page.get("Contents") or ()
            stats.keys_listed += len(contents)
            if len(contents) > stats.peak_page:
                stats.peak_page = len(contents)
            for item in contents:
                yield item["Key"], int(item.get("Size") or 0)

    def _keys(
        self, prefix: str, start_after: str | None = None, delimiter: str | None = None
    ) -> Iterator[str]:
        """Every key under ``prefix`` (after ``start_after``), in key order."""
        for key, _ in self._objects(prefix, start_after, delimiter):
            yield key

    def _folders(self, prefix: str) -> Iterator[str]:
        for page in self._pages(prefix, delimiter="/"):
            for item in page.get("CommonPrefixes") or ():
                yield item["Prefix"]

    # -- errors --------------------------------------------------------------

    def _bad(self, where: str, problem: Any) -> None:
        message = f"{where}: {problem}"
        if self.on_error == "raise":
            raise RecordFormatError(message)
        logger.warning("skipped %s", message)
        with self.stats._lock:
            self.stats.skipped += 1

    def _get(self, key: str) -> bytes | None:
        """The object's body; ``None`` if it was deleted since it was listed."""
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        self.stats.read(len(body))
        return body

    # -- the object layout ---------------------------------------------------

    def _object_keys(self, since: str | None, until: str | None) -> Iterator[str]:
        """The record keys of the ``object`` layout, in key order, the time range narrowed.

        Keys of default ids start with ``ts-`` and the time, so in key order
        they are in time order: the range of those is listed from ``since``
        (``StartAfter``) up to ``until``. Keys before and after them (ids that
        do not start with the time) are listed whole.
        """
        folder = self.object_folder
        if since is None and until is None:
            yield from self._keys(folder, delimiter="/")
            return
        ts_start = folder + "ts-"
        for key in self._keys(folder, delimiter="/"):
            if key >= ts_start + "0":
                break
            yield key
        start = ts_start + since[:19] if since is not None else ts_start + "0"
        skip = len(ts_start)
        for key in self._keys(ts_start, start_after=start, delimiter="/"):
            if key[skip : skip + 1] not in _DIGITS:
                break  # past the keys that start with a time
            if until is not None:
                when = id_time(key[len(folder) : -len(".json")] if key.endswith(".json") else "")
                if when is not None and when >= until:
                    break
            yield key
        yield from self._keys(folder, start_after=folder + _AFTER_TS_KEYS, delimiter="/")

    def _object_entries(self, since: str | None, until: str | None) -> Iterator[_Entry]:
        folder_length = len(self.object_folder)
        filtered = since is not None or until is not None
        for key in self._object_keys(since, until):
            if not key.endswith(".json"):
                continue
            record_id = key[folder_length:-5]
            when = id_time(record_id)
            if when is None:
                # No time in the name: the prediction's own timestamp decides, after a GET.
                yield _Entry(key, record_id, None, filtered)
            elif not filtered or _in_range(when, since, until):
                yield _Entry(key, record_id, when, False)

    def _object_exchange(
        self, entry: _Entry, since: str | None, until: str | None
    ) -> Exchange | None:
        body = self._get(entry.key)
        if body is None:
            return None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError) as exc:
            self._bad(self.url(entry.key), f"not JSON ({exc})")
            return None
        if not isinstance(document, dict) or "input" not in document or "result" not in document:
            self._bad(self.url(entry.key), 'not a record: expected {"input": ..., "result": ...}')
            return None
        prediction = document["result"]
        when = entry.time or _prediction_time(prediction)
        if entry.check and (when is None or not _in_range(when, since, until)):
            return None
        record = Record(entry.id, document["input"], prediction, when, entry.key)
        return Exchange((record,), when, entry.key, None, None, None)

    def _object_stream(self, since: str | None, until: str | None) -> Iterator[Exchange]:
        window = Window(self.window)
        self.stats.windows.append(window)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ml2p-records") as pool:
            for exchange in ordered_map(
                pool,
                lambda entry: self._object_exchange(entry, since, until),
                self._object_entries(since, until),
                window,
            ):
                if exchange is not None:
                    yield exchange

    def _object_refs(self, since: str | None, until: str | None) -> Iterator[RecordRef]:
        def ref(entry: _Entry) -> RecordRef | None:
            if not entry.check:
                return RecordRef(entry.id, entry.time, entry.key)
            exchange = self._object_exchange(entry, since, until)
            return None if exchange is None else RecordRef(entry.id, exchange.time, entry.key)

        window = Window(self.window)
        self.stats.windows.append(window)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ml2p-records") as pool:
            entries = self._object_entries(since, until)
            # Only records whose time is not in their name are read (GET).
            for item in ordered_map(pool, ref, entries, window, inline=lambda e: not e.check):
                if item is not None:
                    yield item

    # -- the capture layout --------------------------------------------------

    def _variant_files(
        self, prefix: str, since: str | None, until: str | None
    ) -> Iterator[tuple[str, str, int]]:
        """``(path after the variant, key, size)`` of a variant's capture files, in time order."""
        start = prefix + _hour(since) + "/" if since is not None else None
        last_hour = _hour(until) if until is not None else None
        skip = len(prefix)
        for key, size in self._objects(prefix, start_after=start):
            path = key[skip:]
            if last_hour is not None and path[:13] > last_hour:
                return
            if path.endswith(".jsonl"):
                yield path, key, size

    def _capture_files(self, since: str | None, until: str | None) -> Iterator[tuple[str, int]]:
        """``(key, size)`` of the capture files of every variant, in time order (then by key)."""
        variants = [
            self._variant_files(v, since, until) for v in self._folders(self.capture_folder)
        ]
        for _, key, size in heapq.merge(*variants):
            yield key, size

    def _capture_text(self, file: tuple[str, int]) -> tuple[str, str | None]:
        """Read one capture file (on a worker thread): ``(key, its text)``; ``None`` if gone."""
        key = file[0]
        body = self._get(key)
        if body is None:
            return key, None
        try:
            return key, body.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._bad(self.url(key), f"not UTF-8 text ({exc})")
            return key, None

    def _capture_exchanges(
        self, key: str, text: str, since: str | None, until: str | None
    ) -> Iterator[Exchange]:
        """The requests of a capture file's text, each line parsed when it is asked for."""
        start = 0
        number = 0
        length = len(text)
        while start < length:
            end = text.find("\n", start)
            if end < 0:
                end = length
            line = text[start:end]
            start = end + 1
            number += 1
            if not line or line.isspace():
                continue
            try:
                event = read_line(line)
                when = normal_time(event.inference_time)
                if when is None:
                    raise CaptureFormatError(
                        f"eventMetadata.inferenceTime {event.inference_time!r} is not a time"
                    )
                if not _in_range(when, since, until):
                    continue
                triples = event_records(event)
            except CaptureFormatError as exc:
                self._bad(f"{self.url(key)} line {number}", exc)
                continue
            records = tuple([Record(i, d, p, when, key) for i, d, p in triples])
            yield Exchange(
                records, when, key, event.request_type, event.request_body, event.response_type
            )

    def _capture_stream(self, since: str | None, until: str | None) -> Iterator[Exchange]:
        # Workers only read files, bounded in number and in bytes (files may be large);
        # lines are parsed here, as records are asked for, so parsed records are not
        # held beyond the current request.
        window = Window(self.window, max_weight=self.window_bytes, weight=lambda file: file[1])
        self.stats.windows.append(window)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ml2p-records") as pool:
            files = self._capture_files(since, until)
            for key, text in ordered_map(pool, self._capture_text, files, window):
                if text is not None:
                    yield from self._capture_exchanges(key, text, since, until)

    # -- reading -------------------------------------------------------------

    def exchanges(
        self, since: Any = None, until: Any = None, limit: int | None = None
    ) -> Iterator[Exchange]:
        """Yield the records request by request, in time order (see :meth:`records`).

        With ``limit``, the last exchange may hold fewer records than its request did.
        """
        low = _bound(since, "since")
        high = _bound(until, "until")
        if limit is not None and limit <= 0:
            return
        streams = []
        for layout in self.layouts():
            stream = self._object_stream if layout == "object" else self._capture_stream
            streams.append(stream(low, high))
        merged: Iterable[Exchange] = (
            streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_exchange_order)
        )
        count = 0
        try:
            for exchange in merged:
                if limit is not None and count + len(exchange.records) > limit:
                    exchange = exchange._replace(records=exchange.records[: limit - count])
                count += len(exchange.records)
                yield exchange
                if limit is not None and count >= limit:
                    return
        finally:
            for stream in streams:
                stream.close()

    def records(
        self, since: Any = None, until: Any = None, limit: int | None = None
    ) -> Iterator[Record]:
        """Yield the model version's records as :class:`Record` s.

        :param since: The earliest time (inclusive); see
            :func:`ml2p.records.times.parse_when` for what it may be.
        :param until: The time to stop at (exclusive).
        :param limit: Most records to yield.

        Records come in a stable order, by time, then id: for the ``object``
        layout in key order, which is by time then id for ids that start
        with the ``ts`` pair (the default id, also when plugins add pairs
        after it); for ``capture``, by file (the time of its first request),
        then request by request as written, each request's data in their
        order; layouts are merged by time. Time filters use the ``ts`` part
        of an ``object`` record's key (no read needed) or, for ids without
        one, the prediction's ``metadata.timestamp``; and a capture file's
        hour folders, then each line's ``inferenceTime``.
        """
        for exchange in self.exchanges(since, until, limit):
            yield from exchange.records

    __iter__ = records

    def refs(
        self, since: Any = None, until: Any = None, limit: int | None = None
    ) -> Iterator[RecordRef]:
        """Yield each record's id, time and key, as :meth:`records` orders them.

        The ``object`` layout's records are not read for this (their ids are
        their names), except for ids without a time when a time filter is given.
        """
        low = _bound(since, "since")
        high = _bound(until, "until")
        if limit is not None and limit <= 0:
            return
        streams: list[Iterator[RecordRef]] = []
        for layout in self.layouts():
            if layout == "object":
                streams.append(self._object_refs(low, high))
            else:
                streams.append(
                    RecordRef(r.id, r.time, r.key)
                    for exchange in self._capture_stream(low, high)
                    for r in exchange.records
                )
        merged: Iterable[RecordRef] = (
            streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_ref_order)
        )
        count = 0
        try:
            for ref in merged:
                yield ref
                count += 1
                if limit is not None and count >= limit:
                    return
        finally:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]


def _exchange_order(exchange: Exchange) -> str:
    return exchange.time or ""


def _ref_order(ref: RecordRef) -> str:
    return ref.time or ""


def read_records(
    s3folder: Any,
    model_version: str,
    *,
    since: Any = None,
    until: Any = None,
    limit: int | None = None,
    layout: str = "auto",
    client: Any = None,
    session: Any = None,
    workers: int = DEFAULT_WORKERS,
    on_error: str = "raise",
) -> Iterator[Record]:
    """Yield the records of ``model_version`` under ``s3folder``; see :class:`RecordReader`.

    For example, the predictions of the last day::

        for record in read_records("s3://bucket/project/", "proj-churn-1-2-0", since="1d"):
            print(record.id, record.input, record.prediction["result"])
    """
    reader = RecordReader(
        s3folder,
        model_version,
        layout=layout,
        client=client,
        session=session,
        workers=workers,
        on_error=on_error,
    )
    return reader.records(since, until, limit)
