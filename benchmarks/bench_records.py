"""How fast ``ml2p.records`` reads recorded predictions back, per layout, and in how much memory.

The script starts a moto S3 server (server mode, real HTTP on 127.0.0.1, in
its own process so that it does not share the reader's interpreter), writes
records of three model versions into it, then reads each back with
:class:`ml2p.records.RecordReader` in a fresh Python process and prints a
table: records, objects read, wall seconds, records/s, the reader's CPU
seconds and records per CPU second, and the process's peak RSS (and its
growth over the RSS it had before reading: boto3 and a client loaded).
Ratios compare layouts read in the same run.

* ``capture, 1 per request``: SageMaker data capture files (1,000 requests a
  file), each request a JSON datum;
* ``capture, 10 per request``: the same with ``{"instances": [10 data]}``;
* ``capture, 1 per request, 1/4``: a quarter of the first, to show that
  memory does not grow with the number of records;
* ``object``: one object per record, ML2P 0.6's layout.

Usage::

    python benchmarks/bench_records.py                    # defaults below
    python benchmarks/bench_records.py --capture-records 20000 --object-records 500  # quick
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Any

BUCKET = "ml2p-bench"
S3FOLDER = f"s3://{BUCKET}/bench/"
BASE = "bench/"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> Any:
    """moto's server in a child process on 127.0.0.1; returns (process, url)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("moto server did not start")


def s3_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(max_pool_connections=32),
    )


def prediction(i: int, stamp: float) -> dict[str, Any]:
    return {
        "metadata": {"model_version": "bench", "ml2p_version": "0.7.0", "timestamp": stamp},
        "result": {"y": 2.5 * i, "label": "even" if i % 2 == 0 else "odd"},
    }


def datum(i: int) -> dict[str, Any]:
    return {"x": i, "name": f"customer {i}", "features": [0.5, 1.5, float(i % 7)]}


def write_capture(client: Any, model_version: str, records: int, per_request: int) -> int:
    """Capture files of 1,000 requests each; returns the number of files."""
    from ml2p.records import capture

    folder = BASE + capture.capture_prefix(model_version)
    start = time.time() - 3600
    files = []
    lines: list[str] = []
    first = start
    for r in range(records // per_request):
        when = start + r * 0.001
        if not lines:
            first = when
        data = [datum(r * per_request + j) for j in range(per_request)]
        answers = [prediction(r * per_request + j, when) for j in range(per_request)]
        if per_request == 1:
            body, response = json.dumps(data[0]), json.dumps(answers[0])
        else:
            body = json.dumps({"instances": data})
            response = json.dumps({"predictions": answers})
        lines.append(
            capture.build_line(
                body.encode(),
                "application/json",
                response.encode(),
                "application/json",
                event_id=str(uuid.uuid4()),
                inference_time=when,
            )
        )
        if len(lines) == 1000:
            files.append((capture.capture_key(folder, first), "\n".join(lines) + "\n"))
            lines = []
    if lines:
        files.append((capture.capture_key(folder, first), "\n".join(lines) + "\n"))
    put_all(client, [(key, text.encode()) for key, text in files])
    return len(files)


def write_objects(client: Any, model_version: str, records: int) -> int:
    from ml2p.record_ids import utc_timestamp

    start = time.time() - 3600
    items = []
    for i in range(records):
        when = start + i * 0.001
        key = (
            f"{BASE}predictions/{model_version}/ts-{utc_timestamp(when)}--uuid-{uuid.uuid4()}.json"
        )
        body = json.dumps({"input": datum(i), "result": prediction(i, when)}).encode()
        items.append((key, body))
    put_all(client, items)
    return len(items)


def put_all(client: Any, items: list[Any]) -> None:
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]), items))


def memory_kb(field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process, in kB.

    From ``/proc/self/status``, where the peak starts again at exec; the
    ``ru_maxrss`` of ``getrusage`` would carry the parent's peak over into
    the child. Elsewhere, ``ru_maxrss`` for both.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def read(url: str, model_version: str, layout: str, workers: int) -> dict[str, Any]:
    """Read every record (in this process); what a child prints for the parent."""
    from ml2p.records import RecordReader

    client = s3_client(url)
    client.list_buckets()  # connect and load botocore's models before the baseline
    baseline = memory_kb("VmRSS")
    reader = RecordReader(S3FOLDER, model_version, layout=layout, client=client, workers=workers)
    cpu = time.process_time()
    started = time.perf_counter()
    count = 0
    for _ in reader.records():
        count += 1
    seconds = time.perf_counter() - started
    return {
        "records": count,
        "objects": reader.stats.objects_read,
        "seconds": seconds,
        "cpu": time.process_time() - cpu,
        "peak_rss_kb": memory_kb("VmHWM"),
        "baseline_kb": baseline,
        "peak_in_flight": reader.stats.peak_in_flight,
        "peak_bytes_in_flight": reader.stats.peak_bytes_in_flight,
    }


def read_in_child(url: str, model_version: str, layout: str, workers: int) -> dict[str, Any]:
    args = [sys.executable, __file__, "--read", model_version, "--layout", layout, "--url", url]
    args += ["--workers", str(workers)]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> list[str]:
    load = os.getloadavg()
    return [
        f"- date (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}",
        f"- CPUs: {os.cpu_count()}; Python {platform.python_version()}; {platform.platform()}",
        f"- load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture-records", type=int, default=100_000)
    parser.add_argument("--object-records", type=int, default=3_000)
    parser.add_argument("--workers", type=int, default=8, help="reader threads")
    parser.add_argument("--rounds", type=int, default=1, help="read each N times, keep the best")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.update(AWS_ENV)
    if args.read:
        print(json.dumps(read(args.url, args.read, args.layout, args.workers)))
        return

    lines = machine()
    process, url = start_moto()
    try:
        client = s3_client(url)
        client.create_bucket(Bucket=BUCKET)
        cases = [
            ("capture, 1 per request", "bench-c1", "capture", args.capture_records, 1),
            ("capture, 10 per request", "bench-c10", "capture", args.capture_records, 10),
            ("capture, 1 per request, 1/4", "bench-q", "capture", args.capture_records // 4, 1),
            ("object", "bench-o", "object", args.object_records, 1),
        ]
        started = time.perf_counter()
        for _, version, layout, records, per in cases:
            if layout == "capture":
                write_capture(client, version, records, per)
            else:
                write_objects(client, version, records)
        print(f"wrote the records in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results = {}
        for name, version, layout, records, _ in cases:
            runs = [read_in_child(url, version, layout, args.workers) for _ in range(args.rounds)]
            best = min(runs, key=lambda r: r["seconds"])
            assert best["records"] == records, (name, best)
            results[name] = best
    finally:
        process.terminate()
        process.wait(30)

    load = os.getloadavg()
    lines.append(f"- load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    lines.append(
        f"- reader: {args.workers} threads, window {2 * args.workers}; best of {args.rounds}"
    )
    lines.append("")
    lines.append(
        "| layout | records | objects | s | records/s | CPU s | records/CPU s "
        "| peak RSS MB | RSS growth MB |"
    )
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        growth = (r["peak_rss_kb"] - r["baseline_kb"]) / 1024
        lines.append(
            f"| {name} | {r['records']:,} | {r['objects']:,} | {r['seconds']:.2f} "
            f"| {r['records'] / r['seconds']:,.0f} | {r['cpu']:.2f} "
            f"| {r['records'] / r['cpu']:,.0f} | {r['peak_rss_kb'] / 1024:.0f} | {growth:.0f} |"
        )
    rate = {name: r["records"] / r["seconds"] for name, r in results.items()}
    single = rate["capture, 1 per request"]
    lines.append("")
    batched = rate["capture, 10 per request"]
    lines.append(
        f"- capture (1 per request) / object records/s: {single / rate['object']:.1f}x; "
        f"capture (10 per request) / object: {batched / rate['object']:.1f}x"
    )
    verdict = "met" if single >= 50_000 else "**not met**"
    lines.append(
        "- target: reader ≥ 50,000 records/s from capture objects (1 per request): "
        f"{single:,.0f}, {verdict}"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
