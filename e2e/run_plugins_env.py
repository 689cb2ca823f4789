"""Install ML2P, its plugins and examples as a user would, then run their tests.

This is what ``tox -e plugins`` runs (``skip_install = true``, ``deps = pip``).
Into the *current* environment it pip-installs, non-editable, from a clean
copy of the source tree (:mod:`source_tree`: other envs build from the tree
at the same time):

* the core (the repository root),
* every ``plugins/*/`` and ``examples/*/`` folder holding a ``setup.cfg`` or
  ``pyproject.toml`` (``examples/docker`` excepted: it is an image, not a
  package),
* the test dependencies (:data:`TEST_DEPS`).

Then it runs pytest over every ``plugins/*/tests``, every ``examples/*/tests``
and ``e2e/``, with ``--import-mode=importlib`` from a temporary working
directory and without ``PYTHONPATH``, so the tests can only import the
*installed* packages, never the source trees. It exits with pytest's exit
code, and fails (exit 5) if no test ran.

Usage::

    python e2e/run_plugins_env.py [--skip-install] [-- PYTEST ARGS...]
"""

from __future__ import annotations

import argparse
import configparser
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from source_tree import copy_source_tree

ROOT = pathlib.Path(__file__).resolve().parent.parent
#: Example folders that are not Python distributions.
NOT_PACKAGES = {"docker"}
TEST_DEPS = ["pytest", "hypothesis", "moto[server]", "jsonschema", "requests"]
NO_TESTS_RAN = 5


def _is_package(folder: pathlib.Path) -> bool:
    return (folder / "setup.cfg").is_file() or (folder / "pyproject.toml").is_file()


def local_packages(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    """Return the folders to install: the core first, then plugins, then examples."""
    found = [root]
    found += sorted(p for p in (root / "plugins").glob("*/") if _is_package(p))
    found += sorted(
        p for p in (root / "examples").glob("*/") if p.name not in NOT_PACKAGES and _is_package(p)
    )
    return found


def test_paths(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    """Return the absolute test folders: plugins' and examples' ``tests/``, then ``e2e/``."""
    paths = sorted(p for p in (root / "plugins").glob("*/tests") if p.is_dir())
    paths += sorted(
        p
        for p in (root / "examples").glob("*/tests")
        if p.is_dir() and p.parent.name not in NOT_PACKAGES
    )
    return [*paths, root / "e2e"]


def _clean_env() -> dict[str, str]:
    # The source trees must not be importable: no PYTHONPATH, no user site.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd: Sequence[str], cwd: pathlib.Path, env: dict[str, str]) -> int:
    print(f"$ (cd {cwd} && {shlex.join(map(str, cmd))})", flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=str(cwd), env=env)


def dist_name(folder: pathlib.Path) -> str:
    """Return the distribution name declared in ``folder``'s setup.cfg or pyproject.toml."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(folder / "setup.cfg", encoding="utf-8")
    name = cfg.get("metadata", "name", fallback="").strip()
    if not name and (folder / "pyproject.toml").is_file():
        match = re.search(
            r'^\[project\][^\[]*?^name\s*=\s*"([^"]+)"',
            (folder / "pyproject.toml").read_text(encoding="utf-8"),
            re.M | re.S,
        )
        name = match.group(1) if match else ""
    if not name:
        raise SystemExit(f"{folder}: cannot find the distribution name")
    return name


def install(packages: Sequence[pathlib.Path], env: dict[str, str], workdir: pathlib.Path) -> None:
    """pip-install the local packages (non-editable, freshly built) and the test deps."""
    pip = [sys.executable, "-m", "pip"]
    names = [dist_name(p) for p in packages]
    print("installing into", sys.prefix, flush=True)
    for name, path in zip(names, packages):
        print(f"  {name} from {path}", flush=True)
    print(f"  test dependencies: {', '.join(TEST_DEPS)}", flush=True)
    # A re-used environment may hold the same versions, which pip would keep:
    # remove them first so the tests see the current source.
    _run([*pip, "uninstall", "--yes", "--quiet", *names], workdir, env)
    if _run([*pip, "install", "--quiet", *packages, *TEST_DEPS], workdir, env):
        raise SystemExit("pip install failed (see above)")


def check_installed(env: dict[str, str], workdir: pathlib.Path) -> None:
    """Fail unless ``ml2p`` imports from outside the repository (i.e. the installed copy)."""
    out = subprocess.run(
        [sys.executable, "-c", "import ml2p, os; print(os.path.realpath(ml2p.__file__))"],
        cwd=str(workdir),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    location = pathlib.Path(out.stdout.strip() or "?")
    print(f"ml2p is imported from {location}", flush=True)
    # The tox environment itself lives under the repository (.tox/): what
    # matters is that ml2p does not come from the source folder.
    if out.returncode or (ROOT / "ml2p_core") in location.parents:
        raise SystemExit(f"ml2p must be installed, not imported from the source tree: {out.stderr}")


def count_run(junit_xml: pathlib.Path) -> int:
    """Return how many tests ran (not skipped) according to pytest's JUnit XML report."""
    try:
        root = ET.parse(junit_xml).getroot()
    except (OSError, ET.ParseError):
        return 0
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    return sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-install", action="store_true", help="only run the tests")
    parser.add_argument(
        "--allow-system",
        action="store_true",
        help="install into a Python that is not a virtualenv (it uninstalls ml2p first)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(list(argv))
    if not args.skip_install and sys.prefix == sys.base_prefix and not args.allow_system:
        print(
            f"error: {sys.executable} is not a virtualenv; this replaces its ml2p packages. "
            "Run it with tox -e plugins, a venv's python, or pass --allow-system.",
            file=sys.stderr,
        )
        return 2

    env = _clean_env()
    with tempfile.TemporaryDirectory(prefix="ml2p-plugins-env-") as tmp:
        workdir = pathlib.Path(tmp)
        if not args.skip_install:
            source = copy_source_tree(workdir / "source")
            print(f"copied the source tree to {source}", flush=True)
            install(local_packages(source), env, workdir)
        check_installed(env, workdir)
        junit = workdir / "junit.xml"
        paths = test_paths()
        print("running the tests of:", flush=True)
        for path in paths:
            print(f"  {path}", flush=True)
        code = _run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--import-mode=importlib",
                "-p",
                "no:cacheprovider",
                "-rs",
                f"--junitxml={junit}",
                *args.pytest_args,
                *paths,
            ],
            workdir,
            env,
        )
        ran = count_run(junit)
    print(f"pytest exited {code}; {ran} test(s) ran", flush=True)
    if code == 0 and ran == 0:
        print("error: no test ran", file=sys.stderr)
        return NO_TESTS_RAN
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
