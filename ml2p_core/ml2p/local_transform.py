"""Batch transform without SageMaker: what a transform job does, against a local server.

``ml2p local transform`` starts the production server on the local model
(:mod:`ml2p.server_process`) and calls :func:`transform_folder`, which does for
a folder what SageMaker batch transform does for an S3 prefix:

* every file under the input folder is a data object; its records are its lines
  (``SplitType`` ``Line``; blank lines are skipped) or, with ``None``, the whole
  file is one request;
* records are sent in mini-batches: with ``MultiRecord``, as many whole lines
  as fit in ``MaxPayloadInMB`` (MB meaning MiB, as the server counts it); with
  ``SingleRecord``, one per request. A record larger than the limit fails its
  file, as on SageMaker;
* up to ``MaxConcurrentTransforms`` requests are in flight at once, across
  files and within a file;
* the answers of a file's mini-batches are written, in input order, to
  ``<output folder>/<file>.out`` (keeping sub-folders): ``AssembleWith``
  ``Line`` ends each answer with a newline if it lacks one, ``None``
  concatenates them as they are;
* a mini-batch whose request fails for a reason that may pass (a 5xx answer,
  a timeout, a lost connection) is sent again, up to ``invocations_max_retries``
  times (SageMaker's ``InvocationsMaxRetries``, 3 by default); a 4xx answer,
  such as the 400 for a malformed line, is not retried: the same data would
  fail again;
* a file with a failed mini-batch gets no ``.out`` at all (SageMaker writes no
  output for an input file with a bad record, since it could not keep the
  output in the input's order), its remaining mini-batches are not sent, and
  the error names the file, the lines of the mini-batch and the server's
  answer. The other files are transformed as usual and keep their outputs.

The settings not given in ``transform`` come from the server's
``GET /execution-parameters``, as SageMaker takes them (see :func:`make_plan`).
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, Callable

from ml2p.errors import ML2PError

__all__ = [
    "FileResult",
    "MiniBatch",
    "Plan",
    "RecordTooLarge",
    "check_folders",
    "content_type_for",
    "make_plan",
    "mini_batches",
    "transform_folder",
]

#: SageMaker's defaults when neither the job nor the container says.
DEFAULT_MAX_CONCURRENT = 1
DEFAULT_MAX_PAYLOAD_MB = 6
DEFAULT_STRATEGY = "MultiRecord"

_STRATEGY_NAMES = {"MULTI_RECORD": "MultiRecord", "SINGLE_RECORD": "SingleRecord"}
_CSV = "text/csv"
_JSONLINES = "application/jsonlines"
_PARTIAL = ".partial"


@dataclass(frozen=True)
class Plan:
    """How a local transform runs: the job's settings over the container's."""

    max_concurrent: int
    max_payload_mb: float
    strategy: str
    split_type: str = "Line"
    assemble_with: str = "Line"
    content_type: str | None = None
    accept: str | None = None
    timeout: float = 600.0
    retries: int = 3

    @property
    def max_payload_bytes(self) -> int:
        """The largest mini-batch, in bytes."""
        return int(self.max_payload_mb * 1024 * 1024)

    def summary(self) -> dict[str, Any]:
        """The settings in SageMaker's names."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent,
            "MaxPayloadInMB": self.max_payload_mb,
            "BatchStrategy": self.strategy,
            "SplitType": self.split_type,
            "AssembleWith": self.assemble_with,
        }


def make_plan(settings: Any, execution_parameters: Mapping[str, Any]) -> Plan:
    """Combine the ``transform`` settings with the container's execution parameters.

    As SageMaker does: a setting given in ``ml2p.yml`` wins; otherwise the
    container's ``/execution-parameters`` answer; otherwise SageMaker's default
    (1 concurrent transform, 6 MB, ``MultiRecord``).

    :param settings: A :class:`ml2p.transforms.TransformSettings`.
    :raises ML2PError: for what the local transform cannot do (RecordIO and
        TFRecord splitting, a streaming ``max_payload_mb`` of 0).
    """
    if settings.split_type not in ("Line", "None"):
        raise ML2PError(
            f"transform.split_type {settings.split_type!r} is not supported by ml2p local "
            "transform: use Line or None"
        )
    if settings.max_payload_mb == 0:
        raise ML2PError(
            "transform.max_payload_mb 0 (streaming) is not supported by ml2p local transform"
        )
    strategy = settings.batch_strategy or _STRATEGY_NAMES.get(
        str(execution_parameters.get("BatchStrategy", "")).upper(), DEFAULT_STRATEGY
    )
    return Plan(
        max_concurrent=int(
            settings.max_concurrent_transforms
            or execution_parameters.get("MaxConcurrentTransforms")
            or DEFAULT_MAX_CONCURRENT
        ),
        max_payload_mb=float(
            settings.max_payload_mb
            or execution_parameters.get("MaxPayloadInMB")
            or DEFAULT_MAX_PAYLOAD_MB
        ),
        strategy=strategy,
        split_type=settings.split_type,
        assemble_with=settings.assemble_with,
        content_type=settings.content_type,
        accept=settings.accept,
        timeout=float(settings.invocations_timeout_seconds),
        retries=int(settings.invocations_max_retries),
    )


def content_type_for(path: pathlib.Path, plan: Plan) -> str:
    """The content type of a file: ``transform.content_type``, else by extension.

    ``.csv`` files are CSV; any other file is JSON Lines.
    """
    if plan.content_type:
        return plan.content_type
    return _CSV if path.suffix.lower() == ".csv" else _JSONLINES


# --------------------------------------------------------------------------------------
# Splitting a file into mini-batches
# --------------------------------------------------------------------------------------


class RecordTooLarge(ML2PError):
    """A record (or, without splitting, a file) is larger than the largest payload."""


@dataclass
class MiniBatch:
    """Some records of a file, sent in one request."""

    first_line: int
    last_line: int
    body: bytes
    records: int
    #: Bytes of the file this mini-batch accounts for (blank lines included).
    consumed: int

    def where(self) -> str:
        if self.first_line == self.last_line:
            return f"line {self.first_line}"
        return f"lines {self.first_line}-{self.last_line}"


def _records(handle: IO[bytes]) -> Iterator[tuple[int, bytes, int]]:
    """(line number, record without its line ending, bytes read) for each non-blank line."""
    skipped = 0
    for number, raw in enumerate(handle, 1):
        record = raw.rstrip(b"\r\n")
        if not record.strip():
            skipped += len(raw)
            continue
        yield number, record, len(raw) + skipped
        skipped = 0


def mini_batches(
    handle: IO[bytes], max_bytes: int, strategy: str, split_type: str = "Line"
) -> Iterator[MiniBatch]:
    """Yield the mini-batches of a file opened in binary mode.

    Each record is sent with a newline after it.

    :raises RecordTooLarge: naming the line (or the file, without splitting).
    """
    if split_type == "None":
        body = handle.read()
        if len(body) > max_bytes:
            raise RecordTooLarge(
                f"the file is {len(body)} bytes, more than the largest payload "
                f"({max_bytes} bytes); split it by line (transform.split_type: Line)"
            )
        lines = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
        if body.strip():
            yield MiniBatch(1, max(lines, 1), body, lines, len(body))
        return
    batch: list[bytes] = []
    first = size = consumed = 0
    last = 0
    for number, record, read in _records(handle):
        length = len(record) + 1
        if length > max_bytes:
            raise RecordTooLarge(
                f"line {number} is {length} bytes, more than the largest payload "
                f"({max_bytes} bytes)"
            )
        if batch and (strategy == "SingleRecord" or size + length > max_bytes):
            yield MiniBatch(first, last, b"".join(batch), len(batch), consumed)
            batch, size, consumed = [], 0, 0
        if not batch:
            first = number
        batch.append(record + b"\n")
        size += length
        consumed += read
        last = number
    if batch:
        yield MiniBatch(first, last, b"".join(batch), len(batch), consumed)


# --------------------------------------------------------------------------------------
# Sending mini-batches
# --------------------------------------------------------------------------------------


class _Failed(Exception):
    """A mini-batch's request failed; ``retry`` if trying again might help."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


class _Client:
    """One keep-alive connection to the server per thread."""

    def __init__(self, host: str, port: int, timeout: float):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def post(self, body: bytes, content_type: str, accept: str) -> bytes:
        headers = {"Content-Type": content_type, "Accept": accept}
        try:
            conn = self._connection()
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise _Failed(f"no answer from the model server: {exc}", retry=True) from None
        if response.will_close:
            self._drop()
        if response.status == 200:
            return answer
        raise _Failed(
            f"the model server answered {response.status}: {_message(answer)}",
            retry=response.status >= 500,
        )


def _message(answer: bytes) -> str:
    try:
        data = json.loads(answer)
        text = data.get("message", answer.decode("utf-8", errors="replace"))
    except (ValueError, AttributeError):
        text = answer.decode("utf-8", errors="replace")
    return " ".join(str(text).split())[:500]


def _send(client: _Client, plan: Plan, batch: MiniBatch, content_type: str, accept: str) -> bytes:
    attempt = 0
    while True:
        try:
            return client.post(batch.body, content_type, accept)
        except _Failed as exc:
            if not exc.retry or attempt >= plan.retries:
                tries = f" (after {attempt + 1} tries)" if attempt else ""
                raise _Failed(f"{batch.where()}: {exc}{tries}", retry=False) from None
            attempt += 1
            time.sleep(min(0.2 * 2**attempt, 2.0))


# --------------------------------------------------------------------------------------
# One file's output, assembled in order
# --------------------------------------------------------------------------------------


@dataclass
class FileResult:
    """What became of one input file."""

    input: str
    content_type: str
    output: str | None = None
    records: int = 0
    mini_batches: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "content_type": self.content_type,
            "output": self.output,
            "records": self.records,
            "mini_batches": self.mini_batches,
            "error": self.error,
        }


@dataclass
class _FileJob:
    source: pathlib.Path
    target: pathlib.Path
    result: FileResult
    assemble_line: bool
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: dict[int, bytes] = field(default_factory=dict)
    next_index: int = 0
    submitted: int = 0
    done: int = 0
    split_done: bool = False
    finished: bool = False
    handle: Any = None

    @property
    def partial(self) -> pathlib.Path:
        return self.target.with_name(self.target.name + _PARTIAL)

    def open(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.partial, "wb")

    def failed(self) -> bool:
        with self.lock:
            return self.result.error is not None

    def _fail(self, message: str) -> None:
        if self.result.error is None:
            self.result.error = message

    def batch_done(self, index: int, answer: bytes | None, error: str | None) -> None:
        with self.lock:
            self.done += 1
            if error is not None:
                self._fail(error)
            elif self.result.error is None:
                self.pending[index] = answer or b""
                self._write_ready()
            self._finish_if_done()

    def split_failed(self, message: str) -> None:
        with self.lock:
            self._fail(message)

    def split_finished(self) -> None:
        with self.lock:
            self.split_done = True
            self._finish_if_done()

    def _write_ready(self) -> None:
        while self.next_index in self.pending:
            answer = self.pending.pop(self.next_index)
            if self.assemble_line and not answer.endswith(b"\n"):
                answer += b"\n"
            try:
                self.handle.write(answer)
            except OSError as exc:
                self._fail(f"cannot write {self.partial}: {exc.strerror or exc}")
                return
            self.next_index += 1

    def _finish_if_done(self) -> None:
        if self.finished or not self.split_done or self.done < self.submitted:
            return
        self.finished = True
        self.pending.clear()
        try:
            if self.handle is not None:
                self.handle.close()
            if self.result.error is None:
                os.replace(self.partial, self.target)
                self.result.output = str(self.target)
                return
        except OSError as exc:
            self._fail(f"cannot write {self.target}: {exc.strerror or exc}")
        # No output for a failed file, not even a previous run's.
        for path in (self.partial, self.target):
            try:
                path.unlink()
            except FileNotFoundError:
                pass


def _input_files(input_dir: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in input_dir.rglob("*") if p.is_file())


def check_folders(input_dir: Any, output_dir: Any) -> None:
    """Refuse an output folder that is, or is inside, the input folder.

    :raises ML2PError: saying why.
    """
    source_root = pathlib.Path(input_dir).resolve()
    target_root = pathlib.Path(output_dir).resolve()
    if target_root == source_root or source_root in target_root.parents:
        raise ML2PError(
            f"the output folder {str(output_dir)!r} is inside the input folder "
            f"{str(input_dir)!r}: its .out files would be read as input; choose another"
        )


def transform_folder(
    url: str,
    input_dir: Any,
    output_dir: Any,
    plan: Plan,
    progress: Callable[[int], None] | None = None,
) -> list[FileResult]:
    """Transform every file under ``input_dir`` into ``output_dir`` through the server at ``url``.

    :param url: The server's base URL (``http://127.0.0.1:PORT``).
    :param plan: The settings (see :func:`make_plan`).
    :param progress: Called with the number of input bytes each finished mini-batch covers.
    :returns: One result per input file, in order; failed files carry their ``error``.
    :raises ML2PError: if ``output_dir`` is inside ``input_dir``.
    """
    check_folders(input_dir, output_dir)
    source_root = pathlib.Path(input_dir).resolve()
    target_root = pathlib.Path(output_dir).resolve()
    target_root.mkdir(parents=True, exist_ok=True)
    host, _, port = url.split("://", 1)[-1].rstrip("/").partition(":")
    client = _Client(host, int(port or 80), plan.timeout)
    advance = progress or (lambda n: None)
    jobs = []
    for path in _input_files(source_root):
        relative = path.relative_to(source_root).as_posix()
        jobs.append(
            _FileJob(
                source=path,
                target=target_root / f"{relative}.out",
                result=FileResult(relative, content_type_for(path, plan)),
                assemble_line=plan.assemble_with == "Line",
            )
        )
    in_flight = threading.BoundedSemaphore(plan.max_concurrent)

    def work(job: _FileJob, index: int, batch: MiniBatch, accept: str) -> None:
        answer = error = None
        try:
            if not job.failed():
                answer = _send(client, plan, batch, job.result.content_type, accept)
        except _Failed as exc:
            error = f"{job.result.input}: {exc}"
        except BaseException as exc:  # a worker must report, never vanish
            error = f"{job.result.input}: {batch.where()}: {type(exc).__name__}: {exc}"
        finally:
            in_flight.release()
            job.batch_done(index, answer, error)
            advance(batch.consumed)

    with ThreadPoolExecutor(plan.max_concurrent, thread_name_prefix="ml2p-transform") as pool:
        for job in jobs:
            accept = plan.accept or job.result.content_type
            try:
                job.open()
            except OSError as exc:
                job.split_failed(f"{job.result.input}: cannot write {job.partial}: {exc}")
                job.split_finished()
                continue
            try:
                with open(job.source, "rb") as handle:
                    for batch in mini_batches(
                        handle, plan.max_payload_bytes, plan.strategy, plan.split_type
                    ):
                        in_flight.acquire()
                        if job.failed():
                            in_flight.release()
                            break
                        with job.lock:
                            index = job.submitted
                            job.submitted += 1
                        job.result.records += batch.records
                        job.result.mini_batches += 1
                        pool.submit(work, job, index, batch, accept)
            except RecordTooLarge as exc:
                job.split_failed(f"{job.result.input}: {exc}")
            except OSError as exc:
                job.split_failed(f"{job.result.input}: cannot read it: {exc.strerror or exc}")
            finally:
                job.split_finished()
    return [job.result for job in jobs]
