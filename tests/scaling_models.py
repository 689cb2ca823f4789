"""Trainers for the distributed and spot training tests, importable by their subprocesses.

* :class:`HostsModel`'s trainer asserts it runs on the number of hosts given in the
  ``expected_hosts`` hyperparameter and that its rank is its place among them,
  and writes what it saw to ``model/host.json``; with ``fail_rank`` the host of
  that rank fails, and the others wait (up to a minute) to be stopped.
* :class:`EpochsModel`'s trainer counts ``epochs`` epochs of
  ``SCALING_EPOCH_SECONDS`` seconds (default 0), writing the epoch reached to
  ``output/data/progress``; it resumes from ``checkpoint_folder()/state.json``,
  which its :meth:`checkpoint` writes.
"""

from __future__ import annotations

import json
import os
import time

from ml2p.core import Model, ModelTrainer


class HostsTrainer(ModelTrainer):
    def train(self):
        env = self.env
        expected = int(env.hyperparameters["expected_hosts"])
        assert env.num_hosts == expected, f"{env.num_hosts} hosts, expected {expected}"
        assert env.hosts == [f"algo-{n}" for n in range(1, expected + 1)], env.hosts
        assert env.current_host == f"algo-{env.host_rank + 1}", env.current_host
        channel = env.dataset_folder()
        files = sorted(p.name for p in channel.iterdir()) if channel.is_dir() else []
        seen = {
            "hosts": env.hosts,
            "current_host": env.current_host,
            "rank": env.host_rank,
            "files": files,
            "distribution": env.inputdataconfig().get("training", {}).get("S3DistributionType"),
        }
        folder = env.model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "host.json").write_text(json.dumps(seen))
        fail_rank = env.hyperparameters.get("fail_rank")
        if fail_rank is not None:
            if env.host_rank == int(fail_rank):
                # Fail once the first host is training, so that it is stopped mid-way.
                first = env.ml_folder.parent / env.hosts[0] / "model" / "host.json"
                deadline = time.monotonic() + 30
                while not first.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                raise RuntimeError(f"host {env.current_host} lost its data")
            time.sleep(60)  # until the failed host's peers are stopped


class HostsModel(Model):
    TRAINER = HostsTrainer


class EpochsTrainer(ModelTrainer):
    def _state(self):
        return self.env.checkpoint_folder() / "state.json"

    def train(self):
        self.epoch = 0
        started_at = 0
        if self._state().exists():
            started_at = self.epoch = json.loads(self._state().read_text())["epoch"]
        epochs = int(self.env.hyperparameters["epochs"])
        seconds = float(os.environ.get("SCALING_EPOCH_SECONDS", "0"))
        progress = self.env.output_data_folder() / "progress"
        progress.parent.mkdir(parents=True, exist_ok=True)
        while self.epoch < epochs:
            time.sleep(seconds)
            self.epoch += 1
            progress.write_text(str(self.epoch))
        folder = self.env.model_folder()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.json").write_text(
            json.dumps({"epochs": self.epoch, "resumed_at": started_at})
        )

    def checkpoint(self):
        self._state().parent.mkdir(parents=True, exist_ok=True)
        self._state().write_text(json.dumps({"epoch": self.epoch}))


class EpochsModel(Model):
    TRAINER = EpochsTrainer
