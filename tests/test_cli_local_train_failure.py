"""A failed ``ml2p local train`` keeps the last good model and says why on one line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from ml2p.cli import cli
from ml2p.core import ModelTrainer
from tests.cli_support import cli_runner
from tests.models import MinimalModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PartialTrainer(ModelTrainer):
    """Writes part of a model, notes what it saw, then fails if told to."""

    def train(self):
        folder = self.env.model_folder()
        seen = {"model_folder": str(folder), "files": sorted(p.name for p in folder.iterdir())}
        (self.env.ml_folder / "output" / "seen.json").write_text(json.dumps(seen))
        (folder / "partial.bin").write_bytes(b"half a model")
        if self.env.hyperparameters.get("fail"):
            self.logger.error("model says: the data is bad")
            raise RuntimeError("the data is bad")
        (folder / "model.json").write_text(json.dumps({"slope": 3}))


class PartialModel(MinimalModel):
    TRAINER = PartialTrainer


YML = (
    "project: test-proj\n"
    's3folder: "s3://ml2p-test/proj/"\n'
    "models:\n"
    "  minimal: tests.models.MinimalModel\n"
    "  partial: tests.test_cli_local_train_failure.PartialModel\n"
    "  typo: tests.models.MinimalModle\n"
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "ml2p.yml").write_text(YML)
    return tmp_path


def train(project, *args):
    folder = str(project / "ml")
    cfg = str(project / "ml2p.yml")
    return cli_runner().invoke(
        cli, ["--cfg", cfg, "local", "train", *args, "--local-folder", folder]
    )


def snapshot(folder):
    """The model folder's files and the archive's digest."""
    model = folder / "model"
    files = {
        p.relative_to(model).as_posix(): p.read_bytes() for p in model.rglob("*") if p.is_file()
    }
    archive = folder / "output" / "model.tar.gz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest() if archive.exists() else None
    return files, digest


@pytest.mark.parametrize(
    "args, reason",
    [
        (["typo"], "ModelNotFoundError"),
        (["partial", "-p", "fail=1"], "RuntimeError: the data is bad"),
    ],
)
def test_failed_training_keeps_the_last_good_model(project, args, reason):
    result = train(project, "minimal")
    assert result.exit_code == 0, result.output
    folder = project / "ml"
    before = snapshot(folder)
    assert before[0] == {"model.json": b'{"slope": 2}'} and before[1] is not None

    result = train(project, *args)
    assert result.exit_code == 1
    assert reason in result.output
    assert snapshot(folder) == before
    assert reason in (folder / "output" / "failure").read_text()
    # Nothing is left beside the model folder.
    assert sorted(p.name for p in folder.iterdir()) == ["input", "model", "output"]


def test_trainer_gets_an_empty_model_folder_where_sagemaker_has_it(project):
    assert train(project, "minimal").exit_code == 0
    result = train(project, "partial")
    assert result.exit_code == 0, result.output
    folder = project / "ml"
    seen = json.loads((folder / "output" / "seen.json").read_text())
    assert seen == {"model_folder": str(folder / "model"), "files": []}
    assert snapshot(folder)[0] == {"model.json": b'{"slope": 3}', "partial.bin": b"half a model"}
    assert json.loads(train(project, "partial").stdout)["files"] == ["model.json", "partial.bin"]


def test_first_training_that_fails_leaves_an_empty_model_folder(project):
    result = train(project, "partial", "-p", "fail=1")
    assert result.exit_code == 1
    folder = project / "ml"
    assert list((folder / "model").iterdir()) == []
    assert not (folder / "output" / "model.tar.gz").exists()


def test_a_killed_training_run_is_undone_by_the_next_command(project):
    """SIGKILL during training leaves the last good model aside; the next run restores it."""
    assert train(project, "minimal").exit_code == 0
    folder = project / "ml"
    before = snapshot(folder)
    killer = project / "killer.py"
    killer.write_text(
        "import os, signal\n"
        "from tests.models import MinimalModel\n"
        "from ml2p.core import ModelTrainer\n"
        "class T(ModelTrainer):\n"
        "    def train(self):\n"
        "        (self.env.model_folder() / 'partial.bin').write_bytes(b'x')\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "class KilledModel(MinimalModel):\n"
        "    TRAINER = T\n"
    )
    (project / "ml2p.yml").write_text(YML + "  killed: killer.KilledModel\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    env["PYTHONPATH"] = os.pathsep.join([REPO, str(project)])
    proc = subprocess.run(
        [sys.executable, "-m", "ml2p", "local", "train", "killed", "--local-folder", "ml"],
        cwd=project,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == -9
    result = train(project, "partial", "-p", "fail=1")
    assert result.exit_code == 1
    assert snapshot(folder) == before
    assert sorted(p.name for p in folder.iterdir()) == ["input", "model", "output"]


def test_failed_training_is_one_line_on_stderr_besides_the_models_own_log(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    env["PYTHONPATH"] = REPO
    proc = subprocess.run(
        [sys.executable, "-m", "ml2p", "local", "train", "partial", "-p", "fail=1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "model says: the data is bad" in proc.stdout + proc.stderr
    ours = [line for line in proc.stderr.splitlines() if "model says" not in line]
    assert len(ours) == 1, proc.stderr
    assert ours[0].startswith("Error: train failed") and "RuntimeError: the data is bad" in ours[0]
    assert ".ml2p-local/output/failure" in ours[0]
    assert (
        (project / ".ml2p-local" / "output" / "failure")
        .read_text()
        .startswith("RuntimeError: the data is bad")
    )


def test_debug_shows_the_runtime_log_with_the_traceback(project):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ML2P_")}
    env["PYTHONPATH"] = REPO
    proc = subprocess.run(
        [sys.executable, "-m", "ml2p", "--debug", "local", "train", "partial", "-p", "fail=1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "the data is bad" in proc.stderr


def test_a_dataset_that_fails_to_download_keeps_the_training_data(project, s3):
    """`local generate` wrote the channel; a typo in --dataset must not wipe it."""
    channel = project / "ml" / "input" / "data" / "training"
    channel.mkdir(parents=True)
    (channel / "generated.csv").write_text("x,y\n1,2\n")
    assert train(project, "minimal").exit_code == 0
    before = snapshot(project / "ml")
    result = train(project, "minimal", "--dataset", "minimal-20240199")
    assert result.exit_code == 1 and "has no files" in result.output
    assert [p.name for p in channel.iterdir()] == ["generated.csv"]
    assert snapshot(project / "ml") == before
    assert sorted(p.name for p in (project / "ml").iterdir()) == ["input", "model", "output"]
    # A dataset that downloads replaces the channel's files.
    s3.put_object(Bucket="ml2p-test", Key="proj/datasets/minimal-20240101/d.csv", Body=b"1,2\n")
    assert train(project, "minimal", "--dataset", "minimal-20240101").exit_code == 0
    assert [p.name for p in channel.iterdir()] == ["d.csv"]
