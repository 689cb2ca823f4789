"""The one install instruction: read from README.md, used as written everywhere, and working.

README.md's ``## Install`` section holds the instruction for installing ML2P
from a checkout (and one from a wheel, which the ``pkg`` env runs). Every page
that tells a user how to install ML2P uses the checkout instruction as a line
of its own; no line installs ``ml2p`` from the package index, where ``ml2p``
is ML2P 0.6. The last tests run the instruction as written in a fresh
virtualenv, and build ML2P from the files the Dockerfile copies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
#: Every page that tells a user how to install ML2P.
INSTALL_PAGES = (
    "README.md",
    "docs/tutorial.md",
    "docs/migration.md",
    "docs/plugin-quickstart.md",
    "examples/docker/Dockerfile",
    "examples/docker/README.md",
    *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("examples/*/README.md")),
    *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("plugins/*/README.md")),
)
#: Where a line may install ML2P: text files of these kinds.
TEXT_SUFFIXES = {".md", ".rst", ".txt", ".py", ".cfg", ".ini", ".toml", ".yml", ".yaml", ".sh"}
#: The check and its tests, which hold such lines as examples.
CHECK_FILES = {"e2e/install_instruction.py", "e2e/test_install_instruction.py"}
EXAMPLE = "minimal"
EXAMPLE_INSTALL = f"python -m pip install ./examples/{EXAMPLE}"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def install():
    return load("install_instruction")


# -- reading README.md ------------------------------------------------------------


def test_a_readme_without_the_section_is_refused(install):
    with pytest.raises(ValueError, match="has no '## Install' section"):
        install.install_instructions("# ML2P\n\n## Layout\n\n    python -m pip install .\n")


@pytest.mark.parametrize(
    "body",
    [
        "    python -m pip install .\n",  # only one
        "    pip install .\n    pip install dist/x.whl\n",  # not python -m pip
        "    python -m pip install .\n    python -m pip install a.whl\n"
        "    python -m pip install b\n",  # three
    ],
)
def test_the_section_must_hold_two_pip_commands(install, body):
    with pytest.raises(ValueError, match="must hold two indented commands"):
        install.install_instructions(f"# ML2P\n\n## Install\n\nText.\n\n{body}\n## Layout\n")


def test_the_section_ends_at_the_next_heading(install):
    readme = (
        "## Install\n\n    python -m pip install .\n\nor\n\n    python -m pip install w.whl\n\n"
        "## Layout\n\n    python -m pip install other\n"
    )
    assert install.install_instructions(readme) == (
        "python -m pip install .",
        "python -m pip install w.whl",
    )


def test_readme_gives_the_checkout_and_the_wheel_instructions(install):
    checkout, wheel = install.install_instructions()
    assert checkout == "python -m pip install ."
    assert re.fullmatch(r"python -m pip install dist/ml2p-[\w.]+-py3-none-any\.whl", wheel)


# -- the same line everywhere ------------------------------------------------------


def test_a_line_counts_only_when_it_is_the_whole_command(install):
    text = (
        "    python -m pip install .\n"  # 1: indented code
        "$ python -m pip install .\n"  # 2: console prompt
        "   $ python -m pip install .\n"  # 3: prompt in a list item
        "RUN python -m pip install .\n"  # 4: Dockerfile
        "python -m pip install ./examples/minimal\n"
        "python -m pip install . pytest\n"
        "Run `python -m pip install .` at the root.\n"
        "pip install .\n"
    )
    assert install.lines_equal_to("python -m pip install .", text) == [1, 2, 3, 4]


@pytest.mark.parametrize("page", INSTALL_PAGES)
def test_every_install_page_uses_the_instruction_as_written(install, page):
    checkout = install.install_instructions().checkout
    text = (ROOT / page).read_text(encoding="utf-8")
    assert install.lines_equal_to(checkout, text), f"{page} has no line '{checkout}'"


@pytest.mark.parametrize(
    "line",
    [
        "pip install ml2p",
        "$ pip install ml2p",
        "RUN pip install --no-cache-dir ml2p",
        'your model runs in (`pip install "ml2p>=0.7"`), and rebuild',
        "python -m pip install 'ml2p==0.7.0' my-package",
        "pip3 install ml2p",
        'RUN pip install "ml2p==${ML2P_VERSION}" /opt/program/model-package',
    ],
)
def test_installing_ml2p_by_name_is_found(install, line):
    assert install.fetches_ml2p_from_the_index(line)


@pytest.mark.parametrize(
    "line",
    [
        "python -m pip install .",
        "python -m pip install ./examples/diabetes pytest moto[server]",
        "pip install ./ml2p-latency",
        "python -m pip install dist/ml2p-0.7.0-py3-none-any.whl",
        "pip install ml2p-metrics",
        'pip install "ml2p[testing]"',  # an extra of the ML2P already installed
        "on the package index, `pip install ml2p` installs ML2P 0.6",
        "# Tutorial: from `pip install` to a deployed endpoint",
    ],
)
def test_paths_other_names_and_lines_about_0_6_are_not(install, line):
    assert not install.fetches_ml2p_from_the_index(line)


def test_no_line_installs_ml2p_from_the_package_index(install):
    tree = load("source_tree")
    patterns = tree.ignored_patterns()
    offending = []
    for folder, dirs, files in os.walk(ROOT):
        base = pathlib.Path(folder).relative_to(ROOT).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = [d for d in dirs if not tree.is_ignored(prefix + d, patterns)]
        for name in files:
            path = pathlib.Path(folder) / name
            if path.suffix not in TEXT_SUFFIXES and name != "Dockerfile":
                continue
            if tree.is_ignored(prefix + name, patterns) or prefix + name in CHECK_FILES:
                continue
            for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
                if install.fetches_ml2p_from_the_index(line):
                    offending.append(f"{prefix}{name}:{number}: {line.strip()}")
    assert offending == []


# -- running it --------------------------------------------------------------------


def test_the_instruction_installs_ml2p_from_a_checkout_and_an_example_imports(install, tmp_path):
    """README's instruction as written, at the root of a fresh copy of the checkout."""
    checkout = load("source_tree").copy_source_tree(tmp_path / "checkout")
    assert install.lines_equal_to(
        EXAMPLE_INSTALL, (ROOT / f"examples/{EXAMPLE}/README.md").read_text("utf-8")
    ), f"examples/{EXAMPLE}/README.md no longer says '{EXAMPLE_INSTALL}'"
    venv = tmp_path / "venv"
    install.create_venv(venv)
    env = install.venv_environ(venv)
    for command in (install.install_instructions().checkout, EXAMPLE_INSTALL):
        proc = install.run_verbatim(command, checkout, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    version = re.search(
        r'__version__ = "([^"]+)"', (ROOT / "ml2p_core/ml2p/__init__.py").read_text("utf-8")
    ).group(1)
    out = subprocess.run(
        ["ml2p", "--version"], env=env, cwd=str(tmp_path), capture_output=True, text=True
    )
    assert out.returncode == 0 and version in out.stdout, out.stdout + out.stderr
    probe = (
        "import json, ml2p\n"
        "from ml2p.plugins import resolve_model\n"
        f"model = resolve_model({EXAMPLE!r})\n"
        "print(json.dumps([model.__module__, model.__name__, ml2p.__file__]))\n"
    )
    out = subprocess.run(
        ["python", "-c", probe], env=env, cwd=str(tmp_path), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    module, name, core_file = json.loads(out.stdout)
    assert (module, name) == ("ml2p_example_minimal.model", "MinimalModel")
    # Installed into the fresh virtualenv, not imported from a source tree.
    assert pathlib.Path(core_file).resolve().is_relative_to(venv.resolve())


def test_ml2p_builds_from_the_files_the_dockerfile_copies(install, tmp_path):
    """The image's ML2P install step: the files its COPY lines name are enough to build ML2P."""
    dockerfile = (ROOT / "examples/docker/Dockerfile").read_text("utf-8")
    assert install.lines_equal_to(install.install_instructions().checkout, dockerfile)
    context = tmp_path / "context"
    context.mkdir()
    for line in dockerfile.splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or any(w.startswith("--from") for w in words):
            continue
        for source in words[1:-1]:
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, context / source)
            else:
                shutil.copy2(ROOT / source, context / source)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", "out", "."],
        cwd=str(context),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [p.name for p in (context / "out").glob("ml2p-*-py3-none-any.whl")]
