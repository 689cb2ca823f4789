"""The scaling settings of ``ml2p.yml``: each bad value names the file and the key."""

from __future__ import annotations

from typing import Any

import pytest

from ml2p.config import config_from_dict
from ml2p.errors import ConfigError

BASE: dict[str, Any] = {"project": "foo", "s3folder": "s3://bucket/prefix/"}


def cfg(**sections: Any):
    return config_from_dict({**BASE, **sections}, path="scaling.yml")


@pytest.mark.parametrize(
    ("sections", "key", "words"),
    [
        ({"train": {"spot": True}}, "train.spot", "must be a mapping"),
        ({"train": {"spot": {}}}, "train.spot.max_wait_seconds", "is required"),
        ({"train": {"spot": {"max_wait_seconds": -1}}}, "train.spot.max_wait_seconds", "positive"),
        (
            {"train": {"max_runtime_seconds": 7200, "spot": {"max_wait_seconds": 3600}}},
            "train.spot.max_wait_seconds",
            "at least the maximum runtime (7200 s",
        ),
        (
            {"defaults": {"spot": {"max_wait_seconds": 60}}},
            "defaults.spot.max_wait_seconds",
            "at least the maximum runtime (3600 s",
        ),
        ({"train": {"input_distribution": "Sharded"}}, "train.input_distribution", "one of"),
        (
            {"train": {"input_distribution": {"validation": "ShardedByS3Key"}}},
            "train.input_distribution.validation",
            "one channel, 'training'",
        ),
        ({"deploy": {"autoscaling": []}}, "deploy.autoscaling", "must be a mapping"),
        (
            {"deploy": {"autoscaling": {"target_invocations_per_instance": 10}}},
            "deploy.autoscaling.max_instances",
            "is required",
        ),
        (
            {"deploy": {"autoscaling": {"max_instances": 2}}},
            "deploy.autoscaling.target_invocations_per_instance",
            "is required",
        ),
        (
            {
                "deploy": {
                    "autoscaling": {"max_instances": 2, "target_invocations_per_instance": True}
                }
            },
            "deploy.autoscaling.target_invocations_per_instance",
            "positive number",
        ),
        (
            {
                "deploy": {
                    "autoscaling": {
                        "min_instances": 3,
                        "max_instances": 2,
                        "target_invocations_per_instance": 5,
                    }
                }
            },
            "deploy.autoscaling.max_instances",
            "at least min_instances (3)",
        ),
        (
            {
                "deploy": {
                    "autoscaling": {
                        "max_instances": 2,
                        "target_invocations_per_instance": 5,
                        "scale_in_cooldown": -5,
                    }
                }
            },
            "deploy.autoscaling.scale_in_cooldown",
            "whole number at least 0",
        ),
        (
            {"deploy": {"serverless": {"memory_mb": 1000, "max_concurrency": 2}}},
            "deploy.serverless.memory_mb",
            "one of 1024, 2048",
        ),
        (
            {"deploy": {"serverless": {"memory_mb": 1024, "max_concurrency": 201}}},
            "deploy.serverless.max_concurrency",
            "from 1 to 200",
        ),
        (
            {
                "deploy": {
                    "serverless": {"memory_mb": 1024, "max_concurrency": 2},
                    "autoscaling": {"max_instances": 2, "target_invocations_per_instance": 5},
                }
            },
            "deploy.autoscaling",
            "cannot be combined with serverless (set at deploy.serverless)",
        ),
        (
            {
                "defaults": {"serverless": {"memory_mb": 1024, "max_concurrency": 2}},
                "deploy": {"async": {}},
            },
            "deploy.async",
            "cannot be combined with serverless (set at defaults.serverless)",
        ),
        ({"deploy": {"async": {"output_path": ""}}}, "deploy.async.output_path", "non-empty"),
        (
            {"deploy": {"async": {"max_concurrent_invocations": 0}}},
            "deploy.async.max_concurrent_invocations",
            "from 1 to 1000",
        ),
        ({"transform": {"batch_strategy": "MULTI"}}, "transform.batch_strategy", "MultiRecord"),
        ({"transform": {"split_type": "Lines"}}, "transform.split_type", "RecordIO"),
        ({"transform": {"assemble_with": True}}, "transform.assemble_with", "one of None, Line"),
        ({"transform": {"max_payload_mb": 101}}, "transform.max_payload_mb", "from 0 to 100"),
        ({"transform": {"instance_count": 0}}, "transform.instance_count", "positive integer"),
        (
            {"transform": {"invocations_max_retries": 4}},
            "transform.invocations_max_retries",
            "from 0 to 3",
        ),
        (
            {"transform": {"max_concurrent_transforms": 20, "max_payload_mb": 6}},
            "transform.max_concurrent_transforms",
            "(20 x 6 MB) must be at most 100 MB",
        ),
        (
            {"transform": {"split_type": "None", "batch_strategy": "SingleRecord"}},
            "transform.batch_strategy",
            "needs a split_type",
        ),
    ],
)
def test_bad_scaling_settings_name_the_key(sections, key, words):
    # A bad value loads with a warning, as every ml2p.yml setting does, and fails the
    # command that reads it; settings that contradict each other fail the load.
    combined = any(problem in words for problem in CONTRADICTIONS)
    try:
        config = cfg(**sections)
    except ConfigError as exc:
        message = str(exc)
        assert combined, message
    else:
        assert not combined
        assert any(w.startswith(f"scaling.yml: key '{key}': ") for w in config.warnings)
        section, setting = key.split(".")[:2]
        with pytest.raises(ConfigError) as info:
            config.section(section)[setting]
        message = str(info.value)
    assert message.startswith(f"scaling.yml: key '{key}': "), message
    assert words in message


#: What the errors for settings that contradict each other say.
CONTRADICTIONS = (
    "at least the maximum runtime",
    "at least min_instances",
    "cannot be combined with serverless",
    "must be at most 100 MB",
    "needs a split_type",
)


def test_unknown_keys_inside_scaling_settings_are_warned_about_and_kept():
    config = cfg(
        deploy={
            "autoscaling": {
                "max_instances": 2,
                "target_invocations_per_instance": 5,
                "max_instance": 9,
            }
        },
        transform={"turbo": True},
    )
    assert any(
        "'deploy.autoscaling.max_instance'" in w
        and "did you mean 'deploy.autoscaling.max_instances'?" in w
        for w in config.warnings
    )
    assert any("'transform.turbo'" in w for w in config.warnings)
    assert config.section("deploy")["autoscaling"]["max_instance"] == 9


def test_valid_scaling_settings_load_and_overlay_defaults():
    config = cfg(
        defaults={"instance_type": "ml.m5.large", "max_payload_mb": 4},
        train={"spot": {"max_wait_seconds": 7200}, "input_distribution": "ShardedByS3Key"},
        deploy={
            "autoscaling": {
                "min_instances": 1,
                "max_instances": 4,
                "target_invocations_per_instance": 70.5,
                "scale_in_cooldown": 0,
            },
            "async": {"output_path": "async/", "max_concurrent_invocations": 4},
        },
        transform={"split_type": "Line", "batch_strategy": "SingleRecord", "max_payload_mb": 0},
    )
    assert config.warnings == ()
    assert config.section("transform") == {
        "instance_type": "ml.m5.large",
        "max_payload_mb": 0,
        "split_type": "Line",
        "batch_strategy": "SingleRecord",
    }
    assert config.section("train")["spot"] == {"max_wait_seconds": 7200}
