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
``capture`` layout (:func:`capture_line`, :func:`capture_files`)
    one JSON line per record (as :func:`ml2p.record_format.build_line` writes it): the
    bodies the server received and sent as they are when the record has
    them, else the data and predictions encoded as a JSON request and
    response would carry them; files hold the lines of one folder and hour.
    The queue keeps only the bodies, ids and time of a record (a
    :data:`Captured` tuple); the writer makes the lines.

A record is named once: its keys and ids are made when its puts (or its
capture line) are, and whatever happens to them afterwards (stored, retried,
spilled, logged), they keep them.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import operator
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ml2p.record_format import CAPTURE, capture_key, ids_text, line_text, line_texts, posix_time
from ml2p.record_ids import default_ids, uuid4_text, uuid4_texts
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


#: What the ``capture`` layout keeps of a record until its line is made:
#: ``(folder, time, count, request, request type, response, response type, ids)``: its model
#: version's capture folder (:attr:`~ml2p.recording.Destination.capture_folder`), when the
#: record was made (POSIX seconds), how many data it records, the request and response
#: bodies and their Content-Type header values (bytes, as the server saw them), and the
#: data's record ids (``None`` for the default ones). A plain tuple of text, numbers and
#: bytes, which the garbage collector stops tracking: a queue of records made every
#: collection walk their data and predictions (long pauses under load: see BENCHMARKS.md,
#: serving observations); a queue of these costs it nothing. (Evaluated at run time:
#: ``Optional``, not ``| None``, for Python 3.9.)
Captured = tuple[str, float, int, bytes, bytes, bytes, bytes, Optional[tuple[str, ...]]]


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
) -> Captured:
    """The :data:`Captured` of one request: the one place its fields are put in order."""
    return (folder, when, count, request, request_type, response, response_type, ids)


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


def capture_line(item: Captured, event_id: str | None = None) -> bytes:
    """Make the capture line of what :func:`captured` kept (with its newline).

    The request's ``eventId`` is ``event_id``, or a new UUID4: a line is
    made once, when it is written or spilled, and keeps it. The data's ids
    are stored in the line unless they are the default ones (readers derive
    those).
    """
    _, when, _, request, request_type, response, response_type, ids = item
    text = line_text(
        request,
        request_type,
        response,
        response_type,
        f'"{event_id or uuid4_text()}"',
        posix_time(when),
        ids_text(ids),
        "\n",
    )
    return text.encode("utf-8")


#: Seconds of line making between two offers of the GIL.
LINES_SLICE_SECONDS = 0.0002
#: Lines are made in runs of at most this many body bytes (a line costs about
#: :data:`_LINE_COST` more), the clock read once per run.
LINES_RUN_BYTES = 32768
_LINE_COST = 512

_REQUEST, _REQUEST_TYPE = operator.itemgetter(3), operator.itemgetter(4)
_RESPONSE, _RESPONSE_TYPE = operator.itemgetter(5), operator.itemgetter(6)
_IDS = operator.itemgetter(7)
_quoted = '"{}"'.format


def _runs(items: Sequence[Captured]) -> list[int]:
    """Where runs of about :data:`LINES_RUN_BYTES` of ``items`` end (each holds at least one).

    A Python step per run, not per item: the costs are summed by C-level
    iteration, and each run's end found by bisection.
    """
    # costs[i]: what the first i items cost (their bodies' bytes and _LINE_COST each).
    requests = itertools.accumulate(map(len, map(_REQUEST, items)), initial=0)
    responses = itertools.accumulate(map(len, map(_RESPONSE, items)), initial=0)
    lines = range(0, _LINE_COST * (len(items) + 1), _LINE_COST)
    costs = list(map(sum, zip(requests, responses, lines)))
    ends = []
    start, count = 0, len(items)
    while start < count:
        start = max(start + 1, bisect.bisect_right(costs, costs[start] + LINES_RUN_BYTES) - 1)
        ends.append(start)
    return ends


def _lines(items: Sequence[Captured]) -> list[bytes]:
    """The lines of ``items``, offering the GIL to the serving threads every few lines.

    A writer making thousands of lines would otherwise keep the GIL for
    whole switch intervals (:func:`sys.getswitchinterval`) while the event
    loop and the prediction threads wait for it. Slices are measured in time
    (:data:`LINES_SLICE_SECONDS`), not lines: a line of a large batch takes
    a hundred times longer than one of a single datum; the clock is read
    after each run of about :data:`LINES_RUN_BYTES`. The lines' event ids
    are made together (:func:`~ml2p.record_ids.uuid4_texts`). In the usual
    case (the same content types, default ids) a run's lines are made
    together too (:func:`~ml2p.record_format.line_texts`); else, or when a
    body needs base64, one by one (:func:`capture_line`).
    """
    event_ids = uuid4_texts(len(items))
    request_types = set(map(_REQUEST_TYPE, items))
    response_types = set(map(_RESPONSE_TYPE, items))
    together = (
        len(request_types) == 1
        and len(response_types) == 1
        and list(map(_IDS, items)).count(None) == len(items)
    )
    if together:
        (request_type,) = request_types
        (response_type,) = response_types
    lines: list[bytes] = []
    clock = time.perf_counter
    until = clock() + LINES_SLICE_SECONDS
    start = 0
    for stop in _runs(items):
        run, run_ids = items[start:stop], event_ids[start:stop]
        texts = None
        if together:
            texts = line_texts(
                map(_REQUEST, run),
                request_type,
                map(_RESPONSE, run),
                response_type,
                map(_quoted, run_ids),
                map(posix_time, map(_TIME, run)),
                "\n",
            )
        if texts is None:
            lines.extend(map(capture_line, run, run_ids))
        else:
            lines.extend(map(str.encode, texts))
        start = stop
        if clock() >= until:
            time.sleep(0)
            until = clock() + LINES_SLICE_SECONDS
    return lines


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
        body = b"".join(_lines(group))
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
    ``capture``: :data:`Captured` tuples (their lines are made when written).
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
