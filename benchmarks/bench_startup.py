"""What ML2P's start-up costs: importing boto3, making AWS clients, reading ``ml2p.yml``.

Each number is the median of ``--runs`` fresh Python processes (so that
nothing is cached in the interpreter), each timing one step with
``time.perf_counter``:

* ``import boto3``: why ML2P imports boto3 only when a command needs a client
  (:mod:`ml2p.aws`);
* a SageMaker client from a new boto3 session, and from the session that made
  one already: why :mod:`ml2p.aws` keeps one default session per process;
* ``import ml2p.config``, and ``load_config`` of a full ``ml2p.yml`` (PyYAML
  included, imported on the first load);
* ``ml2p --help``: the whole process, and whether it imported PyYAML or boto3.

Usage::

    python benchmarks/bench_startup.py               # 9 runs of each
    python benchmarks/bench_startup.py --runs 21
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FULL_YAML = """\
project: bench-project
s3folder: s3://bench-bucket/prefix/
models:
  single: bench_pkg.models.Single
  multi:
    model-defaults: {cls: bench_pkg.models.Multi}
    c1: {training_job: multi-0-1, image_tag: 0.1.0}
    c2: {training_job: multi-0-2, image_tag: 0.2.0, cls: bench_pkg.models.Other}
plugins: [bench_pkg.hooks]
defaults:
  image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/bench:0.1.0
  role: arn:aws:iam::123456789012:role/bench
  instance_type: ml.m5.large
train:
  instance_count: 2
  volume_size_gb: 50
  max_runtime_seconds: 7200
  spot: {max_wait_seconds: 7200}
  vpc_config: {security_groups: [sg-1], subnets: [subnet-1, subnet-2]}
deploy:
  record_invokes: true
  autoscaling: {min_instances: 1, max_instances: 4, target_invocations_per_instance: 100}
notebook:
  volume_size: 8
  repo_url: https://example.com/repo.git
transform:
  max_payload_mb: 6
  batch_strategy: MultiRecord
"""

CLIENT = "boto3.session.Session().client('sagemaker', region_name='us-east-1')"


def median_seconds(code: str, runs: int) -> float:
    """The median of what ``code`` prints (seconds) over ``runs`` fresh processes."""
    values: list[float] = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        values.append(float(out.strip().splitlines()[-1]))
    return statistics.median(values)


def timed(setup: str, step: str) -> str:
    return f"{setup}\nimport time\nt = time.perf_counter()\n{step}\nprint(time.perf_counter() - t)"


def help_process(runs: int) -> tuple:
    """The median wall time of ``python -m ml2p --help``, and the heavy modules it imported."""
    values: list[float] = []
    imported = set()
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "ml2p", "--help"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        values.append(time.perf_counter() - start)
        imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    heavy = sorted(m for m in imported if m.split(".")[0] in ("yaml", "boto3", "botocore"))
    return statistics.median(values), heavy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per number")
    args = parser.parse_args()
    runs = args.runs

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ml2p.yml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(FULL_YAML)
        load = f"from ml2p.config import load_config\nload_config({path!r})"
        rows = [
            ("import boto3", median_seconds(timed("", "import boto3"), runs)),
            (
                "SageMaker client, new session",
                median_seconds(timed(f"import boto3\n{CLIENT}", CLIENT), runs),
            ),
            (
                "SageMaker client, same session",
                median_seconds(
                    timed(
                        "import boto3\ns = boto3.session.Session()\n"
                        "s.client('sagemaker', region_name='us-east-1')",
                        "s.client('sagemaker', region_name='us-east-1')",
                    ),
                    runs,
                ),
            ),
            ("import ml2p.config", median_seconds(timed("", "import ml2p.config"), runs)),
            (
                "load_config, first (PyYAML imported)",
                median_seconds(timed("import ml2p.config", load), runs),
            ),
            (
                "load_config, again",
                median_seconds(timed(f"import ml2p.config\n{load}", load), runs),
            ),
        ]
        help_wall, heavy = help_process(runs)

    print(f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    print(f"median of {runs} fresh processes each\n")
    print("| step | ms |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1000:.1f} |")
    print(f"| `ml2p --help`, whole process | {help_wall * 1000:.0f} |")
    print(f"\n`ml2p --help` imported: {', '.join(heavy) or 'neither PyYAML nor boto3'}")


if __name__ == "__main__":
    main()
