"""Fixtures: a real plugin manager with ml2p-metrics registered, environments, the metrics file."""

from __future__ import annotations

import json

import ml2p_metrics.hooks
import pytest
from ml2p_metrics import sink

from ml2p.core import SageMakerEnv
from ml2p.plugins import make_plugin_manager

VALID_UNITS = {"Milliseconds", "Seconds", "Count"}


@pytest.fixture
def metrics_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(sink.FILE_ENV, str(path))
    monkeypatch.delenv(sink.NAMESPACE_ENV, raising=False)
    return path


def _check_emf(doc):
    """Assert ``doc`` is a well-formed EMF document; return its one metric directive."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int)
    [directive] = aws["CloudWatchMetrics"]
    assert isinstance(directive["Namespace"], str) and directive["Namespace"]
    [dimension_set] = directive["Dimensions"]
    for name in dimension_set:
        assert isinstance(doc[name], str) and doc[name]
    assert directive["Metrics"]
    for metric in directive["Metrics"]:
        assert set(metric) == {"Name", "Unit"}
        assert metric["Unit"] in VALID_UNITS
        value = doc[metric["Name"]]
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
    return directive


def _read_lines(path):
    """Every line of ``path``, parsed and checked as EMF."""
    if not path.exists():
        return []
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    for doc in docs:
        _check_emf(doc)
    return docs


@pytest.fixture
def pm(metrics_file):
    manager = make_plugin_manager(load_entry_points=False)
    manager.register(ml2p_metrics.hooks, name="ml2p-metrics")
    return manager


@pytest.fixture
def serve_env(tmp_path):
    return SageMakerEnv(
        tmp_path, environ={"ML2P_PROJECT": "test-proj", "ML2P_MODEL_VERSION": "model-1-2-3"}
    )


@pytest.fixture
def train_env(tmp_path):
    return SageMakerEnv(
        tmp_path, environ={"ML2P_PROJECT": "test-proj", "ML2P_TRAINING_JOB": "model-1-2"}
    )


@pytest.fixture
def dataset_env(tmp_path):
    return SageMakerEnv(
        tmp_path, environ={"ML2P_PROJECT": "test-proj", "ML2P_DATASET": "model-20240101"}
    )


@pytest.fixture
def check_emf():
    """Assert a document is well-formed EMF; returns its one metric directive."""
    return _check_emf


@pytest.fixture
def read_lines():
    """Parse and check every EMF line of a file."""
    return _read_lines
