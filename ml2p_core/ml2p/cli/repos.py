"""``ml2p repo``: SageMaker code repositories for the project's notebooks."""

from __future__ import annotations

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json

__all__ = ["repo"]


@click.group("repo")
def repo() -> None:
    """Create, describe and list code repositories."""


@repo.command("list")
@pass_project
def repo_list(prj: Project) -> None:
    """List the project's code repositories."""
    for item in project_resources(
        prj,
        "list_code_repositories",
        "CodeRepositorySummaryList",
        "CodeRepositoryName",
        "CodeRepositoryArn",
    ):
        echo_json(item)


@repo.command("create")
@click.argument("name", metavar="REPO")
@pass_project
def repo_create(prj: Project, name: str) -> None:
    """Create REPO from notebook.repo_url (and repo_branch, repo_secret_arn)."""
    from ml2p import sagemaker

    request = sagemaker.code_repository_request(prj.config, name)
    prj.target("code repository", name)
    echo_json(prj.sagemaker.create_code_repository(**request))


@repo.command("delete")
@click.argument("name", metavar="REPO")
@pass_project
def repo_delete(prj: Project, name: str) -> None:
    """Delete REPO."""
    prj.target("code repository", name)
    echo_json(prj.sagemaker.delete_code_repository(CodeRepositoryName=prj.full_name(name)))


@repo.command("describe")
@click.argument("name", metavar="REPO")
@pass_project
def repo_describe(prj: Project, name: str) -> None:
    """Describe REPO."""
    prj.target("code repository", name)
    echo_json(prj.sagemaker.describe_code_repository(CodeRepositoryName=prj.full_name(name)))
