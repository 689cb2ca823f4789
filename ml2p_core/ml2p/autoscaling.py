"""Application Auto Scaling requests for an endpoint's variants (``deploy.autoscaling``).

Each variant of an endpoint is registered as a scalable target (its
``DesiredInstanceCount``, between ``min_instances`` and ``max_instances``) and
given a target-tracking policy on ``SageMakerVariantInvocationsPerInstance``
(``target_invocations_per_instance``, with the optional cooldowns in seconds).

Nothing here talks to AWS or imports boto3; the configuration is never changed.
"""

from __future__ import annotations

from typing import Any

from ml2p import naming
from ml2p.config import Config

__all__ = [
    "NAMESPACE",
    "SCALABLE_DIMENSION",
    "autoscaling_settings",
    "endpoint_prefix",
    "policy_name",
    "resource_id",
    "scalable_target_request",
    "scaling_policy_request",
]

NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


def autoscaling_settings(cfg: Config) -> dict[str, Any] | None:
    """Return ``deploy.autoscaling`` (over ``defaults``), or ``None`` if not set."""
    return cfg.section("deploy").get("autoscaling")


def endpoint_prefix(full_endpoint: str) -> str:
    """Return the start of every resource id of ``full_endpoint``'s variants."""
    return f"endpoint/{full_endpoint}/variant/"


def resource_id(full_endpoint: str, variant: str) -> str:
    """Return Application Auto Scaling's id of a variant: ``endpoint/<e>/variant/<v>``."""
    return endpoint_prefix(full_endpoint) + variant


def policy_name(cfg: Config, endpoint: str) -> str:
    """Return the scaling policy name of an endpoint: ``<project>-<endpoint>-scaling``."""
    return naming.full_name(cfg.project, f"{endpoint}-scaling")


def _target(cfg: Config, endpoint: str, variant: str) -> dict[str, Any]:
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(naming.full_name(cfg.project, endpoint), variant),
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def scalable_target_request(cfg: Config, endpoint: str, variant: str) -> dict[str, Any]:
    """Return the ``RegisterScalableTarget`` request for a variant of ``endpoint``.

    :param endpoint: The short endpoint name.
    :param variant: The full variant name.
    """
    settings = autoscaling_settings(cfg) or {}
    return {
        **_target(cfg, endpoint, variant),
        "MinCapacity": settings.get("min_instances") or 1,
        "MaxCapacity": settings["max_instances"],
        "Tags": {naming.TAG_KEY: cfg.project},
    }


def scaling_policy_request(cfg: Config, endpoint: str, variant: str) -> dict[str, Any]:
    """Return the ``PutScalingPolicy`` request (target tracking) for a variant of ``endpoint``."""
    settings = autoscaling_settings(cfg) or {}
    tracking: dict[str, Any] = {
        "TargetValue": float(settings["target_invocations_per_instance"]),
        "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
    }
    if settings.get("scale_in_cooldown") is not None:
        tracking["ScaleInCooldown"] = settings["scale_in_cooldown"]
    if settings.get("scale_out_cooldown") is not None:
        tracking["ScaleOutCooldown"] = settings["scale_out_cooldown"]
    return {
        "PolicyName": policy_name(cfg, endpoint),
        **_target(cfg, endpoint, variant),
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": tracking,
    }
