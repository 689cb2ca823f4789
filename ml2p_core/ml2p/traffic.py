"""Shipping a new model version safely: blue/green updates and traffic shifting.

:func:`deployment_config` is SageMaker's ``DeploymentConfig`` for ``UpdateEndpoint``:
a blue/green update that shifts traffic to the new fleet all at once, as a canary
(a first step of ``step_percent`` of the capacity, then the rest) or linearly (steps
of ``step_percent``), waiting ``wait_seconds`` after each step, and rolls back
automatically if any of the named CloudWatch alarms goes off.

:func:`weights_request` is the ``UpdateEndpointWeightsAndCapacities`` request that
changes the traffic weights (and instance counts) of an endpoint's variants in
place, without a new configuration.

Nothing here talks to AWS or imports boto3.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from ml2p import naming
from ml2p.endpoint_configs import Variant
from ml2p.errors import ML2PError

__all__ = [
    "DEFAULT_STEP_PERCENT",
    "DEFAULT_WAIT_SECONDS",
    "STRATEGIES",
    "deployment_config",
    "updated_config_name",
    "weights_request",
]

#: ``--strategy`` -> SageMaker's traffic routing type.
STRATEGIES: dict[str, str] = {
    "all-at-once": "ALL_AT_ONCE",
    "canary": "CANARY",
    "linear": "LINEAR",
}
#: The share of capacity a canary or each linear step gets, by default.
DEFAULT_STEP_PERCENT = 10
#: Seconds to watch the alarms after each traffic step, by default.
DEFAULT_WAIT_SECONDS = 300
#: SageMaker's limit for the wait after each step.
MAX_WAIT_SECONDS = 3600


def updated_config_name(
    project: str,
    endpoint: str,
    now: datetime.datetime | None = None,
    taken: Sequence[str] = (),
) -> str:
    """Return a new configuration's name, ``<project>-<endpoint>-config-<UTC time>``.

    The time (``YYYYMMDDHHMMSS``) keeps successive updates apart; a name in
    ``taken`` (the current configuration's, from an update in the same second)
    gets ``-2``, ``-3``, ... appended.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    name = naming.full_name(project, f"{endpoint}-config-{now:%Y%m%d%H%M%S}")
    number = 1
    while name in taken:
        number += 1
        name = naming.full_name(project, f"{endpoint}-config-{now:%Y%m%d%H%M%S}-{number}")
    return name


def deployment_config(
    strategy: str = "all-at-once",
    step_percent: int = DEFAULT_STEP_PERCENT,
    wait_seconds: int = DEFAULT_WAIT_SECONDS,
    alarms: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the ``DeploymentConfig`` of a blue/green update.

    :param strategy: ``all-at-once``, ``canary`` or ``linear``.
    :param step_percent: The capacity share of the canary, or of each linear step.
    :param wait_seconds: Seconds to wait (watching the alarms) after each step.
    :param alarms: CloudWatch alarm names; if any goes off, traffic rolls back.
    :raises ML2PError: for an unknown strategy or a value out of range.
    """
    if strategy not in STRATEGIES:
        raise ML2PError(f"unknown strategy {strategy!r}; expected one of {', '.join(STRATEGIES)}")
    if not 1 <= step_percent <= 99:
        raise ML2PError(f"step percent must be from 1 to 99, not {step_percent}")
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise ML2PError(f"wait interval must be from 0 to {MAX_WAIT_SECONDS} s, not {wait_seconds}")
    routing: dict[str, Any] = {"Type": STRATEGIES[strategy], "WaitIntervalInSeconds": wait_seconds}
    size = {"Type": "CAPACITY_PERCENT", "Value": step_percent}
    if strategy == "canary":
        routing["CanarySize"] = size
    elif strategy == "linear":
        routing["LinearStepSize"] = size
    config: dict[str, Any] = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing},
    }
    if alarms:
        config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
    return config


def weights_request(
    project: str, endpoint: str, variant_of_model: Mapping[str, str], shifts: Sequence[Variant]
) -> dict[str, Any]:
    """Return the ``UpdateEndpointWeightsAndCapacities`` request for ``shifts``.

    :param project: The project name.
    :param endpoint: The short endpoint name.
    :param variant_of_model: Full model name -> variant name, for the endpoint's
        variants (see :func:`ml2p.endpoint_configs.models_of_config`).
    :param shifts: The new weight (and, if given, instance count) of some variants,
        by short model name; variants not named keep theirs.
    :raises ML2PError: if a model is not served by the endpoint, or is named twice.
    """
    desired = []
    seen = set()
    for shift in shifts:
        if shift.model in seen:
            raise ML2PError(f"model {shift.model!r} is given twice; give each model once")
        seen.add(shift.model)
        variant = variant_of_model.get(naming.full_name(project, shift.model))
        if variant is None:
            served = ", ".join(sorted(variant_of_model)) or "(none)"
            raise ML2PError(
                f"model {shift.model!r} is not served by endpoint {endpoint!r}; "
                f"its variants serve {served}"
            )
        entry: dict[str, Any] = {"VariantName": variant, "DesiredWeight": float(shift.weight)}
        if shift.instances is not None:
            entry["DesiredInstanceCount"] = shift.instances
        desired.append(entry)
    return {
        "EndpointName": naming.full_name(project, endpoint),
        "DesiredWeightsAndCapacities": desired,
    }
