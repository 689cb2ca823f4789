"""Reading records back from S3 (moto in server mode), in both layouts."""

from __future__ import annotations

import json
import time

import pytest

from ml2p import plugins
from ml2p.errors import ML2PError
from ml2p.hookspecs import hookimpl
from ml2p.record_ids import utc_timestamp
from ml2p.records import RecordFormatError, RecordReader, read_records
from ml2p.records import reader as reader_module
from ml2p.records.times import posix_time
from ml2p.serving.recorder import BackgroundRecorder
from tests.models import MinimalPredictor
from tests.records_support import (
    BUCKET,
    MODEL_VERSION,
    S3FOLDER,
    Request,
    predictor,
    put_capture,
    value,
)

BASE = 1796121909.25  # 2026-12-01T10:45:09.250000Z


class RegionPlugin:
    @hookimpl
    def ml2p_record_invoke_id(self, predictor, datum, prediction):
        return {"region": f"eu/{datum['x']}", "note": "a--b ü"}


class CustomerIds(MinimalPredictor):
    def record_invoke_id(self, datum, prediction):
        return {"customer": f"c{datum['x']:03d}", "ts": utc_timestamp()}


def reader(**kw):
    return RecordReader(S3FOLDER, MODEL_VERSION, **kw)


def put_object_record(s3, record_id, datum, result, stamp):
    prediction = {
        "metadata": {"model_version": MODEL_VERSION, "timestamp": stamp},
        "result": result,
    }
    key = f"proj/predictions/{MODEL_VERSION}/{record_id}.json"
    body = json.dumps({"input": datum, "result": prediction}).encode()
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return key


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"layout": "batched"}, "unknown record layout 'batched'"),
        ({"on_error": "ignore"}, "on_error is 'ignore'"),
        ({"workers": 0}, "workers must be at least 1"),
        ({"window": 0}, "window must be at least 1"),
        ({"window_bytes": 0}, "window_bytes must be at least 1"),
    ],
)
def test_bad_reader_settings_are_named(kw, message):
    with pytest.raises(ML2PError, match=message):
        reader(**kw)


def test_bad_time_bounds_name_the_bound(s3):
    with pytest.raises(ML2PError, match="since: 'last tuesday' is not a time"):
        list(reader().records(since="last tuesday"))


def test_a_malformed_object_is_named_or_skipped(s3):
    s3.put_object(
        Bucket=BUCKET, Key=f"proj/predictions/{MODEL_VERSION}/ts-x--uuid-1.json", Body=b"{"
    )
    s3.put_object(
        Bucket=BUCKET, Key=f"proj/predictions/{MODEL_VERSION}/ts-y--uuid-2.json", Body=b'{"a": 1}'
    )
    good = put_object_record(s3, "ts-z--uuid-3", {"x": 1}, {"y": 2}, BASE)
    with pytest.raises(
        RecordFormatError, match=r"s3://ml2p-test/proj/.*ts-x--uuid-1\.json: not JSON"
    ):
        list(reader().records())
    skipping = reader(on_error="skip")
    assert [r.key for r in skipping.records()] == [good]
    assert skipping.stats.skipped == 2


def test_a_malformed_capture_line_is_named_with_its_line_number(s3, tmp_path):
    p = predictor(tmp_path, record=False)
    key = put_capture(s3, [(BASE, "e1", Request(p, b'{"x": 1}', "application/json"))])
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() + b'{"captureData": 1}\n'
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    with pytest.raises(RecordFormatError, match=rf"{key} line 2: captureData is missing"):
        list(reader().records())
    assert [r.input for r in reader(on_error="skip").records()] == [{"x": 1}]


def test_no_records_means_no_layouts(s3):
    r = reader()
    assert r.layouts() == [] and list(r.records()) == [] and list(r.refs()) == []


# -- the object layout, written by the real recording paths ------------------------


def test_records_written_by_invoke_and_batch_invoke_read_back_in_order(s3, tmp_path):
    p = predictor(tmp_path)
    singles = [p.invoke({"x": i}) for i in range(3)]
    batch = p.batch_invoke([{"x": 10}, {"x": 11}])
    records = list(reader().records())
    assert [r.input for r in records] == [{"x": 0}, {"x": 1}, {"x": 2}, {"x": 10}, {"x": 11}]
    assert [r.prediction for r in records] == [*singles, *batch]
    assert [r.time for r in records] == sorted(r.time for r in records)
    assert all(r.key.endswith(f"/{r.id}.json") and r.id.startswith("ts-") for r in records)
    assert records[0].datetime.timestamp() == pytest.approx(time.time(), abs=60)


def test_records_written_by_the_servers_background_recorder(s3, tmp_path):
    recorder = BackgroundRecorder(BUCKET, writers=4)
    p = predictor(tmp_path, recorder=recorder)
    p.batch_invoke([{"x": i} for i in range(6)])
    p.invoke({"x": 6})
    recorder.close(20)
    records = list(read_records(S3FOLDER, MODEL_VERSION, layout="object"))
    assert sorted(r.input["x"] for r in records) == list(range(7))
    assert all(value(r) == {"y": 2 * r.input["x"]} for r in records)


def test_plugin_parts_and_a_models_own_ids_are_recovered(s3, tmp_path):
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(RegionPlugin(), name="region")
    p = predictor(tmp_path, pm=pm)
    p.batch_invoke([{"x": 1}, {"x": 2}])
    own = predictor(tmp_path, cls=CustomerIds)
    own.invoke({"x": 7})
    ids = [r.id for r in reader().records()]
    assert len(ids) == 3
    assert ids[0].startswith("customer-c007--ts-")  # key order: "c" before "t"
    assert [i.split("--region-")[1] for i in ids[1:]] == ["eu_1--note-a--b ü", "eu_2--note-a--b ü"]
    # The model's id has its time after another pair: the reader still finds it.
    assert reader().refs().__next__().time is not None


def test_time_filters_use_the_key_names_without_reading(s3):
    for i in range(10):
        put_object_record(s3, f"ts-{utc_timestamp(BASE + i)}--uuid-{i}", {"x": i}, i, BASE + i)
    r = reader()
    refs = list(r.refs(since=BASE + 3, until=BASE + 7))
    assert [ref.id[-1] for ref in refs] == ["3", "4", "5", "6"]
    assert r.stats.objects_read == 0
    records = list(r.records(since=posix_time(BASE + 3), until=BASE + 7))
    assert [rec.input["x"] for rec in records] == [3, 4, 5, 6]
    assert r.stats.objects_read == 4


def test_ids_without_a_time_are_filtered_by_their_predictions_timestamp(s3):
    for i in range(4):
        put_object_record(s3, f"customer-{i}", {"x": i}, i, BASE + 100 * i)
    put_object_record(s3, f"ts-{utc_timestamp(BASE + 150)}--uuid-u", {"x": 9}, 9, BASE + 150)
    r = reader()
    assert [ref.id for ref in r.refs(since=BASE + 50, until=BASE + 250)] == [
        "customer-1",
        "customer-2",
        "ts-2026-12-01T10:47:39.250000--uuid-u",
    ]
    assert r.stats.objects_read == 4  # the customer records, not the one named with its time
    assert [ref.time for ref in reader().refs()][:2] == [None, None]  # no filter: not read


@pytest.mark.slow
def test_limit_and_pagination_past_1000_keys_in_constant_memory(s3, tmp_path):
    recorder = BackgroundRecorder(BUCKET, writers=16)
    p = predictor(tmp_path, recorder=recorder)
    for start in range(0, 1050, 150):
        p.batch_invoke([{"x": i} for i in range(start, start + 150)])
    recorder.close(60)
    r = reader(layout="object", workers=4, window=6)
    xs = [rec.input["x"] for rec in r.records()]
    assert sorted(xs) == list(range(1050))
    assert r.stats.list_requests >= 2 and r.stats.keys_listed == 1050
    # Instrumentation: never more than a page of keys nor `window` objects held at once.
    assert r.stats.peak_page == 1000
    assert r.stats.peak_in_flight == 6 and r.stats.windows[0].submitted == 1050
    limited = reader(workers=4, window=6)
    assert len(list(limited.records(limit=25))) == 25
    assert limited.stats.objects_read <= 25 + 6


# -- the capture layout ------------------------------------------------------------------


def test_capture_files_read_back_every_body_type(s3, tmp_path):
    p = predictor(tmp_path, record=False)
    requests = [
        Request(p, b'{"x": 1}', "application/json"),
        Request(p, b'{"instances": [{"x": 2}, {"x": 3}]}', "application/json"),
        Request(p, b'{"x": 4}\n{"x": 5}\n', "application/jsonlines", "application/jsonlines"),
    ]
    put_capture(s3, [(BASE + i, f"e{i}", req) for i, req in enumerate(requests)])
    records = list(reader().records())
    assert [r.input for r in records] == [{"x": n} for n in range(1, 6)]
    assert [value(r) for r in records] == [{"y": 2 * n} for n in range(1, 6)]
    assert [r.id for r in records] == [
        "ts-2026-12-01T10:45:09.250000--uuid-e0",
        "ts-2026-12-01T10:45:10.250000--uuid-e1--i-0",
        "ts-2026-12-01T10:45:10.250000--uuid-e1--i-1",
        "ts-2026-12-01T10:45:11.250000--uuid-e2--i-0",
        "ts-2026-12-01T10:45:11.250000--uuid-e2--i-1",
    ]
    assert reader().layouts() == ["capture"]


def test_capture_stored_ids_keep_plugin_parts_and_a_models_own_ids(s3, tmp_path):
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(RegionPlugin(), name="region")
    p = predictor(tmp_path, pm=pm, record=False)
    own = predictor(tmp_path, cls=CustomerIds, record=False)
    batch = Request(p, b'{"instances": [{"x": 1}, {"x": 2}]}', "application/json").with_ids_of(p)
    single = Request(own, b'{"x": 42}', "application/json").with_ids_of(own)
    put_capture(s3, [(BASE, "e1", batch), (BASE + 1, "e2", single)])
    ids = [r.id for r in reader().records()]
    assert ids == [*batch.ids, *single.ids]
    assert "--region-eu_1--note-a--b ü" in ids[0] and ids[2].startswith("customer-c042--ts-")


def test_capture_time_filters_list_only_the_hours_asked_for(s3, tmp_path):
    p = predictor(tmp_path, record=False)
    for hour in range(5):
        when = BASE + hour * 3600
        put_capture(s3, [(when + s, f"h{hour}s{s}", Request(p, b'{"x": 1}', "application/json"))
                         for s in (0, 1200)])  # fmt: skip
    r = reader()
    since, until = BASE + 3600 + 600, BASE + 3 * 3600 + 600
    records = list(r.records(since=since, until=until))
    assert [rec.id.split("--uuid-")[1] for rec in records] == ["h1s1200", "h2s0", "h2s1200", "h3s0"]
    # Listed from hour 1 (hour 0 never comes back from S3) up to the first file past hour 3.
    # Requests: one per layout to detect it, the variants, one page of files.
    assert r.stats.keys_listed == 4 and r.stats.list_requests == 4
    assert r.stats.objects_read == 3


def test_variants_merge_by_time_and_layouts_merge_by_time(s3, tmp_path):
    p = predictor(tmp_path, record=False)
    put_capture(s3, [(BASE + 2, "a2", Request(p, b'{"x": 2}', "application/json"))], variant="A")
    put_capture(s3, [(BASE + 1, "b1", Request(p, b'{"x": 1}', "application/json"))], variant="B")
    put_capture(s3, [(BASE + 4, "b4", Request(p, b'{"x": 4}', "application/json"))], variant="B")
    put_object_record(s3, f"ts-{utc_timestamp(BASE + 3)}--uuid-o3", {"x": 3}, 6, BASE + 3)
    r = reader()
    assert r.layouts() == ["object", "capture"]
    assert [rec.input["x"] for rec in r.records()] == [1, 2, 3, 4]
    assert [ref.id[-2:] for ref in reader().refs()] == ["b1", "a2", "o3", "b4"]
    assert [rec.input["x"] for rec in reader(layout="capture").records()] == [1, 2, 4]


def test_capture_reading_holds_a_bounded_window_of_files(s3, tmp_path, monkeypatch):
    monkeypatch.setattr(reader_module, "PAGE_SIZE", 7)  # several pages without 1,000 files
    p = predictor(tmp_path, record=False)
    request = Request(p, b'{"instances": [{"x": 1}, {"x": 2}, {"x": 3}]}', "application/json")
    for i in range(30):
        put_capture(s3, [(BASE + i, f"e{i}", request)])
    r = reader(workers=2, window=3)
    records = list(r.records())
    assert len(records) == 90 and [rec.time for rec in records] == sorted(
        rec.time for rec in records
    )
    assert r.stats.peak_page == 7 and r.stats.peak_in_flight == 3
    assert r.stats.windows[0].submitted == 30
    limited = reader(workers=2, window=3)
    assert [rec.id.split("--uuid-")[1] for rec in limited.records(limit=4)] == [
        "e0--i-0",
        "e0--i-1",
        "e0--i-2",
        "e1--i-0",
    ]
    assert limited.stats.objects_read <= 2 + 3
    # Large files: the window is bounded by their bytes as well.
    sizes = [o["Size"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="proj/")["Contents"]]
    by_bytes = reader(workers=2, window=10, window_bytes=int(max(sizes) * 2.5))
    assert len(list(by_bytes.records())) == 90
    assert by_bytes.stats.peak_in_flight == 3
    assert by_bytes.stats.peak_bytes_in_flight <= 3 * max(sizes)
