"""Fixtures for the end-to-end tests: S3 on a moto server (ml2p.testing's), and free ports."""

from __future__ import annotations

import os
from typing import Any, Dict

import pytest

BUCKET = "ml2p-e2e"


@pytest.fixture
def ml2p_s3_bucket() -> str:
    """The bucket ml2p.testing's ``ml2p_s3`` makes."""
    return BUCKET


@pytest.fixture
def aws_environ(ml2p_aws: str) -> Dict[str, str]:
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
    from ml2p.testing import free_port

    return free_port()
