from __future__ import annotations

import json

import pytest
from model06.model import Model06

from ml2p.core import LocalEnv, SageMakerEnv, SageMakerEnvType
from ml2p.errors import ClientError

BUCKET = "compat-bucket"


def write_slope(ml_folder, slope):
    (ml_folder / "model" / "slope.json").write_text(json.dumps({"slope": slope, "rows": 1}))


def test_trainer_fits_the_slope(ml_folder, ml2p_yml):
    env = LocalEnv(str(ml_folder), ml2p_yml)
    assert env.env_type == SageMakerEnvType.LOCAL
    env.dataset_folder().mkdir(parents=True)
    (env.dataset_folder() / "data.csv").write_text("x,y\n1,2\n2,4\n3,6\n")
    Model06().trainer(env).train()
    saved = json.loads((env.model_folder() / "slope.json").read_text())
    assert saved == {"slope": 2.0, "rows": 3}


def test_trainer_refuses_an_empty_dataset(ml_folder, ml2p_yml):
    env = LocalEnv(str(ml_folder), ml2p_yml)
    env.dataset_folder().mkdir(parents=True)
    (env.dataset_folder() / "data.csv").write_text("x,y\n")
    with pytest.raises(ValueError):
        Model06().trainer(env).train()


def test_predictor_result(ml_folder, serving):
    write_slope(ml_folder, 3.0)
    env = SageMakerEnv(str(ml_folder))
    assert env.env_type == SageMakerEnvType.SERVE
    predictor = Model06().predictor(env)
    predictor.setup()
    assert predictor.result({"x": 2}) == {"y": 6.0}


def test_invoke_adds_metadata(ml_folder, serving):
    write_slope(ml_folder, 3.0)
    predictor = Model06().predictor(SageMakerEnv(str(ml_folder)))
    predictor.setup()
    prediction = predictor.invoke({"x": 1})
    assert prediction["result"] == {"y": 3.0}
    assert prediction["metadata"]["model_version"] == serving
    assert isinstance(prediction["metadata"]["timestamp"], float)


def test_batch_invoke(ml_folder, serving):
    write_slope(ml_folder, 3.0)
    predictor = Model06().predictor(SageMakerEnv(str(ml_folder)))
    predictor.setup()
    predictions = predictor.batch_invoke([{"x": 1}, {"x": 2}])["predictions"]
    assert [p["result"] for p in predictions] == [{"y": 3.0}, {"y": 6.0}]


def test_bad_input_is_a_client_error(ml_folder, serving):
    write_slope(ml_folder, 3.0)
    predictor = Model06().predictor(SageMakerEnv(str(ml_folder)))
    predictor.setup()
    with pytest.raises(ClientError) as info:
        predictor.invoke({"x": "three"})
    assert info.value.status_code == 400
    assert info.value.details == ["x must be a number"]


def test_invocations_are_recorded(ml_folder, serving, s3, monkeypatch):
    monkeypatch.setenv("ML2P_RECORD_INVOKES", "true")
    write_slope(ml_folder, 3.0)
    predictor = Model06().predictor(SageMakerEnv(str(ml_folder)))
    predictor.setup()
    prediction = predictor.invoke({"x": 2})
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"prj/predictions/{serving}/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert len(keys) == 1
    assert keys[0].split("/")[-1].startswith("ts-")
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    assert record == {"input": {"x": 2}, "result": prediction}


def test_generator_uploads_the_dataset(ml_folder, s3, monkeypatch):
    monkeypatch.setenv("ML2P_DATASET", "model06-20260101")
    monkeypatch.setenv("ML2P_PROJECT", "compat-proj")
    monkeypatch.setenv("ML2P_S3_URL", "s3://compat-bucket/prj/")
    env = SageMakerEnv(str(ml_folder))
    assert env.env_type == SageMakerEnvType.DATASET
    Model06().dataset_generator(env).generate()
    body = s3.get_object(Bucket=BUCKET, Key="prj/datasets/model06-20260101/data.csv")["Body"]
    assert body.read().decode().splitlines()[:2] == ["x,y", "1,3"]
