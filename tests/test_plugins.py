"""The plugin manager factory: entry points, allow/block lists, project plugins, errors."""

from __future__ import annotations

import sys
import textwrap

import pytest

from ml2p import plugins
from ml2p.errors import ModelNotFoundError, PluginError
from ml2p.plugins import (
    BLOCK_ENV,
    BUILTIN_PLUGIN,
    get_plugin_manager,
    installed_entry_points,
    make_plugin_manager,
    resolve_model,
)


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path where tests install fake distributions (real dist-info)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    added = set()

    def install(dist: str, modules: dict, entry_points: str, version: str = "1.0") -> None:
        for name, source in modules.items():
            (root / f"{name}.py").write_text(textwrap.dedent(source))
            added.add(name)
        info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))

    yield install
    for name in added:
        sys.modules.pop(name, None)


GOOD_PLUGIN = """
from ml2p import hookimpl

@hookimpl(wrapper=True)
def ml2p_result(predictor, data):
    result = yield
    return {**result, "tagged": True}
"""

MODEL_MODULE = """
from ml2p.core import Model, ModelPredictor

class P(ModelPredictor):
    def result(self, data):
        return {"echo": data}

class EchoModel(Model):
    PREDICTOR = P

NOT_A_MODEL = 42
"""


def test_broken_plugin_import_is_named(site):
    site(
        "broken-dist",
        {"broken_plugin": "raise RuntimeError('kaboom')\n"},
        "[ml2p.plugins]\nbroken = broken_plugin\n",
    )
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert info.value.plugin == "broken"
    assert "kaboom" in str(info.value) and "broken-dist" in str(info.value)
    assert BLOCK_ENV in str(info.value)


def test_broken_plugin_can_be_disabled_without_uninstalling(site, monkeypatch):
    site(
        "broken-dist",
        {"broken_plugin": "raise RuntimeError('kaboom')\n"},
        "[ml2p.plugins]\nbroken = broken_plugin\n",
    )
    monkeypatch.setenv(BLOCK_ENV, "broken")
    pm = make_plugin_manager()
    assert not pm.has_plugin("broken")


def test_invalid_hookimpl_signature_is_named(site):
    site(
        "bad-sig",
        {
            "bad_sig": """
from ml2p import hookimpl

@hookimpl
def ml2p_result(predictor, data, nonsense):
    return 1
"""
        },
        "[ml2p.plugins]\nbadsig = bad_sig\n",
    )
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert info.value.plugin == "badsig"
    assert "nonsense" in str(info.value)


def test_unknown_hook_fails_check_pending_naming_plugin(site):
    site(
        "typo",
        {
            "typo_plugin": """
from ml2p import hookimpl

@hookimpl
def ml2p_reslt(predictor, data):
    return 1
"""
        },
        "[ml2p.plugins]\ntypo = typo_plugin\n",
    )
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    assert info.value.plugin == "typo"
    assert "ml2p_reslt" in str(info.value)


def test_entry_point_plugin_loaded_with_dist_info(site):
    site("good-dist", {"good_plugin": GOOD_PLUGIN}, "[ml2p.plugins]\ngood = good_plugin\n", "2.3")
    pm = make_plugin_manager()
    assert pm.has_plugin("good") and pm.has_plugin(BUILTIN_PLUGIN)
    info = pm.entry_point_plugins["good"]
    assert (info.dist, info.version, info.value) == ("good-dist", "2.3", "good_plugin")
    assert pm.hooks_of(pm.get_plugin("good")) == ["ml2p_result"]


@pytest.mark.parametrize(
    "allow, block, loaded",
    [
        (None, None, True),
        ("", None, False),
        ("good", None, True),
        ("good-dist", None, True),
        ("other", None, False),
        (None, "good", False),
        (None, "good_dist", False),
        ("good", "good", False),
    ],
)
def test_allow_and_block_lists(site, monkeypatch, allow, block, loaded):
    site("good-dist", {"good_plugin": GOOD_PLUGIN}, "[ml2p.plugins]\ngood = good_plugin\n")
    if allow is not None:
        monkeypatch.setenv(plugins.ALLOW_ENV, allow)
    if block is not None:
        monkeypatch.setenv(BLOCK_ENV, block)
    assert make_plugin_manager().has_plugin("good") is loaded
    assert ("good" in installed_entry_points("ml2p.plugins")) is loaded
    assert "good" in installed_entry_points("ml2p.plugins", selected_only=False)


def test_project_plugins_registered_and_named_on_failure(site):
    site("proj", {"proj_hooks": GOOD_PLUGIN}, "")
    pm = make_plugin_manager(["proj_hooks"], load_entry_points=False)
    assert pm.has_plugin("proj_hooks")
    with pytest.raises(PluginError) as info:
        make_plugin_manager(["no_such_module_here"], load_entry_points=False)
    assert info.value.plugin == "no_such_module_here"
    assert "failed to import" in str(info.value)


def test_get_plugin_manager_loads_once(site, monkeypatch):
    site("good-dist", {"good_plugin": GOOD_PLUGIN}, "[ml2p.plugins]\ngood = good_plugin\n")
    calls = []
    real = plugins._entry_points
    monkeypatch.setattr(plugins, "_entry_points", lambda g: calls.append(g) or real(g))
    first = get_plugin_manager()
    assert get_plugin_manager() is first
    assert calls == ["ml2p.plugins"]


def test_project_plugins_from_environment(site, monkeypatch):
    site("proj", {"env_hooks": GOOD_PLUGIN}, "")
    monkeypatch.setenv(plugins.PROJECT_PLUGINS_ENV, "env_hooks")
    assert get_plugin_manager().has_plugin("env_hooks")


def test_resolve_model_by_entry_point_and_dotted_path(site):
    site(
        "models-dist",
        {"echo_models": MODEL_MODULE},
        "[ml2p.models]\necho = echo_models:EchoModel\n",
    )
    by_name = resolve_model("echo")
    assert by_name.__name__ == "EchoModel"
    assert resolve_model("echo_models.EchoModel") is by_name
    assert resolve_model("echo_models:EchoModel") is by_name


@pytest.mark.parametrize(
    "ref, message",
    [
        ("", "non-empty"),
        ("nosuchmodel", "no model named 'nosuchmodel'"),
        ("no_such_pkg.Model", "cannot import module 'no_such_pkg'"),
        ("echo_models.Missing", "has no attribute 'Missing'"),
        ("echo_models.NOT_A_MODEL", "not an ml2p.core.Model subclass"),
    ],
)
def test_resolve_model_errors(site, ref, message):
    site(
        "models-dist",
        {"echo_models": MODEL_MODULE},
        "[ml2p.models]\necho = echo_models:EchoModel\n",
    )
    with pytest.raises(ModelNotFoundError, match=message):
        resolve_model(ref)


def test_resolve_model_lists_installed_models(site):
    site(
        "models-dist",
        {"echo_models": MODEL_MODULE},
        "[ml2p.models]\necho = echo_models:EchoModel\n",
    )
    with pytest.raises(ModelNotFoundError, match=r"installed: [^)]*\becho\b"):
        resolve_model("echoo")


def test_blocked_model_entry_point_not_resolved(site, monkeypatch):
    site(
        "models-dist",
        {"echo_models": MODEL_MODULE},
        "[ml2p.models]\necho = echo_models:EchoModel\n",
    )
    monkeypatch.setenv(BLOCK_ENV, "models-dist")
    with pytest.raises(ModelNotFoundError):
        resolve_model("echo")


def test_broken_model_entry_point_is_named(site):
    site(
        "bad-models",
        {"bad_models": "raise ImportError('missing sklearn')\n"},
        "[ml2p.models]\nbad = bad_models:Model\n",
    )
    with pytest.raises(PluginError) as info:
        resolve_model("bad")
    assert info.value.plugin == "bad" and "missing sklearn" in str(info.value)


def test_plugin_for_exception_names_the_plugin(site, tmp_path):
    site(
        "raiser",
        {
            "raising_plugin": """
from ml2p import hookimpl

@hookimpl(wrapper=True)
def ml2p_result(predictor, data):
    result = yield
    raise KeyError("oops")
"""
        },
        "[ml2p.plugins]\nraiser = raising_plugin\n",
    )
    from ml2p.core import SageMakerEnv
    from tests.test_hooks import Doubler

    pm = make_plugin_manager()
    p = Doubler(SageMakerEnv(str(tmp_path), environ={}), plugin_manager=pm)
    with pytest.raises(KeyError) as info:
        p.invoke({"x": 1})
    assert pm.plugin_for_exception(info.value) == "raiser"
    try:
        p.result(None)
    except TypeError as exc:
        assert pm.plugin_for_exception(exc) is None


def test_project_plugins_from_the_environment_of_the_env(site, tmp_path):
    """``ML2P_PROJECT_PLUGINS`` in the env's own environ (not os.environ) is honoured."""
    from ml2p.core import SageMakerEnv
    from tests.test_hooks import Doubler

    site("proj", {"env_only_hooks": GOOD_PLUGIN}, "")
    env = SageMakerEnv(str(tmp_path), environ={"ML2P_PROJECT_PLUGINS": "env_only_hooks"})
    assert env.project_plugins == ["env_only_hooks"]
    assert Doubler(env).invoke({"x": 2})["result"] == {"y": 4, "tagged": True}


def test_local_env_registers_config_plugins(site, tmp_path):
    from ml2p.core import LocalEnv
    from tests.test_hooks import Doubler

    site("proj", {"cfg_hooks": GOOD_PLUGIN}, "")
    cfg = tmp_path / "ml2p.yml"
    cfg.write_text('project: p\ns3folder: "s3://b/p/"\nplugins: [cfg_hooks]\n')
    env = LocalEnv(str(tmp_path), str(cfg))
    assert Doubler(env).invoke({"x": 1})["result"] == {"y": 2, "tagged": True}
