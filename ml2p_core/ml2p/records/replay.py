"""Replaying recorded requests against another model version and comparing the answers.

A replay reads a model version's records (:class:`~ml2p.records.RecordReader`),
sends their inputs to a *target* and compares each new prediction with the
recorded one (:class:`~ml2p.records.diff.DiffReport`). Targets:

* :class:`HTTPTarget`: a server's ``/invocations`` (``ml2p local serve``,
  ``ml2p-docker serve``, any server that speaks SageMaker's protocol);
* :class:`EndpointTarget`: a SageMaker endpoint, through
  ``sagemaker-runtime`` ``InvokeEndpoint``;
* :class:`LocalServer` starts ``ml2p local serve MODEL`` on 127.0.0.1 (a
  free port) for the time of the replay and gives an :class:`HTTPTarget`.

Requests go out as they were recorded: a ``capture`` request with its body,
content type and the content type of its response (so a batch is sent
again as that batch); an ``object`` record, which kept no request, as its
datum in JSON (an object datum as is, any other in ``{"instances": [...]}``).
Requests run concurrently, a bounded number at a time, and results come
back in the records' order.

Each replayed record is a line of the ``--out`` file (JSON Lines):
``{"id", "time", "old", "new", "changed": [fields]}``, or ``{"id", "time",
"old", "error", "status"}`` when the target answered with an error. Lines
are flushed as they are written, so an interrupted replay keeps what it
did; run again with the same file, the records already in it are skipped
(and counted in the report again). Records that could not be sent at all
(the target unreachable, a timeout) are not written, so a rerun retries them.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import (
    IO,
    Any,
    Callable,
    NamedTuple,
)

from ml2p.child_server import ChildServer, temporary_log
from ml2p.errors import ML2PError
from ml2p.records.capture import CaptureFormatError, decode_inputs, decode_predictions
from ml2p.records.diff import DiffReport, compared_value
from ml2p.records.pool import Window, ordered_map
from ml2p.records.reader import Exchange
from ml2p.serving.bodies import JSON, json_body

__all__ = [
    "EndpointTarget",
    "HTTPTarget",
    "LocalServer",
    "Response",
    "Target",
    "TransportError",
    "load_done",
    "replay",
    "sample",
]


class TransportError(ML2PError):
    """A request that could not be sent or answered (not an error answer of the model)."""


class Response(NamedTuple):
    """What a target answered."""

    status: int
    content_type: str
    body: bytes


class Target:
    """Where replayed requests go. Subclasses implement :meth:`send`."""

    #: How the target is named in reports.
    name = "target"

    def send(self, body: bytes, content_type: str, accept: str) -> Response:
        """Send one request; return the answer, whatever its status.

        :raises TransportError: if there is no answer.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what the target holds."""


class HTTPTarget(Target):
    """A server's ``/invocations`` (appended to ``url`` unless it ends with it).

    Each thread keeps its own keep-alive connection.
    """

    def __init__(self, url: str, timeout: float = 60.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ML2PError(f"invalid URL {url!r}: expected http://host[:port][/path]")
        path = parsed.path.rstrip("/")
        if not path.endswith("/invocations"):
            path += "/invocations"
        self.url = f"{parsed.scheme}://{parsed.netloc}{path}"
        self.name = self.url
        self._parsed = parsed
        self._path = path + (f"?{parsed.query}" if parsed.query else "")
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            cls = (
                http.client.HTTPSConnection
                if self._parsed.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = cls(self._parsed.hostname, self._parsed.port, timeout=self.timeout)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def send(self, body: bytes, content_type: str, accept: str) -> Response:
        headers = {"Content-Type": content_type, "Accept": accept}
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request("POST", self._path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                return Response(answer.status, answer.getheader("Content-Type", ""), data)
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._local.connection = None
                # A kept-alive connection the server closed: one new connection, then give up.
                if attempt == 2 or isinstance(exc, socket.timeout):
                    raise TransportError(f"no answer from {self.url}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()


class EndpointTarget(Target):
    """A SageMaker endpoint, invoked with ``sagemaker-runtime`` ``InvokeEndpoint``.

    :param client: A ``sagemaker-runtime`` boto3 client.
    :param endpoint_name: The endpoint's full name.
    """

    def __init__(self, client: Any, endpoint_name: str):
        self.client = client
        self.endpoint_name = endpoint_name
        self.name = f"endpoint {endpoint_name}"

    def send(self, body: bytes, content_type: str, accept: str) -> Response:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.invoke_endpoint(
                EndpointName=self.endpoint_name, Body=body, ContentType=content_type, Accept=accept
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ModelError":
                # The container answered with an error status: that is the model's answer.
                status = int(exc.response.get("OriginalStatusCode") or 500)
                message = str(exc.response.get("OriginalMessage") or error.get("Message", ""))
                return Response(status, "text/plain", message.encode("utf-8"))
            raise
        except BotoCoreError as exc:
            raise TransportError(f"no answer from {self.name}: {exc}") from exc
        return Response(200, answer.get("ContentType") or JSON, answer["Body"].read())


#: Seconds ``ml2p local serve`` gets to stop after SIGTERM: its own grace, and a margin.
LOCAL_STOP_GRACE = 40.0


def _local_serve_port_taken(output: str, port: int) -> bool:
    """Whether ``ml2p local serve`` says its port was taken (see :mod:`ml2p.cli.ports`)."""
    taken = "already in use" in output or "was taken" in output
    return taken and f"port {port} on 127.0.0.1" in output


class LocalServer:
    """``ml2p local serve MODEL`` in a child process on 127.0.0.1, for a replay.

    Use as a context manager: it starts the server, waits until ``/ping``
    answers 200, and stops it (SIGTERM, then SIGKILL) on exit.

    :param model: The model to serve (a key of the config's ``models``).
    :param cfg: The ``ml2p.yml`` to read.
    :param local_folder: The folder with the trained model (``model/``).
    :param workers: Server worker processes (default: ``ml2p local serve``'s).
    :param startup_timeout: Seconds to wait for the server to be ready.
    """

    def __init__(
        self,
        model: str,
        cfg: str,
        local_folder: str,
        workers: int | None = None,
        startup_timeout: float = 120.0,
    ):
        self.model = model
        self.cfg = cfg
        self.local_folder = local_folder
        self.workers = workers
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        self._child: ChildServer | None = None

    def command(self) -> list[str]:
        """The command line that runs the server."""
        args = [sys.executable, "-m", "ml2p", "--cfg", self.cfg, "local", "serve", self.model]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--local-folder", self.local_folder]
        if self.workers is not None:
            args += ["--workers", str(self.workers)]
        return args

    def _command(self, port: int) -> list[str]:
        self.port = port
        return self.command()

    def __enter__(self) -> LocalServer:
        self._child = ChildServer(
            self._command,
            os.environ,
            temporary_log(),
            name=f"`ml2p local serve {self.model}`",
            port_taken=_local_serve_port_taken,
            tail_lines=15,
            remove_log=True,
        )
        self._child.start(lambda ping: ping.status == 200, self.startup_timeout)
        self.url = self._child.url
        return self

    def __exit__(self, *exc: Any) -> None:
        child, self._child = self._child, None
        if child is not None:
            child.stop(LOCAL_STOP_GRACE)


# -- what to send -------------------------------------------------------------------


def _request(exchange: Exchange) -> tuple[bytes, str, str, bool]:
    """``(body, content type, accept, batch)`` to send an exchange's request again."""
    if exchange.request_body is not None:
        content_type = exchange.request_type or JSON
        batch, _ = decode_inputs(content_type, exchange.request_body)
        return exchange.request_body, content_type, exchange.response_type or JSON, batch
    datum = exchange.records[0].input
    if isinstance(datum, dict) and "instances" not in datum:
        return json_body(datum), JSON, JSON, False
    return json_body({"instances": [datum]}), JSON, JSON, True


def _error_message(response: Response) -> str:
    text = response.body.decode("utf-8", "replace").strip()
    try:
        document = json.loads(text)
        if isinstance(document, dict) and "message" in document:
            text = str(document["message"])
    except ValueError:
        pass
    return f"{response.status}: {' '.join(text.split())[:500]}"


class _Sent(NamedTuple):
    exchange: Exchange
    predictions: list[Any] | None
    error: str | None
    status: int | None
    failure: str | None


def _send(target: Target, exchange: Exchange) -> _Sent:
    try:
        body, content_type, accept, batch = _request(exchange)
    except (CaptureFormatError, ValueError) as exc:
        return _Sent(exchange, None, f"cannot build the request again: {exc}", None, None)
    try:
        response = target.send(body, content_type, accept)
    except TransportError as exc:
        return _Sent(exchange, None, None, None, str(exc))
    if response.status != 200:
        return _Sent(exchange, None, _error_message(response), response.status, None)
    try:
        predictions = decode_predictions(response.content_type or JSON, response.body, batch)
    except CaptureFormatError as exc:
        return _Sent(exchange, None, f"cannot read the answer: {exc}", response.status, None)
    if len(predictions) < len(exchange.records):
        return _Sent(
            exchange,
            None,
            f"the answer holds {len(predictions)} predictions for {len(exchange.records)} data",
            response.status,
            None,
        )
    return _Sent(exchange, predictions, None, None, None)


# -- choosing and resuming ---------------------------------------------------------------


def sample(exchanges: Iterable[Exchange], size: int, seed: int = 0) -> list[Exchange]:
    """A uniform random sample of ``size`` requests (reservoir sampling), in their order.

    The same records and ``seed`` give the same sample, so a rerun with
    ``--out`` resumes the same replay.
    """
    rng = random.Random(seed)
    kept: list[tuple[int, Exchange]] = []
    for index, exchange in enumerate(exchanges):
        if index < size:
            kept.append((index, exchange))
        else:
            slot = rng.randrange(index + 1)
            if slot < size:
                kept[slot] = (index, exchange)
    return [exchange for _, exchange in sorted(kept, key=lambda item: item[0])]


def load_done(path: str, report: DiffReport) -> set[str]:
    """Read the lines of an earlier replay's ``--out`` file; return the ids it holds.

    Each line is counted in ``report`` again. A last line cut short (the
    earlier run was killed while writing it) is removed from the file, so
    that record is replayed.

    :raises ML2PError: naming the line, if another line is not a replay line.
    """
    done: set[str] = set()
    if not os.path.exists(path):
        return done
    with open(path, "rb+") as handle:
        data = handle.read()
        end = len(data)
        if data and not data.endswith(b"\n"):
            end = data.rfind(b"\n") + 1
            handle.truncate(end)
    for number, line in enumerate(data[:end].splitlines(), 1):
        if not line.strip():
            continue
        try:
            outcome = json.loads(line)
            record_id = outcome["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ML2PError(
                f"{path} line {number} is not a line of a replay ({exc}): "
                "give another --out file, or remove it"
            ) from None
        done.add(str(record_id))
        report.add(outcome)
    return done


def replay(
    exchanges: Iterable[Exchange],
    target: Target,
    report: DiffReport,
    *,
    concurrency: int = 4,
    done: set[str] | None = None,
    write: Callable[[dict[str, Any]], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> DiffReport:
    """Send ``exchanges`` to ``target`` and add every record's outcome to ``report``.

    :param concurrency: Requests in flight at once.
    :param done: Ids to skip (an earlier run's); a request whose records
        are all done is not sent.
    :param write: Called with each record's outcome line, in the records' order.
    :param progress: Called with the number of records each request replayed.
    """
    if concurrency < 1:
        raise ML2PError(f"concurrency must be at least 1, not {concurrency}")
    done = done or set()
    todo: Iterator[Exchange] = (
        e for e in exchanges if any(r.id not in done for r in e.records)
    )  # fmt: skip
    window = Window(2 * concurrency)
    with ThreadPoolExecutor(concurrency, thread_name_prefix="ml2p-replay") as pool:
        for sent in ordered_map(pool, lambda e: _send(target, e), todo, window):
            count = 0
            for index, record in enumerate(sent.exchange.records):
                if record.id in done:
                    continue
                count += 1
                if sent.failure is not None:
                    report.failed += 1
                    continue
                outcome: dict[str, Any] = {"id": record.id, "time": record.time}
                outcome["old"] = compared_value(record.prediction)
                if sent.error is not None:
                    outcome["error"] = sent.error
                    outcome["status"] = sent.status
                else:
                    assert sent.predictions is not None
                    outcome["new"] = compared_value(sent.predictions[index])
                report.add(outcome)
                if write is not None:
                    write(outcome)
            if sent.failure is not None:
                report.failure_messages[sent.failure] += 1
            if progress is not None:
                progress(count)
    return report


def write_lines(handle: IO[str]) -> Callable[[dict[str, Any]], None]:
    """A ``write`` for :func:`replay`: one compact JSON line per outcome, flushed at once."""

    def write(outcome: dict[str, Any]) -> None:
        handle.write(json.dumps(outcome, ensure_ascii=False, separators=(",", ":")) + "\n")
        handle.flush()

    return write
