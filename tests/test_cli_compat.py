"""The ``ml2p`` command as ML2P 0.6's drop-in, against moto in server mode.

An ML2P 0.6 ``ml2p.yml`` goes through the real command (in process, with
CliRunner); each test checks what was printed (stdout and stderr apart), the
exit status, and what reached AWS. Expected values are ML2P 0.6.0's
behaviour. Where moto does not return what was sent (a job's
``Environment``), the request is recorded on the command's own client.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from typing import Any

import boto3
import click
import pytest

from ml2p import hyperparameters as hp
from ml2p.cli import cli
from tests import v060
from tests.cli_support import capture_requests, cli_runner, parse_docs
from tests.v060_names import V06_CLI_NAMES

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
deploy:
  record_invokes: {record_invokes}
notebook:
  instance_type: ml.t3.medium
  role: arn:aws:iam::123456789012:role/notebook
  volume_size: 12
  direct_internet_access: Enabled
  on_start: {on_start}
"""


def write_yml(tmp_path, record_invokes="true", name="ml2p.yml", **changes) -> str:
    on_start = tmp_path / "on_start.sh"
    on_start.write_bytes(b"#!/bin/bash\r\necho start\r\n")
    text = YML.format(record_invokes=record_invokes, on_start=on_start)
    for old, new in changes.items():
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def cfg(tmp_path) -> str:
    return write_yml(tmp_path)


@pytest.fixture
def run(s3, cfg):
    """Run ``ml2p --cfg <cfg> ...``; the result keeps stdout and stderr apart."""

    def invoke(*args: str, config: str = cfg) -> Any:
        return cli_runner().invoke(cli, ["--cfg", config, *args])

    return invoke


@pytest.fixture
def sm(aws):
    return boto3.client("sagemaker", region_name="us-east-1")


@pytest.fixture
def capture(monkeypatch):
    return capture_requests(monkeypatch)


def ok(result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def s3_body(s3, key: str) -> bytes:
    return s3.get_object(Bucket="ml2p-test", Key=key)["Body"].read()


# --- exit statuses of common failures, as 0.6 -------------------------------------


@pytest.mark.parametrize(
    ("args", "status"),
    [
        # A bad --model-type, or none while several models are defined: a usage error,
        # reported before the name is checked.
        (["training-job", "create", "churn-1-2", "churn-20240101", "-m", "nope"], 2),
        (["training-job", "create", "churn-1-2", "churn-20240101"], 2),
        (["model", "create", "churn-1-2-3"], 2),
        (["model", "create", "bad", "-m", "nope"], 2),
        (["dataset", "generate", "churn-20240101"], 2),
        # Missing arguments: usage errors.
        (["dataset", "create"], 2),
        (["endpoint", "invoke", "churn-1-2-3-live"], 2),
        (["dataset", "up", "churn-20240101", "/nonexistent/file.csv"], 2),
        # Names 0.6 refused, missing resources: errors.
        (["dataset", "create", "churn_20240101"], 1),
        (["model", "create", "churn-1-2", "-m", "churn"], 1),
        (["endpoint", "create", "churn-1-2-3-prod"], 1),
        (["training-job", "describe", "churn-1-2"], 1),
        (["model", "describe", "churn-1-2-3"], 1),
        (["model", "delete", "churn-1-2-3"], 1),
        (["endpoint", "describe", "churn-1-2-3-live"], 1),
        (["endpoint", "delete", "churn-1-2-3-live"], 1),
        (["notebook", "describe", "nb"], 1),
        (["notebook", "delete", "nb"], 1),
        (["dataset", "dn", "churn-20240101", "missing.csv"], 1),
    ],
)
def test_failures_exit_as_in_06(run, sm, args, status, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == status, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert sm.list_models()["Models"] == []
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    assert sm.list_processing_jobs()["ProcessingJobSummaries"] == []


@pytest.mark.slow
def test_every_06_command_succeeds_in_a_project_lifecycle(run, sm, s3, capture, tmp_path):
    """Each command of 0.6's tree, as a project uses them: exit 0, and JSON only where 0.6
    printed some."""
    answers, _ = capture
    answers["CreatePresignedNotebookInstanceUrl"] = {"AuthorizedUrl": "https://nb/auth"}
    answers["ListCodeRepositories"] = {"CodeRepositorySummaryList": []}
    answers["DescribeCodeRepository"] = {"CodeRepositoryName": "foo-tools"}
    src = tmp_path / "data.csv"
    src.write_text("x\n1\n")
    steps = [  # (command, how many JSON documents it prints)
        ("init", 0),
        ("dataset create churn-20240101", 0),
        (f"dataset up churn-20240101 {src}", 0),
        ("dataset list", 1),
        ("dataset ls churn-20240101", 2),
        (f"dataset dn churn-20240101 data.csv {tmp_path / 'down.csv'}", 0),
        ("dataset rm churn-20240101 data.csv", 0),
        ("dataset generate churn-20240101 -m churn", 1),
        ("training-job create churn-1-2 churn-20240101 -m churn", 1),
        ("training-job list", 1),
        ("training-job describe churn-1-2", 1),
        ("training-job wait churn-1-2", 0),
        ("model create churn-1-2-3 -m churn", 1),
        ("model list", 1),
        ("model describe churn-1-2-3", 1),
        ("endpoint create churn-1-2-3-live", 1),
        ("endpoint list", 1),
        ("endpoint describe churn-1-2-3-live", 1),
        ("endpoint wait churn-1-2-3-live", 0),
        ("notebook create nb", 1),
        ("notebook list", 1),
        ("notebook describe nb", 1),
        ("notebook presigned-url nb", 1),
        ("notebook stop nb", 0),
        ("notebook start nb", 0),
        ("repo list", 0),
        ("repo describe tools", 1),
        ("endpoint delete churn-1-2-3-live", 2),
        ("model delete churn-1-2-3", 1),
        ("notebook delete nb --delay 0", 1),
        ("dataset delete churn-20240101", 0),
    ]
    for command, documents in steps:
        result = run(*command.split())
        assert result.exit_code == 0, (command, result.output)
        assert len(parse_docs(result.stdout)) == documents, (command, result.stdout)
    assert sm.list_models()["Models"] == [] and sm.list_endpoints()["Endpoints"] == []
    assert s3.list_objects_v2(Bucket="ml2p-test", Prefix="proj/datasets/churn")["KeyCount"] == 0


# --- names ------------------------------------------------------------------------


def test_dev_models_default_to_the_plain_training_job(run, sm):
    """0.6: m-1-0-2-dev is served from training job m-1-0."""
    ok(run("model", "create", "churn-1-0-2-dev", "-m", "churn"))
    url = sm.describe_model(ModelName="foo-churn-1-0-2-dev")["PrimaryContainer"]["ModelDataUrl"]
    assert url == "s3://ml2p-test/proj/models/foo-churn-1-0/output/model.tar.gz"


def test_names_only_06_accepted_warn_and_work(run, sm, s3):
    result = run("dataset", "create", "churn--20240101")
    assert ok(result) == ""
    assert result.stderr.startswith("Warning: dataset name 'churn--20240101' does not follow")
    assert "ML2P 0.6" in result.stderr
    assert s3_body(s3, "proj/datasets/churn--20240101/README.rst")
    model = run("model", "create", "churn--1-2-3", "-m", "churn")
    assert parse_docs(ok(model))[0]["ModelArn"].endswith("model/foo-churn--1-2-3")
    assert model.stderr.count("Warning:") == 1
    url = sm.describe_model(ModelName="foo-churn--1-2-3")["PrimaryContainer"]["ModelDataUrl"]
    assert "/models/foo-churn--1-2/output/" in url


def test_names_06_did_not_check_are_used_with_a_warning(run, sm, capture):
    """0.6 never checked --training-job, --model-name or a training job's dataset."""
    answers, calls = capture
    answers["CreateTrainingJob"] = None
    job = run("training-job", "create", "churn-1-2", "subset/part", "-m", "churn")
    assert parse_docs(ok(job))[0]["TrainingJobArn"].endswith("training-job/foo-churn-1-2")
    assert "dataset name 'subset/part' does not follow the rule" in job.stderr
    channel = calls["CreateTrainingJob"][0]["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert channel["S3Uri"] == "s3://ml2p-test/proj/datasets/subset/part"

    model = run("model", "create", "churn-1-2-3", "-t", "legacy_job", "-m", "churn")
    assert "training job name 'legacy_job' does not follow the rule" in model.stderr
    url = sm.describe_model(ModelName="foo-churn-1-2-3")["PrimaryContainer"]["ModelDataUrl"]
    assert url == "s3://ml2p-test/proj/models/foo-legacy_job/output/model.tar.gz"

    sm.create_model(  # made by hand: the command refuses this model name, as 0.6 did
        ModelName="foo-churn-1-2-3-x",
        PrimaryContainer={"Image": "repo:1.0"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/ml2p",
    )
    endpoint = run("endpoint", "create", "churn-1-2-3-live", "-m", "churn-1-2-3-x")
    assert ok(endpoint) and "model name 'churn-1-2-3-x' does not follow" in endpoint.stderr
    config = sm.describe_endpoint_config(EndpointConfigName="foo-churn-1-2-3-live-config")
    assert config["ProductionVariants"][0]["ModelName"] == "foo-churn-1-2-3-x"


# --- requests: what reaches SageMaker ---------------------------------------------


def test_training_job_environment_alone_sets_up_the_container(run, capture, tmp_path):
    """No ML2P_ENV hyperparameter (0.6 sent none): SageMakerEnv reads Environment."""
    from ml2p.core import SageMakerEnv, SageMakerEnvType

    answers, calls = capture
    answers["CreateTrainingJob"] = None
    ok(run("training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn"))
    sent = calls["CreateTrainingJob"][0]
    assert "HyperParameters" not in sent
    assert list(sent["Environment"].items()) == [
        ("ML2P_TRAINING_JOB", "foo-churn-1-2"),
        ("ML2P_PROJECT", "foo"),
        ("ML2P_S3_URL", "s3://ml2p-test/proj/"),
        ("ML2P_MODEL_CLS", "pkg.models.Churn"),
    ]
    env = SageMakerEnv(tmp_path, environ=sent["Environment"])
    assert env.env_type == SageMakerEnvType.TRAIN
    assert (env.training_job_name, env.project, env.model_cls) == (
        "foo-churn-1-2",
        "foo",
        "pkg.models.Churn",
    )
    assert env.s3.url("models") == "s3://ml2p-test/proj/models"

    # User hyperparameters still travel, and only they.
    ok(run("training-job", "create", "churn-1-3", "churn-20240101", "-m", "churn", "-p", "k=3"))
    sent = calls["CreateTrainingJob"][1]
    assert hp.decode(sent["HyperParameters"]) == {"k": 3}
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(sent["HyperParameters"]))
    env = SageMakerEnv(tmp_path, environ=sent["Environment"])
    assert env.hyperparameters == {"k": 3} and env.training_job_name == "foo-churn-1-3"


def test_the_training_container_runs_from_the_jobs_environment(
    s3, capture, tmp_path, restore_ml2p_logger
):
    """The container's training, given only the job's Environment (as SageMaker sets it)."""
    from ml2p import runtime

    cfg = write_yml(tmp_path, **{"pkg.models.Churn": "tests.models.MinimalModel"})
    answers, calls = capture
    answers["CreateTrainingJob"] = None
    args = ["--cfg", cfg, "training-job", "create", "churn-1-2", "churn-20240101", "-m", "churn"]
    ok(cli_runner().invoke(cli, args))
    environment = calls["CreateTrainingJob"][0]["Environment"]
    ml_folder = tmp_path / "opt-ml"
    assert runtime.train(ml_folder, environ=environment) == 0
    assert json.loads((ml_folder / "model" / "model.json").read_text()) == {"slope": 2}


@pytest.mark.parametrize(
    ("command", "operation"),
    [
        (["training-job", "create", "multi-1-2", "churn-20240101", "-m", "multi"], "Training"),
        (["dataset", "generate", "multi-20240101", "-m", "multi"], "Processing"),
    ],
)
def test_multi_container_models_train_and_generate_their_default_class(
    run, capture, command, operation
):
    answers, calls = capture
    answers[f"Create{operation}Job"] = None
    ok(run(*command))
    assert calls[f"Create{operation}Job"][0]["Environment"]["ML2P_MODEL_CLS"] == "pkg.models.Base"


def test_multi_container_model_versions_are_per_container(run, sm):
    ok(run("model", "create", "multi-1-2-3", "-m", "multi"))
    containers = sm.describe_model(ModelName="foo-multi-1-2-3")["Containers"]
    assert [c["Environment"] for c in containers] == [
        {
            "ML2P_MODEL_VERSION": "foo-first",
            "ML2P_PROJECT": "foo",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_RECORD_INVOKES": "true",
            "ML2P_MODEL_CLS": "pkg.models.Base",
        },
        {
            "ML2P_MODEL_VERSION": "foo-second",
            "ML2P_PROJECT": "foo",
            "ML2P_S3_URL": "s3://ml2p-test/proj/",
            "ML2P_RECORD_INVOKES": "true",
            "ML2P_MODEL_CLS": "pkg.models.Second",
        },
    ]


def test_record_invokes_is_omitted_when_off(s3, sm, tmp_path):
    cfg = write_yml(tmp_path, record_invokes="false")
    args = ["--cfg", cfg, "model", "create", "churn-1-2-3", "-m", "churn"]
    ok(cli_runner().invoke(cli, args))
    env = sm.describe_model(ModelName="foo-churn-1-2-3")["PrimaryContainer"]["Environment"]
    assert "ML2P_RECORD_INVOKES" not in env


def test_lifecycle_scripts_are_sent_with_lf_line_ends(run, sm):
    ok(run("notebook", "create", "nb"))
    config = sm.describe_notebook_instance_lifecycle_config(
        NotebookInstanceLifecycleConfigName="foo-nb-lifecycle-config"
    )
    assert base64.b64decode(config["OnStart"][0]["Content"]) == b"#!/bin/bash\necho start\n"


def test_notebook_volume_size_is_required_before_anything_is_made(s3, sm, tmp_path):
    cfg = write_yml(tmp_path, **{"  volume_size: 12\n": ""})
    result = cli_runner().invoke(cli, ["--cfg", cfg, "notebook", "create", "nb"])
    assert result.exit_code == 1
    assert "key 'notebook.volume_size': is required" in result.stderr
    assert sm.list_notebook_instances()["NotebookInstances"] == []
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName="foo-nb-lifecycle-config"
        )


# --- output -----------------------------------------------------------------------


def test_dates_print_as_str_of_the_datetime(run, sm):
    ok(run("model", "create", "churn-1-2-3", "-m", "churn"))
    created = sm.describe_model(ModelName="foo-churn-1-2-3")["CreationTime"]
    described = parse_docs(ok(run("model", "describe", "churn-1-2-3")))[0]
    listed = parse_docs(ok(run("model", "list")))[0]
    assert described["CreationTime"] == listed["CreationTime"] == str(created)
    assert " " in described["CreationTime"] and "T" not in described["CreationTime"]


def test_readme_objects_are_06s_bytes(run, s3):
    ok(run("init"))
    ok(run("dataset", "create", "churn-20240101"))
    assert s3_body(s3, "proj/models/README.rst") == b"Models for foo."
    assert s3_body(s3, "proj/datasets/README.rst") == b"Datasets for foo."
    assert s3_body(s3, "proj/datasets/churn-20240101/README.rst") == (
        b"Dataset churn-20240101 for project foo."
    )
    assert parse_docs(ok(run("dataset", "ls", "churn-20240101"))) == [
        {"filename": "README.rst", "size": 39}
    ]


# --- datasets ---------------------------------------------------------------------


def test_dataset_rm_of_a_missing_file_succeeds(run, s3):
    result = run("dataset", "rm", "churn-20240101", "missing.csv")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_dataset_dn_defaults_to_the_files_relative_path(run, s3, tmp_path, monkeypatch):
    s3.put_object(Bucket="ml2p-test", Key="proj/datasets/churn-20240101/sub/a.csv", Body=b"a")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert ok(run("dataset", "dn", "churn-20240101", "sub/a.csv")) == ""
    assert (tmp_path / "sub" / "a.csv").read_bytes() == b"a"
    assert not (tmp_path / "a.csv").exists()


def test_dataset_dn_refuses_keys_that_escape(run, s3, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("dataset", "dn", "churn-20240101", "../outside.csv")
    assert result.exit_code == 1 and "'..'" in result.stderr
    assert not (tmp_path.parent / "outside.csv").exists()


# --- waits ------------------------------------------------------------------------


def test_a_stopped_training_job_ends_the_wait_with_a_note(run, capture):
    """0.6's waiter accepted Completed or Stopped; a stopped job keeps its model."""
    answers, _ = capture
    answers["DescribeTrainingJob"] = {
        "TrainingJobName": "foo-churn-1-2",
        "TrainingJobStatus": "Stopped",
        "SecondaryStatus": "MaxRuntimeExceeded",
    }
    result = run("training-job", "wait", "churn-1-2", "--delay", "0")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "Note: training job 'churn-1-2' was stopped (MaxRuntimeExceeded)\n"


def test_a_failed_training_job_fails_the_wait(run, capture):
    answers, _ = capture
    answers["DescribeTrainingJob"] = {
        "TrainingJobName": "foo-churn-1-2",
        "TrainingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: boom",
    }
    result = run("training-job", "wait", "churn-1-2", "--delay", "0")
    assert result.exit_code == 1 and "is Failed: AlgorithmError: boom" in result.stderr


# --- listings ---------------------------------------------------------------------


def test_untagged_code_repositories_are_listed_by_name(run, capture):
    """0.6 did not tag code repositories: they are listed by name, as 0.6 did."""
    answers, _ = capture
    arn = "arn:aws:sagemaker:us-east-1:1:code-repository/"
    names = ["foo-untagged", "foo-tagged", "foo-bar-tools", "other-x"]
    answers["ListCodeRepositories"] = {
        "CodeRepositorySummaryList": [
            {"CodeRepositoryName": n, "CodeRepositoryArn": arn + n} for n in names
        ]
    }
    owners = {"foo-tagged": "foo", "foo-bar-tools": "foo-bar"}

    def tags(params):
        name = params["ResourceArn"].rsplit("/", 1)[1]
        owner = owners.get(name)
        return {"Tags": [{"Key": "ml2p-project", "Value": owner}] if owner else []}

    answers["ListTags"] = tags
    listed = [r["CodeRepositoryName"] for r in parse_docs(ok(run("repo", "list")))]
    assert listed == ["foo-untagged", "foo-tagged"]


# --- 0.6's module paths -----------------------------------------------------------


def test_06_names_at_06_paths():
    import ml2p.cli
    import ml2p.cli_commands as commands
    from ml2p.cli_commands import (
        dataset,
        endpoint,
        init,
        model,
        notebook,
        repo,
        training_job,
    )
    from ml2p.cli_commands.dataset import dataset_generate
    from ml2p.cli_commands.notebook import notebook_presigned_url
    from ml2p.cli_commands.training_job import training_job_wait

    assert ml2p.cli.ml2p is cli
    groups = [dataset, endpoint, init, model, notebook, repo, training_job]
    assert [g.name for g in groups] == [
        "dataset",
        "endpoint",
        "init",
        "model",
        "notebook",
        "repo",
        "training-job",
    ]
    assert all(cli.get_command(None, g.name) is g for g in groups)
    assert commands.dataset is dataset
    assert dataset.get_command(None, "generate") is dataset_generate
    assert notebook.get_command(None, "presigned-url") is notebook_presigned_url
    assert training_job.get_command(None, "wait") is training_job_wait


@v060.needed
def test_the_06_cli_names_are_all_of_06s():
    code = (
        "import importlib, inspect, json\n"
        f"modules = {sorted(V06_CLI_NAMES)!r}\n"
        "found = {}\n"
        "for name in modules:\n"
        "    module = importlib.import_module(name)\n"
        "    found[name] = sorted(n for n, v in vars(module).items()\n"
        "                         if not n.startswith('_') and not inspect.ismodule(v))\n"
        "print(json.dumps(found))\n"
    )
    assert v060.run_json(code) == V06_CLI_NAMES


@pytest.mark.parametrize("module_name", sorted(V06_CLI_NAMES))
def test_every_06_cli_name_is_at_its_06_path(module_name):
    import importlib
    import types

    module = importlib.import_module(module_name)
    missing = [n for n in V06_CLI_NAMES[module_name] if not hasattr(module, n)]
    assert missing == []
    modules = [
        n for n in V06_CLI_NAMES[module_name] if isinstance(getattr(module, n), types.ModuleType)
    ]
    assert modules == []


def test_06_cli_names_are_todays_objects():
    """Thin re-exports: each 0.6 name is the object today's code uses, never a copy."""
    import ml2p.cli
    import ml2p.cli_commands
    import ml2p.cli_commands.utils as utils
    import ml2p.core
    from ml2p import __version__

    for name in V06_CLI_NAMES["ml2p.cli_commands"]:
        assert getattr(ml2p.cli, name) is getattr(ml2p.cli_commands, name)
        assert getattr(ml2p.cli, name) is cli.get_command(None, name.replace("_", "-"))
    assert ml2p.cli.ModellingProject is ml2p.core.ModellingProject
    assert ml2p.cli.ml2p_version == __version__
    for module_name, names in V06_CLI_NAMES.items():
        if module_name.startswith("ml2p.cli_commands."):
            module = sys.modules[module_name]
            for name in set(names) & set(V06_CLI_NAMES["ml2p.cli_commands.utils"]):
                assert getattr(module, name) is getattr(utils, name), (module_name, name)


def test_ml2p_cli_init_stays_the_command_once_ml2p_init_has_run(run, s3):
    # The module that defines `ml2p init` must not shadow the command's 0.6 name.
    ok(run("init"))
    from ml2p.cli import init

    assert isinstance(init, click.Command) and init.name == "init"
    assert sys.modules["ml2p.cli"].init is init


def test_modelling_project_with_client_takes_06s_arguments(aws, cfg):
    """0.6's ``__init__(*args, **kw)`` passed them on to ``ModellingProject(cfg)``."""
    from ml2p.cli import ModellingProjectWithSagemakerClient

    class Forwarding(ModellingProjectWithSagemakerClient):
        def __init__(self, *args, **kw):  # as 0.6 deploy scripts subclassed it
            super().__init__(*args, **kw)

    for made in (
        ModellingProjectWithSagemakerClient(cfg),
        ModellingProjectWithSagemakerClient(cfg=cfg),
        Forwarding(cfg),
        Forwarding(cfg=cfg),
    ):
        assert made.project == "foo" and made.cfg_path == cfg
        assert made.client.meta.service_model.service_name == "sagemaker"
    with pytest.raises(TypeError):
        ModellingProjectWithSagemakerClient(cfg, "extra")  # type: ignore[misc]
    with pytest.raises(TypeError):
        ModellingProjectWithSagemakerClient(cfg, no_such_option=True)  # type: ignore[call-arg]


def test_importing_the_06_cli_names_loads_no_boto3():
    code = (
        "import sys\n"
        "from ml2p.cli import ml2p, ModellingProjectWithSagemakerClient, ModellingProject\n"
        "from ml2p.cli import ml2p_version, dataset, endpoint, init, model, notebook, repo\n"
        "from ml2p.cli import training_job\n"
        "import ml2p.cli_commands.utils, ml2p.cli_commands.endpoint\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_06_style_custom_group_runs_the_commands(s3, sm, cfg):
    """0.6 users could build their own group with a ModellingProjectWithSagemakerClient."""
    from ml2p.cli import ModellingProjectWithSagemakerClient
    from ml2p.cli_commands import dataset, model

    made = []

    @click.group()
    @click.option("--cfg", default="./ml2p.yml")
    @click.pass_context
    def custom(ctx, cfg):
        ctx.obj = ModellingProjectWithSagemakerClient(cfg=cfg)
        ctx.obj.cfg["deploy"]["image"] = "repo:override"  # 0.6 scripts did such things
        made.append(ctx.obj)

    custom.add_command(dataset)
    custom.add_command(model)
    runner = cli_runner()
    ok(runner.invoke(custom, ["--cfg", cfg, "dataset", "create", "churn-20240101"]))
    assert s3_body(s3, "proj/datasets/churn-20240101/README.rst")
    result = runner.invoke(custom, ["--cfg", cfg, "model", "create", "churn-1-2-4", "-m", "churn"])
    assert parse_docs(ok(result))[0]["ModelArn"].endswith("model/foo-churn-1-2-4")
    image = sm.describe_model(ModelName="foo-churn-1-2-4")["PrimaryContainer"]["Image"]
    assert image == "repo:override"
    # Its own SageMaker client did the work.
    assert made[-1].client.list_models()["Models"]


def test_modelling_project_with_client(aws, cfg):
    from ml2p.cli import ModellingProjectWithSagemakerClient

    prj = ModellingProjectWithSagemakerClient(cfg=cfg)
    assert prj.project == "foo" and prj.models.keys() == ["churn", "multi"]
    assert prj.client.meta.service_model.service_name == "sagemaker"
    assert prj.client is prj.client
    assert prj.client.list_models()["Models"] == []
