"""A clean copy of the source tree: what a checkout holds, without what builds left in it.

Building a package writes into the folder it is built from (setuptools'
``build/`` and ``*.egg-info/``), and an ``SOURCES.txt`` left there by an
earlier build adds its files to the next sdist. The test command builds ML2P
in several tox envs at once, so each one that builds from the source tree
(the ``plugins`` and ``pkg`` envs) builds from its own copy, made here.

What is left out is what ``.gitignore`` ignores (its simple patterns: a name,
a ``*`` glob, or a path with ``/``), and ``.git``.
"""

from __future__ import annotations

import fnmatch
import pathlib
import shutil
from collections.abc import Sequence

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALWAYS_IGNORED = (".git",)


def ignored_patterns(root: pathlib.Path = ROOT) -> list[str]:
    """The patterns of ``root/.gitignore`` (without comments and blank lines), and ``.git``."""
    try:
        lines = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    patterns = [line.strip() for line in lines]
    return [*ALWAYS_IGNORED, *(p for p in patterns if p and not p.startswith(("#", "!")))]


def is_ignored(relative: str, patterns: Sequence[str]) -> bool:
    """Whether the path ``relative`` (POSIX, from the root) matches one of ``patterns``.

    A pattern without ``/`` (other than a trailing one) matches a name at any
    depth; one with ``/`` matches the path from the root.
    """
    name = relative.rsplit("/", 1)[-1]
    for pattern in patterns:
        bare = pattern.rstrip("/")
        if "/" in bare:
            if fnmatch.fnmatchcase(relative, bare.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, bare):
            return True
    return False


def copy_source_tree(dest: pathlib.Path, root: pathlib.Path = ROOT) -> pathlib.Path:
    """Copy ``root`` to ``dest`` (not yet existing) without the ignored paths; return ``dest``."""
    patterns = ignored_patterns(root)

    def ignore(folder: str, names: list[str]) -> list[str]:
        base = pathlib.Path(folder).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        return [n for n in names if is_ignored(prefix + n, patterns)]

    shutil.copytree(root, dest, ignore=ignore, symlinks=True)
    return dest
