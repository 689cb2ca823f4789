"""The prediction server's ASGI application.

A raw ASGI callable, with no web framework: three routes, parsed by hand so
that the hot path stays short.

``GET /ping``
    200 ``{"status": "ok", "model_version", "ml2p_version"}`` (and the
    recorder's ``recording`` statistics) once the predictor is set up; 503
    JSON while setup runs or after it failed (with the error message).
``POST /invocations``
    One datum or a batch (see :mod:`ml2p.serving.bodies`); answered in the
    type the Accept header asks.
``GET /execution-parameters``
    ``{"MaxConcurrentTransforms", "BatchStrategy", "MaxPayloadInMB"}`` for
    SageMaker batch transform.

The app speaks HTTP: routing, reading bodies, content negotiation,
deadlines, cutting in-flight predictions at shutdown, answering. The model
is the worker's :class:`~ml2p.serving.model_host.ModelHost`'s, which the ASGI
lifespan starts and stops: at startup it makes the predictor and sets it up
(the ``ml2p_setup`` hooks) on a thread, so the worker accepts connections at
once and ``/ping`` answers 503 until setup has succeeded. Each prediction
(decoding, invoking, encoding) runs on one of the worker's prediction threads
(:class:`ml2p.serving.offload.Offloader`), so the event loop keeps answering
``/ping`` while a long prediction runs. With ``ML2P_SERVER_THREADS=0`` it runs
on the event loop instead: no thread hand-off, but ``/ping`` and every other
request of that worker wait while a prediction runs, and a prediction is not
answered 504 when it outlasts the timeout. On lifespan shutdown (after in-flight
requests are answered) the model host runs the ``ml2p_teardown`` hooks and
flushes the invocation recorder.

A prediction's records are held until its answer has been sent
(:meth:`ml2p.serving.recorder.BackgroundRecorder.hold`): a prediction that
failed, timed out, was cut at shutdown or whose caller was gone before the
answer is not recorded.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any, Callable

from ml2p.errors import APIError
from ml2p.runtime import failure_summary, plugin_of
from ml2p.serving import bodies
from ml2p.serving.model_host import ModelHost
from ml2p.serving.offload import Offloader
from ml2p.serving.settings import ServerSettings

logger = logging.getLogger("ml2p.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
#: An invocation for a prediction thread: the body, the media type it is read as,
#: the response's media type (text and header value) and the Content-Type header.
Job = tuple[bytes, str, tuple[str, bytes], bytes]

#: Seconds the invocation recorder may take to flush at shutdown when the
#: time of the stop signal is unknown (``stop`` called directly).
RECORDER_CLOSE_TIMEOUT = 8.0
#: Seconds of the graceful timeout left unused at the end, for the worker to exit.
EXIT_MARGIN = 2.0
#: Seconds kept, after in-flight predictions are cut at shutdown, to send their answers.
CUT_MARGIN = 1.0
#: Most bytes of a too large body read (and thrown away) before the 413 is sent,
#: so that the client, still sending, reads the answer rather than a reset.
DISCARD_LIMIT = 64 * 1024 * 1024

_JSON_TYPE = b"application/json"
_JSON_HEADER = (b"content-type", _JSON_TYPE)
_TIMED_OUT: Any = object()
_CUT: Any = object()


class _TooLarge(Exception):
    """The body is larger than allowed; ``more`` tells whether some of it is still unread."""

    def __init__(self, more: bool):
        super().__init__()
        self.more = more


class _Disconnected(Exception):
    pass


def _connection_lost(send: Send) -> bool:
    """Whether the connection closed before the answer could be written.

    uvicorn's ``send`` (a method of its request-response cycle) drops what
    it is given once the client has gone and marks the cycle
    ``disconnected``; other servers: assume the answer went out.
    """
    return getattr(getattr(send, "__self__", None), "disconnected", False) is True


class PredictionApp:
    """The ASGI application of one server worker.

    :param model_cls: The :class:`ml2p.core.Model` subclass whose predictor
        (``model_cls().predictor(env)``) answers.
    :param ml_folder: The SageMaker folder (``/opt/ml/``).
    :param settings: The server settings.
    :param environ: The environment the predictor sees (default ``os.environ``).
    :param env: An environment already made to serve the model in, instead
        of ``ml_folder`` and ``environ`` (:class:`ml2p.testing.PredictionClient`
        passes the one it is given).
    :param predictor: A predictor already made and set up, to serve as it is
        instead of one made from ``model_cls`` (which may then be ``None``):
        the app runs neither its setup nor its teardown hooks, and ``/ping``
        is 200 from startup (:class:`ml2p.testing.PredictionClient` uses this).
    :raises TypeError: if neither ``model_cls`` nor ``predictor`` is given.
    """

    def __init__(
        self,
        model_cls: type | None,
        ml_folder: Any,
        settings: ServerSettings,
        environ: Mapping[str, str] | None = None,
        *,
        env: Any = None,
        predictor: Any = None,
    ):
        #: The worker's model: made, set up, torn down and flushed there.
        self.model = ModelHost(model_cls, ml_folder, environ, env=env, predictor=predictor)
        self.settings = settings
        #: ``time.monotonic()`` when the stop signal came, if it did.
        self.exit_requested_at: float | None = None
        self._offloader: Any = None
        self._loop: Any = None
        self._limit = settings.max_payload_bytes
        self._timeout = settings.timeout
        self._strategy = settings.batch_strategy
        #: Whether in-flight predictions were cut short at shutdown.
        self.cut = False
        # (deadline, future) of the predictions in flight, oldest first.
        self._deadlines: collections.deque[tuple[float, asyncio.Future]] = collections.deque()
        self._sweeping = False
        self._sweep_every = min(0.25, self._timeout / 4)
        # Header values seen before, parsed once: Accept to the response's media
        # type (text, to encode; bytes, its Content-Type header), Content-Type to
        # the media type the body is read as.
        self._accept_cache: dict[bytes, tuple[str, bytes]] = {}
        self._content_cache: dict[bytes, str] = {}
        payload_mb = settings.max_payload_mb
        self._params_body = bodies.json_body(
            {
                # One, as ML2P 0.6 answered: a transform job wanting more sets its
                # own MaxConcurrentTransforms (``transform.max_concurrent_transforms``).
                "MaxConcurrentTransforms": 1,
                "BatchStrategy": settings.batch_strategy,
                # A whole number as an int (6, not 6.0), as ML2P 0.6 answered it.
                "MaxPayloadInMB": int(payload_mb) if float(payload_mb).is_integer() else payload_mb,
            }
        )

    @property
    def ready(self) -> bool:
        """Whether the predictor is set up and answers."""
        return self.model.ready

    @property
    def predictor(self) -> Any:
        """The predictor being served (``None`` until it is made)."""
        return self.model.predictor

    @property
    def setup_error(self) -> str | None:
        """Why the predictor's setup failed (``ExceptionType: message``), if it did."""
        return self.model.setup_error

    # -- ASGI entry point -------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except _Disconnected:
                return
            except Exception as exc:
                # A bug here, not in the predictor: still a JSON answer, and logged.
                logger.error("request failed: %s", failure_summary(exc), exc_info=exc)
                body = bodies.error_body("internal error", error=type(exc).__name__)
                try:
                    await _respond(send, 500, body, [(b"connection", b"close")])
                except Exception:  # the answer had begun: nothing more to say
                    pass
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations":
            if method == "POST":
                await self._invocations(scope, receive, send)
            else:
                await self._not_allowed(send, method, b"POST")
        elif path == "/ping":
            if method == "GET" or method == "HEAD":
                await self._ping(send)
            else:
                await self._not_allowed(send, method, b"GET, HEAD")
        elif path == "/execution-parameters":
            if method == "GET" or method == "HEAD":
                await _respond(send, 200, self._params_body)
            else:
                await self._not_allowed(send, method, b"GET, HEAD")
        else:
            await _respond(send, 404, bodies.error_body(f"no such path: {path}"))

    # -- routes -------------------------------------------------------------

    async def _ping(self, send: Send) -> None:
        model = self.model
        if model.ready:
            body = model.ping_body
            recorder = model.recorder
            if recorder is not None:
                # How recording keeps up: an operator sees records backing up here.
                stats = bodies.json_body(recorder.stats())
                body = b'%s,"recording":%s}' % (body[:-1], stats)
            await _respond(send, 200, body)
        elif model.setup_error is not None:
            body = bodies.error_body(f"model setup failed: {model.setup_error}", status="failed")
            await _respond(send, 503, body)
        else:
            await _respond(
                send, 503, bodies.error_body("model setup in progress", status="starting")
            )

    async def _not_allowed(self, send: Send, method: str, allow: bytes) -> None:
        body = bodies.error_body(f"method {method} not allowed (allowed: {allow.decode()})")
        await _respond(send, 405, body, [(b"allow", allow)])

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = accept = b""
        length: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"accept":
                accept = value
        try:
            out_kind = self._accept_cache.get(accept) or self._negotiate(accept)
            in_kind = self._content_cache.get(content_type) or self._content_kind(content_type)
        except bodies.RequestError as exc:
            await _respond(send, exc.status_code, bodies.error_body(exc.message))
            return
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _respond(send, 400, bodies.error_body("invalid Content-Length"))
                return
            if declared > self._limit:
                await self._too_large(send, receive if declared <= DISCARD_LIMIT else None)
                return
        if not self.model.ready:
            await self._ping(send)
            return
        try:
            body = await self._read_body(receive)
        except _TooLarge as exc:
            await self._too_large(send, receive if exc.more else None)
            return
        if self._offloader is None:
            # ML2P_SERVER_THREADS=0: on the event loop, no hand-off and no timeout.
            await self._deliver(send, self._handle((body, in_kind, out_kind, content_type)))
            return
        loop = self._loop
        job = (body, in_kind, out_kind, content_type)
        future = self._offloader.submit(loop, self._handle, job)
        # Every request has the same timeout, so deadlines come in FIFO order:
        # one sweep for all of them instead of a timer per request.
        self._deadlines.append((loop.time() + self._timeout, future))
        if not self._sweeping:
            self._sweeping = True
            loop.call_later(self._sweep_every, self._sweep)
        answer = await future
        if answer is _TIMED_OUT:
            logger.error("prediction timed out after %g s: answered 504", self._timeout)
            # Its thread is still busy: let another one take the next requests.
            self._offloader.replace_stuck()
            body = bodies.error_body(f"prediction timed out after {self._timeout:g} s")
            await _respond(send, 504, body)
            return
        if answer is _CUT:
            body = bodies.error_body(
                "the server is shutting down: the prediction did not finish in time"
            )
            await _respond(send, 503, body, [(b"connection", b"close")])
            return
        await self._deliver(send, answer)

    async def _deliver(self, send: Send, answer: tuple[int, bytes, bytes, Any]) -> None:
        """Send a prediction's answer, then keep its records if the caller got it."""
        status, kind, payload, held = answer
        await _answer(send, status, kind, payload)
        if held is not None:
            if _connection_lost(send):
                self.model.recorder.discard(held, "the caller was gone before the answer")
            else:
                self.model.recorder.commit(held)

    def _dropped(self, answer: Any) -> None:
        """A prediction ended after its caller was answered 504 (or cut): forget its records."""
        held = answer[3] if isinstance(answer, tuple) and len(answer) == 4 else None
        if held is not None:
            try:
                self.model.recorder.discard(
                    held, "the prediction ended after its caller was answered"
                )
            except Exception as exc:  # on the event loop: never let it stop the drain
                logger.error("dropping a late prediction's records failed: %s", exc)

    def _sweep(self) -> None:
        """Answer 504 for predictions past their deadline; runs while any are in flight."""
        deadlines = self._deadlines
        now = self._loop.time()
        while deadlines:
            deadline, future = deadlines[0]
            if not future.done():
                if deadline > now:
                    break
                future.set_result(_TIMED_OUT)
            deadlines.popleft()
        if deadlines:
            self._loop.call_later(self._sweep_every, self._sweep)
        else:
            self._sweeping = False

    def _negotiate(self, accept: bytes) -> tuple[str, bytes]:
        text = bodies.negotiate(accept.decode("latin-1"))
        kind = (text, text.encode("latin-1"))
        if len(self._accept_cache) < 64:
            self._accept_cache[accept] = kind
        return kind

    def _content_kind(self, content_type: bytes) -> str:
        kind = bodies.request_media_type(content_type.decode("latin-1"))
        if len(self._content_cache) < 64:
            self._content_cache[content_type] = kind
        return kind

    async def _too_large(self, send: Send, unread: Receive | None) -> None:
        # Read the rest of the body first (``unread``: what to read it from): a
        # client still sending when the connection closes gets a reset instead
        # of this answer.
        if unread is not None:
            await self._discard_body(unread)
        body = bodies.error_body(f"request body larger than {self.settings.max_payload_mb:g} MB")
        await _respond(send, 413, body, [(b"connection", b"close")])

    async def _discard_body(self, receive: Receive) -> None:
        """Read and drop the rest of the request body (at most ``DISCARD_LIMIT`` bytes)."""
        read = 0
        while read <= DISCARD_LIMIT:
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected()
            read += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _read_body(self, receive: Receive) -> bytes:
        message = await receive()
        if message["type"] != "http.request":
            raise _Disconnected()
        body = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self._limit:
                raise _TooLarge(more=False)
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            if size > self._limit:
                raise _TooLarge(more=True)
            message = await receive()
            if message["type"] != "http.request":
                raise _Disconnected()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
        if size > self._limit:
            raise _TooLarge(more=False)
        return b"".join(chunks)

    # -- on a prediction thread -------------------------------------------

    def _handle(self, job: Job) -> tuple[int, bytes, bytes, Any]:
        """Answer one invocation; return the answer and the records it made (held).

        The record of the request's data gets the request body as received
        and the response body as sent, with their Content-Type header values
        as bytes (the ``capture`` layout stores them as they are). The records
        are kept only once the answer has reached the connection
        (:meth:`_deliver`); an answer other than 200 keeps none.
        """
        model = self.model
        recorder = model.recorder
        if recorder is None:
            status, kind, payload, _ = self._predict(job)
            return status, kind, payload, None
        folder = model.bodies_folder
        if folder is not None:
            # The record holds nothing the bodies do not (decided once per
            # predictor): no Record made, none held while predicting.
            status, kind, payload, count = self._predict(job, recorded=False)
            if not count:
                return status, kind, payload, None
            if status != 200:
                # Predicted, then not answered: counted and logged as a held record is.
                recorder.not_kept(count, f"the prediction was answered {status}")
                return status, kind, payload, None
            body, _, _, content_type = job
            held = recorder.admit_bodies(
                folder, count, body, content_type or _JSON_TYPE, payload, kind
            )
            return status, kind, payload, held
        held = recorder.hold()
        try:
            status, kind, payload, _ = self._predict(job)
        finally:
            recorder.unhold()
        if not held:
            return status, kind, payload, None
        if status != 200:
            recorder.discard(held, f"the prediction was answered {status}")
            return status, kind, payload, None
        body, _, _, content_type = job
        # As received: the Content-Type header, or JSON, as a missing one is read.
        held.attach((body, content_type or _JSON_TYPE), (payload, kind))
        # Make room in the queue now, on this thread: the loop must never wait for it.
        recorder.admit(held)
        return status, kind, payload, held

    def _predict(self, job: Job, recorded: bool = True) -> tuple[int, bytes, bytes, int]:
        """The status, Content-Type and body of the answer to ``job``, and the data predicted.

        Through the predictor's ``invoke`` or ``batch_invoke``, or, not
        ``recorded``, through what they return without recording it
        (:meth:`_handle` records the request from its bodies). The data
        predicted are counted even when the answer then fails.
        """
        body, in_kind, (out_kind, out_header), _ = job
        count = 0
        try:
            request = bodies.decode_request(body, in_kind, self._strategy)
            predictor = self.model.predictor
            data = request.data
            if not request.batch:
                answer = predictor.invoke(data) if recorded else predictor._prediction(data)
                count = 1
            elif data:
                if recorded:
                    answer = predictor.batch_invoke(data)
                else:
                    answer = predictor._batch_predictions(data)
                count = len(data)
            else:
                answer = []
            return 200, out_header, bodies.encode_response(request, answer, out_kind), count
        except bodies.RequestError as exc:
            # The server's own: 0.6's {"message"} shape, without details.
            return exc.status_code, b"application/json", bodies.error_body(exc.message), count
        except APIError as exc:
            status = exc.status_code if 400 <= exc.status_code <= 599 else 500
            if status >= 500:
                logger.error(
                    "invocation failed with %d: %s",
                    status,
                    failure_summary(exc, self.model.plugin_manager()),
                    exc_info=exc,
                )
            try:
                payload = bodies.json_body(exc.to_dict())
            except (TypeError, ValueError):
                payload = bodies.error_body(str(exc.message))
            return status, b"application/json", payload, count
        except BaseException as exc:
            pm = self.model.plugin_manager()
            plugin = plugin_of(exc, pm)
            logger.error("invocation failed: %s", failure_summary(exc, pm), exc_info=exc)
            payload = bodies.error_body("internal error", error=type(exc).__name__, plugin=plugin)
            return 500, b"application/json", payload, count

    # -- lifespan -----------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._loop = asyncio.get_running_loop()
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def mark_exit_requested(self) -> None:
        """Note that the stop signal came now (the first time only).

        The shutdown flush then gets all of ``settings.graceful_timeout``
        left after draining requests and teardown, less ``EXIT_MARGIN`` seconds.
        """
        if self.exit_requested_at is None:
            self.exit_requested_at = time.monotonic()

    def _flush_deadline(self) -> float:
        if self.exit_requested_at is None:
            return time.monotonic() + RECORDER_CLOSE_TIMEOUT
        return self.exit_requested_at + self.settings.graceful_timeout - EXIT_MARGIN

    def inflight_deadline(self) -> float:
        """When requests still in flight at shutdown are cut short (``time.monotonic()``).

        They get all of the graceful time that the rest does not need: the
        flush deadline, less what the model host's stop needs
        (:meth:`~ml2p.serving.model_host.ModelHost.stop_reserve`: the teardown
        hooks' allowance and the time the recorder's queued records take at
        its recent write rate), and ``CUT_MARGIN`` to send the answers of
        those cut. Asked again as time passes: as the queue empties, in-flight
        requests get more time.
        """
        return self._flush_deadline() - CUT_MARGIN - self.model.stop_reserve()

    def cut_inflight(self) -> int:
        """Answer the predictions still running 503 now (shutdown); return how many.

        Must run on the event loop. Their records are not kept: each
        prediction's thread ends in the background and its result is dropped.
        """
        self.cut = True
        count = 0
        for _, future in self._deadlines:
            if not future.done():
                future.set_result(_CUT)
                count += 1
        return count

    def start(self) -> None:
        """Start the prediction threads and the model host (setup on a thread of its own).

        A predictor given to the constructor is served at once instead.
        """
        if self.settings.threads > 0:
            self._offloader = Offloader(self.settings.threads, on_dropped=self._dropped)
        self.model.start()

    def stop(self) -> None:
        """Stop the model host (teardown hooks if set up, recorder flush), then the threads."""
        self.model.stop(self._flush_deadline())
        if self._offloader is not None:
            self._offloader.shutdown(timeout=0.5)


async def _answer(send: Send, status: int, kind: bytes, payload: bytes) -> None:
    """Send a prediction's answer: the hot path, headers built here without a search."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"%d" % len(payload)), (b"content-type", kind)],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a complete response; JSON unless ``headers`` name another content type."""
    out = [(b"content-length", str(len(body)).encode("latin-1"))]
    if headers:
        out.extend(headers)
    if not headers or all(name != b"content-type" for name, _ in headers):
        out.append(_JSON_HEADER)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})
