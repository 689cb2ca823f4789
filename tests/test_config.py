"""Tests for ml2p.config: loading, validating and reading ml2p.yml files."""

from __future__ import annotations

import copy
import dataclasses
import errno
import os
import pickle
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest

from ml2p.config import (
    DEFAULT_CONFIG_FILE,
    SECTIONS,
    Config,
    check_models,
    config_from_dict,
    load_config,
)
from ml2p.errors import ConfigError

VPC = {"security_groups": ["sg-1"], "subnets": ["subnet-1", "subnet-2"]}

FULL_YAML = """\
project: "my-project"
s3folder: "s3://my-bucket/my-prefix/"
models:
  my-model: "my_package.models.MyModel"
  entry: "entry-point-model"
  multi:
    model-defaults:
      cls: "pkg.Model"
    c1: {training_job: "tj-0-1", image_tag: "0.1.0", cls: "pkg.Other"}
    c2: {training_job: "tj-0-2", image_tag: "0.2.0"}
plugins:
  - my_project.hooks
  - other_hooks
defaults:
  image: "123.dkr.ecr.eu-west-1.amazonaws.com/img:0.1.0"
  role: "arn:aws:iam::123:role/default"
  instance_type: "ml.m5.large"
dataset:
  instance_type: "ml.m5.xlarge"
  vpc_config:
    security_groups: ["sg-d"]
    subnets: ["subnet-d"]
train:
  image: "registry.example.com:5000/train:1.0"
  role: "arn:aws:iam::123:role/train"
  instance_type: "ml.p3.2xlarge"
  vpc_config:
    security_groups: ["sg-1"]
    subnets: ["subnet-1", "subnet-2"]
  instance_count: 2
  volume_size_gb: 50
  max_runtime_seconds: 3600
deploy:
  record_invokes: true
  instance_count: 1
  vpc_config:
    security_groups: ["sg-1"]
    subnets: ["subnet-1"]
notebook:
  instance_type: "ml.t3.medium"
  role: "arn:aws:iam::123:role/notebook"
  volume_size: 8
  direct_internet_access: "Disabled"
  subnet_id: "subnet-1"
  security_group_ids: ["sg-1", "sg-2"]
  on_start: "on_start.sh"
  on_create: "on_create.sh"
  repo_url: "https://github.com/example/repo.git"
  repo_branch: "main"
  repo_secret_arn: "arn:aws:secretsmanager:eu-west-1:123:secret:repo"
transform:
  instance_type: "ml.c5.xlarge"
  max_payload_mb: 6
"""


def minimal(**extra: Any) -> dict[str, Any]:
    """Return a minimal valid configuration mapping with ``extra`` keys added."""
    data: dict[str, Any] = {"project": "my-project", "s3folder": "s3://bucket/prefix/"}
    data.update(extra)
    return data


def write(tmp_path: Path, text: str, name: str = "ml2p.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_yaml_dict(tmp_path: Path, data: dict[str, Any]) -> Path:
    import yaml

    path = tmp_path / "ml2p.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def assert_bad(tmp_path: Path, data: Any, key: str | None) -> ConfigError:
    """Load ``data`` from a file and check the error names the file and ``key``.

    Only for what ML2P 0.6 could not load either.
    """
    import yaml

    path = tmp_path / "ml2p.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert str(path) in str(err)
    assert err.path == str(path)
    if key is not None:
        assert key in str(err)
        assert err.key == key
    return err


def assert_unusable(
    tmp_path: Path, data: Any, key: str, use: Callable[[Config], object]
) -> ConfigError:
    """``data`` loads (ML2P 0.6 loaded it) with a warning naming the file and ``key``;
    ``use(cfg)``, what a command that needs the value does, fails naming both."""
    path = write_yaml_dict(tmp_path, data)
    cfg = load_config(path)
    assert any(w.startswith(f"{path}: key {key!r}: ") for w in cfg.warnings), cfg.warnings
    with pytest.raises(ConfigError) as info:
        use(cfg)
    err = info.value
    assert err.path == str(path) and str(path) in str(err)
    assert err.key == key and repr(key) in str(err)
    return err


def warned_keys(cfg: Config) -> list[str]:
    """The keys ``cfg``'s warnings are about, in order."""
    return [w[len(cfg.path) :].split("'")[1] for w in cfg.warnings]


# --------------------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match="not found") as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    # Also the FileNotFoundError ML2P 0.6 raised, with its fields; the message stays ours.
    assert isinstance(info.value, FileNotFoundError)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == str(path)
    assert str(info.value) == f"{path}: configuration file not found"
    restored = pickle.loads(pickle.dumps(info.value))
    assert type(restored) is type(info.value) and str(restored) == str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    # A directory cannot be read as a file, even by root (unlike chmod 000).
    path = tmp_path / "ml2p.yml"
    path.mkdir()
    with pytest.raises(ConfigError, match="cannot read") as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        project: "p"
        s3folder: "s3://b/"
        train: {instance_count: [1, 2}
        """,
    )
    with pytest.raises(ConfigError, match=r"invalid YAML at line 3") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_yaml_tab_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'project: "p"\ntrain:\n\timage: x\n')
    with pytest.raises(ConfigError, match=r"line 3") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("- a\n- b\n", "list"),
        ("just a string\n", "str"),
        ("42\n", "int"),
        ("", "empty document"),
        ("# only a comment\n", "empty document"),
    ],
)
def test_top_level_not_mapping(tmp_path: Path, text: str, what: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match="top level must be a mapping") as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert what in str(info.value)


# --------------------------------------------------------------------------------------
# project and s3folder
# --------------------------------------------------------------------------------------


def test_missing_project(tmp_path: Path) -> None:
    assert_bad(tmp_path, {"s3folder": "s3://b/"}, "project")


@pytest.mark.parametrize("project", ["", " ", 5, None, ["a"]])
def test_unusable_project(tmp_path: Path, project: Any) -> None:
    err = assert_unusable(tmp_path, minimal(project=project), "project", lambda cfg: cfg.project)
    assert "non-empty string" in str(err)


@pytest.mark.parametrize(
    "project", ["-abc", "abc-", "-", "my project", "my_project", "proj.x", "é"]
)
def test_project_sagemaker_refuses_loads_with_a_warning(project: str) -> None:
    # ML2P 0.6 used it: its S3 and local commands work; SageMaker refuses the names.
    cfg = config_from_dict(minimal(project=project), path="ml2p.yml")
    assert cfg.project == project
    [warning] = cfg.warnings
    assert warning.startswith("ml2p.yml: key 'project': ") and "SageMaker" in warning


@pytest.mark.parametrize("project", ["a", "A1", "my-project", "a-b-c", "0x"])
def test_valid_project(project: str) -> None:
    cfg = config_from_dict(minimal(project=project))
    assert cfg.project == project and cfg.warnings == ()


def test_missing_s3folder(tmp_path: Path) -> None:
    assert_bad(tmp_path, {"project": "p"}, "s3folder")


@pytest.mark.parametrize("s3folder", [5, None, ["s3://b/"]])
def test_s3folder_not_text(tmp_path: Path, s3folder: Any) -> None:
    # ML2P 0.6 failed to load these too.
    assert_bad(tmp_path, minimal(s3folder=s3folder), "s3folder")


@pytest.mark.parametrize(
    "s3folder", ["", "bucket/prefix", "s3:/bucket/", "s3://", "s3:///prefix", "s3://my bucket"]
)
def test_unusable_s3folder(tmp_path: Path, s3folder: Any) -> None:
    assert_unusable(tmp_path, minimal(s3folder=s3folder), "s3folder", lambda cfg: cfg.s3folder)


@pytest.mark.parametrize(
    ("s3folder", "used"),
    [("https://bucket/prefix/", "s3://bucket/prefix/"), ("gs://b", "s3://b")],
)
def test_s3folder_of_another_scheme_is_read_as_0_6_read_it(s3folder: str, used: str) -> None:
    cfg = config_from_dict(minimal(s3folder=s3folder))
    assert cfg.s3folder == used
    assert warned_keys(cfg) == ["s3folder"]


@pytest.mark.parametrize("s3folder", ["s3://bucket", "s3://bucket/", "s3://b/a/b/c/", "S3://b/"])
def test_valid_s3folder(s3folder: str) -> None:
    cfg = config_from_dict(minimal(s3folder=s3folder))
    assert cfg.s3folder == s3folder and cfg.warnings == ()


# --------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("models", [["a.B"], "a.B", 5, True])
def test_models_not_mapping(tmp_path: Path, models: Any) -> None:
    assert_unusable(tmp_path, minimal(models=models), "models", lambda cfg: cfg.models)


@pytest.mark.parametrize("ref", ["", "   ", "my pkg.Model", 5, ["a.B"], True])
def test_model_value_unusable(tmp_path: Path, ref: Any) -> None:
    data = minimal(models={"good": "a.B", "bad": ref})
    err = assert_unusable(tmp_path, data, "models.bad", lambda cfg: cfg.model_reference("bad"))
    assert "model reference" in str(err)
    cfg = load_config(tmp_path / "ml2p.yml")
    assert cfg.model_reference("good") == "a.B"  # the other model is usable
    with pytest.raises(ConfigError, match="model reference"):
        cfg.model_class("bad")


def test_model_without_class_is_one_whose_image_names_it() -> None:
    # ML2P 0.6 then set no ML2P_MODEL_CLS: the image runs ml2p-docker --model NAME.
    cfg = config_from_dict(minimal(models={"m": None}), path="ml2p.yml")
    assert cfg.warnings == ()
    assert cfg.models == {"m": None}
    assert cfg.model_class("m") is None
    with pytest.raises(ConfigError, match="names no class") as info:
        cfg.model_reference("m")
    assert info.value.key == "models.m"
    assert check_models(cfg, lambda ref: ref) == {"m": None}


def test_model_name_not_string(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        project: p
        s3folder: s3://b/
        models:
          1: a.B
        """,
    )
    cfg = load_config(path)
    assert warned_keys(cfg) == ["models.1"]
    assert cfg.models == {"1": "a.B"}
    assert cfg.model_reference("1") == "a.B"


C1 = {"training_job": "t", "image_tag": "1", "cls": "a.B"}


C2 = {"training_job": "t", "image_tag": "1"}


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ({"model-defaults": {"cls": "a.B"}}, "models.m"),
        ({"model-defaults": None}, "models.m"),
        ({}, "models.m"),
        ({"c1": {"training_job": "t", "image_tag": "1"}}, "models.m.c1.cls"),
        ({"c1": {"cls": "a.B", "training_job": "t"}}, "models.m.c1.image_tag"),
        ({"c1": "a.B"}, "models.m.c1"),
        ({"c1": ["a.B"]}, "models.m.c1"),
        ({"c1": {**C1, "cls": "a b"}}, "models.m.c1.cls"),
        ({"c1": {**C1, "training_job": ""}}, "models.m.c1.training_job"),
        ({"c1": {**C1, "image_tag": 1.5}}, "models.m.c1.image_tag"),
        ({"c1": C1, "extra": 1}, "models.m.extra"),
        # The old ``containers:`` wrapper is just a container named "containers" now.
        ({"containers": {"c1": C1}}, "models.m.containers.image_tag"),
        ({"model-defaults": "a.B", "c1": {"training_job": "t"}}, "models.m.model-defaults"),
        ({"model-defaults": {"cls": 5}, "c1": C2}, "models.m.model-defaults.cls"),
    ],
)
def test_multi_container_unusable(tmp_path: Path, model: Any, key: str) -> None:
    data = minimal(models={"m": model, "single": "a.B"})
    assert_unusable(tmp_path, data, key, lambda cfg: cfg.model_containers("m"))
    # Commands that use another model are unaffected.
    assert load_config(tmp_path / "ml2p.yml").model_reference("single") == "a.B"


def test_multi_container_unusable_for_training_without_model_defaults_cls() -> None:
    # Containers with their own cls deploy; training the model needs model-defaults.cls,
    # as ML2P 0.6 took ML2P_MODEL_CLS from it.
    cfg = config_from_dict(minimal(models={"m": {"c1": C1}}))
    assert cfg.warnings == ()
    assert cfg.model_containers("m") == {"c1": C1}
    with pytest.raises(ConfigError, match="is required to train") as info:
        cfg.model_class("m")
    assert info.value.key == "models.m.model-defaults.cls"
    cfg = config_from_dict(minimal(models={"m": {"model-defaults": {"cls": "p.D"}, "c1": C1}}))
    assert cfg.model_class("m") == "p.D"


@pytest.mark.parametrize(
    ("model", "warned", "containers"),
    [
        # ML2P 0.6 ignored keys it did not know.
        ({"c1": {**C1, "x": 1}}, ["models.m.c1.x"], {"c1": C1}),
        (
            {"model-defaults": {"clss": "a.B", "cls": "p.D"}, "c1": C2},
            ["models.m.model-defaults.clss"],
            {"c1": {**C2, "cls": "p.D"}},
        ),
        # ML2P 0.6 formatted a number into the image name.
        (
            {"c1": {**C1, "image_tag": 2}},
            ["models.m.c1.image_tag"],
            {"c1": {**C1, "image_tag": "2"}},
        ),
        # Container names are text, as SageMaker's hostnames.
        ({5: C1}, [], {"5": C1}),
    ],
)
def test_multi_container_odd_but_usable(model: Any, warned: list, containers: dict) -> None:
    cfg = config_from_dict(minimal(models={"m": model}))
    assert warned_keys(cfg) == warned
    assert cfg.model_containers("m") == containers


def test_multi_container_missing_image_tag(tmp_path: Path) -> None:
    err = assert_unusable(
        tmp_path,
        minimal(models={"m": {"model-defaults": {"cls": "a.B"}, "c1": {"training_job": "t"}}}),
        "models.m.c1.image_tag",
        lambda cfg: cfg.model_containers("m"),
    )
    assert "model-defaults.image_tag" in str(err)


def test_multi_container_only_model_defaults(tmp_path: Path) -> None:
    err = assert_unusable(
        tmp_path,
        minimal(models={"m": {"model-defaults": {"cls": "a.B", "image_tag": "1"}}}),
        "models.m",
        lambda cfg: cfg.model_containers("m"),
    )
    assert "at least one container" in str(err)
    # A training job of the model runs model-defaults.cls, as in ML2P 0.6.
    assert load_config(tmp_path / "ml2p.yml").model_class("m") == "a.B"


def test_multi_container_missing_cls_mentions_model_defaults(tmp_path: Path) -> None:
    err = assert_unusable(
        tmp_path,
        minimal(models={"m": {"c1": {"image_tag": "1"}}}),
        "models.m.c1.cls",
        lambda cfg: cfg.model_containers("m"),
    )
    assert "model-defaults.cls" in str(err)


def test_multi_container_cls_falls_back_to_model_defaults() -> None:
    cfg = config_from_dict(
        minimal(
            models={
                "m": {
                    "model-defaults": {"cls": "pkg.Default"},
                    "c1": {"training_job": "tj-0-1", "image_tag": "0.1.0"},
                    "c2": {"training_job": "tj-0-2", "image_tag": "0.2.0", "cls": "pkg.Own"},
                }
            }
        )
    )
    assert cfg.model_containers("m") == {
        "c1": {"training_job": "tj-0-1", "image_tag": "0.1.0", "cls": "pkg.Default"},
        "c2": {"training_job": "tj-0-2", "image_tag": "0.2.0", "cls": "pkg.Own"},
    }


def test_multi_container_training_job_defaults_to_container_name() -> None:
    cfg = config_from_dict(
        minimal(
            models={
                "m": {
                    "model-defaults": {"cls": "pkg.Default", "image_tag": "0.9.0"},
                    "c1": None,
                    "c2": {"image_tag": "0.2.0"},
                    "containers": {"training_job": "tj-x"},
                }
            }
        )
    )
    containers = cfg.model_containers("m")
    assert list(containers) == ["c1", "c2", "containers"]
    assert containers == {
        "c1": {"training_job": "c1", "image_tag": "0.9.0", "cls": "pkg.Default"},
        "c2": {"training_job": "c2", "image_tag": "0.2.0", "cls": "pkg.Default"},
        "containers": {"training_job": "tj-x", "image_tag": "0.9.0", "cls": "pkg.Default"},
    }


def test_multi_container_model_defaults_training_job_applies() -> None:
    cfg = config_from_dict(
        minimal(models={"m": {"model-defaults": {"training_job": "tj"}, "c1": C1, "c2": C1}})
    )
    assert cfg.model_containers("m")["c1"]["training_job"] == "t"
    cfg = config_from_dict(
        minimal(
            models={
                "m": {
                    "model-defaults": {"training_job": "tj", "cls": "a.B"},
                    "c1": {"image_tag": "1"},
                }
            }
        )
    )
    assert cfg.model_containers("m") == {
        "c1": {"training_job": "tj", "image_tag": "1", "cls": "a.B"}
    }


ML2P_06_YAML = """\
project: "test-repo"
s3folder: "s3://my-bucket/test-repo/"
models:
  model-type-1: "my.pkg.module.model"          # single-container: a reference string
  model-type-2:                                # multi-container (Direct mode)
    model-defaults: {cls: "my.pkg.module.modeltwo"}   # optional; only `cls` (and image_tag, training_job) allowed
    model-0-0-1:                               # container name (becomes ContainerHostname)
      training_job: "test-repo-model-0-0-1"    # optional: defaults to the container name
      image_tag: "0.0.1"                       # required (after model-defaults is applied)
    model-0-0-2:
      training_job: "test-repo-model-0-0-2"
      image_tag: "0.0.2"
      cls: "my.pkg.module.submodule.modeltwo"  # optional: overrides model-defaults.cls; required after defaults
"""  # noqa: E501


def test_ml2p_0_6_multi_container_example(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ML2P_06_YAML))
    assert cfg.warnings == ()
    assert cfg.model_reference("model-type-1") == "my.pkg.module.model"
    containers = cfg.model_containers("model-type-2")
    assert list(containers) == ["model-0-0-1", "model-0-0-2"]
    assert containers == {
        "model-0-0-1": {
            "training_job": "test-repo-model-0-0-1",
            "image_tag": "0.0.1",
            "cls": "my.pkg.module.modeltwo",
        },
        "model-0-0-2": {
            "training_job": "test-repo-model-0-0-2",
            "image_tag": "0.0.2",
            "cls": "my.pkg.module.submodule.modeltwo",
        },
    }
    assert check_models(cfg, lambda ref: ref) == {
        "model-type-1": "my.pkg.module.model",
        "model-type-2": {
            "model-0-0-1": "my.pkg.module.modeltwo",
            "model-0-0-2": "my.pkg.module.submodule.modeltwo",
        },
    }


# --------------------------------------------------------------------------------------
# plugins
# --------------------------------------------------------------------------------------


def plugins_of(cfg: Config) -> object:
    return cfg.plugins


@pytest.mark.parametrize("plugins", ["my_project.hooks", {"a": "b"}, 5, True])
def test_plugins_not_list(tmp_path: Path, plugins: Any) -> None:
    assert_unusable(tmp_path, minimal(plugins=plugins), "plugins", plugins_of)


@pytest.mark.parametrize(
    "bad", ["", "my-project.hooks", "a..b", ".a", "a.", "1abc", "a b", "a.class", "a:b", 5, None]
)
def test_plugins_item_not_module_name(tmp_path: Path, bad: Any) -> None:
    err = assert_unusable(tmp_path, minimal(plugins=["ok.mod", bad]), "plugins[1]", plugins_of)
    assert "module name" in str(err)


def test_plugins_duplicate(tmp_path: Path) -> None:
    data = minimal(plugins=["a.b", "c", "a.b"])
    err = assert_unusable(tmp_path, data, "plugins[2]", plugins_of)
    assert "more than once" in str(err)


def test_plugins() -> None:
    assert config_from_dict(minimal()).plugins == ()
    assert config_from_dict(minimal(plugins=None)).plugins == ()
    assert config_from_dict(minimal(plugins=["a", "b.c_d"])).plugins == ("a", "b.c_d")


# --------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------


#: The section whose settings a ``defaults`` setting is read through, in these tests.
READ_THROUGH = {"defaults": "train", **{name: name for name in SECTIONS}}


@pytest.mark.parametrize("section", ["defaults", *SECTIONS])
@pytest.mark.parametrize("value", [["image"], "ml.m5.large", 5, True])
def test_section_not_mapping(tmp_path: Path, section: str, value: Any) -> None:
    read = READ_THROUGH[section]
    err = assert_unusable(tmp_path, minimal(**{section: value}), section, lambda c: c.section(read))
    assert "mapping" in str(err)
    cfg = load_config(tmp_path / "ml2p.yml")
    if section != "defaults":  # the other sections are unaffected
        assert all(cfg.section(other) == {} for other in SECTIONS if other != section)


@pytest.mark.parametrize(
    ("vpc_config", "subkey"),
    [
        ({"security_groups": ["sg-1"]}, "subnets"),
        ({"subnets": ["subnet-1"]}, "security_groups"),
        ({"security_groups": ["sg-1"], "subnets": []}, "subnets"),
        ({"security_groups": [], "subnets": ["subnet-1"]}, "security_groups"),
        ({"security_groups": ["sg-1"], "subnets": ["subnet-1", 5]}, "subnets[1]"),
        ({"security_groups": [""], "subnets": ["subnet-1"]}, "security_groups[0]"),
        ({"security_groups": ["sg-1"], "subnets": [None]}, "subnets[0]"),
        ({"security_groups": ["sg-1"], "subnets": "subnet-1"}, "subnets"),
    ],
)
@pytest.mark.parametrize("section", ["defaults", "dataset", "train", "deploy"])
def test_bad_vpc_config(tmp_path: Path, section: str, vpc_config: Any, subkey: str) -> None:
    key = f"{section}.vpc_config.{subkey}"
    read = READ_THROUGH[section]
    data = minimal(**{section: {"vpc_config": vpc_config, "role": "r"}})
    err = assert_unusable(tmp_path, data, key, lambda cfg: cfg.section(read)["vpc_config"])
    assert key in str(err)
    # What needs no VPC (an endpoint's instance type, a role) is still read.
    assert load_config(tmp_path / "ml2p.yml").section(read)["role"] == "r"


@pytest.mark.parametrize("vpc_config", [["sg-1"], "sg-1", 5])
def test_vpc_config_not_mapping(tmp_path: Path, vpc_config: Any) -> None:
    data = minimal(train={"vpc_config": vpc_config})
    use = lambda cfg: cfg.section("train").get("vpc_config")  # noqa: E731
    assert_unusable(tmp_path, data, "train.vpc_config", use)


def test_vpc_config_unknown_key_is_ignored_as_0_6_did() -> None:
    vpc = {**VPC, "extra": []}
    cfg = config_from_dict(minimal(train={"vpc_config": vpc}))
    assert warned_keys(cfg) == ["train.vpc_config.extra"]
    assert cfg.section("train")["vpc_config"] == vpc


@pytest.mark.parametrize(
    ("value", "read"),
    [("true", True), ("yes", True), (1, True), ("True", True), (0, False), ("false", False)],
)
def test_record_invokes_not_bool_is_read_with_a_warning(value: Any, read: bool) -> None:
    cfg = config_from_dict(minimal(deploy={"record_invokes": value}))
    assert warned_keys(cfg) == ["deploy.record_invokes"]
    assert cfg.section("deploy")["record_invokes"] is read


@pytest.mark.parametrize("value", ["sometimes", 2, [True]])
def test_record_invokes_unusable(tmp_path: Path, value: Any) -> None:
    data = minimal(deploy={"record_invokes": value})
    use = lambda cfg: cfg.section("deploy").get("record_invokes")  # noqa: E731
    assert_unusable(tmp_path, data, "deploy.record_invokes", use)


def test_record_invokes_in_defaults_is_checked(tmp_path: Path) -> None:
    data = minimal(defaults={"record_invokes": "maybe"})
    use = lambda cfg: cfg.section("deploy")["record_invokes"]  # noqa: E731
    assert_unusable(tmp_path, data, "defaults.record_invokes", use)


@pytest.mark.parametrize(
    ("section", "setting"),
    [
        ("train", "instance_count"),
        ("train", "volume_size_gb"),
        ("train", "max_runtime_seconds"),
        ("deploy", "instance_count"),
        ("notebook", "volume_size"),
        ("defaults", "instance_count"),
    ],
)
@pytest.mark.parametrize("value", [0, -1, "10", 1.5, 2.0, True, [1]])
def test_numeric_setting_not_positive_int(
    tmp_path: Path, section: str, setting: str, value: Any
) -> None:
    key, read = f"{section}.{setting}", READ_THROUGH[section]
    data = minimal(**{section: {setting: value}})
    err = assert_unusable(tmp_path, data, key, lambda cfg: cfg.section(read)[setting])
    assert "positive integer" in str(err)


@pytest.mark.parametrize(
    ("section", "setting", "value"),
    [
        ("train", "image", ""),
        ("train", "image", 5),
        ("dataset", "role", ["r"]),
        ("deploy", "instance_type", "  "),
        ("defaults", "image", {"name": "x"}),
        ("notebook", "subnet_id", 5),
        ("notebook", "repo_url", ""),
        ("notebook", "on_start", True),
    ],
)
def test_string_setting_invalid(tmp_path: Path, section: str, setting: str, value: Any) -> None:
    key, read = f"{section}.{setting}", READ_THROUGH[section]
    data = minimal(**{section: {setting: value}})
    assert_unusable(tmp_path, data, key, lambda cfg: cfg.section(read).get(setting))


@pytest.mark.parametrize("value", ["yes", "enabled", 1, ["Enabled"]])
def test_notebook_direct_internet_access_invalid(tmp_path: Path, value: Any) -> None:
    key = "notebook.direct_internet_access"
    data = minimal(notebook={"direct_internet_access": value})
    assert_unusable(tmp_path, data, key, lambda cfg: cfg.section("notebook")[key[9:]])


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("sg-1", "notebook.security_group_ids"),
        (["sg-1", 2], "notebook.security_group_ids[1]"),
    ],
)
def test_notebook_security_group_ids_invalid(tmp_path: Path, value: Any, key: str) -> None:
    data = minimal(notebook={"security_group_ids": value})
    assert_unusable(tmp_path, data, key, lambda cfg: cfg.section("notebook")["security_group_ids"])


def test_recursive_yaml_alias_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        project: p
        s3folder: s3://b/
        extra: &loop
          - *loop
        """,
    )
    with pytest.raises(ConfigError, match="reference to itself") as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "extra" in str(info.value)


# --------------------------------------------------------------------------------------
# Warnings for unknown keys
# --------------------------------------------------------------------------------------


def test_unknown_keys_are_kept_and_warned_about(tmp_path: Path) -> None:
    path = write_yaml_dict(
        tmp_path,
        minimal(future={"a": [1, 2]}, train={"image": "i", "turbo": True}, notebook={"x": 1}),
    )
    cfg = load_config(path)
    assert len(cfg.warnings) == 3
    assert any("'future'" in w and str(path) in w for w in cfg.warnings)
    assert any("'train.turbo'" in w for w in cfg.warnings)
    assert any("'notebook.x'" in w for w in cfg.warnings)
    assert cfg.as_dict()["future"] == {"a": [1, 2]}
    assert cfg.section("train")["turbo"] is True
    assert isinstance(cfg.warnings, tuple)


def test_no_warnings_for_full_config(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, FULL_YAML)).warnings == ()


# --------------------------------------------------------------------------------------
# A full valid configuration
# --------------------------------------------------------------------------------------


def test_full_config(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_YAML)
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.path == str(path)
    assert cfg.project == "my-project"
    assert cfg.s3folder == "s3://my-bucket/my-prefix/"
    assert cfg.plugins == ("my_project.hooks", "other_hooks")
    assert cfg.models == {
        "my-model": "my_package.models.MyModel",
        "entry": "entry-point-model",
        "multi": {
            "model-defaults": {"cls": "pkg.Model"},
            "c1": {"training_job": "tj-0-1", "image_tag": "0.1.0", "cls": "pkg.Other"},
            "c2": {"training_job": "tj-0-2", "image_tag": "0.2.0"},
        },
    }
    assert cfg.model_reference("my-model") == "my_package.models.MyModel"
    assert cfg.model_reference("entry") == "entry-point-model"
    assert cfg.model_containers("multi") == {
        "c1": {"training_job": "tj-0-1", "image_tag": "0.1.0", "cls": "pkg.Other"},
        "c2": {"training_job": "tj-0-2", "image_tag": "0.2.0", "cls": "pkg.Model"},
    }
    assert cfg.section("train") == {
        "image": "registry.example.com:5000/train:1.0",
        "role": "arn:aws:iam::123:role/train",
        "instance_type": "ml.p3.2xlarge",
        "vpc_config": VPC,
        "instance_count": 2,
        "volume_size_gb": 50,
        "max_runtime_seconds": 3600,
    }
    assert cfg.section("deploy") == {
        "image": "123.dkr.ecr.eu-west-1.amazonaws.com/img:0.1.0",
        "role": "arn:aws:iam::123:role/default",
        "instance_type": "ml.m5.large",
        "record_invokes": True,
        "instance_count": 1,
        "vpc_config": {"security_groups": ["sg-1"], "subnets": ["subnet-1"]},
    }
    assert cfg.section("notebook")["security_group_ids"] == ["sg-1", "sg-2"]
    assert cfg.section("notebook")["direct_internet_access"] == "Disabled"
    assert cfg.section("notebook")["role"] == "arn:aws:iam::123:role/notebook"
    data = cfg.as_dict()
    assert set(data) == {"project", "s3folder", "models", "plugins", "defaults", *SECTIONS}
    assert data["plugins"] == ["my_project.hooks", "other_hooks"]
    assert data["train"]["instance_count"] == 2
    assert repr(cfg) == f"Config(path={str(path)!r}, project='my-project')"


def test_load_config_accepts_str_and_pathlike(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_YAML)
    assert load_config(str(path)) == load_config(path)
    assert load_config(str(path)).path == str(path)


def test_default_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_CONFIG_FILE == "./ml2p.yml"
    write(tmp_path, FULL_YAML)
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.path == DEFAULT_CONFIG_FILE
    assert cfg.project == "my-project"
    os.remove("ml2p.yml")
    with pytest.raises(ConfigError, match=r"\./ml2p\.yml"):
        load_config()


def test_minimal_config() -> None:
    cfg = config_from_dict(minimal())
    assert cfg.path == "<dict>"
    assert cfg.models == {}
    assert cfg.plugins == ()
    assert cfg.warnings == ()
    for name in SECTIONS:
        assert cfg.section(name) == {}


def test_empty_sections_and_models_are_allowed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        project: p
        s3folder: s3://b/
        models:
        plugins:
        defaults:
        train:
        """,
    )
    cfg = load_config(path)
    assert cfg.models == {}
    assert cfg.plugins == ()
    assert cfg.section("train") == {}


def test_config_from_dict_validates_like_load_config() -> None:
    cfg = config_from_dict(minimal(train={"instance_count": 0}), path="inline.yml")
    assert cfg.warnings[0].startswith("inline.yml: key 'train.instance_count': ")
    with pytest.raises(ConfigError) as info:
        cfg.section("train")["instance_count"]
    assert "inline.yml" in str(info.value)
    assert "train.instance_count" in str(info.value)
    with pytest.raises(ConfigError, match=r"<dict>.*project"):
        config_from_dict({"s3folder": "s3://b/"})
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        config_from_dict(["not", "a", "mapping"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# Defaults overlay
# --------------------------------------------------------------------------------------


def test_section_overlays_defaults() -> None:
    cfg = config_from_dict(
        minimal(
            defaults={
                "image": "img:1",
                "role": "r-default",
                "instance_type": "ml.m5.large",
                "vpc_config": VPC,
            },
            train={"role": "r-train", "instance_count": 3},
            deploy={"vpc_config": {"security_groups": ["sg-x"], "subnets": ["subnet-x"]}},
        )
    )
    assert cfg.section("train") == {
        "image": "img:1",
        "role": "r-train",
        "instance_type": "ml.m5.large",
        "vpc_config": VPC,
        "instance_count": 3,
    }
    # The overlay is shallow: the section's vpc_config replaces the default one.
    assert cfg.section("deploy")["vpc_config"] == {
        "security_groups": ["sg-x"],
        "subnets": ["subnet-x"],
    }
    assert cfg.section("dataset") == {
        "image": "img:1",
        "role": "r-default",
        "instance_type": "ml.m5.large",
        "vpc_config": VPC,
    }
    # The sections as written are unchanged by the overlay.
    assert cfg.as_dict()["train"] == {"role": "r-train", "instance_count": 3}


def test_section_null_removes_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        project: p
        s3folder: s3://b/
        defaults:
          role: r
          vpc_config: {security_groups: [sg-1], subnets: [subnet-1]}
        train:
          vpc_config:
        """,
    )
    cfg = load_config(path)
    assert cfg.section("train") == {"role": "r"}
    assert cfg.section("deploy")["vpc_config"] == {
        "security_groups": ["sg-1"],
        "subnets": ["subnet-1"],
    }


def test_unknown_section_name() -> None:
    cfg = config_from_dict(minimal(), path="x.yml")
    with pytest.raises(ConfigError) as info:
        cfg.section("training")
    assert "x.yml" in str(info.value)
    assert "training" in str(info.value)
    assert "dataset, train, deploy, notebook" in str(info.value)


# --------------------------------------------------------------------------------------
# Model references
# --------------------------------------------------------------------------------------


def test_model_reference_undefined_lists_defined_names(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    with pytest.raises(ConfigError) as info:
        cfg.model_reference("nope")
    message = str(info.value)
    assert cfg.path in message
    assert "models.nope" in message
    assert "entry, multi, my-model" in message


def test_model_reference_with_no_models() -> None:
    with pytest.raises(ConfigError, match=r"models\.x.*\(none\)"):
        config_from_dict(minimal()).model_reference("x")


def test_model_reference_of_multi_container_model(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    with pytest.raises(ConfigError, match="multi-container") as info:
        cfg.model_reference("multi")
    assert info.value.key == "models.multi"
    with pytest.raises(ConfigError, match="single-container"):
        cfg.model_containers("my-model")
    with pytest.raises(ConfigError, match="not defined"):
        cfg.model_containers("nope")


# --------------------------------------------------------------------------------------
# Immutability
# --------------------------------------------------------------------------------------


def test_returned_values_are_copies(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    before = cfg.as_dict()

    models = cfg.models
    models["my-model"] = "changed.Model"
    models["multi"]["c1"]["cls"] = "changed.Cls"
    models["new"] = "x.Y"

    train = cfg.section("train")
    train["vpc_config"]["subnets"].append("subnet-evil")
    train["instance_count"] = 99

    data = cfg.as_dict()
    data["train"]["vpc_config"]["security_groups"].clear()
    data["defaults"]["role"] = "changed"
    data["project"] = "other"
    data["plugins"].append("evil")
    data["notebook"]["security_group_ids"].append("sg-evil")

    containers = cfg.model_containers("multi")
    containers["c2"]["cls"] = "changed.Cls"

    assert cfg.as_dict() == before
    assert cfg.models["my-model"] == "my_package.models.MyModel"
    assert cfg.model_containers("multi")["c2"]["cls"] == "pkg.Model"
    assert cfg.section("train")["vpc_config"] == VPC
    assert cfg.section("train")["instance_count"] == 2
    assert cfg.section("deploy")["role"] == "arn:aws:iam::123:role/default"
    assert cfg.plugins == ("my_project.hooks", "other_hooks")


def test_returned_values_are_plain_types(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    data = cfg.as_dict()
    assert type(data) is dict
    assert type(data["models"]["multi"]["c1"]) is dict
    assert type(data["plugins"]) is list
    assert type(cfg.section("train")["vpc_config"]["subnets"]) is list
    assert type(cfg.models) is dict


def test_input_mapping_changes_do_not_leak() -> None:
    data = minimal(models={"m": "a.B"}, plugins=["p"], train={"vpc_config": copy.deepcopy(VPC)})
    cfg = config_from_dict(data)
    data["project"] = "other"
    data["models"]["m"] = "c.D"
    data["plugins"].append("q")
    data["train"]["vpc_config"]["subnets"].append("subnet-evil")
    assert cfg.project == "my-project"
    assert cfg.models == {"m": "a.B"}
    assert cfg.plugins == ("p",)
    assert cfg.section("train")["vpc_config"] == VPC


@pytest.mark.parametrize(
    "name", ["project", "s3folder", "path", "plugins", "warnings", "models", "_data", "new"]
)
def test_attribute_assignment_raises(name: str) -> None:
    cfg = config_from_dict(minimal())
    with pytest.raises(AttributeError):
        setattr(cfg, name, "x")
    with pytest.raises(AttributeError):
        delattr(cfg, name)
    assert cfg.project == "my-project"


def test_config_is_a_frozen_dataclass(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    assert dataclasses.is_dataclass(cfg)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.path = "other.yml"  # type: ignore[misc]
    # A copy with another path is another configuration, checked again; the
    # original is unchanged.
    moved = dataclasses.replace(cfg, data=cfg.as_dict(), path="other.yml")
    assert moved != cfg and moved.path == "other.yml" and cfg.path == str(tmp_path / "ml2p.yml")
    assert moved.section("train") == cfg.section("train")
    bad = dataclasses.replace(cfg, data={**cfg.as_dict(), "plugins": "x"}, path="bad.yml")
    assert bad.warnings[0].startswith("bad.yml: key 'plugins': ")
    assert Config(cfg.as_dict(), cfg.path) == cfg


def test_pickle_and_copy_round_trip(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.copy(cfg), copy.deepcopy(cfg)):
        assert clone == cfg
        assert clone.path == cfg.path
        assert clone.as_dict() == cfg.as_dict()
    assert cfg != config_from_dict(cfg.as_dict())  # different path
    assert config_from_dict(cfg.as_dict(), path=cfg.path) == cfg
    with pytest.raises(TypeError):
        hash(cfg)


# --------------------------------------------------------------------------------------
# check_models
# --------------------------------------------------------------------------------------


class ResolveFailure(Exception):
    pass


def test_check_models_resolves_everything(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))
    calls: list[str] = []

    def resolve(ref: str) -> object:
        calls.append(ref)
        return f"<{ref}>"

    assert check_models(cfg, resolve) == {
        "my-model": "<my_package.models.MyModel>",
        "entry": "<entry-point-model>",
        "multi": {"c1": "<pkg.Other>", "c2": "<pkg.Model>"},
    }
    assert calls == ["my_package.models.MyModel", "entry-point-model", "pkg.Other", "pkg.Model"]


def test_check_models_with_no_models() -> None:
    assert check_models(config_from_dict(minimal()), lambda ref: ref) == {}


def test_check_models_reports_failing_name(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))

    def resolve(ref: str) -> object:
        if ref == "entry-point-model":
            raise ResolveFailure("no entry point named 'entry-point-model'")
        return ref

    with pytest.raises(ConfigError) as info:
        check_models(cfg, resolve)
    err = info.value
    message = str(err)
    assert str(cfg.path) in message
    assert "models.entry" in message
    assert err.key == "models.entry"
    assert "'entry-point-model'" in message
    assert "ResolveFailure" in message
    assert "no entry point named" in message
    assert isinstance(err.__cause__, ResolveFailure)


@pytest.mark.parametrize(
    ("bad_ref", "key", "inherited"),
    [
        ("pkg.Other", "models.multi.c1.cls", False),
        ("pkg.Model", "models.multi.c2.cls", True),
    ],
)
def test_check_models_reports_failing_container(
    tmp_path: Path, bad_ref: str, key: str, inherited: bool
) -> None:
    cfg = load_config(write(tmp_path, FULL_YAML))

    def resolve(ref: str) -> object:
        if ref == bad_ref:
            raise ImportError(f"No module named {ref.split('.')[0]!r}")
        return ref

    with pytest.raises(ConfigError) as info:
        check_models(cfg, resolve)
    message = str(info.value)
    assert cfg.path in message
    assert key in message
    assert bad_ref in message
    assert "ImportError: No module named 'pkg'" in message
    assert ("model-defaults" in message) is inherited
    assert isinstance(info.value.__cause__, ImportError)


def test_check_models_does_not_swallow_base_exceptions() -> None:
    cfg = config_from_dict(minimal(models={"m": "a.B"}))

    def resolve(ref: str) -> object:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_models(cfg, resolve)


@pytest.mark.parametrize("data", [FULL_YAML, None], ids=["some models", "no models"])
def test_an_undefined_model_is_worded_in_one_place(tmp_path: Path, data) -> None:
    """Choosing a model type (``--model-type``) and reading a model say the same."""
    from ml2p import sagemaker

    cfg = load_config(write(tmp_path, data)) if data else config_from_dict(minimal())
    with pytest.raises(ConfigError) as chosen:
        sagemaker.resolve_model_type(cfg, "nope")
    with pytest.raises(ConfigError) as read:
        cfg.model_reference("nope")
    assert chosen.value.key == read.value.key == "models.nope"
    assert chosen.value.message == read.value.message
    assert chosen.value.message.startswith("model 'nope' is not defined; defined models: ")
    with pytest.raises(ConfigError) as checked:
        cfg.check_model_defined("nope")
    assert str(checked.value) == str(read.value)
    for name in cfg.models:
        cfg.check_model_defined(name)  # a defined model passes
