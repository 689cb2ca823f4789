"""Decoding request bodies and encoding responses.

Requests may be JSON (a datum, or ``{"instances": [...]}`` for a batch),
JSON Lines or CSV (batch transform). Responses are JSON, JSON Lines or CSV,
as the ``Accept`` header asks. Everything here is plain, synchronous code:
the server runs it on a prediction thread, off the event loop.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from ml2p.errors import ClientError

JSON = "application/json"
CSV = "text/csv"
JSONLINES_TYPES = ("application/jsonlines", "application/x-jsonlines", "application/json-lines")

#: Accept values that mean JSON (a missing header, too).
_JSON_ACCEPTS = frozenset({"", "*/*", "application/*", JSON})
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")
_INTEGER = re.compile(r"-?(?:0|[1-9]\d*)\Z")


class UnsupportedMediaType(ClientError):
    """The request's Content-Type is not one the server reads (415)."""

    code = 415


class NotAcceptable(ClientError):
    """No media type the Accept header allows can be produced (406)."""

    code = 406


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Strict JSON: NaN and Infinity are not JSON, and a prediction made from them
# could not be answered in JSON either.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

encode_json = _ENCODER.encode


def json_body(obj: Any) -> bytes:
    """Return ``obj`` as compact, strict JSON bytes."""
    return _ENCODER.encode(obj).encode("utf-8")


def media_type(header: str) -> str:
    """Return the lower-case media type of a Content-Type value, without parameters."""
    return header.split(";", 1)[0].strip().lower()


def request_media_type(content_type: str) -> str:
    """Return the media type the body will be read as.

    :raises UnsupportedMediaType: (415) for anything but JSON, JSON Lines
        and CSV; a missing Content-Type means JSON.
    """
    kind = media_type(content_type)
    if kind in ("", JSON, CSV) or kind in JSONLINES_TYPES:
        return kind or JSON
    raise UnsupportedMediaType(
        f"unsupported Content-Type {content_type!r}",
        details={"supported": [JSON, *JSONLINES_TYPES, CSV]},
    )


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
        f"cannot answer in any type of Accept: {accept!r}",
        details={"supported": [JSON, *JSONLINES_TYPES, CSV]},
    )


@dataclass
class Request:
    """A decoded invocation: one datum, or a batch of instances."""

    batch: bool
    data: Any


def _loads(text: str, what: str) -> Any:
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise ClientError(f"malformed JSON in {what}: {exc}") from None


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(f"request body is not UTF-8: {exc}") from None


def _check_instance(instance: Any, index: int) -> None:
    if not isinstance(instance, (dict, list)):
        raise ClientError(
            f"instance {index} is a JSON {_json_type(instance)}, expected an object or an array"
        )


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
    if not isinstance(data, dict):
        raise ClientError(f"request body is a JSON {_json_type(data)}, expected an object")
    if "instances" in data:
        instances = data["instances"]
        if not isinstance(instances, list):
            raise ClientError(
                f"'instances' is a JSON {_json_type(instances)}, expected an array of instances"
            )
        for i, instance in enumerate(instances):
            _check_instance(instance, i)
        return Request(batch=True, data=instances)
    return Request(batch=False, data=data)


def _decode_jsonlines(body: bytes) -> List[Any]:
    records = []
    for number, line in enumerate(_text(body).splitlines(), 1):
        if line.strip():
            record = _loads(line, f"line {number}")
            _check_instance(record, number - 1)
            records.append(record)
    return records


def _csv_value(cell: str) -> Any:
    text = cell.strip()
    if _INTEGER.match(text):
        return int(text)
    if _NUMBER.match(text):
        value = float(text)
        if math.isfinite(value):
            return value
    return cell


def _decode_csv(body: bytes) -> List[List[Any]]:
    try:
        rows = list(csv.reader(io.StringIO(_text(body), newline="")))
    except csv.Error as exc:
        raise ClientError(f"malformed CSV: {exc}") from None
    return [[_csv_value(cell) for cell in row] for row in rows if row]


def decode_request(body: bytes, kind: str, batch_strategy: str = "MULTI_RECORD") -> Request:
    """Decode a request body of media type ``kind`` (see :func:`request_media_type`).

    JSON: an object is one datum; ``{"instances": [...]}`` is a batch whose
    instances are objects or arrays. JSON Lines and CSV: with
    ``MULTI_RECORD`` every line or row is an instance of a batch; with
    ``SINGLE_RECORD`` the body must hold exactly one record, invoked alone.
    CSV rows become lists; cells that are numbers become ints or floats.

    :raises ml2p.errors.ClientError: (400) for an empty, malformed or
        wrongly shaped body.
    """
    if not body.strip():
        raise ClientError("empty request body")
    if kind == JSON:
        return _decode_json(body)
    records: List[Any] = _decode_csv(body) if kind == CSV else _decode_jsonlines(body)
    if not records:
        raise ClientError("request body holds no records")
    if batch_strategy == "SINGLE_RECORD":
        if len(records) != 1:
            raise ClientError(
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


def _csv_row(result: Any) -> List[Any]:
    if isinstance(result, dict):
        values: Any = result.values()
    elif isinstance(result, (list, tuple)):
        values = result
    else:
        values = [result]
    return [_csv_cell(v) for v in values]


def encode_response(request: Request, answer: Any, kind: str) -> Tuple[str, bytes]:
    """Encode the predictor's answer as media type ``kind``.

    ``answer`` is what ``invoke`` (one dict) or ``batch_invoke`` (a list of
    dicts) returned. JSON: the dict, or ``{"predictions": [...]}``. JSON
    Lines: one prediction per line. CSV: one row per prediction, made of the
    values of its ``result`` (a dict's values in order, a list's items, or
    the scalar); nested values are written as JSON text.

    A ``batch_invoke`` written for ML2P 0.6 returns ``{"predictions": [...]}``
    itself: that dict is answered as it is (not wrapped again), and its list
    is the predictions of the other types.

    :returns: The Content-Type and the body.
    """
    if request.batch and isinstance(answer, dict) and "predictions" in answer:
        if kind == JSON:
            return JSON, json_body(answer)
        answer = answer["predictions"]
    predictions: List[Dict[str, Any]] = answer if request.batch else [answer]
    if kind == JSON:
        return JSON, json_body({"predictions": answer} if request.batch else answer)
    if kind == CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for prediction in predictions:
            result = prediction.get("result") if isinstance(prediction, dict) else prediction
            writer.writerow(_csv_row(result))
        return CSV, out.getvalue().encode("utf-8")
    lines = [encode_json(p) for p in predictions]
    return kind, ("\n".join(lines) + "\n").encode("utf-8")


def error_body(message: str, **details: Optional[Any]) -> bytes:
    """Return the JSON error body ``{"message": ..., **details}`` (``None`` details left out)."""
    body: Dict[str, Any] = {"message": message}
    body.update({k: v for k, v in details.items() if v is not None})
    return json_body(body)
