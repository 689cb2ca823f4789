"""Tests of the installed ml2p-example-diabetes package: bad input first, then the whole loop."""

from __future__ import annotations

import json
import math
import pathlib
from typing import Any

import pytest
from ml2p_example_diabetes import dataset
from ml2p_example_diabetes.model import (
    DiabetesDatasetGenerator,
    DiabetesModel,
    DiabetesPredictor,
    DiabetesTrainer,
)

from ml2p import lifecycle
from ml2p.core import SageMakerEnv
from ml2p.errors import ClientError, ML2PError
from ml2p.plugins import installed_entry_points, make_plugin_manager, resolve_model

BUCKET = "diabetes-test"


@pytest.fixture
def pm():
    """A plugin manager with only the built-in plugin: installed plugins stay out."""
    return make_plugin_manager(load_entry_points=False)


def make_env(folder: pathlib.Path, **environ: str) -> SageMakerEnv:
    folder.mkdir(parents=True, exist_ok=True)
    return SageMakerEnv(folder, environ=environ)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> pathlib.Path:
    """An ML folder with the data set generated and a model trained (no AWS)."""
    folder = tmp_path_factory.mktemp("ml")
    env = make_env(folder)
    pm = make_plugin_manager(load_entry_points=False)
    lifecycle.generate(DiabetesDatasetGenerator(env, plugin_manager=pm))
    lifecycle.train(DiabetesTrainer(env, plugin_manager=pm))
    return folder


@pytest.fixture
def predictor(trained: pathlib.Path, pm) -> DiabetesPredictor:
    p = DiabetesPredictor(make_env(trained, ML2P_MODEL_VERSION="diabetes-0-1-0"), plugin_manager=pm)
    lifecycle.setup(p)
    return p


def a_datum() -> dict[str, Any]:
    return {name: 0.01 * i for i, name in enumerate(dataset.FEATURES)}


# --- bad input -------------------------------------------------------------------


@pytest.mark.parametrize(
    "datum, path",
    [
        ([1, 2, 3], "$"),
        ({k: v for k, v in a_datum().items() if k != "bmi"}, "$.bmi"),
        ({**a_datum(), "bp": "high"}, "$.bp"),
        ({**a_datum(), "sex": True}, "$.sex"),
        ({**a_datum(), "s5": None}, "$.s5"),
        ({**a_datum(), "age": math.inf}, "$.age"),
    ],
)
def test_result_rejects_bad_input_with_400_naming_the_field(predictor, datum, path):
    with pytest.raises(ClientError) as info:
        predictor.result(datum)
    assert info.value.status_code == 400
    assert info.value.message.startswith(f"{path}:")


def test_batch_result_names_the_bad_instance(predictor):
    batch = [a_datum(), {**a_datum(), "s3": "x"}, a_datum()]
    with pytest.raises(ClientError) as info:
        predictor.batch_result(batch)
    assert info.value.message.startswith("$.instances[1].s3:")


def test_train_without_dataset_says_what_to_do(tmp_path, pm):
    trainer = DiabetesTrainer(make_env(tmp_path / "ml"), plugin_manager=pm)
    with pytest.raises(ML2PError, match=r"no train\.csv in the dataset folder"):
        lifecycle.train(trainer)
    assert not (tmp_path / "ml" / "model").exists()


@pytest.mark.parametrize("alpha", [-1, 0, "lots", math.nan])
def test_train_rejects_bad_alpha(trained, alpha, pm):
    trainer = DiabetesTrainer(make_env(trained), plugin_manager=pm)
    trainer.env.hyperparameters = {"alpha": alpha}
    with pytest.raises(ML2PError, match="alpha must be a positive number"):
        trainer.alpha()


def test_read_csv_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    row = {name: 0.0 for name in (*dataset.FEATURES, dataset.TARGET)}
    dataset.write_csv(path, [row, row])
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace("0.0", "oops", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: age is not a number"):
        dataset.read_csv(path)
    path.write_text("age,sex\n1,2\n")
    with pytest.raises(ValueError, match="missing column"):
        dataset.read_csv(path)


def test_setup_without_model_fails_clearly(tmp_path, pm):
    p = DiabetesPredictor(make_env(tmp_path / "ml"), plugin_manager=pm)
    with pytest.raises(ML2PError, match="no trained model"):
        lifecycle.setup(p)


# --- generating -------------------------------------------------------------------


def test_generate_locally_writes_every_row_once_and_uploads_nothing(tmp_path, pm):
    from sklearn.datasets import load_diabetes

    env = make_env(tmp_path / "ml")
    out = lifecycle.generate(DiabetesDatasetGenerator(env, plugin_manager=pm))
    assert out["uploaded"] == []
    train = dataset.read_csv(env.dataset_folder() / "train.csv")
    test = dataset.read_csv(env.dataset_folder() / "test.csv")
    expected = load_diabetes()
    assert len(train) + len(test) == len(expected.target)
    assert len(test) == math.ceil(len(expected.target) / dataset.HOLDOUT_EVERY)
    # Row 0 is held out and comes back bit for bit.
    assert [test[0][f] for f in dataset.FEATURES] == list(expected.data[0])
    assert test[0]["target"] == expected.target[0]


def test_upload_can_be_switched_off(tmp_path):
    env = make_env(tmp_path, ML2P_S3_URL="s3://b/p/", ML2P_DATASET="diabetes-20240101")
    assert dataset.should_upload(env)
    env = make_env(
        tmp_path,
        ML2P_S3_URL="s3://b/p/",
        ML2P_DATASET="diabetes-20240101",
        ML2P_EXAMPLE_UPLOAD="false",
    )
    assert not dataset.should_upload(env)
    assert not dataset.should_upload(make_env(tmp_path, ML2P_S3_URL="s3://b/p/"))


def test_generate_uploads_to_the_dataset_folder_in_s3(tmp_path, s3_bucket, pm):
    env = make_env(
        tmp_path / "ml", ML2P_S3_URL=f"s3://{BUCKET}/proj/", ML2P_DATASET="diabetes-20240101"
    )
    out = lifecycle.generate(DiabetesDatasetGenerator(env, plugin_manager=pm))
    prefix = "proj/datasets/diabetes-20240101/"
    keys = sorted(o["Key"] for o in s3_bucket.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == [prefix + "test.csv", prefix + "train.csv"]
    assert sorted(out["uploaded"]) == [f"s3://{BUCKET}/{k}" for k in keys]
    body = s3_bucket.get_object(Bucket=BUCKET, Key=prefix + "train.csv")["Body"].read()
    assert body == (env.dataset_folder() / "train.csv").read_bytes()


# --- training and predicting -------------------------------------------------------


def test_training_writes_model_schema_and_honest_metrics(trained):
    model_folder = trained / "model"
    schema = json.loads((model_folder / "input-schema.json").read_text())
    assert schema["type"] == ["object", "array"]
    assert sorted(schema["required"]) == sorted(dataset.FEATURES)
    assert all(schema["properties"][f] == {"type": "number"} for f in dataset.FEATURES)

    import joblib
    import numpy as np

    metrics = json.loads((model_folder / "metrics.json").read_text())
    test = dataset.read_csv(trained / "input" / "data" / "training" / "test.csv")
    model = joblib.load(model_folder / "model.joblib")
    x = np.array([[row[f] for f in dataset.FEATURES] for row in test])
    y = np.array([row["target"] for row in test])
    r2 = 1 - np.sum((model.predict(x) - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert metrics["test_rows"] == len(test)
    assert metrics["test_r2"] == pytest.approx(r2)
    assert metrics["test_r2"] > 0.3  # far better than predicting the mean


def test_schema_accepts_real_rows_and_rejects_a_missing_feature(trained):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((trained / "model" / "input-schema.json").read_text())
    row = dataset.read_csv(trained / "input" / "data" / "training" / "test.csv")[0]
    datum = {f: row[f] for f in dataset.FEATURES}
    jsonschema.validate({**datum, "customer_id": "c-1"}, schema)
    del datum["bmi"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(datum, schema)


def test_predictions_match_scikit_learn_single_and_batch(trained, predictor):
    import joblib
    import numpy as np

    test = dataset.read_csv(trained / "input" / "data" / "training" / "test.csv")
    data = [{f: row[f] for f in dataset.FEATURES} for row in test]
    expected = joblib.load(trained / "model" / "model.joblib").predict(
        np.array([[d[f] for f in dataset.FEATURES] for d in data])
    )
    singles = [predictor.result(d)["prediction"] for d in data]
    batch = [r["prediction"] for r in predictor.batch_result(data)]
    assert singles == pytest.approx(list(expected), rel=1e-9)
    assert batch == pytest.approx(singles, rel=1e-12)
    assert predictor.batch_result([]) == []


def test_invoke_and_batch_invoke_through_the_hooks(trained, predictor):
    row = dataset.read_csv(trained / "input" / "data" / "training" / "test.csv")[3]
    datum = {f: row[f] for f in dataset.FEATURES}
    single = predictor.invoke(datum)
    assert single["metadata"]["model_version"] == "diabetes-0-1-0"
    assert single["result"] == predictor.result(datum)
    batch = predictor.batch_invoke([datum, datum])
    assert [b["result"] for b in batch] == [single["result"]] * 2


def test_installed_entry_point_resolves_to_the_model():
    models = installed_entry_points("ml2p.models")
    assert "diabetes" in models
    assert models["diabetes"].dist == "ml2p-example-diabetes"
    assert resolve_model("diabetes") is DiabetesModel
    assert DiabetesModel.PREDICTOR is DiabetesPredictor
