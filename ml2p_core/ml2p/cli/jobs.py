"""``ml2p training-job``: create and inspect training jobs."""

from __future__ import annotations

from collections.abc import Sequence

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json
from ml2p.cli.params import (
    checked_name,
    hyperparameter_options,
    load_hyperparameters,
    model_type_option,
    wait_for_status,
    wait_options,
)
from ml2p.cli.training_jobs_scaling import training_job_logs, training_job_stop

__all__ = ["training_job"]


@click.group("training-job")
def training_job() -> None:
    """Create and inspect training jobs."""


@training_job.command("list")
@pass_project
def training_job_list(prj: Project) -> None:
    """List the project's training jobs."""
    for item in project_resources(
        prj, "list_training_jobs", "TrainingJobSummaries", "TrainingJobName", "TrainingJobArn"
    ):
        echo_json(item)


@training_job.command("create")
@click.argument("name", metavar="TRAINING_JOB")
@click.argument("dataset")
@model_type_option
@hyperparameter_options
@pass_project
def training_job_create(
    prj: Project,
    name: str,
    dataset: str,
    model_type: str | None,
    hyperparameters_file: str | None,
    params: Sequence[str],
) -> None:
    """Create TRAINING_JOB (<model>-X-Y[-dev]) training on DATASET."""
    from ml2p import training_scale

    checked_name("training-job", name)
    checked_name("dataset", dataset, enforced=False)
    user = load_hyperparameters(hyperparameters_file, params)
    request = training_scale.training_job_request(prj.config, name, dataset, model_type, user)
    prj.target("training job", name)
    echo_json(prj.sagemaker.create_training_job(**request))


@training_job.command("describe")
@click.argument("name", metavar="TRAINING_JOB")
@pass_project
def training_job_describe(prj: Project, name: str) -> None:
    """Describe TRAINING_JOB."""
    prj.target("training job", name)
    echo_json(prj.sagemaker.describe_training_job(TrainingJobName=prj.full_name(name)))


@training_job.command("wait")
@click.argument("name", metavar="TRAINING_JOB")
@wait_options
@pass_project
def training_job_wait(prj: Project, name: str, timeout: float, delay: float) -> None:
    """Wait until TRAINING_JOB completes or stops; fail if it fails.

    Prints nothing on success (a stopped job is noted on stderr).
    """
    prj.target("training job", name)
    full = prj.full_name(name)
    response = wait_for_status(
        lambda: prj.sagemaker.describe_training_job(TrainingJobName=full),
        "TrainingJobStatus",
        done=("Completed", "Stopped"),
        failed=("Failed",),
        what=f"training job {name!r}",
        timeout=timeout,
        delay=delay,
    )
    if response["TrainingJobStatus"] == "Stopped":
        secondary = response.get("SecondaryStatus") or "Stopped"
        click.echo(f"Note: training job {name!r} was stopped ({secondary})", err=True)


# Stopping a job and reading its logs (spot and distributed training).
training_job.add_command(training_job_stop)
training_job.add_command(training_job_logs)
