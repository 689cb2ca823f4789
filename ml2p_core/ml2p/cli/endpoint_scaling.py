"""Endpoints past one instance: variants, autoscaling, updates, async invocation, logs.

The commands ``ml2p endpoint shift``, ``update`` and ``logs`` are defined here and
registered on the ``endpoint`` group by :mod:`ml2p.cli.endpoints`, whose ``create``,
``delete``, ``describe`` and ``invoke`` call the helpers below when a scaling
setting or option is used. Without them those commands make exactly the
requests they made before.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence

import click

from ml2p import naming
from ml2p.cli.context import Project, pass_project
from ml2p.cli.output import echo_json, echo_log_events
from ml2p.cli.params import checked_name, wait_for_status, wait_options
from ml2p.errors import ML2PError

__all__ = [
    "create_endpoint",
    "delete_endpoint_configs",
    "describe_autoscaling",
    "endpoint_autoscale",
    "endpoint_logs",
    "endpoint_shift",
    "endpoint_update",
    "invoke_async",
    "remove_autoscaling",
    "uses_scaling",
    "variant_for",
]

_ENDPOINT_FAILED = ("Failed", "OutOfService", "Deleting")


def uses_scaling(cfg: Any, variants: Sequence[str] = ()) -> bool:
    """Whether ``endpoint create`` needs :func:`create_endpoint` (variants or scaling settings)."""
    deploy = cfg.section("deploy")
    return bool(variants) or any(k in deploy for k in ("serverless", "async", "autoscaling"))


def _checked_variants(texts: Sequence[str], allow_instances: bool = False) -> List[Any]:
    """Read each ``MODEL=WEIGHT``, checking the model name as the command line does."""
    from ml2p.endpoint_configs import parse_variant

    variants = [parse_variant(text, allow_instances=allow_instances) for text in texts]
    for variant in variants:
        checked_name("model", variant.model)
    return variants


def _wait_in_service(prj: Project, name: str, timeout: float, delay: float) -> Mapping[str, Any]:
    full = prj.full_name(name)
    return wait_for_status(
        lambda: prj.sagemaker.describe_endpoint(EndpointName=full),
        "EndpointStatus",
        done=("InService",),
        failed=_ENDPOINT_FAILED,
        what=f"endpoint {name!r}",
        timeout=timeout,
        delay=delay,
    )


def create_endpoint(
    prj: Project,
    name: str,
    model_name: Optional[str],
    variant_texts: Sequence[str],
    timeout: float,
    delay: float,
) -> None:
    """``endpoint create`` with ``--variant``, ``deploy.serverless``/``async`` or autoscaling.

    With ``deploy.autoscaling``, waits until the endpoint is in service, then
    registers each variant as a scalable target with a target-tracking policy.
    """
    from ml2p import autoscaling, endpoint_configs, sagemaker

    checked_name("endpoint", name)
    if variant_texts and model_name:
        raise click.UsageError("give --model-name or --variant, not both")
    if model_name is not None:
        checked_name("model", model_name, enforced=False)
    variants = _checked_variants(variant_texts) or [
        endpoint_configs.Variant(model_name or naming.model_for_endpoint(name))
    ]
    config = endpoint_configs.endpoint_config_request(prj.config, name, variants)
    request = sagemaker.endpoint_request(prj.config, name)
    prj.target("model", variants[0].model)
    prj.sagemaker.create_endpoint_config(**config)
    prj.target("endpoint", name)
    echo_json(prj.sagemaker.create_endpoint(**request))
    if autoscaling.autoscaling_settings(prj.config) is None:
        return
    # Application Auto Scaling accepts a variant only once the endpoint is in service.
    _wait_in_service(prj, name, timeout, delay)
    names = [variant["VariantName"] for variant in config["ProductionVariants"]]
    echo_json({"Autoscaling": _register_autoscaling(prj, name, names)})


def _register_autoscaling(prj: Project, name: str, variants: Sequence[str]) -> Dict[str, Any]:
    """Register each variant as a scalable target and put its target-tracking policy.

    Both calls replace what was there, so running them again applies changed settings.
    """
    from ml2p import autoscaling

    client = prj.aws_client("application-autoscaling")
    registered: Dict[str, List[str]] = {"ScalableTargets": [], "ScalingPolicies": []}
    for variant in variants:
        target = autoscaling.scalable_target_request(prj.config, name, variant)
        client.register_scalable_target(**target)
        registered["ScalableTargets"].append(target["ResourceId"])
        policy = client.put_scaling_policy(
            **autoscaling.scaling_policy_request(prj.config, name, variant)
        )
        registered["ScalingPolicies"].append(policy["PolicyARN"])
    return registered


def _endpoint_targets(prj: Project, name: str) -> List[Dict[str, Any]]:
    from ml2p import autoscaling

    prefix = autoscaling.endpoint_prefix(prj.full_name(name))
    client = prj.aws_client("application-autoscaling")
    pages = client.get_paginator("describe_scalable_targets").paginate(
        ServiceNamespace=autoscaling.NAMESPACE
    )
    return [
        target
        for page in pages
        for target in page.get("ScalableTargets") or []
        if target["ResourceId"].startswith(prefix)
    ]


def _policies(prj: Project, target: Mapping[str, Any]) -> List[Dict[str, Any]]:
    client = prj.aws_client("application-autoscaling")
    pages = client.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=target["ServiceNamespace"],
        ResourceId=target["ResourceId"],
        ScalableDimension=target["ScalableDimension"],
    )
    return [policy for page in pages for policy in page.get("ScalingPolicies") or []]


def describe_autoscaling(prj: Project, name: str) -> Optional[Dict[str, Any]]:
    """The endpoint's scalable targets and scaling policies, if ``deploy.autoscaling`` is set."""
    from ml2p import autoscaling

    if autoscaling.autoscaling_settings(prj.config) is None:
        return None
    targets = _endpoint_targets(prj, name)
    policies = [policy for target in targets for policy in _policies(prj, target)]
    return {"ScalableTargets": targets, "ScalingPolicies": policies}


def remove_autoscaling(
    prj: Project, name: str, variants: Optional[Sequence[str]] = None
) -> Optional[Dict[str, Any]]:
    """Delete the scaling policies of the endpoint's variants and deregister them.

    Only when ``deploy.autoscaling`` is set; otherwise nothing is asked of AWS
    (deleting an endpoint deregisters its variants anyway, given the permission).

    :param variants: Only these variants (default: all of them).
    """
    from ml2p import autoscaling

    if autoscaling.autoscaling_settings(prj.config) is None:
        return None
    client = prj.aws_client("application-autoscaling")
    removed: Dict[str, List[str]] = {
        "DeletedScalingPolicies": [],
        "DeregisteredScalableTargets": [],
    }
    prefix = autoscaling.endpoint_prefix(prj.full_name(name))
    for target in _endpoint_targets(prj, name):
        if variants is not None and target["ResourceId"][len(prefix) :] not in variants:
            continue
        ids = {k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
        for policy in _policies(prj, target):
            client.delete_scaling_policy(PolicyName=policy["PolicyName"], **ids)
            removed["DeletedScalingPolicies"].append(policy["PolicyName"])
        client.deregister_scalable_target(**ids)
        removed["DeregisteredScalableTargets"].append(target["ResourceId"])
    return removed


def _is_not_found(exc: Exception) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).lower()
    return code in ("ValidationException", "ValidationError", "ResourceNotFound") and (
        "could not find" in message or "does not exist" in message
    )


def delete_endpoint_configs(prj: Project, name: str) -> List[Dict[str, Any]]:
    """Delete the endpoint's configuration; return the responses.

    That is ``<project>-<endpoint>-config``, unless ``endpoint update`` replaced it:
    then the configurations it made, ``<project>-<endpoint>-config-<time>``, are
    found (tagged with the project) and deleted.
    """
    from botocore.exceptions import ClientError

    from ml2p.cli.listing import project_resources

    config = naming.endpoint_config_name(prj.project, name)
    prj.target("endpoint configuration", f"{name}-config")
    try:
        return [prj.sagemaker.delete_endpoint_config(EndpointConfigName=config)]
    except ClientError as exc:
        if not _is_not_found(exc):
            raise
        updated = [
            item["EndpointConfigName"]
            for item in project_resources(
                prj,
                "list_endpoint_configs",
                "EndpointConfigs",
                "EndpointConfigName",
                "EndpointConfigArn",
            )
            if item["EndpointConfigName"].startswith(f"{config}-")
        ]
        if not updated:
            raise
    return [prj.sagemaker.delete_endpoint_config(EndpointConfigName=n) for n in updated]


def _config_of(prj: Project, name: str) -> Dict[str, Any]:
    prj.target("endpoint", name)
    endpoint = prj.sagemaker.describe_endpoint(EndpointName=prj.full_name(name))
    prj.target("endpoint configuration", endpoint["EndpointConfigName"])
    described = prj.sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"]
    )
    return {"endpoint": endpoint, "config": described}


def variant_for(prj: Project, name: str, model_or_variant: str) -> str:
    """Return the name of the endpoint's variant serving ``model_or_variant``.

    :param model_or_variant: A short model name, or a variant's own name.
    :raises ML2PError: listing the endpoint's models, if none matches.
    """
    from ml2p.endpoint_configs import models_of_config

    variants = models_of_config(_config_of(prj, name)["config"])
    if model_or_variant in variants.values():
        return model_or_variant
    variant = variants.get(prj.full_name(model_or_variant))
    if variant is None:
        served = ", ".join(sorted(variants)) or "(none)"
        raise ML2PError(
            f"model {model_or_variant!r} is not served by endpoint {name!r}; "
            f"its variants serve {served}"
        )
    return variant


def _read_s3(prj: Project, url: str) -> Optional[bytes]:
    """The object at ``url``, or ``None`` if it does not exist (yet)."""
    from botocore.exceptions import ClientError

    bucket, _, key = url[len("s3://") :].partition("/")
    try:
        return prj.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def invoke_async(
    prj: Project, name: str, body: bytes, wait: bool, timeout: float, delay: float
) -> None:
    """Upload ``body`` to S3 and invoke the endpoint asynchronously; ``wait`` fetches the result.

    The input goes to ``async/<project>-<endpoint>/input/<uuid>.json`` under ``s3folder``.
    """
    full = prj.full_name(name)
    s3 = prj.s3
    key = s3.path(f"async/{full}/input/{uuid.uuid4()}.json")
    location = f"s3://{s3.bucket()}/{key}"
    prj.s3_client.put_object(Bucket=s3.bucket(), Key=key, Body=body, ContentType="application/json")
    prj.target("endpoint", name)
    response = prj.aws_client("sagemaker-runtime").invoke_endpoint_async(
        EndpointName=full,
        InputLocation=location,
        ContentType="application/json",
        Accept="application/json",
    )
    result = {
        "InferenceId": response.get("InferenceId"),
        "InputLocation": location,
        "OutputLocation": response.get("OutputLocation"),
        "FailureLocation": response.get("FailureLocation"),
    }
    if wait:
        result["Body"] = _wait_async_result(prj, name, result, timeout, delay)
    echo_json(result)


def _wait_async_result(
    prj: Project, name: str, result: Mapping[str, Any], timeout: float, delay: float
) -> Any:
    """Poll the output (and failure) location until one holds the result."""
    outcome: Dict[str, Any] = {}

    def look() -> Dict[str, Any]:
        raw = _read_s3(prj, result["OutputLocation"])
        if raw is not None:
            outcome["body"] = _decoded(raw)
            return {"Status": "Completed"}
        if result.get("FailureLocation"):
            failure = _read_s3(prj, result["FailureLocation"])
            if failure is not None:
                reason = failure.decode("utf-8", errors="replace").strip()
                return {"Status": "Failed", "FailureReason": reason}
        return {"Status": "InProgress"}

    wait_for_status(
        look,
        "Status",
        done=("Completed",),
        failed=("Failed",),
        what=f"the asynchronous invocation of endpoint {name!r} ({result['InferenceId']})",
        timeout=timeout,
        delay=delay,
    )
    return outcome["body"]


# --------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------


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
    shifts = _checked_variants(weights, allow_instances=True)
    variant_of_model = models_of_config(_config_of(prj, name)["config"])
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
    current = _config_of(prj, name)
    names = [v["VariantName"] for v in current["config"].get("ProductionVariants") or []]
    prj.target("endpoint", name)
    echo_json({"Autoscaling": _register_autoscaling(prj, name, names)})


def _new_variants(
    prj: Project, old: Sequence[Mapping[str, Any]], model: Optional[str], texts: Sequence[str]
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
    variants = _checked_variants(texts)
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
    model: Optional[str],
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
    current = _config_of(prj, name)
    endpoint, old = current["endpoint"], current["config"]
    if endpoint["EndpointStatus"] != "InService":
        raise ML2PError(
            f"endpoint {name!r} is {endpoint['EndpointStatus']}: update it once it is "
            "InService (`ml2p endpoint wait`)"
        )
    old_variants = old.get("ProductionVariants") or []
    variants, names = _new_variants(prj, old_variants, model, variant_texts)
    update: Dict[str, Any] = {"EndpointName": endpoint["EndpointName"]}
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

    def describe() -> Dict[str, Any]:
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
        failed=_ENDPOINT_FAILED,
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
