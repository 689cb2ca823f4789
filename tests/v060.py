"""Running code under ML2P 0.6.0, the oracle of compatibility, when one is installed.

Set ``ML2P_V060_PYTHON`` to the Python of a virtualenv with ``ml2p==0.6.0``
(the ``compat`` tox env makes one). Tests that compare with it are skipped
without it; each also asserts ML2P 0.6.0's behaviour as plain expectations,
which run either way.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

import pytest

PYTHON_ENV = "ML2P_V060_PYTHON"


def python() -> str | None:
    """The ML2P 0.6.0 interpreter, or None if none is configured."""
    return os.environ.get(PYTHON_ENV) or None


#: Marks a test that runs code under ML2P 0.6.0.
needed = pytest.mark.skipif(
    python() is None, reason=f"set {PYTHON_ENV} to an ML2P 0.6.0 virtualenv's python"
)


def run_json(code: str, *, cwd: str | None = None, env: Mapping[str, str] | None = None) -> Any:
    """Run ``code`` under ML2P 0.6.0 and return the JSON it prints as its last line."""
    prelude = "import ml2p\nassert ml2p.__version__ == '0.6.0', ml2p.__version__\n"
    interpreter = python()
    if interpreter is None:  # pragma: no cover - guarded by ``needed``
        pytest.skip(f"set {PYTHON_ENV}")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    environ.pop("PYTHONPATH", None)  # never this checkout's ml2p
    environ.update(env or {})
    proc = subprocess.run(
        [interpreter, "-c", prelude + code],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])
