"""Fixtures for the end-to-end tests: a moto S3 server over real HTTP, and free ports."""

from __future__ import annotations

import os
import socket
from typing import Dict, Iterator

import pytest

BUCKET = "ml2p-e2e"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (all AWS services) on 127.0.0.1; stopped at the end of the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_environ(moto_endpoint: str) -> Dict[str, str]:
    """The environment for ml2p subprocesses: boto3 points at moto with fake credentials.

    ML2P's plugin selection variables are removed so that every installed
    plugin loads, as it would for a user.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AWS_PROFILE", "PYTHONPATH") and not k.startswith("ML2P_")
    }
    env.update(FAKE_AWS)
    env["AWS_ENDPOINT_URL"] = moto_endpoint
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def s3(aws_environ: Dict[str, str]):
    """A boto3 S3 client on moto with an empty bucket ``BUCKET``; emptied and removed after."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=aws_environ["AWS_ENDPOINT_URL"],
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_AWS["AWS_SESSION_TOKEN"],
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=BUCKET, Key=obj["Key"])
        client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
