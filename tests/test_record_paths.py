"""Every way a record is made ends in the same records, in both layouts (real server, moto).

A record is made by the library's ``invoke`` and ``batch_invoke``, by a
subclass's ``record_invoke``, with ids from an overridden ``record_invoke_id``
or a plugin's ``ml2p_record_invoke_id``, and by the server; each is read back
from S3 and compared with what the caller received. A capture file written by
the server is also read by a reader written here from SageMaker's published
format (``json`` and ``base64`` only), and the objects of both layouts carry
the KMS key they were given.
"""

from __future__ import annotations

import base64
import calendar
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from ml2p import plugins
from ml2p.core import SageMakerEnv
from ml2p.records import read_records
from tests import recording_models
from tests.fault_support import wait_for
from tests.serving_support import ROOT, Server, free_port, post, request

S3FOLDER = "s3://ml2p-test/proj/"
MODEL_VERSION = "test-model-1-0-0"
LAYOUTS = ["object", "capture"]
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0b3f2e1d-aaaa-4bbb-8ccc-0123456789ab"

TS = r"ts-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
DEFAULT_ID = re.compile(rf"{TS}--uuid-{UUID}")
#: What follows the default id, per way of naming records.
SUFFIX = {
    "default": "",
    "own id": r"--x-\d+",
    "plugin": r"--region-r[01]",
}


def datum(x):
    return {"x": x, "region": f"r{x % 2}"}


# -- the library -----------------------------------------------------------------------


def library_predictor(tmp_path, layout, cls, plugin):
    env = SageMakerEnv(
        tmp_path,
        {
            "ML2P_RECORD_INVOKES": "true",
            "ML2P_S3_URL": S3FOLDER,
            "ML2P_MODEL_VERSION": MODEL_VERSION,
            "ML2P_RECORD_LAYOUT": layout,
        },
    )
    pm = plugins.make_plugin_manager(load_entry_points=False)
    if plugin:
        pm.register(recording_models, name="region")
    p = cls(env, plugin_manager=pm)
    p.factor = 3
    return p


LIBRARY_WAYS = {
    "invoke": (recording_models.ScalePredictor, False, "default"),
    "batch_invoke": (recording_models.ScalePredictor, False, "default"),
    "own record_invoke": (recording_models.OwnRecordInvokePredictor, False, "default"),
    "own record_invoke_id": (recording_models.OwnIdPredictor, False, "own id"),
    "plugin": (recording_models.ScalePredictor, True, "plugin"),
}


def library_calls(p, way):
    """Make the way's records; return (datum, prediction) as the caller received them."""
    if way == "invoke":
        return [(datum(x), p.invoke(datum(x))) for x in (1, 2, 3)]
    data = [datum(x) for x in (4, 5, 6)]
    made = list(zip(data, p.batch_invoke(data)))
    if way != "batch_invoke":
        made += [(datum(1), p.invoke(datum(1)))]
    return made


# -- the server ------------------------------------------------------------------------

SERVER_WAYS = {
    "server": ("tests.recording_models.PlainModel", False, "default"),
    "server, plugin": ("tests.recording_models.PlainModel", True, "plugin"),
    "server, own record_invoke_id": ("tests.recording_models.OwnIdModel", False, "own id"),
    "server, own record_invoke": ("tests.recording_models.OwnRecordInvokeModel", False, "default"),
    "server, own invoke": ("tests.recording_models.OwnInvokeModel", False, "default"),
    "server, own batch_invoke": ("tests.recording_models.OwnBatchInvokeModel", False, "default"),
}
#: The one server way whose capture records are made from the bodies alone: the
#: predictor records as ModelPredictor does, no plugin names records.
FROM_BODIES = "server"


def server_env(aws, layout, **extra):
    env = {
        "ML2P_S3_URL": S3FOLDER,
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_PROJECT": "test-proj",
        "AWS_ENDPOINT_URL": aws,
        "ML2P_RECORD_LAYOUT": layout,
        "ML2P_RECORD_BATCH_SECONDS": "0.2",
    }
    env.update(extra)
    return env


def server_calls(port):
    made = []
    for x in (1, 2, 3):
        resp = post(port, datum(x))
        assert resp.status == 200, resp
        made.append((datum(x), resp.json()))
    data = [datum(x) for x in (4, 5, 6)]
    resp = post(port, {"instances": data})
    assert resp.status == 200, resp
    made += list(zip(data, resp.json()["predictions"]))
    return made


# -- the same records ------------------------------------------------------------------


def check_records(s3, layout, made, naming):
    """The records in S3 are what the callers received, named and keyed as ``naming`` says."""
    records = list(read_records(S3FOLDER, MODEL_VERSION, client=s3))
    by_x = sorted(records, key=lambda r: (r.input["x"], r.id))
    expected = sorted(made, key=lambda pair: pair[0]["x"])
    assert [(r.input, r.prediction) for r in by_x] == expected
    derived = r"(?:--i-\d+)?" if layout == "capture" and naming == "default" else ""
    pattern = re.compile(DEFAULT_ID.pattern + derived + SUFFIX[naming])
    for record in records:
        assert pattern.fullmatch(record.id), record.id
        if naming == "own id":
            assert record.id.endswith(f"--x-{record.input['x']}")
        if naming == "plugin":
            assert record.id.endswith(f"--region-{record.input['region']}")
        if layout == "object":
            assert record.key == f"proj/predictions/{MODEL_VERSION}/{record.id}.json"
            body = s3.get_object(Bucket="ml2p-test", Key=record.key)["Body"].read()
            assert body == json.dumps({"input": record.input, "result": record.prediction}).encode()
        else:
            folder = f"proj/predictions/capture/{MODEL_VERSION}/{MODEL_VERSION}-variant-1/"
            assert record.key.startswith(folder) and record.key.endswith(".jsonl")
    assert len({r.id for r in records}) == len(records)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("way", sorted(LIBRARY_WAYS))
def test_every_library_way_ends_in_the_same_records(tmp_path, s3, aws, layout, way):
    cls, plugin, naming = LIBRARY_WAYS[way]
    cls.calls = 0
    p = library_predictor(tmp_path, layout, cls, plugin)
    made = library_calls(p, way)
    check_records(s3, layout, made, naming)
    if way == "own record_invoke":
        assert cls.calls == len(made)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("way", sorted(SERVER_WAYS))
def test_every_server_way_ends_in_the_same_records(tmp_path, s3, aws, layout, way):
    model, plugin, naming = SERVER_WAYS[way]
    extra = {"ML2P_PROJECT_PLUGINS": "tests.recording_models"} if plugin else {}
    env = server_env(aws, layout, **extra)
    with Server(tmp_path, tmp_path / "log", model=model, env=env) as srv:
        assert srv.wait_ready().status == 200
        made = server_calls(srv.port)
        code, _ = srv.terminate()
        log = srv.log()
    assert code == 0, log
    check_records(s3, layout, made, naming)
    if layout == "capture":
        lines = [
            line
            for record in {r.key for r in read_records(S3FOLDER, MODEL_VERSION, client=s3)}
            for line in s3.get_object(Bucket="ml2p-test", Key=record)["Body"].read().splitlines()
        ]
        # One line per request, unless a model's own record_invoke saw each datum.
        assert len(lines) == (6 if way == "server, own record_invoke" else 4)
        stored = ["recordIds" in json.loads(line).get("ml2p", {}) for line in lines]
        assert all(stored) if naming != "default" or "record_invoke" in way else not any(stored)
        # Which way the server took, decided once: the records above are the same either way.
        from_bodies = "capture records are made from each request's bodies" in log
        through = "capture records are made through the predictor's invoke" in log
        assert (from_bodies, through) == (way == FROM_BODIES, way != FROM_BODIES), log


# -- an independent reader of SageMaker's data capture format ---------------------------


def sagemaker_capture_reader(client, bucket, prefix):
    """Read data capture files as SageMaker documents them: JSON Lines of captured events."""
    events = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            for text in body.decode("utf-8").splitlines():
                event = json.loads(text)
                bodies = {}
                for part in ("endpointInput", "endpointOutput"):
                    captured = event["captureData"][part]
                    if captured["encoding"] == "BASE64":
                        data = base64.b64decode(captured["data"])
                    else:
                        assert captured["encoding"] in ("JSON", "CSV"), captured
                        data = captured["data"].encode("utf-8")
                    bodies[captured["mode"]] = (captured["observedContentType"], data)
                events.append((obj["Key"], event, bodies))
    return events


EXCHANGES = [
    # (Content-Type, body, Accept, data in the request)
    ("application/json", b'{"x": 1,  "region": "r1"}', "application/json", 1),
    ("application/json", b'{"instances": [{"x": 2}, {"x": 3}]}', "application/json", 2),
    ("application/jsonlines", b'{"x": 4}\n{"x": 5}\n', "application/jsonlines", 2),
    ("text/csv; header=present", b"x,region\n6,r0\n7,r1\n", "text/csv", 2),
    ("text/csv", b"1,2\n3,4\n", "application/json", 2),
]


def test_capture_files_follow_sagemakers_format(tmp_path, s3, aws):
    answers = []
    with Server(tmp_path, tmp_path / "log", env=server_env(aws, "capture")) as srv:
        assert srv.wait_ready().status == 200
        started = time.time()
        for content_type, body, accept, _ in EXCHANGES:
            resp = post(srv.port, body, headers={"Content-Type": content_type, "Accept": accept})
            assert resp.status == 200, resp
            answers.append((resp.headers["content-type"], resp.body))
        code, _ = srv.terminate()
        log = srv.log()
    assert code == 0, log
    folder = f"proj/predictions/capture/{MODEL_VERSION}/{MODEL_VERSION}-variant-1/"
    events = sagemaker_capture_reader(s3, "ml2p-test", "proj/predictions/")
    assert len(events) == len(EXCHANGES)
    events.sort(key=lambda e: e[1]["eventMetadata"]["inferenceTime"])
    for (key, event, bodies), exchange, answer in zip(events, EXCHANGES, answers):
        content_type, body, _, _ = exchange
        # The bodies as they were received and sent, byte for byte.
        assert bodies["INPUT"] == (content_type, body)
        assert bodies["OUTPUT"] == answer
        assert event["eventVersion"] == "0"
        metadata = event["eventMetadata"]
        assert uuid.UUID(metadata["eventId"]).version == 4
        when = metadata["inferenceTime"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", when)
        stamp = calendar.timegm(time.strptime(when[:19], "%Y-%m-%dT%H:%M:%S"))
        assert started - 1 <= stamp <= time.time()
        # <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<name>.jsonl
        rest = key[len(folder) :]
        assert key.startswith(folder) and re.fullmatch(r"\d{4}/\d\d/\d\d/\d\d/[^/]+\.jsonl", rest)
        assert rest[:13] <= when[:13].replace("-", "/").replace("T", "/")
        # The default ids are derived, not stored: ts and uuid from the event, then the position.
        assert "ml2p" not in event
    # The same records through ml2p.records, whose ids are those the format gives.
    records = list(read_records(S3FOLDER, MODEL_VERSION, client=s3))
    assert len(records) == sum(exchange[3] for exchange in EXCHANGES)
    by_event = {e[1]["eventMetadata"]["eventId"]: e[1]["eventMetadata"] for e in events}
    for record in records:
        event_id = record.id.split("--uuid-")[1][:36]
        base = f"ts-{by_event[event_id]['inferenceTime'][:-1]}--uuid-{event_id}"
        assert record.id == base or re.fullmatch(re.escape(base) + r"--i-[01]", record.id)


# -- KMS ----------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_server_encrypts_every_record_with_the_kms_key(tmp_path, s3, aws, layout):
    env = server_env(aws, layout, ML2P_RECORD_KMS_KEY_ID=KMS_KEY)
    with Server(tmp_path, tmp_path / "log", env=env) as srv:
        assert srv.wait_ready().status == 200
        made = server_calls(srv.port)
        code, _ = srv.terminate()
    assert code == 0
    keys = {r.key for r in read_records(S3FOLDER, MODEL_VERSION, client=s3)}
    assert len(keys) == (len(made) if layout == "object" else 1)
    for key in keys:
        head = s3.head_object(Bucket="ml2p-test", Key=key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)


def local_serve(cfg, folder, port, env):
    args = [sys.executable, "-m", "ml2p", "--cfg", str(cfg), "local", "serve", "scale"]
    args += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    args += ["--local-folder", str(folder)]
    log = open(folder.parent / f"serve-{port}.log", "wb")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log


def test_local_serve_spills_in_its_folder_and_sends_with_the_kms_key(tmp_path, s3, aws):
    cfg = tmp_path / "ml2p.yml"
    cfg.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  scale: tests.recording_models.PlainModel\n"
        "deploy:\n"
        "  record_invokes: true\n"
        f"  record_kms_key_id: {KMS_KEY}\n"
    )
    folder = tmp_path / "local"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "weights.txt").write_text("2")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    env.update(PYTHONPATH=ROOT + os.pathsep + env.get("PYTHONPATH", ""))
    # First S3 is unreachable: the records spill into the local folder.
    dead = dict(env, AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")
    port = free_port()
    proc, log = local_serve(cfg, folder, port, dead)
    try:
        assert wait_for(lambda: _answers(port), 30)
        for x in (1, 2, 3):
            assert post(port, datum(x)).status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(45) == 0
    finally:
        _stop(proc, log)
    spilled = list((folder / "record-spill" / "ml2p-test").iterdir())
    assert spilled, (folder.parent / f"serve-{port}.log").read_text()
    # The next server of that folder sends them, encrypted with the configured key.
    port = free_port()
    proc, log = local_serve(cfg, folder, port, env)
    try:
        assert wait_for(lambda: _answers(port), 30)
        assert wait_for(lambda: not list((folder / "record-spill" / "ml2p-test").iterdir()), 30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(45) == 0
    finally:
        _stop(proc, log)
    records = list(read_records(S3FOLDER, "test-proj-local", client=s3))
    assert sorted(r.input["x"] for r in records) == [1, 2, 3]
    for record in records:
        head = s3.head_object(Bucket="ml2p-test", Key=record.key)
        assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", KMS_KEY)


def _answers(port):
    try:
        return request(port, "GET", "/ping", timeout=2).status == 200
    except OSError:
        return False


def _stop(proc, log):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()


# -- deploy.record_kms_key_id -------------------------------------------------------------

CONFIG = """\
project: foo
s3folder: s3://ml2p-test/proj/
models:
  churn: tests.models.MinimalModel
  multi:
    model-defaults: {cls: tests.models.MinimalModel, image_tag: "1.0"}
    first: {training_job: churn-1-2}
defaults:
  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1.0
  role: arn:aws:iam::123456789012:role/ml2p
deploy:
  record_invokes: true
"""


def _config(tmp_path, extra=""):
    from ml2p.config import load_config

    path = tmp_path / "ml2p.yml"
    path.write_text(CONFIG + extra)
    return load_config(path)


def test_the_kms_key_becomes_a_variable_of_every_model_container(tmp_path):
    from ml2p import sagemaker

    cfg = _config(tmp_path, f"  record_kms_key_id: {KMS_KEY}\n")
    single = sagemaker.model_request(cfg, "churn-1-2-3", None, "churn")
    assert single["PrimaryContainer"]["Environment"]["ML2P_RECORD_KMS_KEY_ID"] == KMS_KEY
    multi = sagemaker.model_request(cfg, "multi-1-0-0", None, "multi")
    assert [c["Environment"]["ML2P_RECORD_KMS_KEY_ID"] for c in multi["Containers"]] == [KMS_KEY]
    # Without the key (an ML2P 0.6 ml2p.yml) the request is as before: no such variable.
    plain = sagemaker.model_request(_config(tmp_path), "churn-1-2-3", None, "churn")
    assert list(plain["PrimaryContainer"]["Environment"]) == [
        "ML2P_MODEL_VERSION",
        "ML2P_PROJECT",
        "ML2P_S3_URL",
        "ML2P_MODEL_CLS",
        "ML2P_RECORD_INVOKES",
    ]


@pytest.mark.parametrize("value", [12, ["a"], {"k": "v"}, True])
def test_a_kms_key_that_is_not_text_is_refused_naming_the_key(tmp_path, value):
    from ml2p import sagemaker
    from ml2p.errors import ConfigError

    # Loaded as ML2P 0.6 loaded any file (with a warning); refused by the command needing it.
    cfg = _config(tmp_path, f"  record_kms_key_id: {json.dumps(value)}\n")
    assert any("deploy.record_kms_key_id" in warning for warning in cfg.warnings)
    with pytest.raises(ConfigError, match=r"deploy\.record_kms_key_id"):
        sagemaker.model_request(cfg, "churn-1-2-3", None, "churn")
