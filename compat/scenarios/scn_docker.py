"""``ml2p-docker train`` and ``generate-dataset`` as SageMaker runs them.

Each run is the package's ``ml2p-docker`` console script in a subprocess,
with a SageMaker-like ml folder and the environment variables ``ml2p``
gives the job. Observed: the exit code, stdout (and how often the model's own
log line appears in it), the files under the ml folder, the exception type
written to ``output/failure`` (tracebacks differ, so only the type is
compared), and the S3 objects a dataset generator uploads.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

from observe import PROJECT, S3FOLDER, make_bucket, run, s3_state, tree

HERE = pathlib.Path(__file__).resolve().parent


def ml2p_docker(*args, env=None, ml=None):
    """Run ``ml2p-docker [--ml-folder ml] args``; return exit code, stdout lines, stderr tail."""
    exe = os.path.join(os.path.dirname(sys.executable), "ml2p-docker")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    environ["PYTHONPATH"] = str(HERE)
    environ.update(env or {})
    argv = [exe] + (["--ml-folder", ml] if ml else []) + list(args)
    proc = subprocess.run(
        argv, env=environ, capture_output=True, text=True, timeout=120, check=False
    )
    return {
        "exit": proc.returncode,
        "stdout": proc.stdout.splitlines(),
        "_stderr": proc.stderr.splitlines()[-8:],
    }


def ml_folder(work, name, dataset=True):
    ml = os.path.join(work, name)
    os.makedirs(os.path.join(ml, "input", "config"))
    os.makedirs(os.path.join(ml, "model"))
    os.makedirs(os.path.join(ml, "output"))
    with open(os.path.join(ml, "input", "config", "hyperparameters.json"), "w") as f:
        json.dump({}, f)
    with open(os.path.join(ml, "input", "config", "resourceconfig.json"), "w") as f:
        json.dump({"current_host": "algo-1", "hosts": ["algo-1"]}, f)
    if dataset:
        data = os.path.join(ml, "input", "data", "training")
        os.makedirs(data)
        with open(os.path.join(data, "data.csv"), "w") as f:
            f.write("x,y\n1,2\n")
    return ml


def failure_type(ml):
    """The exception type ``output/failure`` names (its full text is not compared)."""
    path = os.path.join(ml, "output", "failure")
    if not os.path.exists(path):
        return {"failure-file": False}
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if not lines:
        return {"failure-file": True, "exception-type": None}
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return {
        "failure-file": True,
        "exception-type": line.split(":", 1)[0].strip(),
        "_first-line": lines[0],
        "_exception-line": line,
    }


def job_env(**extra):
    env = {"ML2P_PROJECT": PROJECT, "ML2P_S3_URL": S3FOLDER}
    env.update(extra)
    return env


def train_env(model="compat_models.SingleModel"):
    env = job_env(ML2P_TRAINING_JOB=f"{PROJECT}-single-1-0")
    if model:
        env["ML2P_MODEL_CLS"] = model
    return env


def observe_run(obs, label, result, ml=None, log_line=None):
    obs.record(f"{label}/exit", result["exit"])
    obs.record(f"{label}/stdout", result["stdout"])
    obs.record(f"_{label}/stderr", result["_stderr"])
    if log_line is not None:
        obs.record(
            f"{label}/model-log-line-count", sum(1 for line in result["stdout"] if log_line in line)
        )
    if ml is not None:
        obs.record(f"{label}/failure", failure_type(ml))
        obs.record(f"{label}/files", tree(ml, skip=("output/failure",)))


def prepare(obs):
    make_bucket()


def version(obs):
    import ml2p

    result = ml2p_docker("--version")
    obs.record("version", [line.replace(ml2p.__version__, "<v>") for line in result["stdout"]])
    obs.record("version-exit", result["exit"])


def train(obs):
    work = obs.work
    ml = ml_folder(work, "train-ok")
    result = ml2p_docker("train", env=train_env(), ml=ml)
    observe_run(obs, "train/ok", result, ml, log_line="compat trainer: training")
    ml = ml_folder(work, "train-model-option")
    result = ml2p_docker(
        "--model", "compat_models.SingleModel", "train", env=train_env(None), ml=ml
    )
    observe_run(obs, "train/model-option", result, ml)
    ml = ml_folder(work, "train-failing")
    result = ml2p_docker("train", env=train_env("compat_models.FailingModel"), ml=ml)
    observe_run(obs, "train/failing", result, ml)
    ml = ml_folder(work, "train-no-model")
    result = ml2p_docker("train", env=train_env(None), ml=ml)
    observe_run(obs, "train/no-model", result, ml)
    ml = ml_folder(work, "train-import-error")
    result = ml2p_docker("train", env=train_env("nope_module_xyz.Model"), ml=ml)
    observe_run(obs, "train/import-error", result, ml)
    ml = ml_folder(work, "train-no-trainer")
    result = ml2p_docker("train", env=train_env("compat_models.EmptyModel"), ml=ml)
    observe_run(obs, "train/no-trainer", result, ml)
    ml = ml_folder(work, "train-no-output-folder")
    os.rmdir(os.path.join(ml, "output"))
    result = ml2p_docker("train", env=train_env("compat_models.FailingModel"), ml=ml)
    observe_run(obs, "train/failing-without-output-folder", result, ml)


def generate(obs):
    work = obs.work
    env = job_env(ML2P_DATASET="single-20260101", ML2P_MODEL_CLS="compat_models.SingleModel")
    ml = ml_folder(work, "generate-ok", dataset=False)
    os.chdir(ml)  # the generator writes its file in the working directory
    try:
        result = ml2p_docker("generate-dataset", env=env, ml=ml)
    finally:
        os.chdir(work)
    observe_run(obs, "generate/ok", result, ml, log_line="compat generator: generating")
    obs.record("generate/ok/s3", s3_state())
    env["ML2P_MODEL_CLS"] = "compat_models.FailingModel"
    ml = ml_folder(work, "generate-failing", dataset=False)
    result = ml2p_docker("generate-dataset", env=env, ml=ml)
    observe_run(obs, "generate/failing", result, ml)
    env["ML2P_MODEL_CLS"] = "compat_models.EmptyModel"
    ml = ml_folder(work, "generate-no-generator", dataset=False)
    result = ml2p_docker("generate-dataset", env=env, ml=ml)
    observe_run(obs, "generate/no-generator", result, ml)


if __name__ == "__main__":
    run(prepare, version, train, generate)
