"""The scaling request builders: without scaling settings they are the 0.6 builders."""

from __future__ import annotations

from typing import Any

import pytest

from ml2p import autoscaling, endpoint_configs, sagemaker, traffic, training_scale, transforms
from ml2p.config import config_from_dict
from ml2p.endpoint_configs import Variant
from ml2p.errors import ConfigError, ML2PError

BASE = {
    "project": "foo",
    "s3folder": "s3://bucket/prefix/",
    "models": {"churn": "tests.models.MinimalModel"},
    "defaults": {
        "image": "img:1",
        "role": "arn:aws:iam::1:role/r",
        "instance_type": "ml.m5.large",
    },
}


def cfg(**sections: Any):
    return config_from_dict({**BASE, **sections})


def test_training_request_without_scaling_settings_is_the_base_request():
    config = cfg(train={"instance_count": 3})
    args = (config, "churn-1-2", "churn-20240101", "churn", {"epochs": 2})
    assert training_scale.training_job_request(*args) == sagemaker.training_job_request(*args)


def test_training_request_with_a_channel_mapping():
    config = cfg(train={"input_distribution": {"training": "FullyReplicated"}})
    request = training_scale.training_job_request(config, "churn-1-2", "churn-20240101")
    source = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "FullyReplicated"
    assert training_scale.checkpoint_url(config, "churn-1-2") == (
        "s3://bucket/prefix/checkpoints/foo-churn-1-2/"
    )


def test_one_variant_config_is_the_base_request():
    config = cfg(deploy={"instance_count": 3})
    mine = endpoint_configs.endpoint_config_request(
        config, "churn-1-2-3-live", [Variant("churn-1-2-3")]
    )
    assert mine == sagemaker.endpoint_config_request(config, "churn-1-2-3-live", "churn-1-2-3")
    assert list(mine["ProductionVariants"][0]) == list(
        sagemaker.endpoint_config_request(config, "churn-1-2-3-live", "churn-1-2-3")[
            "ProductionVariants"
        ][0]
    )


def test_variants_take_their_own_instance_counts():
    config = cfg()
    request = endpoint_configs.endpoint_config_request(
        config, "churn-1-2-3-live", [Variant("churn-1-2-3", 3), Variant("churn-1-3-0", 1, 4)]
    )
    assert [
        (v["VariantName"], v["InitialVariantWeight"], v["InitialInstanceCount"])
        for v in request["ProductionVariants"]
    ] == [("foo-churn-1-2-3-variant-1", 3.0, 1), ("foo-churn-1-3-0-variant-2", 1.0, 4)]


def test_serverless_needs_no_instance_type_but_others_do():
    serverless = cfg(
        defaults={"image": "img:1", "role": "r"},
        deploy={"serverless": {"memory_mb": 1024, "max_concurrency": 1}},
    )
    request = endpoint_configs.endpoint_config_request(
        serverless, "churn-1-2-3-live", [Variant("churn-1-2-3")]
    )
    assert "InstanceType" not in request["ProductionVariants"][0]
    plain = cfg(defaults={"image": "img:1", "role": "r"})
    with pytest.raises(ConfigError, match=r"deploy\.instance_type"):
        endpoint_configs.endpoint_config_request(
            plain, "churn-1-2-3-live", [Variant("churn-1-2-3")]
        )


def test_async_output_path_forms():
    relative = cfg(deploy={"async": {"output_path": "results/async/"}})
    assert endpoint_configs.async_output_url(relative, "e-1-2-3") == (
        "s3://bucket/prefix/results/async/"
    )
    absolute = cfg(deploy={"async": {"output_path": "s3://other/out/"}})
    assert endpoint_configs.async_output_url(absolute, "e-1-2-3") == "s3://other/out/"
    request = endpoint_configs.endpoint_config_request(
        absolute, "churn-1-2-3-live", [Variant("churn-1-2-3")]
    )
    assert request["AsyncInferenceConfig"] == {"OutputConfig": {"S3OutputPath": "s3://other/out/"}}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn-1-2-3=0.5", Variant("churn-1-2-3", 0.5)),
        (" churn-1-2-3 = 2 ", Variant("churn-1-2-3", 2.0)),
        ("churn-1-2-3=0:3", Variant("churn-1-2-3", 0.0, 3)),
    ],
)
def test_parse_variant(text, expected):
    assert endpoint_configs.parse_variant(text, allow_instances=True) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("churn-1-2-3=nan", "at least 0"),
        ("churn-1-2-3=inf", "at least 0"),
        ("churn-1-2-3=1:0", "at least 1"),
        ("churn-1-2-3=1:x", "not a whole number"),
        ("=1", "expected MODEL=WEIGHT"),
    ],
)
def test_parse_variant_refuses(text, words):
    with pytest.raises(ML2PError, match=words.replace("[", r"\[")):
        endpoint_configs.parse_variant(text, allow_instances=True)


def test_autoscaling_requests_default_the_minimum_and_cooldowns():
    config = cfg(
        deploy={"autoscaling": {"max_instances": 3, "target_invocations_per_instance": 10}}
    )
    target = autoscaling.scalable_target_request(config, "churn-1-2-3-live", "v")
    assert target == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/foo-churn-1-2-3-live/variant/v",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 1,
        "MaxCapacity": 3,
        "Tags": {"ml2p-project": "foo"},
    }
    policy = autoscaling.scaling_policy_request(config, "churn-1-2-3-live", "v")
    assert "ScaleInCooldown" not in policy["TargetTrackingScalingPolicyConfiguration"]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"strategy": "bluegreen"}, "unknown strategy"),
        ({"step_percent": 100}, "from 1 to 99"),
        ({"wait_seconds": 3601}, "from 0 to 3600"),
    ],
)
def test_deployment_config_refuses(kwargs, words):
    with pytest.raises(ML2PError, match=words):
        traffic.deployment_config(**kwargs)


def test_all_at_once_without_alarms_has_no_rollback():
    assert traffic.deployment_config() == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300}
        }
    }


def test_transform_request_needs_an_instance_type():
    config = config_from_dict({"project": "foo", "s3folder": "s3://b/p/"})
    with pytest.raises(ConfigError, match=r"transform\.instance_type"):
        transforms.transform_job_request(config, "run", "churn-1-2-3", "churn-20240101")
    default = transforms.transform_job_request(cfg(), "run", "churn-1-2-3", "churn-20240101")
    assert default["ModelClientConfig"] == {
        "InvocationsTimeoutInSeconds": 600,
        "InvocationsMaxRetries": 3,
    }
    assert default["TransformOutput"]["Accept"] == "application/jsonlines"
