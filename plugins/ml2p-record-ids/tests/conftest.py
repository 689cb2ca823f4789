"""Fixtures: a moto S3 server over real HTTP on 127.0.0.1, and a plugin manager with the plugin."""

from __future__ import annotations

import urllib.request

import ml2p_record_ids.hooks
import pytest
from ml2p_record_ids import fields

from ml2p.core import SageMakerEnv
from ml2p.plugins import make_plugin_manager

BUCKET = "record-ids-test"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """An S3 client on a freshly reset moto, with the bucket made; boto3 is pointed at moto."""
    import boto3

    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset, timeout=10).close()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


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
