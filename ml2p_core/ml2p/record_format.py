"""The record format: how recorded predictions are laid out in S3, written and read back.

The one definition that the writers (the library's
:class:`ml2p.recording.S3Recorder` and the server's
:mod:`ml2p.serving.record_encoding`) and the readers (:mod:`ml2p.records`)
share. Pure code: no AWS, no server.

Two layouts (:data:`LAYOUTS`, chosen by ``ML2P_RECORD_LAYOUT``):

``object`` (:data:`OBJECT`, the default, ML2P 0.6's)
    one object per datum, ``<s3folder>/predictions/<model_version>/<record
    id>.json`` (:func:`object_prefix`, then
    :func:`ml2p.record_ids.record_key`), holding the JSON object ``{"input":
    datum, "result": prediction}``;
``capture`` (:data:`CAPTURE`)
    SageMaker's endpoint data capture, below. It follows SageMaker's
    published format, so SageMaker Model Monitor and any tool that reads
    data capture read ML2P's records as they are.

Key layout (``capture``)
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

Lines (``capture``)
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
    digits and ``Z`` (``2026-12-01T08:30:26.280685Z``, :func:`posix_time`;
    SageMaker writes whole seconds, which readers accept too), ``eventId``
    a UUID4.

Record ids (``capture``)
    Every datum's record id is recovered from its line. By default it is
    derived, with no per-datum work when the line is written: the id of a
    lone datum (a JSON object request) is ``ts-<inferenceTime without
    Z>--uuid-<eventId>``, the shape of ML2P's default id; the datum at
    position ``i`` of a batch (``{"instances": [...]}``, JSON Lines or CSV)
    gets ``ts-<...>--uuid-<eventId>--i-<i>`` (:func:`derived_ids`). When
    plugins add pairs to ids or a model overrides ``record_invoke_id``, an id
    may hold anything (a customer number, a region) that nothing in the line
    could give back, so the writer then stores the ids, in datum order, in
    the line's ``ml2p`` object (``recordIds``), which readers of SageMaker's
    format ignore. Stored ids are kept whole (the ``object`` layout shortens
    ids longer than an S3 key allows; a line has no such limit).

:func:`build_line` writes a line and :func:`read_line` reads it back, its
bodies decoded from their ``encoding`` but not parsed; pairing a line's data
with their predictions needs the bodies decoded as the server decodes them,
which :mod:`ml2p.records.capture` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from ml2p.errors import ConfigError, ML2PError
from ml2p.media_types import CSV, JSON, JSONLINES_TYPES, media_type
from ml2p.record_ids import utc_parts, uuid4_text
from ml2p.variables import ML2P_RECORD_LAYOUT

__all__ = [
    "CAPTURE",
    "CAPTURE_FOLDER",
    "EVENT_VERSION",
    "LAYOUTS",
    "OBJECT",
    "CaptureEvent",
    "CaptureFormatError",
    "build_line",
    "capture_encoding",
    "capture_key",
    "capture_prefix",
    "check_layout",
    "default_variant",
    "derived_ids",
    "hour_folder",
    "layout_from_environ",
    "object_prefix",
    "posix_time",
    "read_line",
]

# -- layouts ----------------------------------------------------------------------

#: ML2P 0.6's layout, the default: one object per datum.
OBJECT = "object"
#: SageMaker's endpoint data capture: JSON Lines files, one line per request.
CAPTURE = "capture"
#: The record layouts, the default first.
LAYOUTS = (OBJECT, CAPTURE)


def check_layout(layout: str, name: str = "record layout") -> str:
    """Return ``layout`` if it is one of :data:`LAYOUTS`.

    :raises ml2p.errors.ConfigError: naming ``name``; for ``batched`` (the
        layout this one replaced) saying to use ``capture``.
    """
    if layout in LAYOUTS:
        return layout
    if layout == "batched":
        raise ConfigError(
            f"{name} 'batched' is no longer supported: use 'capture' (SageMaker's data capture "
            "format: JSON Lines files holding many records, each request stored as received)"
        )
    raise ConfigError(f"{name} {layout!r} is not one of {', '.join(LAYOUTS)}")


def layout_from_environ(environ: Mapping[str, str]) -> str:
    """Return the layout ``ML2P_RECORD_LAYOUT`` chooses in ``environ`` (default :data:`OBJECT`).

    Case and surrounding blanks are ignored.

    :raises ml2p.errors.ConfigError: naming the variable, if it is not a layout.
    """
    layout = (environ.get(ML2P_RECORD_LAYOUT) or OBJECT).strip().lower()
    return check_layout(layout, ML2P_RECORD_LAYOUT)


# -- keys -------------------------------------------------------------------------

#: Where capture files live, under the project's ``s3folder``.
CAPTURE_FOLDER = "predictions/capture/"


def object_prefix(model_version: str) -> str:
    """Return ``predictions/<model_version>/``, the ``object`` layout's folder (in ``s3folder``)."""
    return f"predictions/{model_version}/"


def default_variant(model_version: str) -> str:
    """Return the variant ML2P gives a model version's endpoint: ``<model_version>-variant-1``."""
    return f"{model_version}-variant-1"


def capture_prefix(model_version: str, variant: str | None = None) -> str:
    """Return ``predictions/capture/<model_version>/<variant>/`` (relative to ``s3folder``).

    ``variant`` defaults to :func:`default_variant`.
    """
    return f"{CAPTURE_FOLDER}{model_version}/{variant or default_variant(model_version)}/"


def hour_folder(when: float) -> str:
    """Return the ``yyyy/mm/dd/hh/`` folder of the UTC hour of POSIX time ``when``."""
    return time.strftime("%Y/%m/%d/%H/", time.gmtime(when))


def capture_key(folder: str, when: float, name: str | None = None) -> str:
    """Return the key of a capture file whose first request came at POSIX time ``when``.

    ``<folder>yyyy/mm/dd/hh/MM-SS-mmm-<name>.jsonl``; ``folder`` is a full
    :func:`capture_prefix` key (ending with ``/``) and ``name`` defaults to
    a new UUID4.
    """
    whole = int(when)
    millis = int((when - whole) * 1000)
    stamp = time.strftime("%Y/%m/%d/%H/%M-%S", time.gmtime(whole))
    return f"{folder}{stamp}-{millis:03d}-{name or uuid4_text()}.jsonl"


# -- times ------------------------------------------------------------------------

_FRACTION_PAD = "000000"


def padded_time(text: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS[.f{1,6}]`` (not checked) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if len(text) == 26:
        return text + "Z"
    if len(text) == 19:
        return text + ".000000Z"
    return text + _FRACTION_PAD[: 26 - len(text)] + "Z"


def posix_time(seconds: float) -> str:
    """Return POSIX ``seconds`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: always 27 characters, UTC.

    The UTC time :func:`ml2p.record_ids.utc_timestamp` writes, padded as
    ``padded_time`` pads it.
    """
    second, micros = utc_parts(seconds)
    return f"{second}.{micros:06d}Z"


# -- writing a line ---------------------------------------------------------------

#: The ``eventVersion`` SageMaker writes.
EVENT_VERSION = "0"

JSON_ENCODING = "JSON"
CSV_ENCODING = "CSV"
BASE64_ENCODING = "BASE64"

_JSON_KINDS = frozenset({JSON, *JSONLINES_TYPES})

# content type -> (its JSON string, the encoding SageMaker would use for it)
_TYPES: dict[str, tuple[str, str]] = {}
# (request type, its encoding, response type, its encoding) -> the line's constant texts
_LINE_PARTS: dict[tuple[str | bytes, str, str | bytes, str], tuple[str, str, str, str, str]] = {}
#: Most content types (and pairs of them) whose texts are kept (a handful in practice;
#: never grow without bound).
_MOST_TYPES = 256


def capture_encoding(content_type: str) -> str:
    """Return the ``encoding`` a body of ``content_type`` is captured with.

    ``JSON`` for JSON and JSON Lines, ``CSV`` for ``text/csv``, ``BASE64``
    for everything else (a body of the first two kinds that is not UTF-8 is
    stored in base64 as well).
    """
    return _type(content_type)[1]


def _type(content_type: str | bytes) -> tuple[str, str]:
    """A content type's JSON string and encoding; header bytes are read as Latin-1, as HTTP's."""
    known = _TYPES.get(content_type)  # type: ignore[arg-type]
    if known is None:
        text = content_type if isinstance(content_type, str) else content_type.decode("latin-1")
        kind = media_type(text)
        if kind in _JSON_KINDS:
            encoding = JSON_ENCODING
        elif kind == CSV:
            encoding = CSV_ENCODING
        else:
            encoding = BASE64_ENCODING
        known = (encode_basestring(text), encoding)
        if len(_TYPES) < _MOST_TYPES:
            _TYPES[content_type] = known  # type: ignore[index]
    return known


def _line_parts(
    request_type: str | bytes,
    request_encoding: str,
    response_type: str | bytes,
    response_encoding: str,
) -> tuple[str, str, str, str, str]:
    """The constant texts of a line, around what varies per line.

    A line is ``parts[0]``, the input's ``data`` (a JSON string),
    ``parts[1]``, the output's ``data``, ``parts[2]``, the ``eventId``
    member's value (a JSON string, followed by ``inferenceId`` if any),
    ``parts[3]``, the ``inferenceTime``, ``parts[4]``, then the members
    ending the line (:func:`ids_text`) and its closing brace. The one place
    a line is laid out.
    """
    key = (request_type, request_encoding, response_type, response_encoding)
    known = _LINE_PARTS.get(key)
    if known is None:
        known = (
            f'{{"captureData":{{"endpointInput":{{"observedContentType":{_type(request_type)[0]},'
            '"mode":"INPUT","data":',
            f',"encoding":"{request_encoding}"}},"endpointOutput":{{"observedContentType":'
            f'{_type(response_type)[0]},"mode":"OUTPUT","data":',
            f',"encoding":"{response_encoding}"}}}},"eventMetadata":{{"eventId":',
            ',"inferenceTime":"',
            f'"}},"eventVersion":"{EVENT_VERSION}"',
        )
        if len(_LINE_PARTS) < _MOST_TYPES:
            _LINE_PARTS[key] = known
    return known


def _body_data(body: bytes, content_type: str | bytes) -> tuple[str, str]:
    """A body's ``data`` (a JSON string) and its encoding."""
    encoding = _type(content_type)[1]
    if encoding != BASE64_ENCODING:
        try:
            return encode_basestring(body.decode("utf-8")), encoding
        except UnicodeDecodeError:
            pass
    return f'"{base64.b64encode(body).decode("ascii")}"', BASE64_ENCODING


def ids_text(record_ids: Sequence[str] | None) -> str:
    """The ``,"ml2p":{"recordIds":[...]}`` member of a line storing ``record_ids``.

    ``""`` when there are none (the default ids).
    """
    if record_ids is None:
        return ""
    return f',"ml2p":{{"recordIds":[{",".join(map(encode_basestring, record_ids))}]}}'


def line_text(
    request_body: bytes,
    request_type: str | bytes,
    response_body: bytes,
    response_type: str | bytes,
    event_id: str,
    inference_time: str,
    extra: str = "",
    end: str = "",
) -> str:
    """A capture line from parts :func:`build_line` has checked and formatted.

    ``event_id`` as a JSON string, ``inference_time`` as :func:`posix_time`
    writes it, ``extra`` the members ending the line (:func:`ids_text`);
    ``end`` follows the line (a newline). Content types are text or header
    bytes. :func:`build_line` and the server
    (:func:`ml2p.serving.record_encoding.capture_item`) use it.
    """
    in_data, in_encoding = _body_data(request_body, request_type)
    out_data, out_encoding = _body_data(response_body, response_type)
    p0, p1, p2, p3, p4 = _line_parts(request_type, in_encoding, response_type, out_encoding)
    # One f-string: the line, bodies included, is copied once (a %-format copies it more).
    return f"{p0}{in_data}{p1}{out_data}{p2}{event_id}{p3}{inference_time}{p4}{extra}}}{end}"


def build_line(
    request_body: bytes,
    request_type: str,
    response_body: bytes,
    response_type: str,
    *,
    event_id: str,
    inference_time: float | str,
    record_ids: Sequence[str] | None = None,
    inference_id: str | None = None,
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
    event = encode_basestring(event_id)
    if inference_id is not None:
        event = f'{event},"inferenceId":{encode_basestring(inference_id)}'
    return line_text(
        request_body,
        request_type,
        response_body,
        response_type,
        event,
        when,
        ids_text(record_ids),
    )


# -- reading a line ---------------------------------------------------------------


class CaptureFormatError(ML2PError, ValueError):
    """A capture line that does not follow the format, or whose bodies do not decode."""


class CaptureEvent(NamedTuple):
    """One capture line, its bodies decoded from their ``encoding`` (not parsed)."""

    #: ``eventMetadata.eventId``.
    event_id: str
    #: ``eventMetadata.inferenceTime`` as written.
    inference_time: str
    #: The request's content type and body (``None`` if only the output was captured).
    request_type: str | None
    request_body: bytes | None
    #: The response's content type and body (``None`` if only the input was captured).
    response_type: str | None
    response_body: bytes | None
    #: The stored record ids (``ml2p.recordIds``), or ``None`` when they are derived.
    record_ids: list[str] | None
    #: ``eventMetadata.inferenceId``, if the line has one.
    inference_id: str | None


def _data(part: Any, name: str) -> tuple[str | None, bytes | None]:
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


def json_value(text: str | bytes, what: str) -> Any:
    """Parse the JSON document ``text``; the C scanner without ``json.loads``'s layers.

    The readers' hot path (every line, every response body).

    :raises CaptureFormatError: naming ``what``, if it is not UTF-8 or not JSON.
    """
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


def read_line(line: str | bytes) -> CaptureEvent:
    """Read one capture line into a :class:`CaptureEvent`.

    :raises CaptureFormatError: naming the field that is missing or wrong.
    """
    event = json_value(line, "the line")
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


def derived_ids(event_id: str, inference_time: str, count: int, batch: bool) -> list[str]:
    """Return the ids of a line's data when none are stored (see the module documentation)."""
    base = f"ts-{_strip_zone(inference_time)}--uuid-{event_id}"
    if not batch:
        return [base]
    return [f"{base}--i-{i}" for i in range(count)]
