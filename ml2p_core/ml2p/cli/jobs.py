"""``ml2p training-job``: create and inspect training jobs."""

from __future__ import annotations

from typing import Optional, Sequence

import click

from ml2p import naming
from ml2p.cli.context import Project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json
from ml2p.cli.params import (
    hyperparameter_options,
    load_hyperparameters,
    wait_for_status,
    wait_options,
)

__all__ = ["training_job"]


@click.group("training-job")
def training_job() -> None:
    """Create and inspect training jobs."""


@training_job.command("list")
@click.pass_obj
def training_job_list(prj: Project) -> None:
    """List the project's training jobs."""
    for item in project_resources(
        prj, "list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn"
    ):
        echo_json(item)


@training_job.command("create")
@click.argument("name", metavar="TRAINING_JOB")
@click.argument("dataset")
@click.option("--model-type", "-m", default=None, help="The model (a key of `models`).")
@hyperparameter_options
@click.pass_obj
def training_job_create(
    prj: Project,
    name: str,
    dataset: str,
    model_type: Optional[str],
    hyperparameters_file: Optional[str],
    params: Sequence[str],
) -> None:
    """Create TRAINING_JOB (<model>-X-Y[-dev]) training on DATASET."""
    from ml2p import sagemaker

    naming.validate_name("training-job", name)
    naming.validate_name("dataset", dataset)
    user = load_hyperparameters(hyperparameters_file, params)
    model_type = sagemaker.resolve_model_type(prj.cfg, model_type, name)
    request = sagemaker.training_job_request(prj.cfg, name, dataset, model_type, user)
    prj.target("training job", name)
    echo_json(prj.sagemaker.create_training_job(**request))


@training_job.command("describe")
@click.argument("name", metavar="TRAINING_JOB")
@click.pass_obj
def training_job_describe(prj: Project, name: str) -> None:
    """Describe TRAINING_JOB."""
    prj.target("training job", name)
    echo_json(prj.sagemaker.describe_training_job(TrainingJobName=prj.full_name(name)))


@training_job.command("wait")
@click.argument("name", metavar="TRAINING_JOB")
@wait_options
@click.pass_obj
def training_job_wait(prj: Project, name: str, timeout: float, delay: float) -> None:
    """Wait until TRAINING_JOB completes; fail if it fails or stops."""
    prj.target("training job", name)
    full = prj.full_name(name)
    response = wait_for_status(
        lambda: prj.sagemaker.describe_training_job(TrainingJobName=full),
        "TrainingJobStatus",
        done=("Completed",),
        failed=("Failed", "Stopped"),
        what=f"training job {name!r}",
        timeout=timeout,
        delay=delay,
    )
    echo_json({"TrainingJobName": full, "TrainingJobStatus": response["TrainingJobStatus"]})
