"""A bare ASGI app: the floor the ML2P server's overhead is measured against.

It does only what any JSON model server must: read the body, parse JSON,
run :func:`bench_models.compute` on the datum (or on each of
``{"instances": [...]}``) and dump the answer, with no routing framework,
validation, threads or hooks. The answer has the same shape and fields as
ML2P's (``{"metadata": {...}, "result": {...}}``, a list of them under
``"predictions"`` for a batch), so the two servers encode the same amount of
JSON and the comparison measures what ML2P adds, not a smaller answer.
``bench_bare_server.py`` runs it on ML2P's own gunicorn + uvicorn
configuration. The model folder comes from ``BENCH_ML_FOLDER``.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from collections.abc import Awaitable
from typing import Any, Callable

from bench_models import compute, load_params

_PARAMS = load_params(pathlib.Path(os.environ["BENCH_ML_FOLDER"]) / "model")
_MODEL_VERSION = os.environ.get("ML2P_MODEL_VERSION")
_HEADERS = [(b"content-type", b"application/json")]
_dumps = json.JSONEncoder(separators=(",", ":")).encode

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _answer(send: Send, status: int, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Answer ``POST /invocations`` and ``GET /ping``; 404 for anything else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/ping":
        await _answer(send, 200, b"{}")
        return
    if scope["path"] != "/invocations" or scope["method"] != "POST":
        await _answer(send, 404, b'{"message":"not found"}')
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    try:
        data = json.loads(b"".join(chunks))
        meta = {"model_version": _MODEL_VERSION, "ml2p_version": "bare", "timestamp": time.time()}
        if "instances" in data:
            answer: Any = {
                "predictions": [
                    {"metadata": meta, "result": compute(_PARAMS, d)} for d in data["instances"]
                ]
            }
        else:
            answer = {"metadata": meta, "result": compute(_PARAMS, data)}
    except (ValueError, TypeError, KeyError) as exc:
        await _answer(send, 400, _dumps({"message": str(exc)}).encode())
        return
    await _answer(send, 200, _dumps(answer).encode())
