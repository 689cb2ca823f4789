"""Tests of the installed ml2p-example-minimal package: bad input first, then the whole loop."""

from __future__ import annotations

import json
import pathlib

import pytest
from ml2p_example_minimal import model as minimal

from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.errors import ClientError, ML2PError
from ml2p.plugins import installed_entry_points, make_plugin_manager, resolve_model

BUCKET = "minimal-test"


@pytest.fixture
def pm():
    return make_plugin_manager(load_entry_points=False)


def make_env(folder: pathlib.Path, **environ: str) -> SageMakerEnv:
    folder.mkdir(parents=True, exist_ok=True)
    return SageMakerEnv(folder, environ=environ)


@pytest.fixture
def trained(tmp_path, pm) -> pathlib.Path:
    env = make_env(tmp_path / "ml")
    lifecycle.generate(minimal.MinimalDatasetGenerator(env, plugin_manager=pm))
    lifecycle.train(minimal.MinimalTrainer(env, plugin_manager=pm))
    return tmp_path / "ml"


@pytest.fixture
def predictor(trained, pm) -> minimal.MinimalPredictor:
    p = minimal.MinimalPredictor(make_env(trained, ML2P_MODEL_VERSION="m-1"), plugin_manager=pm)
    lifecycle.setup(p)
    return p


@pytest.mark.parametrize(
    "datum, message",
    [
        ("x", "$: expected a JSON object"),
        ({}, "$.x: missing"),
        ({"x": "1"}, "$.x: expected a finite number"),
        ({"x": True}, "$.x: expected a finite number"),
        ({"x": float("nan")}, "$.x: expected a finite number"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(predictor, datum, message):
    with pytest.raises(ClientError) as info:
        predictor.result(datum)
    assert info.value.status_code == 400
    assert info.value.message.startswith(message)
    with pytest.raises(ClientError, match=r"^\$\.instances\[1\]"):
        predictor.batch_result([{"x": 1}, datum])


def test_bad_dataset_files_are_named(tmp_path, pm):
    env = make_env(tmp_path / "ml")
    trainer = minimal.MinimalTrainer(env, plugin_manager=pm)
    with pytest.raises(ML2PError, match=r"no data\.csv"):
        lifecycle.train(trainer)
    data = env.dataset_folder() / "data.csv"
    data.parent.mkdir(parents=True)
    data.write_text("x,y\n1,2\n2,oops\n")
    with pytest.raises(ML2PError, match=r"data.csv:3: x and y must be numbers"):
        lifecycle.train(trainer)
    data.write_text("x,y\n1,2\n1,3\n")
    with pytest.raises(ML2PError, match="every x is the same"):
        lifecycle.train(trainer)
    data.write_text("a,b\n1,2\n")
    with pytest.raises(ML2PError, match="expected the columns x,y"):
        lifecycle.train(trainer)


def test_setup_without_model_fails_clearly(tmp_path, pm):
    p = minimal.MinimalPredictor(make_env(tmp_path / "ml"), plugin_manager=pm)
    with pytest.raises(ML2PError, match="no trained model"):
        lifecycle.setup(p)


def test_training_recovers_the_line(trained):
    fitted = json.loads((trained / "model" / "model.json").read_text())
    assert fitted["slope"] == pytest.approx(minimal.TRUE_SLOPE, abs=0.01)
    assert fitted["intercept"] == pytest.approx(minimal.TRUE_INTERCEPT, abs=0.1)
    schema = json.loads((trained / "model" / "input-schema.json").read_text())
    assert schema["required"] == ["x"]
    assert json.loads((trained / "model" / "metrics.json").read_text())["r2"] > 0.99


def test_single_and_batch_predictions_agree(predictor):
    single = predictor.invoke({"x": 2})
    assert single["result"]["y"] == pytest.approx(predictor.slope * 2 + predictor.intercept)
    assert single["metadata"]["model_version"] == "m-1"
    batch = predictor.batch_invoke([{"x": 2}, {"x": -1.5}])
    assert [b["result"] for b in batch] == [single["result"], predictor.result({"x": -1.5})]


def test_generate_uploads_only_when_asked(tmp_path, s3_bucket, pm, monkeypatch):
    environ = {"ML2P_S3_URL": f"s3://{BUCKET}/p/", "ML2P_DATASET": "minimal-20240101"}
    monkeypatch.setenv("ML2P_EXAMPLE_UPLOAD", "false")
    out = lifecycle.generate(
        minimal.MinimalDatasetGenerator(make_env(tmp_path / "a", **environ), plugin_manager=pm)
    )
    assert out["uploaded"] == []
    assert "Contents" not in s3_bucket.list_objects_v2(Bucket=BUCKET)
    monkeypatch.delenv("ML2P_EXAMPLE_UPLOAD")
    env = make_env(tmp_path / "b", **environ)
    out = lifecycle.generate(minimal.MinimalDatasetGenerator(env, plugin_manager=pm))
    key = "p/datasets/minimal-20240101/data.csv"
    assert out["uploaded"] == [f"s3://{BUCKET}/{key}"]
    body = s3_bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == (env.dataset_folder() / "data.csv").read_bytes()


def test_installed_entry_point_resolves_to_the_model():
    models = installed_entry_points("ml2p.models")
    assert models["minimal"].dist == "ml2p-example-minimal"
    assert resolve_model("minimal") is minimal.MinimalModel
