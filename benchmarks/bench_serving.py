"""Serving benchmark: this ML2P against ML2P 0.6.0 and a bare ASGI app.

One run on one machine measures requests/s and p50/p99 latency with ``wrk``
for single invocations (one small JSON object) and batch invocations
(``{"instances": [...100 objects]}``) at concurrency 1 (``-t1 -c1``) and 16
(``-t2 -c16``), each cell after a warm-up, for these servers:

* ``this``: this repository's ``ml2p-docker serve`` (gunicorn + uvicorn
  workers), recording off, and recording on with ``ML2P_RECORD_LAYOUT``
  ``object`` and ``capture``;
* ``v060``: ML2P 0.6.0's ``ml2p-docker serve`` (Flask's development server,
  one process, a thread per connection), from its own virtualenv, recording
  off and on;
* ``bare``: a raw ASGI app doing the same JSON parse, compute and dump, on
  the same gunicorn + ``uvicorn_worker.UvicornWorker`` configuration as
  ``this``.

Every server serves the same trivial model (:mod:`bench_models`), binds
127.0.0.1 on a free port and is stopped (SIGTERM, then SIGKILL) when its
cells are done, also on error or Ctrl-C. Recording goes to a moto S3 server
the script starts on 127.0.0.1, whose PUT capacity alone (wrk PUTting one
record per request, c1 and c16) is measured too; each server's workers'
peak RSS is read before it stops. The script prints (and with ``--output``
writes) a markdown report: machine facts and load, the command, every cell,
and the ratios against their targets, all computed in this run.

Run ``python benchmarks/bench_serving.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_VENV = pathlib.Path.home() / ".cache" / "ml2p-bench" / "venv-0.6.0"
V060 = "0.6.0"

BUCKET = "ml2p-bench"
S3_URL = f"s3://{BUCKET}/bench/"
MODEL_VERSION = "bench-model-1-0-0"
MODEL_REF = "bench_models.BenchModel"
PARAMS = {"slope": 2.0, "intercept": 1.0}
BATCH_SIZE = 100
#: The recording layouts this server offers.
LAYOUTS = ("object", "capture")
#: In-flight PUTs of the S3 server's c16 cell, which the ``object`` layout's writers match.
PUT_CONCURRENCY = 16
#: The key of the S3 server's own PUT cells in the results.
S3_PUT = "s3-put"

#: (payload, threads, connections) in the order every server runs them.
CELLS: list[tuple[str, int, int]] = [
    ("single", 1, 1),
    ("single", 2, 16),
    ("batch", 1, 1),
    ("batch", 2, 16),
]

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_SESSION_TOKEN": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


# --------------------------------------------------------------------------
# Payloads and answers


def single_body() -> dict[str, Any]:
    return {"x": 1.5}


def batch_body() -> dict[str, Any]:
    return {"instances": [{"x": i * 0.5} for i in range(BATCH_SIZE)]}


def expected_y(datum: dict[str, Any]) -> float:
    return PARAMS["slope"] * datum["x"] + PARAMS["intercept"]


def object_record() -> dict[str, Any]:
    """What the ``object`` layout stores for a single invocation (the PUT capacity's body)."""
    datum = single_body()
    metadata = {"model_version": MODEL_VERSION, "ml2p_version": "0.7.0", "timestamp": time.time()}
    return {"input": datum, "result": {"metadata": metadata, "result": {"y": expected_y(datum)}}}


def _ys(answer: Any, batch: bool) -> list[float]:
    """The predicted ``y`` values in a server's answer (each under ``result``)."""
    items = answer["predictions"] if batch else [answer]
    return [item["result"]["y"] for item in items]


# --------------------------------------------------------------------------
# Servers


@dataclass
class ServerSpec:
    """How to start one server configuration and what its answers look like."""

    key: str
    label: str
    argv: list[str]
    env: dict[str, str]
    #: ``ML2P_RECORD_LAYOUT`` value, or "sync" for 0.6.0; None when not recording.
    recording: str | None = None
    notes: str = ""
    #: The (payload, connections) cells to measure; None for all of CELLS.
    cells: list[tuple[str, int]] | None = None


@dataclass
class Running:
    spec: ServerSpec
    proc: subprocess.Popen
    url: str
    log: pathlib.Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(url: str, body: bytes | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _log_tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


#: /ping answers of 200 in a row (each on a new connection) that make a server ready.
READY_PINGS = 20


def start_server(spec: ServerSpec, port: int, workdir: pathlib.Path, timeout: float) -> Running:
    """Start ``spec`` on 127.0.0.1:``port``; wait for READY_PINGS 200s from ``GET /ping``."""
    log = workdir / f"{spec.key}.log"
    argv = [a.replace("{port}", str(port)) for a in spec.argv]
    env = {k: v.replace("{port}", str(port)) for k, v in spec.env.items()}
    with open(log, "wb") as out:
        # A session of its own, so that stopping reaches gunicorn's workers too.
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=str(HERE),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = Running(spec, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(
                f"{spec.label} exited with {proc.returncode} before answering /ping; "
                f"log {log}:\n{_log_tail(log)}"
            )
        try:
            ok = _http(running.url + "/ping", timeout=2.0)[0] == 200
        except OSError:
            ok = False
        # Each ping is a new connection, which any worker may take: one 200 can come
        # from a worker that is ready while another still sets its model up.
        in_a_row = in_a_row + 1 if ok else 0
        if in_a_row >= READY_PINGS:
            return running
        time.sleep(0.05 if ok else 0.1)
    stop_server(running, 5.0)
    raise BenchError(f"{spec.label} did not answer /ping in {timeout:g} s; log {log}")


def stop_server(running: Running, timeout: float) -> float:
    """SIGTERM the server's process group, SIGKILL it after ``timeout`` s; return seconds taken."""
    start = time.monotonic()
    proc = running.proc
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"  {running.spec.label}: no exit {timeout:g} s after SIGTERM, killing")
    # Workers may outlive the master; none may keep running.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    return time.monotonic() - start


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def worker_peak_rss(pid: int) -> float | None:
    """The largest peak RSS (``VmHWM``, MiB) of the processes under ``pid`` (its workers)."""
    peaks = []
    for child in _descendants(pid):
        try:
            for line in pathlib.Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except (OSError, ValueError, IndexError):
            continue
    return max(peaks) if peaks else None


def check_answers(running: Running) -> None:
    """One single and one batch request must come back with the right predictions."""
    for batch, body in ((False, single_body()), (True, batch_body())):
        status, raw = _http(running.url + "/invocations", json.dumps(body).encode(), timeout=120.0)
        if status != 200:
            raise BenchError(f"{running.spec.label}: POST /invocations -> {status}: {raw[:300]!r}")
        data = body["instances"] if batch else [body]
        got = _ys(json.loads(raw), batch)
        want = [expected_y(d) for d in data]
        if got != want:
            raise BenchError(f"{running.spec.label}: wrong predictions {got[:3]} != {want[:3]}")


# --------------------------------------------------------------------------
# Load generation


@dataclass
class CellResult:
    payload: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)
    #: CPU microseconds per request of the server's processes, and of this script's
    #: process (the moto S3 server; about nothing else while wrk runs).
    server_cpu_us: float | None = None
    s3_cpu_us: float | None = None


def run_wrk(
    url: str,
    body_file: pathlib.Path,
    threads: int,
    connections: int,
    duration: float,
    script: str = "wrk_post.lua",
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run wrk against ``url`` and return the ``BENCH_RESULT`` the Lua ``done`` printed."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "60s",
        "-s",
        str(HERE / script),
        url,
    ]
    # A run name of its own: the PUT script never writes a key twice.
    run = f"r{time.time_ns()}"
    env = dict(os.environ, **(extra_env or {}), BENCH_BODY_FILE=str(body_file), BENCH_RUN=run)
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 120)
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT ") :])
    raise BenchError(f"wrk gave no result (exit {proc.returncode}): {proc.stdout}{proc.stderr}")


def measure(
    running: Running,
    bodies: dict[str, pathlib.Path],
    duration: float,
    warmup: float,
) -> list[CellResult]:
    url = running.url + "/invocations"
    cells = [
        (payload, threads, connections, bodies[payload])
        for payload, threads, connections in CELLS
        if running.spec.cells is None or (payload, connections) in running.spec.cells
    ]
    pid = running.proc.pid
    return measure_cells(
        url, cells, duration, warmup, "wrk_post.lua", lambda: [pid, *_descendants(pid)]
    )


def measure_s3_puts(
    moto: Moto, body: pathlib.Path, duration: float, warmup: float
) -> list[CellResult]:
    """What the S3 server stores alone: wrk PUTting one record per request, c1 and c16."""
    url = f"{moto.url}/{BUCKET}/put-capacity/"
    # The concurrencies of the cells (one record per PUT, as the object layout writes).
    cells = [
        ("put", threads, connections, body)
        for payload, threads, connections in CELLS
        if payload == "single"
    ]
    headers = sigv4_put_headers(url + "signed.json", body.read_bytes())
    return measure_cells(
        url, cells, duration, warmup, "wrk_put.lua", lambda: [], {"BENCH_PUT_HEADERS": headers}
    )


def sigv4_put_headers(url: str, body: bytes) -> str:
    """The SigV4 headers an S3 client sends with a PUT of ``body`` to ``url``, one per line.

    Signed by botocore for this one URL with the benchmark's fake
    credentials; wrk sends them with every PUT. The S3 server does not check
    signatures (moto's default), so the other keys' PUTs are stored too, and
    it parses the same headers, of the same size, as it does for the
    recorder's PUTs: a PUT without them costs moto less CPU.
    """
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = Credentials(
        FAKE_AWS["AWS_ACCESS_KEY_ID"],
        FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        FAKE_AWS["AWS_SESSION_TOKEN"],
    )
    request = AWSRequest("PUT", url, data=body, headers={"Content-Type": "application/json"})
    S3SigV4Auth(credentials, "s3", FAKE_AWS["AWS_DEFAULT_REGION"]).add_auth(request)
    names = ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256", "X-Amz-Security-Token")
    return "".join(f"{name}: {request.headers[name]}\n" for name in names)


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of the processes ``pids`` so far (all their threads)."""
    total = 0.0
    for pid in pids:
        try:
            fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure_cells(
    url: str,
    cells: list[tuple[str, int, int, pathlib.Path]],
    duration: float,
    warmup: float,
    script: str,
    server_pids: Callable[[], list[int]],
    extra_env: dict[str, str] | None = None,
) -> list[CellResult]:
    results = []
    for payload, threads, connections, body in cells:
        if warmup > 0:
            run_wrk(url, body, threads, connections, warmup, script, extra_env)
        pids = server_pids()
        server0, s3_0 = _cpu_seconds(pids), _cpu_seconds([os.getpid()])
        raw = run_wrk(url, body, threads, connections, duration, script, extra_env)
        server1, s3_1 = _cpu_seconds(pids), _cpu_seconds([os.getpid()])
        errors = {k: v for k, v in raw["errors"].items() if v}
        if raw["requests"] == 0:
            # Every request outlived the cell: there is no rate or latency to report.
            errors["none completed"] = 1
        seconds = raw["duration_us"] / 1e6
        # Failed requests do not count as served.
        served = raw["requests"] - raw["errors"]["status"]
        cell = CellResult(
            payload=payload,
            connections=connections,
            rps=served / seconds if seconds else 0.0,
            p50_ms=raw["latency_us"]["p50"] / 1000,
            p99_ms=raw["latency_us"]["p99"] / 1000,
            requests=raw["requests"],
            errors=sum(errors.values()),
            error_detail=errors,
            server_cpu_us=(server1 - server0) / raw["requests"] * 1e6 if pids and served else None,
            s3_cpu_us=(s3_1 - s3_0) / raw["requests"] * 1e6 if served else None,
        )
        cpu = "" if cell.server_cpu_us is None else f"  server CPU {cell.server_cpu_us:7.1f} us/req"
        print(
            f"  {payload:6} c{connections:<2}  {cell.rps:9.1f} req/s  "
            f"p50 {cell.p50_ms:8.2f} ms  p99 {cell.p99_ms:8.2f} ms{cpu}"
            + (f"  errors {errors}" if errors else ""),
            flush=True,
        )
        results.append(cell)
    return results


# --------------------------------------------------------------------------
# Moto (recording target)


class Moto:
    """A moto S3 server on 127.0.0.1, in server mode, with the bucket made."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        # Werkzeug logs every S3 request of the servers; that is noise and CPU here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.reset()

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    def reset(self) -> None:
        """Drop every stored object (frees moto's memory) and make the bucket again."""
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST", data=b"")
        urllib.request.urlopen(req, timeout=60).close()
        self.client().create_bucket(Bucket=BUCKET)

    def count_records(self) -> tuple[int, int]:
        """Return (S3 objects, invocation records) under the predictions prefix.

        An ``object`` layout object holds one record; a capture file one line
        per request, holding one record, or ``BATCH_SIZE`` for this
        benchmark's batch requests (``{"instances": ...}``).
        """
        client = self.client()
        objects = records = 0
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="bench/predictions/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                objects += 1
                if item["Key"].endswith(".json"):
                    records += 1
                else:
                    body = client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
                    for line in body.splitlines():
                        if line.strip():
                            records += BATCH_SIZE if b"instances" in line else 1
        return objects, records

    def stop(self) -> None:
        self.server.stop()


# --------------------------------------------------------------------------
# Environment set-up


def ensure_v060_venv(venv: pathlib.Path, python: str) -> pathlib.Path:
    """Return the Python of a virtualenv holding ML2P 0.6.0, creating it if missing."""
    venv_python = venv / "bin" / "python"
    check = [str(venv_python), "-c", "import ml2p, flask; print(ml2p.__version__)"]
    if venv_python.exists():
        out = subprocess.run(check, capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip() == V060:
            return venv_python
    print(f"creating {venv} with ml2p=={V060} (once) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv_python), "-m", "pip", "install", "-q", f"ml2p=={V060}"], check=True)
    out = subprocess.run(check, capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.strip() != V060:
        raise BenchError(f"{venv}: ml2p {V060} not importable: {out.stderr}")
    return venv_python


def this_ml2p_docker() -> list[str]:
    """The ``ml2p-docker`` console script of the running Python."""
    script = pathlib.Path(sys.executable).parent / "ml2p-docker"
    if script.exists():
        return [str(script)]
    found = shutil.which("ml2p-docker")
    if found:
        return [found]
    raise BenchError(
        "ml2p-docker not found next to this Python: run `pip install -e .` in the repo first"
    )


def base_env(moto_url: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SAGEMAKER_", "AWS_", "BENCH_"))
        and k not in ("ML2P_RECORD_INVOKES", "ML2P_RECORD_LAYOUT", "ML2P_MODEL_CLS")
    }
    env.update(FAKE_AWS)
    # Nothing reaches real AWS: without moto the endpoint is a closed local port.
    env["AWS_ENDPOINT_URL"] = moto_url or "http://127.0.0.1:9"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    env.update(
        ML2P_PROJECT="bench",
        ML2P_S3_URL=S3_URL,
        ML2P_MODEL_VERSION=MODEL_VERSION,
        ML2P_RECORD_INVOKES="false",
        # Measure the core, not whatever plugins this Python has installed:
        # a plugin adding record-id pairs moves id-making back onto the request path.
        ML2P_LOAD_PLUGINS="",
        PYTHONUNBUFFERED="1",
    )
    return env


def build_specs(
    args: argparse.Namespace,
    ml_folder: pathlib.Path,
    moto_url: str | None,
    v060_python: pathlib.Path | None,
) -> list[ServerSpec]:
    env = base_env(moto_url)
    workers = str(args.workers)
    specs = []
    if "this" in args.servers:
        this_env = dict(
            env,
            SAGEMAKER_BIND_TO_PORT="{port}",
            SAGEMAKER_MODEL_SERVER_WORKERS=workers,
        )
        argv = [
            *this_ml2p_docker(),
            "--ml-folder",
            str(ml_folder),
            "--model",
            MODEL_REF,
            "serve",
            "--host",
            "127.0.0.1",
        ]
        specs.append(ServerSpec("this", "this, recording off", argv, this_env))
        specs.append(
            ServerSpec(
                "this-inline",
                "this, ML2P_SERVER_THREADS=0",
                argv,
                dict(this_env, ML2P_SERVER_THREADS="0"),
            )
        )
        if args.recording:
            for layout in args.layouts:
                # Records unwritten at stop go to the log, where the report counts them
                # (spilled to disk they would be sent by the next round's server).
                rec_env = dict(
                    this_env,
                    ML2P_RECORD_INVOKES="true",
                    ML2P_RECORD_LAYOUT=layout,
                    ML2P_RECORD_SPILL="log",
                )
                if layout == "object" and "ML2P_RECORD_WRITERS" not in os.environ:
                    rec_env["ML2P_RECORD_WRITERS"] = str(object_writers(args.workers))
                specs.append(
                    ServerSpec(
                        f"this-rec-{layout}",
                        f"this, recording {layout}",
                        argv,
                        rec_env,
                        recording=layout,
                    )
                )
    if "bare" in args.servers:
        bare_env = dict(
            env,
            BENCH_ML_FOLDER=str(ml_folder),
            SAGEMAKER_BIND_TO_PORT="{port}",
            SAGEMAKER_MODEL_SERVER_WORKERS=workers,
        )
        specs.append(ServerSpec("bare", "bare ASGI app", bare_argv(), bare_env))
    if "v060" in args.servers and v060_python is not None:
        v_env = dict(env, BENCH_HOST="127.0.0.1", BENCH_PORT="{port}")
        argv = [
            str(v060_python),
            str(HERE / "v060_serve.py"),
            "--ml-folder",
            str(ml_folder),
            "--model",
            MODEL_REF,
            "serve",
        ]
        notes = "Flask dev server: 1 process, a thread per connection"
        specs.append(ServerSpec("v060", "ML2P 0.6.0, recording off", argv, v_env, notes=notes))
        if args.recording:
            rec_env = dict(v_env, ML2P_RECORD_INVOKES="true")
            specs.append(
                ServerSpec(
                    "v060-rec",
                    "ML2P 0.6.0, recording on",
                    argv,
                    rec_env,
                    recording="sync",
                    notes=notes,
                )
            )
    return specs


def object_writers(workers: int) -> int:
    """Writers per worker for the ``object`` layout: the S3 concurrency of the c16 cells.

    Its target compares its records/s with what the S3 server stores alone at
    the same concurrency (``wrk -c16`` PUTs): ``workers`` times this many
    writers keep as many PUTs in flight. The default (16 a worker, sized for
    S3's latency across a network) would put twice as many on a local S3
    server, whose threads then share one GIL among 32 connections.
    """
    return max(1, PUT_CONCURRENCY // workers)


def bare_argv() -> list[str]:
    """The bare app on ML2P's gunicorn + uvicorn configuration (see ``bench_bare_server.py``)."""
    return [sys.executable, str(HERE / "bench_bare_server.py"), "127.0.0.1"]


# --------------------------------------------------------------------------
# Report


def cpu_busy(interval: float = 2.0) -> float | None:
    """Return the fraction of all CPUs busy over ``interval`` s (from /proc/stat), or None."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return idle, sum(fields)

    try:
        idle0, total0 = sample()
        time.sleep(interval)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else None


def wait_for_idle(limit: float, max_busy: float = 0.10) -> float | None:
    """Wait up to ``limit`` s for the CPUs to be at most ``max_busy`` busy; return the last load."""
    deadline = time.monotonic() + limit
    busy = cpu_busy()
    while busy is not None and busy > max_busy and time.monotonic() < deadline:
        print(f"CPUs {busy * 100:.0f}% busy before the run: waiting for them to settle", flush=True)
        busy = cpu_busy(5.0)
    return busy


def machine_facts() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    facts = {
        "date (UTC)": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "CPUs (nproc)": str(os.cpu_count()),
        "CPU model": cpu,
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "wrk": ((wrk.stdout or wrk.stderr).splitlines() or ["?"])[0].strip(),
    }
    for dist in ("ml2p", "gunicorn", "uvicorn", "uvicorn-worker", "uvloop", "httptools", "moto"):
        try:
            from importlib.metadata import version

            facts[dist] = version(dist)
        except Exception:  # a distribution that is missing is just not listed
            pass
    return facts


def keep_best(best: dict[tuple[str, int], CellResult], cells: list[CellResult]) -> None:
    """Keep, per cell, the round with the most req/s (error-free rounds first).

    Other load on the machine only ever slows a cell down, so the best round
    is the one least disturbed; its latencies are kept with it.
    """
    for cell in cells:
        key = (cell.payload, cell.connections)
        old = best.get(key)
        if old is None or (cell.errors == 0, cell.rps) > (old.errors == 0, old.rps):
            best[key] = cell


def _loadavg() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


Table = dict[str, dict[tuple[str, int], CellResult]]


@dataclass
class Target:
    name: str
    value: float | None
    shown: str
    goal: str
    met: bool | None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _clean_cell(table: Table, key: str, payload: str, c: int) -> Any:
    """The cell, if it was measured without errors."""
    cell = table.get(key, {}).get((payload, c))
    return cell if cell and cell.errors == 0 else None


def _rps(table: Table, key: str, payload: str, c: int) -> float | None:
    cell = _clean_cell(table, key, payload, c)
    return cell.rps if cell else None


def _p50(table: Table, key: str, payload: str, c: int) -> float | None:
    cell = _clean_cell(table, key, payload, c)
    return cell.p50_ms if cell else None


def _overhead(table: Table, key: str, payload: str) -> float | None:
    """1 - key's req/s over the bare app's, at c16."""
    ratio = _ratio(_rps(table, key, payload, 16), _rps(table, "bare", payload, 16))
    return None if ratio is None else 1.0 - ratio


def _shown(value: float | None, kind: str) -> str:
    """A fraction as a percentage (kind "%") or a ratio as "1.23x" (kind "x")."""
    if value is None:
        return "n/a"
    return f"{value * 100:.1f}%" if kind == "%" else f"{value:.2f}x"


def compute_targets(table: Table) -> list[Target]:
    def rps(key: str, payload: str, c: int) -> float | None:
        return _rps(table, key, payload, c)

    def p50(key: str, payload: str, c: int) -> float | None:
        return _p50(table, key, payload, c)

    def p99(key: str, payload: str, c: int) -> float | None:
        return _p99(table, key, payload, c)

    def records_per_s(key: str, payload: str, c: int) -> float | None:
        return _records_per_s(table, key, payload, c)

    def target(name: str, value: float | None, kind: str, limit: float) -> Target:
        # kind: ">=x" / "<=x" compare ratios, ">=%" / "<=%" compare fractions.
        percent = kind.endswith("%")
        at_least = kind.startswith(">=")
        goal = ("≥ " if at_least else "≤ ") + (f"{limit * 100:g}%" if percent else f"{limit:g}x")
        if value is None:
            return Target(name, None, "n/a", goal, None)
        met = value >= limit if at_least else value <= limit
        return Target(name, value, _shown(value, kind[-1]), goal, met)

    def overhead(payload: str) -> float | None:
        return _overhead(table, "this", payload)

    return [
        target(
            "this / 0.6.0 req/s, single c16",
            _ratio(rps("this", "single", 16), rps("v060", "single", 16)),
            ">=x",
            15,
        ),
        target(
            "this / 0.6.0 req/s, batch c16",
            _ratio(rps("this", "batch", 16), rps("v060", "batch", 16)),
            ">=x",
            4,
        ),
        target(
            "overhead vs bare (1 - this/bare req/s), single c16",
            overhead("single"),
            "<=%",
            0.15,
        ),
        target(
            "overhead vs bare (1 - this/bare req/s), batch c16",
            overhead("batch"),
            "<=%",
            0.15,
        ),
        target(
            "capture recording / recording off req/s, single c16",
            _ratio(rps("this-rec-capture", "single", 16), rps("this", "single", 16)),
            ">=%",
            0.90,
        ),
        target(
            "capture recording / recording off req/s, batch c16",
            _ratio(rps("this-rec-capture", "batch", 16), rps("this", "batch", 16)),
            ">=%",
            0.70,
        ),
        target(
            "capture recording p99 / recording off p99, single c16",
            _ratio(p99("this-rec-capture", "single", 16), p99("this", "single", 16)),
            "<=x",
            3,
        ),
        target(
            "object recording records/s / S3 server's PUTs/s alone, single c16",
            _ratio(records_per_s("this-rec-object", "single", 16), rps(S3_PUT, "put", 16)),
            ">=%",
            0.90,
        ),
    ]


def _p99(table: Table, key: str, payload: str, c: int) -> float | None:
    cell = _clean_cell(table, key, payload, c)
    return cell.p99_ms if cell else None


def _cpu(table: Table, key: str, payload: str, c: int, s3: bool = False) -> float | None:
    """CPU microseconds per request of the server (and of the S3 server, with ``s3``)."""
    cell = _clean_cell(table, key, payload, c)
    if cell is None or cell.server_cpu_us is None:
        return None
    return cell.server_cpu_us + ((cell.s3_cpu_us or 0.0) if s3 else 0.0)


def _records_per_s(table: Table, key: str, payload: str, c: int) -> float | None:
    """Records stored per second: with a full queue, one per answered datum (see README)."""
    rate = _rps(table, key, payload, c)
    return None if rate is None else rate * (BATCH_SIZE if payload == "batch" else 1)


def other_ratios(table: Table) -> list[tuple[str, float | None, str]]:
    """Ratios that are not targets but show the trade-offs: (name, value, kind)."""

    def rps(key: str, payload: str, c: int) -> float | None:
        return _rps(table, key, payload, c)

    def p50(key: str, payload: str, c: int) -> float | None:
        return _p50(table, key, payload, c)

    def overhead(key: str, payload: str) -> float | None:
        return _overhead(table, key, payload)

    return [
        (
            "overhead vs bare, ML2P_SERVER_THREADS=0, single c16",
            overhead("this-inline", "single"),
            "%",
        ),
        (
            "overhead vs bare, ML2P_SERVER_THREADS=0, batch c16",
            overhead("this-inline", "batch"),
            "%",
        ),
        (
            "this p50 / bare p50, single c1",
            _ratio(p50("this", "single", 1), p50("bare", "single", 1)),
            "x",
        ),
        (
            "ML2P_SERVER_THREADS=0 p50 / bare p50, single c1",
            _ratio(p50("this-inline", "single", 1), p50("bare", "single", 1)),
            "x",
        ),
        (
            "object recording p50 / recording off p50, single c1",
            _ratio(p50("this-rec-object", "single", 1), p50("this", "single", 1)),
            "x",
        ),
        (
            "object recording records/s / S3 server's PUTs/s alone, single c1",
            _ratio(_records_per_s(table, "this-rec-object", "single", 1), rps(S3_PUT, "put", 1)),
            "%",
        ),
        (
            "object recording records/s / S3 server's PUTs/s alone, batch c16",
            _ratio(_records_per_s(table, "this-rec-object", "batch", 16), rps(S3_PUT, "put", 16)),
            "%",
        ),
        (
            "capture recording / recording off req/s, single c1",
            _ratio(rps("this-rec-capture", "single", 1), rps("this", "single", 1)),
            "%",
        ),
        (
            "capture recording / recording off req/s, batch c1",
            _ratio(rps("this-rec-capture", "batch", 1), rps("this", "batch", 1)),
            "%",
        ),
        (
            "capture recording / recording off server CPU per request, single c16",
            _ratio(
                _cpu(table, "this-rec-capture", "single", 16), _cpu(table, "this", "single", 16)
            ),
            "x",
        ),
        (
            "capture recording / recording off server + S3 CPU per request, batch c16",
            _ratio(
                _cpu(table, "this-rec-capture", "batch", 16, s3=True),
                _cpu(table, "this", "batch", 16, s3=True),
            ),
            "x",
        ),
        (
            "capture recording p99 / recording off p99, batch c16",
            _ratio(_p99(table, "this-rec-capture", "batch", 16), _p99(table, "this", "batch", 16)),
            "x",
        ),
    ]


def render(
    args: argparse.Namespace,
    command: str,
    facts: dict[str, str],
    specs: list[ServerSpec],
    table: Table,
    records: dict[str, list[str]],
    stop_times: dict[str, float],
    rss: dict[str, float],
) -> str:
    out = ["# Serving benchmarks", ""]
    out.append(
        "Produced by `benchmarks/bench_serving.py` (see `benchmarks/README.md`); every number "
        "and ratio below comes from the same run on the machine described here."
    )
    out += ["", "## Machine and command", ""]
    out += [f"- {k}: {v}" for k, v in facts.items()]
    for spec in specs:
        if spec.recording == "object" and "ML2P_RECORD_WRITERS" in spec.env:
            writers = int(spec.env["ML2P_RECORD_WRITERS"])
            out.append(
                f"- `object` recording: `ML2P_RECORD_WRITERS={writers}`, {writers * args.workers} "
                "PUTs in flight over the workers, the concurrency of the S3 server alone's c16 "
                "cell (the default is 16 a worker)"
            )
    out += [
        f"- workers: {args.workers} for `this` and `bare` (0.6.0 has its own fixed worker model)",
        f"- cell: {args.warmup:g} s warm-up, then {args.duration:g} s measured; "
        f"c1 = `wrk -t1 -c1`, c16 = `wrk -t2 -c16`; best of {args.rounds} round(s) per cell "
        "(servers restarted each round)",
        f'- single = `{json.dumps(single_body())}`; batch = `{{"instances": [...{BATCH_SIZE} '
        "such objects]}`",
        "",
        "```",
        command,
        "```",
        "",
        "## Results",
        "",
        "req/s counts only 2xx answers; latencies are wrk's, in milliseconds. CPU columns: "
        "microseconds of CPU per request (user + system, all threads) of the server's "
        "processes and of the benchmark's own process, which runs the moto S3 server, "
        "during the measured seconds: less sensitive than req/s to other load on the machine.",
        "",
        "| server | payload | conc. | req/s | p50 ms | p99 ms | server CPU µs/req "
        "| S3 CPU µs/req | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    labels = [(spec.key, spec.label) for spec in specs]
    if S3_PUT in table:
        labels.append((S3_PUT, "S3 server alone (moto), one record per PUT"))
    for key, label in labels:
        for cell in table.get(key, {}).values():
            errors = (
                ", ".join(f"{k} {v}" for k, v in cell.error_detail.items()) if cell.errors else "0"
            )
            server_cpu = "" if cell.server_cpu_us is None else f"{cell.server_cpu_us:,.1f}"
            s3_cpu = "" if cell.s3_cpu_us is None else f"{cell.s3_cpu_us:,.1f}"
            out.append(
                f"| {label} | {cell.payload} | {cell.connections} | {cell.rps:,.1f} | "
                f"{cell.p50_ms:.2f} | {cell.p99_ms:.2f} | {server_cpu} | {s3_cpu} | {errors} |"
            )
    out += ["", "## Targets", "", "| ratio | measured | target | met |", "|---|---:|---:|---|"]
    for t in compute_targets(table):
        met = "n/a" if t.met is None else ("met" if t.met else "**not met**")
        out.append(f"| {t.name} | {t.shown} | {t.goal} | {met} |")
    out += ["", "Other ratios (not targets; they show the trade-offs):", ""]
    out += ["| ratio | measured |", "|---|---:|"]
    for name, value, kind in other_ratios(table):
        out.append(f"| {name} | {_shown(value, kind)} |")
    if rss:
        out += ["", "Peak RSS of a worker (the largest `VmHWM` of the server's processes, read "]
        out[-1] += "after its last cell, every round):"
        out += ["", "| server | peak RSS MiB |", "|---|---:|"]
        for spec in specs:
            if spec.key in rss:
                out.append(f"| {spec.label} | {rss[spec.key]:,.1f} |")
    notes = []
    for spec in specs:
        if spec.key in stop_times:
            stop = f"stopped {stop_times[spec.key]:.1f} s after SIGTERM (last round)"
            rec = "".join(f"; {text}" for text in records.get(spec.key, []))
            extra = f"; {spec.notes}" if spec.notes else ""
            notes.append(f"- {spec.label}: {stop}{rec}{extra}")
    if notes:
        out += ["", "## Servers", "", *notes]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# Main


def replace_section(path: pathlib.Path, report: str) -> str:
    """``path``'s text with its ``# Serving benchmarks`` section replaced by ``report``.

    The other top-level sections of an existing file (``BENCHMARKS.md`` also
    holds the record reader's) are kept as they are; a file without that
    section gets the report first.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return report
    lines = text.splitlines(keepends=True)
    title = report.splitlines()[0]
    starts = [i for i, line in enumerate(lines) if line.startswith("# ")]
    if not starts:
        return report
    mine = next((i for i in starts if lines[i].rstrip("\n") == title), None)
    if mine is None:
        return report + "\n" + text
    after = next((i for i in starts if i > mine), len(lines))
    rest = "".join(lines[after:])
    return "".join(lines[:mine]) + report + ("\n" + rest if rest else "")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per cell")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="workers for this and bare"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s cells, 1 s warm-up")
    parser.add_argument(
        "--servers",
        default="this,bare,v060",
        help="comma-separated subset of this, bare, v060 (default all)",
    )
    parser.add_argument(
        "--no-recording", dest="recording", action="store_false", help="skip the recording runs"
    )
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help="comma-separated recording layouts to run (default object,capture)",
    )
    parser.add_argument("--v060-venv", type=pathlib.Path, default=DEFAULT_VENV)
    parser.add_argument(
        "--v060-python",
        default=shutil.which("python3.11") or sys.executable,
        help="Python that creates the 0.6.0 virtualenv when missing",
    )
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument(
        "--stop-timeout", type=float, default=30.0, help="seconds from SIGTERM to SIGKILL"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every server this many times and keep each cell's best round",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for other load on the CPUs to end before starting",
    )
    parser.add_argument("--output", type=pathlib.Path, help="also write the report here")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2.0, 1.0
    args.servers = {s.strip() for s in args.servers.split(",") if s.strip()}
    unknown = args.servers - {"this", "bare", "v060"}
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    args.layouts = [s.strip() for s in args.layouts.split(",") if s.strip()]
    if set(args.layouts) - set(LAYOUTS):
        parser.error("--layouts takes object and/or capture")
    if args.workers < 1 or args.duration < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--workers, --rounds and --duration must be at least 1, --warmup at least 0")
    return args


def _terminate_on_sigterm() -> None:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def run(args: argparse.Namespace, command: str) -> str:
    if shutil.which("wrk") is None:
        raise BenchError(
            "wrk is not installed: `apt-get install -y wrk` (Debian/Ubuntu) or "
            "`brew install wrk` (macOS)"
        )
    v060_python = None
    if "v060" in args.servers:
        v060_python = ensure_v060_venv(args.v060_venv, args.v060_python)
    busy = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else cpu_busy()
    facts = machine_facts()
    facts["CPU busy before the run (2 s sample)"] = "?" if busy is None else f"{busy * 100:.0f}%"
    facts["load average before the run"] = _loadavg()
    if v060_python is not None:
        facts["ML2P 0.6.0 venv"] = str(args.v060_venv)
    table: Table = {}
    records: dict[str, list[str]] = {}
    stop_times: dict[str, float] = {}
    rss: dict[str, float] = {}
    moto: Moto | None = None
    with tempfile.TemporaryDirectory(prefix="ml2p-bench-") as tmp:
        workdir = pathlib.Path(tmp)
        ml_folder = workdir / "ml"
        (ml_folder / "model").mkdir(parents=True)
        (ml_folder / "model" / "bench_model.json").write_text(json.dumps(PARAMS))
        bodies = {"single": workdir / "single.json", "batch": workdir / "batch.json"}
        bodies["single"].write_text(json.dumps(single_body()))
        bodies["batch"].write_text(json.dumps(batch_body()))
        put_body = workdir / "record.json"
        put_body.write_text(json.dumps(object_record()))
        try:
            if args.recording:
                moto = Moto()
            specs = build_specs(args, ml_folder, moto.url if moto else None, v060_python)
            # The S3 server alone is measured right before the object layout's server,
            # which it is compared with: the same machine conditions, minutes apart at most.
            alone_before = next((sp for sp in specs if sp.recording == "object"), specs[0])
            for round_no, spec in [(r, sp) for r in range(1, args.rounds + 1) for sp in specs]:
                if moto is not None and spec is alone_before:
                    print(f"S3 server alone (round {round_no}/{args.rounds}):", flush=True)
                    moto.reset()
                    cells = measure_s3_puts(moto, put_body, args.duration, args.warmup)
                    keep_best(table.setdefault(S3_PUT, {}), cells)
                print(f"{spec.label} (round {round_no}/{args.rounds}):", flush=True)
                if spec.recording and moto is not None:
                    moto.reset()
                running = start_server(spec, free_port(), workdir, args.start_timeout)
                try:
                    check_answers(running)
                    cells = measure(running, bodies, args.duration, args.warmup)
                    keep_best(table.setdefault(spec.key, {}), cells)
                    peak = worker_peak_rss(running.proc.pid)
                    if peak is not None:
                        rss[spec.key] = max(peak, rss.get(spec.key, 0.0))
                        print(f"  peak worker RSS {peak:,.1f} MiB", flush=True)
                finally:
                    stop_times[spec.key] = stop_server(running, args.stop_timeout)
                if spec.recording and moto is not None:
                    objects, count = moto.count_records()
                    unwritten = sum(
                        line.count("UNWRITTEN_RECORD")
                        for line in running.log.read_text(errors="replace").splitlines()
                    )
                    sent = sum(
                        c.requests * (BATCH_SIZE if c.payload == "batch" else 1) for c in cells
                    )
                    text = (
                        f"{count:,} records stored in {objects:,} S3 objects by the time it "
                        f"stopped, {unwritten:,} logged as UNWRITTEN_RECORD; "
                        f"{sent:,} predictions answered in the measured cells "
                        "(warm-ups and checks add more)"
                    )
                    records.setdefault(spec.key, []).append(f"round {round_no}: {text}")
                    print(f"  {text}", flush=True)
        finally:
            if moto is not None:
                moto.stop()
        facts["load average after the run"] = _loadavg()
        return render(args, command, facts, specs, table, records, stop_times, rss)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python benchmarks/bench_serving.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    _terminate_on_sigterm()
    try:
        report = run(args, command.strip())
    except BenchError as exc:
        print(f"bench_serving: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench_serving: interrupted; servers stopped", file=sys.stderr)
        return 130
    print()
    print(report)
    if args.output:
        args.output.write_text(replace_section(args.output, report), encoding="utf-8")
        print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
