"""The capture format: lines that SageMaker's data capture readers read, and read back by ML2P.

Every line built by ``ml2p.records.capture`` is checked by ``published_reader``
below, written from SageMaker's published description of endpoint data
capture (one JSON object per line: ``captureData.endpointInput`` and
``endpointOutput`` with ``observedContentType``, ``mode``, ``data`` and
``encoding``; ``eventMetadata`` with ``eventId`` and ``inferenceTime``;
``eventVersion``) with plain ``json`` and ``base64``, not with ML2P.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml2p.records import capture
from ml2p.records.capture import CaptureFormatError, build_line, parse_line

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
WHEN = 1796121909.25  # 2026-12-01T10:45:09.250000Z


def published_reader(line: str) -> dict:
    """Read one capture line as SageMaker documents it; return its parts, bodies as bytes."""
    assert "\n" not in line
    event = json.loads(line)
    assert set(event) >= {"captureData", "eventMetadata", "eventVersion"}
    assert event["eventVersion"] == "0"
    parts = {}
    for name, mode in (("endpointInput", "INPUT"), ("endpointOutput", "OUTPUT")):
        part = event["captureData"][name]
        assert set(part) == {"observedContentType", "mode", "data", "encoding"}
        assert part["mode"] == mode
        assert part["encoding"] in ("JSON", "CSV", "BASE64")
        if part["encoding"] == "BASE64":
            body = base64.b64decode(part["data"], validate=True)
        else:
            body = part["data"].encode("utf-8")
        parts[name] = (part["observedContentType"], part["encoding"], body)
    metadata = event["eventMetadata"]
    stamp = metadata["inferenceTime"]
    shape = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in stamp else "%Y-%m-%dT%H:%M:%SZ"
    moment = datetime.datetime.strptime(stamp, shape)
    return {
        "input": parts["endpointInput"],
        "output": parts["endpointOutput"],
        "event_id": metadata["eventId"],
        "time": calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6,
        "event": event,
    }


BODIES = {
    "json datum": (b'{"x": 1, "name": "a"}', "application/json", "JSON"),
    "instances": (b'{"instances": [{"x": 1}, {"x": 2}]}', "application/json", "JSON"),
    "json lines": (b'{"x": 1}\n{"x": 2}\n', "application/jsonlines", "JSON"),
    "csv": (b"1,2.5,a\n3,4,b\n", "text/csv", "CSV"),
    "non-ascii": ('{"text": "crème brûlée ☕ 東京"}'.encode(), "application/json", "JSON"),
    "binary": (bytes(range(256)), "application/x-image", "BASE64"),
}


@pytest.mark.parametrize("name", sorted(BODIES))
def test_published_reader_gets_the_bodies_back_as_received(name):
    body, content_type, encoding = BODIES[name]
    response = b'{"metadata": {"model_version": "m"}, "result": {"y": "\xc3\xa9"}}'
    line = build_line(
        body, content_type, response, "application/json", event_id="ev-1", inference_time=WHEN
    )
    read = published_reader(line)
    assert read["input"] == (content_type, encoding, body)
    assert read["output"] == ("application/json", "JSON", response)
    assert read["event_id"] == "ev-1"
    assert read["time"] == pytest.approx(WHEN, abs=1e-6)


def test_json_bodies_are_stored_as_their_text_not_reencoded():
    body = b'{ "b" : 1,\n  "a": [1.50, 2e3] }'  # spacing and number spellings kept
    line = build_line(
        body, "application/json", b"{}", "application/json", event_id="e", inference_time=0.0
    )
    assert json.loads(line)["captureData"]["endpointInput"]["data"] == body.decode()


def test_a_json_typed_body_that_is_not_utf8_is_stored_in_base64():
    body = b'{"x": "\xff"}'
    line = build_line(
        body, "application/json", b"{}", "application/json", event_id="e", inference_time=0.0
    )
    assert published_reader(line)["input"] == ("application/json", "BASE64", body)


def test_content_type_parameters_are_kept_as_observed():
    line = build_line(
        b"1,2\n", "text/csv; charset=utf-8", b"3\n", "text/csv", event_id="e", inference_time=0.0
    )
    assert published_reader(line)["input"][:2] == ("text/csv; charset=utf-8", "CSV")


def test_caller_inference_id_is_written_where_sagemaker_writes_it():
    line = build_line(
        b"{}", "application/json", b"{}", "application/json",
        event_id="e", inference_time=0.0, inference_id="order-17",
    )  # fmt: skip
    assert json.loads(line)["eventMetadata"]["inferenceId"] == "order-17"


@given(
    body=st.binary(max_size=300),
    response=st.binary(max_size=300),
    content_type=st.sampled_from(
        ["application/json", "text/csv", "application/jsonlines", "image/png", "text/plain", ""]
    ),
    event_id=st.text(max_size=40),
)
def test_any_body_and_event_id_survive_the_published_reader(body, response, content_type, event_id):
    line = build_line(
        body, content_type, response, "application/json", event_id=event_id, inference_time=WHEN
    )
    read = published_reader(line)
    assert read["input"][0] == content_type and read["input"][2] == body
    assert read["output"][2] == response
    assert read["event_id"] == event_id


@given(
    body=st.binary(max_size=300),
    response=st.binary(max_size=300),
    content_type=st.sampled_from(
        [b"application/json", b"text/csv; charset=utf-8", b"image/png", b"text/\xe9", b""]
    ),
    when=st.floats(min_value=0, max_value=4e9),
    ids=st.none() | st.lists(st.text(max_size=20), max_size=3),
)
def test_the_servers_writers_make_the_line_build_line_makes(
    body, response, content_type, when, ids
):
    # The server takes the header bytes and a POSIX time; build_line text and a float.
    from ml2p.serving.record_encoding import capture_item, capture_line

    ids = None if ids is None else tuple(ids)
    json_type = b"application/json"
    item = capture_item("f/", when, 1, body, content_type, response, json_type, ids, "e-1")
    text = content_type.decode("latin-1")
    expected = build_line(
        body, text, response, "application/json", event_id="e-1", inference_time=when,
        record_ids=ids,
    )  # fmt: skip
    assert capture_line(item) == expected.encode("utf-8") + b"\n"
    read = published_reader(expected)
    assert read["input"][0] == text and read["input"][2] == body and read["event_id"] == "e-1"


_BODIES = st.binary(max_size=300) | st.sampled_from([b'{"x": 1.5}', '{"é": "\\"\\n"}'.encode()])
_CAPTURED = st.tuples(
    _BODIES,
    st.sampled_from([b"application/json", b"text/csv", b"image/png"]),
    _BODIES,
    st.sampled_from([b"application/json", b"application/jsonlines"]),
    st.none() | st.lists(st.text(max_size=10), max_size=2).map(tuple),
    st.floats(min_value=WHEN, max_value=WHEN + 3000),
)


@given(parts=st.lists(_CAPTURED, min_size=1, max_size=30), folders=st.integers(1, 2))
def test_capture_files_hold_each_line_once_in_order_per_folder_and_hour(parts, folders):
    # Whatever the mix of content types, ids, folders and hours: a file per
    # folder and hour, named after its first line, holding its lines in order.
    from ml2p.serving import record_encoding

    items = [
        record_encoding.capture_item(f"f{n % folders}/", when, 1, *rest)
        for n, (*rest, when) in enumerate(parts)
    ]
    puts = record_encoding.capture_files(items)
    expected: dict = {}
    for item in items:
        expected.setdefault((item[0], int(item[1] // 3600)), []).append(item)
    assert len(puts) == len(expected)
    for put, group in zip(puts, expected.values()):
        named = record_encoding.capture_key(group[0][0], group[0][1], name="x")
        uuid_and_suffix = 36 + len(".jsonl")
        assert put.key[:-uuid_and_suffix] == named[: -len("x.jsonl")]
        assert put.body == b"".join(map(record_encoding.capture_line, group))
        assert put.records == len(group) and put.content_type == "application/jsonlines"
    event_ids = [json.loads(item[3])["eventMetadata"]["eventId"] for item in items]
    assert len(set(event_ids)) == len(items)


# -- keys ---------------------------------------------------------------------


def test_capture_key_follows_sagemakers_layout():
    folder = "proj/" + capture.capture_prefix("proj-churn-1-2-0")
    key = capture.capture_key(folder, WHEN)
    pattern = (
        r"proj/predictions/capture/proj-churn-1-2-0/proj-churn-1-2-0-variant-1/"
        rf"2026/12/01/10/45-09-250-{UUID}\.jsonl"
    )
    assert re.fullmatch(pattern, key), key
    assert capture.capture_key(folder, WHEN) != key  # a new name each time


def test_capture_key_names_sort_by_time_within_the_hour():
    folder = capture.capture_prefix("m-1-0-0", "v")
    times = [WHEN, WHEN + 0.001, WHEN + 0.5, WHEN + 59, WHEN + 600]
    keys = [capture.capture_key(folder, t, name="x") for t in times]
    assert keys == sorted(keys)
    assert capture.hour_folder(WHEN) == "2026/12/01/10/"


# -- reading lines back -------------------------------------------------------


def line(body, content_type, response, response_type="application/json", **kw):
    kw.setdefault("event_id", "ev")
    kw.setdefault("inference_time", WHEN)
    return build_line(body, content_type, response, response_type, **kw)


def prediction(y):
    return {"metadata": {"model_version": "m", "timestamp": 1.5}, "result": {"y": y}}


def test_a_json_datum_is_one_record_with_the_default_id_shape():
    text = line(b'{"x": 1}', "application/json", json.dumps(prediction(2)).encode())
    assert parse_line(text) == [("ts-2026-12-01T10:45:09.250000--uuid-ev", {"x": 1}, prediction(2))]


def test_instances_pair_with_predictions_and_get_their_position_in_the_id():
    response = json.dumps({"predictions": [prediction(2), prediction(4)]}).encode()
    text = line(b'{"instances": [{"x": 1}, {"x": 2}]}', "application/json", response)
    assert parse_line(text) == [
        ("ts-2026-12-01T10:45:09.250000--uuid-ev--i-0", {"x": 1}, prediction(2)),
        ("ts-2026-12-01T10:45:09.250000--uuid-ev--i-1", {"x": 2}, prediction(4)),
    ]


def test_json_lines_request_and_response():
    response = (json.dumps(prediction(2)) + "\n" + json.dumps(prediction(4)) + "\n").encode()
    text = line(b'{"x": 1}\n\n[2, 3]\n', "application/jsonlines", response, "application/jsonlines")
    records = parse_line(text)
    assert [(r[1], r[2]) for r in records] == [({"x": 1}, prediction(2)), ([2, 3], prediction(4))]


def test_csv_request_and_csv_response_decode_as_the_server_does():
    text = line(b"1,2.5,a\n3,4,b\n", "text/csv", b"3.5\n7,x\n", "text/csv")
    assert [(r[1], r[2]) for r in parse_line(text)] == [
        ([1, 2.5, "a"], [3.5]),
        ([3, 4, "b"], [7, "x"]),
    ]


def test_csv_with_a_header_row_gives_objects_as_the_server_reads_it():
    text = line(b"x,name\n1,a\n2,\n", "text/csv; header=present", b"3\n4\n", "text/csv")
    assert [r[1] for r in parse_line(text)] == [{"x": 1, "name": "a"}, {"x": 2, "name": None}]


def test_csv_request_with_a_json_response():
    response = json.dumps({"predictions": [prediction(1), prediction(2)]}).encode()
    text = line(b"1\n2\n", "text/csv", response)
    assert [r[2] for r in parse_line(text)] == [prediction(1), prediction(2)]


def test_single_record_csv_request_answered_with_one_json_prediction():
    # SAGEMAKER_BATCH_STRATEGY=SINGLE_RECORD: the row is invoked alone, answered with one dict.
    text = line(b"1,2\n", "text/csv", json.dumps(prediction(3)).encode())
    assert [(r[1], r[2]) for r in parse_line(text)] == [([1, 2], prediction(3))]


def test_non_ascii_input_and_base64_bodies_read_back():
    body = '{"text": "crème ☕"}'.encode()
    b64 = json.dumps(
        {
            "captureData": {
                "endpointInput": {
                    "observedContentType": "application/json",
                    "mode": "INPUT",
                    "data": base64.b64encode(body).decode(),
                    "encoding": "BASE64",
                },
                "endpointOutput": {
                    "observedContentType": "application/json",
                    "mode": "OUTPUT",
                    "data": base64.b64encode(json.dumps(prediction(1)).encode()).decode(),
                    "encoding": "BASE64",
                },
            },
            "eventMetadata": {"eventId": "abc", "inferenceTime": "2022-02-14T17:25:49Z"},
            "eventVersion": "0",
        }
    )
    # A line as SageMaker writes it by default (base64, time to the second) reads the same way.
    assert parse_line(b64) == [
        ("ts-2022-02-14T17:25:49--uuid-abc", {"text": "crème ☕"}, prediction(1))
    ]
    assert parse_line(line(body, "application/json", b"{}"))[0][1] == {"text": "crème ☕"}


def test_stored_ids_come_back_whole_plugin_parts_included():
    ids = ["ts-2026-12-01T10:45:09--uuid-1--region-eu--x", "customer-42--ts-x--note-a b/ü"]
    response = json.dumps({"predictions": [prediction(1), prediction(2)]}).encode()
    text = line(
        b'{"instances": [{"x": 1}, {"x": 2}]}', "application/json", response, record_ids=ids
    )
    assert json.loads(text)["ml2p"] == {"recordIds": ids}
    assert [r[0] for r in parse_line(text)] == ids


def test_input_only_and_output_only_lines():
    event = json.loads(line(b'{"x": 1}', "application/json", json.dumps(prediction(5)).encode()))
    output = event["captureData"].pop("endpointOutput")
    assert parse_line(json.dumps(event))[0][1:] == ({"x": 1}, None)
    event["captureData"] = {"endpointOutput": output}
    assert parse_line(json.dumps(event))[0][1:] == (None, prediction(5))


# -- bad lines ------------------------------------------------------------------


def _event(**changes):
    event = json.loads(line(b'{"x": 1}', "application/json", json.dumps(prediction(1)).encode()))
    for path, value in changes.items():
        node = event
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return json.dumps(event)


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "the line is not JSON"),
        ("[1]", "not a JSON object"),
        (_event(captureData=None), "captureData is missing"),
        (_event(eventMetadata__eventId=None), "eventMetadata.eventId is missing"),
        (_event(eventMetadata__inferenceTime=None), "eventMetadata.inferenceTime is missing"),
        (_event(captureData__endpointInput__encoding="GZIP"), "endpointInput.encoding is 'GZIP'"),
        (
            _event(
                captureData__endpointInput__encoding="BASE64", captureData__endpointInput__data="%%"
            ),
            "endpointInput.data is not base64",
        ),
        (_event(captureData__endpointInput__data="{"), "request body does not decode"),
        (
            _event(captureData__endpointInput__observedContentType="text/csv; header=maybe"),
            "cannot decode a request of type 'text/csv; header=maybe'",
        ),
        (_event(captureData__endpointOutput__data="{"), "response body is not JSON"),
        (_event(ml2p={"recordIds": [1]}), "ml2p.recordIds is not a list of strings"),
        (_event(ml2p={"recordIds": ["a", "b"]}), "holds 2 ids for 1 data"),
        (
            _event(captureData__endpointInput__data='{"instances": [{"x": 1}, {"x": 2}]}'),
            "the request holds 2 data but the response 1 predictions",
        ),
    ],
)
def test_bad_lines_are_refused_naming_the_problem(text, message):
    with pytest.raises(CaptureFormatError, match=re.escape(message)):
        parse_line(text)


def test_ml2p_inference_times_are_fixed_width_utc():
    for when, text in ((0.0, "1970-01-01T00:00:00.000000Z"), (WHEN, "2026-12-01T10:45:09.250000Z")):
        written = json.loads(line(b"{}", "application/json", b"{}", inference_time=when))
        assert written["eventMetadata"]["inferenceTime"] == text
