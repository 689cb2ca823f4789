"""``ml2p.yml`` files ML2P 0.6 used happily load here too, and what needs no odd part works.

ML2P 0.6 checked almost nothing when it loaded ``ml2p.yml``: an odd value
failed, if at all, in the command that used it. Each case below is a 0.6
project's file with one odd part. It must load (in ``ModellingProject`` and in
the ``ml2p`` command), warn about the odd part naming the file and the key, let
the commands that do not need that part run against AWS (moto in server mode),
and make a command that needs an unusable part fail naming the file and the key.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any, NamedTuple

import boto3
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml2p import sagemaker
from ml2p.cli import cli
from ml2p.config import SECTIONS, config_from_dict, load_config
from ml2p.errors import ConfigError
from ml2p.project import ModellingProject
from tests import v060
from tests.cli_support import cli_runner, parse_docs

BASE = """\
project: test-proj
s3folder: s3://ml2p-test/proj/
models:
  minimal: tests.models.MinimalModel
defaults:
  image: registry.example.com/img:1.0
  role: arn:aws:iam::123456789012:role/ml2p
  instance_type: ml.m5.large
notebook:
  volume_size: 5
  direct_internet_access: true
"""

TRAIN = ("training-job", "create", "minimal-1-0", "minimal-20240101", "-m", "minimal")
MODEL = ("model", "create", "minimal-1-0-0", "-m", "minimal")
DATASET = ("dataset", "create", "minimal-20240101")
LIST = ("training-job", "list")


class Odd(NamedTuple):
    """A 0.6 project's file with one odd part, and what ML2P makes of it."""

    #: Changes to BASE: top-level key -> value (None: remove the key).
    changes: dict[str, Any]
    #: The keys warned about at load.
    warned: list[str]
    #: Commands that do not need the odd part (or read it as 0.6 did), and succeed.
    work: list[tuple[str, ...]]
    #: A command that needs the odd part and cannot use it, and the key it names.
    fails: tuple[tuple[str, ...], str] | None = None


MINIMAL = "tests.models.MinimalModel"
ODD = {
    "record-invokes-as-text": Odd(
        {"deploy": {"record_invokes": "true"}}, ["deploy.record_invokes"], [MODEL]
    ),
    "project-with-underscore": Odd(
        # SageMaker itself refuses such names (moto does not): S3 commands are what works.
        {"project": "test_proj"},
        ["project"],
        [DATASET, LIST, MODEL],
    ),
    "multi-container-model-without-cls": Odd(
        {"models": {"minimal": MINIMAL, "multi": {"c1": {"image_tag": "1.0"}}}},
        ["models.multi.c1.cls"],
        [TRAIN, MODEL],
        (("model", "create", "multi-1-0-0", "-m", "multi"), "models.multi.c1.cls"),
    ),
    "multi-container-model-without-containers": Odd(
        {"models": {"multi": {"model-defaults": {"cls": MINIMAL}}}},
        ["models.multi"],
        [("training-job", "create", "multi-1-0", "multi-20240101")],
        (("model", "create", "multi-1-0-0"), "models.multi"),
    ),
    "model-without-class": Odd(
        # The image names its model (ml2p-docker --model): no ML2P_MODEL_CLS, as in 0.6.
        {"models": {"minimal": None}},
        [],
        [TRAIN, MODEL, ("validate",)],
    ),
    "model-reference-with-space": Odd(
        {"models": {"minimal": MINIMAL, "typo": "tests.models. MinimalModel"}},
        ["models.typo"],
        [TRAIN, DATASET],
        (("training-job", "create", "typo-1-0", "typo-20240101", "-m", "typo"), "models.typo"),
    ),
    "container-image-tag-as-number": Odd(
        {"models": {"multi": {"model-defaults": {"cls": MINIMAL}, "c1": {"image_tag": 2}}}},
        ["models.multi.c1.image_tag"],
        [("model", "create", "multi-1-0-0")],
    ),
    "models-as-a-list": Odd(
        {"models": [MINIMAL]},
        ["models"],
        [DATASET, LIST],
        (TRAIN[:4], "models"),
    ),
    "vpc-config-with-extra-key": Odd(
        {"train": {"vpc_config": {"security_groups": ["sg-1"], "subnets": ["s-1"], "note": "x"}}},
        ["train.vpc_config.note"],
        [TRAIN],
    ),
    "deploy-vpc-config-without-subnets": Odd(
        {"deploy": {"vpc_config": {"security_groups": ["sg-1"], "subnets": []}}},
        ["deploy.vpc_config.subnets"],
        [TRAIN, LIST],
        (MODEL, "deploy.vpc_config.subnets"),
    ),
    "notebook-section-as-text": Odd(
        {"notebook": "TODO"},
        ["notebook"],
        [TRAIN, MODEL],
        (("notebook", "create", "nb"), "notebook"),
    ),
    "defaults-instance-type-as-number": Odd(
        {"defaults": {"image": "img:1", "role": "arn:aws:iam::1:role/r", "instance_type": 5}},
        ["defaults.instance_type"],
        [DATASET, LIST, MODEL],
        (TRAIN, "defaults.instance_type"),
    ),
    "s3folder-without-scheme": Odd(
        {"s3folder": "ml2p-test/proj/"},
        ["s3folder"],
        [LIST, ("model", "list")],
        (TRAIN, "s3folder"),
    ),
    "s3folder-as-https-url": Odd(
        {"s3folder": "https://ml2p-test/proj/"}, ["s3folder"], [DATASET, TRAIN]
    ),
}


def odd_text(odd: Odd) -> str:
    data = yaml.safe_load(BASE)
    for key, value in odd.changes.items():
        data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture(params=sorted(ODD))
def odd(request, tmp_path) -> tuple[Odd, str]:
    return odd_file(request.param, tmp_path)


@pytest.fixture(params=sorted(name for name, case in ODD.items() if case.fails))
def odd_and_unusable(request, tmp_path) -> tuple[Odd, str]:
    return odd_file(request.param, tmp_path)


def odd_file(name: str, folder) -> tuple[Odd, str]:
    case = ODD[name]
    path = folder / "ml2p.yml"
    path.write_text(odd_text(case))
    return case, str(path)


# --- loading ------------------------------------------------------------------------


@v060.needed
def test_ml2p_0_6_0_loads_every_odd_file(tmp_path):
    paths = {}
    for name, case in ODD.items():
        paths[name] = str(tmp_path / f"{name}.yml")
        (tmp_path / f"{name}.yml").write_text(odd_text(case))
    code = textwrap.dedent(
        f"""\
        import json
        from ml2p.core import ModellingProject
        loaded = {{}}
        for name, path in {paths!r}.items():
            try:
                prj = ModellingProject(path)
                loaded[name] = prj.project
            except Exception as exc:
                loaded[name] = repr(exc)
        print(json.dumps(loaded))
        """
    )
    loaded = v060.run_json(code)
    assert loaded == {name: yaml.safe_load(odd_text(c))["project"] for name, c in ODD.items()}


def test_each_odd_file_loads_and_warns_about_the_odd_part(odd):
    case, path = odd
    for cfg in (load_config(path), ModellingProject(path).config):
        warned = [w.split("'")[1] for w in cfg.warnings]
        assert warned == case.warned
        assert all(w.startswith(f"{path}: key ") for w in cfg.warnings)


# --- commands -----------------------------------------------------------------------


def run(path: str, *args: str) -> Any:
    return cli_runner().invoke(cli, ["--cfg", path, *args])


def test_commands_that_do_not_need_the_odd_part_work(odd, s3):
    case, path = odd
    for args in case.work:
        result = run(path, *args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
        assert len(warnings) == len(case.warned)  # printed once per run


def test_a_command_that_needs_an_unusable_part_names_file_and_key(odd_and_unusable, s3):
    case, path = odd_and_unusable
    assert case.fails is not None
    args, key = case.fails
    result = run(path, *args)
    assert result.exit_code == 1, (result.output, result.stderr)
    [error] = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert error.startswith(f"Error: {path}: key {key!r}: "), error
    assert "Traceback" not in result.stderr
    sm = boto3.client("sagemaker", region_name="us-east-1")
    assert sm.list_training_jobs()["TrainingJobSummaries"] == []
    assert sm.list_models()["Models"] == []


def model_environment(name: str) -> dict[str, Any]:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    return sm.describe_model(ModelName=name)["PrimaryContainer"]["Environment"]


@pytest.mark.parametrize(("written", "recorded"), [("true", True), ("false", False)])
def test_record_invokes_as_text_is_read_by_its_meaning(tmp_path, s3, written, recorded):
    path = tmp_path / "ml2p.yml"
    path.write_text(BASE + f'deploy:\n  record_invokes: "{written}"\n')
    result = run(str(path), *MODEL)
    assert result.exit_code == 0, result.stderr
    assert f"read as {str(recorded).lower()}" in result.stderr
    env = model_environment("test-proj-minimal-1-0-0")
    # ML2P 0.6 recorded for any non-empty text, "false" included: here "false" is false.
    assert ("ML2P_RECORD_INVOKES" in env) is recorded


def test_a_model_without_class_gets_no_model_class_variable(tmp_path, s3):
    _, path = odd_file("model-without-class", tmp_path)
    result = run(path, *MODEL)
    assert result.exit_code == 0, result.stderr
    env = model_environment("test-proj-minimal-1-0-0")
    assert "ML2P_MODEL_CLS" not in env
    assert env["ML2P_MODEL_VERSION"] == "test-proj-minimal-1-0-0"


def test_s3folder_as_https_url_is_the_bucket_and_prefix_0_6_used(tmp_path, s3):
    _, path = odd_file("s3folder-as-https-url", tmp_path)
    assert run(path, *DATASET).exit_code == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ml2p-test")["Contents"]]
    assert keys == ["proj/datasets/minimal-20240101/README.rst"]


def test_a_number_image_tag_is_formatted_as_0_6_did(tmp_path, s3):
    _, path = odd_file("container-image-tag-as-number", tmp_path)
    result = run(path, "model", "create", "multi-1-0-0")
    assert result.exit_code == 0, result.stderr
    [created] = parse_docs(result.stdout)
    sm = boto3.client("sagemaker", region_name="us-east-1")
    model = sm.describe_model(ModelName="test-proj-multi-1-0-0")
    assert [c["Image"] for c in model["Containers"]] == ["registry.example.com/img:2"]
    assert created["ModelArn"] == model["ModelArn"]


# --- any file that ML2P 0.6 loads -----------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "x", "a b", "true", "false", "s3://b/p", "pkg.M", "Enabled"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "image",
                    "role",
                    "instance_type",
                    "vpc_config",
                    "security_groups",
                    "subnets",
                    "record_invokes",
                    "volume_size",
                    "cls",
                    "image_tag",
                    "training_job",
                    "model-defaults",
                    "c1",
                    "m",
                ]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
_files = st.fixed_dictionaries(
    {"project": _values, "s3folder": st.sampled_from(["s3://b/p/", "b/p", "https://b/p", ""])},
    optional={key: _values for key in ("models", "plugins", "defaults", *SECTIONS)},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_files)
def test_any_file_0_6_loads_loads_and_fails_only_with_config_errors(data):
    # ML2P 0.6 loaded any mapping with a project and a text s3folder.
    cfg = config_from_dict(data, path="ml2p.yml")
    assert all(w.startswith("ml2p.yml: key ") for w in cfg.warnings)
    reads = [lambda: cfg.project, lambda: cfg.s3folder, lambda: cfg.plugins, lambda: cfg.models]
    for name in SECTIONS:
        reads.append(lambda name=name: [cfg.section(name).get(k) for k in cfg.section(name)])
    try:
        model_types = list(cfg.models) or [None]
    except ConfigError:
        model_types = [None]
    for model_type in model_types:
        reads.extend(requests_for(cfg, model_type))
    for read in reads:
        try:
            result = read()
        except ConfigError as exc:
            assert exc.path == "ml2p.yml" and exc.key, exc
        else:
            json.dumps(result)  # plain data, as boto3 gets it


def requests_for(cfg: Any, model_type: str | None) -> list[Any]:
    """Build each SageMaker request ``cfg`` can give (for ``model_type``), on call."""
    return [
        lambda: sagemaker.training_job_request(cfg, "m-1-0", "m-20240101", model_type),
        lambda: sagemaker.processing_job_request(cfg, "m-20240101", model_type),
        lambda: sagemaker.model_request(cfg, "m-1-0-0", None, model_type),
        lambda: sagemaker.endpoint_config_request(cfg, "m-1-0-0-live", "m-1-0-0"),
        lambda: sagemaker.notebook_request(cfg, "nb"),
        lambda: sagemaker.code_repository_request(cfg, "repo"),
    ]
