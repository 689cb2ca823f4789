"""Naming and encoding records into the S3 objects of a layout, in a way that never raises.

The recorders call these functions (:class:`ml2p.recording.S3Recorder` at
once, the server's writer threads in the background); an exception here
would stop a writer and lose every record it held, so nothing a predictor
returns can make them raise. A value JSON cannot encode as it is is still
stored:

* a value of a type JSON has no name for (a NumPy integer, a set) is
  written as its ``repr()``;
* a part that not even that rescues (an int longer than Python turns into
  text, a circular structure, an object whose ``repr`` raises) is replaced
  by ``{"unencodable": <type name>, "error": <why>}``; the record's id and
  its other parts are kept.

Either way the encoder reports the problem, so the recorder logs the record's
id (never its content) and counts it.

A record becomes :class:`Put` objects, one per S3 object:

``object`` layout (:func:`object_puts`)
    one per datum, ``{"input": datum, "result": prediction}`` at
    ``predictions/<model_version>/<record id>.json``, the id being the one
    the predictor made or the default id (:func:`ml2p.record_ids.default_id`)
    made here;
``capture`` layout (:func:`capture_item`, :func:`capture_files`)
    one JSON line per record (as :func:`ml2p.record_format.build_line` writes it): the
    bodies the server received and sent as they are when the record has
    them, else the data and predictions encoded as a JSON request and
    response would carry them; files hold the lines of one folder and hour.
    A record's line is made when it is queued, on the thread that queues it
    (a :data:`Captured` tuple holds it); the writers only join lines.

A record is named once: its keys and ids are made when its puts (or its
capture line) are, and whatever happens to them afterwards (stored, retried,
spilled, logged), they keep them.
"""

from __future__ import annotations

import json
import logging
import operator
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ml2p.record_format import CAPTURE, capture_key, ids_text, line_text, posix_time
from ml2p.record_ids import default_ids, uuid4_text
from ml2p.recording import Record

logger = logging.getLogger("ml2p.serving.recorder")

JSON_TYPE = "application/json"
_JSON_TYPE_HEADER = JSON_TYPE.encode("latin-1")
JSONLINES_TYPE = "application/jsonlines"
#: A capture line kept on its own (spilled), to be written in a file with others.
LINE_TYPE = "application/x-ml2p-capture-line"
_MAX_ERROR_CHARS = 200


@dataclass
class Put:
    """One S3 object to store: a record (``object``), a capture file, or a loose capture line.

    A loose line (:data:`LINE_TYPE`) is keyed as a file of its own would be;
    :func:`files_of_lines` writes it with the others of its folder and hour.
    """

    key: str
    body: bytes
    content_type: str = JSON_TYPE
    #: How many data (records) it holds.
    records: int = 1

    def items(self) -> list[tuple[str, bytes]]:
        """Its records, as ``(key, body)``: each line of capture lines, else itself."""
        if self.content_type == JSON_TYPE:
            return [(self.key, self.body)]
        return [(self.key, line) for line in self.body.splitlines() if line.strip()]


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, short, and without raising itself."""
    try:
        text = str(exc)
    except Exception:
        text = "(no message)"
    if len(text) > _MAX_ERROR_CHARS:
        text = text[:_MAX_ERROR_CHARS] + "..."
    return f"{type(exc).__name__}: {text}"


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a description of it if its ``repr`` raises."""
    try:
        return repr(value)
    except Exception as exc:
        return f"<{type(value).__name__}: repr failed: {describe(exc)}>"


def encode_value(value: Any) -> tuple[str, str | None]:
    """Encode one value as JSON; return the text and what was wrong with it (``None``: nothing).

    Never raises: see the module documentation.
    """
    try:
        return json.dumps(value), None
    except Exception as exc:
        problem = describe(exc)
    try:
        return json.dumps(value, default=safe_repr), problem
    except Exception as exc:
        return json.dumps({"unencodable": type(value).__name__, "error": describe(exc)}), problem


def encode_record(record: dict[str, Any]) -> tuple[str, str | None]:
    """Encode a JSON object whose keys are strings, as :func:`json.dumps` does, never raising.

    A value that cannot be encoded is replaced as :func:`encode_value`
    replaces it, the others kept. Returns the text and the first problem.
    """
    try:
        return json.dumps(record), None
    except Exception:
        pass
    first = None
    parts = []
    for key, value in record.items():
        text, problem = encode_value(value)
        first = first or problem
        parts.append(f"{json.dumps(str(key))}: {text}")
    return "{" + ", ".join(parts) + "}", first


def report(record: str, problem: str | None) -> None:
    """Log that ``record`` (its id) was stored with parts replaced (not its content)."""
    logger.warning(
        "invocation record %s could not be encoded as it is (%s): stored with those values "
        "replaced by their repr() or a description",
        record,
        problem,
    )


# -- the object layout ------------------------------------------------------------


def object_puts(records: Sequence[Record]) -> tuple[list[Put], int]:
    """Name and encode each datum of ``records`` as its own object; return them and the problems."""
    puts = []
    problems = 0
    for record in records:
        ids = record.ids
        if ids is None:
            ids = default_ids(record.count, record.time)
        object_key = record.destination.object_key
        for datum, prediction, parts in zip(record.inputs, record.predictions, ids):
            key = object_key(parts)
            body, problem = encode_record({"input": datum, "result": prediction})
            if problem is not None:
                problems += 1
                report(posixpath.basename(key)[: -len(".json")], problem)
            puts.append(Put(key, body.encode("utf-8")))
    return puts, problems


# -- the capture layout -------------------------------------------------------------


def _json_bodies(record: Record) -> tuple[bytes, bytes, str | None]:
    """The request and response a JSON client would have exchanged for ``record``'s data."""
    inputs = record.inputs
    if not record.batch and len(inputs) == 1 and isinstance(inputs[0], dict):
        request, first = encode_value(inputs[0])
        response, problem = encode_value(record.predictions[0])
        return request.encode("utf-8"), response.encode("utf-8"), first or problem
    first = None
    texts = []
    for value in inputs:
        text, problem = encode_value(value)
        first = first or problem
        texts.append(text)
    request = '{"instances": [' + ", ".join(texts) + "]}"
    texts = []
    for value in record.predictions:
        text, problem = encode_value(value)
        first = first or problem
        texts.append(text)
    response = '{"predictions": [' + ", ".join(texts) + "]}"
    return request.encode("utf-8"), response.encode("utf-8"), first


#: What the ``capture`` layout keeps of a record: ``(folder, time, count, line)``: its model
#: version's capture folder (:attr:`~ml2p.recording.Destination.capture_folder`), when the
#: record was made (POSIX seconds), how many data it records, and its capture line (bytes,
#: with its newline). The line is made when the record is queued, by the thread queuing it,
#: a few microseconds for a request: a writer making a file's thousands of lines at once
#: spent tens of milliseconds of CPU sharing the GIL with the serving threads, which waited
#: for it (the p99 latency; see BENCHMARKS.md). A plain tuple of text, numbers and bytes, which the
#: garbage collector stops tracking: a queue of records made every collection walk their
#: data and predictions (long pauses under load: see BENCHMARKS.md, serving observations);
#: a queue of these costs it nothing.
Captured = tuple[str, float, int, bytes]


_FOLDER, _TIME, _COUNT = operator.itemgetter(0), operator.itemgetter(1), operator.itemgetter(2)


def capture_item(
    folder: str,
    when: float,
    count: int,
    request: bytes,
    request_type: bytes,
    response: bytes,
    response_type: bytes,
    ids: tuple[str, ...] | None = None,
    event_id: str | None = None,
) -> Captured:
    """The :data:`Captured` of one request, its line made now: the one place it is put together.

    The bodies and their Content-Type header values as the server saw them;
    ``ids`` the data's record ids, stored in the line unless they are the
    default ones (``None``: readers derive those). The request's ``eventId``
    is ``event_id``, or a new UUID4; the line keeps it wherever it goes
    (a file, a retry, a spill).
    """
    line = line_text(
        request,
        request_type,
        response,
        response_type,
        f'"{event_id or uuid4_text()}"',
        posix_time(when),
        ids_text(ids),
        "\n",
    ).encode("utf-8")
    return (folder, when, count, line)


def captured(record: Record) -> tuple[Captured, int]:
    """What the capture layout keeps of ``record``; and 1 if a value had to be replaced, else 0.

    The bodies the server attached, as they are; without them, the data and
    predictions encoded as JSON (``{"instances": [...]}`` and
    ``{"predictions": [...]}`` for a batch or a datum that is not an object).
    """
    problem = None
    if record.request is not None and record.response is not None:
        request, request_type = record.request
        response, response_type = record.response
    else:
        request, response, problem = _json_bodies(record)
        request_type = response_type = _JSON_TYPE_HEADER
    ids = record.record_ids()
    item = capture_item(
        record.destination.capture_folder,
        record.time,
        record.count,
        request,
        request_type,
        response,
        response_type,
        None if ids is None else tuple(ids),
    )
    if problem is None:
        return item, 0
    report(f"made at {record.time!r} for a capture line", problem)
    return item, 1


def captured_records(records: Sequence[Record]) -> tuple[list[Captured], int]:
    """What the capture layout keeps of ``records``, and how many had values replaced."""
    items = []
    problems = 0
    for record in records:
        item, problem = captured(record)
        items.append(item)
        problems += problem
    return items, problems


def capture_line(item: Captured) -> bytes:
    """The capture line of what :func:`captured` or :func:`capture_item` kept (with its newline)."""
    return item[3]


# capture_line without a Python call per item: a file joins thousands of lines.
_LINE = operator.itemgetter(3)


def capture_files(items: Sequence[Captured]) -> list[Put]:
    """The capture files of ``items``: one per folder (model version) and UTC hour.

    Each file is named after its first line's time
    (:func:`~ml2p.record_format.capture_key`), so it lies in that line's
    hour folder, as do all its lines.
    """
    if not items:
        return []
    folder, when = items[0][:2]
    first_hour = int(when // 3600)
    times = list(map(_TIME, items))
    if (
        int(min(times) // 3600) == int(max(times) // 3600) == first_hour
        and len(set(map(_FOLDER, items))) == 1
    ):
        # The usual case, checked without a Python step per item (a long one
        # keeps the GIL from the serving threads): one model version, one hour.
        groups: dict[tuple[str, int], Sequence[Captured]] = {(folder, first_hour): items}
    else:
        groups = {}
        for item in items:
            groups.setdefault((item[0], int(item[1] // 3600)), []).append(item)  # type: ignore[attr-defined]
    puts = []
    for group in groups.values():
        folder, when = group[0][:2]
        body = b"".join(map(_LINE, group))
        count = sum(map(_COUNT, group))
        puts.append(Put(capture_key(folder, when), body, JSONLINES_TYPE, count))
    return puts


def loose_lines(items: Sequence[Captured]) -> list[Put]:
    """Each item's line on its own (to spill), keyed as a file of its own would be."""
    return [
        Put(capture_key(item[0], item[1]), capture_line(item), LINE_TYPE, item[2]) for item in items
    ]


def files_of_lines(puts: Sequence[Put]) -> list[Put]:
    """Write loose lines (:data:`LINE_TYPE`) in files, one per folder and hour; others as they are.

    A file takes the key of its earliest line: keys sort by time within an hour.
    """
    out: list[Put] = []
    groups: dict[str, list[Put]] = {}
    for put in puts:
        if put.content_type == LINE_TYPE:
            groups.setdefault(posixpath.dirname(put.key), []).append(put)
        else:
            out.append(put)
    for group in groups.values():
        group.sort(key=lambda put: put.key)
        body = b"".join([put.body for put in group])
        count = sum([put.records for put in group])
        out.append(Put(group[0].key, body, JSONLINES_TYPE, count))
    return out


# -- per layout ---------------------------------------------------------------------


def queued(layout: str, records: Sequence[Record]) -> tuple[list[Any], int]:
    """What a layout's queue keeps of ``records``, and how many values were replaced.

    ``object``: the records (their data are encoded when written);
    ``capture``: :data:`Captured` tuples (their lines made now).
    """
    if layout == CAPTURE:
        return captured_records(records)  # type: ignore[return-value]
    return list(records), 0


def layout_puts(layout: str, queued: Sequence[Any]) -> tuple[list[Put], int]:
    """The objects that store what :func:`queued` kept, and how many values were replaced."""
    if layout == CAPTURE:
        return capture_files(queued), 0
    return object_puts(queued)


def spill_puts(layout: str, queued: Sequence[Any]) -> tuple[list[Put], int]:
    """What :func:`queued` kept, as :func:`layout_puts` would write it, capture lines kept loose."""
    if layout == CAPTURE:
        return loose_lines(queued), 0
    return object_puts(queued)
