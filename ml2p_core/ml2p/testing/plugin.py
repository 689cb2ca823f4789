"""ML2P's pytest plugin: fixtures for model and plugin authors.

Installing ML2P registers this module with pytest (the ``pytest11`` entry
point ``ml2p``), so every test session has these fixtures; ``-p no:ml2p``
turns them off. It is loaded in every session, so it imports nothing heavy:
moto, boto3 and the server are imported by the fixtures that use them.

=================================  ============================================
fixture                            what it gives
=================================  ============================================
``ml2p_moto_server`` (session)     the URL of a moto server on 127.0.0.1
``ml2p_aws``                       that URL, with moto reset and boto3 pointed
                                   at it (fake credentials, region,
                                   ``AWS_ENDPOINT_URL``) for the test
``ml2p_s3_bucket``                 the bucket name ``ml2p_s3`` makes
                                   (``ml2p-test``; override it to change it)
``ml2p_s3``                        a boto3 S3 client with that bucket made
``ml2p_prediction_client``         a factory of started
                                   :class:`~ml2p.testing.PredictionClient`
``ml2p_served_predictor``          a factory of started
                                   :class:`~ml2p.testing.ServedPredictor`
=================================  ============================================

Every name starts with ``ml2p_`` so that none hides a fixture of your own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

#: The bucket ``ml2p_s3`` makes unless ``ml2p_s3_bucket`` is overridden.
DEFAULT_BUCKET = "ml2p-test"


@pytest.fixture(scope="session")
def ml2p_moto_server() -> Iterator[str]:
    """The base URL of a moto server on 127.0.0.1, shared by the session and stopped at its end.

    Fails naming the ``ml2p[testing]`` extra if moto's server is not installed.
    """
    from ml2p.testing.moto_server import moto_url, start_moto

    try:
        server = start_moto()
    except ImportError as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing:  # failed outside the except block: one message, no exception chain
        pytest.fail(missing, pytrace=False)
    try:
        yield moto_url(server)
    finally:
        server.stop()


@pytest.fixture
def ml2p_aws(ml2p_moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The moto server's URL, reset, with boto3 pointed at it for this test.

    Sets fake credentials, the region ``us-east-1`` and ``AWS_ENDPOINT_URL``,
    and removes variables that would point boto3 elsewhere (``AWS_PROFILE``,
    ``AWS_ENDPOINT_URL_<SERVICE>``...); all are restored after the test.
    Child processes the test starts inherit them.
    """
    import os

    from ml2p.testing.moto_server import aws_environ, reset_moto

    reset_moto(ml2p_moto_server)
    wanted = aws_environ(ml2p_moto_server)
    for name in [name for name in os.environ if name not in wanted]:
        monkeypatch.delenv(name)
    for name, value in wanted.items():
        if os.environ.get(name) != value:
            monkeypatch.setenv(name, value)
    return ml2p_moto_server


@pytest.fixture
def ml2p_s3_bucket() -> str:
    """The name of the bucket :func:`ml2p_s3` makes: override this fixture to change it."""
    return DEFAULT_BUCKET


@pytest.fixture
def ml2p_s3(ml2p_aws: str, ml2p_s3_bucket: str) -> Any:
    """A boto3 S3 client on the moto server, with the bucket ``ml2p_s3_bucket`` made."""
    import boto3

    from ml2p.testing.moto_server import FAKE_AWS_ENV

    client = boto3.client("s3", region_name=FAKE_AWS_ENV["AWS_DEFAULT_REGION"])
    client.create_bucket(Bucket=ml2p_s3_bucket)
    return client


@pytest.fixture
def ml2p_prediction_client(tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """Make started :class:`~ml2p.testing.PredictionClient` objects, closed after the test.

    Takes the client's arguments; a model is served from ``tmp_path`` unless
    ``ml_folder`` or ``env`` is given, and with ``environ`` given, records S3
    refuses spill under ``tmp_path`` unless it sets ``ML2P_RECORD_SPILL_DIR``::

        def test_predict(ml2p_prediction_client):
            client = ml2p_prediction_client(MyModel, environ={...})
            assert client.post("/invocations", json={...}).status_code == 200
    """
    from ml2p.testing.client import PredictionClient
    from ml2p.testing.served import SPILL_DIR_ENV

    clients: list[PredictionClient] = []

    def make(model: Any = None, **kwargs: Any) -> PredictionClient:
        if model is not None and "env" not in kwargs:
            kwargs.setdefault("ml_folder", tmp_path)
            if kwargs.get("environ") is not None:
                # Records S3 refuses spill under tmp_path, not in a folder shared with later runs.
                kwargs["environ"] = {
                    SPILL_DIR_ENV: str(tmp_path / "ml2p-record-spill"),
                    **kwargs["environ"],
                }
        client = PredictionClient(model, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in reversed(clients):
        client.close()


@pytest.fixture
def ml2p_served_predictor(tmp_path: Any) -> Iterator[Callable[..., Any]]:
    """Start :class:`~ml2p.testing.ServedPredictor` servers, stopped (SIGTERM) after the test.

    Takes the server's arguments; ``ml_folder`` defaults to ``tmp_path`` and
    each server's log is kept in ``tmp_path``::

        def test_served(ml2p_served_predictor):
            server = ml2p_served_predictor("my_model", environ={...})
            assert server.post("/invocations", json={...}).status_code == 200
    """
    from ml2p.testing.served import ServedPredictor

    servers: list[ServedPredictor] = []

    def make(model: Any, ml_folder: Any = None, **kwargs: Any) -> ServedPredictor:
        kwargs.setdefault("log_path", tmp_path / f"ml2p-serve-{len(servers)}.log")
        server = ServedPredictor(model, tmp_path if ml_folder is None else ml_folder, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in reversed(servers):
        server.stop()
