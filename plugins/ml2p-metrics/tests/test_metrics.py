"""ml2p-metrics through a real plugin manager, predictors, trainers and generators."""

from __future__ import annotations

import json
import threading
import time

import pytest
from ml2p_metrics import emf, sink

from ml2p import hookimpl, lifecycle
from ml2p.core import ModelDatasetGenerator, ModelPredictor, ModelTrainer
from ml2p.errors import ClientError, PluginError

INVOCATION_METRICS = [
    {"Name": "Latency", "Unit": "Milliseconds"},
    {"Name": "Invocations", "Unit": "Count"},
    {"Name": "Errors", "Unit": "Count"},
    {"Name": "ClientErrors", "Unit": "Count"},
]


class SlowPredictor(ModelPredictor):
    """Doubles x after ``delay`` seconds; fails as asked; counts its calls."""

    delay = 0.02

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = {"result": 0, "batch": 0}

    def result(self, data):
        self.calls["result"] += 1
        time.sleep(self.delay)
        if data.get("fail") == "client":
            raise ClientError("x must be positive", details={"path": "$.x"})
        if data.get("fail"):
            raise ValueError("model broke")
        return {"y": 2 * data["x"]}

    def batch_result(self, data):
        self.calls["batch"] += 1
        time.sleep(self.delay)
        return [{"y": 2 * d["x"]} for d in data]


# --- bad configuration ------------------------------------------------------


@pytest.mark.parametrize("namespace", ["AWS/SageMaker", "bad$name", "x" * 256, "   "])
def test_bad_namespace_fails_naming_the_variable(pm, serve_env, monkeypatch, namespace):
    monkeypatch.setenv(sink.NAMESPACE_ENV, namespace)
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        lifecycle.setup(predictor)
    assert "ML2P_METRICS_NAMESPACE" in str(info.value)
    assert info.value.plugin == "ml2p-metrics"
    with pytest.raises(PluginError, match="ML2P_METRICS_NAMESPACE"):
        predictor.invoke({"x": 1})
    assert predictor.calls["result"] == 0


def test_metrics_file_in_missing_folder_fails_naming_the_variable(
    pm, serve_env, monkeypatch, tmp_path
):
    monkeypatch.setenv(sink.FILE_ENV, str(tmp_path / "no" / "such" / "metrics.jsonl"))
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    with pytest.raises(PluginError) as info:
        lifecycle.setup(predictor)
    assert "ML2P_METRICS_FILE" in str(info.value) and "no folder" in str(info.value)
    monkeypatch.setenv(sink.FILE_ENV, str(tmp_path))
    with pytest.raises(PluginError, match=r"ML2P_METRICS_FILE.*it is a folder"):
        lifecycle.train(ModelTrainer(serve_env, plugin_manager=pm))


def test_unwritable_metrics_do_not_change_the_outcome(pm, serve_env, metrics_file, caplog):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.invoke({"x": 1})  # settings checked and cached while the file is writable
    metrics_file.unlink()
    metrics_file.mkdir()  # now every write fails
    assert predictor.invoke({"x": 4})["result"] == {"y": 8}
    with pytest.raises(ValueError, match="model broke"):
        predictor.invoke({"x": 1, "fail": True})
    warnings = [r for r in caplog.records if r.name == "ml2p.metrics"]
    assert len(warnings) == 2
    assert "cannot write a metrics line" in warnings[0].getMessage()


# --- invocations ------------------------------------------------------------


def test_one_line_per_invocation(pm, serve_env, metrics_file, read_lines, check_emf):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    before = int(time.time() * 1000)
    assert predictor.invoke({"x": 3})["result"] == {"y": 6}
    after = int(time.time() * 1000)
    [doc] = read_lines(metrics_file)
    directive = check_emf(doc)
    assert directive == {
        "Namespace": "ML2P",
        "Dimensions": [["Project", "ModelVersion"]],
        "Metrics": INVOCATION_METRICS,
    }
    assert before <= doc["_aws"]["Timestamp"] <= after
    assert doc["Project"] == "test-proj" and doc["ModelVersion"] == "model-1-2-3"
    assert doc["Invocations"] == 1 and doc["Errors"] == 0 and doc["ClientErrors"] == 0
    assert SlowPredictor.delay * 1000 <= doc["Latency"] <= after - before + 1
    assert "BatchSize" not in doc and "ErrorType" not in doc


def test_model_error_is_counted_and_reraised_unchanged(pm, serve_env, metrics_file, read_lines):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    raised = []

    class Catch:
        @staticmethod
        @hookimpl(wrapper=True)
        def ml2p_result(data):
            try:
                return (yield)
            except ValueError as exc:
                raised.append(exc)
                raise

    pm.register(Catch, name="catch")  # innermost wrapper: sees the model's own exception
    with pytest.raises(ValueError) as info:
        predictor.invoke({"x": 1, "fail": True})
    assert info.value is raised[0]
    [doc] = read_lines(metrics_file)
    assert doc["Errors"] == 1 and doc["ClientErrors"] == 0
    assert doc["ErrorType"] == "ValueError" and "StatusCode" not in doc


def test_client_error_is_counted_with_its_status(pm, serve_env, metrics_file, read_lines):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    with pytest.raises(ClientError) as info:
        predictor.invoke({"x": 1, "fail": "client"})
    assert info.value.details == {"path": "$.x"}
    [doc] = read_lines(metrics_file)
    assert doc["Errors"] == 1 and doc["ClientErrors"] == 1
    assert doc["StatusCode"] == 400 and doc["ErrorType"] == "ClientError"


def test_rejection_by_another_plugin_is_counted(pm, serve_env, metrics_file, read_lines):
    class Reject:
        @staticmethod
        @hookimpl(wrapper=True)
        def ml2p_result(data):
            if "x" not in data:
                raise ClientError("x is required")
            return (yield)

    pm.register(Reject, name="reject")  # registered last: outer to metrics but for tryfirst
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    with pytest.raises(ClientError):
        predictor.invoke({})
    [doc] = read_lines(metrics_file)
    assert doc["ClientErrors"] == 1 and predictor.calls["result"] == 0


def test_namespace_from_the_environment(pm, serve_env, metrics_file, monkeypatch, read_lines):
    monkeypatch.setenv(sink.NAMESPACE_ENV, "Team/Models:Prod")
    SlowPredictor(serve_env, plugin_manager=pm).invoke({"x": 1})
    [doc] = read_lines(metrics_file)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Team/Models:Prod"


def test_lines_go_to_stdout_by_default(pm, serve_env, monkeypatch, capsys, check_emf):
    monkeypatch.delenv(sink.FILE_ENV)
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.invoke({"x": 1})
    predictor.invoke({"x": 2})
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    for line in out:
        assert check_emf(json.loads(line))["Metrics"] == INVOCATION_METRICS


# --- batches ----------------------------------------------------------------


def test_one_line_per_batch_and_the_batch_path_is_kept(
    pm, serve_env, metrics_file, read_lines, check_emf
):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    out = predictor.batch_invoke([{"x": i} for i in range(7)])
    assert [o["result"]["y"] for o in out] == [2 * i for i in range(7)]
    assert predictor.calls == {"result": 0, "batch": 1}
    [doc] = read_lines(metrics_file)
    directive = check_emf(doc)
    assert directive["Metrics"] == [*INVOCATION_METRICS, {"Name": "BatchSize", "Unit": "Count"}]
    assert doc["BatchSize"] == 7 and doc["Invocations"] == 1 and doc["Errors"] == 0
    assert doc["Latency"] >= SlowPredictor.delay * 1000


def test_no_per_datum_lines_when_another_plugin_forces_per_datum_calls(
    pm, serve_env, metrics_file, read_lines
):
    class PerDatum:
        @staticmethod
        @hookimpl(wrapper=True)
        def ml2p_result(data):
            return (yield)

    pm.register(PerDatum, name="per-datum")
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.batch_invoke([{"x": i} for i in range(3)])
    assert predictor.calls == {"result": 3, "batch": 0}
    docs = read_lines(metrics_file)
    assert [d["BatchSize"] for d in docs] == [3]


def test_no_per_datum_lines_when_a_batch_plugin_calls_the_full_result_hook(
    pm, serve_env, metrics_file, read_lines
):
    class BatchViaResult:
        @staticmethod
        @hookimpl
        def ml2p_batch_result(predictor, data):
            hook = predictor.plugin_manager.hook.ml2p_result
            return [hook(predictor=predictor, data=d) for d in data]

    pm.register(BatchViaResult, name="batch-via-result")
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.batch_invoke([{"x": i} for i in range(4)])
    assert predictor.calls == {"result": 4, "batch": 0}
    assert [d["BatchSize"] for d in read_lines(metrics_file)] == [4]
    predictor.invoke({"x": 1})  # outside a batch, the same hook writes its line
    assert [d.get("BatchSize") for d in read_lines(metrics_file)] == [4, None]


def test_failed_batch_is_counted(pm, serve_env, metrics_file, read_lines):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.batch_result = None  # not callable: the model's batch path raises TypeError
    with pytest.raises(TypeError):
        predictor.batch_invoke([{"x": 1}, {"x": 2}])
    [doc] = read_lines(metrics_file)
    assert doc["Errors"] == 1 and doc["BatchSize"] == 2 and doc["ErrorType"] == "TypeError"


def test_concurrent_invocations_write_whole_lines(pm, serve_env, metrics_file, read_lines):
    predictor = SlowPredictor(serve_env, plugin_manager=pm)
    predictor.delay = 0

    def work():
        for i in range(40):
            predictor.invoke({"x": i})

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    docs = read_lines(metrics_file)  # every line parses
    assert len(docs) == 320
    assert sum(d["Invocations"] for d in docs) == 320


# --- training and dataset generation -----------------------------------------


class Trainer(ModelTrainer):
    fail = False

    def train(self):
        time.sleep(0.02)
        if self.fail:
            raise RuntimeError("out of data")
        return "trained"


class Generator(ModelDatasetGenerator):
    fail = False

    def generate(self):
        time.sleep(0.02)
        if self.fail:
            raise OSError("source gone")
        return "generated"


def test_training_duration(pm, train_env, metrics_file, read_lines, check_emf):
    trainer = Trainer(train_env, plugin_manager=pm)
    assert lifecycle.train(trainer) == "trained"
    trainer.fail = True
    with pytest.raises(RuntimeError, match="out of data"):
        lifecycle.train(trainer)
    ok, failed = read_lines(metrics_file)
    assert check_emf(ok) == {
        "Namespace": "ML2P",
        "Dimensions": [["Project"]],
        "Metrics": [
            {"Name": "TrainingDuration", "Unit": "Seconds"},
            {"Name": "TrainingFailed", "Unit": "Count"},
        ],
    }
    assert ok["TrainingFailed"] == 0 and ok["TrainingDuration"] >= 0.02
    assert ok["TrainingJob"] == "model-1-2" and ok["Project"] == "test-proj"
    assert failed["TrainingFailed"] == 1 and failed["ErrorType"] == "RuntimeError"


def test_generation_duration(pm, dataset_env, metrics_file, read_lines, check_emf):
    generator = Generator(dataset_env, plugin_manager=pm)
    assert lifecycle.generate(generator) == "generated"
    generator.fail = True
    with pytest.raises(OSError, match="source gone"):
        lifecycle.generate(generator)
    ok, failed = read_lines(metrics_file)
    assert [m["Name"] for m in check_emf(ok)["Metrics"]] == [
        "GenerationDuration",
        "GenerationFailed",
    ]
    assert ok["GenerationDuration"] >= 0.02 and ok["GenerationFailed"] == 0
    assert ok["Dataset"] == "model-20240101"
    assert failed["GenerationFailed"] == 1 and failed["ErrorType"] == "OSError"


def test_emf_document_rules():
    doc = emf.document("NS", {"A": None, "B": "b"}, [("M", "Count", 2)], {"A": "lost", "P": 1}, 5)
    assert doc["A"] == "unknown" and doc["P"] == 1 and doc["_aws"]["Timestamp"] == 5
    assert json.loads(emf.dumps(doc)) == doc
    with pytest.raises(ValueError):
        emf.document("NS", {f"d{i}": "v" for i in range(31)}, [("M", "Count", 1)])
