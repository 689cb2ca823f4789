"""Fixtures: a real plugin manager with ml2p-validate registered, and a serving environment."""

from __future__ import annotations

import ml2p_validate.hooks
import pytest
from ml2p_validate import schemas

from ml2p.core import SageMakerEnv
from ml2p.plugins import make_plugin_manager


@pytest.fixture(autouse=True)
def _no_schema_override(monkeypatch):
    monkeypatch.delenv(schemas.SCHEMA_ENV, raising=False)


@pytest.fixture
def pm():
    manager = make_plugin_manager(load_entry_points=False)
    manager.register(ml2p_validate.hooks, name="ml2p-validate")
    return manager


@pytest.fixture
def env(tmp_path):
    (tmp_path / "model").mkdir()
    return SageMakerEnv(
        tmp_path,
        environ={"ML2P_PROJECT": "test-proj", "ML2P_MODEL_VERSION": "model-1-2-3"},
    )
