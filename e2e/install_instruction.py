"""The README's install instructions, read from README.md, and a fresh virtualenv to run them in.

README.md's ``## Install`` section gives two commands, as indented code lines:
the first installs ML2P from a checkout (run at its root), the second from a
wheel built into the checkout's ``dist/`` folder. The tests and the ``pkg``
env run those lines as they are written (:func:`run_verbatim`), so the README
cannot drift from what works.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import venv
from typing import NamedTuple

ROOT = pathlib.Path(__file__).resolve().parent.parent
HEADING = "## Install"
PREFIX = "python -m pip install "


class Instructions(NamedTuple):
    checkout: str
    wheel: str


def section(markdown: str, heading: str = HEADING) -> str:
    """The text of ``heading``'s section of ``markdown`` (up to the next heading of its level)."""
    level = heading.split(" ", 1)[0]
    match = re.search(rf"^{re.escape(heading)}[ \t]*\n(.*?)(?=^{level} |\Z)", markdown, re.M | re.S)
    if match is None:
        raise ValueError(f"README.md has no '{heading}' section")
    return match.group(1)


def install_instructions(readme: str | None = None) -> Instructions:
    """The two commands of README's install section: from a checkout, then from a wheel."""
    if readme is None:
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^ {4}(\S.*?)\s*$", section(readme), re.M)
    if len(commands) != 2 or not all(c.startswith(PREFIX) for c in commands):
        raise ValueError(
            f"README.md's '{HEADING}' section must hold two indented commands starting with "
            f"'{PREFIX}' (from a checkout, then from a wheel); it holds {commands}"
        )
    return Instructions(*commands)


def create_venv(folder: pathlib.Path) -> pathlib.Path:
    """Make a fresh virtualenv (with pip) in ``folder``; return its python."""
    venv.EnvBuilder(with_pip=True).create(str(folder))
    return venv_bin(folder) / ("python.exe" if os.name == "nt" else "python")


def venv_bin(folder: pathlib.Path) -> pathlib.Path:
    return folder / ("Scripts" if os.name == "nt" else "bin")


def venv_environ(folder: pathlib.Path) -> dict[str, str]:
    """The environment of a shell where the virtualenv in ``folder`` is activated.

    Nothing from a source tree is importable: no ``PYTHONPATH``, no user site.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(venv_bin(folder)), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(folder)
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run_verbatim(
    command: str, cwd: pathlib.Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` through the shell exactly as written, in ``cwd``; capture its output."""
    print(f"$ (cd {cwd} && {command})", flush=True)
    return subprocess.run(
        command, shell=True, cwd=str(cwd), env=env, capture_output=True, text=True, check=False
    )


def lines_equal_to(command: str, text: str) -> list[int]:
    """The (1-based) numbers of the lines of ``text`` that are ``command`` as a whole.

    A line counts when, without its indentation, a shell prompt (``$ ``) or a
    Dockerfile ``RUN``, it is exactly ``command``.
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        bare = re.sub(r"^\s*(?:\$\s+|RUN\s+)?", "", line).rstrip()
        if bare == command:
            found.append(number)
    return found


_PIP_INSTALL = re.compile(r"\bpip3?\s+install\b(?P<args>[^`#\n]*)")
_ML2P_FROM_INDEX = re.compile(r"""^["']?ml2p(?:[<>=!~]=?[^"'\s]*)?["']?$""")


def fetches_ml2p_from_the_index(line: str) -> bool:
    """Whether ``line`` pip-installs ``ml2p`` by name (the package index has only ML2P 0.6).

    ``pip install ml2p``, ``pip install "ml2p>=0.7"`` or ``pip install ml2p==...``
    count; paths (``.``, ``./examples/x``) and other names (``ml2p-metrics``) do
    not, nor does an extra (``ml2p[testing]``): where ML2P 0.7 is installed,
    pip keeps it and adds the extra's packages. A line that says ``0.6``
    talks about ML2P 0.6 and is allowed.
    """
    if "0.6" in line:
        return False
    return any(
        _ML2P_FROM_INDEX.match(arg)
        for match in _PIP_INSTALL.finditer(line)
        for arg in match.group("args").split()
    )
