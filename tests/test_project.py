"""ML2P 0.6's ModellingProject and ModellingSubCfg (ml2p.project, also at ml2p.core)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from ml2p.config import Config
from ml2p.core import S3URL
from ml2p.errors import ConfigError
from ml2p.project import MissingSettingError, ModellingProject, ModellingSubCfg

YML = """\
project: foo
s3folder: s3://bucket/prefix/
models:
  churn: pkg.models.Churn
defaults:
  image: repo:1.0
  role: arn:aws:iam::1:role/r
  instance_type: ml.m5.large
train:
  instance_type: ml.m5.xlarge
deploy:
  record_invokes: true
"""


@pytest.fixture
def prj(tmp_path) -> ModellingProject:
    path = tmp_path / "ml2p.yml"
    path.write_text(YML)
    return ModellingProject(str(path))


# --- bad input first --------------------------------------------------------------


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        ModellingProject(str(tmp_path / "nope.yml"))


def test_missing_file_is_caught_as_in_ml2p_0_6(tmp_path):
    missing = str(tmp_path / "nope.yml")
    with pytest.raises(FileNotFoundError, match=r"nope\.yml"):
        ModellingProject(missing)


def test_invalid_file_names_the_key(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text("project: foo\n")
    with pytest.raises(ConfigError, match="key 's3folder'"):
        ModellingProject(str(path))


def test_missing_setting_is_a_key_error_and_an_attribute_error(prj):
    with pytest.raises(KeyError):
        prj.deploy["volume_size"]
    with pytest.raises(KeyError):
        _ = prj.deploy.volume_size
    with pytest.raises(MissingSettingError):
        _ = prj.notebook.instance_type_typo
    assert getattr(prj.train, "nope", "fallback") == "fallback"
    assert not hasattr(prj.train, "nope")


def test_an_invalid_change_is_reported_when_used(prj):
    prj.train["vpc_config"] = {"subnets": []}
    config = prj.config
    assert any("key 'train.vpc_config." in w for w in config.warnings)
    with pytest.raises(ConfigError, match=r"train\.vpc_config"):
        config.section("train")["vpc_config"]


# --- 0.6's attributes -------------------------------------------------------------


def test_attributes_are_06s(prj, tmp_path):
    import yaml

    assert prj.cfg == yaml.safe_load(YML)
    assert prj.project == "foo"
    assert isinstance(prj.s3, S3URL) and prj.s3.url("models") == "s3://bucket/prefix/models"
    assert prj.full_job_name("churn-1-2") == "foo-churn-1-2"
    assert prj.tags() == [{"Key": "ml2p-project", "Value": "foo"}]
    assert prj.cfg_path == str(tmp_path / "ml2p.yml")


def test_sections_fall_back_to_defaults(prj):
    assert prj.train.instance_type == "ml.m5.xlarge"
    assert prj.train["image"] == prj.train.image == "repo:1.0"
    assert prj.deploy.record_invokes is True
    assert prj.dataset.get("image") == "repo:1.0"
    assert prj.dataset.get("vpc_config") is None
    assert prj.dataset.get("vpc_config", "x") == "x"
    assert prj.train.keys() == ["image", "instance_type", "role"]
    assert prj.notebook.keys() == ["image", "instance_type", "role"]


def test_models_view_has_no_fallback_but_itself(prj):
    assert prj.models.keys() == ["churn"]
    assert prj.models["churn"] == prj.models.churn == "pkg.models.Churn"
    assert prj.models.get("other") is None


def test_setting_an_item_writes_into_the_section(prj):
    prj.deploy["image"] = "repo:2.0"
    assert prj.cfg["deploy"]["image"] == "repo:2.0"
    assert prj.deploy.image == "repo:2.0"
    assert prj.train.image == "repo:1.0"
    # A section missing from the file is created, not lost.
    prj.notebook["volume_size"] = 5
    assert prj.cfg["notebook"] == {"volume_size": 5}
    assert prj.notebook.volume_size == 5


def test_sub_cfg_on_a_plain_dict():
    cfg = {"defaults": {"a": 1}, "train": {"b": 2}, "deploy": None}
    sub = ModellingSubCfg(cfg, "train")
    assert (sub.a, sub.b, sub.keys()) == (1, 2, ["a", "b"])
    assert ModellingSubCfg(cfg, "deploy").a == 1  # a null section falls back
    assert ModellingSubCfg(cfg, "train", defaults="nothing").get("a") is None
    assert copy.deepcopy(sub).b == 2 and "train" in repr(sub)


def test_config_follows_changes(prj):
    first = prj.config
    assert isinstance(first, Config) and first.section("deploy")["image"] == "repo:1.0"
    assert prj.config is first  # unchanged: the loaded Config
    prj.deploy["image"] = "repo:2.0"
    assert prj.config.section("deploy")["image"] == "repo:2.0"
    prj.cfg["models"]["other"] = "pkg.models.Other"
    assert sorted(prj.config.models) == ["churn", "other"]


def test_star_import_from_core_gives_them():
    # ML2P 0.6 projects wrote ``from ml2p.core import *``; the names load on demand.
    import ml2p.core

    assert {"ModellingProject", "ModellingSubCfg"} <= set(ml2p.core.__all__)
    namespace: dict = {}
    exec("from ml2p.core import *", namespace)
    assert namespace["ModellingProject"] is ModellingProject
    assert namespace["ModellingSubCfg"] is ModellingSubCfg


def test_importable_from_core_without_loading_it_on_import():
    import ml2p.core

    assert ml2p.core.ModellingProject is ModellingProject
    assert ml2p.core.ModellingSubCfg is ModellingSubCfg
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = ml2p.core.Nope
    code = (
        "import sys, ml2p.core\n"
        "assert 'ml2p.project' not in sys.modules and 'yaml' not in sys.modules\n"
        "from ml2p.core import ModellingProject\n"
        "assert 'ml2p.project' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
