"""The background invocation recorder against a real S3 API (moto server mode)."""

from __future__ import annotations

import json
import logging
import random
import threading
import time

import boto3
import pytest

from ml2p.errors import ConfigError
from ml2p.serving.recorder import (
    UNWRITTEN_MARK,
    BackgroundRecorder,
    batch_line,
    recorder_from_environ,
)
from tests.conftest import AWS_TEST_ENV, moto_url, reset_moto, start_moto
from tests.serving_support import free_port

PREFIX = "proj/predictions/mv-1/"


def s3_client(url):
    from botocore.config import Config

    return boto3.client(
        "s3",
        config=Config(
            retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2, read_timeout=2
        ),
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def records(n):
    out = []
    for _ in range(n):
        x = random.randint(0, 10**9)
        key = f"{PREFIX}ts-{time.time()}--uuid-{random.getrandbits(64):x}.json"
        out.append((key, json.dumps({"input": {"x": x}, "result": {"y": 2 * x}}).encode()))
    return out


def keys_under(client, prefix=PREFIX):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="ml2p-test", Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


class Lines:
    """Collects what the recorder logs as unwritten."""

    def __init__(self):
        self.lines = []

    def __call__(self, line):
        self.lines.append(line)

    def records(self):
        out = []
        for line in self.lines:
            mark, _, payload = line.partition(" ")
            assert mark == UNWRITTEN_MARK
            data = json.loads(payload)
            out.append((data["key"], data["body"].encode()))
        return out


@pytest.fixture
def dead_endpoint(monkeypatch):
    """AWS settings pointing at a port where nothing listens: every S3 call fails fast."""
    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    return url


# -- bad input ------------------------------------------------------------


def test_unknown_layout_is_rejected():
    with pytest.raises(ConfigError, match="layout"):
        BackgroundRecorder("bucket", layout="sharded")


@pytest.mark.parametrize(
    "env,name",
    [
        ({"ML2P_RECORD_LAYOUT": "csv"}, "ML2P_RECORD_LAYOUT"),
        ({"ML2P_RECORD_BATCH_SIZE": "many"}, "ML2P_RECORD_BATCH_SIZE"),
        ({"ML2P_RECORD_BATCH_SECONDS": "-1"}, "ML2P_RECORD_BATCH_SECONDS"),
    ],
)
def test_bad_environment_names_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        recorder_from_environ("bucket", env)


def test_unwritten_records_are_logged_whole_and_counted(dead_endpoint, caplog):
    recorder = BackgroundRecorder("ml2p-test", backoff_base=0.01, writers=2)
    items = records(3)
    for key, body in items:
        recorder.record(key, body)
    with caplog.at_level(logging.ERROR, logger="ml2p.serving.recorder"):
        recorder.close(timeout=0.5)
    assert recorder.unwritten == 3 and recorder.written == 0
    logged = []
    for rec in caplog.records:
        msg = rec.getMessage()
        if msg.startswith(UNWRITTEN_MARK):
            assert "\n" not in msg
            data = json.loads(msg[len(UNWRITTEN_MARK) + 1 :])
            logged.append((data["key"], data["body"].encode()))
    assert sorted(logged) == sorted(items)


def test_record_after_close_is_logged_not_lost(dead_endpoint):
    lines = Lines()
    recorder = BackgroundRecorder("ml2p-test", log=lines)
    recorder.close(timeout=0.1)
    items = records(2)
    for key, body in items:
        recorder.record(key, body)
    assert lines.records() == items and recorder.unwritten == 2


def test_full_queue_blocks_for_a_bounded_time_then_logs(dead_endpoint, caplog):
    lines = Lines()
    recorder = BackgroundRecorder(
        "ml2p-test", queue_size=2, writers=1, put_wait=0.4, backoff_base=0.05, log=lines
    )
    items = records(4)
    try:
        with caplog.at_level(logging.WARNING, logger="ml2p.serving.recorder"):
            for key, body in items[:3]:
                recorder.record(key, body)
            deadline = time.monotonic() + 5
            while recorder.pending < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            # The writer holds one record, the queue two: the next put must wait.
            started = time.monotonic()
            recorder.record(*items[3])
            waited = time.monotonic() - started
        assert waited >= 0.4
        assert "queue is full" in caplog.text
        assert lines.records() == [items[3]] and recorder.unwritten == 1
    finally:
        recorder.close(timeout=0.2)
    assert recorder.unwritten == 4
    assert sorted(lines.records()) == sorted(items)


def test_batch_line_adds_the_record_id():
    key = f"{PREFIX}ts-2024--uuid-abc.json"
    line = json.loads(batch_line(key, b'{"input": {"x": 1}, "result": 2}'))
    assert line == {"id": "ts-2024--uuid-abc", "input": {"x": 1}, "result": 2}
    assert json.loads(batch_line(key, b"{}")) == {"id": "ts-2024--uuid-abc"}
    assert json.loads(batch_line(key, b"[1]")) == {"id": "ts-2024--uuid-abc", "body": [1]}


# -- writing ----------------------------------------------------------------


def test_object_layout_writes_one_object_per_record(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", writers=3)
    items = records(random.randint(20, 40))
    for key, body in items:
        recorder.record(key, body)
    recorder.close(timeout=20)
    assert recorder.written == len(items) and recorder.unwritten == 0
    assert sorted(keys_under(s3)) == sorted(k for k, _ in items)
    key, body = items[0]
    assert s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read() == body


def test_batched_layout_writes_by_count(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="batched", batch_size=10, batch_seconds=60)
    items = records(25)
    for key, body in items:
        recorder.record(key, body)
    recorder.close(timeout=20)
    keys = keys_under(s3)
    assert all(k.startswith(PREFIX + "batches/") and k.endswith(".jsonl") for k in keys)
    sizes = []
    seen = {}
    for k in keys:
        lines = s3.get_object(Bucket="ml2p-test", Key=k)["Body"].read().splitlines()
        sizes.append(len(lines))
        for line in lines:
            rec = json.loads(line)
            seen[rec.pop("id")] = rec
    assert sorted(sizes) == [5, 10, 10]
    expected = {k[len(PREFIX) : -len(".json")]: json.loads(b) for k, b in items}
    assert seen == expected
    assert recorder.written == 25


def test_batched_layout_writes_by_age_without_close(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="batched", batch_size=1000, batch_seconds=0.3)
    try:
        for key, body in records(4):
            recorder.record(key, body)
        deadline = time.monotonic() + 5
        while not keys_under(s3) and time.monotonic() < deadline:
            time.sleep(0.05)
        keys = keys_under(s3)
        assert len(keys) == 1
        body = s3.get_object(Bucket="ml2p-test", Key=keys[0])["Body"].read()
        assert len(body.splitlines()) == 4
    finally:
        recorder.close(timeout=5)


def test_record_returns_at_once_while_s3_is_down(dead_endpoint):
    recorder = BackgroundRecorder("ml2p-test")
    started = time.monotonic()
    for key, body in records(50):
        recorder.record(key, body)
    assert time.monotonic() - started < 0.5
    recorder.close(timeout=0.2)


@pytest.mark.parametrize("layout", ["object", "batched"])
def test_retries_through_an_outage_until_written(layout):
    moto = start_moto()
    url = moto_url(moto)
    port = int(url.rsplit(":", 1)[1])
    try:
        reset_moto(url)
        client = s3_client(url)
        client.create_bucket(Bucket="ml2p-test")
        recorder = BackgroundRecorder(
            "ml2p-test", client=s3_client(url), layout=layout, batch_seconds=0.2, backoff_base=0.05
        )
        moto.stop()
        items = records(15)
        threads = [threading.Thread(target=recorder.record, args=item) for item in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        deadline = time.monotonic() + 10
        while recorder.failures == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert recorder.failures > 0 and recorder.written == 0
        moto = start_moto(port)
        recorder.close(timeout=20)
        assert recorder.unwritten == 0 and recorder.written == len(items)
        if layout == "object":
            assert sorted(keys_under(client)) == sorted(k for k, _ in items)
        else:
            lines = [
                json.loads(line)
                for k in keys_under(client)
                for line in client.get_object(Bucket="ml2p-test", Key=k)["Body"].read().splitlines()
            ]
            assert sorted(r["input"]["x"] for r in lines) == sorted(
                json.loads(b)["input"]["x"] for _, b in items
            )
    finally:
        moto.stop()
