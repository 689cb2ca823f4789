"""Test helpers for model and plugin authors (also a pytest plugin).

* :class:`PredictionClient`: the prediction server's app called in this
  process, without sockets (the replacement for ML2P 0.6's Flask test client);
* :class:`ServedPredictor`: the production server (``ml2p-docker serve``) in a
  child process on 127.0.0.1;
* :func:`~ml2p.testing.moto_server.start_moto`,
  :func:`~ml2p.testing.moto_server.moto_url`,
  :func:`~ml2p.testing.moto_server.reset_moto`,
  :func:`~ml2p.testing.moto_server.aws_environ`: AWS through moto in server
  mode, over real HTTP on 127.0.0.1.

The pytest fixtures built on them (``ml2p_aws``, ``ml2p_s3``,
``ml2p_prediction_client``, ...) are in :mod:`ml2p.testing.plugin`, which
pytest loads by itself once ML2P is installed. The moto helpers need the
``ml2p[testing]`` extra. Importing this package is cheap: each name is
imported when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ml2p.testing.client import PredictionClient
    from ml2p.testing.errors import ServerNotReady
    from ml2p.testing.messages import Headers, Response
    from ml2p.testing.moto_server import (
        FAKE_AWS_ENV,
        aws_environ,
        moto_url,
        reset_moto,
        start_moto,
    )
    from ml2p.testing.served import ServedPredictor, free_port

_WHERE = {
    "PredictionClient": "ml2p.testing.client",
    "ServedPredictor": "ml2p.testing.served",
    "free_port": "ml2p.testing.served",
    "Response": "ml2p.testing.messages",
    "Headers": "ml2p.testing.messages",
    "ServerNotReady": "ml2p.testing.errors",
    "FAKE_AWS_ENV": "ml2p.testing.moto_server",
    "aws_environ": "ml2p.testing.moto_server",
    "moto_url": "ml2p.testing.moto_server",
    "reset_moto": "ml2p.testing.moto_server",
    "start_moto": "ml2p.testing.moto_server",
}

__all__ = [
    "FAKE_AWS_ENV",
    "Headers",
    "PredictionClient",
    "Response",
    "ServedPredictor",
    "ServerNotReady",
    "aws_environ",
    "free_port",
    "moto_url",
    "reset_moto",
    "start_moto",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'ml2p.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
