"""Tests of e2e/run_plugins_env.py: what it installs, what it runs, how it counts."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # as when run as a script: its siblings import
    spec = importlib.util.spec_from_file_location("run_plugins_env", HERE / "run_plugins_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tree(root: pathlib.Path) -> None:
    (root / "setup.cfg").write_text("[metadata]\nname = core\n")
    for folder, name in [
        ("plugins/p-b", "p-b"),
        ("plugins/p-a", "p-a"),
        ("examples/ex", "ml2p-example-ex"),
    ]:
        (root / folder / "tests").mkdir(parents=True)
        (root / folder / "setup.cfg").write_text(f"[metadata]\nname = {name}\n")
    (root / "examples/docker").mkdir(parents=True)
    (root / "examples/docker/pyproject.toml").write_text("")  # an image, not a package
    (root / "examples/docker/tests").mkdir()
    (root / "examples/py").mkdir()
    (root / "examples/py/pyproject.toml").write_text('[project]\nname = "from-pyproject"\n')
    (root / "examples/notes").mkdir()  # no packaging metadata: skipped
    (root / "e2e").mkdir()


def test_refuses_to_replace_packages_outside_a_virtualenv(runner, monkeypatch, capsys):
    monkeypatch.setattr(sys, "base_prefix", sys.prefix)
    assert runner.main([]) == 2
    assert "is not a virtualenv" in capsys.readouterr().err


def test_a_folder_without_a_name_is_an_error(runner, tmp_path):
    (tmp_path / "setup.cfg").write_text("[metadata]\nversion = 1\n")
    with pytest.raises(SystemExit, match="cannot find the distribution name"):
        runner.dist_name(tmp_path)


def test_installs_core_plugins_and_examples_but_not_docker(runner, tmp_path):
    make_tree(tmp_path)
    found = runner.local_packages(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        ".",
        "plugins/p-a",
        "plugins/p-b",
        "examples/ex",
        "examples/py",
    ]
    assert [runner.dist_name(p) for p in found] == [
        "core",
        "p-a",
        "p-b",
        "ml2p-example-ex",
        "from-pyproject",
    ]


def test_runs_every_tests_folder_and_e2e_by_absolute_path(runner, tmp_path):
    make_tree(tmp_path)
    paths = runner.test_paths(tmp_path)
    assert all(p.is_absolute() for p in paths)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [
        "plugins/p-a/tests",
        "plugins/p-b/tests",
        "examples/ex/tests",
        "e2e",
    ]


def test_the_real_tree_includes_the_examples(runner):
    names = [runner.dist_name(p) for p in runner.local_packages()]
    assert names[0] == "ml2p"
    assert {"ml2p-example-diabetes", "ml2p-example-minimal"} <= set(names)


@pytest.mark.parametrize(
    "xml, ran",
    [
        ('<testsuites><testsuite tests="5" skipped="2"/></testsuites>', 3),
        ('<testsuite tests="4" skipped="4"/>', 0),
        ('<testsuites><testsuite tests="0" skipped="0"/></testsuites>', 0),
        ("not xml", 0),
    ],
)
def test_counts_tests_that_ran(runner, tmp_path, xml, ran):
    report = tmp_path / "junit.xml"
    report.write_text(xml)
    assert runner.count_run(report) == ran
    assert runner.count_run(tmp_path / "missing.xml") == 0
