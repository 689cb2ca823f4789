"""Running the prediction server: a gunicorn master with uvicorn workers.

The gunicorn master binds the socket before it forks, manages the worker
processes (restarting one that dies or whose event loop stops answering for
``timeout`` seconds) and turns a stop signal into a graceful stop: workers
stop accepting, finish in-flight requests, run the teardown hooks, flush the
invocation recorder and exit, within ``graceful_timeout`` (25 s, under
SageMaker's 30 s before SIGKILL). SIGTERM, SIGINT and SIGQUIT all mean that
same graceful stop, whether sent to the master or to a worker (gunicorn alone
would make SIGINT and SIGQUIT a quick stop that the uvicorn workers ignore
until they are killed), and a second signal does not cut it short. Each
worker runs uvicorn (uvloop, httptools, :class:`ml2p.serving.protocol.Protocol`)
with :class:`ml2p.serving.app.PredictionApp`. See ``docs/serving.md`` for the
reasons behind this choice and ``BENCHMARKS.md`` for the measurements.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from ml2p.serving.accepting import Acceptor
from ml2p.serving.app import CUT_MARGIN, PredictionApp
from ml2p.serving.protocol import Protocol
from ml2p.serving.settings import ServerSettings

logger = logging.getLogger("ml2p.serving")

#: The signals that stop the server, each the same graceful way.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)
#: Seconds in-flight requests get after a stop signal when the app cannot say
#: (:meth:`ml2p.serving.app.PredictionApp.inflight_deadline` decides otherwise).
INFLIGHT_GRACE = 10.0


class _Server(Server):
    """uvicorn's server, accepting one connection at a time and telling the app when the stop came.

    uvicorn would make an asyncio server per socket, which accepts every
    waiting connection at once; :class:`~ml2p.serving.accepting.Acceptor`
    takes one per turn of the event loop, so the workers share connections.
    Every stop signal is a graceful stop (a second one, SIGINT included,
    does not skip the drain and the lifespan shutdown). At shutdown,
    in-flight requests get the time the app's flush does not need
    (:meth:`~ml2p.serving.app.PredictionApp.inflight_deadline`); those still
    running then are answered 503 in JSON.
    """

    _acceptor: Acceptor | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if sockets is None:  # uvicorn binds its own socket: not how gunicorn runs it
            await super().startup(sockets)
            return
        # No sockets for uvicorn: it runs the lifespan startup and the rest as usual.
        await super().startup(sockets=[])
        config = self.config

        def protocol() -> Any:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        self._acceptor = Acceptor(
            asyncio.get_running_loop(), protocol, lambda: len(self.server_state.connections)
        )
        self._acceptor.start(list(sockets))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # As uvicorn's shutdown, with the in-flight grace decided by the app.
        if self._acceptor is not None:
            self._acceptor.close()
        app = self.config.app
        mark = getattr(app, "mark_exit_requested", None)
        if mark is not None:
            mark()  # the first mark (the signal's time) stands
        logger.info("stopping: answering in-flight requests")
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        await asyncio.sleep(0.1)
        deadline_of = getattr(app, "inflight_deadline", None)
        fixed = time.monotonic() + INFLIGHT_GRACE
        while state.connections or state.tasks:
            deadline = deadline_of() if deadline_of is not None else fixed
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.1)
        if state.tasks:
            await self._cut(app)
        await self.lifespan.shutdown()

    async def _cut(self, app: Any) -> None:
        """Answer what is still in flight: 503 in JSON, then cancel what remains."""
        state = self.server_state
        cut = getattr(app, "cut_inflight", None)
        count = cut() if cut is not None else 0
        logger.error(
            "%d request(s) still in flight at the shutdown deadline (%d prediction(s) cut): "
            "answered 503",
            len(state.tasks),
            count,
        )
        until = time.monotonic() + CUT_MARGIN / 2
        while state.tasks and time.monotonic() < until:
            await asyncio.sleep(0.05)
        for connection in list(state.connections):
            abort = getattr(connection, "abort", None)
            if abort is not None:
                abort(503, "the server is shutting down: the request did not finish in time")
        for task in list(state.tasks):
            task.cancel(msg="the server is shutting down")
        until = time.monotonic() + CUT_MARGIN / 2
        while state.tasks and time.monotonic() < until:
            await asyncio.sleep(0.05)

    def handle_exit(self, sig: int, frame: Any) -> None:
        mark = getattr(self.config.app, "mark_exit_requested", None)
        if mark is not None:
            mark()
        if self.should_exit:
            # uvicorn would force the exit on a second SIGINT: skip the drain,
            # the teardown and the flush. The graceful stop goes on instead.
            return
        # Every stop signal is SIGTERM's graceful stop; uvicorn raises it again
        # once the worker is done, and SIGTERM is the one to exit by.
        super().handle_exit(signal.SIGTERM, frame)


class Worker(UvicornWorker):
    """The uvicorn worker ML2P runs: uvloop, httptools, lifespan on, no access log."""

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": Protocol,
        "ws": "none",
        "lifespan": "on",
        "access_log": False,
        "server_header": False,
        # Nothing reads the client address (no access log): skip the
        # X-Forwarded-* middleware on every request.
        "proxy_headers": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn tells the master it is alive only every `timeout_notify`
        # seconds; at the default (the whole timeout) the master may kill a
        # healthy worker. Notify four times per timeout instead.
        self.config.timeout_notify = max(1.0, self.timeout / 4)

    async def _serve(self) -> None:
        # As UvicornWorker._serve, with a server that marks when the stop came,
        # so the recorder's flush can use all of the graceful time left, and
        # that stops gracefully on SIGQUIT too (UvicornWorker's handler for it
        # only flags gunicorn's worker, which uvicorn never looks at).
        self.config.app = self.wsgi
        server = _Server(config=self.config)
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGQUIT, server.handle_exit, signal.SIGQUIT, None)
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


class _Arbiter(Arbiter):
    """gunicorn's master, stopping gracefully on SIGINT and SIGQUIT as on SIGTERM.

    gunicorn makes SIGINT and SIGQUIT a quick stop: it sends the workers
    SIGQUIT and kills them after ``graceful_timeout``, and a SIGINT during a
    graceful stop cuts it to 2 s. Either way queued records and the teardown
    hooks are lost. Here each is queued as SIGTERM: the same orderly drain,
    and a repeated signal changes nothing.
    """

    stop_signal: int | None = None

    def signal(self, sig: int, frame: Any) -> None:
        if sig in STOP_SIGNALS:
            if self.stop_signal is None:
                self.stop_signal = sig
            sig = signal.SIGTERM
        super().signal(sig, frame)

    def handle_term(self) -> None:
        name = signal.Signals(self.stop_signal or signal.SIGTERM).name
        self.log.info("%s: graceful stop (in-flight requests, teardown, records)", name)
        super().handle_term()


class PredictionServer(BaseApplication):
    """gunicorn, configured in code rather than from a file or the command line.

    :param app: The ASGI application each worker serves.
    :param settings: Where to bind, how many workers, timeouts.
    """

    def __init__(self, app: PredictionApp, settings: ServerSettings):
        self.application = app
        self.settings = settings
        super().__init__()

    def gunicorn_options(self) -> dict[str, Any]:
        """Return the gunicorn settings used."""
        options: dict[str, Any] = {
            "bind": [f"{self.settings.host}:{self.settings.port}"],
            "workers": self.settings.workers,
            "worker_class": f"{Worker.__module__}.{Worker.__qualname__}",
            # The heartbeat timeout: the request timeout itself is the app's.
            "timeout": max(5, int(self.settings.timeout) + 5),
            "graceful_timeout": int(self.settings.graceful_timeout),
            "keepalive": 75,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "info",
            "proc_name": "ml2p-serve",
        }
        if os.path.isdir("/dev/shm"):
            # The heartbeat file on tmpfs: no disk I/O, no stalls (gunicorn's advice).
            options["worker_tmp_dir"] = "/dev/shm"
        return options

    def load_config(self) -> None:
        for key, value in self.gunicorn_options().items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25.1 opens a control socket under $HOME: nothing to
            # manage there in a container, and parallel servers would share it.
            self.cfg.set("control_socket_disable", True)

    def load(self) -> PredictionApp:
        return self.application

    def run(self) -> None:
        """Run the master until a stop signal and the workers' graceful stop."""
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)


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

    :param ml_folder: The SageMaker folder (``/opt/ml/``): the model is read
        from its ``model/`` folder by the predictor's setup.
    :param model_ref: An ``ml2p.models`` entry-point name or a dotted path
        (default: ``ML2P_MODEL_CLS``).
    :param host: The address to bind (``127.0.0.1`` for local use).
    :param port: The port (default ``SAGEMAKER_BIND_TO_PORT``, else 8080).
    :param workers: Worker processes (default
        ``SAGEMAKER_MODEL_SERVER_WORKERS``, else the CPU count).
    :param timeout: Seconds a prediction may take before a 504 (default
        ``SAGEMAKER_MODEL_SERVER_TIMEOUT``, else 60).
    :param environ: The environment variables (default ``os.environ``).
    :raises ml2p.errors.ModelNotFoundError: if no model is named or found.
    :raises ml2p.errors.ConfigError: for a bad setting.
    """
    from ml2p.core import SageMakerEnv
    from ml2p.runtime import load_model

    settings = ServerSettings.from_environ(
        environ, host=host, port=port, workers=workers, timeout=timeout
    )
    # Resolve the model in the master: a bad name fails once, here, and the
    # forked workers inherit the imported model instead of importing it again.
    model_cls = load_model(model_ref, SageMakerEnv(ml_folder, environ))
    app = PredictionApp(model_cls, ml_folder, settings, environ)
    logger.info(
        "serving %s.%s on %s:%d with %d worker(s), timeout %g s",
        model_cls.__module__,
        model_cls.__qualname__,
        settings.host,
        settings.port,
        settings.workers,
        settings.timeout,
    )
    PredictionServer(app, settings).run()
