"""Every ``ml2p`` command that loads ``ml2p.yml`` warns about keys ML2P does not use."""

from __future__ import annotations

import pytest

from ml2p.cli import cli
from tests.cli_support import cli_runner

TYPO_YML = """\
project: test-proj
s3folder: "s3://ml2p-test/proj/"
models:
  minimal: tests.models.MinimalModel
deploy:
  record_invoke: true
trian:
  instance_type: ml.m5.large
"""


@pytest.fixture
def typo_yml(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text(TYPO_YML)
    return str(path)


def run(cfg, *args):
    return cli_runner().invoke(cli, ["--cfg", cfg, *args])


def expected_warnings(cfg):
    return [
        f"Warning: {cfg}: key 'trian': unknown top-level key; ML2P does not use it "
        "(did you mean 'train'?)",
        f"Warning: {cfg}: key 'deploy.record_invoke': unknown setting; ML2P does not use it "
        "(did you mean 'deploy.record_invokes'?)",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["models"],
        ["plugins"],
        ["local", "train", "minimal", "--local-folder", "{tmp}/ml"],
        ["local", "serve", "minimal", "--local-folder", "{tmp}/empty"],
    ],
    ids=["validate", "models", "plugins", "local-train", "local-serve-failing"],
)
def test_each_command_warns_once_on_stderr(typo_yml, tmp_path, args):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = run(typo_yml, *args)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == expected_warnings(typo_yml)
    assert "Warning" not in result.stdout


def test_aws_commands_warn_too(typo_yml, aws):
    result = run(typo_yml, "model", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # no models: one JSON line per model
    assert result.stderr.splitlines() == expected_warnings(typo_yml)


def test_no_warning_without_unknown_keys(ml2p_yml):
    result = run(ml2p_yml, "validate")
    assert result.exit_code == 0 and result.stderr == ""


def test_a_command_that_does_not_load_the_config_does_not_warn(typo_yml):
    result = run(typo_yml, "local", "invoke", "{x", "--url", "http://127.0.0.1:9")
    assert "Warning" not in result.output


def test_a_far_off_key_gets_no_suggestion(tmp_path):
    path = tmp_path / "ml2p.yml"
    path.write_text("project: p\ns3folder: s3://b/\ntrain: {zzz: 1}\n")
    result = run(str(path), "validate")
    assert result.stderr == (
        f"Warning: {path}: key 'train.zzz': unknown setting; ML2P does not use it\n"
    )
