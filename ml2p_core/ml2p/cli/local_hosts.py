"""``ml2p local train --hosts N``: one trainer process per host, as SageMaker runs them.

Each host gets its own folder laid out like ``/opt/ml``, ``<local folder>/hosts/algo-<n>/``,
with the training settings (``hyperparameters.json``), its ``resourceconfig.json``
(the hosts, and which one it is) and ``inputdataconfig.json``, and its share of
the training channel: every file (``FullyReplicated``, the default) or about 1/N
of them (``train.input_distribution: ShardedByS3Key``). The N processes run
``ml2p-docker train`` at once on this machine, their output going to
``hosts/algo-<n>.log``. If one fails, the others are stopped with SIGTERM (so
they save a checkpoint). When all succeed, the first host's ``model/`` is the
model. Each host keeps its ``checkpoints/`` folder from one run to the next.
"""

from __future__ import annotations

import json
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

from ml2p.cli.local_support import failure_reason
from ml2p.errors import ML2PError

__all__ = ["train_on_hosts"]

#: Seconds the other hosts get to stop (and checkpoint) after one fails.
STOP_GRACE = 30.0
_POLL = 0.1


def _files(folder: pathlib.Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]


def _prepare_host(
    root: pathlib.Path, host: str, hosts: list[str], share: list[str], settings: Mapping[str, Any]
) -> pathlib.Path:
    from ml2p import distributed

    folder = root / "hosts" / host
    # A new run starts clean, except for the checkpoints it may resume from.
    for sub in ("input", "model", "output"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    config = folder / "input" / "config"
    config.mkdir(parents=True)
    (folder / "model").mkdir()
    (folder / "output").mkdir()
    shutil.copy2(root / "input" / "config" / "hyperparameters.json", config)
    (config / "resourceconfig.json").write_text(
        json.dumps(distributed.resource_config(host, hosts, settings["instance_type"]), indent=2),
        encoding="utf-8",
    )
    (config / "inputdataconfig.json").write_text(
        json.dumps(distributed.input_data_config("training", settings["distribution"]), indent=2),
        encoding="utf-8",
    )
    source = root / "input" / "data" / "training"
    channel = folder / "input" / "data" / "training"
    channel.mkdir(parents=True)
    for name in share:
        target = channel / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / name, target)
    return folder


def _stop(procs: list[tuple[str, subprocess.Popen]]) -> None:
    """SIGTERM every process still running; SIGKILL those that outlast the grace."""
    running = [proc for _, proc in procs if proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for proc in running:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def train_on_hosts(
    root: pathlib.Path,
    model_ref: str,
    environ: Mapping[str, str],
    count: int,
    cfg: Any,
) -> list[str]:
    """Train on ``count`` hosts in ``root/hosts/``; copy the first host's model to ``root/model``.

    ``root`` holds the prepared training run (hyperparameters and channel), as
    ``ml2p local train`` makes it.

    :returns: The host names.
    :raises ML2PError: naming the host that failed, its failure reason and log.
    """
    from ml2p import distributed, training_scale

    hosts = distributed.host_names(count)
    settings = {
        "instance_type": cfg.section("train").get("instance_type", "local"),
        "distribution": training_scale.input_distribution(cfg),
    }
    shares = distributed.shard(
        _files(root / "input" / "data" / "training"), count, settings["distribution"]
    )
    folders = {
        host: _prepare_host(root, host, hosts, share, settings)
        for host, share in zip(hosts, shares)
    }
    procs: list[tuple[str, subprocess.Popen]] = []
    logs: dict[str, Any] = {}
    first_failure = None
    try:
        for host in hosts:
            logs[host] = open(root / "hosts" / f"{host}.log", "wb")
            args = [sys.executable, "-m", "ml2p.docker", "--ml-folder", str(folders[host])]
            args += ["--model", model_ref, "train"]
            procs.append(
                (
                    host,
                    subprocess.Popen(
                        args, env=dict(environ), stdout=logs[host], stderr=subprocess.STDOUT
                    ),
                )
            )
        while first_failure is None and any(proc.poll() is None for _, proc in procs):
            time.sleep(_POLL)
            first_failure = next(
                (host for host, proc in procs if proc.poll() not in (None, 0)), None
            )
    finally:
        _stop(procs)
        for log in logs.values():
            log.close()
    codes = dict((host, proc.returncode) for host, proc in procs)
    failed = [host for host in hosts if codes[host] != 0]
    if failed:
        # The first to fail caused the others to be stopped: it is the one to report.
        host = first_failure or failed[0]
        others = [h for h in failed if h != host]
        stopped = f"; stopped {', '.join(others)}" if others else ""
        raise ML2PError(
            f"training failed on {host} (exit status {codes[host]}): "
            f"{failure_reason(folders[host])}{stopped}; see {root / 'hosts' / (host + '.log')}"
        )
    model = root / "model"
    shutil.rmtree(model, ignore_errors=True)
    shutil.copytree(folders[hosts[0]] / "model", model)
    return hosts
