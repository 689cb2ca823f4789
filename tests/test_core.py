"""ml2p.core: S3URL, SageMakerEnv, predictors, logging (no AWS needed)."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid

import pytest

from ml2p import __version__, hyperparameters
from ml2p.core import (
    S3URL,
    LocalEnv,
    Model,
    ModelDatasetGenerator,
    ModelPredictor,
    ModelTrainer,
    SageMakerEnv,
    SageMakerEnvType,
)
from ml2p.errors import ML2PError
from ml2p.logs import configure_logging, setup_logging


@pytest.mark.parametrize("bad", ["", "bucket/path", "http://b/p", "s3://", "s3:///path"])
def test_s3url_rejects_bad_urls(bad):
    with pytest.raises(ML2PError, match="invalid S3 URL"):
        S3URL(bad)


@pytest.mark.parametrize(
    "url, bucket, path, full",
    [
        ("s3://b/pre/", "b", "pre/x/y", "s3://b/pre/x/y"),
        ("s3://b/pre", "b", "pre/x/y", "s3://b/pre/x/y"),
        ("s3://b/a/b/", "b", "a/b/x/y", "s3://b/a/b/x/y"),
        ("s3://b", "b", "x/y", "s3://b/x/y"),
    ],
)
def test_s3url(url, bucket, path, full):
    s3 = S3URL(url)
    assert s3.bucket() == bucket
    assert s3.path("x/y") == path
    assert s3.path("/x/y") == path
    assert s3.url("x/y") == full
    assert s3.url().endswith("/")


def test_env_type_values():
    # ML2P 0.6's order: code iterating over the members sees the same list.
    assert [(m.name, m.value) for m in SageMakerEnvType] == [
        ("TRAIN", "train"),
        ("SERVE", "serve"),
        ("DATASET", "dataset"),
        ("LOCAL", "local"),
        ("UNKNOWN", "unknown"),
    ]
    assert SageMakerEnvType("train") is SageMakerEnvType.TRAIN
    # A plain Enum, as in ML2P 0.6: members are not strings.
    assert SageMakerEnvType.TRAIN != "train" and not isinstance(SageMakerEnvType.TRAIN, str)
    assert SageMakerEnv.UNKNOWN is SageMakerEnvType.UNKNOWN


BASE = {"ML2P_PROJECT": "proj", "ML2P_S3_URL": "s3://b/p/", "ML2P_MODEL_CLS": "pkg.M"}


@pytest.mark.parametrize(
    "extra, env_type",
    [
        ({"ML2P_TRAINING_JOB": "m-0-1"}, SageMakerEnvType.TRAIN),
        ({"ML2P_DATASET": "m-20240101"}, SageMakerEnvType.DATASET),
        ({"ML2P_MODEL_VERSION": "m-0-1-2"}, SageMakerEnvType.SERVE),
        ({}, SageMakerEnvType.UNKNOWN),
    ],
)
def test_sagemaker_env_type_from_variables(tmp_path, extra, env_type):
    env = SageMakerEnv(str(tmp_path), environ={**BASE, **extra})
    assert env.env_type is env_type
    assert env.project == "proj"
    assert env.model_cls == "pkg.M"
    assert env.s3 == S3URL("s3://b/p/")
    assert env.training_job_name == extra.get("ML2P_TRAINING_JOB")
    assert env.model_version == extra.get("ML2P_MODEL_VERSION")
    assert env.dataset_name == extra.get("ML2P_DATASET")


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("TRUE", True), ("false", False), ("", False), ("yes", False)],
)
def test_record_invokes(tmp_path, value, expected):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_RECORD_INVOKES": value})
    assert env.record_invokes is expected


def test_training_env_from_hyperparameters(tmp_path):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    encoded = hyperparameters.encode(
        {
            "ML2P_ENV": {"ML2P_TRAINING_JOB": "m-0-1", "ML2P_PROJECT": "hp-proj"},
            "model": {"alpha": 0.5, "layers": [3, 4]},
        }
    )
    (config / "hyperparameters.json").write_text(json.dumps(encoded))
    (config / "resourceconfig.json").write_text('{"current_host": "algo-1"}')
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_PROJECT": "os-proj"})
    assert env.env_type is SageMakerEnvType.TRAIN
    assert env.training_job_name == "m-0-1"
    assert env.project == "hp-proj"  # the job's stored settings win
    assert env.hyperparameters["model"] == {"alpha": 0.5, "layers": [3, 4]}
    assert env.resourceconfig() == {"current_host": "algo-1"}


def test_training_env_keeps_hyperparameters_typed_as_raw_strings(tmp_path):
    # The SageMaker console passes what is typed: "hello" is not JSON, but the
    # job still runs and the trainer sees the string.
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    raw = {"name": "hello", "epochs": "3", "opt.lr": "0.5", "opt.kind": "adam w"}
    (config / "hyperparameters.json").write_text(json.dumps(raw))
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_TRAINING_JOB": "m-0-1"})
    assert env.hyperparameters == {
        "name": "hello",
        "epochs": 3,
        "opt": {"lr": 0.5, "kind": "adam w"},
    }


def test_bad_hyperparameters_file_is_named(tmp_path):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text("[1, 2")
    with pytest.raises(ML2PError, match=r"hyperparameters\.json"):
        SageMakerEnv(str(tmp_path), environ={})


def test_folders_and_write_failure(tmp_path):
    env = SageMakerEnv(str(tmp_path), environ={})
    assert env.dataset_folder() == tmp_path / "input" / "data" / "training"
    assert env.data_channel_folder("validation") == tmp_path / "input" / "data" / "validation"
    assert env.model_folder() == tmp_path / "model"
    assert env.resourceconfig() == {}
    path = env.write_failure("ValueError: boom\ntraceback")
    assert path == tmp_path / "output" / "failure"
    assert path.read_text().startswith("ValueError: boom")
    with pytest.raises(ML2PError, match="invalid channel"):
        env.data_channel_folder("../etc")


def test_local_env(tmp_path, ml2p_yml):
    env = LocalEnv(str(tmp_path), ml2p_yml)
    assert env.env_type is SageMakerEnvType.LOCAL
    assert env.project == "test-proj"
    assert env.s3.url() == "s3://ml2p-test/proj/"
    assert env.model_version == "local"
    assert env.model_folder().is_dir()  # made by the constructor, as in ML2P 0.6
    (env.model_folder() / "old").write_text("x")
    env.clean_model_folder()
    assert env.model_folder().is_dir() and not list(env.model_folder().iterdir())


def test_local_env_requires_folder(tmp_path, ml2p_yml):
    with pytest.raises(ML2PError, match="does not exist"):
        LocalEnv(str(tmp_path / "missing"), ml2p_yml)


def test_base_classes():
    assert (Model.DATASET_GENERATOR, Model.TRAINER, Model.PREDICTOR) == (None, None, None)
    env = SageMakerEnv("/nonexistent", environ={})
    with pytest.raises(NotImplementedError):
        ModelTrainer(env).train()
    with pytest.raises(NotImplementedError):
        ModelDatasetGenerator(env).generate()
    with pytest.raises(NotImplementedError):
        ModelPredictor(env).result({})


def test_metadata(tmp_path):
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_MODEL_VERSION": "m-1-2-3"})
    md = ModelPredictor(env).metadata()
    assert md["model_version"] == "m-1-2-3"
    assert md["ml2p_version"] == __version__
    assert isinstance(md["timestamp"], float)


def test_default_record_invoke_id(tmp_path):
    p = ModelPredictor(SageMakerEnv(str(tmp_path), environ={}))
    first, second = p.record_invoke_id({}, {}), p.record_invoke_id({}, {})
    assert list(first) == ["ts", "uuid"]
    assert first["uuid"] != second["uuid"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?", first["ts"])
    assert uuid.UUID(first["uuid"]).version == 4


def test_one_log_handler_however_many_instances(tmp_path, restore_ml2p_logger):
    stream = io.StringIO()
    for _ in range(3):
        configure_logging(stream=stream)
    env = SageMakerEnv(str(tmp_path), environ={})
    predictors = [ModelPredictor(env) for _ in range(5)]
    trainers = [ModelTrainer(env) for _ in range(5)]
    setup_logging()
    predictors[-1].logger.info("hello once")
    trainers[-1].logger.info("trainer once")
    logging.getLogger("some.model.module").info("model code once")
    lines = stream.getvalue().splitlines()
    assert sum("hello once" in line for line in lines) == 1
    assert sum("trainer once" in line for line in lines) == 1
    assert sum("model code once" in line for line in lines) == 1
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_ml2p_handler", 0)]
    assert len(handlers) == 1
    assert not logging.getLogger("ml2p").handlers


def test_model_lines_are_bare_and_ml2ps_carry_time_level_and_logger(restore_ml2p_logger):
    # As ML2P 0.6's handler printed them, for metric filters and log readers written for it.
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("some.model.module").info("loss=%s", 0.25)
    logging.getLogger("ml2pish").warning("not ours")
    logging.getLogger("ml2p.runtime").info("ours")
    logging.getLogger("ml2p").error("ours too")
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("some.model.module").exception("failed")
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["loss=0.25", "not ours"]
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.fullmatch(stamp + r" INFO ml2p\.runtime: ours", lines[2])
    assert re.fullmatch(stamp + r" ERROR ml2p: ours too", lines[3])
    assert lines[4:6] == ["failed", "Traceback (most recent call last):"]
    assert lines[-1] == "ValueError: bad row"


def test_configure_logging_after_old_stream_closed(restore_ml2p_logger):
    old = io.StringIO()
    configure_logging(stream=old)
    old.close()
    new = io.StringIO()
    configure_logging(stream=new)
    logging.getLogger("ml2p.test").info("after close")
    assert "after close" in new.getvalue()


def test_by_default_model_lines_go_to_stdout_and_ml2ps_to_stderr(capsys, restore_ml2p_logger):
    # stdout keeps exactly what ML2P 0.6 printed there; ML2P's own records sit beside
    # what gunicorn and Python write on stderr (SageMaker ships both to CloudWatch).
    configure_logging()
    logging.getLogger("some.model.module").info("model line")
    logging.getLogger("ml2p.runtime").info("ml2p line")
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["model line"]
    [line] = captured.err.splitlines()
    assert line.endswith(" INFO ml2p.runtime: ml2p line")


@pytest.fixture
def aws_sdk_levels():
    names = ("boto3", "botocore", "s3transfer", "urllib3")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_the_aws_sdk_stays_one_step_quieter(restore_ml2p_logger, aws_sdk_levels):
    # botocore says where it found credentials at INFO: not a line for the model's log.
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # set by the application: kept
    logging.getLogger("botocore").setLevel(logging.NOTSET)
    configure_logging(stream=io.StringIO())
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.WARNING
    configure_logging(logging.DEBUG, stream=io.StringIO())
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO
    assert logging.getLogger("urllib3").level == logging.ERROR
