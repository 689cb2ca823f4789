"""``ml2p endpoint shift``, ``update``, ``autoscale`` and ``logs``: endpoints past one instance.

Registered on the ``endpoint`` group by :mod:`ml2p.cli.endpoints`. What these
commands share with the other ``endpoint`` commands (variants, configurations,
autoscaling, waiting) is in :mod:`ml2p.cli.endpoint_support`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

import click

from ml2p.cli.context import Project, pass_project
from ml2p.cli.endpoint_support import (
    ENDPOINT_FAILED,
    checked_variants,
    endpoint_and_config,
    register_autoscaling,
    remove_autoscaling,
)
from ml2p.cli.output import echo_json, echo_log_events
from ml2p.cli.params import checked_name, wait_for_status, wait_options
from ml2p.errors import ML2PError

__all__ = ["endpoint_autoscale", "endpoint_logs", "endpoint_shift", "endpoint_update"]


@click.command("shift")
@click.argument("name", metavar="ENDPOINT")
@click.argument("weights", nargs=-1, required=True, metavar="MODEL=WEIGHT[:INSTANCES]...")
@pass_project
def endpoint_shift(prj: Project, name: str, weights: Sequence[str]) -> None:
    """Change the traffic weights (and instance counts) of ENDPOINT's variants in place.

    Each MODEL=WEIGHT names a model the endpoint serves; weights are relative
    (0.9 and 0.1 send 90% and 10% of the requests). :INSTANCES also sets the
    variant's instance count. Variants not named keep theirs. No new
    configuration is made and nothing is redeployed.
    """
    from ml2p import traffic
    from ml2p.endpoint_configs import models_of_config

    checked_name("endpoint", name)
    shifts = checked_variants(weights, allow_instances=True)
    variant_of_model = models_of_config(endpoint_and_config(prj, name)["config"])
    request = traffic.weights_request(prj.project, name, variant_of_model, shifts)
    prj.target("endpoint", name)
    echo_json(prj.sagemaker.update_endpoint_weights_and_capacities(**request))
    described = prj.sagemaker.describe_endpoint(EndpointName=request["EndpointName"])
    echo_json(
        {
            "EndpointName": described["EndpointName"],
            "EndpointStatus": described.get("EndpointStatus"),
            "ProductionVariants": described.get("ProductionVariants") or [],
        }
    )


@click.command("autoscale")
@click.argument("name", metavar="ENDPOINT")
@pass_project
def endpoint_autoscale(prj: Project, name: str) -> None:
    """Register ENDPOINT's variants with Application Auto Scaling (deploy.autoscaling).

    For an endpoint created before deploy.autoscaling was set, for a variant
    added by `endpoint update`, or to apply changed settings: the scalable
    targets and policies are replaced.
    """
    from ml2p import autoscaling

    if autoscaling.autoscaling_settings(prj.config) is None:
        raise ML2PError(
            f"{prj.config.path}: deploy.autoscaling is not set: give min_instances, "
            "max_instances and target_invocations_per_instance"
        )
    checked_name("endpoint", name)
    current = endpoint_and_config(prj, name)
    names = [v["VariantName"] for v in current["config"].get("ProductionVariants") or []]
    prj.target("endpoint", name)
    echo_json({"Autoscaling": register_autoscaling(prj, name, names)})


def _new_variants(
    prj: Project, old: Sequence[Mapping[str, Any]], model: str | None, texts: Sequence[str]
) -> Any:
    """The update's variants and their names: kept for models already served."""
    from ml2p import endpoint_configs

    if bool(model) == bool(texts):
        raise click.UsageError("give --model, or the models and weights with --variant")
    if model:
        if len(old) != 1:
            served = ", ".join(v["ModelName"] for v in old)
            raise ML2PError(
                f"the endpoint has {len(old)} variants ({served}): give each model and its "
                "weight with --variant (or move traffic with `ml2p endpoint shift`)"
            )
        return [endpoint_configs.Variant(model)], [old[0]["VariantName"]]
    variants = checked_variants(texts)
    names = endpoint_configs.kept_variant_names(prj.project, old, variants)
    return variants, names


@click.command("update")
@click.argument("name", metavar="ENDPOINT")
@click.option(
    "--model",
    "-m",
    "model",
    default=None,
    help="The model a one-variant endpoint serves from now on.",
)
@click.option(
    "--variant",
    "variant_texts",
    multiple=True,
    metavar="MODEL=WEIGHT",
    help="Serve these models with these weights from now on (repeatable).",
)
@click.option(
    "--strategy",
    type=click.Choice(["all-at-once", "canary", "linear"]),
    default="all-at-once",
    show_default=True,
    help="How traffic moves to the new fleet.",
)
@click.option(
    "--step-percent",
    type=click.IntRange(1, 99),
    default=10,
    show_default=True,
    help="Capacity share of the canary, or of each linear step.",
)
@click.option(
    "--wait-interval",
    type=click.IntRange(0, 3600),
    default=300,
    show_default=True,
    help="Seconds to watch the alarms after each traffic step.",
)
@click.option(
    "--rollback-alarm",
    "alarms",
    multiple=True,
    metavar="ALARM",
    help="A CloudWatch alarm that rolls the update back if it goes off (repeatable).",
)
@wait_options
@pass_project
def endpoint_update(
    prj: Project,
    name: str,
    model: str | None,
    variant_texts: Sequence[str],
    strategy: str,
    step_percent: int,
    wait_interval: int,
    alarms: Sequence[str],
    timeout: float,
    delay: float,
) -> None:
    """Serve new models from ENDPOINT through a blue/green deployment.

    --model replaces the model of a one-variant endpoint; --variant gives
    every model the endpoint serves from now on, with its weight (a model
    it serves already keeps its variant name, as SageMaker requires). A new
    endpoint configuration (<endpoint>-config-<UTC time>, deploy settings
    from ml2p.yml) is made and the endpoint updated to it: SageMaker starts a
    new fleet, shifts traffic to it by the strategy, and rolls back if a
    --rollback-alarm goes off. Once the endpoint is in service on the new
    configuration, the old one is deleted; after a rollback, the new one is.
    Adding or removing a variant is an all-at-once update without alarms
    (SageMaker's guardrails need the same variants). With deploy.autoscaling,
    variants left out are deregistered first; run `endpoint autoscale` to
    register the new ones.
    """
    from ml2p import endpoint_configs, traffic

    checked_name("endpoint", name)
    if model:
        checked_name("model", model)
    deployment = traffic.deployment_config(strategy, step_percent, wait_interval, alarms)
    current = endpoint_and_config(prj, name)
    endpoint, old = current["endpoint"], current["config"]
    if endpoint["EndpointStatus"] != "InService":
        raise ML2PError(
            f"endpoint {name!r} is {endpoint['EndpointStatus']}: update it once it is "
            "InService (`ml2p endpoint wait`)"
        )
    old_variants = old.get("ProductionVariants") or []
    variants, names = _new_variants(prj, old_variants, model, variant_texts)
    update: dict[str, Any] = {"EndpointName": endpoint["EndpointName"]}
    if sorted(names) == sorted(v["VariantName"] for v in old_variants):
        update["DeploymentConfig"] = deployment
    elif strategy != "all-at-once" or alarms:
        # Deployment guardrails need the new configuration to have the old variants.
        raise ML2PError(
            "--strategy canary or linear and --rollback-alarm need the same variants before "
            "and after; adding or removing a variant is a plain all-at-once update"
        )
    new_name = traffic.updated_config_name(prj.project, name, taken=[old["EndpointConfigName"]])
    config = endpoint_configs.endpoint_config_request(
        prj.config, name, variants, config_name=new_name, variant_names=names
    )
    prj.target("model", variants[0].model)
    prj.sagemaker.create_endpoint_config(**config)
    prj.target("endpoint", name)
    # Application Auto Scaling refuses an update that removes a registered variant.
    dropped = [v["VariantName"] for v in old_variants if v["VariantName"] not in names]
    removed = remove_autoscaling(prj, name, dropped) if dropped else None
    if removed is not None:
        echo_json(removed)
    started = datetime.datetime.now(datetime.timezone.utc)
    echo_json(prj.sagemaker.update_endpoint(**update, EndpointConfigName=new_name))
    final = _wait_updated(prj, name, new_name, started, timeout, delay)
    old_name = old["EndpointConfigName"]
    if final["EndpointConfigName"] != new_name:
        prj.sagemaker.delete_endpoint_config(EndpointConfigName=new_name)
        reason = final.get("FailureReason") or "no reason given"
        raise ML2PError(
            f"the update of endpoint {name!r} was rolled back to {old_name} ({reason}); "
            f"the new configuration {new_name} was deleted"
        )
    prj.sagemaker.delete_endpoint_config(EndpointConfigName=old_name)
    echo_json(
        {
            "EndpointName": final["EndpointName"],
            "EndpointStatus": final["EndpointStatus"],
            "EndpointConfigName": new_name,
            "DeletedEndpointConfigName": old_name,
        }
    )


def _wait_updated(
    prj: Project,
    name: str,
    new_name: str,
    started: datetime.datetime,
    timeout: float,
    delay: float,
) -> Mapping[str, Any]:
    """Wait for the update to end: in service on the new configuration, or rolled back."""
    full = prj.full_name(name)
    moved = {"seen": False}

    def describe() -> dict[str, Any]:
        response = dict(prj.sagemaker.describe_endpoint(EndpointName=full))
        status = response.get("EndpointStatus")
        modified = response.get("LastModifiedTime")
        if status != "InService":
            moved["seen"] = True
        elif (
            response.get("EndpointConfigName") != new_name
            and not moved["seen"]
            and not (isinstance(modified, datetime.datetime) and modified >= started)
        ):
            # Still in service on the old configuration: the update has not begun.
            response["EndpointStatus"] = "Updating"
        return response

    return wait_for_status(
        describe,
        "EndpointStatus",
        done=("InService",),
        failed=ENDPOINT_FAILED,
        what=f"the update of endpoint {name!r}",
        timeout=timeout,
        delay=delay,
    )


@click.command("logs")
@click.argument("name", metavar="ENDPOINT")
@click.option(
    "--since",
    default="1h",
    show_default=True,
    help="From this long ago (30s, 10m, 2h, 1d) or this ISO 8601 time (UTC).",
)
@pass_project
def endpoint_logs(prj: Project, name: str, since: str) -> None:
    """Print ENDPOINT's CloudWatch log lines, one JSON object per line.

    Each line is {"timestamp", "stream", "message"}; a stream per variant
    and instance.
    """
    from ml2p import cloudwatch

    start = cloudwatch.parse_since(since)
    group = cloudwatch.endpoint_group(prj.full_name(name))
    echo_log_events(
        prj,
        f"endpoint {name!r}",
        group,
        lambda client: cloudwatch.log_events(client, group, start_ms=start),
    )
