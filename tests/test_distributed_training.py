"""Distributed and spot training: hosts and ranks, ``local train --hosts``, checkpoints."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from ml2p import distributed, runtime
from ml2p import hyperparameters as hp
from ml2p.cli import cli
from ml2p.core import SageMakerEnv
from ml2p.errors import ML2PError
from tests.cli_support import cli_runner
from tests.scaling_models import EpochsTrainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_resourceconfig(folder, config):
    path = folder / "input" / "config" / "resourceconfig.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


# --- hosts and ranks --------------------------------------------------------------


def test_env_without_resourceconfig_is_one_host(tmp_path):
    env = SageMakerEnv(tmp_path, environ={})
    assert (env.hosts, env.current_host, env.host_rank, env.num_hosts) == (
        ["algo-1"],
        "algo-1",
        0,
        1,
    )
    assert env.checkpoint_folder() == tmp_path / "checkpoints"


def test_env_reads_hosts_and_rank_from_resourceconfig(tmp_path):
    write_resourceconfig(
        tmp_path, distributed.resource_config("algo-3", ["algo-1", "algo-2", "algo-3"])
    )
    env = SageMakerEnv(tmp_path, environ={})
    assert env.hosts == ["algo-1", "algo-2", "algo-3"]
    assert (env.current_host, env.host_rank, env.num_hosts) == ("algo-3", 2, 3)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (
            {"current_host": "algo-9", "hosts": ["algo-1", "algo-2"]},
            "'algo-9' is not one of the hosts",
        ),
        ({"current_host": "algo-1", "hosts": "algo-1"}, "hosts must be a non-empty list"),
        ({"current_host": "algo-1", "hosts": []}, "hosts must be a non-empty list"),
        ({"current_host": 3, "hosts": ["algo-1"]}, "current_host must be a host name"),
    ],
)
def test_bad_resourceconfig_names_the_file(tmp_path, config, words):
    path = write_resourceconfig(tmp_path, config)
    env = SageMakerEnv(tmp_path, environ={})
    with pytest.raises(ML2PError) as info:
        _ = env.host_rank
    assert str(path) in str(info.value) and words in str(info.value)


def test_shard_deals_sorted_files_in_turn():
    files = ["c.csv", "a.csv", "d.csv", "b.csv", "e.csv"]
    assert distributed.shard(files, 2, "ShardedByS3Key") == [
        ["a.csv", "c.csv", "e.csv"],
        ["b.csv", "d.csv"],
    ]
    assert distributed.shard(files[:1], 3, "ShardedByS3Key") == [["c.csv"], [], []]
    everything = sorted(files)
    assert distributed.shard(files, 2, None) == [everything, everything]
    assert distributed.shard(files, 2, "FullyReplicated") == [everything, everything]
    with pytest.raises(ML2PError, match="unknown input distribution"):
        distributed.shard(files, 2, "Sharded")


# --- ml2p local train --hosts N ----------------------------------------------------


@pytest.fixture
def hosts_project(tmp_path, monkeypatch):
    # The host processes import tests.scaling_models.
    monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.csv", "b.csv", "c.csv"):
        (data / name).write_text(f"{name}\n")
    cfg = tmp_path / "ml2p.yml"
    cfg.write_text(
        "project: foo\n"
        "s3folder: s3://ml2p-test/proj/\n"
        "models:\n"
        "  hosts: tests.scaling_models.HostsModel\n"
        "train:\n"
        "  instance_type: ml.c5.xlarge\n"
        "  input_distribution: ShardedByS3Key\n"
    )
    return {"cfg": str(cfg), "data": str(data), "folder": tmp_path / "local"}


def local_train(project, *args):
    return cli_runner().invoke(
        cli,
        [
            "--cfg",
            project["cfg"],
            "local",
            "train",
            "hosts",
            "--data-dir",
            project["data"],
            "--local-folder",
            str(project["folder"]),
            "-p",
            "expected_hosts=2",
            *args,
        ],
    )


def test_local_train_on_two_hosts(hosts_project):
    result = local_train(hosts_project, "--hosts", "2")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["hosts"] == ["algo-1", "algo-2"]
    folder = hosts_project["folder"]
    seen = {
        host: json.loads((folder / "hosts" / host / "model" / "host.json").read_text())
        for host in out["hosts"]
    }
    # Each process saw two hosts and its own rank, and its share of the sharded channel.
    assert seen["algo-1"] == {
        "hosts": ["algo-1", "algo-2"],
        "current_host": "algo-1",
        "rank": 0,
        "files": ["a.csv", "c.csv"],
        "distribution": "ShardedByS3Key",
    }
    assert (seen["algo-2"]["rank"], seen["algo-2"]["files"]) == (1, ["b.csv"])
    resource = json.loads(
        (folder / "hosts" / "algo-2" / "input" / "config" / "resourceconfig.json").read_text()
    )
    assert resource["current_instance_type"] == "ml.c5.xlarge"
    # The first host's model is the model.
    assert json.loads((folder / "model" / "host.json").read_text())["current_host"] == "algo-1"
    with tarfile.open(out["archive"]) as tar:
        assert json.load(tar.extractfile("host.json"))["rank"] == 0


def test_one_failing_host_stops_the_others(hosts_project):
    result = local_train(hosts_project, "--hosts", "2", "-p", "fail_rank=1")
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: training failed on algo-2 (exit status 1): ")
    assert "RuntimeError: host algo-2 lost its data" in line and "stopped algo-1" in line
    assert "algo-2.log" in line
    # The first host was stopped with SIGTERM mid-training, which it reports.
    failure = hosts_project["folder"] / "hosts" / "algo-1" / "output" / "failure"
    assert failure.read_text().startswith("TrainingInterrupted: stopped by SIGTERM")
    assert not (hosts_project["folder"] / "output" / "model.tar.gz").exists()


def test_one_host_is_the_usual_in_process_training(hosts_project):
    result = local_train(hosts_project, "-p", "expected_hosts=1")
    assert result.exit_code == 0, result.output
    assert "hosts" not in json.loads(result.stdout)
    folder = hosts_project["folder"]
    assert not (folder / "hosts").exists()
    seen = json.loads((folder / "model" / "host.json").read_text())
    assert (seen["hosts"], seen["rank"]) == (["algo-1"], 0)
    assert seen["files"] == ["a.csv", "b.csv", "c.csv"]


# --- checkpoints on SIGTERM ------------------------------------------------------


def _training_folder(tmp_path, epochs):
    folder = tmp_path / "ml"
    config = folder / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hp.encode({"epochs": epochs})))
    return folder


def _progress(folder):
    try:
        return int((folder / "output" / "data" / "progress").read_text() or 0)
    except (OSError, ValueError):
        return 0


def test_sigterm_saves_a_checkpoint_and_training_resumes(tmp_path, restore_ml2p_logger):
    folder = _training_folder(tmp_path, 500)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ML2P_", "SCALING_"))}
    environ.update(
        PYTHONPATH=ROOT,
        ML2P_TRAINING_JOB="foo-epochs-1-0",
        SCALING_EPOCH_SECONDS="0.05",
    )
    args = [sys.executable, "-m", "ml2p.docker", "--ml-folder", str(folder)]
    args += ["--model", "tests.scaling_models.EpochsModel", "train"]
    proc = subprocess.Popen(args, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while _progress(folder) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert _progress(folder) >= 3, proc.communicate(timeout=30)[0]
        proc.send_signal(signal.SIGTERM)  # as SageMaker stops a reclaimed spot instance
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, output
    saved = json.loads((folder / "checkpoints" / "state.json").read_text())["epoch"]
    assert 3 <= saved < 500
    failure = (folder / "output" / "failure").read_text()
    checkpoint_folder = folder / "checkpoints"
    assert failure.startswith(
        f"TrainingInterrupted: stopped by SIGTERM after saving a checkpoint in {checkpoint_folder}"
    )
    assert b"SIGTERM: saving a checkpoint" in output

    # Restarted (SageMaker copies the checkpoint back), training resumes where it was.
    handler = signal.getsignal(signal.SIGTERM)
    code = runtime.train(
        folder, "tests.scaling_models.EpochsModel", environ={"ML2P_TRAINING_JOB": "foo-epochs-1-0"}
    )
    assert code == 0
    assert json.loads((folder / "model" / "model.json").read_text()) == {
        "epochs": 500,
        "resumed_at": saved,
    }
    assert signal.getsignal(signal.SIGTERM) is handler


class BrokenCheckpointTrainer(EpochsTrainer):
    def checkpoint(self):
        raise OSError(28, "No space left on device")


def test_a_failing_checkpoint_is_reported(tmp_path, monkeypatch, restore_ml2p_logger):
    from ml2p import checkpoints

    folder = _training_folder(tmp_path, 2000)
    monkeypatch.setenv("SCALING_EPOCH_SECONDS", "0.02")
    env = SageMakerEnv(folder, environ={"ML2P_TRAINING_JOB": "foo-epochs-1-0"})
    trainer = BrokenCheckpointTrainer(env)

    def stop_when_training():
        deadline = time.monotonic() + 30
        while _progress(folder) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_when_training)
    stopper.start()
    try:
        with pytest.raises(checkpoints.TrainingInterrupted) as info:
            checkpoints.train_with_checkpoints(trainer)
    finally:
        stopper.join()
    assert "saving the checkpoint failed: OSError" in str(info.value)
    assert "No space left on device" in str(info.value)
    assert 1 <= trainer.epoch < 2000
    assert not (folder / "checkpoints").exists()
