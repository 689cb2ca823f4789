"""Shared fixtures. AWS is moto in server mode, over real HTTP on 127.0.0.1.

The moto server and the AWS fixtures are ml2p.testing's (its pytest plugin,
loaded through the ``pytest11`` entry point); ``moto_server``, ``aws`` and
``s3`` are the names these tests use for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ml2p import plugins
from ml2p.testing.moto_server import FAKE_AWS_ENV as AWS_TEST_ENV
from ml2p.testing.moto_server import moto_url, reset_moto, start_moto

pytest_plugins = ["pytester"]

# Re-exported for the tests that start moto servers of their own.
__all__ = ["AWS_TEST_ENV", "moto_url", "read_json_object", "reset_moto", "start_moto"]


@pytest.fixture(scope="session")
def moto_server(ml2p_moto_server: str) -> str:
    """The URL of the moto server shared by the session."""
    return ml2p_moto_server


@pytest.fixture
def aws(ml2p_aws: str) -> str:
    """The moto server's URL, reset, with boto3 pointed at it (``AWS_ENDPOINT_URL``)."""
    return ml2p_aws


@pytest.fixture
def s3(ml2p_s3: Any) -> Any:
    """A boto3 S3 client on the moto server, with the bucket ``ml2p-test`` created."""
    return ml2p_s3


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
