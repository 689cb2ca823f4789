"""``ml2p transform``: batch transform jobs on SageMaker.

The settings come from the ``transform`` section of ``ml2p.yml`` (see
:mod:`ml2p.transforms`); ``ml2p local transform`` does the same locally.
"""

from __future__ import annotations

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json
from ml2p.cli.params import checked_name, wait_for_status, wait_options

__all__ = ["transform"]


@click.group("transform")
def transform() -> None:
    """Run a model over a dataset with SageMaker batch transform."""


@transform.command("list")
@pass_project
def transform_list(prj: Project) -> None:
    """List the project's transform jobs."""
    for item in project_resources(
        prj, "list_transform_jobs", "TransformJobSummaries", "TransformJobName", "TransformJobArn"
    ):
        echo_json(item)


@transform.command("create")
@click.argument("name", metavar="TRANSFORM_JOB")
@click.option(
    "--model", "-m", "model", required=True, help="The model to run (<model>-X-Y-Z[-dev])."
)
@click.option(
    "--input",
    "-i",
    "source",
    required=True,
    metavar="DATASET|S3_PREFIX",
    help="A dataset name (its files under datasets/) or an s3:// prefix.",
)
@pass_project
def transform_create(prj: Project, name: str, model: str, source: str) -> None:
    """Create TRANSFORM_JOB running MODEL over every file of the input.

    Each input file's results go to transforms/TRANSFORM_JOB/<file>.out under
    s3folder.
    """
    from ml2p import transforms

    checked_name("model", model)
    request = transforms.transform_job_request(prj.config, name, model, source)
    prj.target("model", model)
    echo_json(prj.sagemaker.create_transform_job(**request))


@transform.command("describe")
@click.argument("name", metavar="TRANSFORM_JOB")
@pass_project
def transform_describe(prj: Project, name: str) -> None:
    """Describe TRANSFORM_JOB."""
    prj.target("transform job", name)
    echo_json(prj.sagemaker.describe_transform_job(TransformJobName=prj.full_name(name)))


@transform.command("wait")
@click.argument("name", metavar="TRANSFORM_JOB")
@wait_options
@pass_project
def transform_wait(prj: Project, name: str, timeout: float, delay: float) -> None:
    """Wait until TRANSFORM_JOB completes; fail if it fails or stops."""
    prj.target("transform job", name)
    full = prj.full_name(name)
    response = wait_for_status(
        lambda: prj.sagemaker.describe_transform_job(TransformJobName=full),
        "TransformJobStatus",
        done=("Completed",),
        failed=("Failed", "Stopped"),
        what=f"transform job {name!r}",
        timeout=timeout,
        delay=delay,
    )
    echo_json({"TransformJobName": full, "TransformJobStatus": response["TransformJobStatus"]})


@transform.command("stop")
@click.argument("name", metavar="TRANSFORM_JOB")
@pass_project
def transform_stop(prj: Project, name: str) -> None:
    """Stop TRANSFORM_JOB."""
    prj.target("transform job", name)
    echo_json(prj.sagemaker.stop_transform_job(TransformJobName=prj.full_name(name)))
