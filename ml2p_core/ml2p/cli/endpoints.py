"""``ml2p endpoint``: create, inspect and invoke endpoints."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import click

from ml2p import naming
from ml2p.cli.context import Project, pass_project
from ml2p.cli.endpoint_async import invoke_async
from ml2p.cli.endpoint_scaling import (
    endpoint_autoscale,
    endpoint_logs,
    endpoint_shift,
    endpoint_update,
)
from ml2p.cli.endpoint_support import (
    checked_variants,
    delete_endpoint_configs,
    describe_autoscaling,
    register_autoscaling,
    remove_autoscaling,
    variant_for,
    wait_in_service,
)
from ml2p.cli.listing import project_resources
from ml2p.cli.output import decoded_body, echo_json
from ml2p.cli.params import checked_name, read_json_argument, wait_options

__all__ = ["endpoint", "endpoint_url_for_arn"]

_ENDPOINT_ARN = re.compile(
    r"^arn:(?P<partition>[^:]+):sagemaker:(?P<region>[^:]*):(?P<account>[^:]*):endpoint/(?P<name>.+)$"
)


def endpoint_url_for_arn(arn: str) -> str | None:
    """Return the invocation URL of the endpoint ``arn`` (``None`` if it is not an endpoint ARN)."""
    match = _ENDPOINT_ARN.match(arn or "")
    if match is None:
        return None
    suffix = ".com.cn" if match["partition"] == "aws-cn" else ".com"
    return (
        f"https://runtime.sagemaker.{match['region']}.amazonaws{suffix}"
        f"/endpoints/{match['name']}/invocations"
    )


def _uses_scaling(cfg: Any, variants: Sequence[str]) -> bool:
    """Whether ``endpoint create`` goes past ML2P 0.6: variants, or scaling settings."""
    deploy = cfg.section("deploy")
    return bool(variants) or any(k in deploy for k in ("serverless", "async", "autoscaling"))


@click.group("endpoint")
def endpoint() -> None:
    """Create, inspect and invoke endpoints."""


@endpoint.command("list")
@pass_project
def endpoint_list(prj: Project) -> None:
    """List the project's endpoints."""
    for item in project_resources(
        prj, "list_endpoints", "Endpoints", "EndpointName", "EndpointArn"
    ):
        echo_json(item)


@endpoint.command("create")
@click.argument("name", metavar="ENDPOINT")
@click.option(
    "--model-name",
    "-m",
    default=None,
    help="The model to serve (default: ENDPOINT without its -live/-analysis/-test suffix).",
)
@click.option(
    "--variant",
    "variants",
    multiple=True,
    metavar="MODEL=WEIGHT",
    help="Serve MODEL with this traffic weight (repeatable: one variant each).",
)
@wait_options
@pass_project
def endpoint_create(
    prj: Project,
    name: str,
    model_name: str | None,
    variants: Sequence[str],
    timeout: float,
    delay: float,
) -> None:
    """Create ENDPOINT (<model>-X-Y-Z[-dev][-live|-analysis|-test]) and its configuration.

    With deploy.autoscaling, waits (--timeout, --delay) until the endpoint is
    in service, then registers its variants with Application Auto Scaling.
    """
    from ml2p import autoscaling, endpoint_configs, sagemaker

    scaled = _uses_scaling(prj.config, variants)
    checked_name("endpoint", name)
    if variants and model_name:
        raise click.UsageError("give --model-name or --variant, not both")
    if model_name is not None:
        checked_name("model", model_name, enforced=False)
    if scaled:
        served = checked_variants(variants) or [
            endpoint_configs.Variant(model_name or naming.model_for_endpoint(name))
        ]
        config = endpoint_configs.endpoint_config_request(prj.config, name, served)
        model = served[0].model
    else:
        # ML2P 0.6's request: one variant, named after its model.
        model = model_name if model_name is not None else naming.model_for_endpoint(name)
        config = sagemaker.endpoint_config_request(prj.config, name, model)
    request = sagemaker.endpoint_request(prj.config, name)
    prj.target("model", model)
    prj.sagemaker.create_endpoint_config(**config)
    prj.target("endpoint", name)
    echo_json(prj.sagemaker.create_endpoint(**request))
    if not scaled or autoscaling.autoscaling_settings(prj.config) is None:
        return
    # Application Auto Scaling accepts a variant only once the endpoint is in service.
    wait_in_service(prj, name, timeout, delay)
    names = [variant["VariantName"] for variant in config["ProductionVariants"]]
    echo_json({"Autoscaling": register_autoscaling(prj, name, names)})


@endpoint.command("delete")
@click.argument("name", metavar="ENDPOINT")
@pass_project
def endpoint_delete(prj: Project, name: str) -> None:
    """Delete ENDPOINT and its configuration (and, with deploy.autoscaling, its scaling)."""
    prj.target("endpoint", name)
    removed = remove_autoscaling(prj, name)
    if removed is not None:
        echo_json(removed)
    echo_json(prj.sagemaker.delete_endpoint(EndpointName=prj.full_name(name)))
    for response in delete_endpoint_configs(prj, name):
        echo_json(response)


@endpoint.command("describe")
@click.argument("name", metavar="ENDPOINT")
@pass_project
def endpoint_describe(prj: Project, name: str) -> None:
    """Describe ENDPOINT, adding its invocation URL as EndpointUrl.

    With deploy.autoscaling, Autoscaling lists its scalable targets and policies.
    """
    prj.target("endpoint", name)
    response = prj.sagemaker.describe_endpoint(EndpointName=prj.full_name(name))
    response["EndpointUrl"] = endpoint_url_for_arn(response.get("EndpointArn", ""))
    autoscaled = describe_autoscaling(prj, name)
    if autoscaled is not None:
        response["Autoscaling"] = autoscaled
    echo_json(response)


@endpoint.command("wait")
@click.argument("name", metavar="ENDPOINT")
@wait_options
@pass_project
def endpoint_wait(prj: Project, name: str, timeout: float, delay: float) -> None:
    """Wait until ENDPOINT is in service; fail if it fails. Prints nothing on success."""
    prj.target("endpoint", name)
    wait_in_service(prj, name, timeout, delay)


@endpoint.command("invoke")
@click.argument("name", metavar="ENDPOINT")
@click.argument("json_data", metavar="JSON|@FILE")
@click.option(
    "--target-container",
    default=None,
    help="The container of a multi-container (direct) model to invoke.",
)
@click.option(
    "--variant",
    default=None,
    metavar="MODEL",
    help="Invoke the variant serving MODEL (a model name or a variant name).",
)
@click.option(
    "--async",
    "is_async",
    is_flag=True,
    help="Invoke asynchronously: upload JSON_DATA to S3 and print where the result will be.",
)
@click.option("--wait", is_flag=True, help="With --async, wait for the result and print it.")
@wait_options
@pass_project
def endpoint_invoke(
    prj: Project,
    name: str,
    json_data: str,
    target_container: str | None,
    variant: str | None,
    is_async: bool,
    wait: bool,
    timeout: float,
    delay: float,
) -> None:
    """Invoke ENDPOINT with JSON_DATA (inline JSON or @file) and print the response."""
    body = read_json_argument(json_data)
    if is_async:
        if variant or target_container:
            raise click.UsageError("--async takes neither --variant nor --target-container")
        invoke_async(prj, name, body, wait, timeout, delay)
        return
    if wait:
        raise click.UsageError("--wait goes with --async")
    prj.target("endpoint", name)
    kwargs: dict[str, Any] = {
        "EndpointName": prj.full_name(name),
        "Body": body,
        "ContentType": "application/json",
        "Accept": "application/json",
    }
    if target_container:
        kwargs["TargetContainerHostname"] = target_container
    if variant:
        kwargs["TargetVariant"] = variant_for(prj, name, variant)
        prj.target("endpoint", name)
    response = prj.aws_client("sagemaker-runtime").invoke_endpoint(**kwargs)
    response["Body"] = decoded_body(response["Body"].read())
    echo_json(response)


# Traffic shifting, blue/green updates, autoscaling and logs.
for _command in (endpoint_shift, endpoint_update, endpoint_autoscale, endpoint_logs):
    endpoint.add_command(_command)
del _command
