"""The server's lifecycle over real HTTP: setup, slow predictions, timeouts, SIGTERM, S3 outages."""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from tests.conftest import AWS_TEST_ENV, moto_url, reset_moto, start_moto
from tests.fault_support import Load
from tests.serving_support import Server, post, request

S3_ENV = {
    "ML2P_S3_URL": "s3://ml2p-test/proj/",
    "ML2P_RECORD_INVOKES": "true",
    "ML2P_PROJECT": "test-proj",
}


def test_setup_failure_keeps_ping_503_with_the_error(tmp_path):
    env = {"SERVING_SETUP_FAIL": "model file is corrupt"}
    with Server(tmp_path, tmp_path / "log", env=env) as srv:
        deadline = time.monotonic() + 10
        while "model setup failed" not in srv.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(3):
            resp = request(srv.port, "GET", "/ping")
            assert resp.status == 503 and resp.headers["content-type"] == "application/json"
            assert resp.json()["status"] == "failed"
            assert "RuntimeError: model file is corrupt" in resp.json()["message"]
        assert post(srv.port, {"x": 1}).status == 503
        assert "Traceback" in srv.log()


def test_missing_predictor_fails_setup(tmp_path):
    model = "tests.serving_models.BrokenPredictorModel"
    with Server(tmp_path, tmp_path / "log", model=model) as srv:
        time.sleep(0.3)
        resp = request(srv.port, "GET", "/ping")
        assert resp.status == 503 and "PREDICTOR is not set" in resp.json()["message"]


def test_ping_is_503_until_setup_is_done_then_200(tmp_path):
    env = {"SERVING_SETUP_SLEEP": "1"}
    started = time.monotonic()
    with Server(tmp_path, tmp_path / "log", env=env) as srv:
        first = request(srv.port, "GET", "/ping")
        assert first.status == 503 and first.json()["status"] == "starting"
        early = post(srv.port, {"x": 1})
        assert early.status == 503 and early.headers["content-type"] == "application/json"
        ready = srv.wait_ready(timeout=20)
        assert ready.status == 200
        assert time.monotonic() - started >= 1.0
        assert post(srv.port, {"x": 4}).json()["result"] == {"y": 8}


def test_predictions_on_the_event_loop_when_threads_is_zero(tmp_path):
    env = {"ML2P_SERVER_THREADS": "0", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "0.5"}
    with Server(tmp_path, tmp_path / "log", env=env, workers=1) as srv:
        assert srv.wait_ready().status == 200
        assert post(srv.port, {"x": 4}).json()["result"] == {"y": 8}
        batch = post(srv.port, {"instances": [{"x": 1}, {"x": 2}]}).json()
        assert [p["result"] for p in batch["predictions"]] == [{"y": 2}, {"y": 4}]
        assert post(srv.port, {"fail": "client"}).status == 422
        assert post(srv.port, {"fail": "crash"}).status == 500
        # No thread to give up on: the documented cost is no 504 at the timeout.
        slow = post(srv.port, {"sleep": 1}, timeout=10)
        assert slow.status == 200 and slow.json()["result"] == {"slept": 1}
        assert post(srv.port, {"x": 5}).json()["result"] == {"y": 10}


@pytest.mark.slow
def test_ping_answers_during_a_5s_cpu_bound_prediction(tmp_path):
    with Server(tmp_path, tmp_path / "log", workers=1) as srv:
        assert srv.wait_ready().status == 200
        slow = {}

        def predict():
            t0 = time.monotonic()
            slow["resp"] = post(srv.port, {"sleep": 5, "spin": True}, timeout=30)
            slow["seconds"] = time.monotonic() - t0

        thread = threading.Thread(target=predict)
        thread.start()
        time.sleep(0.5)
        pings = []
        while thread.is_alive():
            t0 = time.monotonic()
            resp = request(srv.port, "GET", "/ping", timeout=4)
            pings.append((resp.status, time.monotonic() - t0))
            time.sleep(0.2)
        thread.join()
        assert slow["resp"].status == 200 and slow["seconds"] >= 5
        assert len(pings) >= 10
        assert all(status == 200 for status, _ in pings)
        # Well under the prediction's 5 s: /ping did not queue behind it.
        assert max(seconds for _, seconds in pings) < 4.0


@pytest.mark.slow
def test_prediction_over_the_timeout_is_504_and_worker_lives_on(tmp_path):
    env = {"SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"}
    with Server(tmp_path, tmp_path / "log", env=env, workers=1) as srv:
        assert srv.wait_ready().status == 200
        t0 = time.monotonic()
        resp = post(srv.port, {"sleep": 3})
        assert resp.status == 504 and resp.headers["content-type"] == "application/json"
        assert "timed out" in resp.json()["message"]
        # 504 is the timeout's answer: a finished prediction would be 200.
        assert time.monotonic() - t0 >= 1.0
        assert post(srv.port, {"x": 5}).json()["result"] == {"y": 10}
        assert request(srv.port, "GET", "/ping").status == 200


def doubled(x: int) -> dict:
    return {"y": 2 * x}


def recorded_inputs(client, layout):
    """The x of every recorded datum, read back with ml2p.records from the layout's objects."""
    from ml2p.records import read_records

    records = list(read_records("s3://ml2p-test/proj/", "test-model-1-0-0", client=client))
    folder = "proj/predictions/capture/" if layout == "capture" else "proj/predictions/test-"
    assert all(r.key.startswith(folder) for r in records)
    assert all(r.id.startswith("ts-") for r in records)
    return [r.input["x"] for r in records]


@pytest.mark.parametrize("layout", ["object", pytest.param("capture", marks=pytest.mark.slow)])
def test_sigterm_under_load_answers_records_and_tears_down(tmp_path, s3, aws, layout):
    marker = tmp_path / "teardown.txt"
    env = dict(
        S3_ENV,
        AWS_ENDPOINT_URL=aws,
        SERVING_TEARDOWN_MARKER=str(marker),
        ML2P_RECORD_LAYOUT=layout,
        ML2P_RECORD_BATCH_SECONDS="0.5",
    )
    with Server(tmp_path, tmp_path / "log", env=env, workers=2) as srv:
        srv.wait_workers_ready(2)
        with Load(srv.port, pause=0.01, expect=doubled) as load:
            time.sleep(1.5)
            code, seconds = srv.terminate()
            load.stop()
        log = srv.log()
    assert seconds < 30, log
    assert code == 0, log
    assert len(load.answered) > 20
    assert set(load.statuses) == {200} and not load.wrong, log
    assert marker.read_text().count("torn down") == 2
    recorded = recorded_inputs(s3, layout)
    assert set(load.answered) <= set(recorded), log
    assert len(recorded) == len(set(recorded))
    assert "UNWRITTEN_RECORD" not in log


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["object", "capture"])
def test_s3_outage_mid_load_loses_no_record(tmp_path, layout):
    moto = start_moto()
    url = moto_url(moto)
    port = int(url.rsplit(":", 1)[1])
    try:
        reset_moto(url)
        client = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=AWS_TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_TEST_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket="ml2p-test")
        env = dict(
            S3_ENV, AWS_ENDPOINT_URL=url, ML2P_RECORD_LAYOUT=layout, ML2P_RECORD_BATCH_SECONDS="0.3"
        )
        with Server(tmp_path, tmp_path / "log", env=env, workers=2) as srv:
            srv.wait_workers_ready(2)
            with Load(srv.port, threads=3, pause=0.02, expect=doubled) as load:
                time.sleep(0.7)
                moto.stop()
                during_outage = len(load.answered)
                time.sleep(2.0)
                answered_in_outage = len(load.answered) - during_outage
                moto = start_moto(port)
                time.sleep(1.0)
            code, _ = srv.terminate()
            log = srv.log()
        assert code == 0, log
        # Predictions went on while S3 was down: recording is off the request path.
        assert answered_in_outage > 20
        assert set(load.statuses) == {200} and not load.wrong, log
        assert "failed (attempt 1)" in log
        recorded = recorded_inputs(client, layout)
        assert set(load.answered) <= set(recorded), log
        assert "UNWRITTEN_RECORD" not in log
    finally:
        moto.stop()
