"""The ``ml2p.yml`` settings for running past one machine, and their validation.

:mod:`ml2p.config` registers these rules next to its own, so that they are checked
like every other setting (errors name the file and the dotted key; unknown keys
inside these mappings are warned about and kept)::

    train:
      spot: {max_wait_seconds: 7200}            # managed spot training, with checkpoints
      input_distribution: ShardedByS3Key        # or FullyReplicated, or {training: ...}
    deploy:
      autoscaling: {min_instances: 1, max_instances: 4, target_invocations_per_instance: 100,
                    scale_in_cooldown: 300, scale_out_cooldown: 60}
      serverless: {memory_mb: 2048, max_concurrency: 10}
      async: {output_path: "async/", max_concurrent_invocations: 4,
              success_topic: "arn:aws:sns:...", error_topic: "arn:aws:sns:..."}
    transform:                                  # batch transform
      instance_type: ml.m5.large
      instance_count: 1
      max_concurrent_transforms: 2
      max_payload_mb: 6
      batch_strategy: MultiRecord               # or SingleRecord
      split_type: Line                          # or None, RecordIO, TFRecord
      content_type: application/jsonlines
      accept: application/jsonlines
      assemble_with: Line                       # or None
      invocations_timeout_seconds: 600
      invocations_max_retries: 3

Every setting is optional: a configuration without them produces the requests it
produced before. The limits are SageMaker's own, so that a mistake is reported
here, naming the key, rather than by AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable

__all__ = [
    "ASSEMBLE_WITH",
    "BATCH_STRATEGIES",
    "INPUT_DISTRIBUTIONS",
    "MAX_PAYLOAD_MB",
    "SCALING_SETTINGS",
    "SERVERLESS_MEMORY_MB",
    "SPLIT_TYPES",
    "check_combinations",
]

#: ``transform.batch_strategy`` values (SageMaker's ``BatchStrategy``).
BATCH_STRATEGIES = ("MultiRecord", "SingleRecord")
#: ``transform.split_type`` values (SageMaker's ``SplitType``).
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
#: ``transform.assemble_with`` values (SageMaker's ``AssembleWith``).
ASSEMBLE_WITH = ("None", "Line")
#: ``train.input_distribution`` values (SageMaker's ``S3DataDistributionType``).
INPUT_DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")
#: The memory sizes a serverless endpoint may have, in MB.
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
#: The largest ``max_concurrency`` of a serverless endpoint.
MAX_SERVERLESS_CONCURRENCY = 200
#: The largest batch transform payload, and of max_concurrent_transforms x max_payload_mb.
MAX_PAYLOAD_MB = 100
#: The largest ``max_concurrent_invocations`` of an asynchronous endpoint.
MAX_ASYNC_CONCURRENCY = 1000
#: The training channel ML2P's training jobs read their dataset from.
TRAINING_CHANNEL = "training"

_Rule = Callable[[Any, str, Any], None]


def _config() -> Any:
    # ml2p.config registers these rules when it is imported, so it is imported
    # here only when a rule runs: its generic checks are reused, not repeated.
    from ml2p import config

    return config


def _describe(value: Any) -> str:
    return _config()._describe(value)


def _check_str(value: Any, key: str, chk: Any) -> None:
    _config()._check_str(value, key, chk)


def _check_positive_int(value: Any, key: str, chk: Any) -> None:
    _config()._check_positive_int(value, key, chk)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_in(low: int, high: int | None) -> _Rule:
    """A rule for a whole number from ``low`` to ``high`` (no upper bound if ``None``)."""

    def rule(value: Any, key: str, chk: Any) -> None:
        if not _is_int(value) or value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            chk.fail(key, f"must be a whole number {span}, not {_describe(value)}")

    return rule


def _check_positive_number(value: Any, key: str, chk: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        chk.fail(key, f"must be a positive number, not {_describe(value)}")


def _one_of(choices: Sequence[Any]) -> _Rule:
    def rule(value: Any, key: str, chk: Any) -> None:
        if isinstance(value, bool) or value not in choices:
            allowed = ", ".join(str(c) for c in choices)
            chk.fail(key, f"must be one of {allowed}, not {_describe(value)}")

    return rule


def _mapping(fields: Mapping[str, _Rule], required: tuple[str, ...] = ()) -> _Rule:
    """A rule for a mapping of settings: each known key checked, unknown keys warned."""

    def rule(value: Any, key: str, chk: Any) -> None:
        if not isinstance(value, Mapping):
            chk.fail(key, f"must be a mapping with {', '.join(fields)}, not {_describe(value)}")
        for name in required:
            if value.get(name) is None:
                chk.fail(f"{key}.{name}", "is required")
        for name, item in value.items():
            check = fields.get(name) if isinstance(name, str) else None
            if check is None:
                chk.warn_unknown(key, name, fields, "setting")
            elif item is not None:
                check(item, f"{key}.{name}", chk)

    return rule


def _check_input_distribution(value: Any, key: str, chk: Any) -> None:
    one = _one_of(INPUT_DISTRIBUTIONS)
    if not isinstance(value, Mapping):
        one(value, key, chk)
        return
    for channel, item in value.items():
        if channel != TRAINING_CHANNEL:
            chk.fail(
                f"{key}.{channel}",
                f"unknown channel; ML2P's training jobs have one channel, {TRAINING_CHANNEL!r}",
            )
        one(item, f"{key}.{channel}", chk)


_check_sizes = _int_in(0, MAX_PAYLOAD_MB)

#: Section name -> setting -> rule; :mod:`ml2p.config` adds these to its own.
SCALING_SETTINGS: dict[str, dict[str, _Rule]] = {
    "train": {
        "spot": _mapping({"max_wait_seconds": _check_positive_int}, ("max_wait_seconds",)),
        "input_distribution": _check_input_distribution,
    },
    "deploy": {
        "autoscaling": _mapping(
            {
                "min_instances": _check_positive_int,
                "max_instances": _check_positive_int,
                "target_invocations_per_instance": _check_positive_number,
                "scale_in_cooldown": _int_in(0, None),
                "scale_out_cooldown": _int_in(0, None),
            },
            ("max_instances", "target_invocations_per_instance"),
        ),
        "serverless": _mapping(
            {
                "memory_mb": _one_of(SERVERLESS_MEMORY_MB),
                "max_concurrency": _int_in(1, MAX_SERVERLESS_CONCURRENCY),
            },
            ("memory_mb", "max_concurrency"),
        ),
        "async": _mapping(
            {
                "output_path": _check_str,
                "max_concurrent_invocations": _int_in(1, MAX_ASYNC_CONCURRENCY),
                "success_topic": _check_str,
                "error_topic": _check_str,
            }
        ),
    },
    "transform": {
        "instance_type": _check_str,
        "instance_count": _check_positive_int,
        "max_concurrent_transforms": _check_positive_int,
        "max_payload_mb": _check_sizes,
        "batch_strategy": _one_of(BATCH_STRATEGIES),
        "split_type": _one_of(SPLIT_TYPES),
        "content_type": _check_str,
        "accept": _check_str,
        "assemble_with": _one_of(ASSEMBLE_WITH),
        "invocations_timeout_seconds": _int_in(1, 3600),
        "invocations_max_retries": _int_in(0, 3),
    },
}


# --------------------------------------------------------------------------------------
# Settings that depend on each other
# --------------------------------------------------------------------------------------


def _merged(data: Mapping[str, Any], section: str) -> dict[str, tuple[Any, str]]:
    """``section`` over ``defaults``: setting -> (value, the key it was set at)."""
    merged: dict[str, tuple[Any, str]] = {}
    for source in ("defaults", section):
        values = data.get(source)
        if isinstance(values, Mapping):
            for name, value in values.items():
                merged[name] = (value, f"{source}.{name}")
    return {name: item for name, item in merged.items() if item[0] is not None}


def check_combinations(data: Mapping[str, Any], chk: Any) -> None:
    """Check the scaling settings that limit each other, as each section sees them.

    Called by :mod:`ml2p.config` after every setting passed its own rule.
    """
    train = _merged(data, "train")
    if "spot" in train:
        spot, key = train["spot"]
        runtime = train.get("max_runtime_seconds", (3600, ""))[0]
        if spot["max_wait_seconds"] < runtime:
            chk.fail(
                f"{key}.max_wait_seconds",
                f"must be at least the maximum runtime ({runtime} s, max_runtime_seconds): "
                "SageMaker waits that long for spot capacity and training together",
            )

    deploy = _merged(data, "deploy")
    if "serverless" in deploy:
        for other in ("autoscaling", "async"):
            if other in deploy:
                chk.fail(
                    deploy[other][1],
                    f"cannot be combined with serverless (set at {deploy['serverless'][1]}): "
                    "a serverless endpoint scales itself and answers synchronously",
                )
    if "autoscaling" in deploy:
        scaling, key = deploy["autoscaling"]
        low = scaling.get("min_instances") or 1
        if low > scaling["max_instances"]:
            chk.fail(
                f"{key}.max_instances",
                f"must be at least min_instances ({low}), not {scaling['max_instances']}",
            )

    transform = _merged(data, "transform")
    if "max_concurrent_transforms" in transform and "max_payload_mb" in transform:
        count, count_key = transform["max_concurrent_transforms"]
        size = transform["max_payload_mb"][0]
        if count * size > MAX_PAYLOAD_MB:
            chk.fail(
                count_key,
                f"times max_payload_mb ({count} x {size} MB) must be at most {MAX_PAYLOAD_MB} MB",
            )
    split = transform.get("split_type", ("Line", ""))[0]
    if split == "None" and "batch_strategy" in transform:
        chk.fail(
            transform["batch_strategy"][1],
            "needs a split_type of Line, RecordIO or TFRecord: without splitting, "
            "each input file is sent whole",
        )
