"""Shared fixtures: AWS through moto in server mode, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from typing import Iterator

import pytest

from ml2p import plugins

pytest_plugins = ["pytester"]

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_moto(port: int = 0):
    """Start a moto server on 127.0.0.1 and return it (``.stop()`` it when done)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server


def moto_url(server) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def reset_moto(url: str) -> None:
    req = urllib.request.Request(f"{url}/moto-api/reset", method="POST", data=b"")
    urllib.request.urlopen(req, timeout=10).close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The URL of a moto server shared by the session; stopped at its end."""
    server = start_moto()
    try:
        yield moto_url(server)
    finally:
        server.stop()


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 at the moto server (``AWS_ENDPOINT_URL``) with a clean state."""
    reset_moto(moto_server)
    for key, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield moto_server


@pytest.fixture
def s3(aws: str):
    """A boto3 S3 client on the moto server, with the bucket ``ml2p-test`` created."""
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="ml2p-test")
    return client


@pytest.fixture(autouse=True)
def _fresh_plugin_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test builds its own process-wide plugin manager, unaffected by the caller's env."""
    for var in (plugins.ALLOW_ENV, plugins.BLOCK_ENV, plugins.PROJECT_PLUGINS_ENV):
        monkeypatch.delenv(var, raising=False)
    plugins.reset_plugin_manager()
    yield
    plugins.reset_plugin_manager()


@pytest.fixture
def ml2p_yml(tmp_path) -> str:
    """An ``ml2p.yml`` for project ``test-proj`` in bucket ``ml2p-test``."""
    path = tmp_path / "ml2p.yml"
    path.write_text(
        "project: test-proj\n"
        's3folder: "s3://ml2p-test/proj/"\n'
        "models:\n"
        "  minimal: tests.models.MinimalModel\n"
    )
    return str(path)


def read_json_object(client, key: str, bucket: str = "ml2p-test"):
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


os.environ.setdefault("ML2P_TEST", "1")


def _pytests_own(handler: logging.Handler) -> bool:
    """Whether ``handler`` is one of pytest's log capturing handlers."""
    return type(handler).__module__.startswith("_pytest")


@pytest.fixture(autouse=True)
def restore_ml2p_logger():
    """Put the root and ``ml2p`` loggers' handlers, levels and propagation back after each test.

    ``ml2p-docker``, ``ml2p local`` and ``setup_logging`` install ML2P's
    handler on the root logger and set levels. pytest's own capturing
    handlers come and go with each phase of a test, so they are left as
    they are.
    """
    from ml2p.logs import QUIET_LOGGERS

    loggers = [logging.getLogger(), logging.getLogger("ml2p")]
    loggers += [logging.getLogger(name) for name in QUIET_LOGGERS]
    saved = [
        ([h for h in lg.handlers if not _pytests_own(h)], lg.level, lg.propagate) for lg in loggers
    ]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved):
        lg.handlers[:] = handlers + [h for h in lg.handlers if _pytests_own(h)]
        lg.setLevel(level)
        lg.propagate = propagate
