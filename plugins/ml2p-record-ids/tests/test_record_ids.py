"""ml2p-record-ids through a real plugin manager, predictor and S3 (moto over HTTP)."""

from __future__ import annotations

import json
import logging
import re

import pytest
from ml2p_record_ids import fields

from ml2p import lifecycle
from ml2p.core import ModelPredictor
from ml2p.errors import PluginError

BUCKET = "record-ids-test"
PREFIX = "proj/predictions/model-1-2-3/"
TS_UUID = (
    r"ts-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?"
    r"--uuid-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
)


class Predictor(ModelPredictor):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.setup_calls = 0

    def setup(self):
        self.setup_calls += 1

    def result(self, data):
        return {"score": len(json.dumps(data))}


def keys(s3):
    found = s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])
    return sorted(obj["Key"] for obj in found)


# --- bad configuration ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("customer..id", "bad field name 'customer..id'"),
        ("a/b", "bad field name 'a/b'"),
        (".hidden", "bad field name '.hidden'"),
        ("customer.", "bad field name 'customer.'"),
        ("first name", "bad field name 'first name'"),
        ("x" * 65, "at most 64 characters"),
        ("ts", "would replace the record id's 'ts' part"),
        ("customer.id,customer_id", "gives the key 'customer_id' twice"),
        (",".join(f"f{i}" for i in range(9)), "at most 8 fields, got 9"),
    ],
)
def test_bad_fields_fail_setup_naming_the_variable(env, pm, monkeypatch, raw, expected):
    monkeypatch.setenv(fields.FIELDS_ENV, raw)
    predictor = Predictor(env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        lifecycle.setup(predictor)
    assert str(info.value).startswith(f"plugin 'ml2p-record-ids': ML2P_RECORD_ID_FIELDS={raw!r}")
    assert expected in str(info.value)
    assert predictor.setup_calls == 0  # failed before the model loaded


def test_bad_fields_fail_recording_naming_the_variable(env, pm, monkeypatch, s3):
    monkeypatch.setenv(fields.FIELDS_ENV, "a//b")
    with pytest.raises(PluginError, match="ML2P_RECORD_ID_FIELDS"):
        Predictor(env, plugin_manager=pm).invoke({"a": 1})
    assert keys(s3) == []


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("../../etc/passwd", "contains '/'"),
        ("a/b", "contains '/'"),
        ("a\\b", "contains '/'"),
        ("..", "contains '/'"),
        ("abc\n", "control characters"),
        ("abc\x00", "control characters"),
        ("abc\u202edef", "control characters"),
        ("x" * 65, "longer than 64"),
        ("", "empty"),
    ],
)
def test_hostile_values_are_left_out_and_logged_once(env, pm, monkeypatch, s3, caplog, value, why):
    fields._warned.clear()
    monkeypatch.setenv(fields.FIELDS_ENV, "customer_id")
    predictor = Predictor(env, plugin_manager=pm)
    with caplog.at_level(logging.WARNING, logger="ml2p.record_ids"):
        predictor.invoke({"customer_id": value})
        predictor.invoke({"customer_id": value})
    [key_a, key_b] = keys(s3)
    for key in (key_a, key_b):
        assert re.fullmatch(re.escape(PREFIX) + TS_UUID + r"\.json", key), key
    warnings = [r.getMessage() for r in caplog.records if r.name == "ml2p.record_ids"]
    assert len(warnings) == 1
    assert why in warnings[0] and "'customer_id'" in warnings[0]
    if len(value) > 2:
        assert value not in warnings[0]  # untrusted input is not logged


# --- recorded invocations ----------------------------------------------------


def test_nested_field_is_added_to_the_s3_key(env, pm, monkeypatch, s3):
    monkeypatch.setenv(fields.FIELDS_ENV, "customer.id, region")
    predictor = Predictor(env, plugin_manager=pm)
    datum = {"customer": {"id": 42}, "region": "eu-west-1", "x": 1}
    out = predictor.invoke(datum)
    [key] = keys(s3)
    assert re.fullmatch(
        re.escape(PREFIX) + TS_UUID + r"--customer_id-42--region-eu-west-1\.json", key
    ), key
    body = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert body == {"input": datum, "result": out}


def test_missing_and_non_scalar_fields_are_skipped(env, pm, monkeypatch, s3):
    monkeypatch.setenv(fields.FIELDS_ENV, "customer.id,segment,score")
    predictor = Predictor(env, plugin_manager=pm)
    predictor.invoke({"customer": {"name": "no id"}, "segment": None, "score": 0.5})
    predictor.invoke({"customer": "not an object", "segment": ["a"], "score": float("nan")})
    predictor.invoke(["not", "an", "object"])
    found = keys(s3)
    assert len(found) == 3
    assert sum(k.endswith("--score-0.5.json") for k in found) == 1
    assert sum(bool(re.fullmatch(re.escape(PREFIX) + TS_UUID + r"\.json", k)) for k in found) == 2


def test_each_datum_of_a_batch_gets_its_own_id(env, pm, monkeypatch, s3):
    monkeypatch.setenv(fields.FIELDS_ENV, "customer_id")
    predictor = Predictor(env, plugin_manager=pm)
    predictor.batch_invoke([{"customer_id": f"c{i}"} for i in range(5)])
    found = keys(s3)
    assert sorted(re.search(r"--customer_id-(c\d)\.json$", k).group(1) for k in found) == [
        f"c{i}" for i in range(5)
    ]


def test_unset_variable_adds_nothing(env, pm, s3):
    Predictor(env, plugin_manager=pm).invoke({"customer_id": 7})
    [key] = keys(s3)
    assert re.fullmatch(re.escape(PREFIX) + TS_UUID + r"\.json", key), key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("John Smith", "John_Smith"),
        ("a--b---c", "a-b-c"),
        ("-lead", None),
        ("trail-", None),
        ("in-side", "in-side"),
        ("user@example.com", "user@example.com"),
        ("é", "_"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, None),
        (12, "12"),
        (1.25, "1.25"),
        (float("inf"), None),
        ({"id": 1}, None),
        (None, None),
        ("---", None),
    ],
)
def test_value_conversion(value, expected):
    field = fields.parse_fields("v")[0]
    assert fields.safe_value(field, value) == expected


def test_keys_from_names():
    parsed = fields.parse_fields(" customer.id ,,account-no,")
    assert [(f.name, f.path, f.key) for f in parsed] == [
        ("customer.id", ("customer", "id"), "customer_id"),
        ("account-no", ("account-no",), "account_no"),
    ]
