"""Recording on the request path and in the background: record ids, the one path, encoding."""

from __future__ import annotations

import datetime
import json
import random
import re
import threading
import time
import unicodedata
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml2p import plugins, record_ids
from ml2p.core import SageMakerEnv
from ml2p.hookspecs import hookimpl
from ml2p.recording import Destination, Record, RecordingPlan
from ml2p.records.capture import parse_line, read_line
from ml2p.serving.record_encoding import capture_line, captured, object_puts
from ml2p.serving.recorder import BackgroundRecorder, recorder_from_environ
from ml2p.serving.settings import DEFAULT_BATCH_SIZE, DEFAULT_QUEUE_SIZE, DEFAULT_WRITERS
from tests.models import MinimalPredictor
from tests.test_recorder import Lines, keys_under

ID_RE = re.compile(
    r"ts-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?--uuid-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)
FOLDER = "proj/predictions/mv-1/"


def reference_safe_part(value):
    """The sanitising rule, written the slow way, to compare the fast path against."""
    out = []
    text = str(value)
    for i, char in enumerate(text):
        in_dots = char == "." and (text[i - 1 : i] == "." or text[i + 1 : i + 2] == ".")
        unsafe = char == "/" or unicodedata.category(char) == "Cc" or in_dots
        out.append("_" if unsafe else char)
    return "".join(out)


def utc_isoformat(now):
    """``datetime.datetime.utcnow().isoformat()`` at POSIX time ``now``."""
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return moment.replace(tzinfo=None).isoformat()


def predictor(tmp_path, recorder=None, pm=None, cls=MinimalPredictor, layout=None):
    environ = {
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_S3_URL": "s3://ml2p-test/proj/",
        "ML2P_MODEL_VERSION": "mv-1",
    }
    if layout:
        environ["ML2P_RECORD_LAYOUT"] = layout
    env = SageMakerEnv(tmp_path, environ)
    p = cls(env, plugin_manager=pm or plugins.make_plugin_manager(load_entry_points=False))
    p.slope = 3
    p.recorder = recorder
    return p


class IdPlugin:
    @hookimpl
    def ml2p_record_invoke_id(self, predictor, datum, prediction):
        return {"x": datum["x"]}


class Collecting:
    """A recorder that keeps the records it is given."""

    layout = "object"

    def __init__(self):
        self.records = []

    def record(self, record):
        self.records.append(record)

    def puts(self):
        return object_puts(self.records)[0]


# -- record ids -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        ("a/b", "a_b"),
        ("../x", "___x"),
        ("a...b.c", "a___b.c"),
        ("a\nb\x00c\x7fd\x85", "a_b_c_d_"),
        ("a--b", "a--b"),
        ("-lead", "-lead"),
        ("John Smith", "John Smith"),
        ("ünï+1=2 @,:", "ünï+1=2 @,:"),
        ("x" * 300, "x" * 300),
        ("", ""),
        (12, "12"),
        (None, "None"),
    ],
)
def test_safe_part_replaces_only_what_is_unsafe(value, expected):
    assert record_ids.safe_part(value) == expected == reference_safe_part(value)


@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("./-"), max_size=30))
def test_safe_part_matches_the_rule_on_any_text(text):
    assert record_ids.safe_part(text) == reference_safe_part(text)


# -- record ids -------------------------------------------------------------


@pytest.mark.parametrize(
    "now, expected",
    [
        (0.0, "1970-01-01T00:00:00"),
        (1700000000.0, "2023-11-14T22:13:20"),
        (1700000000.5, "2023-11-14T22:13:20.500000"),
        (0.9999996, "1970-01-01T00:00:01"),
        (1.0000004, "1970-01-01T00:00:01"),
        (1.000001, "1970-01-01T00:00:01.000001"),
    ],
)
def test_utc_timestamp_is_utcnow_isoformat(now, expected):
    assert record_ids.utc_timestamp(now) == expected == utc_isoformat(now)


@given(st.floats(min_value=0, max_value=2**34, allow_nan=False))
def test_utc_timestamp_matches_datetime(now):
    assert record_ids.utc_timestamp(now) == utc_isoformat(now)


@given(st.integers(min_value=0, max_value=2**34), st.integers(min_value=0, max_value=999999))
def test_utc_timestamp_matches_datetime_at_every_microsecond(second, micros):
    now = second + micros / 1e6
    assert record_ids.utc_timestamp(now) == utc_isoformat(now)


def test_utc_timestamp_default_is_now():
    before = utc_isoformat(time.time())
    stamp = record_ids.utc_timestamp()
    assert before <= stamp <= utc_isoformat(time.time())


def test_record_key_keeps_short_ids_whole():
    parts = {"ts": "2026-12-01T08:30:26.280685", "name": "Zoë Smith", "note": "a--b"}
    key = record_ids.record_key("p/predictions/mv/", parts)
    assert key == "p/predictions/mv/ts-2026-12-01T08:30:26.280685--name-Zoë Smith--note-a--b.json"


@pytest.mark.parametrize("char", ["x", "é", "😀"])
def test_record_key_bounds_long_ids_and_keeps_them_distinct(char):
    folder = "base/predictions/model-1-2-3/"
    first = record_ids.record_key(folder, {"long": char * 2000 + "1"})
    second = record_ids.record_key(folder, {"long": char * 2000 + "2"})
    assert first != second
    for key in (first, second):
        assert len(key.encode("utf-8")) <= record_ids.MAX_KEY_BYTES
        assert key.startswith(folder + "long-" + char * 10) and key.endswith(".json")
        assert re.search(r"--sha256-[0-9a-f]{16}\.json$", key)
    exact = "x" * (record_ids.MAX_KEY_BYTES - len(folder) - len(".json") - len("k-"))
    assert record_ids.record_key(folder, {"k": exact}) == f"{folder}k-{exact}.json"


def test_uuid4_text_is_a_random_version_4_uuid():
    seen = {record_ids.uuid4_text() for _ in range(2000)}
    assert len(seen) == 2000
    for text in list(seen)[:50]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_default_id_is_ts_and_uuid():
    [at] = record_ids.default_ids(1, 1700000000.5)
    assert at["ts"] == "2023-11-14T22:13:20.500000" and uuid.UUID(at["uuid"]).version == 4
    before = record_ids.utc_timestamp()
    made = record_ids.default_id()
    assert list(made) == ["ts", "uuid"] and ID_RE.fullmatch(record_ids.format_record_id(made))
    assert before <= made["ts"] <= record_ids.utc_timestamp()
    assert made["uuid"] != record_ids.default_id()["uuid"]


def test_default_record_id_without_plugins(tmp_path):
    collected = Collecting()
    p = predictor(tmp_path, collected)
    prediction = p.invoke({"x": 2})
    [record] = collected.records
    # The default id is made where the record is written, not on the request path.
    assert record.ids is None and record.whole and not record.batch
    [put] = collected.puts()
    assert put.key.startswith(FOLDER) and put.key.endswith(".json")
    assert ID_RE.fullmatch(put.key[len(FOLDER) : -len(".json")])
    assert put.key[len(FOLDER) + 3 :].startswith(record_ids.utc_timestamp(record.time))
    # The record holds the whole prediction, metadata included, as in ML2P 0.6.
    assert put.body == json.dumps({"input": {"x": 2}, "result": prediction}).encode()
    assert prediction["result"] == {"y": 6}
    assert prediction["metadata"]["model_version"] == "mv-1"


def test_plugin_pairs_still_follow_the_default_id(tmp_path):
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(IdPlugin(), name="idp")
    collected = Collecting()
    p = predictor(tmp_path, collected, pm=pm)
    p.batch_invoke([{"x": 1}, {"x": 5}])
    [record] = collected.records
    assert record.batch and [list(parts) for parts in record.ids] == [["ts", "uuid", "x"]] * 2
    names = [put.key[len(FOLDER) : -len(".json")] for put in collected.puts()]
    assert [n.rsplit("--", 1)[1] for n in names] == ["x-1", "x-5"]
    assert all(ID_RE.fullmatch(n.rsplit("--", 1)[0]) for n in names)


def test_the_recording_plan_is_decided_once_per_predictor(tmp_path, monkeypatch):
    made = []
    original = RecordingPlan.__init__

    def counting(self, predictor):
        made.append(predictor)
        original(self, predictor)

    monkeypatch.setattr(RecordingPlan, "__init__", counting)
    collected = Collecting()
    p = predictor(tmp_path, collected)
    for x in range(5):
        p.invoke({"x": x})
    p.batch_invoke([{"x": 1}, {"x": 2}])
    p.record_invoke({"x": 9}, {"y": 0})
    other = predictor(tmp_path, collected)
    other.invoke({"x": 1})
    assert made == [p, other] and len(collected.records) == 8


def test_a_predictor_without_s3_cannot_record_and_says_why(tmp_path):
    env = SageMakerEnv(tmp_path, {"ML2P_RECORD_INVOKES": "true", "ML2P_MODEL_VERSION": "mv-1"})
    p = MinimalPredictor(env, plugin_manager=plugins.make_plugin_manager(load_entry_points=False))
    p.slope = 1
    with pytest.raises(Exception, match="ML2P_S3_URL is not set"):
        p.invoke({"x": 1})


# -- through the background recorder ---------------------------------------------


class Recording(BackgroundRecorder):
    """A background recorder whose S3 is a list (to see what would be stored)."""

    def __init__(self, **kw):
        self.stored = []
        super().__init__("ml2p-test", **kw)

    def _put(self, key, body, content_type):
        self.stored.append((key, body, content_type))


def test_default_ids_are_made_by_the_writer_with_the_invocation_time(tmp_path):
    recorder = Recording(writers=2)
    p = predictor(tmp_path, recorder)
    before = utc_isoformat(time.time())
    single = p.invoke({"x": 1})
    batch = p.batch_invoke([{"x": i} for i in range(10)])
    after = utc_isoformat(time.time())
    recorder.close(5)
    assert recorder.written == 11 and recorder.unwritten == 0
    bodies = []
    for key, body, ctype in recorder.stored:
        assert ctype == "application/json"
        name = key[len(FOLDER) : -len(".json")]
        assert ID_RE.fullmatch(name)
        assert before <= name.split("--uuid-")[0][len("ts-") :] <= after
        bodies.append(json.loads(body))
    expected = [{"input": {"x": 1}, "result": single}] + [
        {"input": {"x": i}, "result": batch[i]} for i in range(10)
    ]
    assert sorted(bodies, key=json.dumps) == sorted(expected, key=json.dumps)
    assert [b["result"]["result"] for b in expected] == [{"y": 3 * i} for i in [1, *range(10)]]


def test_overridden_record_invoke_id_is_honoured_with_a_background_recorder(tmp_path):
    class Custom(MinimalPredictor):
        def record_invoke_id(self, datum, prediction):
            return {"custom": datum["x"]}

    recorder = Recording(writers=1)
    p = predictor(tmp_path, recorder, cls=Custom)
    p.batch_invoke([{"x": 4}, {"x": 9}])
    recorder.close(5)
    assert sorted(k for k, _, _ in recorder.stored) == [
        "proj/predictions/mv-1/custom-4.json",
        "proj/predictions/mv-1/custom-9.json",
    ]


def _lines(body):
    assert body.endswith(b"\n")
    return body.splitlines()


def test_capture_lines_of_library_invocations(tmp_path):
    recorder = Recording(layout="capture", batch_seconds=60)
    p = predictor(tmp_path, recorder)
    data = [{"x": random.randint(0, 1000)} for _ in range(random.randint(5, 30))]
    single = p.invoke({"x": 7})
    predictions = p.batch_invoke(data)
    recorder.close(5)
    [(key, body, ctype)] = recorder.stored
    assert key.startswith("proj/predictions/capture/mv-1/mv-1-variant-1/") and key.endswith(
        ".jsonl"
    )
    assert ctype == "application/jsonlines"
    first, second = _lines(body)
    [(one_id, one_input, one_prediction)] = parse_line(first)
    assert ID_RE.fullmatch(one_id) and one_input == {"x": 7} and one_prediction == single
    records = parse_line(second)
    assert [r[1] for r in records] == data and [r[2] for r in records] == predictions
    event = read_line(second)
    assert [r[0] for r in records] == [
        f"ts-{event.inference_time[:-1]}--uuid-{event.event_id}--i-{i}" for i in range(len(data))
    ]
    # The default ids are derived from the line: none are stored in it.
    assert event.record_ids is None


def test_capture_lines_store_the_ids_plugins_make(tmp_path):
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(IdPlugin(), name="idp")
    recorder = Recording(layout="capture", batch_seconds=60)
    p = predictor(tmp_path, recorder, pm=pm)
    p.batch_invoke([{"x": 3}, {"x": 8}])
    recorder.close(5)
    [(_, body, _)] = recorder.stored
    [line] = _lines(body)
    ids = [record_id for record_id, _, _ in parse_line(line)]
    assert [i.rsplit("--", 1)[1] for i in ids] == ["x-3", "x-8"]
    assert all(ID_RE.fullmatch(i.rsplit("--", 1)[0]) for i in ids)
    assert read_line(line).record_ids == ids


def test_unwritten_records_are_logged_whole(tmp_path):
    class Failing(Recording):
        def _put(self, key, body, content_type):
            raise OSError("S3 is down")

    lines = Lines()
    recorder = Failing(writers=1, backoff_base=0.01, log=lines)
    p = predictor(tmp_path, recorder)
    predictions = p.batch_invoke([{"x": 1}, {"x": 2}])
    recorder.close(0.3)
    assert recorder.unwritten == 2 and recorder.written == 0
    logged = sorted((json.loads(e["body"]) for e in lines.entries()), key=json.dumps)
    assert logged == [
        {"input": {"x": 1}, "result": predictions[0]},
        {"input": {"x": 2}, "result": predictions[1]},
    ]


# -- the bound and the defaults ---------------------------------------------------


def test_defaults_per_layout_keep_the_object_queue_small(tmp_path):
    spill = {"ML2P_RECORD_SPILL_DIR": str(tmp_path)}
    obj = recorder_from_environ("b", spill)
    capture = recorder_from_environ("b", {"ML2P_RECORD_LAYOUT": "capture", **spill})
    try:
        assert obj.spill.kind == capture.spill.kind == "disk"
        assert obj.spill.folder == str(tmp_path / "b")
        assert obj.writers == DEFAULT_WRITERS["object"] >= 16
        assert capture.writers == DEFAULT_WRITERS["capture"] >= 2
        assert obj._backlog.capacity == DEFAULT_QUEUE_SIZE["object"] <= 1000
        # Room for a whole file being written while the next one fills.
        assert capture.batch_size == DEFAULT_BATCH_SIZE
        assert capture._backlog.capacity >= 2 * capture.batch_size
    finally:
        obj.close(0)
        capture.close(0)


def _records(count, size=1):
    dest = Destination("ml2p-test", "p/", "mv")
    return [
        Record(
            dest, [{"i": i}] * size, [{"y": i}] * size, ids=[{"r": f"{i}-{j}"} for j in range(size)]
        )
        for i in range(count)
    ]


def test_full_backlog_applies_back_pressure_then_logs_the_records():
    release = threading.Event()

    class Slow(Recording):
        def _put(self, key, body, content_type):
            release.wait(30)
            super()._put(key, body, content_type)

    lines = Lines()
    recorder = Slow(writers=1, queue_size=3, queue_wait=0.3, log=lines)
    try:
        first, late = _records(1, size=4), _records(1, size=2)
        recorder.record(first[0])  # 1 taken, 3 queued
        time.sleep(0.1)
        started = time.monotonic()
        recorder.record(late[0])
        waited = time.monotonic() - started
        # It waited its 0.3 s for room, not until the writer was released (30 s).
        assert 0.25 <= waited < 15
        assert sorted(e["key"] for e in lines.entries()) == [
            "p/predictions/mv/r-0-0.json",
            "p/predictions/mv/r-0-1.json",
        ]
    finally:
        release.set()
        recorder.close(5)
    assert recorder.written == 4 and recorder.unwritten == 2


def test_the_data_of_a_batch_are_written_by_several_writers():
    started = threading.Barrier(4, timeout=5)

    class Together(Recording):
        def _put(self, key, body, content_type):
            started.wait()  # passes only once 4 writers hold a datum each
            super()._put(key, body, content_type)

    recorder = Together(writers=4)
    [record] = _records(1, size=8)
    recorder.record(record)
    recorder.close(10)
    assert recorder.written == 8 and len(recorder.stored) == 8


def test_close_waits_for_slow_writes_within_its_timeout():
    class Slow(Recording):
        def _put(self, key, body, content_type):
            time.sleep(0.05)
            super()._put(key, body, content_type)

    recorder = Slow(writers=4)
    for record in _records(10, size=4):
        recorder.record(record)
    recorder.close(5)
    assert recorder.written == 40 and len(recorder.stored) == 40


def test_deferred_records_reach_moto(tmp_path, s3, aws):
    recorder = BackgroundRecorder("ml2p-test", writers=4)
    p = predictor(tmp_path, recorder)
    p.batch_invoke([{"x": i} for i in range(12)])
    recorder.close(20)
    keys = keys_under(s3, FOLDER)
    assert len(keys) == 12 and recorder.written == 12
    bodies = [json.loads(s3.get_object(Bucket="ml2p-test", Key=k)["Body"].read()) for k in keys]
    assert sorted(b["input"]["x"] for b in bodies) == list(range(12))


def test_predictor_without_recorder_stores_before_returning(tmp_path, s3, aws):
    p = predictor(tmp_path, None)
    key = p.record_invoke({"x": 1}, {"y": 3})
    assert ID_RE.fullmatch(key[len(FOLDER) : -len(".json")])
    body = s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read()
    assert json.loads(body) == {"input": {"x": 1}, "result": {"y": 3}}
    assert s3.head_object(Bucket="ml2p-test", Key=key)["ContentType"] == "application/json"


def test_capture_layout_without_recorder_stores_a_file_before_returning(tmp_path, s3, aws):
    p = predictor(tmp_path, None, layout="capture")
    record_id = p.record_invoke({"x": 1}, {"y": 3})
    prediction = p.invoke({"x": 2})
    keys = keys_under(s3, "proj/predictions/capture/mv-1/mv-1-variant-1/")
    assert len(keys) == 2
    found = {}
    for key in keys:
        [line] = s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read().splitlines()
        for rid, datum, pred in parse_line(line):
            found[rid] = (datum, pred)
    assert found.pop(record_id) == ({"x": 1}, {"y": 3})
    [(datum, pred)] = found.values()
    assert datum == {"x": 2} and pred == prediction


def test_overridden_record_invoke_sees_every_invocation(tmp_path):
    seen = []

    class Custom(MinimalPredictor):
        def record_invoke(self, datum, prediction):
            seen.append((datum, prediction))
            return "k"

    recorder = Recording(writers=1)
    p = predictor(tmp_path, recorder, cls=Custom)
    single = p.invoke({"x": 1})
    batch = p.batch_invoke([{"x": 2}, {"x": 3}])
    recorder.close(5)
    assert seen == [({"x": 1}, single), ({"x": 2}, batch[0]), ({"x": 3}, batch[1])]
    assert [prediction["result"] for _, prediction in seen] == [{"y": 3}, {"y": 6}, {"y": 9}]
    assert recorder.stored == []


def test_s3_recorder_stores_a_batch_before_returning(tmp_path, s3, aws):
    from ml2p.recording import S3Recorder

    p = predictor(tmp_path, S3Recorder("ml2p-test"))
    data = [{"x": random.randint(0, 99)} for _ in range(5)]
    p.batch_invoke(data)
    keys = keys_under(s3, FOLDER)
    assert len(keys) == 5
    stored = [json.loads(s3.get_object(Bucket="ml2p-test", Key=k)["Body"].read()) for k in keys]
    assert sorted(b["input"]["x"] for b in stored) == sorted(d["x"] for d in data)


# -- encoding ---------------------------------------------------------------------


def test_uuid4_texts_are_distinct_random_version_4_uuids():
    assert record_ids.uuid4_texts(0) == []
    for count in (1, 2, 3, 257):
        texts = record_ids.uuid4_texts(count)
        assert len(texts) == len(set(texts)) == count
        for text in texts:
            parsed = uuid.UUID(text)
            assert str(parsed) == text
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_every_random_digit_of_bulk_uuids_is_its_own_and_uniform():
    texts = record_ids.uuid4_texts(4096)
    digits = [text.replace("-", "") for text in texts]
    columns = ["".join(d[i] for d in digits) for i in range(32)]
    for i, column in enumerate(columns):
        seen = set(column)
        if i == 12:
            assert seen == {"4"}  # the version
        elif i == 16:
            assert seen == set("89ab")  # the RFC 4122 variant
        else:
            assert seen == set("0123456789abcdef"), i
    # No digit copied from another: each column differs from every other.
    assert len(set(columns)) == 32


def test_a_forked_process_makes_uuids_of_its_own():
    import os
    import warnings

    record_ids.uuid4_text()  # the pool is full: a child inherits the next ones
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, record_ids.uuid4_text().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    assert child != record_ids.uuid4_text()


def _record(data, predictions=None, batch=True):
    predictions = predictions if predictions is not None else [{"y": i} for i in range(len(data))]
    return Record(Destination("ml2p-test", "p/", "mv"), data, predictions, batch=batch)


class Odd:
    def __repr__(self):
        return "Odd()"


class NoRepr:
    def __repr__(self):
        raise RuntimeError("no repr either")


def _unencodable():
    looped = []
    looped.append(looped)
    return [{"x": 1}, {"x": Odd()}, {"x": {1, 2}}, looped, {"x": 10**4300}, {"x": NoRepr()}]


def test_values_json_cannot_encode_are_stored_with_repr_or_a_description(caplog):
    with caplog.at_level("WARNING", logger="ml2p.serving.recorder"):
        puts, problems = object_puts([_record(_unencodable())])
    assert problems == 5
    bodies = [json.loads(put.body) for put in puts]
    assert bodies[0]["input"] == {"x": 1}
    assert bodies[1]["input"] == {"x": "Odd()"}
    assert bodies[2]["input"] == {"x": "{1, 2}"}
    # What not even repr() rescues is replaced by a description; the rest is kept.
    assert bodies[3]["input"] == {
        "unencodable": "list",
        "error": "ValueError: Circular reference detected",
    }
    assert bodies[3]["result"] == {"y": 3}
    assert bodies[4]["input"]["unencodable"] == "dict" and "4300" in bodies[4]["input"]["error"]
    assert bodies[5]["input"]["x"].startswith("<NoRepr: repr failed: RuntimeError")
    assert all(ID_RE.fullmatch(put.key[len("p/predictions/mv/") : -len(".json")]) for put in puts)
    assert caplog.text.count("could not be encoded") == 5
    assert "Odd()" not in caplog.text  # ids and errors are logged, never content


def test_a_capture_line_of_values_json_cannot_encode_still_pairs_every_datum(caplog):
    record = _record(_unencodable())
    with caplog.at_level("WARNING", logger="ml2p.serving.recorder"):
        item, problems = captured(record)
    assert problems == 1 and item[2] == 6
    records = parse_line(capture_line(item))
    assert len(records) == 6 and [r[2] for r in records] == [{"y": i} for i in range(6)]
    assert records[1][1] == {"x": "Odd()"} and records[3][1]["unencodable"] == "list"
    assert caplog.text.count("could not be encoded") == 1 and "Odd()" not in caplog.text


def test_a_capture_line_keeps_the_bodies_it_was_given_as_they_are():
    record = _record([{"x": 1}], batch=False)
    request = b'{ "x" : 1 }\n'
    response = b"2.0\r\n"
    record.request = (request, b"application/json")
    record.response = (response, b"text/csv")
    item, problems = captured(record)
    assert problems == 0
    assert item[:3] == ("p/predictions/capture/mv/mv-variant-1/", record.time, 1)
    line = capture_line(item)
    assert line.endswith(b"}\n")
    event = read_line(line)
    assert event.request_body == request and event.response_body == response
    assert event.response_type == "text/csv"
    raw = json.loads(line)
    assert raw["captureData"]["endpointOutput"]["encoding"] == "CSV"


def test_a_queued_capture_record_is_soon_untracked_by_the_garbage_collector():
    import gc

    record = _record([{"x": i} for i in range(3)])
    record.ids = [{"k": str(i)} for i in range(3)]
    item, _ = captured(record)
    entry = (time.monotonic(), item, 3, 100)
    gc.collect()
    gc.collect()  # a tuple is let go once the tuples it holds are
    # A queue of these costs the collector nothing; a queue of records walked their data.
    assert not gc.is_tracked(item) and not gc.is_tracked(entry)
    assert any(gc.is_tracked(part) for part in gc.get_referents(record))


@pytest.mark.parametrize("layout", ["object", "capture"])
def test_an_unencodable_record_does_not_stop_the_writers(layout):
    rec = Recording(layout=layout, batch_seconds=0.05)
    rec.record(_record([{"x": object()}]))
    time.sleep(0.3)
    rec.record(_record([{"x": 2}]))
    rec.close(5)
    assert rec.written == 2 and rec.unwritten == 0 and rec.unencodable == 1
    assert all(thread.is_alive() is False for thread in rec._threads)
    stored = b"".join(body for _, body, _ in rec.stored)
    assert b"object object at" in stored and b'"x": 2' in stored.replace(b'\\"', b'"')


def test_a_capture_file_holds_whole_requests_up_to_the_batch_size():
    rec = Recording(layout="capture", batch_size=40, batch_seconds=60, writers=1)
    for start in range(0, 100, 20):
        rec.record(_record([{"x": i} for i in range(start, start + 20)]))
    rec.close(5)
    assert rec.pending == 0 and rec.written == 100
    sizes = [len(_lines(body)) for _, body, _ in rec.stored]
    assert sizes == [2, 2, 1]
    inputs = [
        d["x"] for _, body, _ in rec.stored for line in _lines(body) for _, d, _ in parse_line(line)
    ]
    assert inputs == list(range(100))


def test_batch_timestamps_are_a_microsecond_apart_and_carry_into_the_next_second():
    # 0.999998 s past a whole second: the third stamp is in the next second.
    now = 1_764_578_400.999998
    stamps = record_ids.utc_timestamps(4, now)
    assert stamps[0] == record_ids.utc_timestamp(now)
    assert stamps[1:] == [
        "2025-12-01T08:40:00.999999",
        "2025-12-01T08:40:01",
        "2025-12-01T08:40:01.000001",
    ]
    assert record_ids.utc_timestamps(0, now) == []


def test_default_ids_of_a_batch_sort_in_the_order_of_its_data():
    ids = record_ids.default_ids(500, 1_764_578_400.5)
    keys = [record_ids.format_record_id(parts) for parts in ids]
    assert keys == sorted(keys)
    assert len({parts["uuid"] for parts in ids}) == 500
    assert all(list(parts) == ["ts", "uuid"] for parts in ids)


def slow_recording(seconds, **kw):
    """A :class:`Recording` whose every PUT takes ``seconds``."""

    class Slow(Recording):
        def _put(self, key, body, content_type):
            time.sleep(seconds)
            super()._put(key, body, content_type)

    return Slow(**kw)


def full_queue_warnings(caplog, count, recorder):
    """Record ``count`` records one after the other, close; the full-queue warnings."""
    with caplog.at_level("WARNING", logger="ml2p.serving.recorder"):
        for record in _records(count):
            recorder.record(record)
        recorder.close(30)
    assert recorder.written == count and recorder.unwritten == 0
    return [r.getMessage() for r in caplog.records if "queue is full" in r.getMessage()]


def test_requests_waiting_for_room_are_logged_once_a_while_not_once_each(caplog, monkeypatch):
    # S3 slower than the traffic: every record waits for room. One WARNING says
    # so, not one a request (a server answering hundreds a second flooded its log).
    from ml2p.serving import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "FULL_QUEUE_LOG_SECONDS", 3600.0)
    recorder = slow_recording(0.01, writers=1, queue_size=2, queue_wait=30)
    full = full_queue_warnings(caplog, 40, recorder)
    assert len(full) == 1, full
    assert "requests wait up to 30.0 s for room" in full[0], full


def test_the_full_queue_warning_comes_again_counting_the_waits_between(caplog, monkeypatch):
    from ml2p.serving import recorder as recorder_module

    monkeypatch.setattr(recorder_module, "FULL_QUEUE_LOG_SECONDS", 0.2)
    recorder = slow_recording(0.05, writers=1, queue_size=1, queue_wait=30)
    full = full_queue_warnings(caplog, 20, recorder)
    # 20 records, at most 1 queued and 1 being written: at least 18 waited, over
    # ~1 s of 0.05 s writes; a warning at most every 0.2 s.
    assert 2 <= len(full) < 18, full
    waits = [int(re.search(r"(\d+) wait\(s\) since the last such warning", m)[1]) for m in full]
    # The first names its own wait; each later one the waits since the one before.
    assert waits[0] == 1 and max(waits[1:]) > 1 and sum(waits) <= 20, full
