"""Calling the prediction server's ASGI app in this process, without sockets.

:class:`PredictionClient` replaces the Flask test client of ML2P 0.6
(``app.test_client()``): it drives the real
:class:`ml2p.serving.app.PredictionApp` (lifespan startup, requests, lifespan
shutdown) on an event loop of its own, so routes, body decoding, content
negotiation and error answers are the production server's, minus gunicorn and
uvicorn.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import threading
import time
import urllib.parse
import warnings
from collections.abc import Mapping
from typing import Any

from ml2p.testing.errors import ServerNotReady
from ml2p.testing.messages import HeadersArg, RequestMethods, Response, encode_request

#: Seconds ``PredictionClient.close`` waits for the app's threads to end.
CLOSE_TIMEOUT = 10.0
#: Methods whose requests carry a Content-Length even without a body (as http.client sends).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class PredictionClient(RequestMethods):
    """The prediction server's app, called in this process: no socket, no server.

    Give either a model (served as the server serves it: the predictor is
    made and set up through the hooks at startup, torn down at close) or a
    predictor already made (the ML2P 0.6 pattern, ``MyModel().predictor(env)``)::

        with PredictionClient(MyModel, ml_folder=tmp_path) as client:
            response = client.post("/invocations", json={"x": 1})
            assert response.status_code == 200
            assert response.json["result"] == ...

    Requests are answered one at a time. Use it as a context manager, or
    call :meth:`close`: no thread the client started outlives it.

    :param model: A :class:`ml2p.core.Model` subclass, or its
        ``ml2p.models`` entry-point name or dotted path.
    :param ml_folder: The SageMaker folder the model's environment reads
        (``/opt/ml/``; the model is read from its ``model/`` folder).
    :param environ: The environment variables of the model's environment
        and of the server settings (default ``os.environ``), as the server
        reads them (``ML2P_MODEL_VERSION``, ``ML2P_RECORD_INVOKES``,
        ``SAGEMAKER_MODEL_SERVER_TIMEOUT``...).
    :param env: An environment already made (a :class:`ml2p.core.SageMakerEnv`
        or :class:`ml2p.core.LocalEnv`) to serve the model in, instead of
        ``ml_folder`` and ``environ``.
    :param predictor: A predictor to serve as it is, instead of a model;
        the server settings come from its environment's variables.
    :param setup: For a ``predictor``: run its setup hooks
        (:func:`ml2p.lifecycle.setup`) first and its teardown hooks at close.
        By default it is served as given, as ML2P 0.6's app did. (A model is
        always set up, as by the server.)
    :param threads: Prediction threads (default ``ML2P_SERVER_THREADS``, else
        1, as the server); 0 runs predictions on the client's event loop.
    :param timeout: Seconds a prediction may take before a 504 (default
        ``SAGEMAKER_MODEL_SERVER_TIMEOUT``, else 60).
    :param wait_ready: Wait until the model is set up, and raise if its
        setup fails. ``False`` returns at once, to test ``/ping`` while
        setup runs or after it failed.
    :param ready_timeout: Seconds to wait for the setup.
    :raises ServerNotReady: if the setup fails or outlasts ``ready_timeout``.
    :raises TypeError: for a bad combination of arguments.
    """

    def __init__(
        self,
        model: type | str | None = None,
        *,
        ml_folder: Any = None,
        environ: Mapping[str, str] | None = None,
        env: Any = None,
        predictor: Any = None,
        setup: bool = False,
        threads: int | None = None,
        timeout: float | None = None,
        wait_ready: bool = True,
        ready_timeout: float = 60.0,
    ):
        from ml2p.serving.app import PredictionApp

        self._closed = True
        self._lock = threading.Lock()
        app_args = _app_arguments(model, ml_folder, environ, env, predictor)
        settings = _settings(app_args.pop("settings_environ"), threads, timeout)
        # The predictor this client set up, hence tears down.
        self._set_up: Any = None
        self._threads_before = set(threading.enumerate())
        self._frozen_before = gc.get_freeze_count()
        self._loop = asyncio.new_event_loop()
        self._lifespan: Any = None
        self._closed = False
        try:
            if predictor is not None and setup:
                from ml2p import lifecycle

                lifecycle.setup(predictor)
                self._set_up = predictor
            #: The :class:`ml2p.serving.app.PredictionApp` being called.
            self.app = PredictionApp(settings=settings, **app_args)
            self._lifespan = self._run(_Lifespan.start(self.app))
            if wait_ready:
                self.wait_ready(ready_timeout)
        except BaseException:
            self.close()
            raise

    # -- requests ---------------------------------------------------------------

    def open(
        self,
        path: str,
        method: str = "GET",
        *,
        json: Any = None,
        data: bytes | bytearray | memoryview | str | None = None,
        headers: HeadersArg = None,
        content_type: str | None = None,
    ) -> Response:
        """Make one request to the app and return its :class:`~ml2p.testing.Response`.

        ``json``, ``data``, ``headers`` and ``content_type`` make the body and
        headers as :func:`ml2p.testing.messages.encode_request` says. An
        exception the app lets out (a bug: the server answers every error)
        is raised here rather than answered.

        :param path: The path, with a query string if any (``/ping``).
        :param method: The HTTP method.
        :raises RuntimeError: if the client is closed.
        """
        body, pairs = encode_request(json, data, headers, content_type)
        method = method.upper()
        path, _, query = path.partition("?")
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
        names = {name for name, _ in raw_headers}
        if b"host" not in names:
            raw_headers.insert(0, (b"host", b"localhost"))
        if b"content-length" not in names and (body or method in _BODY_METHODS):
            raw_headers.append((b"content-length", str(len(body)).encode("latin-1")))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": urllib.parse.unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
        }
        with self._lock:
            if self._closed:
                raise RuntimeError("the PredictionClient is closed")
            status, response_headers, payload = self._run(_exchange(self.app, scope, body))
        if method == "HEAD":
            payload = b""  # as the server: the headers of a GET, no body
        return Response(status, response_headers, payload)

    def wait_ready(self, timeout: float = 60.0) -> Response:
        """Wait until ``/ping`` answers 200 (the model is set up) and return that answer.

        :raises ServerNotReady: if the setup failed (with its error) or
            outlasts ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            response = self.get("/ping")
            if response.status_code == 200:
                return response
            body = response.get_json(silent=True)
            if isinstance(body, dict) and body.get("status") == "failed":
                raise ServerNotReady(str(body.get("message", response.text)))
            if time.monotonic() > deadline:
                raise ServerNotReady(f"model not set up after {timeout:g} s: {response.text}")
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    # -- closing ----------------------------------------------------------------

    def close(self) -> None:
        """Stop the app (lifespan shutdown: teardown hooks, recorder flush) and its threads.

        Afterwards no thread the client started is running; one still busy
        after ``CLOSE_TIMEOUT`` (10) seconds (a prediction or teardown that
        never returns) is named in a :class:`ResourceWarning`. Closing twice
        does nothing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        loop = self._loop
        try:
            try:
                if self._lifespan is not None:
                    loop.run_until_complete(self._lifespan.stop())
            finally:
                if self._set_up is not None:
                    from ml2p import lifecycle

                    lifecycle.teardown(self._set_up)
        finally:
            try:
                _cancel_pending(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()
                # The server freezes what setup loaded (gc.freeze), for the
                # life of a worker; in a test process that would keep every
                # client's objects for good. (Some Pythons freeze objects of
                # their own at start-up: unfreezing those is harmless.)
                if gc.get_freeze_count() > self._frozen_before:
                    gc.unfreeze()
                self._join_threads()

    def _join_threads(self) -> None:
        deadline = time.monotonic() + CLOSE_TIMEOUT
        started = [
            t
            for t in threading.enumerate()
            if t not in self._threads_before and t.name.startswith("ml2p-")
        ]
        for thread in started:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = sorted(t.name for t in started if t.is_alive())
        if alive:
            warnings.warn(
                f"PredictionClient closed with threads still running: {', '.join(alive)} "
                "(a prediction or teardown that does not return)",
                ResourceWarning,
                stacklevel=3,
            )

    def __enter__(self) -> PredictionClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _run(self, coroutine: Any) -> Any:
        return self._loop.run_until_complete(coroutine)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the tasks left on ``loop`` (a lifespan whose startup failed) and let them end."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _app_arguments(
    model: type | str | None,
    ml_folder: Any,
    environ: Mapping[str, str] | None,
    env: Any,
    predictor: Any,
) -> dict[str, Any]:
    """Check the arguments; return PredictionApp's and the settings' environment."""
    if (model is None) == (predictor is None):
        raise TypeError("PredictionClient needs a model or a predictor (one of them)")
    if predictor is not None:
        if ml_folder is not None or environ is not None or env is not None:
            raise TypeError("a predictor brings its own environment: drop ml_folder, environ, env")
        predictor_env = getattr(predictor, "env", None)
        if predictor_env is None:
            raise TypeError(f"{predictor!r} has no env: pass a predictor made with an environment")
        return {
            "model_cls": None,
            "ml_folder": predictor_env.ml_folder,
            "predictor": predictor,
            "settings_environ": predictor_env.environ,
        }
    if env is not None:
        if ml_folder is not None or environ is not None:
            raise TypeError("env brings its own ml_folder and environ: drop them")
        return {
            "model_cls": _model_class(model, env.environ),
            "ml_folder": env.ml_folder,
            "env": env,
            "settings_environ": env.environ,
        }
    if ml_folder is None:
        raise TypeError("serving a model needs ml_folder (the /opt/ml/ folder) or env")
    return {
        "model_cls": _model_class(model, environ),
        "ml_folder": ml_folder,
        "environ": environ,
        "settings_environ": os.environ if environ is None else environ,
    }


def _model_class(model: type | str | None, environ: Mapping[str, str] | None) -> type:
    if isinstance(model, str):
        from ml2p.plugins import resolve_model

        return resolve_model(model, environ)
    if not isinstance(model, type):
        raise TypeError(f"model must be a Model subclass or its name, not {model!r}")
    return model


def _settings(environ: Mapping[str, str], threads: int | None, timeout: float | None) -> Any:
    from ml2p.serving.settings import ServerSettings

    settings = ServerSettings.from_environ(environ, host="127.0.0.1", timeout=timeout)
    if threads is not None:
        if threads < 0:
            raise ValueError(f"threads must be 0 or more, got {threads}")
        settings = dataclasses.replace(settings, threads=threads)
    return settings


class _Lifespan:
    """The app's lifespan task, between its startup and its shutdown."""

    def __init__(self, app: Any):
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._outbox: asyncio.Queue = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        self._task = asyncio.ensure_future(app(scope, self._inbox.get, self._outbox.put))

    @classmethod
    async def start(cls, app: Any) -> _Lifespan:
        lifespan = cls(app)
        await lifespan._step("startup")
        return lifespan

    async def stop(self) -> None:
        await self._step("shutdown")
        await self._task

    async def _step(self, phase: str) -> None:
        await self._inbox.put({"type": f"lifespan.{phase}"})
        getting = asyncio.ensure_future(self._outbox.get())
        await asyncio.wait([getting, self._task], return_when=asyncio.FIRST_COMPLETED)
        if not getting.done():
            getting.cancel()
            self._task.result()  # the app's own error, if it raised
            raise ServerNotReady(f"the app ended its lifespan without answering {phase}")
        message = getting.result()
        if message["type"] != f"lifespan.{phase}.complete":
            raise ServerNotReady(f"lifespan {phase} failed: {message.get('message', message)}")


async def _exchange(app: Any, scope: dict[str, Any], body: bytes) -> tuple[int, list, bytes]:
    """Call the app for one request; return its status, headers and body."""
    answered = asyncio.Event()
    received = False
    start: dict[str, Any] | None = None
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        # As a server: the client disconnects once the response is complete.
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal start
        kind = message["type"]
        if answered.is_set():
            raise RuntimeError(f"ASGI message {kind!r} after the response was complete")
        if kind == "http.response.start":
            if start is not None:
                raise RuntimeError("the response was started twice")
            start = message
        elif kind == "http.response.body":
            if start is None:
                raise RuntimeError("response body sent before http.response.start")
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                answered.set()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    await app(scope, receive, send)
    if start is None or not answered.is_set():
        raise RuntimeError(f"the app returned without a complete response to {scope['path']}")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in start.get("headers", [])]
    return int(start["status"]), headers, b"".join(chunks)
