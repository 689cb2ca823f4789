"""Tests of e2e/check_package.py's checks of the sdist and the wheel (the pkg env runs them)."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent

COMPLETE_SDIST = [
    "ml2p-0.7.0/LICENSE",
    "ml2p-0.7.0/README.md",
    "ml2p-0.7.0/CHANGELOG.md",
    "ml2p-0.7.0/setup.cfg",
    "ml2p-0.7.0/pyproject.toml",
    "ml2p-0.7.0/tests/test_a.py",
    "ml2p-0.7.0/docs/index.md",
    "ml2p-0.7.0/docs/plugins.md",
    "ml2p-0.7.0/plugins/p/README.md",
]


@pytest.fixture
def check(monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))  # as when run as a script: its siblings import
    spec = importlib.util.spec_from_file_location("check_package", HERE / "check_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def source(tmp_path):
    """A source tree with tests, docs, and a docs page including a plugin's README."""
    for name in ("tests/test_a.py", "docs/index.md", "plugins/p/README.md", "ml2p_core/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "docs/plugins.md").write_text(
        "# Plugins\n\n```{include} ../plugins/p/README.md\n```\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    "left_out",
    ["LICENSE", "CHANGELOG.md", "tests/test_a.py", "docs/index.md", "plugins/p/README.md"],
)
def test_an_sdist_without_a_wanted_file_names_it(check, source, left_out):
    members = [m for m in COMPLETE_SDIST if m != f"ml2p-0.7.0/{left_out}"]
    assert check.sdist_missing(members, check.expected_in_sdist(source)) == [left_out]


def test_a_complete_sdist_lacks_nothing(check, source):
    wanted = check.expected_in_sdist(source)
    assert "plugins/p/README.md" in wanted and "ml2p_core/x.py" not in wanted
    assert check.sdist_missing(COMPLETE_SDIST, wanted) == []


@pytest.mark.parametrize(
    "names, problem",
    [
        (["ml2p/__init__.py", "ml2p/py.typed", "ml2p-0.7.0.dist-info/METADATA"], "no LICENSE"),
        (["ml2p/__init__.py", "ml2p-0.7.0.dist-info/licenses/LICENSE"], "no ml2p/py.typed"),
        (
            ["ml2p/py.typed", "ml2p-0.7.0.dist-info/LICENSE", "tests/conftest.py"],
            "holds tests/conftest.py",
        ),
    ],
)
def test_a_wheel_without_licence_or_types_or_with_tests_is_refused(check, names, problem):
    assert any(problem in p for p in check.wheel_problems(names)), check.wheel_problems(names)


def test_a_good_wheel_has_no_problem(check):
    names = ["ml2p/__init__.py", "ml2p/py.typed", "ml2p-0.7.0.dist-info/licenses/LICENSE"]
    assert check.wheel_problems(names) == []


def test_a_wheel_the_readme_does_not_name_is_refused_before_installing(check, tmp_path):
    wheel = tmp_path / "dist" / "ml2p-9.9.9-py3-none-any.whl"
    with pytest.raises(check.CheckFailed, match="does not name the wheel just built"):
        check.install_wheel(tmp_path, wheel)
    assert not (tmp_path / "venv").exists()


def test_one_build_result_of_each_kind_is_expected(check, tmp_path):
    (tmp_path / "ml2p-0.7.0.tar.gz").write_text("")
    (tmp_path / "ml2p-0.6.0.tar.gz").write_text("")
    with pytest.raises(check.CheckFailed, match=r"expected one ml2p-\*.tar.gz"):
        check.built(tmp_path, "ml2p-*.tar.gz")
