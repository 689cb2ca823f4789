from __future__ import annotations

import os
import pathlib
import uuid

import boto3
import pytest

BUCKET = "compat-bucket"
S3_URL = "s3://compat-bucket/prj/"


@pytest.fixture
def ml2p_yml():
    """The package's own ml2p.yml."""
    return str(pathlib.Path(__file__).resolve().parent.parent / "ml2p.yml")


@pytest.fixture
def ml_folder(tmp_path):
    folder = tmp_path / "ml"
    (folder / "model").mkdir(parents=True)
    return folder


@pytest.fixture
def s3():
    """An S3 client and the project bucket, on the S3 service AWS_ENDPOINT_URL points at."""
    if not os.environ.get("AWS_ENDPOINT_URL"):
        pytest.skip("set AWS_ENDPOINT_URL to an S3 service (e.g. a moto server)")
    client = boto3.client("s3")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return client


@pytest.fixture
def serving(monkeypatch):
    """Environment variables of a deployed model, with a model version of its own."""
    version = f"compat-proj-model06-1-0-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("ML2P_MODEL_VERSION", version)
    monkeypatch.setenv("ML2P_PROJECT", "compat-proj")
    monkeypatch.setenv("ML2P_S3_URL", S3_URL)
    monkeypatch.setenv("ML2P_MODEL_CLS", "model06.model.Model06")
    for name in ("ML2P_TRAINING_JOB", "ML2P_DATASET", "ML2P_RECORD_INVOKES"):
        monkeypatch.delenv(name, raising=False)
    return version
