"""``ml2p notebook``: SageMaker notebook instances for the project."""

from __future__ import annotations

import click

from ml2p import naming
from ml2p.cli.context import Project, pass_project
from ml2p.cli.listing import project_resources
from ml2p.cli.output import echo_json
from ml2p.cli.params import wait_for_status, wait_options

__all__ = ["notebook"]


@click.group("notebook")
def notebook() -> None:
    """Create and manage notebook instances."""


@notebook.command("list")
@pass_project
def notebook_list(prj: Project) -> None:
    """List the project's notebook instances."""
    for item in project_resources(
        prj,
        "list_notebook_instances",
        "NotebookInstances",
        "NotebookInstanceName",
        "NotebookInstanceArn",
    ):
        echo_json(item)


@notebook.command("create")
@click.argument("name", metavar="NOTEBOOK")
@pass_project
def notebook_create(prj: Project, name: str) -> None:
    """Create NOTEBOOK with its lifecycle configuration.

    The notebook section's on_start/on_create scripts become the lifecycle
    configuration; if repo_url is set, the code repository <NOTEBOOK>-repo
    is created and becomes the notebook's default repository.
    """
    from ml2p import sagemaker

    cfg = prj.config
    lifecycle = sagemaker.lifecycle_config_request(cfg, name)
    repo_name: str | None = f"{name}-repo" if cfg.section("notebook").get("repo_url") else None
    repo_request = sagemaker.code_repository_request(cfg, repo_name) if repo_name else None
    request = sagemaker.notebook_request(cfg, name, repo_name)
    client = prj.sagemaker
    if repo_request is not None:
        prj.target("code repository", repo_name or "")
        client.create_code_repository(**repo_request)
    prj.target("notebook lifecycle configuration", f"{name}-lifecycle-config")
    client.create_notebook_instance_lifecycle_config(**lifecycle)
    prj.target("notebook", name)
    echo_json(client.create_notebook_instance(**request))


@notebook.command("presigned-url")
@click.argument("name", metavar="NOTEBOOK")
@pass_project
def notebook_presigned_url(prj: Project, name: str) -> None:
    """Print a URL that opens NOTEBOOK's Jupyter server."""
    prj.target("notebook", name)
    echo_json(
        prj.sagemaker.create_presigned_notebook_instance_url(
            NotebookInstanceName=prj.full_name(name)
        )
    )


@notebook.command("describe")
@click.argument("name", metavar="NOTEBOOK")
@pass_project
def notebook_describe(prj: Project, name: str) -> None:
    """Describe NOTEBOOK."""
    prj.target("notebook", name)
    echo_json(prj.sagemaker.describe_notebook_instance(NotebookInstanceName=prj.full_name(name)))


@notebook.command("delete")
@click.argument("name", metavar="NOTEBOOK")
@wait_options
@pass_project
def notebook_delete(prj: Project, name: str, timeout: float, delay: float) -> None:
    """Delete NOTEBOOK (stopping it first), its lifecycle configuration and its repository."""
    prj.target("notebook", name)
    client = prj.sagemaker
    full = prj.full_name(name)
    described = client.describe_notebook_instance(NotebookInstanceName=full)
    if described.get("NotebookInstanceStatus") in ("InService", "Pending", "Updating"):
        client.stop_notebook_instance(NotebookInstanceName=full)
    if described.get("NotebookInstanceStatus") != "Stopped":
        wait_for_status(
            lambda: client.describe_notebook_instance(NotebookInstanceName=full),
            "NotebookInstanceStatus",
            done=("Stopped", "Failed"),
            failed=(),
            what=f"notebook {name!r} to stop",
            timeout=timeout,
            delay=delay,
        )
    response = client.delete_notebook_instance(NotebookInstanceName=full)
    lifecycle = described.get("NotebookInstanceLifecycleConfigName")
    if lifecycle == naming.lifecycle_config_name(prj.project, name):
        prj.target("notebook lifecycle configuration", f"{name}-lifecycle-config")
        client.delete_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=lifecycle
        )
    repo = described.get("DefaultCodeRepository")
    # Only the repository created with the notebook; never a shared or URL one.
    if repo and repo == prj.full_name(f"{name}-repo"):
        prj.target("code repository", f"{name}-repo")
        client.delete_code_repository(CodeRepositoryName=repo)
    echo_json(response)


@notebook.command("stop")
@click.argument("name", metavar="NOTEBOOK")
@pass_project
def notebook_stop(prj: Project, name: str) -> None:
    """Stop NOTEBOOK. Prints nothing."""
    prj.target("notebook", name)
    prj.sagemaker.stop_notebook_instance(NotebookInstanceName=prj.full_name(name))


@notebook.command("start")
@click.argument("name", metavar="NOTEBOOK")
@pass_project
def notebook_start(prj: Project, name: str) -> None:
    """Start NOTEBOOK. Prints nothing."""
    prj.target("notebook", name)
    prj.sagemaker.start_notebook_instance(NotebookInstanceName=prj.full_name(name))
