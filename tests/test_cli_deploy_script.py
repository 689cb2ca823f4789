"""An ML2P 0.6 deploy script: its own command added to ``ml2p.cli.ml2p``, run against moto.

In ML2P 0.6 every ``ml2p`` command received a ``ModellingProjectWithSagemakerClient``
(``ctx.obj``), and deploy scripts added commands that used its attributes: ``cfg``
(the loaded ``ml2p.yml`` as a dict), ``client`` (the SageMaker client),
``full_job_name()``, ``tags()``, ``s3``, the section views (``train.image``) and
``models[...]``. The same script runs here unchanged, in a subprocess, and prints
what it printed with ML2P 0.6.0.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import boto3
import pytest

from tests import v060
from tests.conftest import AWS_TEST_ENV
from tests.serving_support import ROOT

ML2P_YML = """\
project: foo
s3folder: s3://ml2p-test/proj/
models:
  churn: pkg.models.Churn
defaults:
  image: registry.example.com/churn:1.0
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
train:
  image: registry.example.com/churn-train:1.0
deploy:
  record_invokes: true
"""

DEPLOY_SCRIPT = '''\
"""A deploy script as ML2P 0.6 projects wrote them."""

import json

import click

from ml2p.cli import ml2p


@ml2p.command("report")
@click.argument("training_job")
@click.pass_obj
def report(prj, training_job):
    """Describe a training job with the project's settings."""
    job = prj.client.describe_training_job(TrainingJobName=prj.full_job_name(training_job))
    prj.deploy["image"] = "registry.example.com/churn:2.0"  # 0.6 scripts changed settings
    click.echo(
        json.dumps(
            {
                "project": prj.cfg["project"],
                "cfg_type": type(prj.cfg).__name__,
                "job": job["TrainingJobName"],
                "job_image": job["AlgorithmSpecification"]["TrainingImage"],
                "tags": prj.tags(),
                "bucket": prj.s3.bucket(),
                "models_url": prj.s3.url("models"),
                "train_image": prj.train.image,
                "deploy_image": prj.cfg["deploy"]["image"],
                "churn": prj.models["churn"],
                "model_types": prj.models.keys(),
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    ml2p()
'''


@pytest.fixture
def project(tmp_path, s3, moto_server):
    (tmp_path / "ml2p.yml").write_text(ML2P_YML)
    (tmp_path / "deploy.py").write_text(DEPLOY_SCRIPT)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    sm.create_training_job(
        TrainingJobName="foo-churn-1-2",
        AlgorithmSpecification={
            "TrainingImage": "registry.example.com/churn-train:1.0",
            "TrainingInputMode": "File",
        },
        RoleArn="arn:aws:iam::123456789012:role/ml2p",
        OutputDataConfig={"S3OutputPath": "s3://ml2p-test/proj/models/"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    return tmp_path


def script_env(moto_server: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "AWS_"))}
    environ.update(AWS_TEST_ENV)
    environ["AWS_ENDPOINT_URL"] = moto_server
    return environ


def run_script(python: str, folder, moto_server: str, *args: str, pythonpath: str = ""):
    environ = script_env(moto_server)
    environ["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [python, "deploy.py", "--cfg", "ml2p.yml", *args],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


EXPECTED = {
    "project": "foo",
    "cfg_type": "dict",
    "job": "foo-churn-1-2",
    "job_image": "registry.example.com/churn-train:1.0",
    "tags": [{"Key": "ml2p-project", "Value": "foo"}],
    "bucket": "ml2p-test",
    "models_url": "s3://ml2p-test/proj/models",
    "train_image": "registry.example.com/churn-train:1.0",
    "deploy_image": "registry.example.com/churn:2.0",
    "churn": "pkg.models.Churn",
    "model_types": ["churn"],
}


def test_a_06_deploy_scripts_command_gets_06s_project_object(project, moto_server):
    proc = run_script(sys.executable, project, moto_server, "report", "churn-1-2", pythonpath=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == EXPECTED
    assert proc.stderr == ""


def test_the_deploy_scripts_group_still_runs_the_built_in_commands(project, moto_server):
    proc = run_script(
        sys.executable,
        project,
        moto_server,
        "training-job",
        "describe",
        "churn-1-2",
        pythonpath=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["TrainingJobName"] == "foo-churn-1-2"


@v060.needed
def test_ml2p_0_6_0_printed_the_same(project, moto_server):
    proc = run_script(v060.python(), project, moto_server, "report", "churn-1-2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == EXPECTED


def test_the_scripts_help_reads_no_config_and_makes_no_client(project, moto_server):
    code = textwrap.dedent(
        """\
        import runpy, sys
        sys.argv = ["deploy.py", "--help"]
        try:
            runpy.run_path("deploy.py", run_name="__main__")
        except SystemExit:
            pass
        loaded = [m for m in ("yaml", "boto3") if m in sys.modules]
        print("LOADED", loaded)
        """
    )
    environ = script_env(moto_server)
    environ["PYTHONPATH"] = ROOT
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=environ, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "report" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "LOADED []"
