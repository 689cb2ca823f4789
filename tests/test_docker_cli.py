"""``ml2p-docker train | generate-dataset`` and the runtime functions behind them."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from ml2p import runtime
from ml2p.docker import main
from tests.serving_support import ROOT

# ml2p-docker installs a handler on the ``ml2p`` logger: each test gets it removed.
pytestmark = pytest.mark.usefixtures("restore_ml2p_logger")


def failure(folder):
    return (folder / "output" / "failure").read_text()


# -- bad input ------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "serve", "generate-dataset"])
def test_no_model_is_a_one_line_error_with_exit_2(tmp_path, monkeypatch, capsys, command):
    monkeypatch.delenv("ML2P_MODEL_CLS", raising=False)
    assert main(["--ml-folder", str(tmp_path), command]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--model" in err and "ML2P_MODEL_CLS" in err


def test_runtime_without_model_writes_failure_and_returns_2(tmp_path):
    assert runtime.train(tmp_path, environ={}) == 2
    assert failure(tmp_path).startswith("ModelNotFoundError: no model given")


def test_unknown_model_fails_training(tmp_path, monkeypatch):
    monkeypatch.delenv("ML2P_MODEL_CLS", raising=False)
    code = main(["--ml-folder", str(tmp_path), "--model", "no_such_model_xyz", "train"])
    assert code == 1
    text = failure(tmp_path)
    assert text.startswith("ModelNotFoundError: no model named 'no_such_model_xyz'")


def test_training_failure_writes_reason_first_then_traceback(tmp_path, monkeypatch, capsys):
    detail = str(random.randint(1, 10**9))
    monkeypatch.setenv("SERVING_FAIL_DETAIL", detail)
    monkeypatch.setenv("ML2P_TRAINING_JOB", "job-1")
    code = main(
        ["--ml-folder", str(tmp_path), "--model", "tests.serving_models.FailingModel", "train"]
    )
    assert code == 1
    text = failure(tmp_path)
    first_line = text.splitlines()[0]
    assert first_line == f"ValueError: bad training data: {detail}"
    assert "Traceback (most recent call last)" in text and "serving_models.py" in text
    # ML2P's own records go to stderr; stdout keeps what ML2P 0.6 printed there.
    captured = capsys.readouterr()
    assert "training failed" not in captured.out
    lines = captured.err.splitlines()
    failed = [i for i, line in enumerate(lines) if "training failed" in line]
    assert len(failed) == 1 and lines[failed[0]].endswith(f"training failed: {first_line}")
    # The traceback follows as Python prints it, one line per line.
    after = lines[failed[0] + 1 :]
    assert after[0] == "Traceback (most recent call last):"
    assert any(line.strip().startswith('File "') for line in after)
    assert first_line in after


def test_failure_reason_holds_the_whole_summary_within_sagemakers_limit(tmp_path, monkeypatch):
    """SageMaker shows the first 1024 characters: a long message is cut to fit, said so."""
    detail = "".join(random.choice("abcdef0123456789") for _ in range(3000))
    monkeypatch.setenv("SERVING_FAIL_DETAIL", detail)
    environ = {"ML2P_TRAINING_JOB": "job-1"}
    assert runtime.train(tmp_path, "tests.serving_models.FailingModel", environ) == 1
    text = failure(tmp_path)
    summary = text.splitlines()[0]
    assert len(summary) == runtime.FAILURE_REASON_CHARS
    assert summary.startswith("ValueError: bad training data: " + detail[:100])
    assert summary.endswith(runtime.CUT_MARK)
    assert text[: runtime.FAILURE_REASON_CHARS] == summary
    # Nothing is lost: the traceback ends with the whole message.
    assert text.rstrip().endswith(f"ValueError: bad training data: {detail}")


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_failure_summary_is_cut_only_past_the_limit(extra):
    prefix = "ValueError: "
    exc = ValueError("x" * (runtime.FAILURE_REASON_CHARS - len(prefix) + extra))
    summary = runtime.failure_report(exc).split("\n", 1)[0]
    if extra <= 0:
        assert summary == f"{prefix}{exc}"
    else:
        assert len(summary) == runtime.FAILURE_REASON_CHARS
        assert summary.endswith(runtime.CUT_MARK)


def test_dataset_generation_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2P_MODEL_CLS", "tests.serving_models.FailingModel")
    monkeypatch.setenv("ML2P_DATASET", "ds-20240101")
    assert main(["--ml-folder", str(tmp_path), "generate-dataset"]) == 1
    assert failure(tmp_path).startswith("ValueError: source table is empty\n")


def test_model_without_trainer_fails(tmp_path):
    code = runtime.train(tmp_path, "tests.serving_models.ScaleModel", environ={})
    assert code == 1
    assert failure(tmp_path).startswith(
        "ValueError: ScaleModel.TRAINER is not set: set it to a ModelTrainer sub-class"
    )


def test_failing_plugin_is_named(tmp_path):
    environ = {"ML2P_PROJECT_PLUGINS": "tests.serving_plugins"}
    code = runtime.train(tmp_path, "tests.models.MinimalModel", environ=environ)
    assert code == 1
    first = failure(tmp_path).splitlines()[0]
    assert first == (
        "ValueError: plugin refused to train (raised by plugin 'tests.serving_plugins')"
    )


def test_plugin_that_cannot_import_is_named(tmp_path):
    environ = {"ML2P_PROJECT_PLUGINS": "tests.no_such_plugin_module"}
    assert runtime.train(tmp_path, "tests.models.MinimalModel", environ=environ) == 1
    first = failure(tmp_path).splitlines()[0]
    assert first.startswith("PluginError: plugin 'tests.no_such_plugin_module': failed to import")


# -- success --------------------------------------------------------------


def test_training_writes_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ML2P_TRAINING_JOB", "job-1")
    code = main(["--ml-folder", str(tmp_path), "--model", "tests.models.MinimalModel", "train"])
    assert code == 0
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == {"slope": 2}
    assert not (tmp_path / "output" / "failure").exists()


def test_model_named_by_the_ml2p_env_hyperparameter(tmp_path, monkeypatch):
    from ml2p import hyperparameters

    monkeypatch.delenv("ML2P_MODEL_CLS", raising=False)
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    env = {"ML2P_MODEL_CLS": "tests.models.MinimalModel", "ML2P_TRAINING_JOB": "job-2"}
    encoded = hyperparameters.encode({"ML2P_ENV": env})
    (config / "hyperparameters.json").write_text(json.dumps(encoded))
    assert main(["--ml-folder", str(tmp_path), "train"]) == 0
    assert (tmp_path / "model" / "model.json").exists()


def test_generate_dataset_uploads_to_s3(tmp_path, monkeypatch, s3):
    monkeypatch.setenv("ML2P_DATASET", "ds-20240102")
    monkeypatch.setenv("ML2P_S3_URL", "s3://ml2p-test/proj/")
    monkeypatch.setenv("ML2P_MODEL_CLS", "tests.models.MinimalModel")
    assert main(["--ml-folder", str(tmp_path), "generate-dataset"]) == 0
    body = s3.get_object(Bucket="ml2p-test", Key="proj/datasets/ds-20240102/data.json")["Body"]
    assert json.loads(body.read())[3] == {"x": 3, "y": 6}


def test_help_loads_neither_boto3_nor_gunicorn():
    code = (
        "import sys\n"
        "from ml2p.docker import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'gunicorn', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert "train" in out and "generate-dataset" in out
    assert out.strip().splitlines()[-1] == "[]"
