#!/usr/bin/env python3
"""Run ML2P's whole test command: every tox environment of tox.ini.

Installs tox if it is missing, and puts every pyenv-provided Python on PATH
(tox does not find them through pyenv's shims). Under CI (``CI=true``) a
missing interpreter fails the run; elsewhere its environment is skipped with
a warning. Extra arguments go to tox (e.g. ``-e py311``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pyenv_bins() -> list:
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=False
        ).stdout.strip()
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    if not versions.is_dir():
        return []
    return sorted(str(p / "bin") for p in versions.iterdir() if (p / "bin").is_dir())


def main(argv: list) -> int:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([*pyenv_bins(), env.get("PATH", "")])
    try:
        import tox  # noqa: F401
    except ImportError:
        print("installing tox...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "tox>=4"], check=True)
    strict = env.get("CI", "").lower() in ("1", "true", "yes")
    cmd = [sys.executable, "-m", "tox", "run"]
    if not strict:
        cmd += ["--skip-missing-interpreters", "true"]
    cmd += argv
    print("running:", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
