"""Build ML2P's sdist and wheel as a packager would, check them, and install the wheel.

This is what ``tox -e pkg`` runs (``skip_install = true``, deps ``build`` and
``twine``). In a temporary folder it:

1. builds a clean copy of the source tree (:mod:`source_tree`) with
   ``python -m build``: the sdist, then the wheel from the sdist;
2. checks both with ``twine check --strict``;
3. checks that the sdist holds the licence, README, changelog, every file of
   ``tests/`` and ``docs/`` and every file the docs include, and that the
   wheel holds the licence and ``py.typed`` and no tests;
4. makes a fresh virtualenv and runs README's instruction for installing from
   a wheel, as written, from the folder that holds ``dist/``;
5. in that virtualenv: imports what the main job uses, checks that
   ``ml2p --version`` prints the wheel's version, and, from the unpacked
   sdist, collects every test and runs the documentation tests against the
   installed wheel, as a packager would.

It stops at the first step that fails, saying what is wrong, with exit status 1.

Usage::

    python e2e/check_package.py
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Sequence

from install_instruction import (
    create_venv,
    install_instructions,
    run_verbatim,
    venv_bin,
    venv_environ,
)
from source_tree import copy_source_tree

#: Files every sdist must hold besides the code, ``tests/`` and ``docs/``.
SDIST_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "setup.cfg", "pyproject.toml")
#: Folders of the source tree the sdist must hold whole.
SDIST_FOLDERS = ("tests", "docs")
#: What the main job (``python demo.py``: ``ml2p local generate | train | serve``
#: on a model package) imports from the core.
MAIN_JOB_IMPORT = (
    "from ml2p.core import Model, ModelDatasetGenerator, ModelPredictor, ModelTrainer; "
    "import ml2p.cli.local, ml2p.serving.server, ml2p.docker"
)
#: What a packager installs to run the tests (the rest come with the wheel).
TEST_TOOLS = ("pytest", "hypothesis")
DOC_TESTS = "tests/test_docs.py"
#: Refuse odd members when the Python can (it is our own archive, just built).
SAFE_EXTRACT = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


class CheckFailed(Exception):
    """A step failed; the message says what is wrong."""


def step(text: str) -> None:
    print(f"== {text}", flush=True)


def run(cmd: Sequence[object], what: str, tail: int = 0, **kwargs) -> str:
    """Run ``cmd`` and print its output (its last ``tail`` lines, if given, unless it fails).

    Return the output, or raise :class:`CheckFailed`.
    """
    cmd = [str(c) for c in cmd]
    print(f"$ {' '.join(cmd)}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    output = proc.stdout + proc.stderr
    shown = output.splitlines()[-tail:] if tail and proc.returncode == 0 else output.splitlines()
    print("\n".join(shown), flush=True)
    if proc.returncode != 0:
        raise CheckFailed(f"{what} failed (exit status {proc.returncode})")
    return output


def docs_includes(source: pathlib.Path) -> set[str]:
    """The files the docs include (MyST ``{include}``), as paths from the root of ``source``."""
    found = set()
    for page in (source / "docs").glob("*.md"):
        for target in re.findall(r"^```\{include\}\s+(\S+)", page.read_text("utf-8"), re.M):
            path = (page.parent / target).resolve()
            found.add(path.relative_to(source.resolve()).as_posix())
    return found


def expected_in_sdist(source: pathlib.Path) -> set[str]:
    """What the sdist of ``source`` must hold, as paths from its root."""
    wanted = set(SDIST_FILES) | docs_includes(source)
    for folder in SDIST_FOLDERS:
        wanted |= {
            p.relative_to(source).as_posix() for p in (source / folder).rglob("*") if p.is_file()
        }
    return wanted


def sdist_missing(members: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """Which of ``wanted`` the sdist with ``members`` (under its top folder) lacks."""
    held = {m.split("/", 1)[1] for m in members if "/" in m}
    return sorted(set(wanted) - held)


def wheel_problems(names: Iterable[str]) -> list[str]:
    """What is wrong with a wheel holding ``names``: no licence, no ``py.typed``, or tests."""
    names = list(names)
    problems = []
    if not any(re.fullmatch(r"[^/]+\.dist-info/(licenses/)?LICENSE", n) for n in names):
        problems.append("no LICENSE in its .dist-info")
    if "ml2p/py.typed" not in names:
        problems.append("no ml2p/py.typed")
    problems += sorted(f"holds {n}" for n in names if n.startswith("tests/"))
    return problems


def built(dist: pathlib.Path, pattern: str) -> pathlib.Path:
    found = sorted(dist.glob(pattern))
    if len(found) != 1:
        raise CheckFailed(f"expected one {pattern} in {dist}, found {[p.name for p in found]}")
    return found[0]


def check_archives(source: pathlib.Path, sdist: pathlib.Path, wheel: pathlib.Path) -> None:
    with tarfile.open(sdist) as archive:
        missing = sdist_missing(archive.getnames(), expected_in_sdist(source))
    if missing:
        raise CheckFailed(f"{sdist.name} lacks: {', '.join(missing)} (see MANIFEST.in)")
    with zipfile.ZipFile(wheel) as archive:
        problems = wheel_problems(archive.namelist())
    if problems:
        raise CheckFailed(f"{wheel.name}: {'; '.join(problems)}")
    print(f"{sdist.name} holds the licence, README, changelog, tests/ and docs/", flush=True)
    print(f"{wheel.name} holds the licence and py.typed, and no tests", flush=True)


def install_wheel(work: pathlib.Path, wheel: pathlib.Path) -> pathlib.Path:
    """Run README's wheel instruction in a fresh virtualenv; return the virtualenv's folder."""
    command = install_instructions().wheel
    if wheel.relative_to(work).as_posix() not in command.split():
        raise CheckFailed(
            f"README.md's wheel instruction ({command}) does not name the wheel just built, "
            f"{wheel.relative_to(work).as_posix()}"
        )
    folder = work / "venv"
    create_venv(folder)
    proc = run_verbatim(command, work, venv_environ(folder))
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, end="", flush=True)
        raise CheckFailed(f"README.md's wheel instruction failed (exit status {proc.returncode})")
    print(proc.stdout.strip().splitlines()[-1], flush=True)  # pip's "Successfully installed"
    return folder


def check_installed(folder: pathlib.Path, version: str, sdist_root: pathlib.Path) -> None:
    env = venv_environ(folder)
    python = venv_bin(folder) / "python"
    run([python, "-c", MAIN_JOB_IMPORT], "the main job's import", env=env, cwd=str(folder))
    out = run([venv_bin(folder) / "ml2p", "--version"], "ml2p --version", env=env)
    if version not in out:
        raise CheckFailed(f"ml2p --version printed {out.strip()!r}, not {version}")
    run([python, "-m", "pip", "install", "--quiet", *TEST_TOOLS], "installing pytest", env=env)
    pytest = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    out = run(
        [*pytest, "--collect-only", "tests"], "collecting the tests", 1, env=env, cwd=sdist_root
    )
    if not re.search(r"^\d+ tests? collected", out, re.M):
        raise CheckFailed("no test collected from the sdist")
    run([*pytest, DOC_TESTS], "the documentation tests", env=env, cwd=str(sdist_root))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ml2p-pkg-") as tmp:
        work = pathlib.Path(tmp)
        try:
            step("building the sdist and the wheel from a clean copy of the source tree")
            source = copy_source_tree(work / "source")
            dist = work / "dist"
            run([sys.executable, "-m", "build", "--outdir", dist, source], "python -m build", 1)
            sdist, wheel = built(dist, "ml2p-*.tar.gz"), built(dist, "ml2p-*.whl")
            step("checking the metadata")
            run([sys.executable, "-m", "twine", "check", "--strict", sdist, wheel], "twine check")
            step("checking what the sdist and the wheel hold")
            check_archives(source, sdist, wheel)
            step("installing the wheel in a fresh virtualenv, as README.md says")
            folder = install_wheel(work, wheel)
            step("running the installed wheel, and the sdist's tests against it")
            with tarfile.open(sdist) as archive:
                archive.extractall(work / "unpacked", **SAFE_EXTRACT)
            version = wheel.name.split("-")[1]
            check_installed(folder, version, work / "unpacked" / sdist.name[: -len(".tar.gz")])
        except CheckFailed as exc:
            print(f"\npackage check failed: {exc}", file=sys.stderr)
            return 1
    print("package check passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
