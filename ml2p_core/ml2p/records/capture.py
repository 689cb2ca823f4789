"""SageMaker endpoint data capture: the line format and key layout of ML2P's ``capture`` layout.

Pure code (no AWS), shared by the writer (the server, on the request path)
and the reader (:mod:`ml2p.records`). It follows SageMaker's published
format for endpoint data capture, so SageMaker Model Monitor and any tool
that reads data capture read ML2P's records as they are.

Key layout
    ``<s3folder>/predictions/capture/<model_version>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``,
    SageMaker's ``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/`` with
    ``<s3folder>/predictions/capture`` as the destination. That prefix keeps
    capture files out of ``predictions/<model_version>/`` (the ``object``
    layout's folder, which a reader lists whole), cannot be mistaken for a
    model version (those end in ``-X-Y-Z``), and is a valid
    ``DestinationS3Uri`` should SageMaker's own data capture be turned on
    for an endpoint as well. The first folder is the model version, the
    name the container knows (``ML2P_MODEL_VERSION``); the variant defaults
    to the one ML2P creates (``<model_version>-variant-1``). The hour
    folders are the UTC hour of the file's first request; the file name is
    ``MM-SS-mmm-<uuid4>.jsonl`` (its minute, second and millisecond, then a
    random UUID), so names sort by time within the hour.

Lines
    One line per request (not per datum), a JSON object::

        {"captureData": {
            "endpointInput": {"observedContentType": <Content-Type>, "mode": "INPUT",
                              "data": <request body>, "encoding": "JSON" | "CSV" | "BASE64"},
            "endpointOutput": {"observedContentType": <Content-Type>, "mode": "OUTPUT",
                               "data": <response body>, "encoding": ...}},
         "eventMetadata": {"eventId": <uuid4>, ["inferenceId": <id>,] "inferenceTime": <UTC>},
         "eventVersion": "0"
         [, "ml2p": {"recordIds": [<record id>, ...]}]}

    Bodies are stored as received and as sent, never decoded and encoded
    again. As SageMaker does, ``data`` holds the body's text for JSON
    (``encoding: JSON``; ``application/json`` and JSON Lines) and CSV
    (``encoding: CSV``; ``text/csv``) content types, and the body in base64
    (``encoding: BASE64``) for any other type or a body that is not UTF-8.
    ``inferenceTime`` is the request's UTC time, always with six fraction
    digits and ``Z`` (``2026-12-01T08:30:26.280685Z``; SageMaker writes
    whole seconds, which readers accept too), ``eventId`` a UUID4.

Record ids
    Every datum's record id is recovered from its line. By default it is
    derived, with no per-datum work when the line is written: the id of a
    lone datum (a JSON object request) is ``ts-<inferenceTime without
    Z>--uuid-<eventId>``, the shape of ML2P's default id; the datum at
    position ``i`` of a batch (``{"instances": [...]}``, JSON Lines or CSV)
    gets ``ts-<...>--uuid-<eventId>--i-<i>``. When plugins add pairs to ids
    or a model overrides ``record_invoke_id``, an id may hold anything (a
    customer number, a region) that nothing in the line could give back, so
    the writer then stores the ids, in datum order, in the line's ``ml2p``
    object (``recordIds``), which readers of SageMaker's format ignore.
    Stored ids are kept whole (the ``object`` layout shortens ids longer
    than an S3 key allows; a line has no such limit).

Reading a line back (:func:`parse_line`) decodes the bodies as the server
does (:mod:`ml2p.serving.bodies`) and pairs each datum with its prediction:
a JSON object request with the JSON response; ``{"instances": [...]}`` with
``{"predictions": [...]}``; JSON Lines and CSV requests record by record
with the response's predictions (``{"predictions": [...]}``, JSON Lines, or
CSV rows, whose cells are the values of each prediction's ``result``).
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from json.encoder import encode_basestring
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from ml2p.errors import ClientError, ML2PError
from ml2p.record_ids import uuid4_text
from ml2p.records.times import posix_time
from ml2p.serving.bodies import (
    CSV,
    JSON,
    JSONLINES_TYPES,
    UnsupportedMediaType,
    decode_request,
    media_type,
    request_media_type,
)

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

#: Where capture files live, under the project's ``s3folder``.
CAPTURE_FOLDER = "predictions/capture/"
#: The ``eventVersion`` SageMaker writes.
EVENT_VERSION = "0"

JSON_ENCODING = "JSON"
CSV_ENCODING = "CSV"
BASE64_ENCODING = "BASE64"

_JSON_KINDS = frozenset({JSON, *JSONLINES_TYPES})


class CaptureFormatError(ML2PError, ValueError):
    """A capture line that does not follow the format, or whose bodies do not decode."""


def default_variant(model_version: str) -> str:
    """Return the variant ML2P gives a model version's endpoint: ``<model_version>-variant-1``."""
    return f"{model_version}-variant-1"


def capture_prefix(model_version: str, variant: Optional[str] = None) -> str:
    """Return ``predictions/capture/<model_version>/<variant>/`` (relative to ``s3folder``).

    ``variant`` defaults to :func:`default_variant`.
    """
    return f"{CAPTURE_FOLDER}{model_version}/{variant or default_variant(model_version)}/"


def hour_folder(when: float) -> str:
    """Return the ``yyyy/mm/dd/hh/`` folder of the UTC hour of POSIX time ``when``."""
    return time.strftime("%Y/%m/%d/%H/", time.gmtime(when))


def capture_key(folder: str, when: float, name: Optional[str] = None) -> str:
    """Return the key of a capture file whose first request came at POSIX time ``when``.

    ``<folder>yyyy/mm/dd/hh/MM-SS-mmm-<name>.jsonl``; ``folder`` is a full
    :func:`capture_prefix` key (ending with ``/``) and ``name`` defaults to
    a new UUID4.
    """
    whole = int(when)
    millis = int((when - whole) * 1000)
    stamp = time.strftime("%Y/%m/%d/%H/%M-%S", time.gmtime(whole))
    return f"{folder}{stamp}-{millis:03d}-{name or uuid4_text()}.jsonl"


# content type -> (its JSON string, the encoding SageMaker would use for it)
_TYPES: Dict[str, Tuple[str, str]] = {}
# content type -> its media type (lower case, no parameters; JSON if empty)
_KINDS: Dict[str, str] = {}
# request content type -> what the server reads it as (request_media_type); "" if it cannot
_REQUEST_KINDS: Dict[str, str] = {}


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


def capture_encoding(content_type: str) -> str:
    """Return the ``encoding`` a body of ``content_type`` is captured with.

    ``JSON`` for JSON and JSON Lines, ``CSV`` for ``text/csv``, ``BASE64``
    for everything else (a body of the first two kinds that is not UTF-8 is
    stored in base64 as well).
    """
    return _type(content_type)[1]


def _type(content_type: str) -> Tuple[str, str]:
    known = _TYPES.get(content_type)
    if known is None:
        kind = media_type(content_type)
        if kind in _JSON_KINDS:
            encoding = JSON_ENCODING
        elif kind == CSV:
            encoding = CSV_ENCODING
        else:
            encoding = BASE64_ENCODING
        known = (encode_basestring(content_type), encoding)
        if len(_TYPES) < 256:  # a handful of types in practice; never grow without bound
            _TYPES[content_type] = known
    return known


def _part(body: bytes, content_type: str, mode: str) -> str:
    quoted_type, encoding = _type(content_type)
    if encoding != BASE64_ENCODING:
        try:
            data = encode_basestring(body.decode("utf-8"))
        except UnicodeDecodeError:
            encoding = BASE64_ENCODING
    if encoding == BASE64_ENCODING:
        data = '"' + base64.b64encode(body).decode("ascii") + '"'
    return (
        f'{{"observedContentType":{quoted_type},"mode":"{mode}",'
        f'"data":{data},"encoding":"{encoding}"}}'
    )


def build_line(
    request_body: bytes,
    request_type: str,
    response_body: bytes,
    response_type: str,
    *,
    event_id: str,
    inference_time: Union[float, str],
    record_ids: Optional[Sequence[str]] = None,
    inference_id: Optional[str] = None,
) -> str:
    """Return the capture line of one request (without a newline).

    :param request_body: The request body as received.
    :param request_type: Its ``Content-Type`` header, as received.
    :param response_body: The response body as sent.
    :param response_type: The response's ``Content-Type``.
    :param event_id: The request's ``eventId`` (a new UUID4 for each request).
    :param inference_time: When the request came: POSIX seconds, or a UTC
        ISO 8601 text (written as given, with ``Z`` added if it has none).
    :param record_ids: The record id of each datum, in order, to store in
        the line; ``None`` (the default id) to let readers derive them.
    :param inference_id: The caller's inference id, if one was given
        (SageMaker's ``InferenceId``).
    """
    if isinstance(inference_time, str):
        when = inference_time if inference_time.endswith("Z") else inference_time + "Z"
    else:
        when = posix_time(inference_time)
    given = "" if inference_id is None else f',"inferenceId":{encode_basestring(inference_id)}'
    ids = (
        ""
        if record_ids is None
        else f',"ml2p":{{"recordIds":[{",".join(map(encode_basestring, record_ids))}]}}'
    )
    # One f-string: the line is built in a single join, as the writer's hot path needs.
    return (
        f'{{"captureData":{{"endpointInput":{_part(request_body, request_type, "INPUT")},'
        f'"endpointOutput":{_part(response_body, response_type, "OUTPUT")}}},'
        f'"eventMetadata":{{"eventId":{encode_basestring(event_id)}{given},'
        f'"inferenceTime":"{when}"}},"eventVersion":"{EVENT_VERSION}"{ids}}}'
    )


class CaptureEvent(NamedTuple):
    """One capture line, its bodies decoded from their ``encoding`` (not parsed)."""

    #: ``eventMetadata.eventId``.
    event_id: str
    #: ``eventMetadata.inferenceTime`` as written.
    inference_time: str
    #: The request's content type and body (``None`` if only the output was captured).
    request_type: Optional[str]
    request_body: Optional[bytes]
    #: The response's content type and body (``None`` if only the input was captured).
    response_type: Optional[str]
    response_body: Optional[bytes]
    #: The stored record ids (``ml2p.recordIds``), or ``None`` when they are derived.
    record_ids: Optional[List[str]]
    #: ``eventMetadata.inferenceId``, if the line has one.
    inference_id: Optional[str]


def _data(part: Any, name: str) -> Tuple[Optional[str], Optional[bytes]]:
    if part is None:
        return None, None
    if not isinstance(part, dict):
        raise CaptureFormatError(f"captureData.{name} is not an object")
    data = part.get("data")
    encoding = part.get("encoding")
    if not isinstance(data, str):
        raise CaptureFormatError(f"captureData.{name}.data is missing or not a string")
    content_type = part.get("observedContentType")
    if not isinstance(content_type, str):
        raise CaptureFormatError(f"captureData.{name}.observedContentType is missing")
    if encoding == BASE64_ENCODING:
        try:
            return content_type, base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CaptureFormatError(f"captureData.{name}.data is not base64: {exc}") from None
    if encoding in (JSON_ENCODING, CSV_ENCODING):
        return content_type, data.encode("utf-8")
    raise CaptureFormatError(
        f"captureData.{name}.encoding is {encoding!r}; expected JSON, CSV or BASE64"
    )


_scan = json.JSONDecoder().scan_once


def _json(text: Union[str, bytes], what: str) -> Any:
    """Parse a JSON document; the C scanner without ``json.loads``'s layers, on the hot path."""
    if not isinstance(text, str):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaptureFormatError(f"{what} is not UTF-8: {exc}") from None
    try:
        value, end = _scan(text, 0)
        if end == len(text) or not text[end:].strip():
            return value
    except (StopIteration, ValueError, RecursionError):
        pass
    try:  # leading blanks, or not JSON: let json say what is wrong
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CaptureFormatError(f"{what} is not JSON: {exc}") from None


def read_line(line: Union[str, bytes]) -> CaptureEvent:
    """Read one capture line into a :class:`CaptureEvent`.

    :raises CaptureFormatError: naming the field that is missing or wrong.
    """
    event = _json(line, "the line")
    if not isinstance(event, dict):
        raise CaptureFormatError("the line is not a JSON object")
    capture = event.get("captureData")
    metadata = event.get("eventMetadata")
    if not isinstance(capture, dict):
        raise CaptureFormatError("captureData is missing")
    if not isinstance(metadata, dict):
        raise CaptureFormatError("eventMetadata is missing")
    event_id = metadata.get("eventId")
    inference_time = metadata.get("inferenceTime")
    if not isinstance(event_id, str) or not event_id:
        raise CaptureFormatError("eventMetadata.eventId is missing")
    if not isinstance(inference_time, str):
        raise CaptureFormatError("eventMetadata.inferenceTime is missing")
    request_type, request_body = _data(capture.get("endpointInput"), "endpointInput")
    response_type, response_body = _data(capture.get("endpointOutput"), "endpointOutput")
    if request_body is None and response_body is None:
        raise CaptureFormatError("captureData has neither endpointInput nor endpointOutput")
    record_ids = None
    extra = event.get("ml2p")
    if isinstance(extra, dict) and "recordIds" in extra:
        record_ids = extra["recordIds"]
        if not isinstance(record_ids, list) or not all(isinstance(i, str) for i in record_ids):
            raise CaptureFormatError("ml2p.recordIds is not a list of strings")
    inference_id = metadata.get("inferenceId")
    return CaptureEvent(
        event_id,
        inference_time,
        request_type,
        request_body,
        response_type,
        response_body,
        record_ids,
        inference_id if isinstance(inference_id, str) else None,
    )


def _strip_zone(inference_time: str) -> str:
    if inference_time.endswith("Z"):
        return inference_time[:-1]
    if inference_time.endswith("+00:00"):
        return inference_time[:-6]
    return inference_time


def derived_ids(event_id: str, inference_time: str, count: int, batch: bool) -> List[str]:
    """Return the ids of a line's data when none are stored (see the module documentation)."""
    base = f"ts-{_strip_zone(inference_time)}--uuid-{event_id}"
    if not batch:
        return [base]
    return [f"{base}--i-{i}" for i in range(count)]


def decode_inputs(content_type: str, body: bytes) -> Tuple[bool, List[Any]]:
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


def decode_predictions(content_type: str, body: bytes, batch: bool) -> List[Any]:
    """Return the predictions a response body holds, one per datum of the request.

    JSON: ``{"predictions": [...]}`` answers a batch (``batch`` true), any
    other document one datum. JSON Lines: one prediction per line. CSV: one
    row per prediction (the values of its ``result``; number cells become
    numbers, as in requests).

    :raises CaptureFormatError: if the body does not decode as its type.
    """
    kind = _kind(content_type)
    if kind == JSON:
        answer = _json(body, "the response body")
        if batch and isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
            return answer["predictions"]
        return [answer]
    if kind in JSONLINES_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CaptureFormatError(f"the response body is not UTF-8: {exc}") from None
        return [
            _json(line, f"response line {n}")
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


def event_records(event: CaptureEvent) -> List[Tuple[str, Any, Any]]:
    """Return the ``(record_id, input, prediction)`` of every datum of a line's request.

    A line that captured only the input has ``None`` predictions; one that
    captured only the output, ``None`` inputs.

    :raises CaptureFormatError: if a body does not decode, or the request's
        data, the response's predictions and the stored ids do not pair up.
    """
    inputs: Optional[List[Any]] = None
    batch = True
    if event.request_body is not None:
        batch, inputs = decode_inputs(event.request_type or JSON, event.request_body)
    predictions: Optional[List[Any]] = None
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


def parse_line(line: Union[str, bytes]) -> List[Tuple[str, Any, Any]]:
    """Return the ``(record_id, input, prediction)`` of every datum of a capture line.

    :raises CaptureFormatError: naming what is wrong with the line.
    """
    return event_records(read_line(line))
