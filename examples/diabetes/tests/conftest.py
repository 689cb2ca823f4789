"""Fixtures for the diabetes example's tests: S3 on a moto server (ml2p.testing's)."""

from __future__ import annotations

from typing import Any

import pytest

BUCKET = "diabetes-test"


@pytest.fixture
def ml2p_s3_bucket() -> str:
    """The bucket ml2p.testing's ``ml2p_s3`` makes."""
    return BUCKET


@pytest.fixture
def s3_bucket(ml2p_s3: Any) -> Any:
    """An S3 client on a freshly reset moto, with ``BUCKET`` made; boto3 is pointed at moto."""
    return ml2p_s3


@pytest.fixture(autouse=True)
def _no_plugin_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's plugin and upload settings must not change these tests."""
    for var in ("ML2P_LOAD_PLUGINS", "ML2P_DISABLE_PLUGINS", "ML2P_PROJECT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ML2P_EXAMPLE_UPLOAD", raising=False)
