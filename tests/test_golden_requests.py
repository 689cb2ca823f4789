"""An ML2P 0.6 ``ml2p.yml`` still produces exactly the requests it produced before.

The golden files in ``tests/golden/v0.6/`` hold, for a configuration using only
ML2P 0.6's keys:

* ``builders/<name>.json``: what each request builder of :mod:`ml2p.sagemaker`
  returns, serialised as indented JSON in the builder's key order;
* ``cli/<command>.json``: every AWS call each ML2P 0.6 command makes through the
  CLI's own clients (service, operation and parameters, in order), recorded
  with a botocore ``before-parameter-build`` handler while the command runs
  against moto in server mode.

A test fails when the bytes differ. After a deliberate change, regenerate the
files with one command and review the diff::

    ML2P_UPDATE_GOLDENS=1 python -m pytest -q -p no:cacheprovider tests/test_golden_requests.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from ml2p import aws, sagemaker
from ml2p.cli import cli
from ml2p.config import load_config
from tests.cli_support import cli_runner

GOLDEN = Path(__file__).resolve().parent / "golden" / "v0.6"
UPDATE_ENV = "ML2P_UPDATE_GOLDENS"

#: Only keys that ML2P 0.6 knew.
CONFIG_06 = """\
project: foo
s3folder: s3://ml2p-test/proj/
models:
  churn: tests.models.MinimalModel
  multi:
    model-defaults: {{cls: tests.models.MinimalModel, image_tag: "1.0"}}
    first: {{training_job: churn-1-2, image_tag: "2.0"}}
    second: {{training_job: churn-1-3}}
defaults:
  image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1.0"
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
dataset:
  instance_type: ml.m5.xlarge
train:
  vpc_config: {{security_groups: [sg-1], subnets: [subnet-1, subnet-2]}}
deploy:
  record_invokes: true
notebook:
  instance_type: ml.t3.medium
  role: arn:aws:iam::123456789012:role/notebook
  subnet_id: subnet-9
  security_group_ids: [sg-9]
  volume_size: 8
  on_start: {on_start}
  on_create: {on_create}
  repo_url: https://example.com/foo.git
  repo_branch: main
"""


def check_golden(relative: str, value: Any) -> None:
    """Compare ``value``'s JSON with the golden file, or rewrite the file if asked to."""
    text = json.dumps(value, indent=2) + "\n"
    path = GOLDEN / relative
    if os.environ.get(UPDATE_ENV):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"no golden file {path}: run with {UPDATE_ENV}=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{relative} differs from the ML2P 0.6 golden request; if the change is deliberate, "
        f"regenerate with {UPDATE_ENV}=1 and review the diff"
    )


@pytest.fixture
def config_06(tmp_path) -> str:
    on_start = tmp_path / "on_start.sh"
    on_start.write_text("#!/bin/bash\necho start\n")
    on_create = tmp_path / "on_create.sh"
    on_create.write_text("#!/bin/bash\necho create\n")
    path = tmp_path / "ml2p.yml"
    path.write_text(CONFIG_06.format(on_start=on_start, on_create=on_create))
    return str(path)


BUILDERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "training_job": lambda cfg: sagemaker.training_job_request(
        cfg, "churn-1-2", "churn-20240101", "churn", {}
    ),
    "training_job_no_model_type": lambda cfg: sagemaker.training_job_request(
        cfg, "churn-1-2", "churn-20240101"
    ),
    "processing_job": lambda cfg: sagemaker.processing_job_request(cfg, "churn-20240101", "churn"),
    "model": lambda cfg: sagemaker.model_request(cfg, "churn-1-2-3", None, "churn"),
    "model_with_training_job": lambda cfg: sagemaker.model_request(
        cfg, "churn-1-2-4", "churn-9-9-dev", "churn"
    ),
    "model_multi_container": lambda cfg: sagemaker.model_request(cfg, "multi-1-0-0", None, "multi"),
    "endpoint_config": lambda cfg: sagemaker.endpoint_config_request(
        cfg, "churn-1-2-3-live", "churn-1-2-3"
    ),
    "endpoint": lambda cfg: sagemaker.endpoint_request(cfg, "churn-1-2-3-live"),
    "lifecycle_config": lambda cfg: sagemaker.lifecycle_config_request(cfg, "nb"),
    "code_repository": lambda cfg: sagemaker.code_repository_request(cfg, "nb-repo"),
    "notebook": lambda cfg: sagemaker.notebook_request(cfg, "nb", "nb-repo"),
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builder_requests_are_unchanged(name, config_06):
    check_golden(f"builders/{name}.json", BUILDERS[name](load_config(config_06)))


@pytest.fixture
def recorded(monkeypatch) -> list[dict[str, Any]]:
    """Every call the CLI's clients make: service, operation and parameters, in order."""
    calls: list[dict[str, Any]] = []
    real_client = aws.client

    def client(service, session_=None, **kw):
        made = real_client(service, session_, **kw)

        def record(params, model, **_):
            calls.append(
                {
                    "service": service,
                    "operation": model.name,
                    "params": json.loads(json.dumps(params, default=_plain)),
                }
            )

        made.meta.events.register("before-parameter-build.*.*", record)
        return made

    monkeypatch.setattr(aws, "client", client)
    return calls


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"cannot record {type(value).__name__}")


#: ML2P 0.6 commands that call SageMaker, run in this order against one moto state.
CLI_COMMANDS = [
    ("dataset-generate", ["dataset", "generate", "churn-20240101", "-m", "churn"]),
    (
        "training-job-create",
        ["training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn"],
    ),
    ("training-job-describe", ["training-job", "describe", "churn-1-2"]),
    ("training-job-list", ["training-job", "list"]),
    ("training-job-wait", ["training-job", "wait", "churn-1-2"]),
    ("model-create", ["model", "create", "churn-1-2-3", "-m", "churn"]),
    ("model-create-multi", ["model", "create", "multi-1-0-0", "-m", "multi"]),
    ("model-describe", ["model", "describe", "churn-1-2-3"]),
    ("model-list", ["model", "list"]),
    ("endpoint-create", ["endpoint", "create", "churn-1-2-3-live"]),
    ("endpoint-describe", ["endpoint", "describe", "churn-1-2-3-live"]),
    ("endpoint-list", ["endpoint", "list"]),
    ("endpoint-wait", ["endpoint", "wait", "churn-1-2-3-live"]),
    ("endpoint-invoke", ["endpoint", "invoke", "churn-1-2-3-live", '{"x": 1}']),
    ("endpoint-delete", ["endpoint", "delete", "churn-1-2-3-live"]),
    ("model-delete", ["model", "delete", "multi-1-0-0"]),
]


@pytest.mark.slow
def test_cli_requests_are_unchanged(s3, config_06, recorded):
    runner = cli_runner()
    for name, args in CLI_COMMANDS:
        recorded.clear()
        result = runner.invoke(cli, ["--cfg", config_06, *args])
        assert result.exit_code == 0, (name, result.output, result.exception)
        check_golden(f"cli/{name}.json", recorded)
