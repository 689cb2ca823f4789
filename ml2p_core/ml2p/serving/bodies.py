"""Decoding request bodies and encoding responses.

Requests may be JSON (a datum, or ``{"instances": [...]}`` for a batch),
JSON Lines or CSV (batch transform; ``text/csv; header=present`` when the
first row names the columns). A body of any other Content-Type, or none, is
read as JSON, as ML2P 0.6 read every body. Responses are JSON, JSON Lines or
CSV, as the ``Accept`` header asks. Everything here is plain, synchronous
code: the server runs it on a prediction thread, off the event loop. The
media types (``JSON``, ``CSV``, ``JSONLINES_TYPES``, ``media_type``) are
:mod:`ml2p.media_types`', importable from here too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from ml2p.errors import ClientError
from ml2p.media_types import CSV, JSON, JSONLINES_TYPES, media_type

#: What :func:`request_media_type` returns for CSV whose first row names the columns.
CSV_WITH_HEADER = "text/csv; header=present"

#: Accept values that mean JSON (a missing header, too).
_JSON_ACCEPTS = frozenset({"", "*/*", "application/*", JSON})
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)\Z")


class RequestError(ClientError):
    """A request the server itself cannot read (400 unless a subclass says otherwise).

    Answered ``{"message": ...}``, the shape of ML2P 0.6's own request errors,
    unlike a predictor's :class:`~ml2p.errors.ClientError`, whose answer also
    holds its ``details``.
    """


class UnsupportedMediaType(RequestError):
    """The request's Content-Type is one the server cannot read (415)."""

    code = 415


class NotAcceptable(RequestError):
    """No media type the Accept header allows can be produced (406)."""

    code = 406


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _NotFinite(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0:  # inf - inf is NaN
        raise _NotFinite(
            f"number {text[:40]} is too large for a float: JSON numbers must be finite"
        )
    return value


# Strict JSON: NaN and Infinity are not JSON, and a prediction made from them
# could not be answered in JSON either.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
# Numbers such as 1e309 decode to infinity. Checking every float would slow
# every request, so only a body holding a 3-digit exponent or a run of 20
# digits (which a float of up to 19 digits and 2-digit exponent, always
# finite, never does) is decoded again with the check.
_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
# A body's ASCII digits become "0", "E" becomes "e", "+" and "e" stay, any other
# ASCII character becomes a space (non-ASCII ones stay as they are): what is
# left to find is "e000", "e+000" or twenty "0"s.
_OTHER_ASCII = "".join(chr(c) for c in range(128) if chr(c) not in "0123456789eE+")
_NUMBER_SHAPES = str.maketrans(
    "0123456789E" + _OTHER_ASCII, "0000000000e" + " " * len(_OTHER_ASCII)
)
_TWENTY_DIGITS = "0" * 20


def _maybe_huge(text: str) -> bool:
    """Whether ``text`` holds a 3-digit exponent (``e123``, ``E+123``) or a run of 20 digits.

    By C-level translation and substring search: a regular expression tried
    at every character, ~15 times slower (~180 µs for a 6 kB batch body).
    """
    shapes = text.translate(_NUMBER_SHAPES)
    return "e000" in shapes or "e+000" in shapes or _TWENTY_DIGITS in shapes


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

encode_json = _ENCODER.encode


def json_body(obj: Any) -> bytes:
    """Return ``obj`` as compact, strict JSON bytes."""
    return _ENCODER.encode(obj).encode("utf-8")


def _csv_header_parameter(content_type: str) -> str:
    """Return the lower-case ``header`` parameter of a ``text/csv`` type (RFC 4180), or ``""``."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "header":
            return value.strip().strip('"').lower()
    return ""


def request_media_type(content_type: str) -> str:
    """Return the media type the body will be read as.

    A JSON Lines type is itself; ``text/csv`` is :data:`~ml2p.media_types.CSV`,
    or :data:`CSV_WITH_HEADER` with the parameter ``header=present``; any
    other type, or none, is :data:`~ml2p.media_types.JSON` (ML2P 0.6 read
    every body as JSON, so clients that send JSON as ``text/plain`` keep
    working). Other parameters (``charset``) are ignored.

    :raises UnsupportedMediaType: (415) for a CSV ``header`` parameter other
        than ``present`` and ``absent``.
    """
    kind = media_type(content_type)
    if kind == CSV:
        header = _csv_header_parameter(content_type)
        if header == "present":
            return CSV_WITH_HEADER
        if header in ("", "absent"):
            return CSV
        raise UnsupportedMediaType(
            f"unsupported Content-Type {content_type!r}: use header=present or header=absent"
        )
    if kind in JSONLINES_TYPES:
        return kind
    return JSON


def negotiate(accept: str) -> str:
    """Return the response media type for an ``Accept`` header value.

    The first acceptable type listed wins (quality values are not weighed);
    ``*/*``, ``application/*`` and a missing header mean JSON.

    :raises NotAcceptable: (406) if no listed type can be produced.
    """
    if accept in _JSON_ACCEPTS:
        return JSON
    for part in accept.split(","):
        kind = media_type(part)
        if kind in _JSON_ACCEPTS:
            return JSON
        if kind == CSV or kind in JSONLINES_TYPES:
            return kind
        if kind == "text/*":
            return CSV
    raise NotAcceptable(
        f"cannot answer in any type of Accept: {accept!r}; "
        f"supported: {', '.join([JSON, *JSONLINES_TYPES, CSV])}"
    )


@dataclass
class Request:
    """A decoded invocation: one datum, or a batch of instances."""

    batch: bool
    data: Any


def _loads(text: str, what: str) -> Any:
    try:
        if _maybe_huge(text):
            return _STRICT_DECODER.decode(text)
        return _DECODER.decode(text)
    except _NotFinite as exc:
        raise RequestError(f"{exc} (in {what})") from None
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"malformed JSON in {what}: {exc}") from None


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"request body is not UTF-8: {exc}") from None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _decode_json(body: bytes) -> Request:
    data = _loads(_text(body), "request body")
    if isinstance(data, dict) and "instances" in data:
        instances = data["instances"]
        if not isinstance(instances, list):
            raise RequestError(
                f"'instances' is a JSON {_json_type(instances)}, expected an array of instances"
            )
        return Request(batch=True, data=instances)
    # Any other JSON value (an array too) is one datum, as in ML2P 0.6: the
    # predictor decides what it accepts.
    return Request(batch=False, data=data)


def _decode_jsonlines(body: bytes) -> list[Any]:
    return [
        _loads(line, f"line {number}")
        for number, line in enumerate(_text(body).splitlines(), 1)
        if line.strip()
    ]


def _csv_value(cell: str) -> Any:
    """A cell as the model receives it: a JSON number as int or float, blank as None, else text."""
    text = cell.strip()
    if not text:
        return None
    if _INTEGER.match(text):
        try:
            return int(text)
        except ValueError:  # more digits than Python turns into an int: keep the text
            return cell
    if _NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
    return cell


def _csv_rows(body: bytes) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a CSV body, each with the line it ends on."""
    text = _text(body)
    if text.startswith("\ufeff"):
        text = text[1:]  # the byte order mark spreadsheets write
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [(reader.line_num, row) for row in reader if row]
    except csv.Error as exc:
        raise RequestError(f"malformed CSV: {exc}") from None


def _csv_columns(row: list[str]) -> list[str]:
    names = [cell.strip() for cell in row]
    for number, name in enumerate(names, 1):
        if not name:
            raise RequestError(f"CSV header: column {number} has no name")
        if names.count(name) > 1:
            raise RequestError(f"CSV header: column {name!r} appears more than once")
    return names


def _decode_csv(body: bytes, header: bool) -> list[Any]:
    rows = _csv_rows(body)
    if not header:
        return [[_csv_value(cell) for cell in row] for _, row in rows]
    if not rows:
        return []
    names = _csv_columns(rows[0][1])
    records = []
    for line, row in rows[1:]:
        if len(row) != len(names):
            cells = f"{len(row)} cell{'' if len(row) == 1 else 's'}"
            raise RequestError(
                f"CSV line {line} has {cells}; the header has {len(names)} columns "
                f"({', '.join(names)})"
            )
        records.append({name: _csv_value(cell) for name, cell in zip(names, row)})
    return records


def decode_request(body: bytes, kind: str, batch_strategy: str = "MULTI_RECORD") -> Request:
    """Decode a request body of media type ``kind`` (see :func:`request_media_type`).

    JSON: ``{"instances": [...]}`` is a batch of its instances; any other
    JSON value (an object, an array, a string, ...) is one datum, as in ML2P
    0.6. JSON Lines and CSV: with ``MULTI_RECORD`` every line or row is an
    instance of a batch; with ``SINGLE_RECORD`` the body must hold exactly
    one record, invoked alone. Instances and JSON Lines records may be any
    JSON value.
    CSV rows become lists, or with :data:`CSV_WITH_HEADER` objects keyed by
    the first row's column names (stripped of spaces; a row must have as
    many cells as the header). A cell that is a JSON number (spaces around
    it ignored, so ``007`` and ``NaN`` are not) becomes an int or a float, a
    blank cell ``None``, and any other cell stays the string written. Blank
    lines and a leading byte order mark are skipped.

    :raises RequestError: (400) for an empty, malformed or wrongly shaped
        body (a :class:`~ml2p.errors.ClientError`).
    """
    if not body.strip():
        raise RequestError("empty request body")
    if kind == JSON:
        return _decode_json(body)
    if kind == CSV or kind == CSV_WITH_HEADER:
        records: list[Any] = _decode_csv(body, header=kind == CSV_WITH_HEADER)
    else:
        records = _decode_jsonlines(body)
    if not records:
        raise RequestError("request body holds no records")
    if batch_strategy == "SINGLE_RECORD":
        if len(records) != 1:
            raise RequestError(
                f"request body holds {len(records)} records; SINGLE_RECORD allows one"
            )
        return Request(batch=False, data=records[0])
    return Request(batch=True, data=records)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return value
    return encode_json(value)


def _csv_row(result: Any) -> list[Any]:
    if isinstance(result, dict):
        values: Any = result.values()
    elif isinstance(result, (list, tuple)):
        values = result
    else:
        values = [result]
    return [_csv_cell(v) for v in values]


def encode_response(request: Request, answer: Any, kind: str) -> bytes:
    """Encode the predictor's answer as media type ``kind`` (the response's Content-Type).

    ``answer`` is what ``invoke`` (one dict) or ``batch_invoke`` (a list of
    dicts) returned. JSON: the dict, or ``{"predictions": [...]}``. JSON
    Lines: one prediction per line. CSV: one row per prediction, made of the
    values of its ``result`` (a dict's values in order, a list's items, or
    the scalar); nested values are written as JSON text.

    A ``batch_invoke`` written for ML2P 0.6 returns ``{"predictions": [...]}``
    itself: that dict is answered as it is (not wrapped again), and its list
    is the predictions of the other types.

    :returns: The body.
    """
    if request.batch and isinstance(answer, dict) and "predictions" in answer:
        if kind == JSON:
            return json_body(answer)
        answer = answer["predictions"]
    predictions: list[dict[str, Any]] = answer if request.batch else [answer]
    if kind == JSON:
        return json_body({"predictions": answer} if request.batch else answer)
    if kind == CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for prediction in predictions:
            result = prediction.get("result") if isinstance(prediction, dict) else prediction
            writer.writerow(_csv_row(result))
        return out.getvalue().encode("utf-8")
    lines = [encode_json(p) for p in predictions]
    return ("\n".join(lines) + "\n").encode("utf-8")


def error_body(message: str, **details: Any | None) -> bytes:
    """Return the JSON error body ``{"message": ..., **details}`` (``None`` details left out)."""
    body: dict[str, Any] = {"message": message}
    body.update({k: v for k, v in details.items() if v is not None})
    return json_body(body)
