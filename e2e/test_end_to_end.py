"""End to end: the diabetes example through ``ml2p local`` with every first-party plugin.

In a temporary project whose ``s3folder`` is on a moto server (real HTTP on
127.0.0.1), the test generates the data set (uploaded to S3), trains on it
(downloaded back from S3), serves the model with the production server,
invokes it over HTTP, and checks what each installed plugin did:

* ml2p-validate: an invalid input is a 400 naming the failing field's path,
  and the model is never called for it;
* ml2p-metrics: EMF lines with ``Latency`` in ``ML2P_METRICS_FILE``;
* ml2p-record-ids: the S3 keys of the recorded invocations (written by the
  server's background recorder, flushed on SIGTERM) hold the field named in
  ``ML2P_RECORD_ID_FIELDS``.

It needs the core, the three plugins and the diabetes example installed
(``e2e/run_plugins_env.py`` does that); otherwise it is skipped, saying what
is missing.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from local_loop import FEATURES, http, ml2p_command, read_rows, run_command, stop, wait_for_ping

BUCKET = "ml2p-e2e"
PROJECT = "e2e-proj"
DATASET = "diabetes-20240101"
MODEL_VERSION = f"{PROJECT}-local"  # what `ml2p local serve` sets
REQUIRED_PLUGINS = ("ml2p-validate", "ml2p-metrics", "ml2p-record-ids")
PING_TIMEOUT = 60.0

CONFIG = f"""\
project: "{PROJECT}"
s3folder: "s3://{BUCKET}/proj/"
models:
  diabetes: "diabetes"
deploy:
  record_invokes: true
"""


def _require_installed() -> None:
    from ml2p.plugins import installed_entry_points

    plugins = {info.dist for info in installed_entry_points("ml2p.plugins", {}).values()}
    missing = [p for p in REQUIRED_PLUGINS if p not in plugins]
    if "diabetes" not in installed_entry_points("ml2p.models", {}):
        missing.append("ml2p-example-diabetes")
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (run e2e/run_plugins_env.py)")


def ml2p(cfg: pathlib.Path, *args: Any) -> list[str]:
    return ml2p_command(sys.executable, cfg, *args)


def run(cmd: list[str], env: dict[str, str], cwd: pathlib.Path) -> dict[str, Any]:
    what = "ml2p " + " ".join(cmd[5:7])
    return json.loads(run_command(cmd, what, env, cwd=cwd, timeout=300))


def test_generate_train_serve_invoke_with_every_plugin(tmp_path, aws_environ, s3, free_port):
    _require_installed()
    import joblib
    import numpy as np

    cfg = tmp_path / "ml2p.yml"
    cfg.write_text(CONFIG)
    local = tmp_path / "local"
    metrics_file = tmp_path / "metrics.jsonl"
    env = {
        **aws_environ,
        "ML2P_RECORD_ID_FIELDS": "customer_id",
        "ML2P_METRICS_FILE": str(metrics_file),
    }

    # Generate: the data set is written locally and uploaded to S3.
    run(ml2p(cfg, "local", "generate", "diabetes", DATASET, "--local-folder", local), env, tmp_path)
    prefix = f"proj/datasets/{DATASET}/"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [prefix + "test.csv", prefix + "train.csv"]

    # Train on the data set downloaded back from S3 (the channel is emptied first).
    out = run(
        ml2p(cfg, "local", "train", "diabetes", "--dataset", DATASET, "--local-folder", local),
        env,
        tmp_path,
    )
    assert {"model.joblib", "input-schema.json", "metrics.json"} <= set(out["files"])
    assert (local / "output" / "model.tar.gz").is_file()
    held_out = read_rows(local / "input" / "data" / "training" / "test.csv")
    model = joblib.load(local / "model" / "model.joblib")

    def expected(rows: list[dict[str, float]]) -> list[float]:
        return list(model.predict(np.array([[r[f] for f in FEATURES] for r in rows])))

    def datum(row: dict[str, float], customer: str) -> dict[str, Any]:
        return {**{f: row[f] for f in FEATURES}, "customer_id": customer}

    base = f"http://127.0.0.1:{free_port}"
    log = tmp_path / "server.log"
    with open(log, "w") as out_file:
        server = subprocess.Popen(
            ml2p(cfg, "local", "serve", "diabetes", "--host", "127.0.0.1", "--port", free_port,
                 "--workers", "1", "--local-folder", local),
            env=env, cwd=str(tmp_path), stdout=out_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ping = wait_for_ping(server, base, log, PING_TIMEOUT)
        assert ping.get("model_version") == MODEL_VERSION

        # A single prediction and a batch, checked against scikit-learn itself.
        status, single = http(f"{base}/invocations", datum(held_out[0], "cust-0"))
        assert status == 200, single
        assert single["result"]["prediction"] == pytest.approx(expected(held_out[:1])[0])
        assert single["metadata"]["model_version"] == MODEL_VERSION
        batch_rows = held_out[1:4]
        status, batch = http(
            f"{base}/invocations",
            {"instances": [datum(r, f"cust-{i}") for i, r in enumerate(batch_rows, 1)]},
        )
        assert status == 200, batch
        assert [p["result"]["prediction"] for p in batch["predictions"]] == pytest.approx(
            expected(batch_rows)
        )

        # ml2p-validate: 400s naming the failing field, with the schema's validator.
        bad = datum(held_out[4], "cust-bad")
        del bad["bmi"]
        status, body = http(f"{base}/invocations", {"instances": [datum(held_out[5], "x"), bad]})
        assert status == 400, body
        assert "$.instances[1].bmi" in body["message"]
        assert {"path": "$.instances[1].bmi", "validator": "required"}.items() <= (
            body["details"]["errors"][0].items()
        )
        status, body = http(f"{base}/invocations", {**datum(held_out[6], "y"), "bp": "high"})
        assert status == 400, body
        assert "$.bp" in body["message"]
        assert body["details"]["errors"][0]["validator"] == "type"
    finally:
        code = stop(server)
    assert code == 0, f"server exit status {code} after SIGTERM:\n{log.read_text()}"

    # ml2p-record-ids: every successful prediction is recorded (flushed on
    # SIGTERM), and its key carries the customer id; rejected inputs are not.
    prefix = f"proj/predictions/{MODEL_VERSION}/"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    records = {
        o["Key"]: json.loads(s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read())
        for o in listed
    }
    by_customer = {r["input"]["customer_id"]: (k, r) for k, r in records.items()}
    assert sorted(by_customer) == ["cust-0", "cust-1", "cust-2", "cust-3"], sorted(records)
    # A record holds the whole prediction answered (metadata and result), as in ML2P 0.6.
    answers = [single] + batch["predictions"]
    for i, answer in enumerate(answers):
        key, record = by_customer[f"cust-{i}"]
        name = key[len(prefix) :]
        assert name.startswith("ts-") and "--uuid-" in name and name.endswith(".json")
        assert f"--customer_id-cust-{i}" in name
        assert record["result"] == answer

    # ml2p-metrics: EMF lines, one per invocation or batch, with Latency in ms.
    lines = [json.loads(line) for line in metrics_file.read_text().splitlines() if line.strip()]
    assert lines, "no EMF line written"
    for line in lines:
        directive = line["_aws"]["CloudWatchMetrics"][0]
        assert isinstance(line["_aws"]["Timestamp"], int)
        for metric in directive["Metrics"]:
            assert metric["Name"] in line
        for dimension in directive["Dimensions"][0]:
            assert dimension in line
    invocations = [line for line in lines if "Latency" in line]
    assert len(invocations) >= 4  # single, batch and the two rejected requests
    assert all(line["Latency"] >= 0 for line in invocations)
    latency = next(
        m
        for m in invocations[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        if m["Name"] == "Latency"
    )
    assert latency["Unit"] == "Milliseconds"
    assert any(line.get("ModelVersion") == MODEL_VERSION for line in invocations)
    assert any(line.get("BatchSize") == len(batch_rows) for line in invocations)
    assert sum(line.get("ClientErrors", 0) for line in invocations) >= 2
    assert any("TrainingDuration" in line for line in lines)
