"""ML2P 0.6's ml2p.cli_commands.utils: names, request builders and JSON output.

The expected requests are what ML2P 0.6.0's ``mk_*`` functions return for the
same ``ml2p.yml`` (facts read off 0.6.0), so a difference here is a
difference from 0.6.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json

import click
import pytest

from ml2p.cli_commands import utils
from ml2p.core import ModellingProject
from ml2p.errors import ConfigError
from ml2p.naming import NamingError
from tests.cli_support import cli_runner

YML = """\
project: foo
s3folder: s3://ml2p-test/proj/
models:
  churn: pkg.models.Churn
  multi:
    model-defaults: {{cls: pkg.models.Base}}
    first: {{training_job: churn-1-2, image_tag: "2.0"}}
    second: {{training_job: churn-1-3, cls: pkg.models.Second, image_tag: "3.0"}}
defaults:
  image: "123.dkr.ecr.us-east-1.amazonaws.com/churn:1.0"
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
train:
  vpc_config: {{security_groups: [sg-1], subnets: [subnet-1, subnet-2]}}
dataset:
  instance_type: ml.m5.xlarge
deploy:
  record_invokes: {record_invokes}
  vpc_config: {{security_groups: [sg-2], subnets: [subnet-3]}}
notebook:
  instance_type: ml.t3.medium
  role: arn:aws:iam::123456789012:role/notebook
  volume_size: 12
  subnet_id: subnet-9
  security_group_ids: [sg-9]
  direct_internet_access: Enabled
  on_start: {on_start}
  repo_url: https://example.com/foo.git
  repo_branch: main
  repo_secret_arn: arn:aws:secretsmanager:us-east-1:123456789012:secret:git
"""

IMAGE = "123.dkr.ecr.us-east-1.amazonaws.com/churn"
ROLE = "arn:aws:iam::123456789012:role/ml2p"
TAGS = [{"Key": "ml2p-project", "Value": "foo"}]
S3 = "s3://ml2p-test/proj/"


def make_prj(tmp_path, record_invokes: str = "true", script: bytes = b"echo start\n"):
    on_start = tmp_path / "on_start.sh"
    on_start.write_bytes(script)
    path = tmp_path / "ml2p.yml"
    path.write_text(YML.format(record_invokes=record_invokes, on_start=on_start))
    return ModellingProject(str(path))


@pytest.fixture
def prj(tmp_path):
    return make_prj(tmp_path)


def training_job(name: str, cls: str | None) -> dict:
    env = {"ML2P_TRAINING_JOB": f"foo-{name}", "ML2P_PROJECT": "foo", "ML2P_S3_URL": S3}
    if cls:
        env["ML2P_MODEL_CLS"] = cls
    return {
        "TrainingJobName": f"foo-{name}",
        "AlgorithmSpecification": {"TrainingImage": f"{IMAGE}:1.0", "TrainingInputMode": "File"},
        "EnableNetworkIsolation": True,
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": S3 + "datasets/churn-20240101",
                    }
                },
            }
        ],
        "Environment": env,
        "OutputDataConfig": {"S3OutputPath": S3 + "models/"},
        "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20},
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": TAGS,
        "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "subnet-2"]},
    }


def processing_job(cls: str) -> dict:
    return {
        "ProcessingJobName": "foo-churn-20240101",
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
                "VolumeSizeInGB": 20,
            }
        },
        "AppSpecification": {
            "ImageUri": f"{IMAGE}:1.0",
            "ContainerArguments": ["generate-dataset"],
        },
        "Environment": {
            "ML2P_DATASET": "churn-20240101",
            "ML2P_PROJECT": "foo",
            "ML2P_S3_URL": S3,
            "ML2P_MODEL_CLS": cls,
        },
        "NetworkConfig": {
            "EnableInterContainerTrafficEncryption": False,
            "EnableNetworkIsolation": False,
        },
        "RoleArn": ROLE,
        "StoppingCondition": {"MaxRuntimeInSeconds": 36000},
        "Tags": TAGS,
    }


def model_env(version: str, cls: str | None, record: bool, cls_first: bool = True) -> dict:
    env = {"ML2P_MODEL_VERSION": version, "ML2P_PROJECT": "foo", "ML2P_S3_URL": S3}
    extra = [("ML2P_MODEL_CLS", cls)] if cls else []
    if record:
        extra.insert(len(extra) if cls_first else 0, ("ML2P_RECORD_INVOKES", "true"))
    env.update(extra)
    return env


def model(containers: dict, extra: dict) -> dict:
    return {
        "ModelName": "foo-churn-1-2-3" if "PrimaryContainer" in containers else "foo-multi-1-2-3",
        **containers,
        "ExecutionRoleArn": ROLE,
        "Tags": TAGS,
        "EnableNetworkIsolation": False,
        **extra,
        "VpcConfig": {"SecurityGroupIds": ["sg-2"], "Subnets": ["subnet-3"]},
    }


def ordered(value):
    """JSON text keeping key order: requests are compared field by field and in order."""
    return json.dumps(value, indent=1)


# --- bad input first --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        ("churn-2024", "dataset"),
        ("churn-1", "training-job"),
        ("churn-1-2", "model"),
        ("churn-1-2-3-prod", "endpoint"),
        ("churn-1-2-3\n", "model"),
    ],
)
def test_validate_name_refuses_what_06_refused(name, resource):
    with pytest.raises(NamingError, match="names must be"):
        utils.validate_name(name, resource)


def test_validate_name_refuses_an_unknown_resource_with_06s_key_error():
    with pytest.raises(KeyError, match="'notebook'"):
        utils.validate_name("churn-1-2-3", "notebook")


def test_defaults_refuse_invalid_names():
    with pytest.raises(NamingError):
        utils.training_job_name_for_model("churn-1-2")
    with pytest.raises(NamingError):
        utils.model_name_for_endpoint("churn-live")


@pytest.mark.parametrize(
    ("vpc", "message"),
    [
        ({"security_groups": "sg-1", "subnets": ["s"]}, "security_groups"),
        ({"security_groups": [], "subnets": ["s"]}, "security_groups"),
        ({"security_groups": ["sg"], "subnets": []}, "subnets"),
        ({"subnets": ["s"]}, "security_groups"),
        (["sg"], "must be a mapping"),
    ],
)
def test_mk_vpc_config_refuses_bad_settings(vpc, message):
    with pytest.raises(ConfigError, match=message):
        utils.mk_vpc_config({"vpc_config": vpc})


def test_multi_container_type_without_default_class_is_refused(prj):
    prj.cfg["models"]["multi"]["first"]["cls"] = "pkg.models.First"
    del prj.cfg["models"]["multi"]["model-defaults"]
    with pytest.raises(ConfigError, match=r"models\.multi\.model-defaults\.cls"):
        utils.mk_training_job(prj, "multi-1-2", "churn-20240101", "multi")


def test_notebook_needs_volume_size_as_in_06(prj):
    del prj.cfg["notebook"]["volume_size"]
    with pytest.raises(ConfigError, match=r"notebook\.volume_size"):
        utils.mk_notebook(prj, "nb")


def test_date_serializer_refuses_other_objects():
    with pytest.raises(TypeError):
        utils.date_to_string_serializer(object())


# --- names ------------------------------------------------------------------------


def test_validate_name_takes_name_then_resource_and_returns_none():
    assert utils.validate_name("churn-1-2-3-dev", "model") is None
    assert utils.validate_name("churn-20240101", "dataset") is None
    # A <model> part ending in '-': 0.6's rule accepted it.
    assert utils.validate_name("churn--1-2-3", "model") is None


def test_default_names_are_06s():
    assert utils.training_job_name_for_model("m-1-0-2-dev") == "m-1-0"
    assert utils.training_job_name_for_model("churn-1-2-3") == "churn-1-2"
    assert utils.model_name_for_endpoint("churn-1-2-3-dev-live") == "churn-1-2-3-dev"
    assert utils.model_name_for_endpoint("churn-1-2-3") == "churn-1-2-3"


def test_validation_regexes_have_06s_kinds_and_groups():
    import re

    assert sorted(utils.VALIDATION_REGEXES) == ["dataset", "endpoint", "model", "training-job"]
    match = re.match(utils.VALIDATION_REGEXES["endpoint"], "churn-1-2-3-dev-live")
    assert match.group("model_suffix") == "-dev" and match.group("endpoint_suffix") == "-live"


# --- requests, field by field against 0.6.0 ---------------------------------------


def test_mk_training_job(prj):
    got = utils.mk_training_job(prj, "churn-1-2", "churn-20240101", "churn")
    assert ordered(got) == ordered(training_job("churn-1-2", "pkg.models.Churn"))
    none = utils.mk_training_job(prj, "churn-1-2", "churn-20240101")
    assert ordered(none) == ordered(training_job("churn-1-2", None))
    assert "HyperParameters" not in got


def test_mk_training_job_of_a_multi_container_model_uses_its_default_class(prj):
    got = utils.mk_training_job(prj, "multi-1-2", "churn-20240101", "multi")
    assert ordered(got) == ordered(training_job("multi-1-2", "pkg.models.Base"))


def test_mk_processing_job(prj):
    got = utils.mk_processing_job(prj, "churn-20240101", "churn")
    assert ordered(got) == ordered(processing_job("pkg.models.Churn"))
    multi = utils.mk_processing_job(prj, "churn-20240101", "multi")
    assert ordered(multi) == ordered(processing_job("pkg.models.Base"))


def test_mk_model(prj):
    got = utils.mk_model(prj, "churn-1-2-3", "churn-1-2", "churn")
    container = {
        "Image": f"{IMAGE}:1.0",
        "ModelDataUrl": S3 + "models/foo-churn-1-2/output/model.tar.gz",
        "Environment": model_env("foo-churn-1-2-3", "pkg.models.Churn", record=True),
    }
    assert ordered(got) == ordered(model({"PrimaryContainer": container}, {}))
    # 0.6's mk_model of a multi-container type: one container, the default class.
    multi = utils.mk_model(prj, "churn-1-2-3", "churn-1-2", "multi")
    assert multi["PrimaryContainer"]["Environment"]["ML2P_MODEL_CLS"] == "pkg.models.Base"


def test_mk_model_omits_record_invokes_when_off(tmp_path):
    prj = make_prj(tmp_path, record_invokes="false")
    env = utils.mk_model(prj, "churn-1-2-3", "churn-1-2")["PrimaryContainer"]["Environment"]
    assert ordered(env) == ordered(model_env("foo-churn-1-2-3", None, record=False))


def test_mk_multimodel(prj):
    got = utils.mk_multimodel(prj, "multi-1-2-3", "multi")
    containers = [
        {
            "ContainerHostname": "first",
            "Image": f"{IMAGE}:2.0",
            "ModelDataUrl": S3 + "models/foo-churn-1-2/output/model.tar.gz",
            "Environment": model_env("foo-first", "pkg.models.Base", True, cls_first=False),
        },
        {
            "ContainerHostname": "second",
            "Image": f"{IMAGE}:3.0",
            "ModelDataUrl": S3 + "models/foo-churn-1-3/output/model.tar.gz",
            "Environment": model_env("foo-second", "pkg.models.Second", True, cls_first=False),
        },
    ]
    expected = model({"Containers": containers}, {"InferenceExecutionConfig": {"Mode": "Direct"}})
    assert ordered(got) == ordered(expected)


def test_mk_multimodel_keeps_a_registry_port(prj):
    """A deliberate difference: 0.6 cut the image at the first ':' (the port)."""
    prj.deploy["image"] = "registry.local:5000/team/churn:1.0"
    images = [c["Image"] for c in utils.mk_multimodel(prj, "multi-1-2-3", "multi")["Containers"]]
    assert images == ["registry.local:5000/team/churn:2.0", "registry.local:5000/team/churn:3.0"]


def test_mk_endpoint_config(prj):
    assert utils.mk_endpoint_config(prj, "churn-1-2-3-live", "churn-1-2-3") == {
        "EndpointConfigName": "foo-churn-1-2-3-live-config",
        "ProductionVariants": [
            {
                "VariantName": "foo-churn-1-2-3-variant-1",
                "ModelName": "foo-churn-1-2-3",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
        "Tags": TAGS,
    }


def test_mk_notebook(prj):
    expected = {
        "NotebookInstanceName": "foo-nb",
        "InstanceType": "ml.t3.medium",
        "RoleArn": "arn:aws:iam::123456789012:role/notebook",
        "Tags": TAGS,
        "LifecycleConfigName": "foo-nb-lifecycle-config",
        "VolumeSizeInGB": 12,
        "DirectInternetAccess": "Enabled",
        "DefaultCodeRepository": "foo-nb-repo",
        "SubnetId": "subnet-9",
        "SecurityGroupIds": ["sg-9"],
    }
    assert ordered(utils.mk_notebook(prj, "nb", "nb-repo")) == ordered(expected)
    del expected["DefaultCodeRepository"]
    assert ordered(utils.mk_notebook(prj, "nb")) == ordered(expected)


def test_mk_lifecycle_config_sends_the_script_with_lf_line_ends(tmp_path):
    prj = make_prj(tmp_path, script=b"#!/bin/bash\r\necho start\r\n")
    assert utils.mk_lifecycle_config(prj, "nb") == {
        "NotebookInstanceLifecycleConfigName": "foo-nb-lifecycle-config",
        "OnStart": [{"Content": base64.b64encode(b"#!/bin/bash\necho start\n").decode()}],
    }


def test_mk_repo_adds_only_the_project_tag(prj):
    """A deliberate difference: 0.6 did not tag code repositories."""
    assert utils.mk_repo(prj, "nb-repo") == {
        "CodeRepositoryName": "foo-nb-repo",
        "GitConfig": {
            "RepositoryUrl": "https://example.com/foo.git",
            "Branch": "main",
            "SecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:git",
        },
        "Tags": TAGS,
    }


def test_mk_vpc_config(prj):
    assert utils.mk_vpc_config(prj.train) == {
        "SecurityGroupIds": ["sg-1"],
        "Subnets": ["subnet-1", "subnet-2"],
    }
    assert utils.mk_vpc_config(prj.dataset) is None


def test_builders_never_change_the_configuration(prj):
    before = copy.deepcopy(prj.cfg)
    first = [
        utils.mk_multimodel(prj, "multi-1-2-3", "multi"),
        utils.mk_model(prj, "churn-1-2-3", "churn-1-2", "multi"),
        utils.mk_training_job(prj, "multi-1-2", "churn-20240101", "multi"),
        utils.mk_processing_job(prj, "churn-20240101", "multi"),
    ]
    again = [
        utils.mk_multimodel(prj, "multi-1-2-3", "multi"),
        utils.mk_model(prj, "churn-1-2-3", "churn-1-2", "multi"),
        utils.mk_training_job(prj, "multi-1-2", "churn-20240101", "multi"),
        utils.mk_processing_job(prj, "churn-20240101", "multi"),
    ]
    assert prj.cfg == before  # 0.6 popped model-defaults out of it
    assert again == first


def test_builders_see_changes_made_through_the_project(prj):
    prj.deploy["image"] = "repo:9.9"
    prj.cfg["train"]["instance_type"] = "ml.p3.2xlarge"
    assert utils.mk_model(prj, "churn-1-2-3", "churn-1-2")["PrimaryContainer"]["Image"] == (
        "repo:9.9"
    )
    got = utils.mk_training_job(prj, "churn-1-2", "churn-20240101")
    assert got["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"


# --- output -----------------------------------------------------------------------


def test_dates_print_as_06_printed_them(capsys):
    when = datetime.datetime(2026, 12, 1, 8, 30, 26, 280685, tzinfo=datetime.timezone.utc)
    assert utils.date_to_string_serializer(when) == "2026-12-01 08:30:26.280685+00:00"
    utils.click_echo_json({"CreationTime": when, "n": [1]})
    assert capsys.readouterr().out == (
        '{\n  "CreationTime": "2026-12-01 08:30:26.280685+00:00",\n  "n": [\n    1\n  ]\n}\n'
    )


def test_endpoint_url_for_arn():
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/foo-churn-1-2-3-live"
    assert utils.endpoint_url_for_arn(arn) == (
        "https://runtime.sagemaker.eu-west-1.amazonaws.com/endpoints/foo-churn-1-2-3-live"
        "/invocations"
    )
    assert utils.endpoint_url_for_arn("arn:aws:sagemaker:eu-west-1:1:model/x") is None
    # ML2P 0.6's parameter name.
    assert utils.endpoint_url_for_arn(endpoint_arn=arn).endswith("-live/invocations")


# --- validate_model_type as 0.6's click callback ----------------------------------


def model_type_command(prj):
    @click.command()
    @click.option("--model-type", "-m", default=None, callback=utils.validate_model_type)
    def show(model_type):
        click.echo(repr(model_type))

    def invoke(*args):
        return cli_runner().invoke(show, list(args), obj=prj)

    return invoke


def test_validate_model_type(prj, tmp_path):
    invoke = model_type_command(prj)
    assert invoke("-m", "multi").output == "'multi'\n"
    bad = invoke("-m", "nosuch")
    assert bad.exit_code == 2 and "Invalid value for '--model-type' / '-m'" in bad.output
    several = invoke()
    assert several.exit_code == 2 and "several models are defined" in several.output
    del prj.cfg["models"]["multi"]
    assert invoke().output == "'churn'\n"
    del prj.cfg["models"]
    assert invoke().output == "None\n"
