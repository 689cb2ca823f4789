"""The two Pythons the suite compares: ML2P 0.6.0's virtualenv and this environment.

ML2P 0.6.0 is installed from the package index into its own virtualenv, made
once and kept (``ML2P_COMPAT_CACHE``, which ``tox -e compat`` puts under the
tox env's folder) so that reruns are fast. The 0.6-style model package
``compat/model06`` is pip-installed into both, and reinstalled only when its
source changes.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from compat.harness import MODEL06_DIR

#: What the 0.6.0 virtualenv holds (pytest runs model06's own tests there).
V060_REQUIREMENTS = ["ml2p==0.6.0", "pytest"]
CACHE_ENV = "ML2P_COMPAT_CACHE"
READY_MARK = ".ml2p-compat-ready"


def cache_dir() -> pathlib.Path:
    default = pathlib.Path.home() / ".cache" / "ml2p-compat"
    return pathlib.Path(os.environ.get(CACHE_ENV) or default)


def _pip(python: str, args: list[str]) -> None:
    cmd = [python, "-m", "pip", "--disable-pip-version-check", "--quiet", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


def ensure_v060(folder: pathlib.Path) -> str:
    """Return the Python of a virtualenv at ``folder`` with ML2P 0.6.0; make it if needed."""
    python = folder / "bin" / "python"
    mark = folder / READY_MARK
    wanted = "\n".join(V060_REQUIREMENTS)
    if python.exists() and mark.exists() and mark.read_text() == wanted:
        return str(python)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    _pip(str(python), ["install", *V060_REQUIREMENTS])
    check = subprocess.run(
        [str(python), "-c", "import ml2p; print(ml2p.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    if check.stdout.strip() != "0.6.0":
        raise RuntimeError(f"{folder}: expected ML2P 0.6.0, got {check.stdout.strip()!r}")
    mark.write_text(wanted)
    return str(python)


def source_hash(folder: str) -> str:
    """A hash of every source file under ``folder`` (build leftovers excluded)."""
    digest = hashlib.sha256()
    for path in sorted(pathlib.Path(folder).rglob("*")):
        parts = set(path.parts)
        if not path.is_file() or parts & {"build", "__pycache__"} or ".egg-info" in str(path):
            continue
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_model06(python: str) -> None:
    """pip-install ``compat/model06`` into ``python``'s environment unless already current.

    It is installed as a user would (not editable). Its dependency ``ml2p`` is
    already installed in both environments: ``--no-deps`` keeps pip from
    replacing it. A mark in the environment's prefix remembers the source.
    """
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    mark = pathlib.Path(prefix) / ".ml2p-compat-model06"
    wanted = source_hash(MODEL06_DIR)
    if mark.exists() and mark.read_text() == wanted:
        return
    # pip builds in the source folder: build a copy, leaving the source clean.
    with tempfile.TemporaryDirectory(prefix="model06-") as tmp:
        copy = shutil.copytree(
            MODEL06_DIR,
            os.path.join(tmp, "model06"),
            ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
        )
        _pip(python, ["install", "--force-reinstall", "--no-deps", copy])
    mark.write_text(wanted)
