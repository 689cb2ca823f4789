"""Naming and encoding invocation records, in a way that never raises.

The background recorder's writer threads call these functions; an exception
here would stop a writer and lose every record it held, so nothing a
predictor returns can make them raise. A record JSON cannot encode as it is
is still stored:

* a value of a type JSON has no name for (a NumPy integer, a set) is
  written as its ``repr()``;
* a part that not even that rescues (an int longer than Python turns into
  text, a circular structure, an object whose ``repr`` raises) is replaced
  by ``{"unencodable": <type name>, "error": <why>}``; the record's id and
  its other parts are kept.

Either way the encoder reports the problem, so the recorder logs the record's
id (never its content) and counts it.

A record is named once (``name_invocation``, ``encode_batch``): whatever
happens to it afterwards (stored, retried, spilled, logged), it keeps that
id.
"""

from __future__ import annotations

import datetime
import json
import logging
import posixpath
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ml2p.record_ids import utc_timestamp, uuid4_text, uuid4_texts

logger = logging.getLogger("ml2p.serving.recorder")

#: A named, encoded record: (S3 key, JSON body).
Item = Tuple[str, bytes]
#: A record the writer names and encodes: (folder key prefix, time.time(), datum,
#: prediction), the prediction being the whole ``{"metadata": ..., "result": ...}``.
Invocation = Tuple[str, float, Any, Any]

#: Records encoded between two offers of the GIL.
LINES_PER_SLICE = 256
#: What lies between two records when a list of them is encoded as one JSON array.
_BOUNDARY = '},{"id":'
_encode_compact = json.JSONEncoder(separators=(",", ":")).encode
_MAX_ERROR_CHARS = 200


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


def _dumps_with_repr(value: Any) -> str:
    return json.dumps(value, default=safe_repr)


def encode_record(
    record: Dict[str, Any], encode: Callable[[Any], str] = json.dumps
) -> Tuple[str, Optional[str]]:
    """Encode one record as JSON; return the text and what was wrong with it (``None``: nothing).

    Never raises for the record's content: see the module documentation.
    ``record``'s keys must be strings (they are the record's own: ``id``,
    ``input``, ``result``).
    """
    try:
        return encode(record), None
    except Exception as exc:
        problem = describe(exc)
    try:
        return _dumps_with_repr(record), problem
    except Exception:
        pass
    safe: Dict[str, Any] = {}
    for key, value in record.items():
        try:
            _dumps_with_repr(value)
        except Exception as exc:
            value = {"unencodable": type(value).__name__, "error": describe(exc)}
        safe[key] = value
    try:
        return _dumps_with_repr(safe), problem
    except Exception as exc:  # a value that changed meanwhile: keep the id at least
        return json.dumps({"id": str(record.get("id", "")), "unencodable": describe(exc)}), problem


def report(record_id: str, problem: Optional[str]) -> None:
    """Log that record ``record_id`` was stored with parts replaced (not its content)."""
    logger.warning(
        "invocation record %s could not be encoded as it is (%s): stored with those values "
        "replaced by their repr() or a description",
        record_id,
        problem,
    )


def name_invocation(entry: Invocation) -> Tuple[Item, Optional[str]]:
    """Name and encode one invocation as the ``object`` layout stores it.

    Returns ``((key, body), problem)``: the record ``{"input", "result"}`` at
    ``<prefix>ts-<ISO UTC of its time>--uuid-<uuid4>.json``.
    """
    prefix, stamp, datum, prediction = entry
    record_id = f"ts-{utc_timestamp(stamp)}--uuid-{uuid4_text()}"
    body, problem = encode_record({"input": datum, "result": prediction})
    if problem is not None:
        report(record_id, problem)
    return (f"{prefix}{record_id}.json", body.encode("utf-8")), problem


def materialise(entry: Any) -> Item:
    """Return the ``(key, body)`` of a queued entry, naming and encoding an invocation."""
    if len(entry) == 2:
        return entry
    return name_invocation(entry)[0]


def _invocation_lines(invocations: Sequence[Invocation]) -> Tuple[str, int]:
    """Return the JSON Lines of invocations (without the last newline) and how many had problems.

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
    except Exception:
        text = ""
    if text and text.count(_BOUNDARY) == len(records) - 1:
        return text[1:-1].replace(_BOUNDARY, '}\n{"id":'), 0
    lines = []
    problems = 0
    for record in records:
        line, problem = encode_record(record, _encode_compact)
        if problem is not None:
            problems += 1
            report(record["id"], problem)
        lines.append(line)
    return "\n".join(lines), problems


def encode_batch(
    invocations: Sequence[Invocation], records: Sequence[Item] = ()
) -> Tuple[bytes, int]:
    """Return the JSON Lines body of a batch object and how many records had encoding problems.

    One ``{"id", "input", "result"}`` per line: ``invocations`` are named and
    encoded here; ``records`` are ``(key, body)`` records named by the
    predictor (each becomes its :func:`batch_line`).
    """
    parts: List[str] = [batch_line(*record).decode("utf-8") for record in records]
    problems = 0
    for start in range(0, len(invocations), LINES_PER_SLICE):
        text, count = _invocation_lines(invocations[start : start + LINES_PER_SLICE])
        parts.append(text)
        problems += count
        # Let the event loop and prediction threads have the GIL between
        # slices, rather than wait the switch interval (5 ms) for it.
        time.sleep(0)
    return ("\n".join(parts) + "\n").encode("utf-8"), problems


def encode_lines(invocations: Sequence[Invocation], records: Sequence[Item] = ()) -> bytes:
    """Return the JSON Lines body of a batch object: one ``{"id", "input", "result"}`` per line.

    ``invocations`` are named and encoded here; ``records`` are ``(key,
    body)`` records named by the predictor (each becomes its ``batch_line``).
    """
    return encode_batch(invocations, records)[0]


def record_id_of(key: str) -> str:
    """The record id of a record's key: its file name without ``.json``."""
    record_id = posixpath.basename(key)
    return record_id[: -len(".json")] if record_id.endswith(".json") else record_id


def batch_line(key: str, body: bytes) -> bytes:
    """Return the JSON Lines line of a record: ``{"id": <record id>, **body}``.

    The record id is the key's file name without ``.json``.
    """
    record_id = record_id_of(key)
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


def batch_records(key: str, body: bytes) -> List[Item]:
    """Split a batch object back into its records, each at the key it would have alone.

    ``<folder>/batches/<name>.jsonl`` holding ``{"id": i, ...}`` lines gives
    ``(<folder>/<i>.json, {...})`` per line: the same record ids.
    """
    folder = posixpath.dirname(posixpath.dirname(key))
    out: List[Item] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record_id = str(record.pop("id"))
            text = json.dumps(record)
        except (ValueError, KeyError, TypeError, AttributeError):
            # Not a record line: keep it whole rather than lose it.
            record_id, text = "unparsed", line.decode("utf-8", "replace")
        name = f"{record_id}.json"
        out.append((f"{folder}/{name}" if folder else name, text.encode("utf-8")))
    return out


def _now_stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def batch_key(record_key: str) -> str:
    """Return a new batch object key beside the folder of ``record_key``."""
    folder = posixpath.dirname(record_key)
    name = f"batches/{_now_stamp()}--{uuid.uuid4()}.jsonl"
    return f"{folder}/{name}" if folder else name
