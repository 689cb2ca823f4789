"""``ml2p`` commands against moto in server mode, in process through CliRunner.

Each test checks what the command printed and what reached AWS (read back
with boto3). Where moto lacks an API (code repositories, presigned notebook
URLs), the request is captured on the exact client the CLI uses with a
botocore ``before-call`` handler, and its parameters are asserted.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Any

import boto3
import pytest

from ml2p import aws
from ml2p import hyperparameters as hp
from ml2p.cli import cli
from tests.cli_support import capture_requests, cli_runner, parse_docs

PROJECT_YML = """\
project: foo
s3folder: s3://ml2p-test/proj/
plugins: [tests.models]
models:
  churn: tests.models.MinimalModel
  multi:
    model-defaults: {{cls: tests.models.MinimalModel, image_tag: "1.0"}}
    first: {{training_job: churn-1-2, image_tag: "2.0"}}
    second: {{training_job: churn-1-3, cls: tests.models.MinimalModel}}
defaults:
  image: "registry.local:5000/ml2p/churn:1.0"
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
train:
  instance_count: 2
  volume_size_gb: 50
  vpc_config: {{security_groups: [sg-1], subnets: [subnet-1, subnet-2]}}
deploy:
  record_invokes: true
notebook:
  instance_type: ml.t3.medium
  role: arn:aws:iam::123456789012:role/notebook
  subnet_id: subnet-9
  security_group_ids: [sg-9]
  volume_size: 12
  on_start: {on_start}
  on_create: {on_create}
  repo_url: https://example.com/foo.git
  repo_branch: main
  repo_secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:git
"""


@pytest.fixture
def project_yml(tmp_path) -> str:
    on_start = tmp_path / "on_start.sh"
    on_start.write_text("#!/bin/bash\necho start\n")
    on_create = tmp_path / "on_create.sh"
    on_create.write_text("#!/bin/bash\necho create\n")
    path = tmp_path / "ml2p.yml"
    path.write_text(PROJECT_YML.format(on_start=on_start, on_create=on_create))
    return str(path)


@pytest.fixture
def run(s3, project_yml):
    """Run ``ml2p --cfg <project_yml> ...`` in process; returns the click Result."""
    runner = cli_runner()

    def invoke(*args: str, cfg: str = project_yml) -> Any:
        return runner.invoke(cli, ["--cfg", cfg, *args])

    return invoke


@pytest.fixture
def sm(aws):
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def capture(monkeypatch):
    """Answer the named operations on the CLI's own clients, recording their params."""
    return capture_requests(monkeypatch)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


# --- bad input first --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["dataset", "create", "churn-2024"], "<model>-YYYYMMDD"),
        (["dataset", "ls", "churn"], "<model>-YYYYMMDD"),
        (["dataset", "delete", "x_20240101"], "<model>-YYYYMMDD"),
        (["training-job", "create", "churn-1", "churn-20240101", "-m", "churn"], "<model>-X-Y"),
        (["model", "create", "churn-1-2", "-m", "churn"], "<model>-X-Y-Z[-dev]"),
        (
            ["model", "create", "churn-1-2-3", "-t", "churn-1-2\n", "-m", "churn"],
            "<model>-X-Y[-dev]",
        ),
        (["endpoint", "create", "churn-1-2-3-prod"], "[-live|-analysis|-test]"),
        (["endpoint", "create", "churn-1-2-3-live", "-m", ""], "<model>-X-Y-Z[-dev]"),
        (["dataset", "generate", "churn", "-m", "churn"], "<model>-YYYYMMDD"),
    ],
)
def test_invalid_names_fail_with_the_rule(run, sm, args, rule):
    result = run(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert rule in lines[0]
    assert "Traceback" not in result.output
    # Nothing reached AWS.
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    assert sm.list_models()["Models"] == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["training-job", "describe", "nope-1-2"], "no such training job 'nope-1-2'"),
        (["model", "describe", "nope-1-2-3"], "no such model 'nope-1-2-3'"),
        (["endpoint", "describe", "nope-1-2-3"], "no such endpoint 'nope-1-2-3'"),
        (["notebook", "describe", "nope"], "no such notebook 'nope'"),
        (["training-job", "wait", "nope-1-2", "--timeout", "1"], "no such training job"),
        (["dataset", "dn", "churn-20240101", "missing.csv"], "no such file"),
    ],
)
def test_missing_resources_fail_in_one_line(run, args, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and expected in lines[0]
    assert not list(tmp_path.glob("missing.csv*")) and not list(tmp_path.glob(".missing*"))


def test_missing_bucket_says_to_run_init(aws, project_yml):
    result = cli_runner().invoke(cli, ["--cfg", project_yml, "dataset", "list"])
    assert result.exit_code == 1
    assert "ml2p-test" in result.output and "ml2p init" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_no_credentials_says_how_to_set_them(aws, project_yml, monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = cli_runner().invoke(cli, ["--cfg", project_yml, "model", "list"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no AWS credentials found")
    assert "AWS_PROFILE" in result.output and "AWS_ACCESS_KEY_ID" in result.output


def test_debug_shows_the_real_exception(aws):
    from ml2p.errors import ConfigError

    args = ["--cfg", "/nonexistent/ml2p.yml", "model", "list"]
    plain = cli_runner().invoke(cli, args)
    assert plain.exit_code == 1 and isinstance(plain.exception, SystemExit)
    debug = cli_runner().invoke(cli, ["--debug", *args])
    assert debug.exit_code == 1 and isinstance(debug.exception, ConfigError)


def test_wait_times_out_with_the_last_status(run, capture):
    answers, calls = capture
    answers["DescribeTrainingJob"] = {
        "TrainingJobName": "foo-churn-1-2",
        "TrainingJobStatus": "InProgress",
    }
    started = time.monotonic()
    result = run("training-job", "wait", "churn-1-2", "--timeout", "1", "--delay", "0.1")
    assert time.monotonic() - started >= 1
    assert result.exit_code == 1
    assert "timed out after 1 s" in result.output and "InProgress" in result.output
    # Polled every 0.1 s (fewer when the machine is slow), not flooded.
    assert 1 <= len(calls["DescribeTrainingJob"]) <= 12
    assert calls["DescribeTrainingJob"][0] == {"TrainingJobName": "foo-churn-1-2"}


def test_wait_reports_a_failed_job(run, capture):
    answers, _ = capture
    answers["DescribeTrainingJob"] = {
        "TrainingJobName": "foo-churn-1-2",
        "TrainingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: boom",
    }
    result = run("training-job", "wait", "churn-1-2", "--timeout", "5", "--delay", "0")
    assert result.exit_code == 1
    assert "is Failed: AlgorithmError: boom" in result.output


# --- init and datasets ------------------------------------------------------------


def test_init_creates_the_bucket_and_readmes(aws, project_yml):
    """As ML2P 0.6, init prints nothing; unlike 0.6, it creates a missing bucket (on stderr)."""
    result = cli_runner().invoke(cli, ["--cfg", project_yml, "init"])
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "Note: created S3 bucket 'ml2p-test'\n"
    client = boto3.client("s3", region_name="us-east-1")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="ml2p-test")["Contents"]}
    assert keys == {"proj/models/README.rst", "proj/datasets/README.rst"}
    again = cli_runner().invoke(cli, ["--cfg", project_yml, "init"])
    assert again.exit_code == 0 and again.stdout == again.stderr == ""


def test_empty_dataset_lists_deletes_and_ls_without_error(run, s3):
    assert ok(run("dataset", "list")).strip() == ""
    assert ok(run("dataset", "ls", "churn-20240101")).strip() == ""
    ok(run("dataset", "delete", "churn-20240101"))


def test_dataset_lifecycle(run, s3, tmp_path):
    ok(run("dataset", "create", "churn-20240101"))
    ok(run("dataset", "create", "other-20240102"))
    assert parse_docs(ok(run("dataset", "list"))) == ["churn-20240101", "other-20240102"]

    src = tmp_path / "train.csv"
    src.write_bytes(b"x,y\n1,2\n" * 100)
    ok(run("dataset", "up", "churn-20240101", str(src)))
    ok(run("dataset", "up", "churn-20240101", str(src), "sub/renamed.csv"))
    body = s3.get_object(Bucket="ml2p-test", Key="proj/datasets/churn-20240101/sub/renamed.csv")
    assert body["Body"].read() == src.read_bytes()

    listing = parse_docs(ok(run("dataset", "ls", "churn-20240101")))
    sizes = {item["filename"]: item["size"] for item in listing}
    assert sizes["train.csv"] == src.stat().st_size
    assert sizes["sub/renamed.csv"] == src.stat().st_size
    assert "README.rst" in sizes

    dst = tmp_path / "down.csv"
    ok(run("dataset", "dn", "churn-20240101", "sub/renamed.csv", str(dst)))
    assert dst.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

    ok(run("dataset", "rm", "churn-20240101", "train.csv"))
    names = {i["filename"] for i in parse_docs(ok(run("dataset", "ls", "churn-20240101")))}
    assert names == {"README.rst", "sub/renamed.csv"}

    ok(run("dataset", "delete", "churn-20240101"))
    assert parse_docs(ok(run("dataset", "list"))) == ["other-20240102"]


@pytest.mark.slow
def test_dataset_listing_is_paginated(run, s3):
    from concurrent.futures import ThreadPoolExecutor

    def put(i: int) -> None:
        s3.put_object(Bucket="ml2p-test", Key=f"proj/datasets/big-20240101/f{i:04d}", Body=b"")

    with ThreadPoolExecutor(8) as pool:  # more than one 1000-key page
        list(pool.map(put, range(1005)))
    assert len(parse_docs(ok(run("dataset", "ls", "big-20240101")))) == 1005
    ok(run("dataset", "delete", "big-20240101"))
    assert s3.list_objects_v2(Bucket="ml2p-test", Prefix="proj/datasets/")["KeyCount"] == 0


def test_dataset_keys_cannot_escape(run, s3, tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("x")
    result = run("dataset", "up", "churn-20240101", str(src), "../escape.csv")
    assert result.exit_code == 1 and "'..'" in result.output
    assert s3.list_objects_v2(Bucket="ml2p-test").get("KeyCount") == 0


def test_dataset_dn_leaves_no_file_on_failure(run, s3, tmp_path, monkeypatch):
    s3.put_object(Bucket="ml2p-test", Key="proj/datasets/churn-20240101/a.csv", Body=b"data")
    target = tmp_path / "out.csv"
    real_client = aws.client

    def failing_client(service, session_=None, **kw):
        made = real_client(service, session_, **kw)

        def fail(**_):
            raise OSError(28, "No space left on device")

        made.meta.events.register("before-call.s3.GetObject", fail)
        return made

    monkeypatch.setattr(aws, "client", failing_client)
    result = run("dataset", "dn", "churn-20240101", "a.csv", str(target))
    assert result.exit_code == 1
    assert "No space left" in result.output
    assert list(tmp_path.glob("*out.csv*")) == []


def test_dataset_generate_creates_a_processing_job(run, sm, s3, capture):
    """moto does not return a processing job's Environment: the request is recorded too."""
    answers, calls = capture
    answers["CreateProcessingJob"] = None
    out = parse_docs(ok(run("dataset", "generate", "churn-20240101", "-m", "churn")))[0]
    assert out["ProcessingJobArn"].endswith("processing-job/foo-churn-20240101")
    job = sm.describe_processing_job(ProcessingJobName="foo-churn-20240101")
    assert job["AppSpecification"]["ContainerArguments"] == ["generate-dataset"]
    assert job["AppSpecification"]["ImageUri"] == "registry.local:5000/ml2p/churn:1.0"
    env = calls["CreateProcessingJob"][0]["Environment"]
    assert env["ML2P_DATASET"] == "churn-20240101"
    assert env["ML2P_MODEL_CLS"] == "tests.models.MinimalModel"
    assert env["ML2P_PROJECT"] == "foo" and env["ML2P_S3_URL"] == "s3://ml2p-test/proj/"
    assert env["ML2P_PROJECT_PLUGINS"] == "tests.models"


# --- training jobs ----------------------------------------------------------------


def test_training_job_create_describe_list_wait(run, sm, tmp_path):
    hp_file = tmp_path / "hp.yml"
    hp_file.write_text("epochs: 3\nopt:\n  lr: 0.1\n  name: adam\n")
    out = parse_docs(
        ok(
            run(
                "training-job",
                "create",
                "churn-1-2",
                "churn-20240101",
                "-m",
                "churn",
                "--hyperparameters",
                str(hp_file),
                "-p",
                "opt.lr=0.5",
                "-p",
                "extra.deep=yes",
            )
        )
    )[0]
    assert out["TrainingJobArn"].endswith("training-job/foo-churn-1-2")

    job = sm.describe_training_job(TrainingJobName="foo-churn-1-2")
    decoded = hp.decode(job["HyperParameters"])
    assert set(decoded) == {"epochs", "opt", "extra"}  # only the user's, no ML2P_ENV
    assert decoded["epochs"] == 3
    assert decoded["opt"] == {"lr": 0.5, "name": "adam"}
    assert decoded["extra"] == {"deep": True}
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert job["ResourceConfig"]["VolumeSizeInGB"] == 50
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
    assert job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://ml2p-test/proj/datasets/churn-20240101"
    )
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://ml2p-test/proj/models/"
    assert job["VpcConfig"] == {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]}
    assert job["AlgorithmSpecification"]["TrainingImage"] == "registry.local:5000/ml2p/churn:1.0"
    tags = sm.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
    assert {"Key": "ml2p-project", "Value": "foo"} in tags

    described = parse_docs(ok(run("training-job", "describe", "churn-1-2")))[0]
    assert described["TrainingJobName"] == "foo-churn-1-2"
    # ML2P 0.6's str(datetime): a space, not a "T", between date and time.
    assert str(job["CreationTime"]) == described["CreationTime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00", described["CreationTime"])

    listed = parse_docs(ok(run("training-job", "list")))
    assert [j["TrainingJobName"] for j in listed] == ["foo-churn-1-2"]

    # Prints nothing on success, as ML2P 0.6.
    assert ok(run("training-job", "wait", "churn-1-2", "--delay", "0", "--timeout", "5")) == ""
    assert job["TrainingJobStatus"] == "Completed"


def test_reserved_hyperparameter_is_refused(run, sm):
    result = run(
        "training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn", "-p", "ML2P_ENV.x=1"
    )
    assert result.exit_code == 1 and "reserved" in result.output
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_bad_param_syntax_is_a_usage_error(run):
    result = run(
        "training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn", "-p", "novalue"
    )
    assert result.exit_code == 2
    assert "key=value" in result.output


# --- models, endpoints ------------------------------------------------------------


def test_model_create_single_container(run, sm):
    out = parse_docs(ok(run("model", "create", "churn-1-2-3", "-m", "churn")))[0]
    assert out["ModelArn"].endswith("model/foo-churn-1-2-3")
    model = sm.describe_model(ModelName="foo-churn-1-2-3")
    container = model["PrimaryContainer"]
    assert (
        container["ModelDataUrl"] == "s3://ml2p-test/proj/models/foo-churn-1-2/output/model.tar.gz"
    )
    assert container["Image"] == "registry.local:5000/ml2p/churn:1.0"
    assert container["Environment"]["ML2P_MODEL_VERSION"] == "foo-churn-1-2-3"
    assert container["Environment"]["ML2P_RECORD_INVOKES"] == "true"
    assert container["Environment"]["ML2P_MODEL_CLS"] == "tests.models.MinimalModel"
    assert container["Environment"]["ML2P_PROJECT_PLUGINS"] == "tests.models"
    assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/ml2p"

    ok(run("model", "create", "churn-1-2-4", "-t", "churn-9-9-dev", "-m", "churn"))
    other = sm.describe_model(ModelName="foo-churn-1-2-4")["PrimaryContainer"]["ModelDataUrl"]
    assert "/models/foo-churn-9-9-dev/output/" in other

    described = parse_docs(ok(run("model", "describe", "churn-1-2-3")))[0]
    assert described["ModelName"] == "foo-churn-1-2-3"
    names = [m["ModelName"] for m in parse_docs(ok(run("model", "list")))]
    assert sorted(names) == ["foo-churn-1-2-3", "foo-churn-1-2-4"]
    ok(run("model", "delete", "churn-1-2-4"))
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["foo-churn-1-2-3"]


def test_model_create_multi_container(run, sm, capture):
    """moto drops InferenceExecutionConfig, so the request is also captured."""
    ok(run("model", "create", "multi-1-0-0", "-m", "multi"))
    model = sm.describe_model(ModelName="foo-multi-1-0-0")
    containers = {c["ContainerHostname"]: c for c in model["Containers"]}
    assert containers["first"]["Image"] == "registry.local:5000/ml2p/churn:2.0"
    assert containers["second"]["Image"] == "registry.local:5000/ml2p/churn:1.0"
    assert containers["first"]["ModelDataUrl"].endswith("/models/foo-churn-1-2/output/model.tar.gz")
    assert containers["second"]["ModelDataUrl"].endswith(
        "/models/foo-churn-1-3/output/model.tar.gz"
    )
    # As ML2P 0.6: each container's model version is <project>-<container>.
    assert containers["first"]["Environment"]["ML2P_MODEL_VERSION"] == "foo-first"
    assert containers["second"]["Environment"]["ML2P_MODEL_VERSION"] == "foo-second"

    answers, calls = capture
    answers["CreateModel"] = {"ModelArn": "arn:aws:sagemaker:us-east-1:1:model/foo-multi-1-0-1"}
    ok(run("model", "create", "multi-1-0-1", "-m", "multi"))
    sent = calls["CreateModel"][0]
    assert sent["InferenceExecutionConfig"] == {"Mode": "Direct"}
    assert [c["ContainerHostname"] for c in sent["Containers"]] == ["first", "second"]
    assert "PrimaryContainer" not in sent


@pytest.mark.parametrize(
    "args",
    [
        ["model", "create", "churn-1-2-3", "-m", "nosuch"],
        ["training-job", "create", "churn-1-2", "churn-20240101", "-m", "nosuch"],
        ["dataset", "generate", "churn-20240101", "-m", "nosuch"],
    ],
)
def test_unknown_model_type_is_a_usage_error(run, sm, args):
    """Exit status 2, as ML2P 0.6's click.BadParameter."""
    result = run(*args)
    assert result.exit_code == 2
    assert "Invalid value for '--model-type' / '-m'" in result.output
    assert "model 'nosuch' is not defined; defined models: churn, multi" in result.output
    assert sm.list_models()["Models"] == []
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []


def test_endpoint_lifecycle(run, sm, capture):
    ok(run("model", "create", "churn-1-2-3", "-m", "churn"))
    out = parse_docs(ok(run("endpoint", "create", "churn-1-2-3-live")))[0]
    assert out["EndpointArn"].endswith("endpoint/foo-churn-1-2-3-live")
    config = sm.describe_endpoint_config(EndpointConfigName="foo-churn-1-2-3-live-config")
    variant = config["ProductionVariants"][0]
    assert variant["ModelName"] == "foo-churn-1-2-3"
    assert variant["VariantName"] == "foo-churn-1-2-3-variant-1"
    assert variant["InstanceType"] == "ml.m5.large"

    described = parse_docs(ok(run("endpoint", "describe", "churn-1-2-3-live")))[0]
    assert described["EndpointUrl"] == (
        "https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/foo-churn-1-2-3-live/invocations"
    )
    assert [e["EndpointName"] for e in parse_docs(ok(run("endpoint", "list")))] == [
        "foo-churn-1-2-3-live"
    ]
    assert ok(run("endpoint", "wait", "churn-1-2-3-live", "--delay", "0")) == ""

    answers, calls = capture
    answers["InvokeEndpoint"] = {"Body": _Body(b'{"y": 4}'), "ContentType": "application/json"}
    invoked = parse_docs(
        ok(run("endpoint", "invoke", "churn-1-2-3-live", '{"x": 2}', "--target-container", "first"))
    )[0]
    assert invoked["Body"] == {"y": 4}
    sent = calls["InvokeEndpoint"][0]
    assert sent["TargetContainerHostname"] == "first"
    assert sent["EndpointName"] == "foo-churn-1-2-3-live"
    assert json.loads(sent["Body"]) == {"x": 2}

    deleted = parse_docs(ok(run("endpoint", "delete", "churn-1-2-3-live")))
    assert len(deleted) == 2
    assert sm.list_endpoints()["Endpoints"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def read(self) -> bytes:
        return self._data


def test_endpoint_invoke_refuses_bad_json(run, capture):
    answers, calls = capture
    answers["InvokeEndpoint"] = {"Body": _Body(b"{}")}
    result = run("endpoint", "invoke", "churn-1-2-3-live", "{not json")
    assert result.exit_code == 1 and "not valid JSON" in result.output
    assert "InvokeEndpoint" not in calls


# --- listings are exact per project -----------------------------------------------


def test_listings_exclude_sibling_projects(run, sm, tmp_path, project_yml):
    sibling = tmp_path / "sibling.yml"
    sibling.write_text(open(project_yml).read().replace("project: foo", "project: foo-bar"))
    ok(run("model", "create", "churn-1-2-3", "-m", "churn"))
    ok(
        run("model", "create", "churn-1-2-3", "-m", "churn", cfg=str(sibling))
    )  # foo-bar-churn-1-2-3
    ok(
        run(
            "training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn", cfg=str(sibling)
        )
    )
    names = [m["ModelName"] for m in sm.list_models()["Models"]]
    assert sorted(names) == ["foo-bar-churn-1-2-3", "foo-churn-1-2-3"]

    assert [m["ModelName"] for m in parse_docs(ok(run("model", "list")))] == ["foo-churn-1-2-3"]
    assert ok(run("training-job", "list")).strip() == ""
    sib = parse_docs(ok(run("model", "list", cfg=str(sibling))))
    assert [m["ModelName"] for m in sib] == ["foo-bar-churn-1-2-3"]


def test_listings_follow_every_page(run, capture):
    """Pages are answered on the CLI's client: the second only for the first's NextToken."""
    answers, calls = capture
    arn = "arn:aws:sagemaker:us-east-1:1:model/"

    def page(params):
        if params.get("NextToken") == "page-2":
            return {"Models": [{"ModelName": "foo-m-1-0-1", "ModelArn": arn + "foo-m-1-0-1"}]}
        return {
            "Models": [{"ModelName": "foo-m-1-0-0", "ModelArn": arn + "foo-m-1-0-0"}],
            "NextToken": "page-2",
        }

    answers["ListModels"] = page
    answers["ListTags"] = {"Tags": [{"Key": "ml2p-project", "Value": "foo"}]}
    names = [m["ModelName"] for m in parse_docs(ok(run("model", "list")))]
    assert names == ["foo-m-1-0-0", "foo-m-1-0-1"]
    assert [c.get("NextToken") for c in calls["ListModels"]] == [None, "page-2"]
    assert all(c["NameContains"] == "foo-" for c in calls["ListModels"])


# --- notebooks and repositories ---------------------------------------------------


def test_notebook_lifecycle(run, sm, capture, project_yml, tmp_path):
    """moto has no code repository API: CreateCodeRepository is captured."""
    answers, calls = capture
    answers["CreateCodeRepository"] = {
        "CodeRepositoryArn": "arn:aws:sagemaker:us-east-1:1:code-repository/foo-nb-repo"
    }
    answers["DeleteCodeRepository"] = {}
    out = parse_docs(ok(run("notebook", "create", "nb")))[0]
    assert out["NotebookInstanceArn"].endswith("notebook-instance/foo-nb")

    repo = calls["CreateCodeRepository"][0]
    assert repo["CodeRepositoryName"] == "foo-nb-repo"
    assert repo["GitConfig"] == {
        "RepositoryUrl": "https://example.com/foo.git",
        "Branch": "main",
        "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:git",
    }
    lifecycle = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="foo-nb-lifecycle-config"
    )
    assert base64.b64decode(lifecycle["OnStart"][0]["Content"]) == b"#!/bin/bash\necho start\n"
    assert base64.b64decode(lifecycle["OnCreate"][0]["Content"]) == b"#!/bin/bash\necho create\n"
    nb = sm.describe_notebook_instance(NotebookInstanceName="foo-nb")
    assert nb["InstanceType"] == "ml.t3.medium"
    assert nb["VolumeSizeInGB"] == 12
    assert nb["SubnetId"] == "subnet-9"
    assert nb["DefaultCodeRepository"] == "foo-nb-repo"
    assert nb["NotebookInstanceLifecycleConfigName"] == "foo-nb-lifecycle-config"

    assert [n["NotebookInstanceName"] for n in parse_docs(ok(run("notebook", "list")))] == [
        "foo-nb"
    ]
    assert parse_docs(ok(run("notebook", "describe", "nb")))[0]["NotebookInstanceName"] == "foo-nb"

    assert ok(run("notebook", "stop", "nb")) == ""  # Nothing printed, as ML2P 0.6.
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="foo-nb")["NotebookInstanceStatus"]
        == "Stopped"
    )
    assert ok(run("notebook", "start", "nb")) == ""
    assert (
        sm.describe_notebook_instance(NotebookInstanceName="foo-nb")["NotebookInstanceStatus"]
        == "InService"
    )

    answers["CreatePresignedNotebookInstanceUrl"] = {"AuthorizedUrl": "https://nb.example/auth"}
    url = parse_docs(ok(run("notebook", "presigned-url", "nb")))[0]
    assert url["AuthorizedUrl"] == "https://nb.example/auth"
    assert calls["CreatePresignedNotebookInstanceUrl"] == [{"NotebookInstanceName": "foo-nb"}]

    ok(run("notebook", "delete", "nb", "--delay", "0", "--timeout", "5"))
    assert sm.list_notebook_instances()["NotebookInstances"] == []
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName="foo-nb-lifecycle-config"
        )
    assert calls["DeleteCodeRepository"] == [{"CodeRepositoryName": "foo-nb-repo"}]


def test_notebook_missing_script_is_a_config_error(run, sm, project_yml, tmp_path):
    os.unlink(tmp_path / "on_start.sh")
    result = run("notebook", "create", "nb")
    assert result.exit_code == 1
    assert "notebook.on_start" in result.output and "cannot read lifecycle script" in result.output
    assert sm.list_notebook_instances()["NotebookInstances"] == []


def test_repo_commands(run, capture):
    """moto has no code repository API: every call is captured and answered."""
    answers, calls = capture
    arn = "arn:aws:sagemaker:us-east-1:1:code-repository/"
    answers["CreateCodeRepository"] = {"CodeRepositoryArn": arn + "foo-tools"}
    answers["DescribeCodeRepository"] = {"CodeRepositoryName": "foo-tools"}
    answers["DeleteCodeRepository"] = {}
    answers["ListCodeRepositories"] = {
        "CodeRepositorySummaryList": [
            {"CodeRepositoryName": "foo-tools", "CodeRepositoryArn": arn + "foo-tools"},
            {"CodeRepositoryName": "foo-bar-tools", "CodeRepositoryArn": arn + "foo-bar-tools"},
        ]
    }
    answers["ListTags"] = {"Tags": [{"Key": "ml2p-project", "Value": "foo"}]}

    created = parse_docs(ok(run("repo", "create", "tools")))[0]
    assert created["CodeRepositoryArn"].endswith("foo-tools")
    sent = calls["CreateCodeRepository"][0]
    assert sent["CodeRepositoryName"] == "foo-tools"
    assert sent["GitConfig"]["RepositoryUrl"] == "https://example.com/foo.git"
    assert sent["Tags"] == [{"Key": "ml2p-project", "Value": "foo"}]

    assert parse_docs(ok(run("repo", "describe", "tools")))[0]["CodeRepositoryName"] == "foo-tools"
    assert calls["DescribeCodeRepository"] == [{"CodeRepositoryName": "foo-tools"}]
    listed = parse_docs(ok(run("repo", "list")))
    # Both carry the tag "foo" in this canned answer; foo-bar-tools shows too because
    # its tag says so: the tag, not the name, decides.
    assert [r["CodeRepositoryName"] for r in listed] == ["foo-tools", "foo-bar-tools"]
    assert calls["ListCodeRepositories"][0]["NameContains"] == "foo-"
    ok(run("repo", "delete", "tools"))
    assert calls["DeleteCodeRepository"] == [{"CodeRepositoryName": "foo-tools"}]
