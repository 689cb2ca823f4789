"""``ml2p model``: create and inspect SageMaker models."""

from __future__ import annotations

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json
from ml2p.cli.params import checked_name, model_type_option

__all__ = ["model"]


@click.group("model")
def model() -> None:
    """Create and inspect models."""


@model.command("list")
@pass_project
def model_list(prj: Project) -> None:
    """List the project's models."""
    for item in project_resources(prj, "list_models", "Models", "ModelName", "ModelArn"):
        echo_json(item)


@model.command("create")
@click.argument("name", metavar="MODEL")
@click.option(
    "--training-job",
    "-t",
    default=None,
    help="The training job whose model to serve (default: <model>-X-Y of MODEL).",
)
@model_type_option
@pass_project
def model_create(prj: Project, name: str, training_job: str | None, model_type: str | None) -> None:
    """Create MODEL (<model>-X-Y-Z[-dev]).

    A multi-container model in `models` gets one container per entry,
    invoked directly (see `endpoint invoke --target-container`).
    """
    from ml2p import sagemaker

    checked_name("model", name)
    if training_job is not None:
        checked_name("training-job", training_job, enforced=False)
    request = sagemaker.model_request(prj.config, name, training_job, model_type)
    prj.target("model", name)
    echo_json(prj.sagemaker.create_model(**request))


@model.command("delete")
@click.argument("name", metavar="MODEL")
@pass_project
def model_delete(prj: Project, name: str) -> None:
    """Delete MODEL."""
    prj.target("model", name)
    echo_json(prj.sagemaker.delete_model(ModelName=prj.full_name(name)))


@model.command("describe")
@click.argument("name", metavar="MODEL")
@pass_project
def model_describe(prj: Project, name: str) -> None:
    """Describe MODEL."""
    prj.target("model", name)
    echo_json(prj.sagemaker.describe_model(ModelName=prj.full_name(name)))
