"""Client CPU per S3 PUT: the recorder's light PUT against boto3's ``put_object``.

Starts a moto S3 server in another process (on 127.0.0.1, stopped at the
end), then, in this process, PUTs ``--puts`` small record-sized objects one
after another with each client, as a recorder writer thread does, and
prints the CPU this process spent per PUT (``time.process_time``: the
client's share only, moto runs elsewhere) and the wall time per PUT. The
clients are the recorder's own: ``BackgroundRecorder(...).client`` and
:func:`ml2p.serving.s3_put.light_put_for` of it.

    python benchmarks/bench_s3_put.py --puts 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

from ml2p.ports import free_port

BUCKET = "bench-bucket"
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def start_moto(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the moto server did not start")


def measure(put, puts: int) -> tuple[float, float]:
    """(CPU µs, wall µs) per PUT over ``puts`` PUTs, after 50 unmeasured ones."""
    body = json.dumps({"input": {"x": 1}, "result": {"y": 2}, "metadata": {}}).encode()
    for i in range(50):
        put(f"warm/{i}.json", body)
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(puts):
        put(f"predictions/mv-1/ts-{i:08d}--uuid-{i}.json", body)
    return (
        (time.process_time() - cpu) / puts * 1e6,
        (time.perf_counter() - wall) / puts * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--puts", type=int, default=2000, help="PUTs per client (2000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating clients (2)")
    args = parser.parse_args()
    port = free_port()
    os.environ.update(ENV)
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
    moto = start_moto(port)
    try:
        from ml2p.serving.recorder import BackgroundRecorder
        from ml2p.serving.s3_put import light_put_for

        recorder = BackgroundRecorder(BUCKET, writers=1)
        client = recorder.client
        client.create_bucket(Bucket=BUCKET)
        light = light_put_for(client, BUCKET, environ={})

        def boto3_put(key: str, body: bytes) -> None:
            client.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType="application/json")

        def light_put(key: str, body: bytes) -> None:
            light.put(key, body, "application/json")

        results: dict[str, list[tuple[float, float]]] = {"boto3": [], "light": []}
        for _ in range(args.rounds):
            for name, put in (("boto3", boto3_put), ("light", light_put)):
                results[name].append(measure(put, args.puts))
        recorder.close(timeout=1)
        print(f"{args.puts} PUTs per round, {args.rounds} rounds, moto in another process")
        print("| client | CPU µs/PUT (each round) | wall µs/PUT (each round) |")
        print("|---|---|---|")
        for name, rows in results.items():
            cpus = ", ".join(f"{c:.0f}" for c, _ in rows)
            walls = ", ".join(f"{w:.0f}" for _, w in rows)
            print(f"| {name} | {cpus} | {walls} |")
    finally:
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    main()
