"""What the ``ml2p endpoint`` commands share: variants, configurations, autoscaling, waiting.

:mod:`ml2p.cli.endpoints` (``create``, ``delete``, ``describe``, ``wait``, ``invoke``)
and :mod:`ml2p.cli.endpoint_scaling` (``shift``, ``update``, ``autoscale``) both use
these. The autoscaling helpers ask nothing of AWS unless ``deploy.autoscaling`` is
set, so ``delete`` and ``describe`` of a plain endpoint make only their own requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml2p import naming
from ml2p.cli.context import Project
from ml2p.cli.params import checked_name, wait_for_status
from ml2p.errors import ML2PError

__all__ = [
    "ENDPOINT_FAILED",
    "checked_variants",
    "delete_endpoint_configs",
    "describe_autoscaling",
    "endpoint_and_config",
    "register_autoscaling",
    "remove_autoscaling",
    "variant_for",
    "wait_in_service",
]

#: The endpoint states that end a wait for it to be in service with an error.
ENDPOINT_FAILED = ("Failed", "OutOfService", "Deleting")


def checked_variants(texts: Sequence[str], allow_instances: bool = False) -> list[Any]:
    """Read each ``MODEL=WEIGHT``, checking the model name as the command line does."""
    from ml2p.endpoint_configs import parse_variant

    variants = [parse_variant(text, allow_instances=allow_instances) for text in texts]
    for variant in variants:
        checked_name("model", variant.model)
    return variants


def wait_in_service(prj: Project, name: str, timeout: float, delay: float) -> Mapping[str, Any]:
    """Wait until endpoint ``name`` is in service; return its description.

    :raises ML2PError: if it fails (or goes out of service, or is being
        deleted), or when ``timeout`` seconds pass.
    """
    full = prj.full_name(name)
    return wait_for_status(
        lambda: prj.sagemaker.describe_endpoint(EndpointName=full),
        "EndpointStatus",
        done=("InService",),
        failed=ENDPOINT_FAILED,
        what=f"endpoint {name!r}",
        timeout=timeout,
        delay=delay,
    )


def endpoint_and_config(prj: Project, name: str) -> dict[str, Any]:
    """Describe endpoint ``name`` and its configuration: ``{"endpoint": ..., "config": ...}``."""
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

    variants = models_of_config(endpoint_and_config(prj, name)["config"])
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


def register_autoscaling(prj: Project, name: str, variants: Sequence[str]) -> dict[str, Any]:
    """Register each variant as a scalable target and put its target-tracking policy.

    Both calls replace what was there, so running them again applies changed settings.
    """
    from ml2p import autoscaling

    client = prj.aws_client("application-autoscaling")
    registered: dict[str, list[str]] = {"ScalableTargets": [], "ScalingPolicies": []}
    for variant in variants:
        target = autoscaling.scalable_target_request(prj.config, name, variant)
        client.register_scalable_target(**target)
        registered["ScalableTargets"].append(target["ResourceId"])
        policy = client.put_scaling_policy(
            **autoscaling.scaling_policy_request(prj.config, name, variant)
        )
        registered["ScalingPolicies"].append(policy["PolicyARN"])
    return registered


def _endpoint_targets(prj: Project, name: str) -> list[dict[str, Any]]:
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


def _policies(prj: Project, target: Mapping[str, Any]) -> list[dict[str, Any]]:
    client = prj.aws_client("application-autoscaling")
    pages = client.get_paginator("describe_scaling_policies").paginate(
        ServiceNamespace=target["ServiceNamespace"],
        ResourceId=target["ResourceId"],
        ScalableDimension=target["ScalableDimension"],
    )
    return [policy for page in pages for policy in page.get("ScalingPolicies") or []]


def describe_autoscaling(prj: Project, name: str) -> dict[str, Any] | None:
    """The endpoint's scalable targets and scaling policies, if ``deploy.autoscaling`` is set."""
    from ml2p import autoscaling

    if autoscaling.autoscaling_settings(prj.config) is None:
        return None
    targets = _endpoint_targets(prj, name)
    policies = [policy for target in targets for policy in _policies(prj, target)]
    return {"ScalableTargets": targets, "ScalingPolicies": policies}


def remove_autoscaling(
    prj: Project, name: str, variants: Sequence[str] | None = None
) -> dict[str, Any] | None:
    """Delete the scaling policies of the endpoint's variants and deregister them.

    Only when ``deploy.autoscaling`` is set; otherwise nothing is asked of AWS
    (deleting an endpoint deregisters its variants anyway, given the permission).

    :param variants: Only these variants (default: all of them).
    """
    from ml2p import autoscaling

    if autoscaling.autoscaling_settings(prj.config) is None:
        return None
    client = prj.aws_client("application-autoscaling")
    removed: dict[str, list[str]] = {
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


def delete_endpoint_configs(prj: Project, name: str) -> list[dict[str, Any]]:
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
