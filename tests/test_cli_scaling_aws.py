"""The scaling commands against moto in server mode, in process through CliRunner.

After each command the AWS state is read back with boto3 from the moto server.
moto 5 lacks ``StopTrainingJob``, ``StopTransformJob`` and ``UpdateEndpoint``: for
those, the request is captured on the CLI's own client by a botocore
``before-call`` handler that records it and answers (the ``capture`` fixture of
``tests.test_cli_aws``), and the captured request is asserted; each such test says
so in its docstring.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.request
from typing import Any

import boto3
import pytest

from ml2p.cli import cli
from tests.cli_support import cli_runner
from tests.test_cli_aws import capture, ok, parse_docs  # noqa: F401 (a fixture, used below)

BASE_YML = """\
project: foo
s3folder: s3://ml2p-test/proj/
models:
  churn: tests.models.MinimalModel
defaults:
  image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1.0"
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
"""


@pytest.fixture
def write_yml(tmp_path):
    """Write ``BASE_YML`` plus ``extra`` to a new file; return its path."""
    written: list[str] = []

    def write(extra: str = "") -> str:
        path = tmp_path / f"ml2p-{len(written)}.yml"
        path.write_text(BASE_YML + extra)
        written.append(str(path))
        return str(path)

    return write


@pytest.fixture
def captured(request):
    """``tests.test_cli_aws``'s ``capture``: (answers, calls) on the CLI's own clients."""
    return request.getfixturevalue("capture")


@pytest.fixture
def sm(aws):
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def run(s3, write_yml):
    """Run ``ml2p --cfg <yml> ...`` in process; the default yml has no scaling settings."""
    runner = cli_runner()
    default = write_yml()

    def invoke(*args: str, cfg: str = default) -> Any:
        return runner.invoke(cli, ["--cfg", cfg, *args])

    return invoke


def fails(result, *words: str) -> str:
    assert result.exit_code != 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.output
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    assert "Traceback" not in result.output
    return lines[-1]


def put_log_events(group: str, stream: str, messages: list[str], at_ms: int) -> None:
    """Write events as SageMaker would, one millisecond apart from ``at_ms``."""
    logs = boto3.client("logs", region_name="us-east-1")
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": at_ms + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def now_ms() -> int:
    return int(time.time() * 1000)


# --- training at scale ------------------------------------------------------------


def test_spot_training_with_sharded_input_reaches_sagemaker(run, sm, write_yml):
    cfg = write_yml(
        "train:\n"
        "  instance_count: 2\n"
        "  max_runtime_seconds: 1800\n"
        "  spot: {max_wait_seconds: 7200}\n"
        "  input_distribution: ShardedByS3Key\n"
    )
    ok(run("training-job", "create", "churn-1-2", "churn-20240101", cfg=cfg))
    job = sm.describe_training_job(TrainingJobName="foo-churn-1-2")
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 1800,
        "MaxWaitTimeInSeconds": 7200,
    }
    assert job["CheckpointConfig"] == {"S3Uri": "s3://ml2p-test/proj/checkpoints/foo-churn-1-2/"}
    assert job["ResourceConfig"]["InstanceCount"] == 2
    source = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "ShardedByS3Key"
    assert source["S3Uri"] == "s3://ml2p-test/proj/datasets/churn-20240101"


def test_training_job_without_scaling_settings_has_no_spot(run, sm):
    ok(run("training-job", "create", "churn-1-2", "churn-20240101"))
    job = sm.describe_training_job(TrainingJobName="foo-churn-1-2")
    assert not job.get("EnableManagedSpotTraining")
    assert "CheckpointConfig" not in job
    assert "S3DataDistributionType" not in job["InputDataConfig"][0]["DataSource"]["S3DataSource"]


def test_training_job_stop(run, captured):
    """moto has no StopTrainingJob: the request is captured and answered."""
    answers, calls = captured
    answers["StopTrainingJob"] = {}
    ok(run("training-job", "stop", "churn-1-2"))
    assert calls["StopTrainingJob"] == [{"TrainingJobName": "foo-churn-1-2"}]


def test_training_job_logs_read_back_one_job_only(run, sm):
    ok(run("training-job", "create", "churn-1-2", "churn-20240101"))
    group = "/aws/sagemaker/TrainingJobs"
    start = now_ms() - 60_000
    put_log_events(group, "foo-churn-1-2/algo-1-1700000000", ["epoch 1\n", "epoch 2\n"], start)
    put_log_events(group, "foo-churn-1-2/algo-2-1700000000", ["host 2 ready"], start + 10)
    # A job whose name starts with the same characters is not this job.
    put_log_events(group, "foo-churn-1-20/algo-1-1700000000", ["not mine"], start + 20)

    lines = [json.loads(line) for line in ok(run("training-job", "logs", "churn-1-2")).splitlines()]
    assert [(r["stream"].split("/")[1][:6], r["message"]) for r in lines] == [
        ("algo-1", "epoch 1"),
        ("algo-1", "epoch 2"),
        ("algo-2", "host 2 ready"),
    ]
    assert lines[0]["timestamp"].endswith("Z")

    # The job has ended (moto completes it at once): --follow prints the same and stops.
    followed = ok(run("training-job", "logs", "churn-1-2", "--follow", "--delay", "0"))
    assert [json.loads(line)["message"] for line in followed.splitlines()] == [
        "epoch 1",
        "epoch 2",
        "host 2 ready",
    ]


def test_training_job_logs_without_a_log_group(run):
    fails(run("training-job", "logs", "churn-1-2"), "no CloudWatch logs for training job")


# --- endpoint logs ------------------------------------------------------------------


def test_endpoint_logs_since(run):
    group = "/aws/sagemaker/Endpoints/foo-churn-1-2-3-live"
    stream = "foo-churn-1-2-3-variant-1/i-0123"
    put_log_events(group, stream, ["old line"], now_ms() - 2 * 3600 * 1000)
    put_log_events(group, stream + "b", ["new line"], now_ms() - 5 * 60 * 1000)

    recent = ok(run("endpoint", "logs", "churn-1-2-3-live"))
    assert [json.loads(line)["message"] for line in recent.splitlines()] == ["new line"]
    both = ok(run("endpoint", "logs", "churn-1-2-3-live", "--since", "3h"))
    assert [json.loads(line)["message"] for line in both.splitlines()] == ["old line", "new line"]
    fails(run("endpoint", "logs", "churn-1-2-3-live", "--since", "yesterday"), "--since")


# --- batch transform ----------------------------------------------------------------

TRANSFORM_YML = """\
transform:
  instance_type: ml.c5.xlarge
  instance_count: 2
  max_concurrent_transforms: 4
  max_payload_mb: 5
  batch_strategy: MultiRecord
  content_type: text/csv
  invocations_timeout_seconds: 120
"""


def test_transform_lifecycle(run, sm, write_yml, captured):
    """moto has no StopTransformJob: that request is captured and answered."""
    cfg = write_yml(TRANSFORM_YML)
    created = parse_docs(
        ok(
            run(
                "transform",
                "create",
                "churn-run-1",
                "-m",
                "churn-1-2-3",
                "-i",
                "churn-20240101",
                cfg=cfg,
            )
        )
    )[0]
    assert created["TransformJobArn"].endswith("transform-job/foo-churn-run-1")
    job = sm.describe_transform_job(TransformJobName="foo-churn-run-1")
    assert job["ModelName"] == "foo-churn-1-2-3"
    assert job["MaxConcurrentTransforms"] == 4
    assert job["MaxPayloadInMB"] == 5
    assert job["BatchStrategy"] == "MultiRecord"
    assert job["TransformInput"] == {
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://ml2p-test/proj/datasets/churn-20240101/",
            }
        },
        "ContentType": "text/csv",
        "SplitType": "Line",
    }
    assert job["TransformOutput"] == {
        "S3OutputPath": "s3://ml2p-test/proj/transforms/churn-run-1/",
        "Accept": "text/csv",
        "AssembleWith": "Line",
    }
    assert job["TransformResources"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2}
    tags = sm.list_tags(ResourceArn=job["TransformJobArn"])["Tags"]
    assert {"Key": "ml2p-project", "Value": "foo"} in tags

    ok(run("transform", "create", "other-run", "-m", "churn-1-2-3", "-i", "s3://elsewhere/in/"))
    other = sm.describe_transform_job(TransformJobName="foo-other-run")
    assert other["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://elsewhere/in/"
    assert other["TransformInput"]["ContentType"] == "application/jsonlines"
    assert "MaxPayloadInMB" not in other and "BatchStrategy" not in other

    described = parse_docs(ok(run("transform", "describe", "churn-run-1")))[0]
    assert described["TransformJobName"] == "foo-churn-run-1"
    listed = [j["TransformJobName"] for j in parse_docs(ok(run("transform", "list")))]
    assert sorted(listed) == ["foo-churn-run-1", "foo-other-run"]
    waited = parse_docs(ok(run("transform", "wait", "churn-run-1", "--delay", "0")))[0]
    assert waited["TransformJobStatus"] == "Completed"

    answers, calls = captured
    answers["StopTransformJob"] = {}
    ok(run("transform", "stop", "churn-run-1"))
    assert calls["StopTransformJob"] == [{"TransformJobName": "foo-churn-run-1"}]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["transform", "create", "bad_name", "-m", "churn-1-2-3", "-i", "churn-20240101"],
            "invalid transform job name",
        ),
        (
            ["transform", "create", "run", "-m", "churn-1-2", "-i", "churn-20240101"],
            "<model>-X-Y-Z",
        ),
        (
            ["transform", "create", "run", "-m", "churn-1-2-3", "-i", "datasets/x"],
            "neither an s3:// prefix nor a dataset name",
        ),
        (["transform", "describe", "nope"], "no such transform job 'nope'"),
    ],
)
def test_transform_bad_input(run, sm, args, words):
    fails(run(*args), *words.split("|"))
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


# --- variants, traffic shifting, invocation by variant --------------------------------


def test_two_variants_then_shift_weights(run, sm, captured):
    ok(run("model", "create", "churn-1-2-3"))
    ok(run("model", "create", "churn-1-3-0"))
    ok(
        run(
            "endpoint",
            "create",
            "churn-1-2-3-live",
            "--variant",
            "churn-1-2-3=0.9",
            "--variant",
            "churn-1-3-0=0.1",
        )
    )
    config = sm.describe_endpoint_config(EndpointConfigName="foo-churn-1-2-3-live-config")
    assert [
        (v["VariantName"], v["ModelName"], v["InitialVariantWeight"], v["InitialInstanceCount"])
        for v in config["ProductionVariants"]
    ] == [
        ("foo-churn-1-2-3-variant-1", "foo-churn-1-2-3", 0.9, 1),
        ("foo-churn-1-3-0-variant-2", "foo-churn-1-3-0", 0.1, 1),
    ]
    # Records keep saying which model version answered: each variant's model has its own.
    versions = {
        v["ModelName"]: sm.describe_model(ModelName=v["ModelName"])["PrimaryContainer"][
            "Environment"
        ]["ML2P_MODEL_VERSION"]
        for v in config["ProductionVariants"]
    }
    assert versions == {"foo-churn-1-2-3": "foo-churn-1-2-3", "foo-churn-1-3-0": "foo-churn-1-3-0"}

    shifted = parse_docs(ok(run("endpoint", "shift", "churn-1-2-3-live", "churn-1-3-0=0.5:2")))
    assert shifted[0]["EndpointArn"].endswith("endpoint/foo-churn-1-2-3-live")
    endpoint = sm.describe_endpoint(EndpointName="foo-churn-1-2-3-live")
    weights = {
        v["VariantName"]: (v["CurrentWeight"], v["DesiredInstanceCount"])
        for v in endpoint["ProductionVariants"]
    }
    assert weights == {
        "foo-churn-1-2-3-variant-1": (0.9, 1),
        "foo-churn-1-3-0-variant-2": (0.5, 2),
    }
    assert {v["VariantName"]: v["CurrentWeight"] for v in shifted[1]["ProductionVariants"]} == {
        "foo-churn-1-2-3-variant-1": 0.9,
        "foo-churn-1-3-0-variant-2": 0.5,
    }

    answers, calls = captured
    answers["InvokeEndpoint"] = None  # recorded and sent to moto
    invoked = parse_docs(
        ok(run("endpoint", "invoke", "churn-1-2-3-live", '{"x": 1}', "--variant", "churn-1-3-0"))
    )[0]
    assert calls["InvokeEndpoint"][0]["TargetVariant"] == "foo-churn-1-3-0-variant-2"
    assert "InvokedProductionVariant" in invoked

    fails(
        run("endpoint", "shift", "churn-1-2-3-live", "churn-9-9-9=1"),
        "model 'churn-9-9-9' is not served by endpoint 'churn-1-2-3-live'",
        "foo-churn-1-3-0",
    )
    fails(run("endpoint", "shift", "churn-1-2-3-live", "churn-1-3-0=-1"), "at least 0")
    fails(
        run("endpoint", "invoke", "churn-1-2-3-live", "{}", "--variant", "churn-9-9-9"),
        "not served",
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--variant", "churn-1-2-3"], "expected MODEL=WEIGHT"),
        (["--variant", "churn-1-2-3=x"], "is not a number"),
        (["--variant", "churn-1-2-3=0"], "every variant has weight 0"),
        (["--variant", "churn-1-2-3=1", "--variant", "churn-1-2-3=1"], "given twice"),
        (["--variant", "churn-1-2=1"], "<model>-X-Y-Z"),
        (["--variant", "churn-1-2-3=1:2"], "instance counts are not taken here"),
        (["-m", "churn-1-2-3", "--variant", "churn-1-2-3=1"], "not both"),
    ],
)
def test_bad_variants_create_nothing(run, sm, args, words):
    result = run("endpoint", "create", "churn-1-2-3-live", *args)
    assert result.exit_code != 0 and words in result.output, result.output
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []


# --- autoscaling -----------------------------------------------------------------------

AUTOSCALING_YML = """\
deploy:
  instance_count: 2
  autoscaling:
    min_instances: 2
    max_instances: 6
    target_invocations_per_instance: 750
    scale_in_cooldown: 600
    scale_out_cooldown: 60
"""


def test_autoscaling_is_registered_described_and_removed(run, sm, write_yml):
    cfg = write_yml(AUTOSCALING_YML)
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    ok(run("model", "create", "churn-1-2-3", cfg=cfg))
    ok(run("model", "create", "churn-1-3-0", cfg=cfg))
    out = parse_docs(
        ok(
            run(
                "endpoint",
                "create",
                "churn-1-2-3-live",
                "--delay",
                "0",
                "--variant",
                "churn-1-2-3=1",
                "--variant",
                "churn-1-3-0=1",
                cfg=cfg,
            )
        )
    )
    resource_ids = [
        "endpoint/foo-churn-1-2-3-live/variant/foo-churn-1-2-3-variant-1",
        "endpoint/foo-churn-1-2-3-live/variant/foo-churn-1-3-0-variant-2",
    ]
    assert out[1]["Autoscaling"]["ScalableTargets"] == resource_ids

    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert sorted(t["ResourceId"] for t in targets) == resource_ids
    for target in targets:
        assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
        assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 6)
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert sorted(p["ResourceId"] for p in policies) == resource_ids
    for policy in policies:
        assert policy["PolicyName"] == "foo-churn-1-2-3-live-scaling"
        assert policy["PolicyType"] == "TargetTrackingScaling"
        assert policy["TargetTrackingScalingPolicyConfiguration"] == {
            "TargetValue": 750.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": 600,
            "ScaleOutCooldown": 60,
        }

    described = parse_docs(ok(run("endpoint", "describe", "churn-1-2-3-live", cfg=cfg)))[0]
    scaling = described["Autoscaling"]
    assert sorted(t["ResourceId"] for t in scaling["ScalableTargets"]) == resource_ids
    assert len(scaling["ScalingPolicies"]) == 2
    # Without the setting, describe asks nothing of Application Auto Scaling.
    assert "Autoscaling" not in parse_docs(ok(run("endpoint", "describe", "churn-1-2-3-live")))[0]

    deleted = parse_docs(ok(run("endpoint", "delete", "churn-1-2-3-live", cfg=cfg)))
    assert deleted[0]["DeregisteredScalableTargets"] == resource_ids
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []


# --- serverless and asynchronous endpoints ------------------------------------------------


def test_serverless_endpoint_config(run, sm, write_yml):
    cfg = write_yml(
        "deploy:\n  instance_type: null\n  serverless: {memory_mb: 2048, max_concurrency: 5}\n"
    )
    ok(run("model", "create", "churn-1-2-3", cfg=cfg))
    ok(run("endpoint", "create", "churn-1-2-3-live", cfg=cfg))
    config = sm.describe_endpoint_config(EndpointConfigName="foo-churn-1-2-3-live-config")
    assert config["ProductionVariants"] == [
        {
            "VariantName": "foo-churn-1-2-3-variant-1",
            "ModelName": "foo-churn-1-2-3",
            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            "InitialVariantWeight": 1.0,
        }
    ]
    endpoint = sm.describe_endpoint(EndpointName="foo-churn-1-2-3-live")
    assert endpoint["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }


ASYNC_YML = """\
deploy:
  async:
    max_concurrent_invocations: 4
    success_topic: arn:aws:sns:us-east-1:123456789012:done
    error_topic: arn:aws:sns:us-east-1:123456789012:failed
"""


def queue_async_results(moto_url: str, results: list[dict[str, Any]]) -> None:
    """Tell moto what the next asynchronous invocations answer (moto's own HTTP API)."""
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/sagemaker/async-endpoint-results",
        data=json.dumps({"results": results}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()


def test_async_endpoint_and_invocation(run, sm, s3, aws, write_yml):
    cfg = write_yml(ASYNC_YML)
    ok(run("model", "create", "churn-1-2-3", cfg=cfg))
    ok(run("endpoint", "create", "churn-1-2-3-live", cfg=cfg))
    config = sm.describe_endpoint_config(EndpointConfigName="foo-churn-1-2-3-live-config")
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {
            "S3OutputPath": "s3://ml2p-test/proj/async/foo-churn-1-2-3-live/output/",
            "NotificationConfig": {
                "SuccessTopic": "arn:aws:sns:us-east-1:123456789012:done",
                "ErrorTopic": "arn:aws:sns:us-east-1:123456789012:failed",
            },
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }

    queue_async_results(
        aws,
        [
            {"data": json.dumps({"metadata": {"model_version": "foo-churn-1-2-3"}, "result": 4})},
            {"is_failure": True, "data": "ValueError: x must be positive"},
        ],
    )
    out = parse_docs(
        ok(
            run(
                "endpoint",
                "invoke",
                "churn-1-2-3-live",
                '{"x": 2}',
                "--async",
                "--wait",
                "--delay",
                "0",
                cfg=cfg,
            )
        )
    )[0]
    assert out["Body"] == {"metadata": {"model_version": "foo-churn-1-2-3"}, "result": 4}
    assert out["InputLocation"].startswith("s3://ml2p-test/proj/async/foo-churn-1-2-3-live/input/")
    key = out["InputLocation"][len("s3://ml2p-test/") :]
    assert json.loads(s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read()) == {"x": 2}

    failed = run(
        "endpoint",
        "invoke",
        "churn-1-2-3-live",
        '{"x": -2}',
        "--async",
        "--wait",
        "--delay",
        "0",
        cfg=cfg,
    )
    fails(failed, "is Failed: ValueError: x must be positive")

    # Without --wait, only where the result will be.
    later = parse_docs(ok(run("endpoint", "invoke", "churn-1-2-3-live", "{}", "--async", cfg=cfg)))[
        0
    ]
    assert set(later) == {"InferenceId", "InputLocation", "OutputLocation", "FailureLocation"}
    fails(
        run("endpoint", "invoke", "churn-1-2-3-live", "{}", "--wait", cfg=cfg),
        "--wait goes with --async",
    )


# --- blue/green updates -----------------------------------------------------------------


def _update_answers(
    sm, answers, calls, final_config: str = "new", endpoint: str = "foo-churn-1-2-3-live"
) -> None:
    """Answer DescribeEndpoint as SageMaker would during an update.

    The first answer is moto's real one (in service on the current configuration);
    then the endpoint is Updating; then in service on the new configuration (or, for
    a rollback, on the old one again).
    """
    answers.pop("DescribeEndpoint", None)
    real = sm.describe_endpoint(EndpointName=endpoint)
    if calls.get("CreateEndpointConfig"):  # an earlier update's configuration is the current one
        real["EndpointConfigName"] = calls["CreateEndpointConfig"][-1]["EndpointConfigName"]
    real.pop("ResponseMetadata", None)
    count = {"n": 0}

    def describe(params):
        count["n"] += 1
        if count["n"] == 1:
            return real
        if count["n"] == 2:
            return {**real, "EndpointStatus": "Updating"}
        if final_config == "new":
            return {
                **real,
                "EndpointConfigName": calls["CreateEndpointConfig"][-1]["EndpointConfigName"],
            }
        return {**real, "FailureReason": "alarm churn-5xx went off"}

    answers["DescribeEndpoint"] = describe
    answers["CreateEndpointConfig"] = None  # recorded and sent to moto
    answers["UpdateEndpoint"] = {"EndpointArn": real["EndpointArn"]}


@pytest.mark.slow
def test_update_is_a_canary_blue_green_deployment(run, sm, captured):
    """moto has no UpdateEndpoint: it is captured and answered, and DescribeEndpoint
    answers the states SageMaker goes through; the configurations are moto's."""
    ok(run("model", "create", "churn-1-2-3"))
    ok(run("model", "create", "churn-1-3-0"))
    ok(run("endpoint", "create", "churn-1-2-3-live"))
    answers, calls = captured
    _update_answers(sm, answers, calls)
    out = parse_docs(
        ok(
            run(
                "endpoint",
                "update",
                "churn-1-2-3-live",
                "--model",
                "churn-1-3-0",
                "--strategy",
                "canary",
                "--step-percent",
                "20",
                "--wait-interval",
                "600",
                "--rollback-alarm",
                "churn-5xx",
                "--rollback-alarm",
                "churn-latency",
                "--delay",
                "0",
            )
        )
    )
    sent = calls["UpdateEndpoint"][0]
    new_name = sent["EndpointConfigName"]
    assert new_name.startswith("foo-churn-1-2-3-live-config-") and new_name[28:42].isdigit()
    assert sent["EndpointName"] == "foo-churn-1-2-3-live"
    assert sent["DeploymentConfig"] == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 600,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 20},
            }
        },
        "AutoRollbackConfiguration": {
            "Alarms": [{"AlarmName": "churn-5xx"}, {"AlarmName": "churn-latency"}]
        },
    }
    # The new configuration keeps the variant name (SageMaker requires it) and serves the
    # new model; the old configuration is gone once the endpoint is in service.
    new = sm.describe_endpoint_config(EndpointConfigName=new_name)["ProductionVariants"]
    assert [(v["VariantName"], v["ModelName"]) for v in new] == [
        ("foo-churn-1-2-3-variant-1", "foo-churn-1-3-0")
    ]
    names = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert names == [new_name]
    assert out[-1] == {
        "EndpointName": "foo-churn-1-2-3-live",
        "EndpointStatus": "InService",
        "EndpointConfigName": new_name,
        "DeletedEndpointConfigName": "foo-churn-1-2-3-live-config",
    }

    # Deleting the endpoint deletes the configuration the update made.
    answers.clear()
    deleted = parse_docs(ok(run("endpoint", "delete", "churn-1-2-3-live")))
    assert len(deleted) == 2
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []


def test_rolled_back_update_deletes_the_new_configuration(run, sm, captured):
    """moto has no UpdateEndpoint: it is captured; DescribeEndpoint answers a rollback."""
    ok(run("model", "create", "churn-1-2-3"))
    ok(run("model", "create", "churn-1-3-0"))
    ok(run("endpoint", "create", "churn-1-2-3-live"))
    answers, calls = captured
    _update_answers(sm, answers, calls, final_config="old")
    result = run(
        "endpoint",
        "update",
        "churn-1-2-3-live",
        "-m",
        "churn-1-3-0",
        "--strategy",
        "linear",
        "--rollback-alarm",
        "churn-5xx",
        "--delay",
        "0",
    )
    fails(result, "rolled back to foo-churn-1-2-3-live-config", "alarm churn-5xx went off")
    routing = calls["UpdateEndpoint"][0]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"]["LinearStepSize"] == {
        "Type": "CAPACITY_PERCENT",
        "Value": 10,
    }
    names = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert names == ["foo-churn-1-2-3-live-config"]


def test_update_refuses_a_multi_variant_endpoint(run, sm, captured):
    ok(run("model", "create", "churn-1-2-3"))
    ok(run("model", "create", "churn-1-3-0"))
    ok(
        run(
            "endpoint",
            "create",
            "churn-1-2-3-live",
            "--variant",
            "churn-1-2-3=1",
            "--variant",
            "churn-1-3-0=1",
        )
    )
    answers, calls = captured
    answers["UpdateEndpoint"] = {}
    fails(
        run("endpoint", "update", "churn-1-2-3-live", "-m", "churn-1-4-0"),
        "has 2 variants",
        "endpoint shift",
    )
    assert "UpdateEndpoint" not in calls
    assert len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1
    fails(run("endpoint", "update", "churn-1-2-3-live", "-m", "churn-1-4"), "<model>-X-Y-Z")


def test_updated_config_name_is_timestamped():
    from ml2p.traffic import updated_config_name

    moment = datetime.datetime(2024, 1, 31, 8, 30, 26)
    assert updated_config_name("foo", "churn-1-2-3-live", moment) == (
        "foo-churn-1-2-3-live-config-20240131083026"
    )
    # An update in the same second as the one before gets another name.
    taken = ["foo-churn-1-2-3-live-config-20240131083026"]
    assert updated_config_name("foo", "churn-1-2-3-live", moment, taken) == (
        "foo-churn-1-2-3-live-config-20240131083026-2"
    )


@pytest.mark.slow
def test_canary_as_a_second_variant_then_autoscaled_then_alone(run, sm, write_yml, captured):
    """The walkthrough of docs/scaling.md. moto has no UpdateEndpoint: it is captured and
    answered, and DescribeEndpoint answers the update's states; the rest is moto's."""
    cfg = write_yml(AUTOSCALING_YML)
    aas = boto3.client("application-autoscaling", region_name="us-east-1")
    for model in ("churn-1-0-0", "churn-1-1-0"):
        ok(run("model", "create", model, cfg=cfg))
    ok(run("endpoint", "create", "churn-1-0-0-live"))  # before deploy.autoscaling was set
    prefix = "endpoint/foo-churn-1-0-0-live/variant/"

    # An endpoint made before deploy.autoscaling was set gets it with `endpoint autoscale`.
    registered = parse_docs(ok(run("endpoint", "autoscale", "churn-1-0-0-live", cfg=cfg)))[0]
    assert registered["Autoscaling"]["ScalableTargets"] == [prefix + "foo-churn-1-0-0-variant-1"]

    # The new version as a 10% canary beside the old one: the old keeps its variant name.
    answers, calls = captured
    _update_answers(sm, answers, calls, endpoint="foo-churn-1-0-0-live")
    ok(
        run(
            "endpoint",
            "update",
            "churn-1-0-0-live",
            "--variant",
            "churn-1-0-0=0.9",
            "--variant",
            "churn-1-1-0=0.1",
            "--delay",
            "0",
            cfg=cfg,
        )
    )
    # A variant is added: a plain update (SageMaker's guardrails need the same variants).
    assert "DeploymentConfig" not in calls["UpdateEndpoint"][-1]
    two = calls["CreateEndpointConfig"][-1]["ProductionVariants"]
    assert [(v["VariantName"], v["InitialVariantWeight"]) for v in two] == [
        ("foo-churn-1-0-0-variant-1", 0.9),
        ("foo-churn-1-1-0-variant-2", 0.1),
    ]
    ok(run("endpoint", "autoscale", "churn-1-0-0-live", cfg=cfg))
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert sorted(t["ResourceId"] for t in targets) == [
        prefix + "foo-churn-1-0-0-variant-1",
        prefix + "foo-churn-1-1-0-variant-2",
    ]

    # The canary did well: it alone serves; the old variant's scaling goes first.
    _update_answers(sm, answers, calls, endpoint="foo-churn-1-0-0-live")
    out = parse_docs(
        ok(
            run(
                "endpoint",
                "update",
                "churn-1-0-0-live",
                "--variant",
                "churn-1-1-0=1",
                "--delay",
                "0",
                cfg=cfg,
            )
        )
    )
    assert out[0]["DeregisteredScalableTargets"] == [prefix + "foo-churn-1-0-0-variant-1"]
    one = calls["CreateEndpointConfig"][-1]["ProductionVariants"]
    assert [v["VariantName"] for v in one] == ["foo-churn-1-1-0-variant-2"]
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t["ResourceId"] for t in targets] == [prefix + "foo-churn-1-1-0-variant-2"]
    names = [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]
    assert names == [calls["CreateEndpointConfig"][-1]["EndpointConfigName"]]


def test_guardrails_need_the_same_variants(run, sm, captured):
    """moto has no UpdateEndpoint: it is answered, and must not be reached."""
    ok(run("model", "create", "churn-1-2-3"))
    ok(run("endpoint", "create", "churn-1-2-3-live"))
    answers, calls = captured
    answers["UpdateEndpoint"] = {}
    result = run(
        "endpoint",
        "update",
        "churn-1-2-3-live",
        "--variant",
        "churn-1-2-3=0.9",
        "--variant",
        "churn-1-3-0=0.1",
        "--strategy",
        "canary",
    )
    fails(result, "need the same variants before and after")
    assert "UpdateEndpoint" not in calls
    assert len(sm.list_endpoint_configs()["EndpointConfigs"]) == 1
    fails(
        run("endpoint", "update", "churn-1-2-3-live"),
        "give --model, or the models and weights with --variant",
    )


def test_autoscale_needs_the_setting(run):
    fails(run("endpoint", "autoscale", "churn-1-2-3-live"), "deploy.autoscaling is not set")


def test_kept_variant_names():
    from ml2p.endpoint_configs import Variant, kept_variant_names

    old = [
        {"ModelName": "foo-a-1-0-0", "VariantName": "foo-a-1-0-0-variant-1"},
        {"ModelName": "foo-b-1-0-0", "VariantName": "foo-b-1-0-0-variant-2"},
    ]
    wanted = [Variant("b-1-0-0"), Variant("c-1-0-0"), Variant("a-1-0-0")]
    assert kept_variant_names("foo", old, wanted) == [
        "foo-b-1-0-0-variant-2",
        "foo-c-1-0-0-variant-2",
        "foo-a-1-0-0-variant-1",
    ]
