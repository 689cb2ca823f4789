"""ml2p.testing's in-process client: the real server's answers, no thread left behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import warnings

import pytest

from ml2p.core import SageMakerEnv
from ml2p.testing import PredictionClient, Response, ServedPredictor, ServerNotReady
from ml2p.testing import client as client_module
from tests.models import MinimalModel, MinimalPredictor
from tests.serving_models import ScaleModel, ScalePredictor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "tests.serving_models.ScaleModel"
ENVIRON = {
    "ML2P_MODEL_VERSION": "scale-1-0-0",
    "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
    "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0.01",  # about 10 KB, so 413 is cheap to provoke
}
TOO_LARGE = b'{"x": 1, "pad": "' + b"a" * 20000 + b'"}'


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    """The real server and the in-process client, serving the same model with the same settings."""
    folder = tmp_path_factory.mktemp("ml")
    with ServedPredictor(MODEL, folder, ENVIRON, pythonpath=[ROOT]) as served:
        with PredictionClient(MODEL, ml_folder=folder, environ=ENVIRON) as client:
            yield served, client


def normalised(response: Response):
    """Status, media type and JSON body, with the prediction timestamps blanked."""

    def blank(value):
        if isinstance(value, dict):
            return {k: "<time>" if k == "timestamp" else blank(v) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        return value

    body = response.get_json(force=True, silent=True) if response.data else None
    return response.status_code, response.mimetype, blank(body), response.headers.get("allow")


# Each case is (method, path, keyword arguments of the request).
SAME_ANSWERS = {
    "single": ("POST", "/invocations", {"json": {"x": 3}}),
    "batch": ("POST", "/invocations", {"json": {"instances": [{"x": 1}, {"x": 2.5}]}}),
    "empty-batch": ("POST", "/invocations", {"json": {"instances": []}}),
    "bad-json": ("POST", "/invocations", {"data": b'{"x": ', "content_type": "application/json"}),
    "not-utf8": ("POST", "/invocations", {"data": b"\xff\xfe{}"}),
    "empty-body": ("POST", "/invocations", {}),
    "client-error": ("POST", "/invocations", {"json": {"fail": "client"}}),
    "api-error": ("POST", "/invocations", {"json": {"fail": "api"}}),
    "crash": ("POST", "/invocations", {"json": {"fail": "crash"}}),
    "bad-instance": ("POST", "/invocations", {"json": {"instances": [{"x": 1}, 7]}}),
    "list-datum": ("POST", "/invocations", {"json": [1, 2.5]}),
    "instances-not-a-list": ("POST", "/invocations", {"json": {"instances": 5}}),
    "too-large": ("POST", "/invocations", {"data": TOO_LARGE}),
    "unknown-path": ("GET", "/predict", {}),
    "wrong-method": ("GET", "/invocations", {}),
    "json-as-text-plain": (
        "POST",
        "/invocations",
        {"data": '{"x": 4}', "content_type": "text/plain"},
    ),
    "not-json-as-text-plain": ("POST", "/invocations", {"data": "x", "content_type": "text/plain"}),
    "bad-csv-header": (
        "POST",
        "/invocations",
        {"data": "1\n", "content_type": "text/csv; header=maybe"},
    ),
    "not-acceptable": ("POST", "/invocations", {"json": {"x": 1}, "headers": {"Accept": "a/b"}}),
    "csv-batch": ("POST", "/invocations", {"data": "1,2\n3,4\n", "content_type": "text/csv"}),
    "ping": ("GET", "/ping", {}),
    "ping-head": ("HEAD", "/ping", {}),
    "execution-parameters": ("GET", "/execution-parameters", {}),
}


@pytest.mark.parametrize("case", sorted(SAME_ANSWERS))
def test_same_answer_as_the_real_server(both, case):
    served, client = both
    method, path, kwargs = SAME_ANSWERS[case]
    over_http = served.open(path, method, **kwargs)
    in_process = client.open(path, method, **kwargs)
    assert normalised(in_process) == normalised(over_http)
    if method == "HEAD":
        assert in_process.data == over_http.data == b""


def test_answers_have_the_statuses_the_cases_are_about(both):
    """The comparison above compares the answers that matter, not two identical failures."""
    _, client = both
    statuses = {
        case: client.open(p, m, **kw).status_code for case, (m, p, kw) in SAME_ANSWERS.items()
    }
    assert statuses == {
        "single": 200,
        "batch": 200,
        "empty-batch": 200,
        "bad-json": 400,
        "not-utf8": 400,
        "empty-body": 400,
        "client-error": 422,
        "api-error": 503,
        "crash": 500,
        "bad-instance": 400,
        "list-datum": 200,
        "instances-not-a-list": 400,
        "too-large": 413,
        "unknown-path": 404,
        "wrong-method": 405,
        "json-as-text-plain": 200,
        "not-json-as-text-plain": 400,
        "bad-csv-header": 415,
        "not-acceptable": 406,
        "csv-batch": 200,
        "ping": 200,
        "ping-head": 200,
        "execution-parameters": 200,
    }


def test_response_reads_like_flasks(both):
    _, client = both
    response = client.post("/invocations", json={"x": 21})
    assert (response.status_code, response.status) == (200, "200 OK")
    assert response.headers["Content-Type"] == response.headers["content-type"]
    assert response.is_json and response.mimetype == "application/json"
    assert response.json == response.get_json() == json.loads(response.data)
    assert response.json["result"] == {"y": 42}
    assert response.content == response.data == response.get_data()
    assert response.get_data(as_text=True) == response.text
    assert int(response.headers["content-length"]) == len(response.data)


def test_csv_answer_is_not_parsed_as_json(both):
    _, client = both
    response = client.post(
        "/invocations", data="1,2\n", content_type="text/csv", headers={"Accept": "text/csv"}
    )
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.json is None  # as Flask: not a JSON response
    with pytest.raises(ValueError):
        response.get_json(force=True)
    assert response.get_json(force=True, silent=True) is None


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"json": {"x": 1}, "data": b"{}"}, "json or data, not both"),
        ({"data": {"x": 1}}, "pass json=..."),
        ({"data": 5}, "bytes or text, not int"),
    ],
)
def test_bad_request_arguments_are_refused_by_name(both, kwargs, message):
    _, client = both
    with pytest.raises(TypeError, match=re.escape(message)):
        client.post("/invocations", **kwargs)


# -- what it serves ---------------------------------------------------------------


def model_folder(tmp_path, slope=2):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "model.json").write_text(json.dumps({"slope": slope}))
    return tmp_path


def test_serves_a_model_class_set_up_through_the_hooks(tmp_path):
    with PredictionClient(MinimalModel, ml_folder=model_folder(tmp_path, 5), environ={}) as client:
        assert client.post("/invocations", json={"x": 2}).json["result"] == {"y": 10}
        assert isinstance(client.app.predictor, MinimalPredictor)


def test_serves_a_model_in_an_environment_already_made(tmp_path):
    env = SageMakerEnv(model_folder(tmp_path, 3), {"ML2P_MODEL_VERSION": "minimal-1-2-3"})
    with PredictionClient(MinimalModel, env=env) as client:
        answer = client.post("/invocations", json={"x": 2}).json
    assert answer["result"] == {"y": 6}
    assert answer["metadata"]["model_version"] == "minimal-1-2-3"


class CountingPredictor(ScalePredictor):
    """Counts its setup and teardown calls."""

    def __init__(self, env):
        super().__init__(env)
        self.calls = []

    def setup(self):
        self.calls.append("setup")
        super().setup()

    def teardown(self):
        self.calls.append("teardown")


def test_serves_a_predictor_as_given_like_the_0_6_app(tmp_path):
    """The 0.6 pattern: the test makes the predictor, sets what it needs, and serves it."""
    predictor = CountingPredictor(SageMakerEnv(tmp_path, {"ML2P_MODEL_VERSION": "scale-1"}))
    predictor.factor = 7  # no setup: the test put the model in place itself
    with PredictionClient(predictor=predictor) as client:
        assert client.get("/ping").status_code == 200
        answer = client.post("/invocations", json={"x": 2}).json
        assert client.app.predictor is predictor
    assert answer["result"] == {"y": 14}
    assert answer["metadata"]["model_version"] == "scale-1"
    assert predictor.calls == []  # neither set up nor torn down by the client


def test_a_predictor_made_by_the_models_method_as_in_0_6(tmp_path):
    predictor = ScaleModel().predictor(SageMakerEnv(str(tmp_path)))
    with PredictionClient(predictor=predictor, setup=True) as client:
        response = client.post("/invocations", json={"x": 3})
        assert response.status_code == 200
        assert response.get_json()["result"] == {"y": 6}


def test_a_given_predictor_can_be_set_up_and_torn_down_by_the_client(tmp_path):
    predictor = CountingPredictor(SageMakerEnv(tmp_path, {}))
    with PredictionClient(predictor=predictor, setup=True) as client:
        assert predictor.calls == ["setup"]
        assert client.post("/invocations", json={"x": 2}).json["result"] == {"y": 4}
    assert predictor.calls == ["setup", "teardown"]


def test_the_fixture_serves_from_tmp_path_and_spills_records_there(
    ml2p_prediction_client, tmp_path
):
    client = ml2p_prediction_client(MODEL, environ={"ML2P_MODEL_VERSION": "scale-1"})
    assert client.post("/invocations", json={"x": 1}).json["result"] == {"y": 2}
    assert client.app.model.ml_folder == tmp_path
    assert client.app.model.environ["ML2P_RECORD_SPILL_DIR"] == str(tmp_path / "ml2p-record-spill")
    mine = ml2p_prediction_client(MODEL, environ={"ML2P_RECORD_SPILL_DIR": "/elsewhere"})
    assert mine.app.model.environ["ML2P_RECORD_SPILL_DIR"] == "/elsewhere"


def test_a_model_by_name_is_resolved_as_the_server_does(tmp_path):
    with PredictionClient(MODEL, ml_folder=tmp_path, environ={}) as client:
        assert client.app.model.model_cls is ScaleModel
        assert client.post("/invocations", json={"x": 2}).json["result"] == {"y": 4}


def new_threads(before):
    """The live threads not in ``before``: those started since, still running.

    A thread that has returned can still be listed for a moment, threads of
    earlier tests may end meanwhile, and the moto server's request threads come
    and go: none of them counts.
    """
    return {
        t
        for t in threading.enumerate()
        if t.is_alive() and t not in before and not _ended_or_serving_moto(t)
    }


def _ended_or_serving_moto(thread):
    if not hasattr(thread, "_target"):
        return True  # Thread.run has returned (it deletes _target): not running anything
    # Python 3.10+ puts the target in the name; 3.9 names it "Thread-N" only.
    target_name = getattr(thread._target, "__name__", "")
    return "process_request_thread" in (thread.name + target_name)


@pytest.mark.parametrize(
    "args,kwargs,message",
    [
        ((), {}, "a model or a predictor"),
        ((MinimalModel,), {"predictor": object()}, "a model or a predictor"),
        ((MinimalModel,), {}, "needs ml_folder"),
        ((MinimalModel(),), {"ml_folder": "/tmp"}, "Model subclass or its name"),
        ((), {"predictor": object()}, "has no env"),
    ],
)
def test_bad_arguments_are_refused_saying_what_is_wrong(args, kwargs, message):
    before = set(threading.enumerate())
    with pytest.raises(TypeError, match=message):
        PredictionClient(*args, **kwargs)
    assert new_threads(before) == set()


def test_an_unknown_model_name_fails_naming_it(tmp_path):
    from ml2p.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        PredictionClient("no-such-model", ml_folder=tmp_path, environ={})


# -- setup failures -----------------------------------------------------------------


def test_a_failing_setup_is_raised_with_its_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVING_SETUP_FAIL", "model file is corrupt")
    before = set(threading.enumerate())
    with pytest.raises(ServerNotReady, match=r"model setup failed: .*model file is corrupt"):
        PredictionClient(MODEL, ml_folder=tmp_path, environ={})
    assert new_threads(before) == set()


def test_without_waiting_ping_shows_setup_in_progress_then_failed(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVING_SETUP_SLEEP", "0.5")
    monkeypatch.setenv("SERVING_SETUP_FAIL", "no weights")
    with PredictionClient(MODEL, ml_folder=tmp_path, environ={}, wait_ready=False) as client:
        early = client.get("/ping")
        assert (early.status_code, early.json["status"]) == (503, "starting")
        assert client.post("/invocations", json={"x": 1}).status_code == 503
        with pytest.raises(ServerNotReady, match="no weights"):
            client.wait_ready(timeout=20)
        late = client.get("/ping")
    assert (late.status_code, late.json["status"]) == (503, "failed")


# -- threads, the event loop and closing ---------------------------------------------


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_no_thread_outlives_close(tmp_path, threads):
    before = set(threading.enumerate())
    client = PredictionClient(MODEL, ml_folder=tmp_path, environ={}, threads=threads)
    for x in range(5):
        assert client.post("/invocations", json={"x": x}).json["result"] == {"y": 2 * x}
    started = {t.name for t in set(threading.enumerate()) - before}
    assert len([n for n in started if n.startswith("ml2p-predict")]) == threads
    client.close()
    assert new_threads(before) == set()
    client.close()  # closing twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/ping")


def test_a_prediction_past_the_timeout_is_504_and_its_thread_is_joined_at_close(tmp_path):
    before = set(threading.enumerate())
    with PredictionClient(MODEL, ml_folder=tmp_path, environ={}, timeout=0.2) as client:
        assert client.post("/invocations", json={"sleep": 0.6}).status_code == 504
        assert client.post("/invocations", json={"x": 1}).json["result"] == {"y": 2}
    assert new_threads(before) == set()


def test_a_thread_still_running_after_close_is_named_in_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(client_module, "CLOSE_TIMEOUT", 0.1)
    before = set(threading.enumerate())
    client = PredictionClient(MODEL, ml_folder=tmp_path, environ={}, timeout=0.1)
    assert client.post("/invocations", json={"sleep": 1.5}).status_code == 504
    with pytest.warns(ResourceWarning, match="ml2p-predict"):
        client.close()
    deadline = time.monotonic() + 10
    while new_threads(before):  # the prediction ends, then its thread
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_close_undoes_the_servers_gc_freeze(tmp_path):
    # In a fresh process: a client open in this one (the module's) keeps its freeze.
    code = (
        "import gc\n"
        "from ml2p.testing import PredictionClient\n"
        # Python 3.12 freezes some objects of its own at start-up.
        "before = gc.get_freeze_count()\n"
        f"with PredictionClient({MODEL!r}, ml_folder={str(tmp_path)!r}, environ={{}}) as c:\n"
        "    assert c.app.ready and gc.get_freeze_count() > before  # what the server does\n"
        "assert gc.get_freeze_count() <= before, (gc.get_freeze_count(), before)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_client_leaves_no_event_loop_behind(tmp_path):
    import asyncio

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Task was destroyed but it is pending"
        client = PredictionClient(MODEL, ml_folder=tmp_path, environ={})
        loop = client._loop
        client.close()
    assert loop.is_closed()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


# -- recording ------------------------------------------------------------------------


def test_records_are_flushed_to_s3_at_close(tmp_path, s3):
    environ = {
        "ML2P_MODEL_VERSION": "scale-1-0-0",
        "ML2P_RECORD_INVOKES": "true",
        "ML2P_S3_URL": "s3://ml2p-test/proj/",
    }
    before = set(threading.enumerate())
    with PredictionClient(MODEL, ml_folder=tmp_path, environ=environ) as client:
        assert client.post("/invocations", json={"x": 4}).status_code == 200
        assert client.post("/invocations", json={"instances": [{"x": 5}]}).status_code == 200
        assert any(t.name.startswith("ml2p-recorder") for t in threading.enumerate())
    assert new_threads(before) == set()
    listed = s3.list_objects_v2(Bucket="ml2p-test", Prefix="proj/predictions/scale-1-0-0/")
    bodies = [
        json.loads(s3.get_object(Bucket="ml2p-test", Key=o["Key"])["Body"].read())
        for o in listed["Contents"]
    ]
    assert sorted(b["input"]["x"] for b in bodies) == [4, 5]
