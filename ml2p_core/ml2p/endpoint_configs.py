"""Endpoint configurations with several variants, serverless or asynchronous.

:func:`endpoint_config_request` builds a ``CreateEndpointConfig`` request for any
number of production variants. Variants on instances take their settings from
``ml2p.sagemaker.endpoint_config_request`` (so one variant with weight 1 is
exactly the request that function returns); ``deploy.serverless`` turns each
variant into a serverless one, and ``deploy.async`` adds the asynchronous
inference settings.

Variant names extend the one-variant rule: the variants of an endpoint are numbered
from 1 in the order given, ``<project>-<model>-variant-<n>``
(:func:`ml2p.naming.variant_name`). A blue/green update keeps the variant names of
the configuration it replaces, as SageMaker requires.

Nothing here talks to AWS or imports boto3; the configuration is never changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml2p import naming, sagemaker
from ml2p.config import Config
from ml2p.errors import ML2PError

__all__ = [
    "Variant",
    "async_output_url",
    "endpoint_config_request",
    "kept_variant_names",
    "models_of_config",
    "parse_variant",
]

# Settings that differ from one variant to the next; the rest is the deploy section's.
_PER_VARIANT = ("VariantName", "ModelName", "InitialVariantWeight")


@dataclass(frozen=True)
class Variant:
    """A model served by an endpoint: its short name, traffic weight and instance count.

    ``instances`` is ``None`` to use ``deploy.instance_count`` (or, when shifting
    traffic, to leave the count as it is).
    """

    model: str
    weight: float = 1.0
    instances: int | None = None


def parse_variant(text: str, *, allow_instances: bool = False) -> Variant:
    """Read ``MODEL=WEIGHT`` (or, if ``allow_instances``, ``MODEL=WEIGHT:INSTANCES``).

    ``MODEL`` is a short model name (``churn-1-2-0``, not checked here: the
    command line checks names as it does everywhere); ``WEIGHT`` a number of at
    least 0 (weights are relative: SageMaker sends each variant its weight's share
    of the traffic); ``INSTANCES`` a whole number of at least 1.

    :raises ML2PError: naming the part at fault.
    """
    form = "MODEL=WEIGHT[:INSTANCES]" if allow_instances else "MODEL=WEIGHT"
    model, sep, rest = text.partition("=")
    if not sep or not model.strip() or not rest.strip():
        raise ML2PError(f"variant {text!r}: expected {form} (e.g. churn-1-2-0=0.9)")
    model = model.strip()
    weight_text, colon, count_text = rest.partition(":")
    if colon and not allow_instances:
        raise ML2PError(f"variant {text!r}: expected {form}; instance counts are not taken here")
    try:
        weight = float(weight_text)
    except ValueError:
        raise ML2PError(f"variant {text!r}: weight {weight_text!r} is not a number") from None
    if not math.isfinite(weight) or weight < 0:
        raise ML2PError(f"variant {text!r}: weight must be a number of at least 0")
    instances = None
    if colon:
        try:
            instances = int(count_text)
        except ValueError:
            instances = 0
        if instances < 1:
            raise ML2PError(
                f"variant {text!r}: instance count {count_text!r} is not a whole number of "
                "at least 1"
            )
    return Variant(model, weight, instances)


def check_variants(variants: Sequence[Variant]) -> None:
    """Refuse an empty list, a model listed twice, or weights that are all 0."""
    if not variants:
        raise ML2PError("no variants given")
    seen = set()
    for variant in variants:
        if variant.model in seen:
            raise ML2PError(f"model {variant.model!r} is given twice; give each model once")
        seen.add(variant.model)
    if not any(variant.weight > 0 for variant in variants):
        raise ML2PError("every variant has weight 0: at least one must receive traffic")


def async_output_url(cfg: Config, endpoint: str) -> str:
    """Return where an asynchronous endpoint writes its results.

    ``deploy.async.output_path`` if it is an ``s3://`` URL; a relative path is taken
    under ``s3folder``; by default ``async/<project>-<endpoint>/output/`` under it.
    """
    from ml2p.core import S3URL

    path = (cfg.section("deploy").get("async") or {}).get("output_path")
    if path and path.startswith("s3://"):
        return path
    s3 = S3URL(cfg.s3folder)
    if path:
        return s3.url(path)
    return s3.url(f"async/{naming.full_name(cfg.project, endpoint)}/output/")


def _async_config(cfg: Config, endpoint: str) -> dict[str, Any] | None:
    settings = cfg.section("deploy").get("async")
    if settings is None:
        return None
    output: dict[str, Any] = {"S3OutputPath": async_output_url(cfg, endpoint)}
    topics = {}
    if settings.get("success_topic"):
        topics["SuccessTopic"] = settings["success_topic"]
    if settings.get("error_topic"):
        topics["ErrorTopic"] = settings["error_topic"]
    if topics:
        output["NotificationConfig"] = topics
    config: dict[str, Any] = {"OutputConfig": output}
    if settings.get("max_concurrent_invocations"):
        config["ClientConfig"] = {
            "MaxConcurrentInvocationsPerInstance": settings["max_concurrent_invocations"]
        }
    return config


def _base(cfg: Config, endpoint: str, first_model: str) -> dict[str, Any]:
    """The request for ``first_model`` alone; its variant is the template of the others."""
    serverless = cfg.section("deploy").get("serverless")
    if serverless is None:
        return sagemaker.endpoint_config_request(cfg, endpoint, first_model)
    # Serverless variants have no instances, so deploy.instance_type is not required.
    variant = {
        "ServerlessConfig": {
            "MemorySizeInMB": serverless["memory_mb"],
            "MaxConcurrency": serverless["max_concurrency"],
        }
    }
    return {
        "EndpointConfigName": naming.endpoint_config_name(cfg.project, endpoint),
        "ProductionVariants": [variant],
        "Tags": naming.project_tags(cfg.project),
    }


def endpoint_config_request(
    cfg: Config,
    endpoint: str,
    variants: Sequence[Variant],
    *,
    config_name: str | None = None,
    variant_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Return the ``CreateEndpointConfig`` request serving ``variants``.

    :param endpoint: The short endpoint name.
    :param variants: The models, in order, with their weights and (optionally)
        instance counts.
    :param config_name: The full configuration name (default
        ``<project>-<endpoint>-config``).
    :param variant_names: The full variant names to use, one per variant
        (default: numbered from 1, see :func:`ml2p.naming.variant_name`).
    :raises ML2PError: if ``variants`` is empty, repeats a model or has no weight
        above 0, or ``variant_names`` does not match it.
    :raises ConfigError: if a required ``deploy`` setting is missing.
    """
    check_variants(variants)
    if variant_names is not None and len(variant_names) != len(variants):
        raise ML2PError(f"{len(variant_names)} variant names for {len(variants)} variants")
    request = _base(cfg, endpoint, variants[0].model)
    template = {k: v for k, v in request["ProductionVariants"][0].items() if k not in _PER_VARIANT}
    production: list[dict[str, Any]] = []
    for number, variant in enumerate(variants, 1):
        name = (
            variant_names[number - 1]
            if variant_names is not None
            else naming.variant_name(cfg.project, variant.model, number)
        )
        entry = {
            "VariantName": name,
            "ModelName": naming.full_name(cfg.project, variant.model),
            **template,
            "InitialVariantWeight": float(variant.weight),
        }
        if variant.instances is not None and "InitialInstanceCount" in entry:
            entry["InitialInstanceCount"] = variant.instances
        production.append(entry)
    request["ProductionVariants"] = production
    if config_name is not None:
        request["EndpointConfigName"] = config_name
    async_config = _async_config(cfg, endpoint)
    if async_config is not None:
        request["AsyncInferenceConfig"] = async_config
    return request


def kept_variant_names(
    project: str, old: Sequence[Mapping[str, Any]], variants: Sequence[Variant]
) -> list[str]:
    """Return the names of ``variants`` in a configuration that replaces ``old``.

    A model that an ``old`` variant serves keeps that variant's name (a blue/green
    update requires it); another gets ``<project>-<model>-variant-<n>``, ``n``
    being its place in ``variants`` (or the next number free).

    :param old: The ``ProductionVariants`` of the configuration being replaced.
    """
    served = {v["ModelName"]: v["VariantName"] for v in old}
    names = [served.get(naming.full_name(project, v.model)) for v in variants]
    taken = {name for name in served.values()} | {name for name in names if name}
    for index, variant in enumerate(variants):
        number = index + 1
        while names[index] is None:
            candidate = naming.variant_name(project, variant.model, number)
            if candidate not in taken:
                names[index] = candidate
                taken.add(candidate)
            number += 1
    return [name for name in names if name]


def models_of_config(description: Mapping[str, Any]) -> dict[str, str]:
    """Return full model name -> variant name for a ``DescribeEndpointConfig`` answer."""
    return {
        variant["ModelName"]: variant["VariantName"]
        for variant in description.get("ProductionVariants") or []
    }
