"""Tests of scripts/test.py, the test command: which Pythons it finds and how it calls tox."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def command():
    spec = importlib.util.spec_from_file_location("test_command", ROOT / "scripts" / "test.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_versions_are_read_from_env_names_and_basepython(command):
    ini = "[tox]\nenvlist = py39, py313, lint, py3x\n[testenv:docs]\nbasepython = python3.11\n"
    assert command.required_versions(ini) == ["3.9", "3.11", "3.13"]


def test_the_real_tox_ini_asks_for_every_python_from_3_9_to_3_13(command):
    ini = (ROOT / "tox.ini").read_text(encoding="utf-8")
    assert command.required_versions(ini) == ["3.9", "3.10", "3.11", "3.12", "3.13"]


def make_versions(folder: pathlib.Path, names) -> None:
    for name in names:
        (folder / name / "bin").mkdir(parents=True)


def test_the_newest_patch_release_of_each_version_is_put_on_path(command, tmp_path):
    make_versions(tmp_path, ["3.9.2", "3.9.18", "3.10.13", "3.11.7", "3.11.7t", "3.11-dev"])
    (tmp_path / "3.12.1").mkdir()  # no bin folder: not an interpreter
    found = command.interpreter_folders(["3.9", "3.11", "3.12"], tmp_path)
    assert found == [str(tmp_path / "3.9.18" / "bin"), str(tmp_path / "3.11.7" / "bin")]


def test_without_pyenv_no_folder_is_added(command, tmp_path):
    assert command.interpreter_folders(["3.9"], None) == []
    assert command.pyenv_versions_folder({"PYENV_ROOT": str(tmp_path / "absent")}) is None


def test_pyenv_root_comes_from_the_environment(command, tmp_path):
    (tmp_path / "versions").mkdir()
    assert command.pyenv_versions_folder({"PYENV_ROOT": str(tmp_path)}) == tmp_path / "versions"


def test_tox_runs_every_env_in_parallel_and_passes_arguments_on(command):
    python = pathlib.Path("/b/python")
    cmd = command.tox_command(python, ["-e", "py311", "--", "-k", "x"], strict=True)
    assert cmd == [
        "/b/python", "-m", "tox", "run-parallel", "--parallel", command.PARALLEL,
        "-e", "py311", "--", "-k", "x",
    ]  # fmt: skip


@pytest.mark.parametrize("given", [["-p", "2"], ["--parallel", "2"], ["--parallel=2"]])
def test_a_given_parallel_count_is_kept(command, given):
    cmd = command.tox_command(pathlib.Path("/b/python"), given, strict=True)
    assert cmd[4:] == given


def test_a_p_option_for_pytest_is_not_taken_for_tox(command):
    cmd = command.tox_command(pathlib.Path("/b/python"), ["--", "-p", "no:x"], strict=True)
    assert cmd[4:] == ["--parallel", command.PARALLEL, "--", "-p", "no:x"]


def test_outside_ci_missing_interpreters_are_skipped(command):
    cmd = command.tox_command(pathlib.Path("/b/python"), [], strict=False)
    assert cmd[-2:] == ["--skip-missing-interpreters", "true"]
    assert "--skip-missing-interpreters" not in command.tox_command(
        pathlib.Path("/b/python"), [], strict=True
    )
