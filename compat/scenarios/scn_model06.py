"""The 0.6-style model package ``compat/model06``, unchanged, through its whole life.

Installed (not edited) beside each package, it generates its dataset with
``ml2p-docker generate-dataset``, trains on it with ``ml2p-docker train`` (the
dataset copied into the training channel and the model folder packed into
``model.tar.gz`` as SageMaker does), is downloaded back with
``LocalEnv.download_model``, serves predictions with ``record_invokes``, and
has its own test suite run. The S3 objects (datasets, model, records) are
compared apart from time and uuid.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET

from observe import (
    BUCKET,
    PROJECT,
    S3FOLDER,
    copy_configs,
    make_bucket,
    run,
    s3_client,
    s3_state,
    tree,
)
from scn_docker import failure_type, ml2p_docker, ml_folder
from serving import serve_and_request

MODEL = "model06.model.Model06"
DATASET = "model06-20260101"
JOB = "model06-1-0"
VERSION = f"{PROJECT}-model06-1-0-0"
SOURCE = pathlib.Path(__file__).resolve().parent.parent / "model06"


def prepare(obs):
    copy_configs(obs.work)
    make_bucket()


def generate(obs):
    ml = ml_folder(obs.work, "generate", dataset=False)
    env = {
        "ML2P_DATASET": DATASET,
        "ML2P_PROJECT": PROJECT,
        "ML2P_S3_URL": S3FOLDER,
        "ML2P_MODEL_CLS": MODEL,
    }
    result = ml2p_docker("generate-dataset", env=env, ml=ml)
    obs.record("generate/exit", result["exit"])
    obs.record(
        "generate/model-log-lines",
        [line for line in result["stdout"] if "Generated 5 rows" in line],
    )
    obs.record("_generate/stderr", result["_stderr"])
    obs.record("generate/s3", s3_state())


def train(obs):
    ml = ml_folder(obs.work, "train", dataset=False)
    channel = os.path.join(ml, "input", "data", "training")
    os.makedirs(channel)
    client = s3_client()
    prefix = f"prj/datasets/{DATASET}/"
    for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []):
        client.download_file(BUCKET, item["Key"], os.path.join(channel, item["Key"][len(prefix) :]))
    env = {
        "ML2P_TRAINING_JOB": f"{PROJECT}-{JOB}",
        "ML2P_PROJECT": PROJECT,
        "ML2P_S3_URL": S3FOLDER,
        "ML2P_MODEL_CLS": MODEL,
    }
    result = ml2p_docker("train", env=env, ml=ml)
    obs.record("train/exit", result["exit"])
    obs.record(
        "train/model-log-lines", [line for line in result["stdout"] if "Trained slope" in line]
    )
    obs.record("_train/stderr", result["_stderr"])
    obs.record("train/failure", failure_type(ml))
    obs.record("train/model-files", tree(os.path.join(ml, "model")))
    # What SageMaker does after training: pack the model folder and upload it.
    archive = os.path.join(obs.work, "model.tar.gz")
    with tarfile.open(archive, "w:gz") as tf:
        for name in sorted(os.listdir(os.path.join(ml, "model"))):
            tf.add(os.path.join(ml, "model", name), arcname=name)
    client.upload_file(archive, BUCKET, f"prj/models/{PROJECT}-{JOB}/output/model.tar.gz")


def download(obs):
    import boto3

    from ml2p.core import LocalEnv

    ml = os.path.join(obs.work, "local")
    os.makedirs(ml)
    env = LocalEnv(ml, str(SOURCE / "ml2p.yml"), session=boto3.session.Session())
    env.download_model(JOB)
    obs.record("download/model-folder", tree(str(env.model_folder())))


def serve(obs):
    ml = os.path.join(obs.work, "serve")
    os.makedirs(os.path.join(ml, "model"))
    shutil.copy(
        os.path.join(obs.work, "train", "model", "slope.json"),
        os.path.join(ml, "model", "slope.json"),
    )
    env = {
        "ML2P_MODEL_VERSION": VERSION,
        "ML2P_PROJECT": PROJECT,
        "ML2P_S3_URL": S3FOLDER,
        "ML2P_MODEL_CLS": MODEL,
        "ML2P_RECORD_INVOKES": "true",
    }
    requests = [
        ("ping", "GET", "/ping", None, None),
        ("single", "POST", "/invocations", {"x": 2}, None),
        ("batch", "POST", "/invocations", {"instances": [{"x": 1}, {"x": 4}]}, None),
        ("bad-input", "POST", "/invocations", {"x": "two"}, None),
    ]
    out, facts = serve_and_request(MODEL, ml, env, requests)
    for label, result in out.items():
        obs.record(f"serve/{label}", result)
    obs.record("_serve/server", facts)
    obs.record("serve/records", [item for item in s3_state() if "/predictions/" in item[0]])


def own_tests(obs):
    """model06's own tests, run against the installed package (not the source folder)."""
    folder = os.path.join(obs.work, "model06-tests")
    shutil.copytree(
        SOURCE / "tests",
        os.path.join(folder, "tests"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(SOURCE / "ml2p.yml", os.path.join(folder, "ml2p.yml"))
    junit = os.path.join(obs.work, "model06-junit.xml")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={junit}",
            "tests",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    obs.record("tests/outcomes", junit_outcomes(junit))
    obs.record("_tests/output", proc.stdout.splitlines()[-40:])


def junit_outcomes(path):
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return outcomes


def installed(obs):
    """model06 comes from site-packages, not from the source tree."""
    import model06

    path = pathlib.Path(model06.__file__).resolve()
    obs.record("installed/not-from-source", SOURCE not in path.parents)


def moving_over(obs):
    """The steps of docs/migration.md that only ML2P 0.7 has (not compared; asserted)."""
    from serving import is_060

    if is_060():
        return
    folder = os.path.join(obs.work, "moving-over")
    os.makedirs(folder)
    shutil.copy(SOURCE / "ml2p.yml", os.path.join(folder, "ml2p.yml"))
    ml2p = os.path.join(os.path.dirname(sys.executable), "ml2p")

    def command(*args):
        proc = subprocess.run(
            [ml2p, *args], cwd=folder, capture_output=True, text=True, timeout=120, check=False
        )
        return {
            "exit": proc.returncode,
            "stdout": proc.stdout[-2000:],
            "stderr": proc.stderr[-2000:],
        }

    obs.record("_ours/validate", command("validate"))
    local = os.path.join(folder, "local")
    result = command("local", "train", "model06", "--dataset", DATASET, "--local-folder", local)
    result["model-files"] = sorted(os.listdir(os.path.join(local, "model")))
    obs.record("_ours/local-train", result)


if __name__ == "__main__":
    run(prepare, installed, generate, train, download, serve, own_tests, moving_over)
