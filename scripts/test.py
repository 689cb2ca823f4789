#!/usr/bin/env python3
"""Run ML2P's whole test command: every tox environment of tox.ini, in parallel.

    python scripts/test.py [TOX ARGUMENTS...]

It needs only Python (3.9 or newer) and pip:

1. tox is installed into its own virtualenv, ``.tox/.bootstrap`` (made on
   first use and reused after), never into the Python that runs this script,
   with tox-uv: the envs are made and filled by uv, which takes a few seconds
   of CPU where virtualenv and pip take half a minute.
2. The Pythons that tox.ini names (``py39``..``py313``, ``python3.11``) are
   put on PATH from pyenv's ``versions`` folder when pyenv provides them:
   tox cannot use pyenv's shims. uv does not download Pythons
   (``UV_PYTHON_DOWNLOADS=never``, unless set otherwise).
3. ``tox run-parallel`` runs every env of ``envlist``, several at a time (see
   :data:`PARALLEL`), and prints each env's output as it finishes, then the
   time of each.

Under CI (``CI=true``) a missing interpreter fails the run; elsewhere its env
is skipped with a warning. Extra arguments go to tox: ``-e py311`` runs one
env, ``-p 2`` changes how many run at once, ``-- -k name`` reaches pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / ".tox" / ".bootstrap"
#: What is installed into the bootstrap virtualenv: tox, and tox-uv, which
#: makes tox create the envs and install into them with uv (much less CPU
#: than virtualenv and pip).
TOX_REQUIREMENTS = ("tox>=4.20,<5", "tox-uv>=1.11,<2")
#: How many envs run at once. The tests mostly wait (on servers, subprocesses
#: and pip), using about half a CPU each, so on 2 cores 3 at a time is faster
#: than 2 (measured: benchmarks/test-command.md).
PARALLEL = "3"


def bootstrap_python() -> Path:
    if os.name == "nt":  # pragma: no cover - the test command runs on POSIX
        return BOOTSTRAP / "Scripts" / "python.exe"
    return BOOTSTRAP / "bin" / "python"


def _tox_installed(python: Path) -> bool:
    stamp = BOOTSTRAP / "requirements.txt"
    if not stamp.is_file() or stamp.read_text().split() != list(TOX_REQUIREMENTS):
        return False
    probe = subprocess.run(
        [str(python), "-c", "import tox, tox_uv"], capture_output=True, check=False
    )
    return probe.returncode == 0


def ensure_tox() -> Path:
    """Return the bootstrap virtualenv's python, with tox installed (made or fixed if needed)."""
    python = bootstrap_python()
    if python.is_file() and _tox_installed(python):
        return python
    print(f"installing {' '.join(TOX_REQUIREMENTS)} into {BOOTSTRAP.relative_to(ROOT)}", flush=True)
    if BOOTSTRAP.exists():
        shutil.rmtree(BOOTSTRAP)  # a stale or broken bootstrap: start again
    venv.EnvBuilder(with_pip=True).create(str(BOOTSTRAP))
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         *TOX_REQUIREMENTS],
        check=True,
    )  # fmt: skip
    (BOOTSTRAP / "requirements.txt").write_text("\n".join(TOX_REQUIREMENTS) + "\n")
    return python


def required_versions(tox_ini: str) -> list[str]:
    """The Python versions tox.ini asks for (``py39`` and ``python3.9`` both mean ``3.9``)."""
    found = {f"3.{minor}" for minor in re.findall(r"\bpy3(\d+)\b", tox_ini)}
    found |= {f"3.{minor}" for minor in re.findall(r"\bpython3\.(\d+)\b", tox_ini)}
    return sorted(found, key=lambda v: int(v.split(".")[1]))


def pyenv_versions_folder(environ: dict[str, str]) -> Path | None:
    root = environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=False
        ).stdout.strip()
    folder = Path(root or Path.home() / ".pyenv") / "versions"
    return folder if folder.is_dir() else None


def interpreter_folders(versions: Sequence[str], folder: Path | None) -> list[str]:
    """The ``bin`` folder of the newest pyenv-installed patch release of each version."""
    if folder is None:
        return []
    found = []
    for version in versions:
        pattern = re.compile(rf"^{re.escape(version)}\.(\d+)$")
        patches = [
            (int(match.group(1)), path)
            for path in folder.iterdir()
            for match in [pattern.match(path.name)]
            if match and (path / "bin").is_dir()
        ]
        if patches:
            found.append(str(max(patches)[1] / "bin"))
    return found


def tox_command(python: Path, argv: Sequence[str], strict: bool) -> list[str]:
    cmd = [str(python), "-m", "tox", "run-parallel"]
    tox_args = argv[: list(argv).index("--")] if "--" in argv else argv  # the rest is pytest's
    if not any(a in ("-p", "--parallel") or a.startswith("--parallel=") for a in tox_args):
        cmd += ["--parallel", PARALLEL]
    if not strict:
        cmd += ["--skip-missing-interpreters", "true"]
    return [*cmd, *argv]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv: Sequence[str]) -> int:
    if sys.version_info < (3, 9):  # noqa: UP036 - users may run it with an older Python
        print("error: the tests need Python 3.9 or newer", file=sys.stderr)
        return 1
    env = dict(os.environ)
    pythons = interpreter_folders(
        required_versions((ROOT / "tox.ini").read_text(encoding="utf-8")),
        pyenv_versions_folder(env),
    )
    env["PATH"] = os.pathsep.join([*pythons, env.get("PATH", "")])
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")  # a missing Python is missing, not fetched
    strict = env.get("CI", "").lower() in ("1", "true", "yes")
    cmd = tox_command(ensure_tox(), argv, strict)
    print(f"running: {' '.join(cmd)}", flush=True)
    print(f"start: {load()}", flush=True)
    started = time.monotonic()
    code = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
    print(f"end: {load()}; {time.monotonic() - started:.0f} s in all", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
