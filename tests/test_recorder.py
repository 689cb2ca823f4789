"""The background invocation recorder against a real S3 API (moto server mode)."""

from __future__ import annotations

import json
import logging
import os
import random
import stat
import subprocess
import sys
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
from ml2p.serving.spill import DiskSpill, Put
from tests.conftest import AWS_TEST_ENV, moto_url, reset_moto, start_moto
from tests.fault_support import wait_for
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


def test_full_queue_spills_at_once_while_s3_fails(dead_endpoint, caplog):
    lines = Lines()
    recorder = BackgroundRecorder(
        "ml2p-test", queue_size=2, writers=1, put_wait=5, backoff_base=0.05, log=lines
    )
    items = records(4)
    try:
        for key, body in items[:3]:
            recorder.record(key, body)
        # The writer holds one record (failing), the queue two.
        assert wait_for(lambda: recorder.failures > 0 and recorder.pending == 3, 10)
        started = time.monotonic()
        recorder.record(*items[3])
        waited = time.monotonic() - started
        # No wait for room that S3 cannot make: the record spills (to the log here).
        assert waited < 1
        assert lines.records() == [items[3]] and recorder.unwritten == 1
        assert recorder.stats()["s3"] == "failing"
    finally:
        recorder.close(timeout=0.2)
    assert recorder.unwritten == 4 and recorder.written == 0
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


# -- spilling and holding ------------------------------------------------------------


@pytest.mark.parametrize(
    "env,name",
    [
        ({"ML2P_RECORD_SPILL": "s3"}, "ML2P_RECORD_SPILL"),
        ({"ML2P_RECORD_QUEUE_WAIT": "-1"}, "ML2P_RECORD_QUEUE_WAIT"),
        ({"ML2P_RECORD_QUEUE_WAIT": "soon"}, "ML2P_RECORD_QUEUE_WAIT"),
    ],
)
def test_bad_spill_settings_name_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        recorder_from_environ("bucket", env)


def test_an_unusable_spill_folder_fails_start_up_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {"ML2P_RECORD_SPILL_DIR": str(blocker / "spill")}
    with pytest.raises(ConfigError, match=r"ML2P_RECORD_SPILL_DIR=.*a-file"):
        recorder_from_environ("bucket", env)


def test_spill_files_are_private_and_keep_keys(tmp_path):
    spill = DiskSpill(str(tmp_path), "ml2p-test")
    items = records(3)
    assert spill.put([Put(k, b) for k, b in items]) == 3
    [name] = os.listdir(spill.folder)
    assert name.startswith(f"{os.getpid()}-")
    assert stat.S_IMODE(os.stat(os.path.join(spill.folder, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spill.folder).st_mode) == 0o700
    assert spill.pending == 3
    taken = spill.take(2) + spill.take(2)
    assert [(p.key, p.body) for p in taken] == items and spill.pending == 0
    assert os.listdir(spill.folder) == []


def test_spill_files_of_a_dead_process_are_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "ml2p-test"
    folder.mkdir()
    key, body = records(1)[0]
    line = {"key": key, "type": "application/json", "records": 1, "body": body.decode()}
    (folder / f"{dead.pid}-000003.jsonl").write_text(json.dumps(line) + "\n" + '{"key": "cut sh')
    spill = DiskSpill(str(tmp_path), "ml2p-test")
    assert spill.pending == 1
    assert [(p.key, p.body) for p in spill.take(5)] == [(key, body)]
    assert spill.take(5) == [] and spill.pending == 0


def test_spilled_records_reach_s3_when_it_is_back_under_the_same_keys(tmp_path, s3, aws):
    from tests.tcp_proxy import TcpProxy

    with TcpProxy.to_url(aws) as proxy:
        proxy.set_mode("refuse")
        spill = DiskSpill(str(tmp_path), "ml2p-test")
        recorder = BackgroundRecorder(
            "ml2p-test", client=s3_client(proxy.url), writers=2, queue_size=2, spill=spill
        )
        items = records(12)
        try:
            for key, body in items:
                recorder.record(key, body)
            assert wait_for(lambda: spill.pending >= 8, 10)
            assert recorder.stats()["on_disk"] == spill.pending
            assert recorder.spilled >= 8 and keys_under(s3) == []
            proxy.set_mode("forward")
            assert wait_for(lambda: len(keys_under(s3)) == 12, 30)
        finally:
            recorder.close(timeout=10)
    assert sorted(keys_under(s3)) == sorted(k for k, _ in items)
    assert recorder.written == 12 and recorder.unwritten == 0 and spill.pending == 0


def test_held_records_are_kept_only_when_committed(s3, aws):
    from tests.tcp_proxy import TcpProxy

    with TcpProxy.to_url(aws) as proxy:
        proxy.set_mode("refuse")
        lines = Lines()
        recorder = BackgroundRecorder(
            "ml2p-test", client=s3_client(proxy.url), queue_size=2, writers=1, log=lines
        )
        first, kept, dropped, late = records(1), records(2), records(2), records(1)
        try:
            recorder.record(*first[0])
            # The writer holds it, retrying: the queue's 2 places are free.
            assert wait_for(lambda: recorder.failures > 0, 10)
            held = recorder.hold()
            recorder.record_many(kept)
            recorder.unhold()
            assert recorder.pending == 1 and held.count == 2
            recorder.admit(held)
            other = recorder.hold()
            recorder.record_many(dropped)
            recorder.unhold()
            recorder.admit(other)  # no place left, and S3 fails: no wait
            assert held.reserved and not other.reserved
            recorder.discard(other, "the caller was gone")
            recorder.commit(held)
            assert recorder.pending == 3 and recorder.discarded == 2
            # Made outside a hold: queued (or, the queue being full, spilled) at once.
            recorder.record(*late[0])
            assert lines.records() == late and recorder.unwritten == 1
            proxy.set_mode("forward")
            assert wait_for(lambda: recorder.written == 3, 20)
        finally:
            recorder.close(timeout=10)
    assert sorted(keys_under(s3)) == sorted(k for k, _ in first + kept)
