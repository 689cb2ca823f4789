"""Fixtures for the diabetes example's tests: a moto S3 server over real HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "diabetes-test"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """Start a moto server for this module's tests and stop it afterwards."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point boto3 at moto with fake credentials; return an S3 client with ``BUCKET`` made."""
    import boto3

    for key, value in FAKE_AWS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture(autouse=True)
def _no_plugin_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's plugin and upload settings must not change these tests."""
    for var in ("ML2P_LOAD_PLUGINS", "ML2P_DISABLE_PLUGINS", "ML2P_PROJECT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ML2P_EXAMPLE_UPLOAD", raising=False)
