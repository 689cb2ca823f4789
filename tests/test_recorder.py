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
from ml2p.recording import Destination, Record
from ml2p.records import read_records
from ml2p.records.capture import parse_line
from ml2p.serving.record_encoding import Put
from ml2p.serving.recorder import UNWRITTEN_MARK, BackgroundRecorder, recorder_from_environ
from ml2p.serving.spill import DiskSpill
from tests.conftest import AWS_TEST_ENV, moto_url, reset_moto, start_moto
from tests.fault_support import wait_for
from tests.serving_support import free_port

S3FOLDER = "s3://ml2p-test/proj/"
DEST = Destination("ml2p-test", "proj/", "mv-1")
PREFIX = DEST.object_folder
LAYOUTS = ["object", "capture"]


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


_next = [0]


def records(n, size=1, named=False):
    """``n`` records of ``size`` data each, ``{"x": <distinct number>}``; with ids if ``named``."""
    out = []
    for _ in range(n):
        xs = []
        for _ in range(size):
            _next[0] += 1
            xs.append(_next[0])
        ids = [{"rec": f"x{x}", "n": random.getrandbits(32)} for x in xs] if named else None
        inputs = [{"x": x} for x in xs]
        predictions = [{"metadata": {"m": 1}, "result": {"y": 2 * x}} for x in xs]
        out.append(Record(DEST, inputs, predictions, batch=size > 1, ids=ids, whole=True))
    return out


def xs_of(items):
    return sorted(datum["x"] for record in items for datum in record.inputs)


def keys_under(client, prefix=PREFIX):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="ml2p-test", Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def stored_xs(client, layout="auto"):
    """Every stored datum's x, read back with ml2p.records (both layouts)."""
    found = [r.input["x"] for r in read_records(S3FOLDER, "mv-1", layout=layout, client=client)]
    return sorted(found)


class Lines:
    """Collects what the recorder logs as unwritten."""

    def __init__(self):
        self.lines = []

    def __call__(self, line):
        self.lines.append(line)

    def entries(self):
        out = []
        for line in self.lines:
            mark, _, payload = line.partition(" ")
            assert mark == UNWRITTEN_MARK
            out.append(json.loads(payload))
        return out

    def xs(self):
        """The x of every datum logged, whichever the layout."""
        found = []
        for entry in self.entries():
            if entry["key"].endswith(".jsonl"):
                found.extend(datum["x"] for _, datum, _ in parse_line(entry["body"]))
            else:
                found.append(json.loads(entry["body"])["input"]["x"])
        return sorted(found)


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
    with pytest.raises(ConfigError, match="layout 'sharded' is not one of object, capture"):
        BackgroundRecorder("bucket", layout="sharded")


def test_the_batched_layout_is_refused_saying_to_use_capture():
    with pytest.raises(ConfigError, match="'batched' is no longer supported: use 'capture'"):
        BackgroundRecorder("bucket", layout="batched")
    with pytest.raises(ConfigError, match=r"ML2P_RECORD_LAYOUT 'batched' .* use 'capture'"):
        recorder_from_environ("bucket", {"ML2P_RECORD_LAYOUT": "batched"})


@pytest.mark.parametrize(
    "env,name",
    [
        ({"ML2P_RECORD_LAYOUT": "csv"}, "ML2P_RECORD_LAYOUT"),
        ({"ML2P_RECORD_BATCH_SIZE": "many"}, "ML2P_RECORD_BATCH_SIZE"),
        ({"ML2P_RECORD_BATCH_SIZE": "1.5"}, "ML2P_RECORD_BATCH_SIZE"),
        ({"ML2P_RECORD_BATCH_SECONDS": "-1"}, "ML2P_RECORD_BATCH_SECONDS"),
        ({"ML2P_RECORD_BATCH_BYTES": "0"}, "ML2P_RECORD_BATCH_BYTES"),
        ({"ML2P_RECORD_QUEUE_BYTES": "0"}, "ML2P_RECORD_QUEUE_BYTES"),
        ({"ML2P_RECORD_WRITERS": "0"}, "ML2P_RECORD_WRITERS"),
    ],
)
def test_bad_environment_names_the_variable(env, name):
    with pytest.raises(ConfigError, match=name):
        recorder_from_environ("bucket", env)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unwritten_records_are_logged_whole_and_counted(dead_endpoint, caplog, layout):
    recorder = BackgroundRecorder("ml2p-test", layout=layout, backoff_base=0.01, writers=2)
    items = records(2) + records(1, size=3)
    for record in items:
        recorder.record(record)
    with caplog.at_level(logging.ERROR, logger="ml2p.serving.recorder"):
        recorder.close(timeout=0.5)
    assert recorder.unwritten == 5 and recorder.written == 0
    lines = Lines()
    for rec in caplog.records:
        msg = rec.getMessage()
        if msg.startswith(UNWRITTEN_MARK):
            assert "\n" not in msg
            lines(msg)
    assert lines.xs() == xs_of(items)


def test_record_after_close_is_logged_not_lost(dead_endpoint):
    lines = Lines()
    recorder = BackgroundRecorder("ml2p-test", log=lines)
    recorder.close(timeout=0.1)
    items = records(2, named=True)
    for record in items:
        recorder.record(record)
    assert [e["key"] for e in lines.entries()] == [DEST.object_key(r.ids[0]) for r in items]
    assert lines.xs() == xs_of(items) and recorder.unwritten == 2


def test_full_queue_spills_at_once_while_s3_fails(dead_endpoint):
    lines = Lines()
    recorder = BackgroundRecorder(
        "ml2p-test", queue_size=2, writers=1, queue_wait=60, backoff_base=0.05, log=lines
    )
    items = records(4)
    try:
        for record in items[:3]:
            recorder.record(record)
        # The writer holds one record (failing), the queue two.
        assert wait_for(lambda: recorder.failures > 0 and recorder.pending == 3, 10)
        started = time.monotonic()
        recorder.record(items[3])
        waited = time.monotonic() - started
        # No wait for room that S3 cannot make: the record spills (to the log here)
        # long before the 60 s a record may wait for room.
        assert waited < 30
        assert lines.xs() == xs_of(items[3:]) and recorder.unwritten == 1
        assert recorder.stats()["s3"] == "failing"
    finally:
        recorder.close(timeout=0.2)
    assert recorder.unwritten == 4 and recorder.written == 0
    assert lines.xs() == xs_of(items)


# -- writing ----------------------------------------------------------------


def test_object_layout_writes_one_object_per_datum(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", writers=3)
    items = records(random.randint(5, 15), named=True) + records(3, size=7, named=True)
    for record in items:
        recorder.record(record)
    recorder.close(timeout=20)
    count = len(xs_of(items))
    assert recorder.written == count and recorder.unwritten == 0
    expected = [DEST.object_key(parts) for record in items for parts in record.ids]
    assert sorted(keys_under(s3)) == sorted(expected)
    first = items[-1]
    body = s3.get_object(Bucket="ml2p-test", Key=DEST.object_key(first.ids[2]))["Body"].read()
    assert body == json.dumps({"input": first.inputs[2], "result": first.predictions[2]}).encode()


def capture_files(client):
    keys = keys_under(client, DEST.capture_folder)
    assert keys and all(k.endswith(".jsonl") for k in keys)
    return {k: client.get_object(Bucket="ml2p-test", Key=k)["Body"].read() for k in keys}


def test_capture_layout_writes_files_by_count_never_splitting_a_request(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_size=10, batch_seconds=60)
    items = records(5, size=3) + records(10)
    for record in items:
        recorder.record(record)
    recorder.close(timeout=20)
    files = capture_files(s3)
    # A file holds whole requests (lines), and at most 10 data.
    data_per_file = [sum(len(parse_line(line)) for line in b.splitlines()) for b in files.values()]
    assert len(files) >= 3 and max(data_per_file) <= 10 and sum(data_per_file) == 25
    assert stored_xs(s3, "capture") == xs_of(items) and recorder.written == 25


def test_capture_layout_writes_by_age_without_close(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_seconds=0.3)
    try:
        for record in records(4):
            recorder.record(record)
        assert wait_for(lambda: keys_under(s3, DEST.capture_folder), 5)
        [body] = capture_files(s3).values()
        assert len(body.splitlines()) == 4
    finally:
        recorder.close(timeout=5)


def test_capture_layout_writes_by_bytes(s3, aws):
    recorder = BackgroundRecorder(
        "ml2p-test", layout="capture", batch_bytes=2000, batch_seconds=60, writers=1
    )
    items = records(20)
    for record in items:
        record.inputs[0]["pad"] = "p" * 200
        recorder.record(record)
    recorder.close(timeout=20)
    files = capture_files(s3)
    assert len(files) >= 3
    assert all(len(body) < 2000 + 600 for body in files.values())
    assert stored_xs(s3, "capture") == xs_of(items)


def test_a_capture_file_never_spans_two_hours(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_seconds=60)
    late, early = records(1), records(2)
    early[0].time, early[1].time, late[0].time = 7199.5, 7199.9, 7200.1
    for record in early + late:
        recorder.record(record)
    recorder.close(timeout=20)
    keys = sorted(capture_files(s3))
    assert [k[len(DEST.capture_folder) :][:14] for k in keys] == [
        "1970/01/01/01/",
        "1970/01/01/02/",
    ]
    assert keys[0].endswith(".jsonl") and "/59-59-500-" in keys[0]


@pytest.fixture
def silent_endpoint(monkeypatch):
    """AWS settings pointing at a port that takes connections and never answers."""
    import socket

    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)  # the kernel completes connections; nobody reads them
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
        yield listener


def test_record_does_not_wait_for_s3(silent_endpoint):
    # No wall-clock bound (CI machines are noisy): S3 never answers here, so a
    # record() that waited for its PUT would never return.
    recorder = BackgroundRecorder("ml2p-test", writers=2)
    returned = threading.Event()

    def record_all():
        for record in records(50):
            recorder.record(record)
        returned.set()

    threading.Thread(target=record_all, daemon=True).start()
    try:
        assert returned.wait(30)
        assert recorder.written == 0 and recorder.pending == 50
    finally:
        recorder.close(timeout=0.2)


@pytest.mark.parametrize("layout", LAYOUTS)
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
        items = records(12) + records(2, size=5)
        threads = [threading.Thread(target=recorder.record, args=(r,)) for r in items]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert wait_for(lambda: recorder.failures > 0, 10)
        assert recorder.written == 0
        moto = start_moto(port)
        recorder.close(timeout=20)
        assert recorder.unwritten == 0 and recorder.written == 22
        assert stored_xs(client) == xs_of(items)
    finally:
        moto.stop()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_object_is_encrypted_with_the_kms_key(s3, aws, layout):
    key_id = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    recorder = BackgroundRecorder("ml2p-test", layout=layout, kms_key_id=key_id)
    items = records(3) + records(1, size=4)
    for record in items:
        recorder.record(record)
    recorder.close(timeout=20)
    keys = keys_under(s3, "proj/predictions/")
    assert len(keys) == (7 if layout == "object" else 1)
    for key in keys:
        head = s3.head_object(Bucket="ml2p-test", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"] == key_id, key
    assert stored_xs(s3) == xs_of(items)


def test_without_a_kms_key_objects_carry_no_encryption_header(s3, aws):
    recorder = BackgroundRecorder("ml2p-test")
    recorder.record(records(1)[0])
    recorder.close(timeout=20)
    [key] = keys_under(s3)
    head = s3.head_object(Bucket="ml2p-test", Key=key)
    assert "SSEKMSKeyId" not in head and head.get("ServerSideEncryption") != "aws:kms"


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


def _puts(n):
    return [Put(f"{PREFIX}r{i}.json", json.dumps({"input": {"x": i}}).encode()) for i in range(n)]


def test_spill_files_are_private_and_keep_keys(tmp_path):
    spill = DiskSpill(str(tmp_path), "ml2p-test")
    items = _puts(3)
    assert spill.put(items) == 3
    [name] = os.listdir(spill.folder)
    assert name.startswith(f"{os.getpid()}-")
    assert stat.S_IMODE(os.stat(os.path.join(spill.folder, name)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spill.folder).st_mode) == 0o700
    assert spill.pending == 3
    first, second = spill.take(2), spill.take(2)
    assert first + second == items and spill.pending == 0
    spill.done(first)
    spill.done(second)  # every record taken from the file is stored: it goes
    assert os.listdir(spill.folder) == []


def test_spill_files_of_a_dead_process_are_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = tmp_path / "ml2p-test"
    folder.mkdir()
    [put] = _puts(1)
    line = {"key": put.key, "type": "application/json", "records": 1, "body": put.body.decode()}
    (folder / f"{dead.pid}-000003.jsonl").write_text(json.dumps(line) + "\n" + '{"key": "cut sh')
    spill = DiskSpill(str(tmp_path), "ml2p-test")
    assert spill.pending == 1
    assert spill.take(5) == [put]
    assert spill.take(5) == [] and spill.pending == 0


@pytest.mark.parametrize("layout", LAYOUTS)
def test_spilled_records_reach_s3_when_it_is_back_with_the_same_ids(tmp_path, s3, aws, layout):
    from tests.tcp_proxy import TcpProxy

    with TcpProxy.to_url(aws) as proxy:
        proxy.set_mode("refuse")
        spill = DiskSpill(str(tmp_path), "ml2p-test")
        recorder = BackgroundRecorder(
            "ml2p-test",
            layout=layout,
            client=s3_client(proxy.url),
            writers=2,
            queue_size=2,
            spill=spill,
            batch_seconds=0.2,
        )
        items = records(12, named=True)
        try:
            for record in items:
                recorder.record(record)
            # 2 writers hold a record (object) or a file (capture) each, the queue 2 more.
            assert wait_for(
                lambda: spill.pending >= 6 and spill.pending + recorder.pending == 12, 10
            )
            assert recorder.stats()["on_disk"] == spill.pending
            assert recorder.spilled >= 6 and keys_under(s3, "proj/predictions/") == []
            proxy.set_mode("forward")
            assert wait_for(lambda: stored_xs(s3) == xs_of(items), 30)
        finally:
            recorder.close(timeout=10)
    stored = list(read_records(S3FOLDER, "mv-1", client=s3))
    from ml2p.record_ids import format_record_id

    assert sorted(r.id for r in stored) == sorted(format_record_id(r.ids[0]) for r in items)
    assert recorder.written == 12 and recorder.unwritten == 0 and spill.pending == 0


def _admitted(recorder, record):
    held = recorder.hold()
    recorder.record(record)
    recorder.unhold()
    recorder.admit(held)
    return held


def test_capture_commit_never_waits_for_the_queue_lock(s3, aws):
    # The event loop commits; a writer cutting a batch holds the queue's lock meanwhile.
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_seconds=0.3, writers=1)
    items = records(2)
    try:
        held = [_admitted(recorder, record) for record in items]
        committed = threading.Event()

        def commit_all():
            for one in held:
                recorder.commit(one)
            committed.set()

        with recorder._backlog._lock:
            threading.Thread(target=commit_all).start()
            assert committed.wait(5)
        assert recorder.pending == 2  # counted in as soon as the lock is free
        assert wait_for(lambda: recorder.written == 2, 10)
    finally:
        recorder.close(timeout=5)
    [body] = capture_files(s3).values()
    assert len(body.splitlines()) == 2 and stored_xs(s3, "capture") == xs_of(items)


def test_committed_records_reaching_the_batch_size_are_written_without_waiting_for_age(s3, aws):
    # No request follows the last commit to wake a writer: it looks for them itself.
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_size=5, batch_seconds=60)
    items = records(5)
    try:
        for record in items:
            recorder.commit(_admitted(recorder, record))
        assert wait_for(lambda: recorder.written == 5, 5)
        [body] = capture_files(s3).values()
        assert len(body.splitlines()) == 5
    finally:
        recorder.close(timeout=5)


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
            recorder.record(first[0])
            # The writer holds it, retrying: the queue's 2 places are free.
            assert wait_for(lambda: recorder.failures > 0, 10)
            held = recorder.hold()
            for record in kept:
                recorder.record(record)
            recorder.unhold()
            assert recorder.pending == 1 and held.count == 2
            recorder.admit(held)
            other = recorder.hold()
            for record in dropped:
                recorder.record(record)
            recorder.unhold()
            recorder.admit(other)  # no place left, and S3 fails: no wait
            assert held.reserved and not other.reserved
            recorder.discard(other, "the caller was gone")
            recorder.commit(held)
            assert recorder.pending == 3 and recorder.discarded == 2
            # Made outside a hold: queued (or, the queue being full, spilled) at once.
            recorder.record(late[0])
            assert lines.xs() == xs_of(late) and recorder.unwritten == 1
            proxy.set_mode("forward")
            assert wait_for(lambda: recorder.written == 3, 20)
        finally:
            recorder.close(timeout=10)
    assert stored_xs(s3) == xs_of(first + kept)


def test_a_held_request_record_gets_the_bodies_as_they_were(s3, aws):
    recorder = BackgroundRecorder("ml2p-test", layout="capture", batch_seconds=60)
    whole, own = records(1, size=2)[0], records(1)[0]
    own.whole = False
    held = recorder.hold()
    recorder.record(whole)
    recorder.record(own)
    recorder.unhold()
    request = b'{"instances": [{"x": %d}, {"x": %d}]}' % tuple(d["x"] for d in whole.inputs)
    response = b'{"predictions": [1, 2]}'
    held.attach((request, b"application/json; charset=utf-8"), (response, b"application/json"))
    recorder.admit(held)
    recorder.commit(held)
    recorder.close(timeout=20)
    [body] = capture_files(s3).values()
    first, second = (json.loads(line) for line in body.splitlines())
    assert first["captureData"]["endpointInput"]["data"] == request.decode()
    assert first["captureData"]["endpointInput"]["observedContentType"] == (
        "application/json; charset=utf-8"
    )
    assert first["captureData"]["endpointOutput"]["data"] == response.decode()
    # The record made on its own keeps its own datum, encoded as a JSON client sends it.
    own_input = json.loads(second["captureData"]["endpointInput"]["data"])
    assert own_input == own.inputs[0]


def test_the_object_layout_keeps_no_bodies():
    recorder = BackgroundRecorder("ml2p-test", log=Lines())
    [record] = records(1)
    held = recorder.hold()
    recorder.record(record)
    recorder.unhold()
    held.attach((b'{"x": 1}', b"application/json"), (b"{}", b"application/json"))
    # One object per datum is encoded from the data: the bodies would only take memory.
    assert record.request is None and record.response is None
    recorder.discard(held, "a test")
    recorder.close(timeout=0)
