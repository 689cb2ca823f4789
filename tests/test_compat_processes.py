"""ML2P 0.6 compatibility seen from outside: ``ml2p-docker`` and the server as processes.

A model written as for ML2P 0.6 (:mod:`tests.compat_models`) builds its own
trainer, generator and predictor and logs with ``logging.getLogger(__name__)``.
Each of its lines must reach stdout exactly once, whatever the command and
however many workers serve it, as the bare message, as ML2P 0.6 printed it
(CloudWatch metric filters and log readers match on it); ML2P's own lines
carry time, level and logger. The commands print 0.6's start and done lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests import v060
from tests.conftest import AWS_TEST_ENV
from tests.serving_support import ROOT, Server, post, request

MODEL = "tests.compat_models.FactoryModel"


def docker(*args: str, env: dict) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    environ.update(AWS_TEST_ENV)
    environ["PYTHONPATH"] = ROOT + os.pathsep + environ.get("PYTHONPATH", "")
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "ml2p.docker", *args],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines_with(text: str, needle: str) -> list:
    return [line for line in text.splitlines() if needle in line]


#: A line of one of ML2P's own log records.
ML2P_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ml2p(\.[\w.]+)?: ")


def models_lines(text: str) -> list:
    """The lines of ``text`` that are not ML2P's own log records, pids normalised."""
    lines = [line for line in text.splitlines() if not ML2P_RECORD.match(line)]
    return [re.sub(r"pid=\d+", "pid=N", line) for line in lines]


def pid_free(text: str) -> list:
    """Every line of ``text``, pids normalised."""
    return [re.sub(r"pid=\d+", "pid=N", line) for line in text.splitlines()]


def test_version_and_short_help():
    version = docker("--version", env={})
    assert version.returncode == 0
    from ml2p import __version__

    assert version.stdout.strip() == f"ml2p-docker, version {__version__}"
    short_help = docker("-h", env={})
    assert short_help.returncode == 0 and "generate-dataset" in short_help.stdout


TRAIN_ARGS = ("--model", MODEL, "train")
TRAIN_ENV = {"ML2P_TRAINING_JOB": "j-1-0"}


def test_train_logs_the_models_lines_once_on_stdout(tmp_path):
    proc = docker("--ml-folder", str(tmp_path), *TRAIN_ARGS, env=TRAIN_ENV)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Built by FactoryModel.trainer, which set the slope.
    assert json.loads((tmp_path / "model" / "model.json").read_text()) == {"slope": 7}
    # Exactly ML2P 0.6's lines: the start line, the model's line bare, the done line.
    assert pid_free(proc.stdout) == [
        "Starting training job j-1-0.",
        "compat-model training pid=N",
        "Done.",
    ]
    # ML2P's own lines, on stderr, say when, how bad and who.
    [started] = lines_with(proc.stderr, "training started: tests.compat_models.FactoryTrainer")
    assert ML2P_RECORD.match(started) and " INFO ml2p.runtime: " in started
    assert len(lines_with(proc.stderr, "training finished")) == 1
    assert "compat-model" not in proc.stderr and "Logging error" not in proc.stderr


@v060.needed
def test_train_prints_what_ml2p_0_6_0_printed(tmp_path):
    ours = docker("--ml-folder", str(tmp_path / "ours"), *TRAIN_ARGS, env=TRAIN_ENV)
    assert ours.returncode == 0, ours.stdout + ours.stderr
    (tmp_path / "v060" / "model").mkdir(parents=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SAGEMAKER_"))}
    environ.update({**AWS_TEST_ENV, **TRAIN_ENV, "PYTHONPATH": ROOT})
    run_v060 = "from ml2p.docker import ml2p_docker; ml2p_docker()"
    theirs = subprocess.run(
        [v060.python(), "-c", run_v060, "--ml-folder", str(tmp_path / "v060"), *TRAIN_ARGS],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stdout + theirs.stderr
    assert models_lines(ours.stdout) == models_lines(theirs.stdout)


def test_a_failed_training_prints_the_start_line_and_no_done(tmp_path):
    proc = docker(
        "--ml-folder",
        str(tmp_path),
        "--model",
        "tests.serving_models.FailingModel",
        "train",
        env={**TRAIN_ENV, "SERVING_FAIL_DETAIL": "on purpose"},
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0] == "Starting training job j-1-0."
    assert "Done." not in lines
    assert len(lines_with(proc.stderr, "training failed: ValueError: bad training data")) == 1
    assert not lines_with(proc.stdout, "training failed")


def test_generate_dataset_logs_the_models_lines_once_on_stdout(tmp_path):
    proc = docker(
        "--ml-folder",
        str(tmp_path),
        "generate-dataset",
        env={"ML2P_MODEL_CLS": MODEL, "ML2P_DATASET": "compat-20240101"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Built by FactoryModel.dataset_generator, which set the rows.
    assert json.loads((tmp_path / "output" / "data" / "rows.json").read_text()) == {"rows": 3}
    assert pid_free(proc.stdout) == [
        "Starting generation of dataset compat-20240101.",
        "compat-model generating pid=N",
        "Done.",
    ]
    assert len(lines_with(proc.stderr, "dataset generation finished")) == 1
    assert "compat-model" not in proc.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ml")
    (folder / "model").mkdir()
    (folder / "model" / "model.json").write_text('{"slope": 5}')
    # No ML2P variable says what the environment is for: UNKNOWN, served all the same.
    srv = Server(
        folder,
        folder / "stdout.log",
        model=MODEL,
        env={"ML2P_MODEL_VERSION": None},
        workers=2,
        err_path=folder / "stderr.log",
    )
    srv.args.append("--debug")
    with srv:
        srv.wait_workers_ready(2)
        yield srv


def test_server_makes_the_predictor_with_the_models_method(server):
    resp = post(server.port, {"x": 3})
    assert resp.status == 200, resp
    body = resp.json()
    assert body["result"] == {"y": 15, "made_by": "FactoryModel.predictor", "env_type": "unknown"}
    assert body["metadata"]["model_version"] is None


def test_a_0_6_style_batch_invoke_is_answered_as_0_6_answered_it(server):
    resp = post(server.port, {"instances": [{"x": 1}, {"x": 2}]})
    assert resp.status == 200, resp
    body = resp.json()
    assert list(body) == ["predictions"]
    assert [p["result"]["y"] for p in body["predictions"]] == [5, 10]
    assert all(set(p) == {"metadata", "result"} for p in body["predictions"])
    lines = post(
        server.port,
        {"instances": [{"x": 4}, {"x": 6}]},
        headers={"Accept": "application/jsonlines"},
    )
    assert lines.status == 200, lines
    decoded = [json.loads(line) for line in lines.body.decode().splitlines()]
    assert [p["result"]["y"] for p in decoded] == [20, 30]


def test_an_api_error_body_always_carries_details(server):
    resp = post(server.port, {"fail": "api"})
    assert resp.status == 503
    assert resp.json() == {"message": "unavailable on purpose", "details": []}


def test_every_worker_logs_the_models_lines_once_on_stdout(server):
    assert request(server.port, "GET", "/ping").status == 200
    for x in range(1001, 1005):
        assert post(server.port, {"x": x}).status == 200
    assert post(server.port, {"fail": "crash"}).status == 500
    code, _ = server.terminate()
    assert code == 0
    out = server.log()
    with open(server.err_path, encoding="utf-8") as f:
        err = f.read()
    # ML2P 0.6's start line first; its done line once the server stopped cleanly.
    lines = out.splitlines()
    assert lines[0] == "Starting server for model version None."
    assert lines[-1] == "Done."
    setup = lines_with(out, "compat-model setup pid=")
    assert all(re.fullmatch(r"compat-model setup pid=\d+", line) for line in setup)  # bare
    pids = [line.rsplit("pid=", 1)[1] for line in setup]
    assert len(pids) == 2 and len(set(pids)) == 2, out  # once in each worker
    # --debug: the model's DEBUG lines are logged too.
    assert len(lines_with(out, "compat-model debug setup")) == 2
    # ML2P's own records go to stderr.
    assert len(lines_with(err, ": ready")) == 2 and not lines_with(out, ": ready")
    # Each prediction logs its line once, never twice.
    for x in range(1001, 1005):
        assert len(lines_with(out, f"compat-model predicting x={x} pid=")) == 1
    assert "compat-model" not in err and "Logging error" not in err + out
    # A traceback is logged as Python prints it, right after the error line.
    lines = err.splitlines()
    [failed] = [i for i, line in enumerate(lines) if "invocation failed: ZeroDivisionError" in line]
    assert lines[failed + 1] == "Traceback (most recent call last):"
    assert "ZeroDivisionError: division by zero" in lines[failed + 2 :]
