"""Recording on the request path and in the background: record ids, deferred records, bounds."""

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
from ml2p.errors import ConfigError
from ml2p.hookspecs import hookimpl
from ml2p.serving import recorder as recorder_module
from ml2p.serving.recorder import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_WRITERS,
    UNWRITTEN_MARK,
    BackgroundRecorder,
    recorder_from_environ,
)
from tests.models import MinimalPredictor
from tests.test_recorder import Lines, keys_under

ID_RE = re.compile(
    r"ts-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?--uuid-"
    r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


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


def predictor(tmp_path, recorder=None, pm=None, cls=MinimalPredictor):
    env = SageMakerEnv(
        tmp_path,
        {
            "ML2P_RECORD_INVOKES": "true",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_MODEL_VERSION": "mv-1",
        },
    )
    p = cls(env, plugin_manager=pm or plugins.make_plugin_manager(load_entry_points=False))
    p.slope = 3
    p.recorder = recorder
    return p


class IdPlugin:
    @hookimpl
    def ml2p_record_invoke_id(self, predictor, datum, prediction):
        return {"x": datum["x"]}


class Collecting:
    """A recorder without ``record_invocations``: the synchronous contract."""

    def __init__(self):
        self.items = []

    def record(self, key, body):
        self.items.append((key, body))


# -- bad input ------------------------------------------------------------


@pytest.mark.parametrize("env,name", [({"ML2P_RECORD_BATCH_BYTES": "0"}, "BATCH_BYTES")])
def test_bad_batch_bytes_names_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        recorder_from_environ("bucket", env)


def test_zero_batch_bytes_is_rejected():
    with pytest.raises(ConfigError, match="batch_bytes"):
        BackgroundRecorder("bucket", batch_bytes=0)


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


def test_default_record_id_without_plugins(tmp_path):
    collected = Collecting()
    p = predictor(tmp_path, collected)
    prediction = p.invoke({"x": 2})
    [(key, body)] = collected.items
    assert key.startswith("proj/predictions/mv-1/") and key.endswith(".json")
    assert ID_RE.fullmatch(key[len("proj/predictions/mv-1/") : -len(".json")])
    # The record holds the whole prediction, metadata included, as in ML2P 0.6.
    assert json.loads(body) == {"input": {"x": 2}, "result": prediction}
    assert prediction["result"] == {"y": 6}
    assert prediction["metadata"]["model_version"] == "mv-1"


def test_plugin_pairs_still_follow_the_default_id(tmp_path):
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(IdPlugin(), name="idp")
    collected = Collecting()
    p = predictor(tmp_path, collected, pm=pm)
    p.batch_invoke([{"x": 1}, {"x": 5}])
    names = [k[len("proj/predictions/mv-1/") : -len(".json")] for k, _ in collected.items]
    assert [n.rsplit("--", 1)[1] for n in names] == ["x-1", "x-5"]
    assert all(ID_RE.fullmatch(n.rsplit("--", 1)[0]) for n in names)


# -- deferred records through the background recorder ------------------------


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
        name = key[len("proj/predictions/mv-1/") : -len(".json")]
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


def test_batched_layout_lines_of_deferred_records(tmp_path):
    recorder = Recording(layout="batched", batch_size=1000, batch_seconds=60)
    p = predictor(tmp_path, recorder)
    data = [{"x": random.randint(0, 1000)} for _ in range(random.randint(5, 30))]
    predictions = p.batch_invoke(data)
    recorder.close(5)
    [(key, body, ctype)] = recorder.stored
    assert key.startswith("proj/predictions/mv-1/batches/") and key.endswith(".jsonl")
    assert ctype == "application/jsonlines"
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["input"] for line in lines] == data
    assert [line["result"] for line in lines] == predictions
    assert [p["result"] for p in predictions] == [{"y": 3 * d["x"]} for d in data]
    assert all(ID_RE.fullmatch(line["id"]) for line in lines)


def test_batch_bytes_starts_a_new_object():
    recorder = Recording(layout="batched", batch_size=1000, batch_bytes=1000, batch_seconds=60)
    items = [
        (f"p/predictions/mv/r{i}.json", b'{"input": "' + b"x" * 200 + b'"}') for i in range(20)
    ]
    recorder.record_many(items)
    recorder.close(5)
    sizes = [len(body.splitlines()) for _, body, _ in recorder.stored]
    assert sum(sizes) == 20 and len(sizes) >= 4
    assert all(len(body) < 1000 + 300 for _, body, _ in recorder.stored)


def test_unwritten_deferred_records_are_logged_whole(tmp_path):
    class Failing(Recording):
        def _put(self, key, body, content_type):
            raise OSError("S3 is down")

    lines = Lines()
    recorder = Failing(writers=1, backoff_base=0.01, log=lines)
    p = predictor(tmp_path, recorder)
    predictions = p.batch_invoke([{"x": 1}, {"x": 2}])
    recorder.close(0.3)
    assert recorder.unwritten == 2 and recorder.written == 0
    logged = sorted((json.loads(body) for _, body in lines.records()), key=json.dumps)
    assert logged == [
        {"input": {"x": 1}, "result": predictions[0]},
        {"input": {"x": 2}, "result": predictions[1]},
    ]
    assert all(line.startswith(UNWRITTEN_MARK + " ") for line in lines.lines)


# -- the bound and the defaults ---------------------------------------------------


def test_defaults_per_layout_keep_the_object_queue_small(tmp_path):
    spill = {"ML2P_RECORD_SPILL_DIR": str(tmp_path)}
    obj = recorder_from_environ("b", spill)
    batched = recorder_from_environ("b", {"ML2P_RECORD_LAYOUT": "batched", **spill})
    try:
        assert obj.spill.kind == batched.spill.kind == "disk"
        assert obj.spill.folder == str(tmp_path / "b")
        assert obj.writers == DEFAULT_WRITERS["object"] >= 16
        assert batched.writers == DEFAULT_WRITERS["batched"] >= 2
        assert obj._backlog.capacity == DEFAULT_QUEUE_SIZE["object"] <= 1000
        # Room for a whole batch being written while the next one fills.
        assert batched.batch_size == DEFAULT_BATCH_SIZE
        assert batched._backlog.capacity >= 2 * batched.batch_size
    finally:
        obj.close(0)
        batched.close(0)


def test_full_backlog_applies_back_pressure_then_logs_whole_batches():
    release = threading.Event()

    class Slow(Recording):
        def _put(self, key, body, content_type):
            release.wait(5)
            super()._put(key, body, content_type)

    lines = Lines()
    recorder = Slow(writers=1, queue_size=3, put_wait=0.3, log=lines)
    try:
        recorder.record_many([(f"p/r{i}.json", b"{}") for i in range(4)])  # 1 taken, 3 queued
        time.sleep(0.1)
        started = time.monotonic()
        recorder.record_many([("p/late1.json", b"{}"), ("p/late2.json", b"{}")])
        waited = time.monotonic() - started
        assert 0.25 <= waited < 2
        assert sorted(k for k, _ in lines.records()) == ["p/late1.json", "p/late2.json"]
    finally:
        release.set()
        recorder.close(5)
    assert recorder.written == 4 and recorder.unwritten == 2


def test_close_waits_for_slow_writes_within_its_timeout():
    class Slow(Recording):
        def _put(self, key, body, content_type):
            time.sleep(0.05)
            super()._put(key, body, content_type)

    recorder = Slow(writers=4)
    recorder.record_many([(f"p/r{i}.json", b"{}") for i in range(40)])
    started = time.monotonic()
    recorder.close(5)
    assert time.monotonic() - started < 3
    assert recorder.written == 40 and len(recorder.stored) == 40


def test_deferred_records_reach_moto(tmp_path, s3, aws):
    recorder = BackgroundRecorder("ml2p-test", writers=4)
    p = predictor(tmp_path, recorder)
    p.batch_invoke([{"x": i} for i in range(12)])
    recorder.close(20)
    keys = keys_under(s3, "proj/predictions/mv-1/")
    assert len(keys) == 12 and recorder.written == 12
    bodies = [json.loads(s3.get_object(Bucket="ml2p-test", Key=k)["Body"].read()) for k in keys]
    assert sorted(b["input"]["x"] for b in bodies) == list(range(12))


def test_predictor_without_recorder_stores_before_returning(tmp_path, s3, aws):
    p = predictor(tmp_path, None)
    key = p.record_invoke({"x": 1}, {"y": 3})
    assert ID_RE.fullmatch(key[len("proj/predictions/mv-1/") : -len(".json")])
    body = s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read()
    assert json.loads(body) == {"input": {"x": 1}, "result": {"y": 3}}


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
    keys = keys_under(s3, "proj/predictions/mv-1/")
    assert len(keys) == 5
    stored = [json.loads(s3.get_object(Bucket="ml2p-test", Key=k)["Body"].read()) for k in keys]
    assert sorted(b["input"]["x"] for b in stored) == sorted(d["x"] for d in data)


# -- encoding many records at once ---------------------------------------------------


def test_uuid4_texts_are_distinct_random_version_4_uuids():
    assert record_ids.uuid4_texts(0) == []
    for count in (1, 2, 3, 257):
        texts = record_ids.uuid4_texts(count)
        assert len(texts) == len(set(texts)) == count
        for text in texts:
            parsed = uuid.UUID(text)
            assert str(parsed) == text
            assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def _invocations(data, stamp=None):
    stamp = time.time() if stamp is None else stamp
    return [("proj/predictions/mv-1/", stamp, d, {"y": i}) for i, d in enumerate(data)]


def _lines(body):
    assert body.endswith(b"\n")
    return [json.loads(line) for line in body.decode().splitlines()]


def test_bulk_lines_keep_every_record_in_order():
    rng = random.Random(5)
    data = [{"x": rng.random(), "s": 'é\n"quoted"', "n": [1, {"k": None}]} for _ in range(600)]
    # Different stamps, as single invocations have, across several slices.
    invocations = [("p/", 1700000000.0 + i / 1000, d, [i]) for i, d in enumerate(data)]
    lines = _lines(recorder_module.encode_lines(invocations))
    assert [line["input"] for line in lines] == data
    assert [line["result"] for line in lines] == [[i] for i in range(600)]
    ids = [line["id"] for line in lines]
    assert len(set(ids)) == 600 and all(ID_RE.fullmatch(i) for i in ids)
    assert ids[0].startswith("ts-2023-11-14T22:13:20--uuid-")
    assert ids[599].startswith("ts-2023-11-14T22:13:20.599000--uuid-")


def test_a_datum_holding_the_record_boundary_is_not_split():
    # '},{"id":' inside an input is what the bulk encoder cuts records at.
    tricky = [{"a": [{"b": 1}, {"id": 2}]}, {"text": '},{"id":'}, {"x": 1}]
    lines = _lines(recorder_module.encode_lines(_invocations(tricky)))
    assert [line["input"] for line in lines] == tricky
    assert [line["result"] for line in lines] == [{"y": 0}, {"y": 1}, {"y": 2}]


def test_values_json_cannot_encode_are_stored_with_repr_or_a_description(caplog):
    class Odd:
        def __repr__(self):
            return "Odd()"

    class NoRepr:
        def __repr__(self):
            raise RuntimeError("no repr either")

    looped = []
    looped.append(looped)
    data = [{"x": 1}, {"x": Odd()}, {"x": {1, 2}}, looped, {"x": 10**4300}, {"x": NoRepr()}]
    with caplog.at_level("WARNING", logger="ml2p.serving.recorder"):
        lines = _lines(recorder_module.encode_lines(_invocations(data)))
    assert len(lines) == 6
    assert lines[0]["input"] == {"x": 1}
    assert lines[1]["input"] == {"x": "Odd()"}
    assert lines[2]["input"] == {"x": "{1, 2}"}
    # What not even repr() rescues is replaced by a description; the rest is kept.
    assert lines[3]["input"] == {
        "unencodable": "list",
        "error": "ValueError: Circular reference detected",
    }
    assert lines[3]["result"] == {"y": 3}
    assert lines[4]["input"]["unencodable"] == "dict" and "4300" in lines[4]["input"]["error"]
    assert lines[5]["input"]["x"].startswith("<NoRepr: repr failed: RuntimeError")
    assert all(ID_RE.fullmatch(line["id"]) for line in lines)
    assert caplog.text.count("could not be encoded") == 5
    assert "Odd()" not in caplog.text  # ids and errors are logged, never content
    key, body = recorder_module.materialise(("p/", time.time(), {"x": Odd()}, None))
    assert key.startswith("p/ts-") and key.endswith(".json")
    assert json.loads(body) == {"input": {"x": "Odd()"}, "result": None}


@pytest.mark.parametrize("layout", ["object", "batched"])
def test_an_unencodable_record_does_not_stop_the_writers(layout):
    rec = Recording(layout=layout, batch_seconds=0.05)
    rec.record_invocations(_invocations([{"x": object()}]))
    time.sleep(0.3)
    rec.record_invocations(_invocations([{"x": 2}]))
    rec.close(5)
    assert rec.written == 2 and rec.unwritten == 0
    assert all(thread.is_alive() is False for thread in rec._threads)
    stored = b"".join(body for _, body, _ in rec.stored)
    assert b"object object at" in stored and b'"x":2' in stored.replace(b" ", b"")


def test_one_put_for_a_batch_invocation_queues_it_whole_and_splits_by_batch_size():
    rec = Recording(layout="batched", batch_size=40, batch_seconds=60, writers=1)
    rec.record_invocations(_invocations([{"x": i} for i in range(100)]))
    assert len(rec._backlog) == 100 and rec.pending == 100
    rec.close(5)
    sizes = [len(_lines(body)) for _, body, _ in rec.stored]
    assert sizes == [40, 40, 20]
    inputs = [line["input"]["x"] for _, body, _ in rec.stored for line in _lines(body)]
    assert inputs == list(range(100))
