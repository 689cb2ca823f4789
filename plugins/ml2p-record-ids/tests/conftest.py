"""Fixtures: S3 on a moto server (ml2p.testing's), and a plugin manager with the plugin."""

from __future__ import annotations

import ml2p_record_ids.hooks
import pytest
from ml2p_record_ids import fields

from ml2p.core import SageMakerEnv
from ml2p.plugins import make_plugin_manager

BUCKET = "record-ids-test"


@pytest.fixture
def ml2p_s3_bucket():
    """The bucket ml2p.testing's ``ml2p_s3`` makes."""
    return BUCKET


@pytest.fixture
def s3(ml2p_s3):
    """An S3 client on a freshly reset moto, with the bucket made; boto3 is pointed at moto."""
    return ml2p_s3


@pytest.fixture(autouse=True)
def _no_fields(monkeypatch):
    monkeypatch.delenv(fields.FIELDS_ENV, raising=False)


@pytest.fixture
def pm():
    manager = make_plugin_manager(load_entry_points=False)
    manager.register(ml2p_record_ids.hooks, name="ml2p-record-ids")
    return manager


@pytest.fixture
def env(tmp_path):
    return SageMakerEnv(
        tmp_path,
        environ={
            "ML2P_PROJECT": "test-proj",
            "ML2P_S3_URL": f"s3://{BUCKET}/proj/",
            "ML2P_MODEL_VERSION": "model-1-2-3",
            "ML2P_RECORD_INVOKES": "true",
        },
    )
