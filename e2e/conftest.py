"""Fixtures for the end-to-end tests: S3 on a moto server (ml2p.testing's), and free ports."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

BUCKET = "ml2p-e2e"

# The tests import this folder's helper modules (local_loop, ...) as the scripts here
# do; pytest's importlib import mode (run_plugins_env.py) does not put it on sys.path.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def ml2p_s3_bucket() -> str:
    """The bucket ml2p.testing's ``ml2p_s3`` makes."""
    return BUCKET


@pytest.fixture
def aws_environ(ml2p_aws: str) -> dict[str, str]:
    """The environment for ml2p subprocesses: boto3 points at moto with fake credentials.

    ML2P's plugin selection variables are removed so that every installed
    plugin loads, as it would for a user.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("ML2P_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def s3(ml2p_s3: Any) -> Any:
    """A boto3 S3 client on a freshly reset moto, with an empty bucket ``BUCKET``."""
    return ml2p_s3


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    from local_loop import free_port

    return free_port()
