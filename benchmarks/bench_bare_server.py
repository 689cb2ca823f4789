"""Serve :mod:`bench_bare_app` exactly as ``ml2p-docker serve`` serves ML2P's app.

The gunicorn master and uvicorn workers are ML2P's own
(:class:`ml2p.serving.server.PredictionServer`, whose worker class is a
configured ``uvicorn_worker.UvicornWorker``), with the settings read from the
same environment variables (``SAGEMAKER_BIND_TO_PORT``,
``SAGEMAKER_MODEL_SERVER_WORKERS``, ...); only the ASGI app differs. So the
bare-app numbers isolate what ML2P's app adds. Usage::

    BENCH_ML_FOLDER=DIR SAGEMAKER_BIND_TO_PORT=8123 python bench_bare_server.py 127.0.0.1
"""

from __future__ import annotations

import sys

from bench_bare_app import app

from ml2p.serving.server import PredictionServer
from ml2p.serving.settings import ServerSettings

if __name__ == "__main__":
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    PredictionServer(app, ServerSettings.from_environ(host=host)).run()  # type: ignore[arg-type]
