"""The ``ml2p`` command line itself: help, errors, plugins, models and validation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ml2p import plugins
from ml2p.cli import BUILTIN_COMMANDS, cli
from tests.cli_support import cli_runner

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GOOD_YML = """\
project: test-proj
s3folder: "s3://ml2p-test/proj/"
plugins: [{plugin}]
models:
  minimal: tests.models.MinimalModel
"""

PLUGIN_SOURCE = '''
import click
from ml2p import hookimpl

@hookimpl
def ml2p_cli_commands(cli):
    @cli.command("hello")
    @click.argument("who")
    def hello(who):
        """Say hello."""
        click.echo(f"hello {who}")

    @cli.command("dataset")
    def hijack():
        click.echo("hijacked")
'''


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    name = f"ml2p_cli_test_plugin_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def good_yml(tmp_path, plugin_module):
    path = tmp_path / "ml2p.yml"
    path.write_text(GOOD_YML.format(plugin=plugin_module))
    return str(path)


def invoke(*args):
    return cli_runner().invoke(cli, list(args))


# --- bad input first --------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "configuration file not found"),
        ("project: [\n", "invalid YAML"),
        ("project: p\n", "key 's3folder'"),
        (
            "project: p\ns3folder: s3://b/\n"
            "train: {image: i, role: r, instance_type: t, vpc_config: {subnets: []}}\n",
            "train.vpc_config",
        ),
        ("project: p\ns3folder: s3://b/\nmodels: {m: 'a b'}\n", "models.m"),
    ],
)
def test_bad_config_is_one_line(tmp_path, content, expected):
    path = tmp_path / "ml2p.yml"
    if content is not None:
        path.write_text(content)
    result = invoke("--cfg", str(path), "training-job", "create", "m-1-2", "m-20240101")
    assert result.exit_code == 1
    # An unusable value the file loads with is warned about first, as every command does.
    *warnings, error = result.output.strip().splitlines()
    assert all(w.startswith("Warning: ") and expected in w for w in warnings)
    assert error.startswith("Error: ")
    assert expected in error and str(path) in error


def test_missing_settings_name_the_key(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text("project: p\ns3folder: s3://b/\nmodels: {m: tests.models.MinimalModel}\n")
    result = invoke("--cfg", str(path), "training-job", "create", "m-1-2", "m-20240101")
    assert result.exit_code == 1
    assert "key 'train.image'" in result.output and "is required" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["nosuchcommand"],
        ["dataset", "nosuch"],
        ["dataset", "ls"],
        ["training-job", "wait", "x-1-2", "--timeout", "-1"],
        ["local", "serve", "m", "--port", "99999"],
    ],
)
def test_usage_errors_exit_2(args, tmp_path):
    result = invoke("--cfg", str(tmp_path / "ml2p.yml"), *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_validate_names_the_bad_model(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text("project: p\ns3folder: s3://b/\nmodels: {m: tests.models.NoSuchModel}\n")
    result = invoke("--cfg", str(path), "validate")
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1
    assert "models.m" in result.output and "NoSuchModel" in result.output


def test_broken_project_plugin_is_named(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text("project: p\ns3folder: s3://b/\nplugins: [no_such_plugin_module]\n")
    result = invoke("--cfg", str(path), "validate")
    assert result.exit_code == 1
    assert "plugin 'no_such_plugin_module'" in result.output


# --- help and start-up cost -------------------------------------------------------


def test_help_imports_no_boto_and_scans_no_entry_points():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ml2p", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for name in BUILTIN_COMMANDS:
        assert name in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "ml2p.cli" in imported  # the import-time report did run
    # Nor ML2P 0.6's command modules.
    assert "ml2p.cli_commands" not in imported
    assert not [m for m in imported if m.split(".")[0] in ("boto3", "botocore", "s3transfer")]
    # Nor PyYAML: ml2p.config reads no file until a command needs it.
    assert "ml2p.config" in imported and not [m for m in imported if m.split(".")[0] == "yaml"]
    # No entry-point scan: importlib.metadata is not imported at all.
    assert "importlib.metadata" not in imported and "importlib_metadata" not in imported


def test_version():
    from ml2p import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.output


# --- plugin commands --------------------------------------------------------------


def test_plugin_commands_load_only_for_unknown_names(good_yml, plugin_module):
    help_result = invoke("--cfg", good_yml, "--help")
    assert help_result.exit_code == 0
    assert plugin_module not in sys.modules
    assert "hello" not in help_result.output

    result = invoke("--cfg", good_yml, "hello", "world")
    assert result.exit_code == 0, result.output
    assert "hello world" in result.output
    # A plugin cannot replace a built-in command.
    builtin = invoke("--cfg", good_yml, "dataset", "--help")
    assert builtin.exit_code == 0 and "Create and manage datasets" in builtin.output


# --- models, plugins, validate ----------------------------------------------------


def test_models_lists_entry_points_and_config(good_yml):
    out = json.loads(invoke("--cfg", good_yml, "models").output)
    expected = plugins.installed_entry_points(plugins.MODEL_GROUP, selected_only=False)
    assert [m["name"] for m in out["installed"]] == sorted(expected)
    for item in out["installed"]:
        assert item["distribution"] == expected[item["name"]].dist
        assert item["version"] == expected[item["name"]].version
    assert out["config"]["models"] == {"minimal": "tests.models.MinimalModel"}


def test_models_without_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("models")
    assert result.exit_code == 0, result.output
    assert "config" not in json.loads(result.output)
    assert invoke("--cfg", str(tmp_path / "missing.yml"), "models").exit_code == 1


def test_plugins_lists_hooks(good_yml, plugin_module, monkeypatch):
    result = invoke("--cfg", good_yml, "plugins")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["project"] == [{"name": plugin_module, "hooks": ["ml2p_cli_commands"]}]
    expected = plugins.installed_entry_points(plugins.PLUGIN_GROUP, selected_only=False)
    assert [p["name"] for p in out["installed"]] == sorted(expected)
    for item in out["installed"]:
        assert item["loaded"] == bool(item["hooks"]) or item["loaded"]
        assert item["distribution"] == expected[item["name"]].dist


def test_disabled_plugins_are_listed_as_not_loaded(good_yml, monkeypatch):
    installed = plugins.installed_entry_points(plugins.PLUGIN_GROUP, selected_only=False)
    if not installed:
        pytest.skip("no ml2p.plugins entry points installed")
    monkeypatch.setenv(plugins.ALLOW_ENV, "")
    out = json.loads(invoke("--cfg", good_yml, "plugins").output)
    assert all(not item["loaded"] and item["hooks"] == [] for item in out["installed"])


def test_validate_summarises(good_yml, plugin_module):
    result = invoke("--cfg", good_yml, "validate")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["project"] == "test-proj"
    assert out["models"] == {"minimal": "tests.models.MinimalModel"}
    assert out["plugins"] == {plugin_module: ["ml2p_cli_commands"]}
