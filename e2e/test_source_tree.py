"""Tests of e2e/source_tree.py: the clean copy each build of the source tree starts from."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

HERE = pathlib.Path(__file__).resolve().parent

GITIGNORE = """\
# build leftovers
__pycache__/
*.pyc
*.egg-info/
build/
.tox/
docs/_build/
!keep.pyc
"""


@pytest.fixture
def tree():
    spec = importlib.util.spec_from_file_location("source_tree", HERE / "source_tree.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_checkout(root: pathlib.Path) -> None:
    files = [
        ".gitignore",
        "setup.cfg",
        "pkg/mod.py",
        "pkg/__pycache__/mod.cpython-311.pyc",
        "pkg/stray.pyc",
        "pkg/pkg.egg-info/SOURCES.txt",
        "build/lib/pkg/mod.py",
        "plugins/p/build/lib/p.py",
        "plugins/p/p.py",
        ".tox/py311/bin/python",
        ".git/HEAD",
        "docs/_build/html/index.html",
        "docs/index.md",
        "examples/e/docs/_build/kept.txt",
        "notes/building.txt",
    ]
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    (root / ".gitignore").write_text(GITIGNORE)


def listing(root: pathlib.Path):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_the_copy_leaves_out_what_builds_and_git_leave_behind(tree, tmp_path):
    make_checkout(tmp_path / "src")
    dest = tree.copy_source_tree(tmp_path / "copy", root=tmp_path / "src")
    assert listing(dest) == [
        ".gitignore",
        "docs/index.md",
        # a pattern with a slash is a path from the root, not a name anywhere
        "examples/e/docs/_build/kept.txt",
        "notes/building.txt",
        "pkg/mod.py",
        "plugins/p/p.py",
        "setup.cfg",
    ]
    assert (dest / "pkg/mod.py").read_text() == "pkg/mod.py"


def test_patterns_skip_comments_blank_lines_and_negations(tree, tmp_path):
    (tmp_path / ".gitignore").write_text(GITIGNORE)
    patterns = tree.ignored_patterns(tmp_path)
    assert patterns[0] == ".git"
    assert "# build leftovers" not in patterns and "" not in patterns
    assert not any(p.startswith("!") for p in patterns)


def test_without_a_gitignore_only_git_is_left_out(tree, tmp_path):
    (tmp_path / "src/.git").mkdir(parents=True)
    (tmp_path / "src/.git/HEAD").write_text("x")
    (tmp_path / "src/build").mkdir()
    (tmp_path / "src/build/x.py").write_text("x")
    dest = tree.copy_source_tree(tmp_path / "copy", root=tmp_path / "src")
    assert listing(dest) == ["build/x.py"]


def test_the_real_tree_copies_the_packages_and_no_tox_folder(tree):
    patterns = tree.ignored_patterns()
    assert tree.is_ignored(".tox", patterns)
    assert tree.is_ignored("ml2p_core/ml2p.egg-info", patterns)
    assert not tree.is_ignored("ml2p_core/ml2p", patterns)
    assert not tree.is_ignored("setup.cfg", patterns)
