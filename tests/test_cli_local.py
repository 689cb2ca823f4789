"""``ml2p local``: generate, train, serve and invoke in a folder laid out like /opt/ml."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request

import boto3
import pytest

from ml2p import hyperparameters as hp
from ml2p.cli import cli
from ml2p.core import LocalEnv, ModelTrainer
from ml2p.packaging import pack_model
from ml2p.testing import free_port
from tests.cli_support import cli_runner
from tests.models import MinimalModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BrokenTrainer(ModelTrainer):
    def train(self):
        raise RuntimeError("the data is bad")


class BrokenModel(MinimalModel):
    TRAINER = BrokenTrainer


@pytest.fixture
def local_yml(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  minimal: tests.models.MinimalModel\n"
        "  broken: tests.test_cli_local.BrokenModel\n"
    )
    return str(path)


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "ml"


def invoke(cfg, *args):
    return cli_runner().invoke(cli, ["--cfg", cfg, *args])


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout  # the JSON result; logs go to stderr


# --- bad input first --------------------------------------------------------------


def test_unknown_model_is_named(local_yml, folder):
    result = invoke(local_yml, "local", "train", "nosuch", "--local-folder", str(folder))
    assert result.exit_code == 1
    assert "model 'nosuch' is not defined" in result.output and "minimal" in result.output


def test_dataset_and_data_dir_together_is_a_usage_error(local_yml, folder, tmp_path):
    result = invoke(
        local_yml,
        "local",
        "train",
        "minimal",
        "--dataset",
        "minimal-20240101",
        "--data-dir",
        str(tmp_path),
        "--local-folder",
        str(folder),
    )
    assert result.exit_code == 2 and "not both" in result.output


def test_failed_training_reports_the_reason(local_yml, folder):
    result = invoke(local_yml, "local", "train", "broken", "--local-folder", str(folder))
    assert result.exit_code == 1
    # One line on stderr (the model logged nothing); the traceback is in output/failure.
    (error,) = result.stderr.strip().splitlines()
    assert error.startswith("Error: train failed")
    assert "RuntimeError: the data is bad" in error
    assert result.stdout == ""
    assert "RuntimeError: the data is bad" in (folder / "output" / "failure").read_text()
    assert not (folder / "output" / "model.tar.gz").exists()


def test_serve_without_a_model_says_to_train(local_yml, folder):
    result = invoke(local_yml, "local", "serve", "minimal", "--local-folder", str(folder))
    assert result.exit_code == 1
    assert "ml2p local train minimal" in result.output


def test_invoke_without_a_server(local_yml):
    port = free_port()
    result = invoke(local_yml, "local", "invoke", '{"x": 1}', "--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert "cannot reach" in result.output and "ml2p local serve" in result.output


def test_invoke_refuses_bad_json(local_yml):
    result = invoke(local_yml, "local", "invoke", "{x", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "not valid JSON" in result.output


def test_bad_hyperparameters_file(local_yml, folder, tmp_path):
    bad = tmp_path / "hp.yml"
    bad.write_text("- a\n- b\n")
    result = invoke(
        local_yml,
        "local",
        "train",
        "minimal",
        "--hyperparameters",
        str(bad),
        "--local-folder",
        str(folder),
    )
    assert result.exit_code == 1 and "must hold a mapping" in result.output


# --- packaging --------------------------------------------------------------------


def test_pack_model_members_are_relative(tmp_path):
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.json").write_text("{}")
    (model / "sub" / "w.bin").write_bytes(b"\x00\x01")
    archive = pack_model(model, tmp_path / "out" / "model.tar.gz")
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
    assert names == ["model.json", "sub", "sub/w.bin"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model.tar.gz"]


def test_pack_model_needs_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        pack_model(tmp_path / "missing", tmp_path / "model.tar.gz")
    assert not (tmp_path / "model.tar.gz").exists()


# --- training and generating ------------------------------------------------------


def test_local_train_from_data_dir_and_round_trip_through_s3(local_yml, folder, tmp_path, s3):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x,y\n1,2\n")
    out = json.loads(
        ok(
            invoke(
                local_yml,
                "local",
                "train",
                "minimal",
                "--data-dir",
                str(data),
                "-p",
                "epochs=3",
                "-p",
                "opt.lr=0.1",
                "--training-job",
                "minimal-1-0",
                "--local-folder",
                str(folder),
            )
        )
    )
    assert out["files"] == ["model.json"]
    assert out["training_job"] == "test-proj-minimal-1-0"
    assert (folder / "input" / "data" / "training" / "train.csv").read_text() == "x,y\n1,2\n"
    stored = json.loads((folder / "input" / "config" / "hyperparameters.json").read_text())
    decoded = hp.decode(stored)
    assert decoded["epochs"] == 3 and decoded["opt"] == {"lr": 0.1}
    assert decoded["ML2P_ENV"]["ML2P_TRAINING_JOB"] == "test-proj-minimal-1-0"
    assert decoded["ML2P_ENV"]["ML2P_MODEL_CLS"] == "tests.models.MinimalModel"
    assert decoded["ML2P_ENV"]["ML2P_PROJECT"] == "test-proj"

    archive = folder / "output" / "model.tar.gz"
    assert out["archive"] == str(archive)
    key = "proj/models/test-proj-minimal-1-0/output/model.tar.gz"
    s3.upload_file(str(archive), "ml2p-test", key)
    other = tmp_path / "other"
    other.mkdir()
    env = LocalEnv(other, local_yml, session=boto3.session.Session())
    files = env.download_model("minimal-1-0")
    assert [p.name for p in files] == ["model.json"]
    assert json.loads((other / "model" / "model.json").read_text()) == {"slope": 2}


def test_local_train_downloads_the_dataset(local_yml, folder, s3):
    s3.put_object(Bucket="ml2p-test", Key="proj/datasets/minimal-20240101/a/b.csv", Body=b"1,2\n")
    stale = folder / "input" / "data" / "training" / "stale.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    ok(
        invoke(
            local_yml,
            "local",
            "train",
            "minimal",
            "--dataset",
            "minimal-20240101",
            "--local-folder",
            str(folder),
        )
    )
    channel = folder / "input" / "data" / "training"
    assert (channel / "a" / "b.csv").read_bytes() == b"1,2\n"
    assert not stale.exists()
    assert (folder / "model" / "model.json").exists()


def test_local_train_missing_dataset(local_yml, folder, s3):
    result = invoke(
        local_yml,
        "local",
        "train",
        "minimal",
        "--dataset",
        "minimal-20240101",
        "--local-folder",
        str(folder),
    )
    assert result.exit_code == 1 and "has no files" in result.output


def test_local_generate_runs_the_generator(local_yml, folder, s3):
    out = json.loads(
        ok(
            invoke(
                local_yml,
                "local",
                "generate",
                "minimal",
                "minimal-20240102",
                "--local-folder",
                str(folder),
            )
        )
    )
    assert out["dataset"] == "minimal-20240102"
    body = s3.get_object(Bucket="ml2p-test", Key="proj/datasets/minimal-20240102/data.json")
    assert json.loads(body["Body"].read())[3] == {"x": 3, "y": 6}


# --- serving over HTTP ------------------------------------------------------------


def _wait_for_ping(url: str, proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not answer /ping in time")


def test_local_train_then_serve_over_http(local_yml, folder, tmp_path):
    ok(invoke(local_yml, "local", "train", "minimal", "--local-folder", str(folder)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ml2p",
            "--cfg",
            local_yml,
            "local",
            "serve",
            "minimal",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--local-folder",
            str(folder),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_ping(url, proc, time.monotonic() + 60)
        out = json.loads(ok(invoke(local_yml, "local", "invoke", '{"x": 21}', "--url", url)))
        assert out["result"] == {"y": 42}
        assert out["metadata"]["model_version"] == "test-proj-local"
        data = tmp_path / "batch.json"
        data.write_text(json.dumps({"instances": [{"x": 1}, {"x": 2}]}))
        batch = json.loads(ok(invoke(local_yml, "local", "invoke", f"@{data}", "--url", url)))
        assert [p["result"] for p in batch["predictions"]] == [{"y": 2}, {"y": 4}]
        bad = invoke(local_yml, "local", "invoke", '{"z": 1}', "--url", url)
        assert bad.exit_code == 1
        assert bad.output.startswith(f"Error: {url}/invocations answered 500")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    assert proc.returncode == 0, (tmp_path / "server.log").read_text()


def test_local_environment_replaces_core_variables_only(monkeypatch):
    from ml2p.cli.local_support import local_environ

    monkeypatch.setenv("ML2P_TRAINING_JOB", "stale-0-1")
    monkeypatch.setenv("ML2P_METRICS_FILE", "/tmp/metrics.jsonl")
    env = local_environ({"ML2P_MODEL_VERSION": "proj-local"})
    # A leftover training variable must not turn a serving run into training...
    assert "ML2P_TRAINING_JOB" not in env
    assert env["ML2P_MODEL_VERSION"] == "proj-local"
    # ...while plugin settings reach the runtime.
    assert env["ML2P_METRICS_FILE"] == "/tmp/metrics.jsonl"
