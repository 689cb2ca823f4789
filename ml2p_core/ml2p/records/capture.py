"""Pairing a capture line's data with their predictions, its bodies decoded as the server does.

The capture layout's format (keys, lines, record ids) is defined in
:mod:`ml2p.record_format`; its names (:func:`~ml2p.record_format.build_line`,
:func:`~ml2p.record_format.read_line`, :func:`~ml2p.record_format.capture_key`,
...) are importable from here too. A line stores the request and response
bodies as they were received and sent; reading a line back
(:func:`parse_line`) decodes them as the server does
(:mod:`ml2p.serving.bodies`), so that a record holds the data the predictor
was given, and pairs each datum with its prediction: a JSON object request
with the JSON response; ``{"instances": [...]}`` with ``{"predictions":
[...]}``; JSON Lines and CSV requests record by record with the response's
predictions (``{"predictions": [...]}``, JSON Lines, or CSV rows, whose cells
are the values of each prediction's ``result``).
"""

from __future__ import annotations

from typing import Any

from ml2p.errors import ClientError
from ml2p.media_types import CSV, JSON, JSONLINES_TYPES, media_type
from ml2p.record_format import (
    CAPTURE_FOLDER,
    EVENT_VERSION,
    CaptureEvent,
    CaptureFormatError,
    build_line,
    capture_encoding,
    capture_key,
    capture_prefix,
    default_variant,
    derived_ids,
    hour_folder,
    json_value,
    read_line,
)
from ml2p.serving.bodies import UnsupportedMediaType, decode_request, request_media_type

__all__ = [
    "CAPTURE_FOLDER",
    "EVENT_VERSION",
    "CaptureEvent",
    "CaptureFormatError",
    "build_line",
    "capture_encoding",
    "capture_key",
    "capture_prefix",
    "decode_inputs",
    "decode_predictions",
    "default_variant",
    "derived_ids",
    "event_records",
    "hour_folder",
    "parse_line",
    "read_line",
]

# content type -> its media type (lower case, no parameters; JSON if empty)
_KINDS: dict[str, str] = {}
# request content type -> what the server reads it as (request_media_type); "" if it cannot
_REQUEST_KINDS: dict[str, str] = {}


def _kind(content_type: str) -> str:
    kind = _KINDS.get(content_type)
    if kind is None:
        kind = media_type(content_type) or JSON
        if len(_KINDS) < 256:
            _KINDS[content_type] = kind
    return kind


def _request_kind(content_type: str) -> str:
    kind = _REQUEST_KINDS.get(content_type)
    if kind is None:
        try:
            kind = request_media_type(content_type)
        except UnsupportedMediaType:
            kind = ""
        if len(_REQUEST_KINDS) < 256:
            _REQUEST_KINDS[content_type] = kind
    if not kind:
        raise CaptureFormatError(f"cannot decode a request of type {content_type!r}")
    return kind


def decode_inputs(content_type: str, body: bytes) -> tuple[bool, list[Any]]:
    """Decode a request body as the server does: ``(whether it is a batch, its data)``.

    JSON: ``{"instances": [...]}`` is a batch of its instances and any other
    JSON value (an array too) one datum, as the server reads it; JSON Lines
    and CSV are batches (as ``SAGEMAKER_BATCH_STRATEGY=MULTI_RECORD`` reads
    them; CSV with ``header=present`` gives objects keyed by the first row).

    :raises CaptureFormatError: if the type is not one the server reads, or
        the body does not decode.
    """
    try:
        request = decode_request(body, _request_kind(content_type))
    except ClientError as exc:
        raise CaptureFormatError(f"the request body does not decode: {exc}") from None
    if request.batch:
        return True, request.data
    return False, [request.data]


def decode_predictions(content_type: str, body: bytes, batch: bool) -> list[Any]:
    """Return the predictions a response body holds, one per datum of the request.

    JSON: ``{"predictions": [...]}`` answers a batch (``batch`` true), any
    other document one datum. JSON Lines: one prediction per line. CSV: one
    row per prediction (the values of its ``result``; number cells become
    numbers, as in requests).

    :raises CaptureFormatError: if the body does not decode as its type.
    """
    kind = _kind(content_type)
    if kind == JSON:
        answer = json_value(body, "the response body")
        if batch and isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
            return answer["predictions"]
        return [answer]
    if kind in JSONLINES_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaptureFormatError(f"the response body is not UTF-8: {exc}") from None
        return [
            json_value(line, f"response line {n}")
            for n, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
    if kind == CSV:
        if not body.strip():
            return []
        try:
            return decode_request(body, CSV).data
        except ClientError as exc:
            raise CaptureFormatError(f"the response body does not decode: {exc}") from None
    raise CaptureFormatError(f"cannot decode a response of type {content_type!r}")


def event_records(event: CaptureEvent) -> list[tuple[str, Any, Any]]:
    """Return the ``(record_id, input, prediction)`` of every datum of a line's request.

    A line that captured only the input has ``None`` predictions; one that
    captured only the output, ``None`` inputs.

    :raises CaptureFormatError: if a body does not decode, or the request's
        data, the response's predictions and the stored ids do not pair up.
    """
    inputs: list[Any] | None = None
    batch = True
    if event.request_body is not None:
        batch, inputs = decode_inputs(event.request_type or JSON, event.request_body)
    predictions: list[Any] | None = None
    if event.response_body is not None:
        predictions = decode_predictions(event.response_type or JSON, event.response_body, batch)
    if inputs is None:
        inputs = [None] * len(predictions or ())
    if predictions is None:
        predictions = [None] * len(inputs)
    elif len(predictions) != len(inputs):
        raise CaptureFormatError(
            f"the request holds {len(inputs)} data but the response {len(predictions)} predictions"
        )
    ids = event.record_ids
    if ids is None:
        ids = derived_ids(event.event_id, event.inference_time, len(inputs), batch)
    elif len(ids) != len(inputs):
        raise CaptureFormatError(
            f"ml2p.recordIds holds {len(ids)} ids for {len(inputs)} data of the request"
        )
    return list(zip(ids, inputs, predictions))


def parse_line(line: str | bytes) -> list[tuple[str, Any, Any]]:
    """Return the ``(record_id, input, prediction)`` of every datum of a capture line.

    :raises CaptureFormatError: naming what is wrong with the line.
    """
    return event_records(read_line(line))
