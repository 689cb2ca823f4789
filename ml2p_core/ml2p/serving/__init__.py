"""The prediction server that ``ml2p-docker serve`` and ``ml2p local serve`` run.

:func:`serve` is the entry point. The modules:

* :mod:`ml2p.serving.server`: the gunicorn master and uvicorn workers;
* :mod:`ml2p.serving.protocol`: each connection's HTTP protocol (JSON errors, body timeout);
* :mod:`ml2p.serving.app`: the ASGI application (routes, errors, deadlines, lifespan);
* :mod:`ml2p.serving.model_host`: the worker's model (make, set up, tear down, flush);
* :mod:`ml2p.serving.bodies`: decoding requests, encoding responses;
* :mod:`ml2p.serving.offload`: running predictions off the event loop;
* :mod:`ml2p.serving.recorder`: recording invocations in the background;
* :mod:`ml2p.serving.record_encoding`: naming and encoding records, never raising;
* :mod:`ml2p.serving.spill`: where records go when S3 cannot take them;
* :mod:`ml2p.serving.settings`: the settings read from the environment.

Importing this package is cheap; gunicorn and uvicorn are imported when
:func:`serve` is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["serve"]


def serve(
    ml_folder: Any,
    model_ref: str | None = None,
    *,
    host: str = "0.0.0.0",
    port: int | None = None,
    workers: int | None = None,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Serve the model's predictor over HTTP until SIGTERM, SIGINT or SIGQUIT (all graceful).

    See :func:`ml2p.serving.server.serve` for the parameters.
    """
    from ml2p.serving.server import serve as _serve

    _serve(
        ml_folder,
        model_ref,
        host=host,
        port=port,
        workers=workers,
        timeout=timeout,
        environ=environ,
    )
